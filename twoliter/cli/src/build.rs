//! `twoliter build package|kit|variant`: the flags as build options, the library calls, and
//! the report.

use crate::args::{BuildArgs, BuildCommand};
use crate::Globals;
use anyhow::{Context, Result};
use indicatif::ProgressBar;
use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;
use twoliter_packages::lookaside::LookasideSource;
use twoliter_packages::{
    BuildChoices, BuildOptions, BuildReport, KitInfo, KitOutput, Observer, Outcome, PackageBuild,
    SdkImageRef,
};
use twoliter_project::Project;

pub fn run(ctx: &Globals, command: BuildCommand) -> Result<ExitCode> {
    let started = Instant::now();
    let project = ctx.project()?;
    match command {
        BuildCommand::Package { packages, args } => {
            let built = build_packages(ctx, &project, &packages, &args)?;
            finish(&built.sdk, &built.report, None, &args, started)
        }
        BuildCommand::Kit { kit, args } => {
            let info = KitInfo::find(&project, &kit)?;
            let built = build_packages(ctx, &project, info.packages, &args)?;
            let output = if built.report.failures().is_empty() {
                let output = twoliter_packages::kit::assemble(
                    &built.engine,
                    &built.sdk.reference,
                    built.session.options(),
                    &info,
                    &built.report,
                );
                Some(output.with_context(|| format!("kit {kit} could not be assembled"))?)
            } else {
                None
            };
            finish(&built.sdk, &built.report, output.as_ref(), &args, started)
        }
        BuildCommand::Variant {
            variant,
            force,
            source_date_epoch,
            release_version,
            image_format,
            args,
        } => {
            let options = crate::variant_build::VariantArgs {
                force,
                source_date_epoch,
                release_version,
                image_format,
            };
            crate::variant_build::run(ctx, &project, &variant, &options, &args, started)
        }
    }
}

/// A finished package build with what it ran on.
struct Built {
    session: PackageBuild,
    engine: twoliter_engine::Engine,
    sdk: SdkImageRef,
    report: BuildReport,
}

/// Builds `targets` and their build dependencies with a progress display.
fn build_packages(
    ctx: &Globals,
    project: &Project,
    targets: &[String],
    args: &BuildArgs,
) -> Result<Built> {
    let session = start(ctx, project, args)?;
    let engine = args.engine.detect()?;
    let display = Display::default();
    let result = session.build(
        project,
        targets,
        &engine,
        &mut || crate::sdk::for_packages(ctx, project, &engine),
        &display,
    );
    display.finish();
    let (sdk, report) = result?;
    Ok(Built {
        session,
        engine,
        sdk,
        report,
    })
}

/// Starts a package build with the options the flags give (the build directory's lock taken).
pub fn start(ctx: &Globals, project: &Project, args: &BuildArgs) -> Result<PackageBuild> {
    let choices = BuildChoices {
        jobs: args.jobs,
        lookaside: args
            .lookaside_cache
            .iter()
            .map(|s| LookasideSource::parse(s))
            .collect(),
        fetch_upstream: args.fetch_upstream,
        cache_dir: args.cache_dir.clone(),
    };
    let options = BuildOptions::for_project(&project.root, ctx.arch, choices)?;
    Ok(PackageBuild::start(options)?)
}

/// Prints the outcome (text or JSON) and the failures' log tails; the exit code.
pub fn finish(
    sdk: &SdkImageRef,
    report: &BuildReport,
    kit: Option<&KitOutput>,
    args: &BuildArgs,
    started: Instant,
) -> Result<ExitCode> {
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let value = serde_json::json!({
            "sdk": sdk.reference,
            "packages": report.outcomes,
            "rpms": report.rpms,
            "kit": kit,
            "seconds": seconds,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        summary(report, seconds);
        if let Some(kit) = kit {
            println!(
                "kit: {} (repodata {})",
                kit.repo.display(),
                if kit.repodata_rebuilt {
                    "rebuilt"
                } else {
                    "current"
                }
            );
            println!(
                "kit archive: {} ({})",
                kit.archive.display(),
                kit.manifest_digest
            );
        }
    }
    let failures = report.failures();
    if failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for (name, outcome) in &report.outcomes {
        if let Outcome::Failed { error, log, tail } = outcome {
            eprintln!(
                "\n── {name} failed: {error}\n── last lines of {}:\n{tail}",
                log.display()
            );
        }
    }
    eprintln!(
        "\nerror: {} package(s) did not build: {}",
        failures.len(),
        failures.join(", ")
    );
    Ok(ExitCode::FAILURE)
}

pub fn summary(report: &BuildReport, seconds: f64) {
    let (cached, built) = report.counts();
    let failed = report.failures().len();
    println!("{} package(s): {built} built, {cached} cached, {failed} failed or skipped, in {seconds:.1}s", report.outcomes.len());
    for (name, outcome) in &report.outcomes {
        match outcome {
            Outcome::Cached => println!("  {name}: cached"),
            Outcome::Built { seconds, reasons } => {
                println!("  {name}: built in {seconds:.1}s ({})", reasons.join(", "))
            }
            Outcome::Failed { log, .. } => println!("  {name}: FAILED (log: {})", log.display()),
            Outcome::Skipped { dependency } => {
                println!("  {name}: skipped, dependency {dependency} failed")
            }
        }
    }
}

/// Progress of package builds: a bar on a terminal, log lines otherwise.
#[derive(Default)]
pub struct Display {
    bar: Mutex<Option<ProgressBar>>,
    running: Mutex<BTreeSet<String>>,
}

impl Display {
    fn bar(&self) -> Option<ProgressBar> {
        self.bar.lock().ok().and_then(|bar| bar.clone())
    }

    fn show_running(&self) {
        if let (Some(bar), Ok(running)) = (self.bar(), self.running.lock()) {
            let names: Vec<&str> = running.iter().map(String::as_str).collect();
            bar.set_message(format!("building {}", names.join(", ")));
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Ok(mut bar) = self.bar.lock() {
            crate::progress::finish(bar.take());
        }
    }
}

impl Observer for Display {
    fn planned(&self, misses: usize) {
        if misses > 0 {
            if let Ok(mut bar) = self.bar.lock() {
                crate::progress::finish(bar.take());
                *bar = crate::progress::bar(misses as u64);
            }
        }
    }

    fn started(&self, package: &str, reasons: &[String]) {
        if let Ok(mut running) = self.running.lock() {
            running.insert(package.to_string());
        }
        match self.bar() {
            Some(_) => self.show_running(),
            None => tracing::info!("{package}: building ({})", reasons.join(", ")),
        }
    }

    fn finished(&self, package: &str, outcome: &Outcome) {
        if matches!(outcome, Outcome::Cached) {
            return;
        }
        if let Ok(mut running) = self.running.lock() {
            running.remove(package);
        }
        match self.bar() {
            Some(bar) => {
                bar.inc(1);
                self.show_running();
            }
            None => match outcome {
                Outcome::Built { seconds, .. } => {
                    tracing::info!("{package}: built in {seconds:.1}s")
                }
                Outcome::Failed { log, .. } => {
                    tracing::error!("{package}: failed; log: {}", log.display())
                }
                Outcome::Skipped { dependency } => {
                    tracing::warn!("{package}: skipped, dependency {dependency} failed")
                }
                Outcome::Cached => {}
            },
        }
    }
}
