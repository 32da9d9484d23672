//! `twoliter build variant`: packages → root and boot trees → disk images and artifacts, with a
//! whole-build key so an unchanged build is a no-op.

use crate::args::{AssembleArgs, BuildArgs};
use crate::build::{build_packages, finish, vendor};
use crate::Globals;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use twoliter_project::Project;
use twoliter_rootfs::{compose, ComposeInput};

/// Bump when composing or assembling changes, so existing images are rebuilt.
const IMAGE_LOGIC_VERSION: &str = "twoliter-variant-1";
/// The file beside `latest` recording what the latest image was built from.
const BUILD_KEY_FILE: &str = ".build-key";

/// What `twoliter build variant` was asked for besides the variant and the package options.
pub struct VariantOptions {
    /// Rebuild the image even when nothing changed.
    pub force: bool,
    /// Timestamp for every file in the images.
    pub source_date_epoch: Option<u64>,
    /// The OS version to build instead of the project's release-version.
    pub release_version: Option<semver::Version>,
}

pub fn run(
    ctx: &Globals,
    project: &Project,
    name: &str,
    options: &VariantOptions,
    args: &BuildArgs,
) -> Result<ExitCode> {
    let VariantOptions {
        force,
        source_date_epoch,
        ref release_version,
    } = *options;
    let started = Instant::now();
    let variant = project.variant(name)?;
    if !variant.supported_arches.contains(&ctx.arch) {
        let supported: Vec<&str> = variant.supported_arches.iter().map(|a| a.name()).collect();
        bail!(
            "variant {name} builds for {} only (supported-arches in {}), not {}; choose one with --arch",
            supported.join(", "),
            variant.manifest.display(),
            ctx.arch
        );
    }
    let wanted: Vec<String> = variant
        .included_packages
        .iter()
        .map(|p| p.name.clone())
        .collect();
    // Packages that the included ones require at runtime join the build as the closure finds
    // them in the variant's kits.
    // Start from what the last build of this variant learned, so a no-op build plans once.
    let learned_file = project
        .root
        .join("build/state")
        .join(ctx.arch.name())
        .join(format!("variant-{name}.packages.json"));
    let mut targets = wanted.clone();
    let learned: Vec<String> = std::fs::read(&learned_file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    for package in learned {
        let known = project
            .packages
            .get(&package)
            .is_some_and(|p| variant.kits.contains(&p.kit));
        if known && !targets.contains(&package) {
            targets.push(package);
        }
    }
    let version = release_version
        .as_ref()
        .unwrap_or(&project.config.release_version)
        .to_string();
    let (input, key, key_file, composed) = loop {
        let built = build_packages(ctx, project, &targets, args)?;
        if !built.report.failures().is_empty() {
            return finish(&built, None, args, started);
        }
        let work = built
            .options
            .build_dir
            .join("work")
            .join(ctx.arch.name())
            .join(format!("variant-{name}"));
        let input = assembly_input(
            ctx,
            project,
            variant,
            &work,
            &version,
            source_date_epoch,
            args,
        )?;

        // Whole-build key: every package's key, the resolved variant and the assembly input.
        let mut hasher = Sha256::new();
        hasher.update(IMAGE_LOGIC_VERSION);
        hasher.update(env!("CARGO_PKG_VERSION"));
        hasher.update(serde_json::to_vec(&built.report.keys)?);
        hasher.update(serde_json::to_vec(variant)?);
        hasher.update(format!("{input:?}"));
        let key = hex::encode(hasher.finalize());
        let key_file = input.output_dir.join(BUILD_KEY_FILE);
        let latest = input.output_dir.join("latest");
        if !force
            && latest.exists()
            && std::fs::read_to_string(&key_file).is_ok_and(|k| k.trim() == key)
        {
            remember_targets(&learned_file, &targets)?;
            println!(
                "{name} is up to date ({:.1}s): {}",
                started.elapsed().as_secs_f64(),
                std::fs::canonicalize(&latest).unwrap_or(latest).display()
            );
            return Ok(ExitCode::SUCCESS);
        }

        let rpms: Vec<PathBuf> = built.report.rpms.values().flatten().cloned().collect();
        let result = compose(&ComposeInput {
            variant: name,
            wanted: &wanted,
            arch: ctx.arch.name(),
            version: &version,
            build_id: &input.build_id,
            vendor: vendor(project),
            epoch: input.epoch,
            rpms: &rpms,
            work_dir: &work,
            updog_root: None,
            capabilities: &capabilities(variant, ctx.arch.name()),
        });
        match result {
            Ok(composed) => {
                remember_targets(&learned_file, &targets)?;
                break (input, key, key_file, composed);
            }
            Err(error) => match kit_package_for(project, variant, &targets, &error) {
                Some(package) => {
                    tracing::info!("{package} is required at runtime; adding it to the build");
                    targets.push(package);
                }
                None => {
                    return Err(error).with_context(|| format!("cannot compose the root of {name}"))
                }
            },
        }
    };
    tracing::info!(
        "root tree: {} packages, {} files, {:.1} MiB",
        composed.inventory.len(),
        composed.files,
        composed.bytes as f64 / 1048576.0
    );
    let assembled = crate::image::assemble_and_report(&input, args.json)?;
    let inventory = serde_json::json!({ "Content": composed.inventory });
    let inventory_path = assembled.dir.join("application-inventory.json");
    std::fs::write(
        &inventory_path,
        serde_json::to_string_pretty(&inventory)? + "\n",
    )
    .with_context(|| format!("cannot write {}", inventory_path.display()))?;
    std::fs::write(&key_file, &key)
        .with_context(|| format!("cannot write {}", key_file.display()))?;
    if !args.json {
        println!(
            "built {name} {version}-{} in {:.1}s",
            input.build_id,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What the variant provides to its packages' Requires: its name and name parts, its
/// architecture and its enabled image features.
fn capabilities(variant: &twoliter_project::Variant, arch: &str) -> Vec<String> {
    let parts = &variant.parts;
    let mut capabilities = vec![
        format!("variant({})", variant.name),
        format!("variant-platform({})", parts.platform),
        format!("variant-runtime({})", parts.runtime),
        format!("variant-arch({arch})"),
    ];
    capabilities.extend(
        parts
            .version
            .as_ref()
            .map(|v| format!("variant-version({v})")),
    );
    capabilities.extend(
        parts
            .flavor
            .as_ref()
            .map(|f| format!("variant-flavor({f})")),
    );
    for (feature, on) in &variant.image_features {
        if *on {
            let name = serde_json::to_value(feature)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            capabilities.push(format!("image-feature({name})"));
        }
    }
    capabilities
}

/// The assembly input, exactly as `twoliter image assemble` makes it for this variant.
fn assembly_input(
    ctx: &Globals,
    project: &Project,
    variant: &twoliter_project::Variant,
    work: &std::path::Path,
    version: &str,
    source_date_epoch: Option<u64>,
    args: &BuildArgs,
) -> Result<twoliter_image::AssembleInput> {
    let assemble_args = AssembleArgs {
        variant: variant.name.clone(),
        root: work.join("root"),
        boot: work.join("boot"),
        private: None,
        output_dir: None,
        release_version: Some(version.to_string()),
        build_id: None,
        os_image_size_gib: None,
        data_image_size_gib: None,
        partition_plan: None,
        no_in_place_updates: false,
        root_fs: None,
        image_format: None,
        kernel_parameters: Vec::new(),
        source_date_epoch: source_date_epoch.or_else(|| {
            std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|v| v.parse().ok())
        }),
        json: args.json,
    };
    crate::image::input(ctx, &assemble_args, Some(project), Some(variant))
}

/// When composing failed because a requirement names a package of the variant's kits that is
/// not built yet, that package.
fn kit_package_for(
    project: &Project,
    variant: &twoliter_project::Variant,
    targets: &[String],
    error: &twoliter_rootfs::Error,
) -> Option<String> {
    let twoliter_rootfs::Error::Closure(twoliter_rpm::ClosureError::MissingCapability {
        capability,
        ..
    }) = error
    else {
        return None;
    };
    let name = capability.split_whitespace().next()?;
    let package = project.packages.get(name)?;
    (variant.kits.contains(&package.kit) && !targets.iter().any(|t| t == name))
        .then(|| name.to_string())
}

/// Records the packages a variant build needed, for the next build to start from.
fn remember_targets(file: &std::path::Path, targets: &[String]) -> Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(file, serde_json::to_vec(targets)?)
        .with_context(|| format!("cannot write {}", file.display()))
}
