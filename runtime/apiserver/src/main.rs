//! `apiserver`: serves the host API on a Unix socket.

use std::path::PathBuf;
use std::process::ExitCode;

use apiserver::{Config, Server, UpdateConfig};
use clap::Parser;

/// The host API server: HTTP/1.1 on a Unix socket in front of the settings datastore.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where to create the socket (mode 0660).
    #[arg(long, default_value = "/run/api.sock")]
    socket_path: PathBuf,
    /// The datastore to serve (its `current` link).
    #[arg(long, default_value = datastore::DEFAULT_CURRENT_PATH)]
    datastore_path: PathBuf,
    /// Group ID to give the socket.
    #[arg(long)]
    socket_gid: Option<u32>,
    /// Command run to apply changed settings (split on whitespace; the keys arrive as a JSON
    /// array on stdin).
    #[arg(long, default_value = "thar-be-settings")]
    apply_command: String,
    /// Command run by `POST /actions/reboot` (split on whitespace).
    #[arg(long, default_value = "systemctl reboot")]
    reboot_command: String,
    /// The os-release file served by `GET /os`.
    #[arg(long, default_value = "/etc/os-release")]
    os_release_path: PathBuf,
    /// Most connections served at once; more are answered 503 and closed.
    #[arg(long, default_value_t = apiserver::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Settings families this variant accepts, comma-separated (from the variant manifest's
    /// `settings-families`) [default: all families].
    #[arg(long, value_delimiter = ',')]
    settings_families: Option<Vec<String>>,
    /// The updog command run by the update actions (split on whitespace; extra arguments such
    /// as `--config` go before the subcommand).
    #[arg(long, default_value = apiserver::DEFAULT_UPDOG_COMMAND)]
    updog_command: String,
    /// Where the update status is kept across restarts (parent directory created as needed).
    #[arg(long, default_value = apiserver::DEFAULT_UPDATE_STATUS_PATH)]
    update_status_path: PathBuf,
    /// The OS disk whose boot banks the update status reports [default: the disk holding the
    /// running root file system].
    #[arg(long, env = "SIGNPOST_DISK")]
    signpost_disk: Option<PathBuf>,
    /// How long one updog run may take before it is stopped and the update command fails.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    update_command_timeout: std::time::Duration,
}

fn split(command: &str) -> Vec<String> {
    command.split_whitespace().map(String::from).collect()
}

fn main() -> ExitCode {
    logging::init();
    let args = Args::parse();
    let config = Config {
        socket_path: args.socket_path,
        datastore_path: args.datastore_path,
        socket_gid: args.socket_gid,
        apply_command: split(&args.apply_command),
        reboot_command: split(&args.reboot_command),
        os_release_path: args.os_release_path,
        max_connections: args.max_connections,
        settings_families: args.settings_families,
    };
    let updates = UpdateConfig {
        updog_command: split(&args.updog_command),
        status_path: args.update_status_path,
        signpost_disk: args.signpost_disk,
        command_timeout: args.update_command_timeout,
    };
    match Server::bind_with_updates(config, updates).and_then(Server::serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => logging::exit_with("apiserver", &e),
    }
}
