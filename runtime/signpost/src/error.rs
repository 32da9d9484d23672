//! Errors of `signpost`, each naming the disk, the partition or bank involved, what is wrong and
//! what to do about it.

use std::path::PathBuf;

use partitions::{Bank, GptAttributes};

/// Everything that can go wrong in `signpost`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the partition table failed (the message names the disk).
    #[error(transparent)]
    Partitions(#[from] partitions::Error),

    /// The disk holding the running root file system could not be found.
    #[error(
        "cannot find the disk holding the running root file system: {reason}. Pass \
         `--disk <block device or image file>` to say which disk to use"
    )]
    RootDiskNotFound {
        /// What the search found instead.
        reason: String,
    },

    /// The disk found from the running root could not be read.
    #[error(
        "the running root file system is on {} (found through /sys), but it cannot be read (run \
         signpost as root, or pass `--disk <block device or image file>`)",
        disk.display()
    )]
    RootDiskUnreadable {
        /// The disk.
        disk: PathBuf,
        /// What went wrong.
        #[source]
        source: partitions::Error,
    },

    /// A required Bottlerocket partition is missing from the GPT.
    #[error(
        "{} does not have the Bottlerocket partition layout: missing {}. signpost only works on a \
         Bottlerocket OS disk (BOTTLEROCKET-BOOT-A/B, -ROOT-A/B, -HASH-A/B and \
         BOTTLEROCKET-PRIVATE); check `--disk` (`sgdisk -p <disk>` lists the partitions)",
        disk.display(),
        missing.join(", ")
    )]
    NotBottlerocket {
        /// The disk.
        disk: PathBuf,
        /// Labels of the missing partitions.
        missing: Vec<String>,
    },

    /// The disk has bank A only (built without in-place updates).
    #[error(
        "{} has only bank A (BOTTLEROCKET-BOOT-B, -ROOT-B and -HASH-B are missing): it was built \
         without in-place updates, so there is no second bank to update, cancel or roll back to",
        disk.display()
    )]
    SingleBank {
        /// The disk.
        disk: PathBuf,
    },

    /// A Bottlerocket partition has the right label but the wrong type GUID.
    #[error(
        "{}: partition {number} is labelled {label} but has type GUID {found}, not {expected}; \
         the table was not written by the Bottlerocket image tools",
        disk.display()
    )]
    WrongType {
        /// The disk.
        disk: PathBuf,
        /// The partition number.
        number: u32,
        /// Its label.
        label: String,
        /// The type GUID it should have.
        expected: uuid::Uuid,
        /// The type GUID it has.
        found: uuid::Uuid,
    },

    /// ROOT and HASH do not directly follow BOOT, so `PARTNROFF=1/2` would pick the wrong ones.
    #[error(
        "{}: bank {bank} has BOOT {boot}, ROOT {root}, HASH {hash}, but the kernel command line \
         finds ROOT and HASH as BOOT + 1 and BOOT + 2 (PARTNROFF); this bank cannot boot. \
         Rebuild the image or renumber the partitions (`sgdisk --sort`)",
        disk.display()
    )]
    BankNotContiguous {
        /// The disk.
        disk: PathBuf,
        /// The bank.
        bank: Bank,
        /// BOOT partition number.
        boot: u32,
        /// ROOT partition number.
        root: u32,
        /// HASH partition number.
        hash: u32,
    },

    /// The running root is on this disk but not on a bank's ROOT or HASH partition.
    #[error(
        "the running root file system is on partition {partition} of {}, which is not the ROOT \
         or HASH partition of bank A or B; cannot tell which bank was booted (pass `--booted A` \
         or `--booted B` if you know)",
        disk.display()
    )]
    BootedPartitionUnknown {
        /// The disk.
        disk: PathBuf,
        /// The partition number the root is on (0 if the root is the whole disk).
        partition: u32,
    },

    /// `--booted` disagrees with the bank the running root is on.
    #[error(
        "`--booted {given}` contradicts the running system, which booted bank {detected} of {}; \
         drop `--booted` (it is meant for image files and tests)",
        disk.display()
    )]
    BootedMismatch {
        /// The disk.
        disk: PathBuf,
        /// The bank given with `--booted`.
        given: Bank,
        /// The bank the running root is on.
        detected: Bank,
    },

    /// No bank is active: neither was booted (known) nor is bootable.
    #[error(
        "cannot tell which bank is active on {}: it is not the running disk and neither bank is \
         bootable (A: {a}; B: {b}). Pass `--booted A` or `--booted B`",
        disk.display()
    )]
    NoActiveBank {
        /// The disk.
        disk: PathBuf,
        /// Bank A's BOOT attributes.
        a: GptAttributes,
        /// Bank B's BOOT attributes.
        b: GptAttributes,
    },

    /// The chooser found no bootable bank.
    #[error(
        "no bank of {} is bootable (A: {a}; B: {b}): a bank needs priority > 0 and either the \
         successful bit or tries left. GRUB would fail to boot this disk; `signpost \
         rollback-to-inactive` or rewriting an image repairs it",
        disk.display()
    )]
    NoBootableBank {
        /// The disk.
        disk: PathBuf,
        /// Bank A's BOOT attributes.
        a: GptAttributes,
        /// Bank B's BOOT attributes.
        b: GptAttributes,
    },

    /// A change would leave the disk with no bootable bank.
    #[error(
        "refusing to change {}: afterwards no bank would be bootable (A: {a}; B: {b}) and the \
         host could not boot. This happens when the running bank is on a trial boot and not yet \
         marked successful: run `signpost mark-successful-boot` first (and check `--booted`)",
        disk.display()
    )]
    WouldLeaveNoBootableBank {
        /// The disk.
        disk: PathBuf,
        /// Bank A's BOOT attributes after the change.
        a: GptAttributes,
        /// Bank B's BOOT attributes after the change.
        b: GptAttributes,
    },

    /// Rolling back to a bank that has never booted successfully.
    #[error(
        "cannot roll back to bank {bank} of {}: it has not booted successfully ({attrs}), so it \
         may not boot at all. Only a bank that was marked successful (and not cleared since) can \
         be rolled back to",
        disk.display()
    )]
    InactiveNeverSucceeded {
        /// The disk.
        disk: PathBuf,
        /// The inactive bank.
        bank: Bank,
        /// Its BOOT attributes.
        attrs: GptAttributes,
    },

    /// Staging an update while the running bank is not marked successful.
    #[error(
        "refusing to stage an update into bank {inactive} of {}: the active bank {active} is not \
         marked successful ({attrs}), so if the update fails to boot there is no bank to fall \
         back to. Run `signpost mark-successful-boot` once the host is healthy",
        disk.display()
    )]
    ActiveNotSuccessful {
        /// The disk.
        disk: PathBuf,
        /// The active bank.
        active: Bank,
        /// The inactive bank.
        inactive: Bank,
        /// The active bank's BOOT attributes.
        attrs: GptAttributes,
    },
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
