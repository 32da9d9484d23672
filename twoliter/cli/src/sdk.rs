//! `twoliter sdk ...`: build or show the development SDK image.

use crate::args::{EngineArgs, SdkCommand};
use crate::Globals;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;
use twoliter_engine::Engine;
use twoliter_project::{LockedImage, Lockfile, Project};
use twoliter_sdk::{apt, SdkImage, SdkRecipe};

/// Where Debian mirrors are configured on this machine.
const APT_CONFIG: &str = "/etc/apt";

pub fn run(ctx: &Globals, command: SdkCommand) -> Result<ExitCode> {
    let project = ctx.project()?;
    match command {
        SdkCommand::Build { engine, force } => {
            let engine = engine.detect()?;
            let recipe = recipe(ctx, &project)?;
            if !force {
                if let Some(image) = recipe.find(&engine)? {
                    println!(
                        "SDK {} is present ({}); nothing to do (use --force to rebuild)",
                        image.reference, image.id
                    );
                    write_lock(&project, &recipe)?;
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let image = build(&project, &engine, &recipe)?;
            println!("built SDK {} ({})", image.reference, image.id);
            Ok(ExitCode::SUCCESS)
        }
        SdkCommand::Show { engine, json } => {
            let engine = engine.detect()?;
            let recipe = recipe(ctx, &project)?;
            let image = recipe.find(&engine)?;
            if json {
                let value = serde_json::json!({
                    "reference": recipe.reference(),
                    "recipe-digest": recipe.digest(),
                    "suite": recipe.suite,
                    "packages": recipe.packages,
                    "image-id": image.as_ref().map(|i| i.id.clone()),
                    "engine": engine.kind().program(),
                });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!("reference: {}", recipe.reference());
                println!("recipe digest: {}", recipe.digest());
                println!(
                    "debian suite: {} ({} packages)",
                    recipe.suite,
                    recipe.packages.len()
                );
                match image {
                    Some(image) => println!("image: {} in {}", image.id, engine.kind().program()),
                    None => println!("image: not built yet; run `twoliter sdk build`"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The SDK recipe of the project.
pub fn recipe(ctx: &Globals, project: &Project) -> Result<SdkRecipe> {
    let Some(sdk) = &project.config.sdk else {
        bail!("Twoliter.toml has no [sdk] table; add one (e.g. `[sdk] name = \"twoliter-sdk\", version = \"0.1.0\", local = true`)");
    };
    if !sdk.local {
        bail!(
            "pulling SDK {} {} from a registry is not supported yet; set `local = true` under [sdk] in Twoliter.toml to build it here with `twoliter sdk build`",
            sdk.name,
            sdk.version
        );
    }
    let source = mirror()?;
    Ok(SdkRecipe::new(
        &sdk.name,
        &sdk.version.to_string(),
        ctx.arch.name(),
        &source.suite,
    )?)
}

fn mirror() -> Result<apt::AptSource> {
    apt::main_source(Path::new(APT_CONFIG))
        .ok_or_else(|| twoliter_sdk::Error::NoMirror(APT_CONFIG.into()).into())
}

/// Builds the SDK image with a spinner (plain lines without a terminal) and pins it in the lock.
pub fn build(project: &Project, engine: &Engine, recipe: &SdkRecipe) -> Result<SdkImage> {
    let source = mirror()?;
    let build_dir = project.root.join("build");
    let log = build_dir.join("logs").join("sdk.log");
    std::fs::create_dir_all(build_dir.join("logs"))
        .with_context(|| format!("cannot create {}", build_dir.join("logs").display()))?;
    let message = format!(
        "building SDK {} from {} {} ({} packages; log: {})",
        recipe.reference(),
        source.uri,
        source.suite,
        recipe.packages.len(),
        log.display()
    );
    let spinner = crate::progress::spinner(&message);
    let started = Instant::now();
    let result = recipe.build(
        engine,
        &source.uri,
        &build_dir.join("sdk"),
        &log,
        crate::build::package_epoch(),
    );
    crate::progress::finish(spinner);
    let image = result.context("SDK build failed")?;
    tracing::info!("SDK built in {:.0}s", started.elapsed().as_secs_f64());
    write_lock(project, recipe)?;
    Ok(image)
}

/// Pins the local SDK's recipe digest in `Twoliter.lock` (keeping its kits), when it changed.
fn write_lock(project: &Project, recipe: &SdkRecipe) -> Result<()> {
    let Some(sdk) = &project.config.sdk else {
        return Ok(());
    };
    let mut lock = project.lock.clone().unwrap_or(Lockfile {
        schema_version: 1,
        sdk: None,
        kit: Vec::new(),
    });
    let pinned = LockedImage {
        name: sdk.name.clone(),
        version: sdk.version.clone(),
        vendor: None,
        source: recipe.reference(),
        digest: recipe.digest(),
    };
    if lock.sdk.as_ref() == Some(&pinned) {
        return Ok(());
    }
    lock.sdk = Some(pinned);
    let path = project.root.join("Twoliter.lock");
    let text = format!(
        "# Written by twoliter; pins the SDK and kits by digest. For a local SDK the digest is\n# that of its recipe (Debian suite and package list).\n{}",
        toml::to_string(&lock)?
    );
    let temp = path.with_extension("lock.tmp");
    std::fs::write(&temp, text)
        .and_then(|()| std::fs::rename(&temp, &path))
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("pinned SDK {} in {}", recipe.digest(), path.display());
    Ok(())
}

impl EngineArgs {
    /// The engine chosen by `--engine`/TWOLITER_ENGINE, or the first that works.
    pub fn detect(&self) -> Result<Engine> {
        Ok(Engine::detect(self.engine.as_deref())?)
    }
}
