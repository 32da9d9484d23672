//! The `twoliter` command: a thin layer over the twoliter libraries that parses arguments,
//! prints results and sets the exit code.

mod args;
mod build;
mod check;
mod image;
mod progress;
mod publish;
mod repo;
mod sdk;
mod variant;
mod variant_build;

use anyhow::{Context, Result};
use args::{Args, Command, LogLevel};
use clap::{CommandFactory, Parser};
use std::path::PathBuf;
use std::process::ExitCode;
use twoliter_project::{Arch, Project, ProjectError};

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`twoliter variant list | head`), as Unix tools do.
    // SAFETY: restoring the default disposition of SIGPIPE before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = Args::parse();
    init_logging(args.log_level);
    match run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", twoliter_project::error_chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: LogLevel) {
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .init();
}

/// Options every command shares.
pub struct Globals {
    project_path: Option<PathBuf>,
    /// The architecture to build for.
    pub arch: Arch,
}

impl Globals {
    /// Finds the project root from `--project-path` or the current directory.
    pub fn root(&self) -> Result<PathBuf, ProjectError> {
        match &self.project_path {
            Some(path) => twoliter_project::at(path),
            None => {
                let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
                twoliter_project::discover(&cwd)
            }
        }
    }

    /// Loads and validates the project.
    pub fn project(&self) -> Result<Project, ProjectError> {
        Project::load(&self.root()?)
    }
}

fn run(args: Args) -> Result<ExitCode> {
    let arch = match args.arch.or_else(Arch::host) {
        Some(arch) => arch,
        None => anyhow::bail!(
            "this machine's architecture `{}` is not one twoliter builds for; pass --arch x86_64 or --arch aarch64",
            std::env::consts::ARCH
        ),
    };
    if let Command::Publish { args: publish_args } = args.command {
        return publish::run(args.project_path.as_deref(), args.arch, publish_args);
    }
    let ctx = Globals {
        project_path: args.project_path,
        arch,
    };
    match args.command {
        Command::Check { json } => check::run(&ctx, json),
        Command::Variant(command) => variant::run(&ctx, command),
        Command::Image(command) => image::run(&ctx, command),
        Command::Sdk(command) => sdk::run(&ctx, command),
        Command::Build(command) => build::run(&ctx, command),
        Command::Repo(command) => repo::run(&ctx, command),
        Command::Publish { .. } => unreachable!("handled above"),
        Command::Schemas { check } => schemas(&ctx, check),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Args::command(),
                "twoliter",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn schemas(ctx: &Globals, check: bool) -> Result<ExitCode> {
    let dir = ctx.root()?.join("schemas");
    let stale = twoliter_project::schema::stale(&dir);
    if check {
        if stale.is_empty() {
            println!("schemas in {} are up to date", dir.display());
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!(
            "out of date in {}: {}\n  help: run `twoliter schemas` to regenerate them",
            dir.display(),
            stale.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    twoliter_project::schema::write_all(&dir)
        .with_context(|| format!("cannot write schemas into {}", dir.display()))?;
    println!("wrote {} schema(s) into {}", stale.len(), dir.display());
    Ok(ExitCode::SUCCESS)
}
