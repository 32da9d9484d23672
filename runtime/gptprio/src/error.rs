//! Errors of the GPT reader/writer. `Display` is written by hand: this crate is `no_std`.

use core::fmt;

use crate::chooser::NothingBootable;
use crate::gpt::GptCopy;

/// Why one GPT copy (header and entry array) is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyProblem {
    /// The disk is too small to hold a GPT at all.
    TooSmall {
        /// Sectors on the disk.
        sectors: u64,
    },
    /// The header, or its entry array starting at `lba`, could not be read from the device.
    Unreadable {
        /// The first LBA of the failed read.
        lba: u64,
    },
    /// No `EFI PART` signature at `lba`.
    NoSignature {
        /// Where the header was looked for.
        lba: u64,
    },
    /// A revision other than 1.0.
    Revision {
        /// The header's LBA.
        lba: u64,
        /// The revision found.
        found: u32,
    },
    /// A header size below 92 bytes or above the sector size.
    HeaderSize {
        /// The header's LBA.
        lba: u64,
        /// The size found.
        found: u32,
    },
    /// The header fails its CRC32.
    HeaderCrc {
        /// The header's LBA.
        lba: u64,
        /// The CRC32 the header records.
        stored: u32,
        /// The CRC32 of its bytes.
        computed: u32,
    },
    /// The header's own LBA field does not name the LBA it was read from.
    MyLba {
        /// Where the header was read.
        lba: u64,
        /// The LBA it says it is at.
        found: u64,
    },
    /// The header's alternate LBA is not where the other copy must be (the primary's must lie
    /// after the usable range and on the disk; the backup's must be 1).
    AlternateLba {
        /// The header's LBA.
        lba: u64,
        /// The alternate LBA it records.
        found: u64,
    },
    /// The usable range is empty, overlaps a header, or leaves the disk.
    UsableRange {
        /// The header's LBA.
        lba: u64,
        /// First usable LBA.
        first: u64,
        /// Last usable LBA.
        last: u64,
    },
    /// An entry size that is not a power of two of at least 128 bytes.
    EntrySize {
        /// The header's LBA.
        lba: u64,
        /// The entry size found.
        found: u32,
    },
    /// No entries, or an entry array larger than 1 MiB.
    EntryCount {
        /// The header's LBA.
        lba: u64,
        /// The number of entries found.
        found: u32,
    },
    /// The entry array is not between the header and the usable range, or the other copy would
    /// have no room for its array.
    EntryLocation {
        /// The header's LBA.
        lba: u64,
        /// Where it says the entries start.
        entries_lba: u64,
    },
    /// The entry array fails the CRC32 its header records.
    EntryArrayCrc {
        /// Where the entries start.
        entries_lba: u64,
        /// The CRC32 the header records.
        stored: u32,
        /// The CRC32 of the entries.
        computed: u32,
    },
}

impl fmt::Display for CopyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CopyProblem::TooSmall { sectors } => {
                write!(
                    f,
                    "the disk has only {sectors} sectors, too small for a GPT"
                )
            }
            CopyProblem::Unreadable { lba } => write!(f, "cannot read LBA {lba}"),
            CopyProblem::NoSignature { lba } => write!(f, "no GPT header at LBA {lba}"),
            CopyProblem::Revision { lba, found } => {
                write!(
                    f,
                    "header at LBA {lba} has unsupported revision {found:#010x}"
                )
            }
            CopyProblem::HeaderSize { lba, found } => {
                write!(f, "header at LBA {lba} has invalid size {found}")
            }
            CopyProblem::HeaderCrc {
                lba,
                stored,
                computed,
            } => write!(
                f,
                "header at LBA {lba} fails its CRC32 (header says {stored:#010x}, bytes give \
                 {computed:#010x})"
            ),
            CopyProblem::MyLba { lba, found } => {
                write!(f, "header at LBA {lba} says it belongs at LBA {found}")
            }
            CopyProblem::AlternateLba { lba, found } => write!(
                f,
                "header at LBA {lba} puts the other GPT copy at LBA {found}, where it cannot be"
            ),
            CopyProblem::UsableRange { lba, first, last } => write!(
                f,
                "header at LBA {lba} has an impossible usable range (LBA {first} to {last})"
            ),
            CopyProblem::EntrySize { lba, found } => {
                write!(f, "header at LBA {lba} has unsupported entry size {found}")
            }
            CopyProblem::EntryCount { lba, found } => write!(
                f,
                "header at LBA {lba} has an implausible number of entries ({found})"
            ),
            CopyProblem::EntryLocation { lba, entries_lba } => write!(
                f,
                "header at LBA {lba} puts its entries where they cannot be (LBA {entries_lba})"
            ),
            CopyProblem::EntryArrayCrc {
                entries_lba,
                stored,
                computed,
            } => write!(
                f,
                "entry array at LBA {entries_lba} fails its CRC32 (header says {stored:#010x}, \
                 entries give {computed:#010x})"
            ),
        }
    }
}

impl core::error::Error for CopyProblem {}

/// A 1-based partition number that is not a used entry of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSuchPartition {
    /// The number asked for.
    pub number: u32,
    /// Number of entries in the array (used or not).
    pub entries: u32,
}

impl fmt::Display for NoSuchPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the GPT has no partition {}: it holds {} entries and entry {} is unused or out of range",
            self.number, self.entries, self.number
        )
    }
}

impl core::error::Error for NoSuchPartition {}

/// Everything that can go wrong reading, choosing from or writing a GPT on a device whose errors
/// are `E`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E> {
    /// Neither GPT copy is valid; nothing is written to such a disk.
    NoValidGpt {
        /// Why the primary copy is unusable.
        primary: CopyProblem,
        /// Why the backup copy is unusable.
        backup: CopyProblem,
    },
    /// A GPT copy is valid but LBA 0 holds no protective MBR (signature `55 AA` and a partition
    /// record of type `0xEE`), so firmware and kernels would not treat the disk as GPT.
    NoProtectiveMbr,
    /// The device is not the one the table was read from (other sector size or count); the
    /// table is not written.
    DeviceChanged {
        /// Sector size and count the table was read with.
        expected: (u32, u64),
        /// Sector size and count of the device now.
        found: (u32, u64),
    },
    /// A partition number that is not in use.
    NoSuchPartition(NoSuchPartition),
    /// The chooser found no bootable bank.
    NothingBootable(NothingBootable),
    /// Reading LBA 0 failed.
    Read {
        /// The LBA.
        lba: u64,
        /// The device's error.
        source: E,
    },
    /// A write failed; which copies were written is told by `copy`.
    Write {
        /// The copy being written (the backup is written first).
        copy: GptCopy,
        /// The first LBA of the failed write.
        lba: u64,
        /// The device's error.
        source: E,
    },
    /// Making writes durable failed.
    Flush {
        /// The copy just written.
        copy: GptCopy,
        /// The device's error.
        source: E,
    },
}

impl<E> From<NoSuchPartition> for Error<E> {
    fn from(e: NoSuchPartition) -> Self {
        Error::NoSuchPartition(e)
    }
}

impl<E> From<NothingBootable> for Error<E> {
    fn from(e: NothingBootable) -> Self {
        Error::NothingBootable(e)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoValidGpt { primary, backup } => {
                write!(f, "no valid GPT: primary: {primary}; backup: {backup}")
            }
            Error::NoProtectiveMbr => f.write_str(
                "LBA 0 holds no protective MBR (no 55 AA signature or no partition of type 0xEE)",
            ),
            Error::DeviceChanged { expected, found } => write!(
                f,
                "the GPT was read from a disk of {} sectors of {} bytes, but the device now has {} \
                 sectors of {} bytes; not writing",
                expected.1, expected.0, found.1, found.0
            ),
            Error::NoSuchPartition(e) => e.fmt(f),
            Error::NothingBootable(e) => e.fmt(f),
            Error::Read { lba, source } => write!(f, "cannot read LBA {lba}: {source}"),
            Error::Write { copy, lba, source } => {
                write!(f, "cannot write the {copy} GPT copy at LBA {lba}: {source}")
            }
            Error::Flush { copy, source } => {
                write!(f, "cannot flush the {copy} GPT copy to the disk: {source}")
            }
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Read { source, .. }
            | Error::Write { source, .. }
            | Error::Flush { source, .. } => Some(source),
            Error::NothingBootable(e) => Some(e),
            _ => None,
        }
    }
}
