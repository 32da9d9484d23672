//! `apiclient`: command-line client of the host API server.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use apiclient::{
    get_settings, parse_apply_input, read_apply_input, request_ok, set_settings,
    settings_from_args, update, Error, DEFAULT_SOCKET_PATH,
};
use clap::{Parser, Subcommand};

/// Talk to the host API server over its Unix socket.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Path of the API socket.
    #[arg(short = 's', long, default_value = DEFAULT_SOCKET_PATH)]
    socket_path: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print settings under the given prefixes (all settings if none), or `GET` a URI starting
    /// with `/`.
    Get {
        /// Prefixes such as `motd` or `settings.kubernetes`, or one URI such as `/os`.
        args: Vec<String>,
    },
    /// Set settings and commit and apply them.
    Set {
        /// `key=value` pairs; keys are relative to `settings.`, values are JSON if they parse.
        #[arg(required_unless_present = "json", conflicts_with = "json")]
        settings: Vec<String>,
        /// A JSON object of settings (the object under `settings`).
        #[arg(short, long)]
        json: Option<String>,
    },
    /// Apply TOML or JSON documents with a `settings` table, each in its own transaction.
    Apply {
        /// Inputs: file paths, `-` for stdin, or `http://`, `https://` or `file://` URIs;
        /// stdin when none is given.
        inputs: Vec<String>,
    },
    /// Send a raw request.
    Raw {
        /// The URI, such as `/settings?keys=settings.motd`.
        #[arg(short, long)]
        uri: String,
        /// The method.
        #[arg(short, long, default_value = "GET")]
        method: String,
        /// The request body.
        #[arg(short, long)]
        data: Option<String>,
    },
    /// Reboot the host.
    Reboot,
    /// Check for, apply and cancel OS updates.
    Update {
        /// Seconds to wait for each update command (and for a running one to finish).
        #[arg(long, global = true, default_value_t = update::DEFAULT_UPDATE_TIMEOUT.as_secs())]
        timeout: u64,
        #[command(subcommand)]
        command: UpdateCommand,
    },
}

#[derive(Debug, Subcommand)]
enum UpdateCommand {
    /// Refresh the list of available updates and print the update status.
    Check,
    /// Prepare and activate the chosen update, so it boots next.
    Apply {
        /// Refresh the list of updates first (otherwise the current status is used).
        #[arg(long)]
        check: bool,
        /// Reboot into the update once it is activated.
        #[arg(long)]
        reboot: bool,
    },
    /// Deactivate an activated update, so the running version boots next again.
    Cancel,
}

fn run(cli: Cli) -> Result<(), Error> {
    let socket = cli.socket_path.as_path();
    match cli.command {
        Command::Get { args } => {
            if let [uri] = args.as_slice() {
                if uri.starts_with('/') {
                    let response = request_ok(socket, "GET", uri, None)?;
                    print_body(&response.body);
                    return Ok(());
                }
            }
            let value = get_settings(socket, &args)?;
            print_line(pretty(&value));
        }
        Command::Set { settings, json } => {
            let value = match json {
                Some(text) => serde_json::from_str(&text).map_err(|e| Error::InvalidSetting {
                    input: text.clone(),
                    reason: format!("not JSON: {e}"),
                })?,
                None => settings_from_args(&settings)?,
            };
            set_settings(socket, &value)?;
        }
        Command::Apply { inputs } => {
            let inputs = if inputs.is_empty() {
                vec!["-".to_string()]
            } else {
                inputs
            };
            for input in inputs {
                let text = read_apply_input(&input)?;
                let settings = parse_apply_input(&input, &text)?;
                set_settings(socket, &settings)?;
            }
        }
        Command::Raw { uri, method, data } => {
            let response = request_ok(socket, &method, &uri, data.as_deref())?;
            print_body(&response.body);
        }
        Command::Reboot => {
            request_ok(socket, "POST", "/actions/reboot", None)?;
        }
        Command::Update { timeout, command } => {
            let timeout = Duration::from_secs(timeout);
            match command {
                UpdateCommand::Check => {
                    let status = update::update_check(socket, timeout)?;
                    print_line(pretty(&status));
                }
                UpdateCommand::Apply { check, reboot } => {
                    let status =
                        update::update_apply(socket, check, timeout, &mut |line| print_line(line))?;
                    if reboot && status.is_some() {
                        print_line("Rebooting");
                        request_ok(socket, "POST", "/actions/reboot", None)?;
                    }
                }
                UpdateCommand::Cancel => {
                    update::update_cancel(socket, timeout)?;
                    print_line("Update deactivated; the running version boots next");
                }
            }
        }
    }
    Ok(())
}

/// Pretty JSON, through a `Value` so that object keys come out sorted, as they always have.
fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default()
}

/// Prints a body, pretty when it is JSON.
fn print_body(body: &str) {
    if body.is_empty() {
        return;
    }
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => print_line(pretty(&v)),
        Err(_) => print_line(body),
    }
}

/// Prints a line on stdout. A reader that went away (`apiclient get | head -1`) ends the program
/// quietly instead of with a panic.
fn print_line(line: impl std::fmt::Display) {
    use std::io::Write;
    if let Err(e) = writeln!(std::io::stdout(), "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("apiclient: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => logging::exit_with("apiclient", &e),
    }
}
