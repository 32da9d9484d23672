//! Writing a [`DiskPlan`] as a GPT, reading a GPT back, and updating partition attributes.
//!
//! Layout on disk (what gptman writes, and what `sgdisk` expects): protective MBR in LBA 0,
//! primary header in LBA 1, 128 entries × 128 bytes in LBAs 2–33, first usable LBA 34; backup
//! entries in the 32 sectors before the last LBA, backup header in the last LBA, last usable LBA =
//! last LBA − 33. A plan keeps the first and last MiB free, so every partition lies inside the
//! usable range.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::Path;

use gptman::{GPTHeader, GPTPartitionEntry, GPT};
use uuid::Uuid;

use crate::attrs::GptAttributes;
use crate::guid::{from_gpt_bytes, to_gpt_bytes};
use crate::plan::DiskPlan;
use crate::{Error, Result, SECTOR_SIZE};
use fsutil::io_err;

/// Sectors at each end of the disk that hold GPT structures (header + 16 KiB entry array), not
/// counting the protective MBR.
const GPT_SECTORS: u64 = 1 + 16 * 1024 / SECTOR_SIZE;

fn gpt_err(op: &'static str, path: &Path) -> impl FnOnce(gptman::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Gpt { op, path, source }
}

/// Creates the image file `path` for `disk`, atomically: a sparse temporary file of exactly
/// `disk.size_bytes()` in the same directory gets the protective MBR and both GPT copies, is
/// synced, and is renamed over `path` (the directory is synced too). An existing file at `path` is
/// replaced only once the new one is complete. The file is left with mode 0644.
///
/// The same plan always produces byte-identical files.
pub fn write_image(disk: &DiskPlan, path: &Path) -> Result<()> {
    if path.file_name().is_none() {
        return Err(Error::InvalidImagePath {
            path: path.to_path_buf(),
        });
    }
    let mut file = fsutil::AtomicFile::create(path, 0o644)?;
    file.file()
        .set_len(disk.size_bytes())
        .map_err(io_err("size the temporary file for", path))?;
    write_gpt(disk, file.file_mut(), path)?;
    file.commit()?;
    Ok(())
}

/// Writes `disk`'s partition table onto the file at `path` in place, keeping its other contents
/// (e.g. partition contents written earlier, or boot code in the first 446 bytes).
///
/// The file is created if missing and extended (sparsely) to exactly `disk.size_bytes()`; a file
/// that is already larger is an error. The GPT areas (LBAs 1–33 and the last 33 LBAs) are zeroed
/// before the protective MBR and both GPT copies are written, then the file is synced. This is not
/// atomic; use [`write_image`] to create a new image atomically.
pub fn write_table(disk: &DiskPlan, path: &Path) -> Result<()> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_err("open", path))?;
    let len = file
        .metadata()
        .map_err(io_err("read the size of", path))?
        .len();
    let expected = disk.size_bytes();
    if len > expected {
        return Err(Error::ImageTooLarge {
            path: path.to_path_buf(),
            actual: len,
            expected,
        });
    }
    if len < expected {
        file.set_len(expected).map_err(io_err("extend", path))?;
    }
    write_gpt(disk, &mut file, path)?;
    file.sync_all().map_err(io_err("sync", path))?;
    Ok(())
}

/// Writes protective MBR and both GPT copies for `disk` onto `file`, which is exactly
/// `disk.size_bytes()` long.
fn write_gpt(disk: &DiskPlan, file: &mut File, path: &Path) -> Result<()> {
    let sectors = disk.size_sectors();
    let zeros = vec![0u8; (GPT_SECTORS * SECTOR_SIZE) as usize];
    for lba in [1, sectors - GPT_SECTORS] {
        file.seek(SeekFrom::Start(lba * SECTOR_SIZE))
            .and_then(|_| file.write_all(&zeros))
            .map_err(io_err("clear the GPT area of", path))?;
    }

    let mut gpt = GPT::new_from(file, SECTOR_SIZE, to_gpt_bytes(disk.disk_guid))
        .map_err(gpt_err("create", path))?;
    for p in &disk.partitions {
        gpt[p.number] = GPTPartitionEntry {
            partition_type_guid: to_gpt_bytes(p.type_guid),
            unique_partition_guid: to_gpt_bytes(p.partition_guid),
            starting_lba: p.start_lba(),
            ending_lba: p.last_lba(),
            attribute_bits: p.attributes.bits(),
            partition_name: p.label.into(),
        };
    }
    // gptman checks that entries are in the usable range, do not overlap and have unique GUIDs.
    gpt.write_into(file).map_err(gpt_err("write", path))?;
    GPT::write_protective_mbr_into(file, SECTOR_SIZE)
        .map_err(gpt_err("write the MBR for", path))?;
    Ok(())
}

/// A partition table read from a disk or image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskTable {
    /// Logical sector size the table was found with (512 or 4096).
    pub sector_size: u64,
    /// The disk GUID.
    pub disk_guid: Uuid,
    /// First usable LBA.
    pub first_usable_lba: u64,
    /// Last usable LBA (inclusive).
    pub last_usable_lba: u64,
    /// LBA of the backup header, as the header records it.
    pub backup_lba: u64,
    /// Number of entries in the partition array (used or not).
    pub entries: u32,
    /// The used entries, by number.
    pub partitions: Vec<TablePartition>,
}

impl DiskTable {
    /// The used entry with this number.
    pub fn partition(&self, number: u32) -> Option<&TablePartition> {
        self.partitions.iter().find(|p| p.number == number)
    }

    /// The first used entry with this label.
    pub fn by_label(&self, label: &str) -> Option<&TablePartition> {
        self.partitions.iter().find(|p| p.label == label)
    }

    /// Byte range of a partition on the disk.
    pub fn byte_range(&self, partition: &TablePartition) -> Range<u64> {
        partition.first_lba * self.sector_size..(partition.last_lba + 1) * self.sector_size
    }
}

/// One used entry of a [`DiskTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePartition {
    /// 1-based entry number.
    pub number: u32,
    /// The partition name.
    pub label: String,
    /// The partition type GUID.
    pub type_guid: Uuid,
    /// The unique partition GUID.
    pub partition_guid: Uuid,
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA (inclusive).
    pub last_lba: u64,
    /// The attribute bits.
    pub attributes: GptAttributes,
}

impl TablePartition {
    /// Size in sectors of the table's sector size.
    pub fn size_sectors(&self) -> u64 {
        self.last_lba + 1 - self.first_lba
    }
}

/// One of the two copies of a GPT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GptCopy {
    /// The primary copy: header in LBA 1, entries from LBA 2.
    Primary,
    /// The backup copy: entries before the last LBA, header in the last LBA.
    Backup,
}

impl GptCopy {
    /// `"primary"` or `"backup"`.
    pub fn as_str(self) -> &'static str {
        match self {
            GptCopy::Primary => "primary",
            GptCopy::Backup => "backup",
        }
    }
}

impl std::fmt::Display for GptCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`inspect_table`] found: the table in use and the health of both copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInspection {
    /// The table read from [`TableInspection::source`].
    pub table: DiskTable,
    /// The copy the table was read from: the primary if it is valid, else the backup (as GRUB
    /// and the kernel do).
    pub source: GptCopy,
    /// Why the primary copy is unusable, if it is.
    pub primary_problem: Option<String>,
    /// Why the backup copy is unusable, if it is.
    pub backup_problem: Option<String>,
    /// Both copies are valid but describe different tables (e.g. a write was interrupted after
    /// the backup copy was written). The primary wins; the next write makes them equal again.
    pub copies_differ: bool,
}

/// Largest partition entry array accepted when reading, in entries (the spec minimum is 128;
/// anything much larger is damage, not a real table).
const MAX_ENTRIES: u32 = 4096;

/// A GPT copy that passed every check: header signature, revision, size and CRC32, its own LBA,
/// and the CRC32 of its entry array.
struct RawCopy {
    sector_size: u64,
    header: GPTHeader,
    entries: Vec<GPTPartitionEntry>,
}

fn read_copy(
    file: &mut File,
    sector_size: u64,
    len: u64,
    copy: GptCopy,
) -> std::result::Result<RawCopy, String> {
    use std::io::Read;
    let sectors = len / sector_size;
    if sectors < 2 * GPT_SECTORS + 2 {
        return Err(format!(
            "the disk has only {sectors} sectors of {sector_size} bytes, too small for a GPT"
        ));
    }
    let lba = match copy {
        GptCopy::Primary => 1,
        GptCopy::Backup => sectors - 1,
    };
    file.seek(SeekFrom::Start(lba * sector_size))
        .map_err(|e| format!("cannot seek to LBA {lba}: {e}"))?;
    let header = GPTHeader::read_from(file).map_err(|e| match e {
        gptman::Error::InvalidSignature => format!("no GPT header at LBA {lba}"),
        e => format!("header at LBA {lba} is invalid: {e}"),
    })?;
    if header.primary_lba != lba {
        return Err(format!(
            "header at LBA {lba} says it belongs at LBA {}",
            header.primary_lba
        ));
    }
    if header.size_of_partition_entry != 128 {
        return Err(format!(
            "header at LBA {lba} has unsupported entry size {}",
            header.size_of_partition_entry
        ));
    }
    if header.number_of_partition_entries == 0 || header.number_of_partition_entries > MAX_ENTRIES {
        return Err(format!(
            "header at LBA {lba} has an implausible number of entries ({})",
            header.number_of_partition_entries
        ));
    }
    let array_len = u64::from(header.number_of_partition_entries) * 128;
    let array_start = header.partition_entry_lba.saturating_mul(sector_size);
    if header.partition_entry_lba == 0 || array_start.saturating_add(array_len) > len {
        return Err(format!(
            "header at LBA {lba} puts its entries outside the disk (LBA {})",
            header.partition_entry_lba
        ));
    }
    let mut bytes = vec![0u8; array_len as usize];
    file.seek(SeekFrom::Start(array_start))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read the entries of the header at LBA {lba}: {e}"))?;
    let entries = bytes
        .chunks(128)
        .map(|mut chunk| GPTPartitionEntry::read_from(&mut chunk))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot decode the entries of the header at LBA {lba}: {e}"))?;
    let crc = header.generate_partition_entry_array_crc32(&entries);
    if crc != header.partition_entry_array_crc32 {
        return Err(format!(
            "entry array at LBA {} fails its CRC32 (header says {:#010x}, entries give {crc:#010x})",
            header.partition_entry_lba, header.partition_entry_array_crc32
        ));
    }
    Ok(RawCopy {
        sector_size,
        header,
        entries,
    })
}

fn raw_to_table(raw: &RawCopy) -> DiskTable {
    let header = &raw.header;
    DiskTable {
        sector_size: raw.sector_size,
        disk_guid: from_gpt_bytes(header.disk_guid),
        first_usable_lba: header.first_usable_lba,
        last_usable_lba: header.last_usable_lba,
        backup_lba: if header.is_primary() {
            header.backup_lba
        } else {
            header.primary_lba
        },
        entries: header.number_of_partition_entries,
        partitions: raw
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_used())
            .map(|(i, e)| TablePartition {
                number: i as u32 + 1,
                label: e.partition_name.as_str().to_string(),
                type_guid: from_gpt_bytes(e.partition_type_guid),
                partition_guid: from_gpt_bytes(e.unique_partition_guid),
                first_lba: e.starting_lba,
                last_lba: e.ending_lba,
                attributes: GptAttributes(e.attribute_bits),
            })
            .collect(),
    }
}

/// Reads and checks both GPT copies; returns the usable one (primary preferred) and the
/// inspection report.
fn read_both(file: &mut File, path: &Path) -> Result<(RawCopy, TableInspection)> {
    let len = file
        .seek(SeekFrom::End(0))
        .map_err(io_err("find the size of", path))?;
    let mut first_problems = None;
    for sector_size in [SECTOR_SIZE, 4096] {
        let primary = read_copy(file, sector_size, len, GptCopy::Primary);
        let backup = read_copy(file, sector_size, len, GptCopy::Backup);
        let (source, copies_differ) = match (&primary, &backup) {
            (Ok(p), Ok(b)) => {
                let differ = p.entries != b.entries
                    || p.header.disk_guid != b.header.disk_guid
                    || p.header.first_usable_lba != b.header.first_usable_lba
                    || p.header.last_usable_lba != b.header.last_usable_lba;
                (GptCopy::Primary, differ)
            }
            (Ok(_), Err(_)) => (GptCopy::Primary, false),
            (Err(_), Ok(_)) => (GptCopy::Backup, false),
            (Err(p), Err(b)) => {
                if first_problems.is_none() {
                    first_problems = Some((p.clone(), b.clone()));
                }
                continue;
            }
        };
        let primary_problem = primary.as_ref().err().cloned();
        let backup_problem = backup.as_ref().err().cloned();
        let raw = match (primary, backup) {
            (Ok(p), _) => p,
            (Err(_), Ok(b)) => b,
            (Err(_), Err(_)) => continue,
        };
        let inspection = TableInspection {
            table: raw_to_table(&raw),
            source,
            primary_problem,
            backup_problem,
            copies_differ,
        };
        return Ok((raw, inspection));
    }
    let (primary, backup) = first_problems.unwrap_or_default();
    Err(Error::NoValidGpt {
        path: path.to_path_buf(),
        primary,
        backup,
    })
}

/// Reads both GPT copies of an image file or block device and reports which one is used and
/// what is wrong with the other. A copy is valid when its header passes the signature, revision,
/// size and CRC32 checks, sits at the LBA it names, and its entry array matches the CRC32 the
/// header records. 512- and 4096-byte sectors are recognised.
pub fn inspect_table(path: &Path) -> Result<TableInspection> {
    let mut file = File::open(path).map_err(io_err("open", path))?;
    Ok(read_both(&mut file, path)?.1)
}

/// Reads the partition table of an image file or block device. The primary GPT is used if it is
/// valid (header and entry array), else the backup; 512- and 4096-byte sectors are recognised.
pub fn read_table(path: &Path) -> Result<DiskTable> {
    Ok(inspect_table(path)?.table)
}

/// Sets the attribute bits of the given partitions (by 1-based number) on an existing image or
/// device, and returns the table as written.
///
/// The whole table is read (primary GPT, or the backup if the primary is damaged), changed in
/// memory, and written back as two complete copies: first the backup (entries and header),
/// synced, then the primary, synced. At every moment at least one copy is valid, and readers that
/// prefer the primary (GRUB, the kernel) see either the old or the new state. Both copies are
/// rewritten even if nothing changes, which also repairs a damaged copy.
pub fn set_attributes(path: &Path, updates: &[(u32, GptAttributes)]) -> Result<DiskTable> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err("open", path))?;
    let (mut raw, _) = read_both(&mut file, path)?;
    let entries = raw.header.number_of_partition_entries;
    for &(number, attrs) in updates {
        let entry = number
            .checked_sub(1)
            .and_then(|i| raw.entries.get_mut(i as usize))
            .filter(|e| e.is_used());
        let Some(entry) = entry else {
            return Err(Error::NoSuchPartition {
                path: path.to_path_buf(),
                number,
                entries,
            });
        };
        entry.attribute_bits = attrs.bits();
    }

    // The header read may be either copy; derive the other one as gptman does.
    let read = raw.header.clone();
    let mut other = read.clone();
    other.primary_lba = read.backup_lba;
    other.backup_lba = read.primary_lba;
    other.partition_entry_lba = if read.partition_entry_lba == 2 {
        read.last_usable_lba + 1
    } else {
        2
    };
    let (mut primary, mut backup) = if read.is_primary() {
        (read, other)
    } else {
        (other, read)
    };
    // Order matters for crash safety: the backup copy is written and synced before the primary
    // is touched, so an interruption leaves either the old primary (valid, old state) or the new
    // backup (valid, new state) behind, never two damaged copies.
    for (header, op) in [
        (&mut backup, "write the backup copy of"),
        (&mut primary, "write the primary copy of"),
    ] {
        header
            .write_into(&mut file, raw.sector_size, &raw.entries)
            .map_err(gpt_err(op, path))?;
        file.sync_data().map_err(io_err("sync", path))?;
    }
    raw.header = primary;
    Ok(raw_to_table(&raw))
}
