//! Writing a [`DiskPlan`] as a GPT (with gptman), and reading a GPT back, updating partition
//! attributes and choosing the bank to boot (with `gptprio`, the one reader/writer of the
//! boot-counting format).
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

use gptman::{GPTPartitionEntry, GPT};
use gptprio::{BankChoice, FileDevice, Gpt, GptAttributes, GptCopy, NoSuchPartition};
use uuid::Uuid;

use crate::guid::to_gpt_bytes;
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

/// Opens `path` and reads its GPT with `gptprio`, trying 512- and then 4096-byte sectors.
fn open_gpt(path: &Path, write: bool) -> Result<(FileDevice, Gpt)> {
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .open(path)
        .map_err(io_err("open", path))?;
    let mut first_problems = None;
    for sector_size in [SECTOR_SIZE as u32, 4096] {
        let file = file.try_clone().map_err(io_err("open", path))?;
        let mut dev =
            FileDevice::new(file, sector_size).map_err(io_err("find the size of", path))?;
        match Gpt::read(&mut dev) {
            Ok(gpt) => return Ok((dev, gpt)),
            Err(gptprio::Error::NoValidGpt { primary, backup }) => {
                first_problems.get_or_insert((primary, backup));
            }
            Err(e) => return Err(table_err(path, e)),
        }
    }
    let (primary, backup) = first_problems.expect("both sector sizes were tried");
    Err(Error::NoValidGpt {
        path: path.to_path_buf(),
        primary: primary.to_string(),
        backup: backup.to_string(),
    })
}

/// Names the disk in a `gptprio` error.
fn table_err(path: &Path, e: gptprio::Error<std::io::Error>) -> Error {
    let path = path.to_path_buf();
    match e {
        gptprio::Error::NoValidGpt { primary, backup } => Error::NoValidGpt {
            path,
            primary: primary.to_string(),
            backup: backup.to_string(),
        },
        gptprio::Error::NoSuchPartition(NoSuchPartition { number, entries }) => {
            Error::NoSuchPartition {
                path,
                number,
                entries,
            }
        }
        gptprio::Error::NothingBootable(source) => Error::NothingBootable { path, source },
        source => Error::Table { path, source },
    }
}

fn to_table(gpt: &Gpt) -> DiskTable {
    DiskTable {
        sector_size: u64::from(gpt.sector_size()),
        disk_guid: gpt.disk_guid(),
        first_usable_lba: gpt.first_usable_lba(),
        last_usable_lba: gpt.last_usable_lba(),
        backup_lba: gpt.backup_lba(),
        entries: gpt.entry_count(),
        partitions: gpt
            .partitions()
            .map(|p| TablePartition {
                number: p.number,
                label: p.name,
                type_guid: p.type_guid,
                partition_guid: p.partition_guid,
                first_lba: p.first_lba,
                last_lba: p.last_lba,
                attributes: p.attributes,
            })
            .collect(),
    }
}

fn to_inspection(gpt: &Gpt) -> TableInspection {
    let health = gpt.health();
    TableInspection {
        table: to_table(gpt),
        source: health.source,
        primary_problem: health.primary.map(|p| p.to_string()),
        backup_problem: health.backup.map(|p| p.to_string()),
        copies_differ: health.copies_differ,
    }
}

/// Reads both GPT copies of an image file or block device and reports which one is used and
/// what is wrong with the other. A copy is valid when its header passes the signature, revision,
/// size and CRC32 checks, sits at the LBA it names, and its entry array matches the CRC32 the
/// header records (see `gptprio::gpt`). 512- and 4096-byte sectors are recognised.
pub fn inspect_table(path: &Path) -> Result<TableInspection> {
    Ok(to_inspection(&open_gpt(path, false)?.1))
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
/// memory, and written back as two complete copies by `gptprio`: first the backup (entries and
/// header), synced, then the primary, synced. At every moment at least one copy is valid, and
/// readers that prefer the primary (GRUB, the kernel) see either the old or the new state. Both
/// copies are rewritten even if nothing changes, which also repairs a damaged copy. Nothing is
/// written if any partition number is not in use.
pub fn set_attributes(path: &Path, updates: &[(u32, GptAttributes)]) -> Result<DiskTable> {
    let (mut dev, mut gpt) = open_gpt(path, true)?;
    for &(number, attrs) in updates {
        gpt.set_attributes(number, attrs)
            .map_err(|e| table_err(path, e.into()))?;
    }
    gpt.write(&mut dev).map_err(|e| table_err(path, e))?;
    Ok(to_table(&gpt))
}

/// GRUB's `gptprio.next` on an image or device, through `gptprio` exactly as the boot stage runs
/// it: choose the bank among the BOOT-type partitions and, if it was chosen by tries, spend the
/// try and write both GPT copies (backup first) before returning the choice.
pub fn next_boot(path: &Path) -> Result<BankChoice> {
    let (mut dev, mut gpt) = open_gpt(path, true)?;
    gpt.next_boot(&mut dev).map_err(|e| table_err(path, e))
}
