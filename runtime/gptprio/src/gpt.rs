//! Reading, checking, changing and writing both copies of a GPT over a [`BlockDevice`].
//!
//! A copy is valid when its header has the `EFI PART` signature, revision 1.0, a size between 92
//! bytes and the sector size, a matching CRC32, its own LBA where it was read and a plausible
//! alternate LBA, usable range and entry array location, and when its entry array matches the
//! CRC32 the header records. The primary is read at LBA 1, the backup where the primary says (or,
//! if the primary is invalid, in the last LBA). The primary is used if valid, else the backup.
//!
//! Writing always writes both complete copies: the backup (entries, then header), flushed, then
//! the primary, flushed. An interruption at any point leaves at least one valid copy holding
//! either the old or the new table. A [`Gpt`] only exists as read and validated from a device,
//! so nothing that was not validated is ever written; entries and header bytes this crate does
//! not interpret are written back unchanged.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use uuid::Uuid;

use crate::attrs::{Bank, GptAttributes};
use crate::chooser::{choose_bank, BankChoice, Candidate, NothingBootable};
use crate::device::BlockDevice;
use crate::error::{CopyProblem, Error, NoSuchPartition};
use crate::BOOT_TYPE;

const SIGNATURE: &[u8; 8] = b"EFI PART";
const REVISION_1_0: u32 = 0x0001_0000;
const MIN_HEADER_SIZE: u32 = 92;
const ENTRY_MIN_SIZE: u32 = 128;
/// Largest entry array accepted (the usual one is 16 KiB).
const MAX_ARRAY_BYTES: u64 = 1024 * 1024;

// Header field offsets.
const H_REVISION: usize = 8;
const H_SIZE: usize = 12;
const H_CRC: usize = 16;
const H_MY_LBA: usize = 24;
const H_ALTERNATE_LBA: usize = 32;
const H_FIRST_USABLE: usize = 40;
const H_LAST_USABLE: usize = 48;
const H_DISK_GUID: usize = 56;
const H_ENTRIES_LBA: usize = 72;
const H_ENTRY_COUNT: usize = 80;
const H_ENTRY_SIZE: usize = 84;
const H_ENTRIES_CRC: usize = 88;

// Entry field offsets.
const E_TYPE: usize = 0;
const E_GUID: usize = 16;
const E_FIRST: usize = 32;
const E_LAST: usize = 40;
const E_ATTRS: usize = 48;
const E_NAME: usize = 56;
const E_NAME_END: usize = 128;

/// One of the two copies of a GPT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GptCopy {
    /// The primary copy: header in LBA 1, entries after it.
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

impl fmt::Display for GptCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of both copies when a [`Gpt`] was read (or after it was last written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// The copy the table came from: the primary if valid, else the backup.
    pub source: GptCopy,
    /// Why the primary copy is unusable, if it is.
    pub primary: Option<CopyProblem>,
    /// Why the backup copy is unusable, if it is.
    pub backup: Option<CopyProblem>,
    /// Both copies are valid but describe different tables (a write was interrupted after the
    /// backup was written); the primary is used.
    pub copies_differ: bool,
}

impl Health {
    const GOOD: Health = Health {
        source: GptCopy::Primary,
        primary: None,
        backup: None,
        copies_differ: false,
    };

    /// Both copies valid and equal: nothing to repair.
    pub fn is_healthy(&self) -> bool {
        *self == Health::GOOD
    }
}

/// A used entry of the partition array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// 1-based entry number.
    pub number: u32,
    /// Partition type GUID.
    pub type_guid: Uuid,
    /// Unique partition GUID (the `PARTUUID`).
    pub partition_guid: Uuid,
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA (inclusive).
    pub last_lba: u64,
    /// Attribute bits.
    pub attributes: GptAttributes,
    /// Name, decoded from UTF-16LE (invalid code units become U+FFFD).
    pub name: String,
}

/// A validated GPT, read from a device: the copy in use, its entry array, and the health of
/// both copies. Changes are made in memory and written with [`Gpt::write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    sector_size: u32,
    sectors: u64,
    /// The header bytes (header size) of the copy in use.
    header: Vec<u8>,
    /// The entry array (count × size bytes).
    entries: Vec<u8>,
    backup_lba: u64,
    primary_entries_lba: u64,
    backup_entries_lba: u64,
    health: Health,
}

/// A copy that passed every check.
struct Copy {
    header: Vec<u8>,
    entries: Vec<u8>,
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn guid(b: &[u8], at: usize) -> Uuid {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    Uuid::from_bytes_le(a)
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn header_crc(header: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[..H_CRC]);
    h.update(&[0; 4]);
    h.update(&header[H_CRC + 4..]);
    h.finalize()
}

/// Sectors the entry array of `bytes` bytes occupies.
fn array_sectors(bytes: u64, sector_size: u32) -> u64 {
    bytes.div_ceil(u64::from(sector_size))
}

fn decode_name(raw: &[u8]) -> String {
    let units = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0);
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Reads and checks the copy whose header is at `lba`.
fn read_copy<D: BlockDevice>(dev: &mut D, lba: u64, kind: GptCopy) -> Result<Copy, CopyProblem> {
    let ss = dev.sector_size();
    let sectors = dev.sector_count();
    if sectors < 4 {
        return Err(CopyProblem::TooSmall { sectors });
    }
    if lba >= sectors {
        return Err(CopyProblem::Unreadable { lba });
    }
    let mut sector = vec![0u8; ss as usize];
    dev.read(lba, &mut sector)
        .map_err(|_| CopyProblem::Unreadable { lba })?;
    if &sector[..8] != SIGNATURE {
        return Err(CopyProblem::NoSignature { lba });
    }
    let revision = le32(&sector, H_REVISION);
    if revision != REVISION_1_0 {
        return Err(CopyProblem::Revision {
            lba,
            found: revision,
        });
    }
    let size = le32(&sector, H_SIZE);
    if size < MIN_HEADER_SIZE || size > ss {
        return Err(CopyProblem::HeaderSize { lba, found: size });
    }
    sector.truncate(size as usize);
    let header = sector;
    let stored = le32(&header, H_CRC);
    let computed = header_crc(&header);
    if stored != computed {
        return Err(CopyProblem::HeaderCrc {
            lba,
            stored,
            computed,
        });
    }
    let my_lba = le64(&header, H_MY_LBA);
    if my_lba != lba {
        return Err(CopyProblem::MyLba { lba, found: my_lba });
    }
    let first = le64(&header, H_FIRST_USABLE);
    let last = le64(&header, H_LAST_USABLE);
    let alternate = le64(&header, H_ALTERNATE_LBA);
    let alternate_ok = match kind {
        GptCopy::Primary => alternate > last && alternate < sectors,
        GptCopy::Backup => alternate == 1,
    };
    if !alternate_ok {
        return Err(CopyProblem::AlternateLba {
            lba,
            found: alternate,
        });
    }
    let (primary_lba, backup_lba) = match kind {
        GptCopy::Primary => (lba, alternate),
        GptCopy::Backup => (alternate, lba),
    };
    if first <= primary_lba || first > last || last >= backup_lba {
        return Err(CopyProblem::UsableRange { lba, first, last });
    }
    let entry_size = le32(&header, H_ENTRY_SIZE);
    if entry_size < ENTRY_MIN_SIZE || !entry_size.is_power_of_two() {
        return Err(CopyProblem::EntrySize {
            lba,
            found: entry_size,
        });
    }
    let count = le32(&header, H_ENTRY_COUNT);
    let bytes = u64::from(count) * u64::from(entry_size);
    if count == 0 || bytes > MAX_ARRAY_BYTES {
        return Err(CopyProblem::EntryCount { lba, found: count });
    }
    let n = array_sectors(bytes, ss);
    let entries_lba = le64(&header, H_ENTRIES_LBA);
    // Where this copy's array may be, and whether the other copy has room for its own.
    let placed = match kind {
        GptCopy::Primary => {
            entries_lba > lba
                && entries_lba.saturating_add(n) <= first
                && last.saturating_add(n) < backup_lba
        }
        GptCopy::Backup => {
            entries_lba > last
                && entries_lba.saturating_add(n) <= lba
                && primary_lba.saturating_add(n) < first
        }
    };
    if !placed {
        return Err(CopyProblem::EntryLocation { lba, entries_lba });
    }
    let mut entries = vec![0u8; (n * u64::from(ss)) as usize];
    dev.read(entries_lba, &mut entries)
        .map_err(|_| CopyProblem::Unreadable { lba: entries_lba })?;
    entries.truncate(bytes as usize);
    let stored = le32(&header, H_ENTRIES_CRC);
    let computed = crc32fast::hash(&entries);
    if stored != computed {
        return Err(CopyProblem::EntryArrayCrc {
            entries_lba,
            stored,
            computed,
        });
    }
    Ok(Copy { header, entries })
}

/// Whether LBA 0 holds a protective MBR: the `55 AA` signature and a record of type `0xEE`.
fn has_protective_mbr(mbr: &[u8]) -> bool {
    mbr.len() >= 512
        && mbr[510..512] == [0x55, 0xaa]
        && (0..4).any(|i| mbr[446 + 16 * i + 4] == 0xee)
}

impl Gpt {
    /// Reads and checks both copies and the protective MBR, and returns the table of the primary
    /// copy if it is valid, else of the backup. Fails with [`Error::NoValidGpt`] if neither copy
    /// is valid.
    pub fn read<D: BlockDevice>(dev: &mut D) -> Result<Gpt, Error<D::Error>> {
        let sectors = dev.sector_count();
        let ss = dev.sector_size();
        let primary = read_copy(dev, 1, GptCopy::Primary);
        let backup_at = match &primary {
            Ok(p) => le64(&p.header, H_ALTERNATE_LBA),
            Err(_) => sectors.saturating_sub(1),
        };
        let backup = read_copy(dev, backup_at, GptCopy::Backup);
        let (used, source, copies_differ) = match (&primary, &backup) {
            (Ok(p), Ok(b)) => {
                let same = p.entries == b.entries
                    && p.header[H_FIRST_USABLE..H_ENTRIES_LBA]
                        == b.header[H_FIRST_USABLE..H_ENTRIES_LBA]
                    && p.header[H_ENTRY_COUNT..H_ENTRIES_CRC]
                        == b.header[H_ENTRY_COUNT..H_ENTRIES_CRC];
                (p, GptCopy::Primary, !same)
            }
            (Ok(p), Err(_)) => (p, GptCopy::Primary, false),
            (Err(_), Ok(b)) => (b, GptCopy::Backup, false),
            (Err(p), Err(b)) => {
                return Err(Error::NoValidGpt {
                    primary: *p,
                    backup: *b,
                })
            }
        };
        let mut mbr = vec![0u8; ss as usize];
        dev.read(0, &mut mbr)
            .map_err(|source| Error::Read { lba: 0, source })?;
        if !has_protective_mbr(&mbr) {
            return Err(Error::NoProtectiveMbr);
        }
        let n = array_sectors(used.entries.len() as u64, ss);
        let used_entries_lba = le64(&used.header, H_ENTRIES_LBA);
        let (backup_lba, primary_entries_lba, backup_entries_lba) = match source {
            GptCopy::Primary => {
                let backup_lba = le64(&used.header, H_ALTERNATE_LBA);
                let backup_entries = match (&backup, copies_differ) {
                    (Ok(b), false) => le64(&b.header, H_ENTRIES_LBA),
                    _ => backup_lba - n,
                };
                (backup_lba, used_entries_lba, backup_entries)
            }
            GptCopy::Backup => (le64(&used.header, H_MY_LBA), 2, used_entries_lba),
        };
        Ok(Gpt {
            sector_size: ss,
            sectors,
            header: used.header.clone(),
            entries: used.entries.clone(),
            backup_lba,
            primary_entries_lba,
            backup_entries_lba,
            health: Health {
                source,
                primary: primary.err(),
                backup: backup.err(),
                copies_differ,
            },
        })
    }

    /// The state of both copies when the table was read, or [`Health::is_healthy`] after a
    /// successful [`Gpt::write`].
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Bytes per sector of the device the table was read from.
    pub fn sector_size(&self) -> u32 {
        self.sector_size
    }

    /// Sectors of the device the table was read from.
    pub fn sector_count(&self) -> u64 {
        self.sectors
    }

    /// The disk GUID.
    pub fn disk_guid(&self) -> Uuid {
        guid(&self.header, H_DISK_GUID)
    }

    /// First usable LBA.
    pub fn first_usable_lba(&self) -> u64 {
        le64(&self.header, H_FIRST_USABLE)
    }

    /// Last usable LBA (inclusive).
    pub fn last_usable_lba(&self) -> u64 {
        le64(&self.header, H_LAST_USABLE)
    }

    /// LBA of the backup header.
    pub fn backup_lba(&self) -> u64 {
        self.backup_lba
    }

    /// Number of entries in the partition array (used or not).
    pub fn entry_count(&self) -> u32 {
        le32(&self.header, H_ENTRY_COUNT)
    }

    fn entry_size(&self) -> usize {
        le32(&self.header, H_ENTRY_SIZE) as usize
    }

    fn entry(&self, number: u32) -> Option<&[u8]> {
        let index = (number as usize).checked_sub(1)?;
        let size = self.entry_size();
        let e = self.entries.get(index * size..(index + 1) * size)?;
        (e[E_TYPE..E_TYPE + 16] != [0; 16]).then_some(e)
    }

    /// The used entry with this 1-based number.
    pub fn partition(&self, number: u32) -> Option<Partition> {
        let e = self.entry(number)?;
        Some(Partition {
            number,
            type_guid: guid(e, E_TYPE),
            partition_guid: guid(e, E_GUID),
            first_lba: le64(e, E_FIRST),
            last_lba: le64(e, E_LAST),
            attributes: GptAttributes(le64(e, E_ATTRS)),
            name: decode_name(&e[E_NAME..E_NAME_END]),
        })
    }

    /// The used entries, by number.
    pub fn partitions(&self) -> impl Iterator<Item = Partition> + '_ {
        (1..=self.entry_count()).filter_map(|n| self.partition(n))
    }

    /// Sets the attribute bits of the used entry `number` (in memory; see [`Gpt::write`]).
    pub fn set_attributes(
        &mut self,
        number: u32,
        attributes: GptAttributes,
    ) -> Result<(), NoSuchPartition> {
        let missing = NoSuchPartition {
            number,
            entries: self.entry_count(),
        };
        if self.entry(number).is_none() {
            return Err(missing);
        }
        let at = (number as usize - 1) * self.entry_size() + E_ATTRS;
        put64(&mut self.entries, at, attributes.bits());
        Ok(())
    }

    /// The chooser's candidates: the partitions of Bottlerocket's BOOT type ([`BOOT_TYPE`])
    /// named `BOTTLEROCKET-BOOT-A` or `-B`. A BOOT-type partition with another name belongs to
    /// no bank and is never booted.
    pub fn boot_candidates(&self) -> Vec<Candidate> {
        self.partitions()
            .filter(|p| p.type_guid == BOOT_TYPE)
            .filter_map(|p| {
                Some(Candidate {
                    bank: Bank::from_boot_label(&p.name)?,
                    number: p.number,
                    attributes: p.attributes,
                })
            })
            .collect()
    }

    /// Runs the chooser over [`Gpt::boot_candidates`], without changing anything.
    pub fn choose(&self) -> Result<BankChoice, NothingBootable> {
        choose_bank(&self.boot_candidates())
    }

    /// GRUB's `gptprio.next`: chooses the bank and, if it was chosen by tries, spends the try
    /// (tries left − 1) and writes both copies, backup first, before returning. The returned
    /// choice is what to boot; print it as the console line.
    pub fn next_boot<D: BlockDevice>(
        &mut self,
        dev: &mut D,
    ) -> Result<BankChoice, Error<D::Error>> {
        let choice = self.choose()?;
        if choice.chosen_by_tries() {
            self.set_attributes(choice.number, choice.updated)?;
            self.write(dev)?;
        }
        Ok(choice)
    }

    /// Writes both copies if they are not both valid and equal, from the copy in use. Returns
    /// whether anything was written.
    pub fn repair<D: BlockDevice>(&mut self, dev: &mut D) -> Result<bool, Error<D::Error>> {
        if self.health.is_healthy() {
            return Ok(false);
        }
        self.write(dev)?;
        Ok(true)
    }

    /// Header sector of one copy, with its LBAs and both CRC32s filled in.
    fn header_sector(&self, copy: GptCopy, entries_crc: u32) -> Vec<u8> {
        let (my, alternate, entries_lba) = match copy {
            GptCopy::Primary => (1, self.backup_lba, self.primary_entries_lba),
            GptCopy::Backup => (self.backup_lba, 1, self.backup_entries_lba),
        };
        let mut sector = vec![0u8; self.sector_size as usize];
        let header = &mut sector[..self.header.len()];
        header.copy_from_slice(&self.header);
        put64(header, H_MY_LBA, my);
        put64(header, H_ALTERNATE_LBA, alternate);
        put64(header, H_ENTRIES_LBA, entries_lba);
        put32(header, H_ENTRIES_CRC, entries_crc);
        let crc = header_crc(header);
        put32(header, H_CRC, crc);
        sector
    }

    /// Writes both complete copies: the backup (entry array, then header), flushed, then the
    /// primary (entry array, then header), flushed. Refused with [`Error::DeviceChanged`] if
    /// `dev` does not have the geometry the table was read with. The protective MBR is not
    /// touched.
    pub fn write<D: BlockDevice>(&mut self, dev: &mut D) -> Result<(), Error<D::Error>> {
        let found = (dev.sector_size(), dev.sector_count());
        if found != (self.sector_size, self.sectors) {
            return Err(Error::DeviceChanged {
                expected: (self.sector_size, self.sectors),
                found,
            });
        }
        let n = array_sectors(self.entries.len() as u64, self.sector_size);
        let mut array = vec![0u8; (n * u64::from(self.sector_size)) as usize];
        array[..self.entries.len()].copy_from_slice(&self.entries);
        let entries_crc = crc32fast::hash(&self.entries);
        for (copy, header_lba, entries_lba) in [
            (GptCopy::Backup, self.backup_lba, self.backup_entries_lba),
            (GptCopy::Primary, 1, self.primary_entries_lba),
        ] {
            let header = self.header_sector(copy, entries_crc);
            dev.write(entries_lba, &array)
                .map_err(|source| Error::Write {
                    copy,
                    lba: entries_lba,
                    source,
                })?;
            dev.write(header_lba, &header)
                .map_err(|source| Error::Write {
                    copy,
                    lba: header_lba,
                    source,
                })?;
            dev.flush()
                .map_err(|source| Error::Flush { copy, source })?;
        }
        self.health = Health::GOOD;
        Ok(())
    }
}

/// The boot-time step on a device: [`Gpt::read`], then [`Gpt::next_boot`].
pub fn next_boot<D: BlockDevice>(dev: &mut D) -> Result<BankChoice, Error<D::Error>> {
    Gpt::read(dev)?.next_boot(dev)
}
