//! `twoliter image assemble`: the flags as overrides of the variant's manifest, the assembly,
//! and its report.

use crate::args::{AssembleArgs, ImageCommand};
use crate::Globals;
use anyhow::{Context, Result};
use std::process::ExitCode;
use twoliter_project::ProjectError;
use twoliter_variant::{assembly_input, AssemblySubject};

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
    let input = assembly_input(
        AssemblySubject {
            project: project.as_ref(),
            variant,
            name: &args.variant,
            arch: globals.arch,
        },
        args.root.clone(),
        args.boot.clone(),
        &args.overrides(),
    )?;
    let assembled = assemble_with_progress(&input)?;
    report(&assembled, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the assembly with a spinner naming the current step (plain log lines without a
/// terminal).
fn assemble_with_progress(
    input: &twoliter_image::AssembleInput,
) -> Result<twoliter_image::Assembled> {
    tracing::info!(
        "assembling {} {} {}-{} into {}",
        input.variant,
        input.arch,
        input.version,
        input.build_id,
        input.output_dir.display()
    );
    let steps = crate::progress::Steps::new();
    let built = twoliter_image::assemble(&twoliter_engine::HostRunner, input, &|step| {
        steps.step(step)
    });
    steps.finish();
    built.context("image assembly failed")
}

/// Prints the usage table, step times and the artifact directory (or the metadata as JSON).
pub fn report(built: &twoliter_image::Assembled, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&built.metadata)?);
        return Ok(());
    }
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
    Ok(())
}
