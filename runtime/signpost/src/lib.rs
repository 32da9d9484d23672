//! `signpost`: Bottlerocket's boot-bank tool.
//!
//! A Bottlerocket OS disk has two banks, A and B, each with a BOOT, ROOT and HASH partition
//! (DESIGN §2.5). Which bank GRUB boots is decided by boot-counting bits in the GPT attribute field
//! of each bank's BOOT partition (DESIGN §2.7): priority (bits 48–51), tries left (52–55) and
//! successful (56); bit 57 of the PRIVATE partition records that a boot has ever succeeded.
//!
//! This crate reads those bits ([`Signpost::load`]), reports them ([`Signpost::status`]) and
//! changes them the way Bottlerocket's updater does (mark the running bank good, stage an update in
//! the inactive bank, cancel it, roll back). [`Signpost::choose_next`] runs GRUB's `gptprio.next` chooser,
//! for tests and for tools that simulate a boot.
//!
//! The attribute bits, the chooser and the GPT reader/writer are `gptprio`'s (through
//! `partitions`), the same code the firmware boot stage runs. Every change rewrites both GPT
//! copies through [`partitions::set_attributes`]: the backup copy first, synced, then the
//! primary, synced, so an interrupted write always leaves one valid copy that still boots a bank.
//! [`Signpost::choose_next`] is the boot stage's own step ([`partitions::next_boot`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod layout;
pub mod root;
pub mod state;

pub use error::{Error, Result};
pub use layout::{BankPartitions, DiskLayout};
pub use root::{find_running_root, RunningRoot};
pub use state::{ActiveSource, BankStatus, GptHealth, LoadOptions, NextBoot, Signpost, Status};
