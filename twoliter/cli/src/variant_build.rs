//! `twoliter build variant`: the flags as variant options, the pipeline, and its report.

use crate::args::BuildArgs;
use crate::Globals;
use anyhow::Result;
use std::process::ExitCode;
use std::time::Instant;
use twoliter_project::Project;
use twoliter_variant::{AssemblyOverrides, Runners, VariantBuild, VariantOptions, VariantOutcome};

/// What `twoliter build variant` was asked for besides the variant and the package options.
pub struct VariantArgs {
    /// Rebuild the image even when nothing changed.
    pub force: bool,
    /// Timestamp for every file in the images.
    pub source_date_epoch: Option<u64>,
    /// The OS version to build instead of the project's release-version.
    pub release_version: Option<semver::Version>,
    /// The extra disk format instead of the variant's.
    pub image_format: Option<twoliter_image::ImageFormat>,
}

pub fn run(
    ctx: &Globals,
    project: &Project,
    name: &str,
    variant_args: &VariantArgs,
    args: &BuildArgs,
    started: Instant,
) -> Result<ExitCode> {
    let variant = project.variant(name)?;
    let options = VariantOptions {
        force: variant_args.force,
        assembly: AssemblyOverrides {
            release_version: variant_args.release_version.clone(),
            source_date_epoch: variant_args.source_date_epoch,
            image_format: variant_args.image_format,
            ..AssemblyOverrides::default()
        },
    };
    let build = VariantBuild::new(project, variant, ctx.arch, options)?;
    let session = crate::build::start(ctx, project, args)?;
    let engine = args.engine.detect()?;
    let packages = crate::build::Display::default();
    let steps = crate::progress::Steps::new();
    let outcome = build.run(
        &session,
        Runners {
            containers: &engine,
            tools: &twoliter_engine::HostRunner,
            sdk: &mut || crate::sdk::for_packages(ctx, project, &engine),
            packages: &packages,
            assembly: &|step| steps.step(step),
        },
    );
    packages.finish();
    steps.finish();
    match outcome? {
        VariantOutcome::PackagesFailed { sdk, report } => {
            crate::build::finish(&sdk, &report, None, args, started)
        }
        VariantOutcome::UpToDate { latest } => {
            println!(
                "{name} is up to date ({:.1}s): {}",
                started.elapsed().as_secs_f64(),
                latest.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        VariantOutcome::Built {
            assembled, reasons, ..
        } => {
            crate::image::report(&assembled, args.json)?;
            if !args.json {
                let metadata = &assembled.metadata;
                println!(
                    "built {name} {}-{} in {:.1}s ({})",
                    metadata.name.version,
                    metadata.name.build_id,
                    started.elapsed().as_secs_f64(),
                    reasons.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
