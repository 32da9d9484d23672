//! `twoliter image assemble`: merges flags with the variant's manifest and runs the assembly.

use crate::args::{AssembleArgs, FormatArg, ImageCommand, PlanArg, RootFsArg};
use crate::Globals;
use anyhow::{Context, Result};
use std::process::ExitCode;
use twoliter_image::{AssembleInput, ImageFormat, RootFs};
use twoliter_project::{ImageFeature, ImageLayout, Project, ProjectError, Variant};

/// Runs an `image` subcommand.
pub fn run(globals: &Globals, command: ImageCommand) -> Result<ExitCode> {
    match command {
        ImageCommand::Assemble(args) => assemble(globals, *args),
    }
}

fn assemble(globals: &Globals, args: AssembleArgs) -> Result<ExitCode> {
    // A project is optional for this plumbing command; a broken one is still an error.
    let project = match globals.project() {
        Ok(project) => Some(project),
        Err(ProjectError::NotFound { .. }) => None,
        Err(error) => return Err(error.into()),
    };
    // Inside a project the variant must be one of its own: a typo must not build a default image.
    let variant = match &project {
        Some(project) => Some(project.variant(&args.variant)?),
        None => None,
    };
    let input = input(globals, &args, project.as_ref(), variant)?;
    assemble_and_report(&input, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the assembly with a spinner and prints the usage table (or the metadata as JSON).
pub fn assemble_and_report(input: &AssembleInput, json: bool) -> Result<twoliter_image::Assembled> {
    tracing::info!(
        "assembling {} {} {}-{} into {}",
        input.variant,
        input.arch,
        input.version,
        input.build_id,
        input.output_dir.display()
    );
    // A spinner naming the current step on a terminal; plain log lines otherwise.
    let spinner = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let progress = |step: &'static str| match &spinner {
        Some(bar) => bar.set_message(step),
        None => tracing::info!("{step} ..."),
    };
    let built = twoliter_image::assemble(&twoliter_exec::HostRunner, input, &progress);
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
    let built = built.context("image assembly failed")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&built.metadata)?);
    } else {
        print!(
            "{}",
            twoliter_image::usage_table(&built.metadata.partitions)
        );
        let total: f64 = built.timings.iter().map(|t| t.elapsed.as_secs_f64()).sum();
        let split: Vec<String> = built
            .timings
            .iter()
            .map(|t| format!("{} {:.2}s", t.step, t.elapsed.as_secs_f64()))
            .collect();
        println!("time: {total:.2}s ({})", split.join(", "));
        println!("artifacts: {}", built.dir.display());
    }
    Ok(built)
}

/// The assembly input from the flags and the variant's manifest.
pub fn input(
    globals: &Globals,
    args: &AssembleArgs,
    project: Option<&Project>,
    variant: Option<&Variant>,
) -> Result<AssembleInput> {
    let layout = variant.map(|v| v.image_layout).unwrap_or_default();
    let ImageLayout {
        os_image_size_gib,
        data_image_size_gib,
        partition_plan,
        ..
    } = layout;
    let feature = |f: ImageFeature| variant.map_or(f.default_enabled(), |v| v.feature(f));
    let version = match (&args.release_version, project) {
        (Some(version), _) => version.clone(),
        (None, Some(project)) => project.config.release_version.to_string(),
        (None, None) => anyhow::bail!(
            "no project here to take the release version from; pass --release-version X.Y.Z or --project-path"
        ),
    };
    let root = project.map_or_else(|| std::path::PathBuf::from("."), |p| p.root.clone());
    let arch = globals.arch;
    if let Some(v) = variant {
        if !v.supported_arches.contains(&arch) {
            let supported: Vec<&str> = v.supported_arches.iter().map(|a| a.name()).collect();
            anyhow::bail!(
                "variant {} builds for {} only (supported-arches in {}), not {arch}; choose one with --arch",
                v.name,
                supported.join(", "),
                v.manifest.display()
            );
        }
    }
    let plan = match args.partition_plan {
        Some(PlanArg::Split) => partitions::PartitionPlan::Split,
        Some(PlanArg::Unified) => partitions::PartitionPlan::Unified,
        None => match partition_plan {
            twoliter_project::PartitionPlan::Split => partitions::PartitionPlan::Split,
            twoliter_project::PartitionPlan::Unified => partitions::PartitionPlan::Unified,
        },
    };
    let root_fs = match args.root_fs {
        Some(RootFsArg::Ext4) => RootFs::Ext4,
        Some(RootFsArg::Erofs) => RootFs::Erofs,
        None if feature(ImageFeature::ErofsRootPartition) => RootFs::Erofs,
        None => RootFs::Ext4,
    };
    let image_format = match args.image_format {
        Some(FormatArg::Raw) => ImageFormat::Raw,
        Some(FormatArg::Qcow2) => ImageFormat::Qcow2,
        Some(FormatArg::Vmdk) => ImageFormat::Vmdk,
        None => match variant.map(|v| v.image_format) {
            Some(twoliter_project::ImageFormat::Qcow2) => ImageFormat::Qcow2,
            Some(twoliter_project::ImageFormat::Vmdk) => ImageFormat::Vmdk,
            _ => ImageFormat::Raw,
        },
    };
    let kernel_parameters = if args.kernel_parameters.is_empty() {
        variant
            .map(|v| v.kernel_parameters.clone())
            .unwrap_or_default()
    } else {
        for parameter in &args.kernel_parameters {
            twoliter_project::variant::check_kernel_parameter(parameter)
                .map_err(|problem| anyhow::anyhow!("--kernel-parameter: {problem}"))?;
        }
        args.kernel_parameters.clone()
    };
    for unsupported in [ImageFeature::XfsDataPartition, ImageFeature::UefiSecureBoot] {
        if feature(unsupported) {
            anyhow::bail!(
                "image feature `{}` is not supported by image assembly yet; turn it off in the variant's image-features",
                serde_json::to_value(unsupported)?.as_str().unwrap_or_default()
            );
        }
    }
    let epoch = args
        .source_date_epoch
        .or_else(|| twoliter_project::build_id::commit_time(&root))
        .unwrap_or(1);
    let output_dir = args.output_dir.clone().unwrap_or_else(|| {
        root.join("build/images")
            .join(format!("{arch}-{}", args.variant))
    });
    Ok(AssembleInput {
        root_dir: args.root.clone(),
        boot_dir: args.boot.clone(),
        private_dir: args.private.clone(),
        variant: args.variant.clone(),
        arch: arch.to_string(),
        version,
        build_id: args
            .build_id
            .clone()
            .unwrap_or_else(|| twoliter_project::build_id::build_id(&root)),
        os_image_gib: args.os_image_size_gib.unwrap_or(os_image_size_gib).into(),
        data_image_gib: args
            .data_image_size_gib
            .unwrap_or(data_image_size_gib)
            .into(),
        plan,
        in_place_updates: !args.no_in_place_updates && feature(ImageFeature::InPlaceUpdates),
        root_fs,
        kernel_parameters,
        image_format,
        output_dir,
        epoch,
    })
}
