//! `thar-be-settings`: renders configuration files from the live settings and restarts the
//! affected services.
//!
//! With `--all` every configured service is handled (boot). Otherwise the changed data keys are
//! read from standard input as a JSON array of key names (how the apiserver calls it after a
//! commit) and only the services they affect are handled. A JSON report of the services, files
//! written and commands run goes to standard output; any failure exits non-zero with the reason
//! on standard error.

#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use datastore::{FilesystemDataStore, Key};
use renderer::{apply, ApplyError, Options, Selection};

/// Render configuration files from settings and restart affected services.
#[derive(Debug, Parser)]
#[command(name = "thar-be-settings", version)]
struct Args {
    /// Datastore path (a version directory or the `current` link).
    #[arg(long, default_value = datastore::DEFAULT_CURRENT_PATH)]
    datastore_path: PathBuf,
    /// Render every service instead of reading changed keys from stdin.
    #[arg(long)]
    all: bool,
    /// Write every file under this directory instead of `/`.
    #[arg(long)]
    root: Option<PathBuf>,
    /// Write files but don't run restart commands.
    #[arg(long)]
    no_restart: bool,
}

/// Why a run failed before or after [`apply`].
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("cannot read changed keys from stdin")]
    ReadStdin(#[source] std::io::Error),
    #[error("stdin must be a JSON array of changed key names (or pass --all)")]
    ParseStdin(#[source] serde_json::Error),
    #[error("invalid changed key on stdin")]
    InvalidKey(#[source] datastore::Error),
    #[error("cannot open datastore {}", path.display())]
    OpenDatastore {
        path: PathBuf,
        #[source]
        source: datastore::Error,
    },
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("cannot serialize the report")]
    Report(#[source] serde_json::Error),
}

fn read_changed_keys() -> Result<BTreeSet<Key>, CliError> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(CliError::ReadStdin)?;
    let names: Vec<String> = serde_json::from_str(&input).map_err(CliError::ParseStdin)?;
    names
        .iter()
        .map(|n| Key::data(n).map_err(CliError::InvalidKey))
        .collect()
}

fn run(args: Args) -> Result<(), CliError> {
    let selection = if args.all {
        Selection::All
    } else {
        Selection::Keys(read_changed_keys()?)
    };
    let store = FilesystemDataStore::open(&args.datastore_path).map_err(|source| {
        CliError::OpenDatastore {
            path: args.datastore_path.clone(),
            source,
        }
    })?;
    let options = Options {
        root: args.root,
        run_restart_commands: !args.no_restart,
    };
    let report = apply(&store, &selection, &options)?;
    let json = serde_json::to_string_pretty(&report).map_err(CliError::Report)?;
    println!("{json}");
    Ok(())
}

fn main() -> ExitCode {
    logging::init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => logging::exit_with("thar-be-settings", &e),
    }
}
