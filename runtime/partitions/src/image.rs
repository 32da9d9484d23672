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

use gptman::{GPTPartitionEntry, GPT};
use uuid::Uuid;

use crate::attrs::GptAttributes;
use crate::guid::{from_gpt_bytes, to_gpt_bytes};
use crate::plan::DiskPlan;
use crate::{Error, Result, SECTOR_SIZE};

/// Sectors at each end of the disk that hold GPT structures (header + 16 KiB entry array), not
/// counting the protective MBR.
const GPT_SECTORS: u64 = 1 + 16 * 1024 / SECTOR_SIZE;

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { op, path, source }
}

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
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidImagePath {
            path: path.to_path_buf(),
        })?
        .to_string_lossy()
        .into_owned();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io_err("create a temporary file next to", path))?;
    tmp.as_file()
        .set_len(disk.size_bytes())
        .map_err(io_err("size the temporary file for", path))?;
    write_gpt(disk, tmp.as_file_mut(), path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io_err("set permissions of the temporary file for", path))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(io_err("sync the temporary file for", path))?;
    tmp.persist(path)
        .map_err(|e| io_err("rename the temporary file into", path)(e.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync the directory of", path))?;
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
    file.sync_all().map_err(io_err("sync", path))
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

fn to_table(gpt: &GPT) -> DiskTable {
    DiskTable {
        sector_size: gpt.sector_size,
        disk_guid: from_gpt_bytes(gpt.header.disk_guid),
        first_usable_lba: gpt.header.first_usable_lba,
        last_usable_lba: gpt.header.last_usable_lba,
        backup_lba: if gpt.header.is_primary() {
            gpt.header.backup_lba
        } else {
            gpt.header.primary_lba
        },
        entries: gpt.header.number_of_partition_entries,
        partitions: gpt
            .iter()
            .filter(|(_, e)| e.is_used())
            .map(|(number, e)| TablePartition {
                number,
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

fn read_gpt(file: &mut File, path: &Path) -> Result<GPT> {
    GPT::find_from(file).map_err(gpt_err("read", path))
}

/// Reads the partition table of an image file or block device. The primary GPT is used if it is
/// valid, else the backup; 512- and 4096-byte sectors are recognised.
pub fn read_table(path: &Path) -> Result<DiskTable> {
    let mut file = File::open(path).map_err(io_err("open", path))?;
    Ok(to_table(&read_gpt(&mut file, path)?))
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
    let mut gpt = read_gpt(&mut file, path)?;
    let entries = gpt.header.number_of_partition_entries;
    for &(number, attrs) in updates {
        if number == 0 || number > entries || gpt[number].is_unused() {
            return Err(Error::NoSuchPartition {
                path: path.to_path_buf(),
                number,
                entries,
            });
        }
        gpt[number].attribute_bits = attrs.bits();
    }

    // The header gptman read may be either copy; derive the other one as gptman does.
    let read = gpt.header.clone();
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
    let array: Vec<GPTPartitionEntry> = gpt.iter().map(|(_, e)| e.clone()).collect();
    for (header, op) in [
        (&mut backup, "write the backup copy of"),
        (&mut primary, "write the primary copy of"),
    ] {
        header
            .write_into(&mut file, gpt.sector_size, &array)
            .map_err(gpt_err(op, path))?;
        file.sync_data().map_err(io_err("sync", path))?;
    }
    let mut written = gpt;
    written.header = primary;
    Ok(to_table(&written))
}
