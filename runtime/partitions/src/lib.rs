//! The Bottlerocket-compatible disk format shared by the build tool and the host.
//!
//! The host owns this format: `twoliter` writes it when it assembles an image, and the on-host
//! `signpost` tool reads and modifies it. The crate holds:
//!
//! * [`guid`]: partition type GUIDs, the fixed DATA partition GUIDs and the deterministic
//!   derivation of every other partition and disk GUID from a caller-supplied seed;
//! * [`attrs`] and [`chooser`]: the GPT attribute bits used for boot counting (priority, tries
//!   left, successful, "a boot has ever succeeded") and the bank chooser with GRUB `gptprio.next`
//!   semantics, re-exported from the `no_std` crate `gptprio` (the one implementation, shared with
//!   the firmware boot stage);
//! * [`plan`](mod@plan): the partition planner (split or unified plan, with or without in-place updates);
//! * [`image`]: writing a plan as a GPT onto an image file (gptman), and reading a GPT back,
//!   updating partition attributes in place and running the chooser on a disk, all through
//!   `gptprio`'s reader/writer (both copies checked, fallback to the valid one, backup written
//!   first).
//!
//! Offsets and sizes in a plan are whole MiB; on disk they are 512-byte sectors
//! ([`SECTOR_SIZE`], [`SECTORS_PER_MIB`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use gptprio::{attrs, chooser};
pub mod guid;
pub mod image;
pub mod plan;

use std::path::PathBuf;

pub use gptprio::{
    choose_bank, Bank, BankChoice, Candidate, ChoiceReason, FieldOutOfRange, GptAttributes,
    GptCopy, NothingBootable,
};
pub use image::{
    inspect_table, next_boot, read_table, set_attributes, write_image, write_table, DiskTable,
    TableInspection, TablePartition,
};
pub use plan::{
    plan, DiskKind, DiskPlan, Layout, PartitionId, PartitionPlan, PlanInput, PlannedPartition,
};

/// Logical sector size the planner and writer use, in bytes.
pub const SECTOR_SIZE: u64 = 512;

/// Bytes in one MiB.
pub const MIB: u64 = 1024 * 1024;

/// 512-byte sectors in one MiB.
pub const SECTORS_PER_MIB: u64 = MIB / SECTOR_SIZE;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The OS image size is outside the supported range.
    #[error(
        "OS image size of {gib} GiB is out of range: it must be between {} and {} GiB",
        plan::MIN_OS_IMAGE_GIB,
        plan::MAX_OS_IMAGE_GIB
    )]
    OsImageSize {
        /// The size that was asked for.
        gib: u64,
    },

    /// The data image size is outside the supported range.
    #[error(
        "data image size of {gib} GiB is out of range for the {plan} partition plan: it must be \
         between {} and {} GiB (the data partition needs at least 1 GiB)",
        plan::MIN_DATA_IMAGE_GIB,
        plan::MAX_DATA_IMAGE_GIB
    )]
    DataImageSize {
        /// The size that was asked for.
        gib: u64,
        /// The plan it was asked for.
        plan: PartitionPlan,
    },

    /// A boot-counting field was given a value that does not fit its 4 bits.
    #[error(transparent)]
    AttributeOutOfRange(#[from] FieldOutOfRange),

    /// An I/O operation on an image file failed.
    #[error(transparent)]
    Io(#[from] fsutil::IoError),

    /// gptman could not read or write a partition table.
    #[error("cannot {op} the GPT of {}", path.display())]
    Gpt {
        /// What was being done, e.g. "read", "write".
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: gptman::Error,
    },

    /// The image file is larger than the disk the plan describes.
    #[error(
        "{} is {actual} bytes, larger than the planned disk size of {expected} bytes; write the \
         table onto a fresh or truncated file",
        path.display()
    )]
    ImageTooLarge {
        /// The file involved.
        path: PathBuf,
        /// Its current size in bytes.
        actual: u64,
        /// The planned disk size in bytes.
        expected: u64,
    },

    /// The path given for a new image has no file name.
    #[error("image path {} does not name a file", path.display())]
    InvalidImagePath {
        /// The rejected path.
        path: PathBuf,
    },

    /// Neither GPT copy of a disk is usable.
    #[error(
        "{} has no valid GPT: primary: {primary}; backup: {backup}. Is this the right disk? \
         `sgdisk -v` shows what is wrong; `sgdisk -e` or a restored image can repair it",
        path.display()
    )]
    NoValidGpt {
        /// The image or device.
        path: PathBuf,
        /// Why the primary copy is unusable.
        primary: String,
        /// Why the backup copy is unusable.
        backup: String,
    },

    /// An attribute update named a partition number that is not in use in the table.
    #[error(
        "{} has no partition {number}: the table holds {entries} entries and entry {number} is \
         unused or out of range (use `sgdisk -p` to list partitions)",
        path.display()
    )]
    NoSuchPartition {
        /// The image or device.
        path: PathBuf,
        /// The 1-based partition number asked for.
        number: u32,
        /// Number of entries in the partition array.
        entries: u32,
    },

    /// The chooser found no bootable bank on a disk.
    #[error("{}: {source}", path.display())]
    NothingBootable {
        /// The image or device.
        path: PathBuf,
        /// The candidates the chooser saw.
        #[source]
        source: NothingBootable,
    },

    /// The GPT reader/writer refused the disk (e.g. no protective MBR, or the device changed
    /// size between reading and writing).
    #[error("{}: {source}", path.display())]
    Table {
        /// The image or device.
        path: PathBuf,
        /// What `gptprio` reported.
        #[source]
        source: gptprio::Error<std::io::Error>,
    },
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
