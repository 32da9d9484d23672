//! The boot stage's whole decision process, independent of the firmware: read and check the GPT,
//! repair a damaged copy, choose a bank with gptprio (spending a try, both copies written backup
//! first), read its kernel and command line, start it, and on failure choose again.
//!
//! The firmware side is the [`Firmware`] trait (console and kernel start); the disk is any
//! [`BlockDevice`]. The UEFI glue implements both; the host tests use an in-memory disk.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use ext4_view::{Ext4, Ext4Error};
use gptprio::{choose_bank, Bank, BankChoice, BlockDevice, Gpt, NothingBootable, Partition};

use crate::config::{self, BootEntry, ConfigError, CONFIG_PATH_V1};
use crate::reader::{PartitionReader, SharedDisk};

/// What the stage needs from the firmware.
pub trait Firmware {
    /// Why a kernel could not be started.
    type StartError: fmt::Display;

    /// Prints one console line (the `boot-stage: ` prefix is added by the caller).
    fn say(&mut self, line: fmt::Arguments<'_>);

    /// Loads `kernel` (a PE/COFF image with an EFI stub) and starts it with `load_options` (the
    /// NUL-terminated UTF-16 command line). Returns only if the kernel could not be loaded or
    /// started, or if it returned.
    fn start_kernel(&mut self, kernel: &[u8], load_options: &[u16])
        -> Result<(), Self::StartError>;
}

/// Why the stage gave up: the firmware glue prints it and resets.
#[derive(Debug)]
pub enum Halt {
    /// Neither GPT copy is usable (or there is no protective MBR); nothing was written.
    NoGpt {
        /// gptprio's description of both copies.
        message: String,
    },
    /// No bank is bootable, or every bootable one failed to start in this boot.
    NothingBootable {
        /// The chooser's view of the banks not yet tried in this boot.
        nothing: NothingBootable,
        /// Banks that were chosen and failed in this boot, in order.
        failed: Vec<Bank>,
    },
}

impl fmt::Display for Halt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Halt::NoGpt { message } => write!(f, "cannot read the partition table: {message}"),
            Halt::NothingBootable { nothing, failed } if failed.is_empty() => nothing.fmt(f),
            Halt::NothingBootable { failed, .. } => {
                f.write_str("nothing bootable: ")?;
                for (i, bank) in failed.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}bank {bank}")?;
                }
                f.write_str(" failed to start and no other bank is bootable")
            }
        }
    }
}

/// Why one bank could not be booted.
#[derive(Debug)]
pub enum BankError {
    /// Spending the try (writing both GPT copies) failed; a bank chosen by tries is not booted
    /// unless its try is recorded.
    SpendTry {
        /// gptprio's error.
        message: String,
    },
    /// The chosen partition number is no longer a used entry of the table.
    NoEntry {
        /// The partition number.
        number: u32,
    },
    /// The BOOT partition is outside the disk.
    PartitionRange {
        /// The partition's first LBA.
        first: u64,
        /// Its last LBA.
        last: u64,
        /// Sectors on the disk.
        sectors: u64,
    },
    /// The BOOT filesystem cannot be opened as ext4.
    Filesystem(Ext4Error),
    /// The contract file cannot be read.
    ReadConfig(Ext4Error),
    /// The contract file is outside the contract.
    Config(ConfigError),
    /// The kernel cannot be read.
    ReadKernel {
        /// Its path.
        path: String,
        /// ext4-view's error.
        source: Ext4Error,
    },
    /// The kernel file is empty.
    EmptyKernel {
        /// Its path.
        path: String,
    },
    /// The firmware could not load or start the kernel, or the kernel returned.
    Start {
        /// The firmware's error.
        message: String,
    },
}

impl fmt::Display for BankError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BankError::SpendTry { message } => {
                write!(
                    f,
                    "cannot record the spent try, so not booting it: {message}"
                )
            }
            BankError::NoEntry { number } => write!(f, "partition {number} is not in the GPT"),
            BankError::PartitionRange {
                first,
                last,
                sectors,
            } => write!(
                f,
                "its BOOT partition (LBA {first} to {last}) is not inside the {sectors}-sector disk"
            ),
            BankError::Filesystem(e) => write!(f, "cannot open its BOOT filesystem as ext4: {e}"),
            BankError::ReadConfig(e) => write!(f, "cannot read {CONFIG_PATH_V1}: {e}"),
            BankError::Config(e) => e.fmt(f),
            BankError::ReadKernel { path, source } => {
                write!(f, "cannot read the kernel {path}: {source}")
            }
            BankError::EmptyKernel { path } => write!(f, "the kernel {path} is empty"),
            BankError::Start { message } => write!(f, "the kernel did not start: {message}"),
        }
    }
}

impl core::error::Error for BankError {}

/// A bank's kernel and the command line to start it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The kernel file's bytes.
    pub kernel: Vec<u8>,
    /// Where it was read from.
    pub entry: BootEntry,
    /// The command line with the BOOT PARTUUID filled in.
    pub cmdline: String,
}

/// Reads the kernel and command line of the bank whose BOOT partition is `boot`.
pub fn load_bank<D>(disk: &SharedDisk<D>, boot: &Partition) -> Result<Loaded, BankError>
where
    D: BlockDevice + 'static,
    D::Error: fmt::Display,
{
    let sectors = disk.borrow().sector_count();
    if boot.first_lba > boot.last_lba || boot.last_lba >= sectors {
        return Err(BankError::PartitionRange {
            first: boot.first_lba,
            last: boot.last_lba,
            sectors,
        });
    }
    let reader = PartitionReader::new(disk.clone(), boot.first_lba, boot.last_lba);
    let fs = Ext4::load(Box::new(reader)).map_err(BankError::Filesystem)?;
    let text = fs
        .read_to_string(CONFIG_PATH_V1)
        .map_err(BankError::ReadConfig)?;
    let entry = config::parse_v1(&text).map_err(BankError::Config)?;
    let kernel = fs
        .read(entry.kernel.as_str())
        .map_err(|source| BankError::ReadKernel {
            path: entry.kernel.clone(),
            source,
        })?;
    if kernel.is_empty() {
        return Err(BankError::EmptyKernel { path: entry.kernel });
    }
    let cmdline = entry.cmdline(boot.partition_guid);
    Ok(Loaded {
        kernel,
        entry,
        cmdline,
    })
}

/// Chooses among the banks not in `failed` and, if the choice is by tries, spends the try:
/// both GPT copies written, backup first, before the choice is returned.
///
/// This is [`Gpt::next_boot`] restricted to the banks that have not failed in this boot.
fn next_choice<D: BlockDevice>(
    gpt: &mut Gpt,
    disk: &mut D,
    failed: &[u32],
) -> Result<Result<BankChoice, (BankChoice, BankError)>, NothingBootable>
where
    D::Error: fmt::Display,
{
    let candidates: Vec<_> = gpt
        .boot_candidates()
        .into_iter()
        .filter(|c| !failed.contains(&c.number))
        .collect();
    let choice = choose_bank(&candidates)?;
    if choice.chosen_by_tries() {
        let spent = gpt
            .set_attributes(choice.number, choice.updated)
            .map_err(|e| alloc::format!("{e}"))
            .and_then(|()| gpt.write(disk).map_err(|e| alloc::format!("{e}")));
        if let Err(message) = spent {
            return Ok(Err((choice, BankError::SpendTry { message })));
        }
    }
    Ok(Ok(choice))
}

/// Runs the stage on `disk`: returns only when nothing could be booted (a started kernel does not
/// return). Prints one line per decision through [`Firmware::say`].
pub fn run<D, F>(disk: &SharedDisk<D>, fw: &mut F) -> Halt
where
    D: BlockDevice + 'static,
    D::Error: fmt::Display,
    F: Firmware,
{
    let read = Gpt::read(&mut *disk.borrow_mut());
    let mut gpt = match read {
        Ok(gpt) => gpt,
        Err(e) => {
            return Halt::NoGpt {
                message: alloc::format!("{e}"),
            }
        }
    };
    let health = *gpt.health();
    if !health.is_healthy() {
        for (copy, problem) in [("primary", health.primary), ("backup", health.backup)] {
            if let Some(problem) = problem {
                fw.say(format_args!("the {copy} GPT copy is invalid: {problem}"));
            }
        }
        if health.copies_differ {
            fw.say(format_args!(
                "the GPT copies differ (an interrupted write); the primary is used"
            ));
        }
        match gpt.repair(&mut *disk.borrow_mut()) {
            Ok(_) => fw.say(format_args!(
                "rewrote both GPT copies from the valid {} copy",
                health.source
            )),
            Err(e) => fw.say(format_args!("cannot repair the GPT: {e}")),
        }
    }

    let mut failed: Vec<u32> = Vec::new();
    let mut failed_banks: Vec<Bank> = Vec::new();
    loop {
        let step = next_choice(&mut gpt, &mut *disk.borrow_mut(), &failed);
        let (choice, error) = match step {
            Err(nothing) => {
                return Halt::NothingBootable {
                    nothing,
                    failed: failed_banks,
                }
            }
            Ok(Err((choice, e))) => (choice, e),
            Ok(Ok(choice)) => {
                fw.say(format_args!("{choice}"));
                (choice, boot_choice(disk, &gpt, &choice, fw))
            }
        };
        fw.say(format_args!(
            "bank {} (partition {}) failed: {error}; choosing again",
            choice.bank, choice.number
        ));
        failed.push(choice.number);
        failed_banks.push(choice.bank);
    }
}

/// Loads and starts the chosen bank; returns why it did not run.
fn boot_choice<D, F>(disk: &SharedDisk<D>, gpt: &Gpt, choice: &BankChoice, fw: &mut F) -> BankError
where
    D: BlockDevice + 'static,
    D::Error: fmt::Display,
    F: Firmware,
{
    // The chooser only returns used entries; never trust that blindly.
    let Some(boot) = gpt.partition(choice.number) else {
        return BankError::NoEntry {
            number: choice.number,
        };
    };
    let loaded = match load_bank(disk, &boot) {
        Ok(loaded) => loaded,
        Err(e) => return e,
    };
    fw.say(format_args!(
        "bank {}: starting {} ({} bytes) with PARTUUID {}",
        choice.bank,
        loaded.entry.kernel,
        loaded.kernel.len(),
        boot.partition_guid
    ));
    let options = config::load_options(&loaded.cmdline);
    let message = match fw.start_kernel(&loaded.kernel, &options) {
        Ok(()) => String::from("it returned to the boot stage"),
        Err(e) => alloc::format!("{e}"),
    };
    BankError::Start { message }
}
