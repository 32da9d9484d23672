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
    #[arg(long, default_value = datastore::DEFAULT_BASE_PATH)]
    data_store_base_path: PathBuf,
    /// Version of the datastore to create, `X.Y.Z` [default: `VERSION_ID` of --os-release].
    #[arg(long)]
    version: Option<String>,
    /// The os-release file the version is read from when --version is not given.
    #[arg(long, default_value = "/etc/os-release")]
    os_release: PathBuf,
    /// `defaults.d`-style directory of `*.toml` files, merged in file-name order.
    #[arg(long, default_value = "/usr/share/bottlerocket/defaults.d")]
    defaults_dir: PathBuf,
}

/// `VERSION_ID` of an os-release file, unquoted.
fn os_version(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}; pass --version X.Y.Z", path.display()))?;
    text.lines()
        .find_map(|line| line.strip_prefix("VERSION_ID="))
        .map(|value| value.trim().trim_matches('"').to_string())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| format!("{} has no VERSION_ID; pass --version X.Y.Z", path.display()))
}

fn main() -> ExitCode {
    logging::init();
    let args = Args::parse();
    let version = match args
        .version
        .map_or_else(|| os_version(&args.os_release), Ok)
    {
        Ok(version) => version,
        Err(why) => {
            eprintln!("storewolf: {why}");
            return ExitCode::FAILURE;
        }
    };
    match storewolf::run(&args.data_store_base_path, &version, &args.defaults_dir) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => logging::exit_with("storewolf", &e),
    }
}
