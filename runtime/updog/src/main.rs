//! The `updog` command line.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use semver::Version;
use updog::update::{
    DEFAULT_CONFIG, DEFAULT_METADATA_DIR, DEFAULT_MIGRATIONS_DIR, DEFAULT_OS_RELEASE,
    DEFAULT_ROOT_JSON,
};
use updog::{Progress, Settings, Updog};

const AFTER_HELP: &str = "\
An update, step by step:
  updog check-update            # what would be taken (--all: everything published)
  updog update-image            # clear the inactive bank, write the new image into it
  updog update-apply --reboot   # new bank: priority 2, one try; old bank: priority 1; reboot
  signpost mark-successful-boot # on the new bank, once the host is healthy
`updog update` is update-image then update-apply; `updog update-revert` drops a staged update.

Exit status: 0 on success (also when no update is available); 1 on errors.";

/// Command line of `updog`.
#[derive(Debug, Parser)]
#[command(
    name = "updog",
    version,
    about = "Bottlerocket's update client: find, stage and apply OS updates from a TUF repository",
    after_long_help = AFTER_HELP
)]
struct Cli {
    /// The configuration file (TOML: metadata_base_url, targets_base_url, seed, version_lock,
    /// ignore_waves).
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_CONFIG)]
    config: PathBuf,

    /// The trusted TUF root.json.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_ROOT_JSON)]
    root_json: PathBuf,

    /// The os-release file with the running VERSION_ID and VARIANT_ID.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_OS_RELEASE)]
    os_release: PathBuf,

    /// The OS disk (block device or image file). Default: the disk holding the running root
    /// file system, as signpost finds it.
    #[arg(long, global = true, value_name = "PATH", env = "SIGNPOST_DISK")]
    disk: Option<PathBuf>,

    /// tough's persistent metadata directory (rejects rolled-back metadata across runs).
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_METADATA_DIR)]
    metadata_dir: PathBuf,

    /// Where the migrations of a staged update are cached.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_MIGRATIONS_DIR)]
    migrations_dir: PathBuf,

    /// Print JSON on stdout.
    #[arg(long, global = true)]
    json: bool,

    /// The time used to evaluate waves, RFC 3339 (for tests).
    #[arg(long, global = true, value_name = "RFC3339", hide_short_help = true)]
    now: Option<String>,

    /// Take updates regardless of waves.
    #[arg(long, global = true)]
    ignore_waves: bool,

    /// The command `--reboot` runs.
    #[arg(
        long,
        global = true,
        value_name = "COMMAND",
        default_value = "systemctl reboot",
        hide_short_help = true
    )]
    reboot_command: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the update that would be taken (or, with --all, every published one).
    CheckUpdate {
        /// List every update for this variant and architecture that is not pulled, newest
        /// first, regardless of waves and the version lock.
        #[arg(long)]
        all: bool,
    },
    /// Write the chosen update into the inactive bank (which stays unbootable until
    /// update-apply) and cache its migrations.
    UpdateImage {
        /// Take exactly this version (ignores waves and the version lock).
        #[arg(long, value_name = "VERSION", value_parser = parse_version)]
        image: Option<Version>,
    },
    /// Boot the staged image next, once (the running bank stays the fallback).
    UpdateApply {
        /// Reboot afterwards.
        #[arg(long)]
        reboot: bool,
    },
    /// update-image, then update-apply.
    Update {
        /// Take exactly this version (ignores waves and the version lock).
        #[arg(long, value_name = "VERSION", value_parser = parse_version)]
        image: Option<Version>,
        /// Reboot afterwards.
        #[arg(long)]
        reboot: bool,
    },
    /// Drop a staged or applied (not yet booted) update: clear the inactive bank.
    UpdateRevert,
}

fn parse_version(text: &str) -> Result<Version, String> {
    updog::config::parse_version(text).map_err(|e| format!("not a version X.Y.Z: {e}"))
}

fn main() -> ExitCode {
    logging::init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => logging::exit_with("updog", &*e),
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings {
        config: cli.config,
        root_json: cli.root_json,
        os_release: cli.os_release,
        disk: cli.disk,
        metadata_dir: cli.metadata_dir,
        migrations_dir: cli.migrations_dir,
        now: cli.now.as_deref().map(updog::parse_now).transpose()?,
        ignore_waves: cli.ignore_waves,
    };
    let updog = Updog::new(settings)?;
    let json = cli.json;
    let reboot_command = cli.reboot_command;
    let (image, apply, reboot) = match cli.command {
        Command::CheckUpdate { all } => {
            let updates = updog.check_update(all)?;
            if json {
                print_json(&updates)?;
            } else if updates.is_empty() {
                println!("No update available");
            } else {
                for u in &updates {
                    println!(
                        "{} {} {} (max_version {}, running {})",
                        u.variant,
                        u.arch,
                        u.version,
                        u.max_version,
                        updog.os().version
                    );
                }
            }
            return Ok(());
        }
        Command::UpdateRevert => {
            let r = updog.update_revert()?;
            if json {
                print_json(&r)?;
            } else {
                println!(
                    "{}: cleared bank {}; bank {} boots next",
                    r.disk, r.cleared, r.bank
                );
            }
            return Ok(());
        }
        Command::UpdateImage { image } => (Some(image), false, false),
        Command::UpdateApply { reboot } => (None, true, reboot),
        Command::Update { image, reboot } => (Some(image), true, reboot),
    };
    let mut staged = None;
    if let Some(image) = image {
        let mut progress = Progress::new();
        match updog.update_image(image.as_ref(), &mut progress)? {
            Some(s) => staged = Some(s),
            None => {
                if json {
                    print_json(&serde_json::json!({ "version": null, "update": false }))?;
                } else {
                    println!("No update available");
                }
                return Ok(());
            }
        }
        if !apply {
            let s = staged.as_ref().expect("set above");
            if json {
                print_json(s)?;
            } else {
                println!(
                    "staged {} {} in bank {} of {} (not yet bootable; run `updog update-apply`)",
                    s.variant, s.version, s.bank, s.disk
                );
            }
            return Ok(());
        }
    }
    let applied = updog.update_apply()?;
    if json {
        let mut value = serde_json::to_value(&applied)?;
        if let (Some(s), Some(map)) = (&staged, value.as_object_mut()) {
            map.insert("migrations".into(), serde_json::to_value(&s.migrations)?);
        }
        print_json(&value)?;
    } else {
        println!(
            "{} {} boots next from bank {} of {} (one try; bank {} is the fallback)",
            updog.os().variant,
            applied.version,
            applied.bank,
            applied.disk,
            applied.fallback
        );
    }
    if reboot {
        reboot_now(&reboot_command)?;
    }
    Ok(())
}

fn reboot_now(command: &str) -> Result<(), updog::Error> {
    let mut words = command.split_whitespace();
    let fail = |reason: String| updog::Error::Reboot {
        command: command.to_string(),
        reason,
    };
    let program = words.next().ok_or_else(|| fail("empty command".into()))?;
    let status = std::process::Command::new(program)
        .args(words)
        .status()
        .map_err(|e| fail(e.to_string()))?;
    if status.success() {
        Ok(())
    } else {
        Err(fail(status.to_string()))
    }
}
