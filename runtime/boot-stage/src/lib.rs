//! The UEFI boot stage of Bottlerocket-style images (DESIGN §2.9): firmware runs it from
//! EFI-SYSTEM as `/EFI/BOOT/BOOTX64.EFI` (`BOOTAA64.EFI` on aarch64); it chooses the bank with
//! [`gptprio`] (DESIGN §2.7), reads the bank's kernel and command line from its BOOT filesystem and
//! starts the kernel through its EFI stub.
//!
//! This library is the part of the stage that does not touch the firmware, so it builds and is
//! tested on the host:
//!
//! * [`config`]: the stage's versioned input contract on the BOOT filesystem (version 1: the
//!   `/grub/grub.cfg` twoliter writes), and the command line with the chosen PARTUUID;
//! * [`reader`]: byte reads of one partition over a sector [`gptprio::BlockDevice`], for
//!   `ext4-view`;
//! * [`stage`]: the decision loop: read and check the GPT, repair a damaged copy, choose (a try
//!   is spent by writing both GPT copies, backup first, before booting), load, start, and choose
//!   again among the other banks if that fails.
//!
//! The binary (`src/main.rs`) adds the UEFI glue: the disk the stage was loaded from, BlockIO,
//! the console, `LoadImage`/`StartImage`, and a reset when nothing is bootable.

#![no_std]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod config;
pub mod reader;
pub mod stage;

#[cfg(test)]
mod tests;

/// Prefix of every console line the stage prints.
pub const LINE_PREFIX: &str = "boot-stage: ";

/// Seconds the stage waits, with the reason on the console, before resetting when nothing is
/// bootable.
pub const RESET_DELAY_SECS: u64 = 5;
