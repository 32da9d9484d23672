//! `storewolf`: creates the datastore if missing and writes the missing defaults.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Creates the settings datastore when missing and fills in the defaults it lacks.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// Directory holding the versioned datastores and their `current` link.
    #[arg(long)]
    data_store_base_path: PathBuf,
    /// Version of the datastore to create, `X.Y.Z`.
    #[arg(long)]
    version: String,
    /// `defaults.d`-style directory of `*.toml` files, merged in file-name order.
    #[arg(long)]
    defaults_dir: PathBuf,
}

fn main() -> ExitCode {
    logging::init();
    let args = Args::parse();
    match storewolf::run(
        &args.data_store_base_path,
        &args.version,
        &args.defaults_dir,
    ) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => logging::exit_with("storewolf", &e),
    }
}
