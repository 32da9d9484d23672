//! `twoliter build package|kit`: packages built in the SDK through the content-addressed cache.

use crate::args::{BuildArgs, BuildCommand};
use crate::Globals;
use anyhow::{Context, Result};
use indicatif::ProgressBar;
use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;
use twoliter_engine::Engine;
use twoliter_packages::lookaside::{Lookaside, LookasideSource};
use twoliter_packages::{BuildOptions, BuildReport, KitInfo, KitOutput, Observer, Outcome};
use twoliter_project::Project;
use twoliter_sdk::SdkImage;

/// SOURCE_DATE_EPOCH of package builds when the environment sets none: fixed, so a package's
/// RPMs depend only on its inputs and stay cached across commits.
const DEFAULT_PACKAGE_EPOCH: u64 = 1_704_067_200;

/// SOURCE_DATE_EPOCH for packages and the SDK.
pub fn package_epoch() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_PACKAGE_EPOCH)
}

pub fn run(ctx: &Globals, command: BuildCommand) -> Result<ExitCode> {
    let started = Instant::now();
    let project = ctx.project()?;
    match command {
        BuildCommand::Package { packages, args } => {
            let built = build_packages(ctx, &project, &packages, &args)?;
            finish(&built, None, &args, started)
        }
        BuildCommand::Kit { kit, args } => {
            let Some(found) = project.kits.get(&kit) else {
                return Err(twoliter_packages::Error::UnknownKit {
                    name: kit,
                    known: project.kits.keys().cloned().collect::<Vec<_>>().join(", "),
                }
                .into());
            };
            let built = build_packages(ctx, &project, &found.packages, &args)?;
            let output = if built.report.failures().is_empty() {
                let info = KitInfo {
                    name: &kit,
                    version: &project.config.release_version.to_string(),
                    vendor: vendor(&project),
                    packages: &found.packages,
                };
                Some(
                    twoliter_packages::kit::assemble(
                        &built.engine,
                        &built.sdk.reference,
                        &built.options,
                        &info,
                        &built.report,
                    )
                    .with_context(|| format!("kit {kit} could not be assembled"))?,
                )
            } else {
                None
            };
            finish(&built, output.as_ref(), &args, started)
        }
        BuildCommand::Variant {
            variant,
            force,
            source_date_epoch,
            release_version,
            args,
        } => {
            let options = crate::variant_build::VariantOptions {
                force,
                source_date_epoch,
                release_version,
            };
            crate::variant_build::run(ctx, &project, &variant, &options, &args)
        }
    }
}

/// The project's vendor name for metadata, `local` without one.
pub fn vendor(project: &Project) -> &str {
    project
        .config
        .vendor
        .keys()
        .next()
        .map(String::as_str)
        .unwrap_or("local")
}

/// What a package build produced, with what it ran on.
pub struct Built {
    /// Held until the command ends: one build per build directory at a time.
    _lock: std::fs::File,
    /// The engine used.
    pub engine: Engine,
    /// The SDK image.
    pub sdk: SdkImage,
    /// The build options.
    pub options: BuildOptions,
    /// The outcome per package.
    pub report: BuildReport,
}

/// Builds `targets` and their build dependencies: lookaside preflight, engine, SDK (built when
/// missing), plan, and the scheduled builds with progress.
pub fn build_packages(
    ctx: &Globals,
    project: &Project,
    targets: &[String],
    args: &BuildArgs,
) -> Result<Built> {
    if Some(ctx.arch) != twoliter_project::Arch::host() {
        anyhow::bail!(
            "building {} packages on this {} machine is not supported yet (no cross builds); build on an {} machine",
            ctx.arch,
            std::env::consts::ARCH,
            ctx.arch
        );
    }
    let options = options(ctx, project, args)?;
    let lock = lock_build_dir(&options.build_dir)?;
    // Missing sources stop the build before the SDK or any container is touched.
    twoliter_packages::preflight(project, targets, &options)?;
    let engine = args.engine.detect()?;
    let recipe = crate::sdk::recipe(ctx, project)?;
    if let Some(locked) = project.lock.as_ref().and_then(|lock| lock.sdk.as_ref()) {
        if locked.digest != recipe.digest() {
            anyhow::bail!(
                "Twoliter.lock pins SDK {} (recipe {}), but on this machine the SDK recipe is {} ({}, Debian {}): \
                 the Debian release or architecture differs\nhelp: run `twoliter sdk build` to build and pin this machine's SDK, or build where the pinned one was made",
                locked.source,
                locked.digest,
                recipe.digest(),
                recipe.reference(),
                recipe.suite
            );
        }
    }
    let sdk = match recipe.find(&engine)? {
        Some(image) => image,
        None => {
            tracing::info!(
                "the SDK image {} is not built yet; building it now (`twoliter sdk build`)",
                recipe.reference()
            );
            crate::sdk::build(project, &engine, &recipe)?
        }
    };
    let plan = twoliter_packages::plan(project, targets, &options, &sdk.id)?;
    let misses = plan.packages.iter().filter(|p| !p.cached).count();
    let display = Display::new(misses);
    let report = twoliter_packages::build(&engine, &sdk.reference, &options, &plan, &display);
    crate::progress::finish(display.bar);
    Ok(Built {
        _lock: lock,
        engine,
        sdk,
        options,
        report: report?,
    })
}

/// Prints the outcome (text or JSON) and the failures' log tails; the exit code.
pub fn finish(
    built: &Built,
    kit: Option<&KitOutput>,
    args: &BuildArgs,
    started: Instant,
) -> Result<ExitCode> {
    let report = &built.report;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let value = serde_json::json!({
            "sdk": built.sdk.reference,
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

/// Takes the build directory's lock, waiting (and saying so) while another twoliter holds it.
fn lock_build_dir(build_dir: &std::path::Path) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(build_dir)
        .with_context(|| format!("cannot create {}", build_dir.display()))?;
    let path = build_dir.join(".lock");
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        tracing::info!(
            "another twoliter build is using {}; waiting for it",
            build_dir.display()
        );
        // SAFETY: as above.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    Ok(file)
}

fn options(ctx: &Globals, project: &Project, args: &BuildArgs) -> Result<BuildOptions> {
    // Absolute, symlink-free paths: container mounts and cargo's path remapping need them.
    let root = std::fs::canonicalize(&project.root)
        .with_context(|| format!("cannot resolve {}", project.root.display()))?;
    let build_dir = root.join("build");
    let cache_dir = args
        .cache_dir
        .clone()
        .unwrap_or_else(|| build_dir.join("cache"));
    let mut sources: Vec<LookasideSource> = args
        .lookaside_cache
        .iter()
        .map(|s| LookasideSource::parse(s))
        .collect();
    let default_dir = root.join("lookaside");
    if default_dir.is_dir() {
        sources.push(LookasideSource::Dir(default_dir));
    }
    Ok(BuildOptions {
        project_root: root,
        arch: ctx.arch.name().to_string(),
        jobs: args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }),
        lookaside: Lookaside {
            sources,
            store: cache_dir.join("lookaside"),
            fetch_upstream: args.fetch_upstream,
        },
        cache_dir,
        build_dir,
        epoch: package_epoch(),
    })
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
struct Display {
    bar: Option<ProgressBar>,
    running: Mutex<BTreeSet<String>>,
}

impl Display {
    fn new(misses: usize) -> Self {
        Self {
            bar: if misses > 0 {
                crate::progress::bar(misses as u64)
            } else {
                None
            },
            running: Mutex::new(BTreeSet::new()),
        }
    }

    fn show_running(&self) {
        if let (Some(bar), Ok(running)) = (&self.bar, self.running.lock()) {
            let names: Vec<&str> = running.iter().map(String::as_str).collect();
            bar.set_message(format!("building {}", names.join(", ")));
        }
    }
}

impl Observer for Display {
    fn started(&self, package: &str, reasons: &[String]) {
        if let Ok(mut running) = self.running.lock() {
            running.insert(package.to_string());
        }
        match &self.bar {
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
        match &self.bar {
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
