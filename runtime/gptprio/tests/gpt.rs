//! The GPT reader/writer against real tables: images are made by `sgdisk` (apt package `gdisk`),
//! changed by gptprio through in-memory block devices (which record and can fail writes), written
//! back to a file, and checked with `sgdisk -v` and `sgdisk -i`.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;

use gptprio::{
    next_boot, Bank, BlockDevice, ChoiceReason, CopyProblem, Error, Gpt, GptAttributes, GptCopy,
    BOOT_TYPE,
};

const SECTOR: usize = 512;
/// 16 MiB.
const SECTORS: u64 = 16 * 2048;

fn sgdisk(args: &[&str]) -> String {
    let tool = ["/usr/sbin/sgdisk", "/sbin/sgdisk", "/usr/bin/sgdisk"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("sgdisk not found: install it with `apt-get install gdisk`");
    let out = Command::new(tool).args(args).output().expect("run sgdisk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "sgdisk {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A disk image file made by sgdisk: BOOT-A (1) and BOOT-B (2) of Bottlerocket's BOOT type, a
/// third partition of another type, and the given attribute values.
struct Image {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Image {
    fn new(a: u64, b: u64) -> Image {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        std::fs::File::create(&path)
            .unwrap()
            .set_len(SECTORS * SECTOR as u64)
            .unwrap();
        let boot = BOOT_TYPE.to_string();
        let img = Image { _dir: dir, path };
        sgdisk(&[
            "-o",
            "-U",
            "11111111-2222-4333-8444-555555555555",
            "-n",
            "1:2048:+2M",
            "-c",
            "1:BOTTLEROCKET-BOOT-A",
            "-t",
            &format!("1:{boot}"),
            "-u",
            "1:aaaaaaaa-0000-4000-8000-000000000001",
            "-A",
            &format!("1:=:{a:016x}"),
            "-n",
            "2:0:+2M",
            "-c",
            "2:BOTTLEROCKET-BOOT-B",
            "-t",
            &format!("2:{boot}"),
            "-u",
            "2:aaaaaaaa-0000-4000-8000-000000000002",
            "-A",
            &format!("2:=:{b:016x}"),
            "-n",
            "3:0:+2M",
            "-c",
            "3:BOTTLEROCKET-PRIVATE",
            "-t",
            "3:440408bb-eb0b-4328-a6e5-a29038fad706",
            "-u",
            "3:aaaaaaaa-0000-4000-8000-000000000003",
            img.s(),
        ]);
        img
    }

    fn s(&self) -> &str {
        self.path.to_str().unwrap()
    }

    fn load(&self) -> MemDisk {
        MemDisk::new(std::fs::read(&self.path).unwrap())
    }

    fn store(&self, disk: &MemDisk) {
        std::fs::write(&self.path, &disk.bytes).unwrap();
    }

    /// `sgdisk -v` finds no problem (both copies valid and consistent).
    fn assert_valid(&self) {
        let out = sgdisk(&["-v", self.s()]);
        assert!(out.contains("No problems found"), "sgdisk -v:\n{out}");
    }

    /// Attribute value of partition `n` as `sgdisk -i` shows it.
    fn attrs(&self, n: u32) -> u64 {
        let out = sgdisk(&["-i", &n.to_string(), self.s()]);
        let hex = out
            .lines()
            .find_map(|l| l.strip_prefix("Attribute flags: "))
            .unwrap_or_else(|| panic!("no attribute flags in:\n{out}"));
        u64::from_str_radix(hex.trim(), 16).unwrap()
    }
}

fn boot(p: u8, t: u8, s: bool) -> GptAttributes {
    GptAttributes::boot(p, t, s).unwrap()
}

/// What a device did, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Write { lba: u64, sectors: u64 },
    Flush,
}

/// The error of a write the test made fail.
#[derive(Debug, PartialEq, Eq)]
struct Injected;

impl std::fmt::Display for Injected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected failure")
    }
}

/// An in-memory disk that records its writes and flushes, and fails every write after
/// `writes_left` of them.
struct MemDisk {
    bytes: Vec<u8>,
    log: Vec<Op>,
    writes_left: Cell<Option<usize>>,
}

impl MemDisk {
    fn new(bytes: Vec<u8>) -> MemDisk {
        MemDisk {
            bytes,
            log: Vec::new(),
            writes_left: Cell::new(None),
        }
    }

    fn failing_after(bytes: Vec<u8>, writes: usize) -> MemDisk {
        let d = MemDisk::new(bytes);
        d.writes_left.set(Some(writes));
        d
    }

    fn gpt_areas(&self) -> Vec<u8> {
        let tail = self.bytes.len() - 33 * SECTOR;
        [&self.bytes[..34 * SECTOR], &self.bytes[tail..]].concat()
    }

    fn range(&self, lba: u64, len: usize) -> std::ops::Range<usize> {
        let start = lba as usize * SECTOR;
        start..start + len
    }
}

impl BlockDevice for MemDisk {
    type Error = Injected;

    fn sector_count(&self) -> u64 {
        (self.bytes.len() / SECTOR) as u64
    }

    fn read(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Injected> {
        let r = self.range(lba, buf.len());
        buf.copy_from_slice(self.bytes.get(r).ok_or(Injected)?);
        Ok(())
    }

    fn write(&mut self, lba: u64, buf: &[u8]) -> Result<(), Injected> {
        if let Some(left) = self.writes_left.get() {
            if left == 0 {
                return Err(Injected);
            }
            self.writes_left.set(Some(left - 1));
        }
        let r = self.range(lba, buf.len());
        self.bytes.get_mut(r).ok_or(Injected)?.copy_from_slice(buf);
        self.log.push(Op::Write {
            lba,
            sectors: (buf.len() / SECTOR) as u64,
        });
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Injected> {
        self.log.push(Op::Flush);
        Ok(())
    }
}

fn after_update() -> Image {
    // Bank A: priority 1, successful; bank B: priority 2, one try (DESIGN §2.7, after an update).
    Image::new(boot(1, 0, true).bits(), boot(2, 1, false).bits())
}

#[test]
fn reads_what_sgdisk_wrote() {
    let img = after_update();
    let mut disk = img.load();
    let gpt = Gpt::read(&mut disk).unwrap();
    assert!(gpt.health().is_healthy(), "{:?}", gpt.health());
    assert_eq!(gpt.sector_size(), 512);
    assert_eq!(gpt.sector_count(), SECTORS);
    assert_eq!(
        gpt.disk_guid().to_string(),
        "11111111-2222-4333-8444-555555555555"
    );
    assert_eq!(gpt.entry_count(), 128);
    assert_eq!(gpt.first_usable_lba(), 34);
    assert_eq!(gpt.last_usable_lba(), SECTORS - 34);
    assert_eq!(gpt.backup_lba(), SECTORS - 1);
    let parts: Vec<_> = gpt.partitions().collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0].name, "BOTTLEROCKET-BOOT-A");
    assert_eq!(parts[1].first_lba, 2048 + 4096);
    assert_eq!(parts[1].last_lba, 2048 + 2 * 4096 - 1);
    assert_eq!(
        parts[1].partition_guid.to_string(),
        "aaaaaaaa-0000-4000-8000-000000000002"
    );
    assert_eq!(parts[1].attributes, boot(2, 1, false));
    assert!(gpt.partition(4).is_none() && gpt.partition(0).is_none());
    // PRIVATE is not of the BOOT type: not a candidate.
    let candidates = gpt.boot_candidates();
    assert_eq!(
        candidates
            .iter()
            .map(|c| (c.bank, c.number))
            .collect::<Vec<_>>(),
        [(Bank::A, 1), (Bank::B, 2)]
    );
    let choice = gpt.choose().unwrap();
    assert_eq!(choice.to_string(), "bank B chosen by tries (1 → 0)");
    // Reading wrote nothing.
    assert!(disk.log.is_empty());
}

#[test]
fn a_spent_try_is_written_backup_first() {
    let img = after_update();
    let mut disk = img.load();
    let choice = next_boot(&mut disk).unwrap();
    assert_eq!((choice.bank, choice.number), (Bank::B, 2));
    assert_eq!(
        choice.reason,
        ChoiceReason::Tries {
            before: 1,
            after: 0
        }
    );
    let last = SECTORS - 1;
    assert_eq!(
        disk.log,
        [
            Op::Write {
                lba: last - 32,
                sectors: 32
            },
            Op::Write {
                lba: last,
                sectors: 1
            },
            Op::Flush,
            Op::Write {
                lba: 2,
                sectors: 32
            },
            Op::Write { lba: 1, sectors: 1 },
            Op::Flush,
        ]
    );
    img.store(&disk);
    img.assert_valid();
    assert_eq!(img.attrs(2), boot(2, 0, false).bits());
    assert_eq!(img.attrs(1), boot(1, 0, true).bits());

    // The trial never marked success: the next boot falls back to A and writes nothing.
    let mut disk = img.load();
    let choice = next_boot(&mut disk).unwrap();
    assert_eq!(choice.to_string(), "bank A chosen as successful");
    assert!(disk.log.is_empty());
}

/// A write that fails after each of its first writes leaves a disk that reads as one valid GPT
/// holding either the old state or the new one, and a repair makes both copies valid.
#[test]
fn an_interrupted_write_leaves_one_valid_consistent_gpt() {
    let img = after_update();
    let pristine = img.load().bytes;
    for writes in 0..4 {
        let mut disk = MemDisk::failing_after(pristine.clone(), writes);
        let err = next_boot(&mut disk).unwrap_err();
        let expected_copy = if writes < 2 {
            GptCopy::Backup
        } else {
            GptCopy::Primary
        };
        assert!(
            matches!(err, Error::Write { copy, .. } if copy == expected_copy),
            "after {writes} writes: {err}"
        );
        disk.writes_left.set(None);
        let mut gpt = Gpt::read(&mut disk).unwrap();
        let b = gpt.partition(2).unwrap().attributes;
        let health = *gpt.health();
        match writes {
            // Backup array written, its header not: the old backup is invalid, the primary wins.
            1 => {
                assert!(matches!(
                    health.backup,
                    Some(CopyProblem::EntryArrayCrc { .. })
                ));
                assert_eq!(b, boot(2, 1, false));
            }
            // The whole backup written: both valid but different; the (old) primary wins.
            2 => {
                assert!(health.copies_differ, "{health:?}");
                assert_eq!(b, boot(2, 1, false));
            }
            // The primary array written, its header not: the new backup is used.
            3 => {
                assert_eq!(health.source, GptCopy::Backup);
                assert_eq!(b, boot(2, 0, false));
            }
            _ => assert!(health.is_healthy()),
        }
        assert!(gpt.repair(&mut disk).unwrap() || writes == 0);
        img.store(&disk);
        img.assert_valid();
        assert_eq!(img.attrs(2), b.bits());
    }
}

#[test]
fn damaged_copies_fall_back_and_repair_restores_the_exact_bytes() {
    let img = after_update();
    let pristine = img.load();
    let last = SECTORS as usize - 1;
    let cases = [
        ("primary header", SECTOR + 30),
        ("primary entry array", 2 * SECTOR + 200),
        ("backup header", last * SECTOR + 30),
        ("backup entry array", (last - 32) * SECTOR + 60),
    ];
    for (what, offset) in cases {
        let mut disk = MemDisk::new(pristine.bytes.clone());
        disk.bytes[offset] ^= 0x40;
        let mut gpt = Gpt::read(&mut disk).unwrap();
        let h = *gpt.health();
        let damaged_primary = what.starts_with("primary");
        assert_eq!(h.primary.is_some(), damaged_primary, "{what}: {h:?}");
        assert_eq!(h.backup.is_some(), !damaged_primary, "{what}: {h:?}");
        let problem = h.primary.or(h.backup).unwrap().to_string();
        assert!(problem.contains("CRC32"), "{what}: {problem}");
        let source = if damaged_primary {
            GptCopy::Backup
        } else {
            GptCopy::Primary
        };
        assert_eq!(h.source, source, "{what}");
        assert_eq!(gpt.partition(2).unwrap().attributes, boot(2, 1, false));
        assert!(gpt.repair(&mut disk).unwrap(), "{what}");
        assert!(gpt.health().is_healthy());
        assert!(
            disk.gpt_areas() == pristine.gpt_areas(),
            "{what}: not restored"
        );
        img.store(&disk);
        img.assert_valid();
        // Healthy now: repair writes nothing.
        let mut disk = img.load();
        assert!(!Gpt::read(&mut disk).unwrap().repair(&mut disk).unwrap());
        assert!(disk.log.is_empty());
    }
}

#[test]
fn nothing_is_written_without_a_valid_gpt() {
    let img = after_update();
    let mut disk = img.load();
    let mut gpt = Gpt::read(&mut disk).unwrap();
    let last = SECTORS as usize - 1;
    disk.bytes[SECTOR] = 0;
    disk.bytes[last * SECTOR + 40] ^= 1;
    let before = disk.bytes.clone();
    let err = next_boot(&mut disk).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoValidGpt {
                primary: CopyProblem::NoSignature { lba: 1 },
                backup: CopyProblem::HeaderCrc { .. }
            }
        ),
        "{err}"
    );
    assert!(err
        .to_string()
        .starts_with("no valid GPT: primary: no GPT header at LBA 1"));
    assert!(disk.log.is_empty() && disk.bytes == before);

    // A table read from one disk is not written onto a disk of another size.
    let mut other = MemDisk::new(vec![0; SECTOR * 4096]);
    gpt.set_attributes(2, GptAttributes::NONE).unwrap();
    let err = gpt.write(&mut other).unwrap_err();
    assert!(matches!(err, Error::DeviceChanged { .. }), "{err}");
    assert!(other.log.is_empty());

    // A valid GPT without a protective MBR is refused too.
    let mut disk = img.load();
    disk.bytes[510] = 0;
    assert!(matches!(Gpt::read(&mut disk), Err(Error::NoProtectiveMbr)));
    // A disk too small for a GPT.
    let mut tiny = MemDisk::new(vec![0; SECTOR * 2]);
    assert!(matches!(
        Gpt::read(&mut tiny),
        Err(Error::NoValidGpt {
            primary: CopyProblem::TooSmall { sectors: 2 },
            ..
        })
    ));
}

/// Every byte of the primary header and of its first entry set to a few values, with the
/// header CRC32 left alone or recomputed (so that the field checks, not the CRC, must catch it):
/// the reader never panics, and whenever it uses the damaged primary, repairing from it gives a
/// table `sgdisk -v` accepts.
#[test]
fn garbage_in_the_primary_never_panics() {
    let img = after_update();
    let mut disk = img.load();
    let pristine = disk.bytes.clone();
    let fix_crc = |bytes: &mut [u8]| {
        let header = &mut bytes[SECTOR..SECTOR + 92];
        header[16..20].fill(0);
        let crc = crc32fast::hash(header);
        header[16..20].copy_from_slice(&crc.to_le_bytes());
    };
    let mut used_primary = Vec::new();
    for offset in (SECTOR..SECTOR + 92).chain(2 * SECTOR..2 * SECTOR + 128) {
        for value in [0x00, 0x01, 0x7f, 0xff] {
            if pristine[offset] == value {
                continue;
            }
            for recompute in [false, true] {
                disk.bytes[offset] = value;
                if recompute {
                    fix_crc(&mut disk.bytes);
                }
                let gpt = Gpt::read(&mut disk);
                let what = format!("byte {offset} = {value:#x}, CRC recomputed: {recompute}");
                let gpt = gpt.unwrap_or_else(|e| panic!("{what}: {e}"));
                if gpt.health().source == GptCopy::Primary {
                    assert!(recompute, "{what}");
                    used_primary.push((offset, value));
                }
                disk.bytes[SECTOR..SECTOR + 92].copy_from_slice(&pristine[SECTOR..SECTOR + 92]);
                disk.bytes[offset] = pristine[offset];
            }
        }
    }
    assert!(!used_primary.is_empty());
    // Fields the checks cannot judge (disk GUID, reserved bytes, ...) still make a table that
    // sgdisk accepts once repaired from that primary; try a few.
    for &(offset, value) in used_primary.iter().step_by(17) {
        let mut disk = MemDisk::new(pristine.clone());
        disk.bytes[offset] = value;
        fix_crc(&mut disk.bytes);
        let mut gpt = Gpt::read(&mut disk).unwrap();
        gpt.write(&mut disk).unwrap();
        img.store(&disk);
        let out = sgdisk(&["-v", img.s()]);
        assert!(
            out.contains("No problems found"),
            "byte {offset} = {value:#x}:\n{out}"
        );
    }
}

#[test]
fn unknown_attribute_bits_survive_a_spent_try() {
    // Bit 2 (legacy BIOS bootable) and bit 60 (nobody's) on bank B, plus priority 3 and 2 tries.
    let b = boot(3, 2, false).bits() | (1 << 2) | (1 << 60);
    let img = Image::new(boot(1, 0, true).bits(), b);
    let mut disk = img.load();
    let choice = next_boot(&mut disk).unwrap();
    assert_eq!(choice.to_string(), "bank B chosen by tries (2 → 1)");
    img.store(&disk);
    img.assert_valid();
    assert_eq!(
        img.attrs(2),
        boot(3, 1, false).bits() | (1 << 2) | (1 << 60)
    );
    assert_eq!(img.attrs(1), boot(1, 0, true).bits());
}

#[test]
fn unknown_partition_numbers_are_refused() {
    let img = after_update();
    let mut disk = img.load();
    let mut gpt = Gpt::read(&mut disk).unwrap();
    for n in [0, 4, 128, 129, u32::MAX] {
        let err = gpt.set_attributes(n, GptAttributes::NONE).unwrap_err();
        assert_eq!((err.number, err.entries), (n, 128));
    }
    assert!(Gpt::read(&mut disk).unwrap() == gpt);
}
