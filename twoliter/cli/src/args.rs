//! Command-line arguments.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use twoliter_project::Arch;

/// Build Bottlerocket-style container host OS images from a declarative project.
///
/// A project is a directory with `Twoliter.toml`, `kits/<kit>/packages/<pkg>/` (RPM specs and
/// package.yaml) and `variants/<variant>/variant.yaml`. Start with `twoliter check` to validate
/// it, then `twoliter variant list` to see what it can build.
#[derive(Debug, Parser)]
#[command(
    name = "twoliter",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Args {
    /// How much to log on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogLevel::Info, env = "TWOLITER_LOG_LEVEL")]
    pub log_level: LogLevel,

    /// The project directory [default: the nearest directory upwards holding Twoliter.toml].
    #[arg(long, global = true, value_name = "DIR", env = "TWOLITER_PROJECT_PATH")]
    pub project_path: Option<PathBuf>,

    /// Target architecture [default: this machine's].
    #[arg(long, global = true, value_parser = parse_arch, env = "TWOLITER_ARCH")]
    pub arch: Option<Arch>,

    #[command(subcommand)]
    pub command: Command,
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and warnings.
    Warn,
    /// Progress and results (default).
    Info,
    /// Details of each step.
    Debug,
    /// Everything.
    Trace,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and validate the whole project: Twoliter.toml and its lock, every kit, package and
    /// variant manifest, spec files, variant bases and the package dependency graph.
    ///
    /// Every problem is reported at once with its file, line, column and key. Exits 1 when any is
    /// found.
    Check {
        /// Print a JSON report instead of text.
        #[arg(long)]
        json: bool,
    },

    /// Inspect the project's variants.
    #[command(subcommand)]
    Variant(VariantCommand),

    /// Write the JSON Schemas of every manifest kind into `<project>/schemas/`.
    ///
    /// Run it after changing a manifest type; `--check` only reports schemas that are out of date.
    Schemas {
        /// Report stale schemas and exit 1 instead of writing.
        #[arg(long)]
        check: bool,
    },

    /// Print a shell completion script, e.g. `twoliter completions bash > /etc/bash_completion.d/twoliter`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum VariantCommand {
    /// List every variant with its architectures, image format and layout.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one variant with its bases applied and every default filled in.
    Show {
        /// The variant's name, e.g. `aws-k8s-1.31` (its directory under `variants/`).
        variant: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn parse_arch(text: &str) -> Result<Arch, String> {
    Arch::from_name(text).ok_or_else(|| {
        let known: Vec<_> = Arch::ALL.iter().map(|a| a.name()).collect();
        format!("unknown architecture; use one of {}", known.join(", "))
    })
}
