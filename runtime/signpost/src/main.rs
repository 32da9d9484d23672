//! The `signpost` command line.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use partitions::Bank;
use signpost::{LoadOptions, Signpost, Status};

/// Exit code of a failed run (1 is `has-boot-ever-succeeded`'s "false").
const EXIT_ERROR: u8 = 2;

const ABOUT: &str = "Inspect and change which A/B bank of a Bottlerocket OS disk boots next";

const LONG_ABOUT: &str = "\
Inspect and change which A/B bank of a Bottlerocket OS disk boots next.

A Bottlerocket OS disk has two banks, A and B, each with a BOOT, ROOT and HASH partition. GRUB
picks the bank to boot from bits in the GPT attribute field of each bank's BOOT partition:

  bits 48-51  priority     0 = never boot, 15 = highest
  bits 52-55  tries left   trial boots left for a bank not yet known to work
  bit  56     successful   the bank has booted and been marked healthy

and bit 57 of BOTTLEROCKET-PRIVATE records that some boot has ever succeeded.

GRUB's chooser (gptprio.next) boots the highest-priority bank that is successful or has tries
left (ties: the lower partition number); if it picked the bank because of its tries, it first
decrements tries left. So a new image gets exactly one trial boot: if the host does not run
`signpost mark-successful-boot`, the next boot falls back to the old bank.

The active bank is the one the host runs from (found from the root file system via /sys). On an
image file there is no running root: the active bank is then the one GRUB would boot if no trial
boot were pending (the highest-priority successful bank), or the one named with --booted.

Every change rewrites both GPT copies, the backup copy first (synced), then the primary (synced):
an interrupted write leaves one valid copy that still boots a bank.";

const AFTER_HELP: &str = "\
An update, step by step:
  signpost clear-inactive          # before writing the new image into the inactive bank
  (write the image into the inactive BOOT/ROOT/HASH partitions)
  signpost upgrade-to-inactive     # new bank: priority 2, 1 try; old bank: priority 1
  reboot                           # GRUB boots the new bank once
  signpost mark-successful-boot    # on the new bank, once the host is healthy
To go back: `signpost rollback-to-inactive` (before rebooting), or `signpost cancel-upgrade`
to drop a staged update that was not booted yet.

Exit status: 0 on success; 1 when has-boot-ever-succeeded prints false; 2 on errors.";

/// Command line of `signpost`.
#[derive(Debug, Parser)]
#[command(
    name = "signpost",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = AFTER_HELP
)]
struct Cli {
    /// The OS disk: a block device or an image file. Default: the disk holding the running root
    /// file system (the disk of the partitions under /dev/dm-0, or of the device mounted at /).
    #[arg(long, global = true, value_name = "DISK", env = "SIGNPOST_DISK")]
    disk: Option<PathBuf>,

    /// The bank that was booted, for image files and tests. On the running disk the booted bank
    /// is detected and this must agree with it.
    #[arg(long, global = true, value_name = "BANK", ignore_case = true)]
    booted: Option<BankArg>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BankArg {
    /// Bank A.
    A,
    /// Bank B.
    B,
}

impl From<BankArg> for Bank {
    fn from(b: BankArg) -> Bank {
        match b {
            BankArg::A => Bank::A,
            BankArg::B => Bank::B,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show both banks (partitions, priority, tries left, successful), the active bank, the bank
    /// GRUB boots next, the "boot has ever succeeded" bit and the health of both GPT copies.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The host is healthy: mark the active bank successful (tries left 0, priority kept) and set
    /// "a boot has ever succeeded" on PRIVATE.
    MarkSuccessfulBoot,
    /// Make the inactive bank unbootable (priority 0, tries 0, not successful), before writing a
    /// new image into it.
    ClearInactive,
    /// Stage the image written into the inactive bank: it gets priority 2 and one trial boot; the
    /// active bank gets priority 1 and stays the fallback. Refused unless the active bank is
    /// marked successful.
    UpgradeToInactive,
    /// Undo upgrade-to-inactive before rebooting: clear the inactive bank, give the active bank
    /// priority 2.
    CancelUpgrade,
    /// Boot the inactive bank next (priority 2; active bank priority 1). Only allowed if the
    /// inactive bank is marked successful, i.e. it booted fine before and was not cleared since.
    RollbackToInactive,
    /// Print whether a boot has ever succeeded on this disk (PRIVATE bit 57); exit 0 if true, 1 if
    /// false.
    HasBootEverSucceeded,
    /// Run GRUB's chooser (gptprio.next) as a boot would: pick the bank, decrement its tries left
    /// if it was picked by tries (both GPT copies written before printing), and print the bank
    /// and its BOOT partition's PARTUUID.
    Next {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => logging::exit_with_code("signpost", &*e, EXIT_ERROR),
    }
}

fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let options = LoadOptions {
        disk: cli.disk,
        booted: cli.booted.map(Bank::from),
        ..LoadOptions::default()
    };
    let mut signpost = Signpost::load(&options)?;
    let changed = match cli.command {
        Command::Status { json } => {
            let status = signpost.status();
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print_status(&status);
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::HasBootEverSucceeded => {
            let value = signpost.boot_ever_succeeded();
            println!("{value}");
            return Ok(if value {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Next { json } => {
            let next = signpost.choose_next()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&next)?);
            } else {
                eprintln!("{}", next.decision);
                println!("{} {}", next.bank, next.boot_partuuid);
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::MarkSuccessfulBoot => {
            signpost.mark_successful_boot()?;
            "marked the active bank successful"
        }
        Command::ClearInactive => {
            signpost.clear_inactive()?;
            "cleared the inactive bank"
        }
        Command::UpgradeToInactive => {
            signpost.upgrade_to_inactive()?;
            "staged the inactive bank for one trial boot"
        }
        Command::CancelUpgrade => {
            signpost.cancel_upgrade()?;
            "cancelled the upgrade"
        }
        Command::RollbackToInactive => {
            signpost.rollback_to_inactive()?;
            "the inactive bank boots next"
        }
    };
    let status = signpost.status();
    println!("{}: {changed}", status.disk);
    for b in &status.banks {
        println!("  {}", bank_line(b, &status));
    }
    Ok(ExitCode::SUCCESS)
}

fn bank_line(b: &signpost::BankStatus, status: &Status) -> String {
    let mut tags = Vec::new();
    if b.active {
        tags.push("active");
    }
    if status.inactive.as_deref() == Some(b.bank.as_str()) {
        tags.push("inactive");
    }
    if b.next {
        tags.push("next");
    }
    format!(
        "bank {}: priority {}, tries left {}, {}{}",
        b.bank,
        b.priority,
        b.tries_left,
        if b.successful {
            "successful"
        } else {
            "not successful"
        },
        if tags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", tags.join(", "))
        }
    )
}

fn print_status(status: &Status) {
    println!("disk: {}", status.disk);
    let source = match status.active_source {
        Some(signpost::ActiveSource::Running) => " (running root)",
        Some(signpost::ActiveSource::Booted) => " (--booted)",
        Some(signpost::ActiveSource::Chooser) => " (not the running disk: chooser, no trial boots)",
        None => "",
    };
    println!(
        "active bank: {}{source}",
        status.active.as_deref().unwrap_or("unknown")
    );
    match &status.next {
        Some(n) => println!(
            "next boot: bank {} (BOOT partition {}, PARTUUID {}){}",
            n.bank,
            n.boot_partition,
            n.boot_partuuid,
            if n.by_tries { ", a trial boot" } else { "" }
        ),
        None => println!("next boot: none (no bank is bootable)"),
    }
    println!("boot has ever succeeded: {}", status.boot_ever_succeeded);
    for b in &status.banks {
        println!(
            "{}\n    BOOT {} / ROOT {} / HASH {}, BOOT PARTUUID {}, attributes {}",
            bank_line(b, status),
            b.boot_partition,
            b.root_partition,
            b.hash_partition,
            b.boot_partuuid,
            b.attributes
        );
    }
    let g = &status.gpt;
    println!(
        "GPT: read from the {} copy ({}-byte sectors)",
        g.source, g.sector_size
    );
    if let Some(p) = &g.primary_problem {
        println!("  primary copy unusable: {p} (the next change rewrites it)");
    }
    if let Some(p) = &g.backup_problem {
        println!("  backup copy unusable: {p} (the next change rewrites it)");
    }
    if g.copies_differ {
        println!("  the copies differ (an interrupted write?); the primary is used");
    }
}
