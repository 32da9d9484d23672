//! Finding the disk (and partition) that holds the running root file system, through sysfs.
//!
//! On Bottlerocket `/` is `/dev/dm-0`, a dm-verity device whose `slaves/` are the booted bank's
//! ROOT and HASH partitions. From the device number of `/` we walk
//! `/sys/dev/block/<major>:<minor>` down through `slaves/` (device mapper, possibly stacked) to a
//! partition; its parent in sysfs is the disk, and its `partition` file holds its number.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where the running root file system lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningRoot {
    /// The disk's device node, e.g. `/dev/nvme0n1`.
    pub disk: PathBuf,
    /// The disk's device number (major, minor).
    pub disk_devnum: (u32, u32),
    /// The number of the partition the root is on (the first slave of a device-mapper root),
    /// `None` if the root is a whole disk.
    pub partition: Option<u32>,
}

/// Splits a Linux `dev_t` into (major, minor).
pub fn split_devnum(dev: u64) -> (u32, u32) {
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff);
    (major as u32, minor as u32)
}

/// Finds the disk holding the file system mounted at `root` (normally `/`), using the sysfs tree at
/// `sys` (normally `/sys`) and device nodes under `dev` (normally `/dev`). The error says what
/// was found instead.
pub fn find_running_root(root: &Path, sys: &Path, dev: &Path) -> Result<RunningRoot, String> {
    let md = fs::metadata(root).map_err(|e| format!("cannot stat {}: {e}", root.display()))?;
    let (major, minor) = split_devnum(md.dev());
    if major == 0 {
        return Err(format!(
            "{} is on device {major}:{minor}, which is not a block device (overlayfs, tmpfs or a \
             container?)",
            root.display()
        ));
    }
    find_disk_of(major, minor, sys, dev)
}

/// Finds the disk under block device `major:minor`, following device-mapper `slaves/` down to a
/// partition or whole disk.
pub fn find_disk_of(major: u32, minor: u32, sys: &Path, dev: &Path) -> Result<RunningRoot, String> {
    let link = sys.join("dev/block").join(format!("{major}:{minor}"));
    let mut node = fs::canonicalize(&link).map_err(|e| {
        format!(
            "block device {major}:{minor} has no sysfs entry ({}: {e})",
            link.display()
        )
    })?;
    for _ in 0..16 {
        let mut slaves: Vec<PathBuf> = match fs::read_dir(node.join("slaves")) {
            Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => Vec::new(),
        };
        if slaves.is_empty() {
            break;
        }
        slaves.sort();
        node = fs::canonicalize(&slaves[0])
            .map_err(|e| format!("cannot follow {}: {e}", slaves[0].display()))?;
    }
    let (disk_dir, partition) = match fs::read_to_string(node.join("partition")) {
        Ok(text) => {
            let number = text.trim().parse::<u32>().map_err(|e| {
                format!(
                    "{} holds {:?}, not a partition number: {e}",
                    node.join("partition").display(),
                    text.trim()
                )
            })?;
            let parent = node
                .parent()
                .ok_or_else(|| format!("partition {} has no parent disk", node.display()))?;
            (parent.to_path_buf(), Some(number))
        }
        Err(_) => (node.clone(), None),
    };
    let name = disk_dir
        .file_name()
        .ok_or_else(|| format!("{} names no device", disk_dir.display()))?;
    let devnum_text = fs::read_to_string(disk_dir.join("dev"))
        .map_err(|e| format!("cannot read {}: {e}", disk_dir.join("dev").display()))?;
    let disk_devnum = parse_devnum(devnum_text.trim()).ok_or_else(|| {
        format!(
            "{} holds {:?}, not MAJOR:MINOR",
            disk_dir.join("dev").display(),
            devnum_text.trim()
        )
    })?;
    Ok(RunningRoot {
        disk: dev.join(name),
        disk_devnum,
        partition,
    })
}

fn parse_devnum(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The device number of `path` if it is a block device.
pub fn block_devnum(path: &Path) -> Option<(u32, u32)> {
    use std::os::unix::fs::FileTypeExt;
    let md = fs::metadata(path).ok()?;
    md.file_type()
        .is_block_device()
        .then(|| split_devnum(md.rdev()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn devnum_split() {
        assert_eq!(split_devnum((259 << 8) | 3), (259, 3));
        // Large minor numbers use the high bits.
        let dev: u64 = (253 << 8) | (0x12 << 12 << 8) | 0x34;
        assert_eq!(split_devnum(dev).0, 253);
    }

    /// A fake sysfs: dm-0 (253:0) with slaves nvme0n1p3 and nvme0n1p4 on nvme0n1 (259:0).
    #[test]
    fn walks_dm_slaves_to_the_disk() {
        let t = tempfile::tempdir().unwrap();
        let sys = t.path().join("sys");
        let disk = sys.join("devices/pci0000:00/nvme/nvme0/nvme0n1");
        for p in ["nvme0n1p3", "nvme0n1p4"] {
            fs::create_dir_all(disk.join(p)).unwrap();
        }
        fs::write(disk.join("dev"), "259:0\n").unwrap();
        fs::write(disk.join("nvme0n1p3/partition"), "3\n").unwrap();
        fs::write(disk.join("nvme0n1p4/partition"), "4\n").unwrap();
        let dm = sys.join("devices/virtual/block/dm-0");
        fs::create_dir_all(dm.join("slaves")).unwrap();
        symlink(disk.join("nvme0n1p4"), dm.join("slaves/nvme0n1p4")).unwrap();
        symlink(disk.join("nvme0n1p3"), dm.join("slaves/nvme0n1p3")).unwrap();
        fs::create_dir_all(sys.join("dev/block")).unwrap();
        symlink(&dm, sys.join("dev/block/253:0")).unwrap();
        symlink(disk.join("nvme0n1p3"), sys.join("dev/block/259:3")).unwrap();
        symlink(&disk, sys.join("dev/block/259:0")).unwrap();

        let r = find_disk_of(253, 0, &sys, Path::new("/dev")).unwrap();
        assert_eq!(r.disk, PathBuf::from("/dev/nvme0n1"));
        assert_eq!(r.disk_devnum, (259, 0));
        assert_eq!(r.partition, Some(3));

        let r = find_disk_of(259, 3, &sys, Path::new("/dev")).unwrap();
        assert_eq!(r.partition, Some(3));
        let r = find_disk_of(259, 0, &sys, Path::new("/dev")).unwrap();
        assert_eq!(r.partition, None);

        let err = find_disk_of(8, 1, &sys, Path::new("/dev")).unwrap_err();
        assert!(err.contains("8:1"), "{err}");
    }
}
