//! `early-boot-config`: applies the user data settings once, at first boot.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Parser};
use early_boot_config::{Outcome, Sources, DEFAULT_MARKER_PATH};

/// Applies the settings of the instance's user data (TOML, optionally gzipped) through the API,
/// once: a marker file records that it ran.
#[derive(Debug, Parser)]
#[command(version)]
#[command(group(ArgGroup::new("source").required(true).multiple(true)))]
struct Args {
    /// Local user data file (used when it exists).
    #[arg(long, group = "source")]
    user_data_file: Option<PathBuf>,
    /// Base URL of an IMDSv2-style endpoint, e.g. http://169.254.169.254 (used when no file gave
    /// user data).
    #[arg(long, group = "source")]
    imds_base_url: Option<String>,
    /// The API socket.
    #[arg(long, default_value = apiclient::DEFAULT_SOCKET_PATH)]
    socket_path: PathBuf,
    /// Marker file written after a successful run; when it exists nothing is done.
    #[arg(long, default_value = DEFAULT_MARKER_PATH)]
    marker_path: PathBuf,
}

fn main() -> ExitCode {
    logging::init();
    let args = Args::parse();
    let sources = Sources {
        user_data_file: args.user_data_file,
        imds_base_url: args.imds_base_url,
    };
    match early_boot_config::run(&sources, &args.socket_path, &args.marker_path) {
        Ok(outcome) => {
            match outcome {
                Outcome::AlreadyRan => println!("already ran; nothing to do"),
                Outcome::NothingToApply => println!("no user data settings to apply"),
                Outcome::Applied(keys) => println!("applied {} changed keys", keys.len()),
            }
            ExitCode::SUCCESS
        }
        Err(e) => logging::exit_with("early-boot-config", &e),
    }
}
