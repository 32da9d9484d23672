//! `thar-be-settings`: renders configuration files from the live settings and restarts the
//! affected services.
//!
//! With `--all` every configured service is handled (boot). Otherwise the changed data keys are
//! read from standard input as a JSON array of key names (how the apiserver calls it after a
//! commit) and only the services they affect are handled. A JSON report of the services, files
//! written and commands run goes to standard output; any failure exits non-zero with the reason
//! on standard error.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use datastore::{FilesystemDataStore, Key};
use renderer::{apply, Options, Selection};

/// Render configuration files from settings and restart affected services.
#[derive(Debug, Parser)]
#[command(name = "thar-be-settings", version)]
struct Args {
    /// Datastore path (a version directory or the `current` link).
    #[arg(long)]
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

fn read_changed_keys() -> Result<BTreeSet<Key>, String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("cannot read changed keys from stdin: {e}"))?;
    let names: Vec<String> = serde_json::from_str(&input).map_err(|e| {
        format!("stdin must be a JSON array of changed key names (or pass --all): {e}")
    })?;
    names
        .iter()
        .map(|n| Key::data(n).map_err(|e| format!("invalid changed key on stdin: {e}")))
        .collect()
}

fn run(args: Args) -> Result<(), String> {
    let selection = if args.all {
        Selection::All
    } else {
        Selection::Keys(read_changed_keys()?)
    };
    let store = FilesystemDataStore::open(&args.datastore_path).map_err(|e| {
        format!(
            "cannot open datastore {}: {e}",
            args.datastore_path.display()
        )
    })?;
    let options = Options {
        root: args.root,
        run_restart_commands: !args.no_restart,
    };
    let report = apply(&store, &selection, &options).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    println!("{json}");
    Ok(())
}

fn main() -> ExitCode {
    logging::init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("thar-be-settings: {e}");
            ExitCode::FAILURE
        }
    }
}
