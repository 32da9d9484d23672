//! The legacy BIOS boot stage: GRUB's `boot.img` into the boot code of the protective MBR and
//! `core.img` into BIOS-BOOT, written by twoliter itself, since `grub-bios-setup` works only on
//! a block device, not on an image file. What it does is what `grub-bios-setup` does for a
//! core.img embedded in a BIOS boot partition (GRUB 2.06, `util/setup.c`), with the offsets of
//! `include/grub/i386/pc/boot.h` and `grub-core/boot/i386/pc/diskboot.S`:
//!
//! - boot.img's code replaces LBA 0's bytes before the disk signature (0x1b8), except the BPB
//!   area (0x03..0x5a), which is kept; the disk signature, the partition records and `55 AA`
//!   of the protective MBR are kept;
//! - `GRUB_BOOT_MACHINE_KERNEL_SECTOR` (0x5c, 64-bit LE) = the LBA of core.img's first sector;
//! - `GRUB_BOOT_MACHINE_BOOT_DRIVE` (0x64) = 0xff (use the drive the BIOS booted from, in DL);
//! - `GRUB_BOOT_MACHINE_DRIVE_CHECK` (0x66, 2 bytes) = two NOPs (the work-around for BIOSes
//!   that pass a floppy number for a hard disk);
//! - core.img's first sector (diskboot) ends with its block list, `{ start: u64, len: u16,
//!   segment: u16 }` entries growing down from 0x200 − 12: the first is set to the rest of
//!   core.img (start = first LBA + 1, len = its sectors − 1, segment 0x820, where diskboot
//!   loads it) and the one below it to the terminator (all zero).
//!
//! No Reed-Solomon recovery codes are added (`grub-bios-setup` appends them after core.img;
//! GRUB skips recovery when the redundancy field is 0). Where the tree has no BIOS stage the
//! disk is left as it is.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Where, in the boot tree, the BIOS stage's files are (what packages install under
/// `/boot/bios`): `boot.img` and `core.img`.
pub const BIOS_TREE: &str = "bios";

const SECTOR: usize = 512;
const BPB_START: usize = 0x03;
const BPB_END: usize = 0x5a;
const KERNEL_SECTOR: usize = 0x5c;
const BOOT_DRIVE: usize = 0x64;
const DRIVE_CHECK: usize = 0x66;
const WINDOWS_NT_MAGIC: usize = 0x1b8;
const LIST_SIZE: usize = 12;
/// Where diskboot loads the rest of core.img: `GRUB_BOOT_I386_PC_KERNEL_SEG` + one sector.
const KERNEL_SEGMENT: u16 = 0x800 + (SECTOR as u16 >> 4);

/// GRUB's two images for BIOS boot, as the grub package installs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BiosStage {
    boot_img: Vec<u8>,
    core_img: Vec<u8>,
}

impl BiosStage {
    /// Reads `boot.img` and `core.img` from `tree` (the boot tree's `bios/`); `None` when the
    /// tree has neither.
    ///
    /// # Errors
    /// [`Error::Invalid`] when only one is there or either has the wrong size, [`Error::Io`]
    /// when one cannot be read.
    pub fn load(tree: &Path) -> Result<Option<BiosStage>> {
        let (boot, core) = (tree.join("boot.img"), tree.join("core.img"));
        match (boot.is_file(), core.is_file()) {
            (false, false) => return Ok(None),
            (true, true) => {}
            (has_boot, _) => {
                return Err(Error::Invalid(format!(
                    "the BIOS boot stage in {} has {} but not {}: the grub package installs both",
                    tree.display(),
                    if has_boot { "boot.img" } else { "core.img" },
                    if has_boot { "core.img" } else { "boot.img" },
                )))
            }
        }
        let read = |path: &Path| std::fs::read(path).map_err(|e| Error::io(path, "read", e));
        let stage = BiosStage {
            boot_img: read(&boot)?,
            core_img: read(&core)?,
        };
        if stage.boot_img.len() != SECTOR {
            return Err(Error::Invalid(format!(
                "{} is {} bytes; GRUB's boot.img is one 512-byte sector",
                boot.display(),
                stage.boot_img.len()
            )));
        }
        if stage.core_img.len() < 2 * SECTOR {
            return Err(Error::Invalid(format!(
                "{} is {} bytes, too small for a GRUB core.img (diskboot and a kernel)",
                core.display(),
                stage.core_img.len()
            )));
        }
        Ok(Some(stage))
    }

    /// The sectors core.img takes.
    pub fn core_sectors(&self) -> u64 {
        self.core_img.len().div_ceil(SECTOR) as u64
    }

    /// Writes the stage into the disk image at `disk`, whose protective MBR is at LBA 0 and
    /// whose BIOS-BOOT partition starts at LBA `bios_start` and holds `bios_sectors`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when core.img does not fit BIOS-BOOT or LBA 0 is not an MBR,
    /// [`Error::Io`] when the disk cannot be read or written.
    pub fn install(&self, disk: &Path, bios_start: u64, bios_sectors: u64) -> Result<()> {
        let sectors = self.core_sectors();
        if sectors > bios_sectors || sectors - 1 > u64::from(u16::MAX) {
            return Err(Error::Invalid(format!(
                "GRUB's core.img takes {sectors} sectors but BIOS-BOOT holds {bios_sectors}"
            )));
        }
        let file = File::options()
            .read(true)
            .write(true)
            .open(disk)
            .map_err(|e| Error::io(disk, "open", e))?;
        let mut mbr = [0u8; SECTOR];
        file.read_exact_at(&mut mbr, 0)
            .map_err(|e| Error::io(disk, "read the MBR of", e))?;
        if mbr[510..] != [0x55, 0xaa] {
            return Err(Error::Invalid(format!(
                "LBA 0 of {} is not an MBR (no 55 AA signature); write the partition table first",
                disk.display()
            )));
        }
        file.write_all_at(&self.boot_sector(&mbr, bios_start), 0)
            .map_err(|e| Error::io(disk, "write boot.img into", e))?;
        file.write_all_at(&self.core_image(bios_start), bios_start * SECTOR as u64)
            .map_err(|e| Error::io(disk, "write core.img into", e))?;
        file.sync_all().map_err(|e| Error::io(disk, "sync", e))
    }

    /// LBA 0: boot.img's code around the existing BPB, the kernel sector and drive patched,
    /// and the MBR's own disk signature and partition records.
    fn boot_sector(&self, mbr: &[u8; SECTOR], core_lba: u64) -> [u8; SECTOR] {
        let mut sector = *mbr;
        sector[..WINDOWS_NT_MAGIC].copy_from_slice(&self.boot_img[..WINDOWS_NT_MAGIC]);
        sector[BPB_START..BPB_END].copy_from_slice(&mbr[BPB_START..BPB_END]);
        sector[KERNEL_SECTOR..KERNEL_SECTOR + 8].copy_from_slice(&core_lba.to_le_bytes());
        sector[BOOT_DRIVE] = 0xff;
        sector[DRIVE_CHECK..DRIVE_CHECK + 2].copy_from_slice(&[0x90, 0x90]);
        sector
    }

    /// core.img padded to whole sectors, its block list pointing at its own sectors after the
    /// first, which start at `core_lba`.
    fn core_image(&self, core_lba: u64) -> Vec<u8> {
        let sectors = self.core_sectors();
        let mut image = self.core_img.clone();
        image.resize(sectors as usize * SECTOR, 0);
        let first = SECTOR - LIST_SIZE;
        let entry = &mut image[first..SECTOR];
        entry[..8].copy_from_slice(&(core_lba + 1).to_le_bytes());
        entry[8..10].copy_from_slice(&((sectors - 1) as u16).to_le_bytes());
        entry[10..12].copy_from_slice(&KERNEL_SEGMENT.to_le_bytes());
        image[first - LIST_SIZE..first].fill(0);
        image
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(core_len: usize) -> BiosStage {
        let mut boot_img = vec![0xb0u8; SECTOR];
        boot_img[510..].copy_from_slice(&[0x55, 0xaa]);
        BiosStage {
            boot_img,
            core_img: (0..core_len).map(|i| (i % 251) as u8).collect(),
        }
    }

    fn disk_with_mbr(sectors: u64) -> tempfile::NamedTempFile {
        let disk = tempfile::NamedTempFile::new().unwrap();
        disk.as_file().set_len(sectors * SECTOR as u64).unwrap();
        let mut mbr = [0u8; SECTOR];
        mbr[BPB_START..BPB_END].fill(0x11);
        mbr[WINDOWS_NT_MAGIC..510].fill(0xee);
        mbr[510..].copy_from_slice(&[0x55, 0xaa]);
        disk.as_file().write_all_at(&mbr, 0).unwrap();
        disk
    }

    #[test]
    fn the_mbr_gets_boot_img_with_grub_setups_fields_and_keeps_its_table() {
        let disk = disk_with_mbr(4096);
        let s = stage(3 * SECTOR + 100);
        s.install(disk.path(), 2048, 8192).unwrap();
        let bytes = std::fs::read(disk.path()).unwrap();
        let mbr = &bytes[..SECTOR];
        assert!(
            mbr[BPB_START..BPB_END].iter().all(|&b| b == 0x11),
            "BPB kept"
        );
        assert_eq!(mbr[..BPB_START], [0xb0; BPB_START]);
        assert_eq!(
            u64::from_le_bytes(mbr[0x5c..0x64].try_into().unwrap()),
            2048
        );
        assert_eq!(mbr[0x64], 0xff);
        assert_eq!(mbr[0x66..0x68], [0x90, 0x90]);
        assert!(mbr[0x68..WINDOWS_NT_MAGIC].iter().all(|&b| b == 0xb0));
        assert!(
            mbr[WINDOWS_NT_MAGIC..510].iter().all(|&b| b == 0xee),
            "signature and partition records kept"
        );
        assert_eq!(mbr[510..], [0x55, 0xaa]);
    }

    #[test]
    fn core_img_lands_in_bios_boot_with_its_block_list() {
        let disk = disk_with_mbr(4096);
        let s = stage(3 * SECTOR + 100);
        assert_eq!(s.core_sectors(), 4);
        s.install(disk.path(), 2048, 8192).unwrap();
        let bytes = std::fs::read(disk.path()).unwrap();
        let core = &bytes[2048 * SECTOR..2052 * SECTOR];
        let list = &core[SECTOR - LIST_SIZE..SECTOR];
        assert_eq!(u64::from_le_bytes(list[..8].try_into().unwrap()), 2049);
        assert_eq!(u16::from_le_bytes(list[8..10].try_into().unwrap()), 3);
        assert_eq!(u16::from_le_bytes(list[10..12].try_into().unwrap()), 0x820);
        assert!(core[SECTOR - 2 * LIST_SIZE..SECTOR - LIST_SIZE]
            .iter()
            .all(|&b| b == 0));
        assert_eq!(core[SECTOR..3 * SECTOR + 100], s.core_img[SECTOR..]);
        assert!(core[3 * SECTOR + 100..].iter().all(|&b| b == 0), "padded");
        // Installing twice gives the same bytes (the stage is written once per build).
        s.install(disk.path(), 2048, 8192).unwrap();
        assert_eq!(std::fs::read(disk.path()).unwrap(), bytes);
    }

    #[test]
    fn a_core_img_too_big_for_bios_boot_or_a_missing_mbr_is_refused() {
        let disk = disk_with_mbr(4096);
        let err = stage(10 * SECTOR)
            .install(disk.path(), 2048, 8)
            .unwrap_err();
        assert!(err.to_string().contains("BIOS-BOOT holds 8"), "{err}");
        let blank = tempfile::NamedTempFile::new().unwrap();
        blank.as_file().set_len(1 << 20).unwrap();
        let err = stage(4 * SECTOR)
            .install(blank.path(), 2048, 8192)
            .unwrap_err();
        assert!(err.to_string().contains("not an MBR"), "{err}");
    }

    #[test]
    fn a_tree_with_half_a_stage_is_refused_and_an_empty_one_has_none() {
        let tree = tempfile::tempdir().unwrap();
        assert_eq!(BiosStage::load(tree.path()).unwrap(), None);
        std::fs::write(tree.path().join("boot.img"), [0u8; SECTOR]).unwrap();
        let err = BiosStage::load(tree.path()).unwrap_err();
        assert!(err.to_string().contains("not core.img"), "{err}");
        std::fs::write(tree.path().join("core.img"), [0u8; 4 * SECTOR]).unwrap();
        assert!(BiosStage::load(tree.path()).unwrap().is_some());
        std::fs::write(tree.path().join("boot.img"), [0u8; 100]).unwrap();
        let err = BiosStage::load(tree.path()).unwrap_err();
        assert!(err.to_string().contains("one 512-byte sector"), "{err}");
    }
}
