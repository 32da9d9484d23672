//! The decision loop against real ext4 filesystems (made with `mkfs.ext4 -d`) in a GPT disk
//! (made with gptman) held in memory.

use std::fs;
use std::io::Cursor;
use std::process::Command;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use alloc::rc::Rc;
use core::cell::RefCell;
use core::fmt;

use gptman::{GPTPartitionEntry, GPT};
use gptprio::{Bank, Gpt, GptAttributes, Uuid, BOOT_TYPE};

use crate::reader::tests::MemDisk;
use crate::stage::{run, Firmware, Halt};

const SS: u64 = 512;
const BOOT_SECTORS: u64 = 16 * 2048; // 16 MiB
const A_FIRST: u64 = 2048;
const B_FIRST: u64 = A_FIRST + BOOT_SECTORS;
const DISK_SECTORS: u64 = B_FIRST + BOOT_SECTORS + 2048;
const A_UUID: Uuid = Uuid::from_u128(0xE02E2BE6_AA05_8886_AFA0_362B02F5CE0A);
const B_UUID: Uuid = Uuid::from_u128(0x0B0B0B0B_1111_2222_3333_444455556666);

const GRUB_CFG: &str = "# Written by twoliter.\nset default=\"0\"\nset timeout=\"0\"\n\
    menuentry \"test\" {\n    linux ($root)/vmlinuz console=ttyS0 root=/dev/dm-0 \
    dm-mod.create=\"root,,,ro,0 8 verity 1 PARTUUID=$boot_uuid/PARTNROFF=1\"\n}\n";

/// What a BOOT partition holds.
enum Boot {
    /// An ext4 with these files.
    Files(&'static [(&'static str, &'static [u8])]),
    /// Zeros (bank B of a fresh image).
    Empty,
}

fn ext4(files: &[(&str, &[u8])]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    for (path, bytes) in files {
        let p = root.join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, bytes).expect("write");
    }
    fs::create_dir_all(&root).expect("mkdir root");
    let img = dir.path().join("boot.ext4");
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-b", "4096", "-d"])
        .arg(&root)
        .arg(&img)
        .arg(format!("{}k", BOOT_SECTORS * SS / 1024))
        .output()
        .expect("mkfs.ext4 (e2fsprogs) must be installed for these tests");
    assert!(out.status.success(), "mkfs.ext4: {out:?}");
    fs::read(img).expect("read ext4")
}

fn attrs(priority: u8, tries: u8, successful: bool) -> GptAttributes {
    GptAttributes::boot(priority, tries, successful).expect("in range")
}

/// A disk with BOOT-A (partition 1) and BOOT-B (partition 2).
fn disk(a: (GptAttributes, Boot), b: (GptAttributes, Boot)) -> Vec<u8> {
    let mut cur = Cursor::new(vec![0u8; (DISK_SECTORS * SS) as usize]);
    let mut gpt = GPT::new_from(&mut cur, SS, [7; 16]).expect("new GPT");
    for (n, first, uuid, label, a) in [
        (1u32, A_FIRST, A_UUID, "BOTTLEROCKET-BOOT-A", a.0),
        (2, B_FIRST, B_UUID, "BOTTLEROCKET-BOOT-B", b.0),
    ] {
        gpt[n] = GPTPartitionEntry {
            partition_type_guid: BOOT_TYPE.to_bytes_le(),
            unique_partition_guid: uuid.to_bytes_le(),
            starting_lba: first,
            ending_lba: first + BOOT_SECTORS - 1,
            attribute_bits: a.bits(),
            partition_name: label.into(),
        };
    }
    gpt.write_into(&mut cur).expect("write GPT");
    GPT::write_protective_mbr_into(&mut cur, SS).expect("MBR");
    let mut bytes = cur.into_inner();
    for (first, boot) in [(A_FIRST, a.1), (B_FIRST, b.1)] {
        if let Boot::Files(files) = boot {
            let fs = ext4(files);
            let at = (first * SS) as usize;
            bytes[at..at + fs.len()].copy_from_slice(&fs);
        }
    }
    bytes
}

const GOOD: Boot = Boot::Files(&[
    ("/vmlinuz", b"MZ a kernel"),
    ("/grub/grub.cfg", GRUB_CFG.as_bytes()),
]);

/// Records what the stage says and which kernels it starts; every start fails (a kernel that ran
/// would never return), so the loop goes on until it halts.
#[derive(Default)]
struct FakeFirmware {
    lines: Vec<String>,
    started: Vec<(Vec<u8>, String)>,
}

impl Firmware for FakeFirmware {
    type StartError = &'static str;

    fn say(&mut self, line: fmt::Arguments<'_>) {
        self.lines.push(line.to_string());
    }

    fn start_kernel(&mut self, kernel: &[u8], load_options: &[u16]) -> Result<(), &'static str> {
        let (nul, units) = load_options.split_last().expect("options");
        assert_eq!(*nul, 0, "load options end in NUL");
        let cmdline = String::from_utf16(units).expect("UTF-16");
        self.started.push((kernel.to_vec(), cmdline));
        Err("test firmware refuses to start kernels")
    }
}

fn boot(bytes: Vec<u8>) -> (FakeFirmware, Halt, MemDisk) {
    let shared = Rc::new(RefCell::new(MemDisk::new(bytes, SS as u32)));
    let mut fw = FakeFirmware::default();
    let halt = run(&shared, &mut fw);
    let disk = Rc::try_unwrap(shared)
        .ok()
        .expect("the stage keeps no reference")
        .into_inner();
    (fw, halt, disk)
}

fn table(disk: &mut MemDisk) -> Gpt {
    let gpt = Gpt::read(disk).expect("GPT after the boot");
    assert!(gpt.health().is_healthy(), "{:?}", gpt.health());
    gpt
}

#[test]
fn fresh_image_boots_a_with_its_partuuid_and_writes_nothing() {
    let bytes = disk(
        (attrs(1, 0, true), GOOD),
        (GptAttributes::NONE, Boot::Empty),
    );
    let (fw, halt, disk) = boot(bytes.clone());
    assert_eq!(fw.lines[0], "bank A chosen as successful");
    assert_eq!(
        fw.lines[1],
        "bank A: starting /vmlinuz (11 bytes) with PARTUUID e02e2be6-aa05-8886-afa0-362b02f5ce0a"
    );
    assert_eq!(fw.started.len(), 1);
    assert_eq!(fw.started[0].0, b"MZ a kernel");
    assert_eq!(
        fw.started[0].1,
        "console=ttyS0 root=/dev/dm-0 dm-mod.create=\"root,,,ro,0 8 verity 1 \
         PARTUUID=e02e2be6-aa05-8886-afa0-362b02f5ce0a/PARTNROFF=1\""
    );
    assert!(
        fw.lines[2].starts_with("bank A (partition 1) failed: the kernel did not start"),
        "{:?}",
        fw.lines
    );
    assert!(matches!(halt, Halt::NothingBootable { ref failed, .. } if failed == &[Bank::A]));
    assert_eq!(
        halt.to_string(),
        "nothing bootable: bank A failed to start and no other bank is bootable"
    );
    assert!(
        disk.bytes == bytes,
        "a boot by a successful bank writes nothing"
    );
}

#[test]
fn trial_bank_without_kernel_spends_its_try_and_falls_back() {
    const NO_KERNEL: Boot = Boot::Files(&[("/grub/grub.cfg", GRUB_CFG.as_bytes())]);
    let (fw, _, mut disk) = boot(disk(
        (attrs(1, 0, true), GOOD),
        (attrs(2, 1, false), NO_KERNEL),
    ));
    assert_eq!(fw.lines[0], "bank B chosen by tries (1 → 0)");
    assert!(
        fw.lines[1].starts_with("bank B (partition 2) failed: cannot read the kernel /vmlinuz: ",),
        "{:?}",
        fw.lines
    );
    assert_eq!(fw.lines[2], "bank A chosen as successful");
    assert_eq!(fw.started.len(), 1);
    assert!(fw.started[0].1.contains("PARTUUID=e02e2be6-"));
    let gpt = table(&mut disk);
    assert_eq!(gpt.partition(2).expect("B").attributes, attrs(2, 0, false));
    assert_eq!(gpt.partition(1).expect("A").attributes, attrs(1, 0, true));
}

#[test]
fn empty_bank_and_failed_start_fall_back_and_every_failure_is_said() {
    // B has tries left but is all zeros; A's kernel fails to start: nothing is left.
    let (fw, halt, mut disk) = boot(disk(
        (attrs(1, 0, true), GOOD),
        (attrs(2, 3, false), Boot::Empty),
    ));
    assert_eq!(fw.lines[0], "bank B chosen by tries (3 → 2)");
    assert!(
        fw.lines[1].contains("cannot open its BOOT filesystem as ext4"),
        "{:?}",
        fw.lines
    );
    assert_eq!(fw.lines[2], "bank A chosen as successful");
    assert_eq!(fw.started.len(), 1);
    assert_eq!(
        halt.to_string(),
        "nothing bootable: bank B, bank A failed to start and no other bank is bootable"
    );
    // One try spent in this boot, not all of them.
    assert_eq!(
        table(&mut disk).partition(2).expect("B").attributes,
        attrs(2, 2, false)
    );
}

#[test]
fn trial_kernel_that_does_not_start_falls_back_to_a() {
    let (fw, _, mut disk) = boot(disk((attrs(1, 0, true), GOOD), (attrs(2, 1, false), GOOD)));
    assert_eq!(fw.started.len(), 2);
    assert!(fw.started[0]
        .1
        .contains("PARTUUID=0b0b0b0b-1111-2222-3333-444455556666/"));
    assert!(fw.started[1].1.contains("PARTUUID=e02e2be6-"));
    assert_eq!(fw.lines[3], "bank A chosen as successful");
    assert_eq!(
        table(&mut disk).partition(2).expect("B").attributes,
        attrs(2, 0, false)
    );
}

#[test]
fn nothing_bootable_says_why_and_writes_nothing() {
    let bytes = disk((attrs(0, 0, true), GOOD), (attrs(3, 0, false), Boot::Empty));
    let (fw, halt, disk) = boot(bytes.clone());
    assert!(fw.lines.is_empty(), "{:?}", fw.lines);
    let text = halt.to_string();
    assert!(
        text.starts_with("nothing bootable: no BOOT partition has priority > 0"),
        "{text}"
    );
    assert!(disk.bytes == bytes);
}

#[test]
fn bad_contract_file_falls_back() {
    let bad = Boot::Files(&[
        ("/vmlinuz", b"MZ"),
        ("/grub/grub.cfg", b"linux /vmlinuz ro\ninitrd /initrd\n"),
    ]);
    let (fw, _, _) = boot(disk((attrs(1, 0, true), GOOD), (attrs(2, 1, false), bad)));
    assert!(
        fw.lines[1].contains("line 2: `initrd` is not part of boot-stage contract v1"),
        "{:?}",
        fw.lines
    );
    assert_eq!(fw.lines[2], "bank A chosen as successful");
}

#[test]
fn damaged_primary_is_repaired_from_the_backup_before_choosing() {
    let mut bytes = disk(
        (attrs(1, 0, true), GOOD),
        (GptAttributes::NONE, Boot::Empty),
    );
    bytes[512 + 100] ^= 0xff; // inside the primary header (92 bytes are CRC'd; 100 is padding)
    bytes[512 + 40] ^= 0x01; // first usable LBA: breaks the header CRC
    let (fw, _, mut disk) = boot(bytes);
    assert!(
        fw.lines[0].starts_with("the primary GPT copy is invalid: header at LBA 1 fails its CRC32"),
        "{:?}",
        fw.lines
    );
    assert_eq!(
        fw.lines[1],
        "rewrote both GPT copies from the valid backup copy"
    );
    assert_eq!(fw.lines[2], "bank A chosen as successful");
    table(&mut disk);
}

#[test]
fn no_valid_gpt_halts_without_writing() {
    let mut bytes = disk(
        (attrs(1, 0, true), GOOD),
        (GptAttributes::NONE, Boot::Empty),
    );
    bytes[512] = b'X';
    let last = bytes.len() - 512;
    bytes[last] = b'X';
    let (fw, halt, disk) = boot(bytes.clone());
    assert!(fw.lines.is_empty());
    assert!(matches!(halt, Halt::NoGpt { .. }));
    assert!(
        halt.to_string()
            .starts_with("cannot read the partition table: no valid GPT"),
        "{halt}"
    );
    assert!(disk.bytes == bytes);
}
