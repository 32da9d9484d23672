//! `twoliter sdk ...`: build or show the development SDK image.

use crate::args::{EngineArgs, SdkCommand};
use crate::Globals;
use anyhow::Result;
use indicatif::ProgressBar;
use std::cell::RefCell;
use std::process::ExitCode;
use twoliter_engine::Engine;
use twoliter_project::{Epochs, Project};
use twoliter_sdk::{LocalSdk, Resolved, SdkObserver};

pub fn run(ctx: &Globals, command: SdkCommand) -> Result<ExitCode> {
    let project = ctx.project()?;
    match command {
        SdkCommand::Build { engine, force } => {
            let engine = engine.detect()?;
            let sdk = LocalSdk::on_this_host(&project, ctx.arch)?;
            let resolved = ensure(&project, &engine, &sdk, force)?;
            let image = &resolved.image;
            if resolved.built {
                println!("built SDK {} ({})", image.reference, image.id);
            } else {
                println!(
                    "SDK {} is present ({}); nothing to do (use --force to rebuild)",
                    image.reference, image.id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SdkCommand::Show { engine, json } => {
            let engine = engine.detect()?;
            let sdk = LocalSdk::on_this_host(&project, ctx.arch)?;
            let recipe = &sdk.recipe;
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

/// The SDK a package build uses (see [`LocalSdk::for_packages`]).
pub fn for_packages(
    ctx: &Globals,
    project: &Project,
    engine: &Engine,
) -> Result<twoliter_packages::SdkImageRef, twoliter_packages::Error> {
    let sdk = |error: twoliter_sdk::Error| twoliter_packages::Error::Sdk(Box::new(error));
    let local = LocalSdk::on_this_host(project, ctx.arch).map_err(sdk)?;
    let epoch = Epochs::from_env()?.packages();
    let resolved = local
        .for_packages(project, engine, epoch, &Spinner::default())
        .map_err(sdk)?;
    said_pinned(project, &local, &resolved);
    Ok(twoliter_packages::SdkImageRef {
        id: resolved.image.id,
        reference: resolved.image.reference,
    })
}

/// Finds or builds the SDK with a spinner, and says when the lock was written.
fn ensure(project: &Project, engine: &Engine, sdk: &LocalSdk, force: bool) -> Result<Resolved> {
    let epoch = Epochs::from_env()?.packages();
    let resolved = sdk.ensure(project, engine, epoch, force, &Spinner::default())?;
    said_pinned(project, sdk, &resolved);
    Ok(resolved)
}

fn said_pinned(project: &Project, sdk: &LocalSdk, resolved: &Resolved) {
    if resolved.pinned {
        println!(
            "pinned SDK {} in {}",
            sdk.recipe.digest(),
            project.layout().lock_file().display()
        );
    }
}

/// Shows an SDK build as a spinner (a log line without a terminal).
#[derive(Default)]
struct Spinner(RefCell<Option<ProgressBar>>);

impl SdkObserver for Spinner {
    fn building(&self, message: &str) {
        *self.0.borrow_mut() = crate::progress::spinner(message);
    }

    fn finished(&self) {
        crate::progress::finish(self.0.borrow_mut().take());
    }
}

impl EngineArgs {
    /// The engine chosen by `--engine`/TWOLITER_ENGINE, or the first that works.
    pub fn detect(&self) -> Result<Engine> {
        Ok(Engine::detect(self.engine)?)
    }
}
