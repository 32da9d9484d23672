//! Image assembly checked by independent tools: lz4, sfdisk, sgdisk, fsck.ext4, debugfs,
//! fsck.erofs, veritysetup and qemu-img read back what we wrote.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use twoliter_engine::HostRunner;
use twoliter_image::{assemble, AssembleInput, Assembled, ImageFormat, RootFs};

fn tool(program: &str, args: &[&str]) -> std::process::Output {
    let package = twoliter_engine::package_for(program).unwrap_or("?");
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}); install it: apt-get install {package}")
        })
}

fn tool_ok(program: &str, args: &[&str]) -> String {
    let out = tool(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deterministic pseudo-random bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

struct Trees {
    _dir: tempfile::TempDir,
    root: PathBuf,
    boot: PathBuf,
    private: PathBuf,
}

fn trees() -> Trees {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let boot = dir.path().join("boot");
    let private = dir.path().join("private");
    for d in ["usr/bin", "etc", "usr/share/empty"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("usr/bin/hello"), noise(1 << 20, 1)).unwrap();
    std::fs::write(root.join("etc/os-release"), "NAME=test\n").unwrap();
    std::os::unix::fs::symlink("../usr/bin/hello", root.join("etc/hello-link")).unwrap();
    std::fs::create_dir_all(&boot).unwrap();
    std::fs::write(boot.join("vmlinuz"), noise(300 << 10, 2)).unwrap();
    std::fs::create_dir_all(boot.join("efi/EFI/BOOT")).unwrap();
    std::fs::write(boot.join("efi/EFI/BOOT/BOOTX64.EFI"), noise(100 << 10, 4)).unwrap();
    std::fs::create_dir_all(&private).unwrap();
    std::fs::write(private.join("marker"), "private\n").unwrap();
    Trees {
        _dir: dir,
        root,
        boot,
        private,
    }
}

fn input(trees: &Trees, output: &Path) -> AssembleInput {
    AssembleInput {
        root_dir: trees.root.clone(),
        boot_dir: trees.boot.clone(),
        private_dir: Some(trees.private.clone()),
        variant: "metal-dev".into(),
        arch: "x86_64".into(),
        version: "1.2.3".into(),
        build_id: "abcdef12".into(),
        os_image_gib: 2,
        data_image_gib: 1,
        plan: partitions::PartitionPlan::Split,
        in_place_updates: true,
        root_fs: RootFs::Ext4,
        kernel_parameters: vec!["console=ttyS0".into()],
        image_format: ImageFormat::Raw,
        output_dir: output.to_path_buf(),
        epoch: 1_700_000_000,
    }
}

fn artifact(built: &Assembled, suffix: &str) -> PathBuf {
    built.dir.join(format!(
        "bottlerocket-metal-dev-x86_64-1.2.3-abcdef12{suffix}"
    ))
}

/// Decompresses an artifact with the lz4 command-line tool.
fn unlz4(path: &Path, out: &Path) {
    tool_ok(
        "lz4",
        &[
            "-d",
            "-q",
            "-f",
            path.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
}

/// Copies `len` bytes at `offset` of `disk` into a new file.
fn extract(disk: &Path, offset: u64, len: u64, out: &Path) {
    let mut input = File::open(disk).unwrap();
    input.seek(SeekFrom::Start(offset)).unwrap();
    let mut bytes = vec![0; len as usize];
    input.read_exact(&mut bytes).unwrap();
    File::create(out).unwrap().write_all(&bytes).unwrap();
}

/// sfdisk's view of a disk: (start MiB, size MiB, type, name, attrs) per partition.
fn sfdisk(disk: &Path) -> Vec<(u64, u64, String, String, String)> {
    let json: serde_json::Value =
        serde_json::from_str(&tool_ok("sfdisk", &["--json", disk.to_str().unwrap()])).unwrap();
    let table = &json["partitiontable"];
    assert_eq!(table["label"], "gpt");
    assert_eq!(table["sectorsize"], 512);
    table["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["start"].as_u64().unwrap() / 2048,
                p["size"].as_u64().unwrap() / 2048,
                p["type"].as_str().unwrap().to_lowercase(),
                p["name"].as_str().unwrap_or("").to_string(),
                p["attrs"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn partition<'a>(
    table: &'a [(u64, u64, String, String, String)],
    name: &str,
) -> &'a (u64, u64, String, String, String) {
    table
        .iter()
        .find(|p| p.3 == name)
        .unwrap_or_else(|| panic!("no partition {name} in {table:?}"))
}

/// Checks sfdisk's reading of a disk against the plan recorded in the metadata.
fn assert_matches_plan(
    table: &[(u64, u64, String, String, String)],
    plan: &twoliter_image::metadata::DiskReport,
) {
    assert_eq!(table.len(), plan.partitions.len());
    for (read, planned) in table.iter().zip(&plan.partitions) {
        let label = if planned.name.starts_with("DATA-") {
            ""
        } else {
            planned.name.as_str()
        };
        let bits: Vec<String> = (0..64)
            .filter(|bit| planned.attributes & (1u64 << bit) != 0)
            .map(|bit| bit.to_string())
            .collect();
        let attrs = if bits.is_empty() {
            String::new()
        } else {
            format!("GUID:{}", bits.join(","))
        };
        assert_eq!(
            read,
            &(
                planned.start_mib,
                planned.size_mib,
                planned.type_guid.clone(),
                label.to_string(),
                attrs
            ),
            "partition {}",
            planned.name
        );
    }
}

const BOOT_TYPE: &str = "6b636168-7420-6568-2070-6c616e657421";
const ROOT_TYPE: &str = "5526016a-1a97-4ea4-b39a-b7c8c6ca4502";
const HASH_TYPE: &str = "598f10af-c955-4456-6a99-7720068a6cea";
const PRIVATE_TYPE: &str = "440408bb-eb0b-4328-a6e5-a29038fad706";
const DATA_TYPE: &str = "626f7474-6c65-6474-6861-726d61726b73";

#[test]
fn split_2gib_ext4_image_reads_back_with_real_tools() {
    let trees = trees();
    let out = tempfile::tempdir().unwrap();
    let built = assemble(&HostRunner, &input(&trees, out.path()), &|_| {}).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let s = |name: &str| scratch.path().join(name);

    // Artifact names of DESIGN §2.8, friendly links and `latest`.
    for suffix in [
        ".img.lz4",
        "-data.img.lz4",
        "-boot.ext4.lz4",
        "-root.ext4.lz4",
        "-root.verity.lz4",
        ".json",
    ] {
        assert!(artifact(&built, suffix).is_file(), "missing {suffix}");
        let friendly = built
            .dir
            .join(format!("bottlerocket-metal-dev-x86_64{suffix}"));
        assert!(
            friendly.is_symlink() && friendly.exists(),
            "no link for {suffix}"
        );
    }
    let latest = out.path().join("latest");
    assert_eq!(
        std::fs::read_link(&latest).unwrap(),
        Path::new("1.2.3-abcdef12")
    );
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "only the build and latest: {leftovers:?}"
    );

    // The OS disk: every partition exactly as planned (the planner's own tests pin the plan
    // to DESIGN §2.5; here the real tools read back what assembly wrote).
    unlz4(&artifact(&built, ".img.lz4"), &s("os.img"));
    assert_eq!(std::fs::metadata(s("os.img")).unwrap().len(), 2 << 30);
    let table = sfdisk(&s("os.img"));
    assert_matches_plan(&table, &built.metadata.disks[0]);
    assert_eq!(partition(&table, "BOTTLEROCKET-ROOT-A").0, 50);
    assert_eq!(partition(&table, "BOTTLEROCKET-PRIVATE").1, 41);
    assert_eq!(partition(&table, "BOTTLEROCKET-BOOT-A").2, BOOT_TYPE);
    assert_eq!(partition(&table, "BOTTLEROCKET-BOOT-A").4, "GUID:48,56");
    assert_eq!(partition(&table, "BOTTLEROCKET-BOOT-B").4, "");
    assert_eq!(partition(&table, "BOTTLEROCKET-ROOT-A").2, ROOT_TYPE);
    assert_eq!(partition(&table, "BOTTLEROCKET-HASH-A").2, HASH_TYPE);
    assert_eq!(partition(&table, "BOTTLEROCKET-PRIVATE").2, PRIVATE_TYPE);
    assert_eq!(partition(&table, "").2, DATA_TYPE);
    let verify = tool_ok("sgdisk", &["-v", s("os.img").to_str().unwrap()]);
    assert!(verify.contains("No problems found"), "{verify}");

    // EFI-SYSTEM: a clean FAT holding the boot tree's efi/ (which BOOT does not get); the
    // metadata says the disk carries a UEFI stage.
    assert!(built.metadata.firmware.uefi && !built.metadata.firmware.bios);
    let (efi_start, efi_size) = {
        let efi = partition(&table, "EFI-SYSTEM");
        (efi.0, efi.1)
    };
    extract(
        &s("os.img"),
        efi_start << 20,
        efi_size << 20,
        &s("efi.vfat"),
    );
    tool_ok("fsck.fat", &["-n", s("efi.vfat").to_str().unwrap()]);
    let efi_stage = s("BOOTX64.EFI");
    let copied = Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args([
            "-i",
            s("efi.vfat").to_str().unwrap(),
            "::EFI/BOOT/BOOTX64.EFI",
        ])
        .arg(&efi_stage)
        .status()
        .unwrap();
    assert!(copied.success());
    assert!(std::fs::read(&efi_stage).unwrap() == noise(100 << 10, 4));

    // ROOT-A: fsck passes, files read back identical, verity verifies, a flipped byte fails.
    let meta = &built.metadata;
    let root_len = meta.verity.data_blocks * 4096;
    extract(&s("os.img"), 50 << 20, root_len, &s("root.ext4"));
    tool_ok("fsck.ext4", &["-fn", s("root.ext4").to_str().unwrap()]);
    let cat = tool(
        "debugfs",
        &["-R", "cat /usr/bin/hello", s("root.ext4").to_str().unwrap()],
    );
    assert!(cat.stdout == noise(1 << 20, 1), "file content differs");
    let stat = tool_ok(
        "debugfs",
        &[
            "-R",
            "stat /etc/os-release",
            s("root.ext4").to_str().unwrap(),
        ],
    );
    assert!(
        stat.contains("mtime: 0x6553f100"),
        "mtime not pinned to the epoch: {stat}"
    );
    assert!(
        stat.contains("ctime: 0x6553f100"),
        "ctime not pinned to the epoch: {stat}"
    );
    extract(
        &s("os.img"),
        970 << 20,
        meta.verity.hash_size,
        &s("root.verity"),
    );
    let root_hash = meta.verity.root_hash.as_str();
    tool_ok(
        "veritysetup",
        &[
            "verify",
            s("root.ext4").to_str().unwrap(),
            s("root.verity").to_str().unwrap(),
            root_hash,
        ],
    );
    let mut bytes = std::fs::read(s("root.ext4")).unwrap();
    bytes[4096 * 3 + 7] ^= 0x40;
    std::fs::write(s("root.bad"), bytes).unwrap();
    let bad = tool(
        "veritysetup",
        &[
            "verify",
            s("root.bad").to_str().unwrap(),
            s("root.verity").to_str().unwrap(),
            root_hash,
        ],
    );
    assert!(!bad.status.success(), "verity accepted corrupted data");

    // The kernel command line carries the verity table.
    let cmdline = &meta.kernel_cmdline;
    assert!(cmdline
        .starts_with("console=ttyS0 root=/dev/dm-0 rootwait ro dm-mod.create=\"root,,,ro,0 "));
    assert!(cmdline.contains(&format!(
        "verity 1 PARTUUID=$boot_uuid/PARTNROFF=1 PARTUUID=$boot_uuid/PARTNROFF=2 4096 4096 {} 1 sha256 {root_hash} {} 2 restart_on_corruption ignore_zero_blocks\"",
        meta.verity.data_blocks, meta.verity.salt
    )), "{cmdline}");

    // BOOT-A and PRIVATE.
    extract(&s("os.img"), 10 << 20, 40 << 20, &s("boot.ext4"));
    tool_ok("fsck.ext4", &["-fn", s("boot.ext4").to_str().unwrap()]);
    let kernel = tool(
        "debugfs",
        &["-R", "cat /vmlinuz", s("boot.ext4").to_str().unwrap()],
    );
    assert!(kernel.stdout == noise(300 << 10, 2));
    let listing = tool_ok("debugfs", &["-R", "ls /", s("boot.ext4").to_str().unwrap()]);
    assert!(
        !listing.contains("efi"),
        "BOOT holds the EFI tree: {listing}"
    );
    extract(&s("os.img"), 2005 << 20, 41 << 20, &s("private.ext4"));
    tool_ok("fsck.ext4", &["-fn", s("private.ext4").to_str().unwrap()]);

    // The data disk: DATA-B at 1 MiB, data·1024−2 MiB.
    unlz4(&artifact(&built, "-data.img.lz4"), &s("data.img"));
    let data_table = sfdisk(&s("data.img"));
    assert_eq!(data_table.len(), 1);
    assert_eq!((data_table[0].0, data_table[0].1), (1, 1022));
    assert_eq!(data_table[0].2, DATA_TYPE);
    extract(&s("data.img"), 1 << 20, 1022 << 20, &s("data.ext4"));
    tool_ok("fsck.ext4", &["-fn", s("data.ext4").to_str().unwrap()]);

    // Usage report covers each content partition.
    let names: Vec<_> = meta
        .partitions
        .iter()
        .map(|p| p.partition.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "EFI-SYSTEM",
            "BOTTLEROCKET-BOOT-A",
            "BOTTLEROCKET-ROOT-A",
            "BOTTLEROCKET-HASH-A",
            "BOTTLEROCKET-PRIVATE",
            "DATA-B"
        ]
    );
    assert!(meta
        .partitions
        .iter()
        .all(|p| p.used_bytes <= p.capacity_bytes));
}

#[test]
fn unified_4gib_erofs_qcow2_image_reads_back_with_real_tools() {
    let trees = trees();
    let out = tempfile::tempdir().unwrap();
    let mut input = input(&trees, out.path());
    input.os_image_gib = 4;
    input.plan = partitions::PartitionPlan::Unified;
    input.root_fs = RootFs::Erofs;
    input.image_format = ImageFormat::Qcow2;
    let built = assemble(&HostRunner, &input, &|_| {}).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let s = |name: &str| scratch.path().join(name);
    assert!(!artifact(&built, "-data.img.lz4").exists());
    assert!(artifact(&built, "-root.erofs.lz4").is_file());

    unlz4(&artifact(&built, ".img.lz4"), &s("os.img"));
    let table = sfdisk(&s("os.img"));
    assert_matches_plan(&table, &built.metadata.disks[0]);
    let data_a = partition(&table, "");
    assert_eq!(
        (data_a.0, data_a.1),
        (4094, 1024),
        "unified DATA-A follows PRIVATE"
    );
    assert!(tool_ok("sgdisk", &["-v", s("os.img").to_str().unwrap()]).contains("No problems found"));

    let meta = &built.metadata;
    extract(
        &s("os.img"),
        90 << 20,
        meta.verity.data_blocks * 4096,
        &s("root.erofs"),
    );
    tool_ok("fsck.erofs", &[s("root.erofs").to_str().unwrap()]);
    let extracted = s("extracted");
    tool_ok(
        "fsck.erofs",
        &[
            &format!("--extract={}", extracted.display()),
            s("root.erofs").to_str().unwrap(),
        ],
    );
    assert!(std::fs::read(extracted.join("usr/bin/hello")).unwrap() == noise(1 << 20, 1));
    extract(
        &s("os.img"),
        1930 << 20,
        meta.verity.hash_size,
        &s("root.verity"),
    );
    tool_ok(
        "veritysetup",
        &[
            "verify",
            s("root.erofs").to_str().unwrap(),
            s("root.verity").to_str().unwrap(),
            &meta.verity.root_hash,
        ],
    );
    extract(&s("os.img"), 4094 << 20, 1024 << 20, &s("data.ext4"));
    tool_ok("fsck.ext4", &["-fn", s("data.ext4").to_str().unwrap()]);

    let info: serde_json::Value = serde_json::from_str(&tool_ok(
        "qemu-img",
        &[
            "info",
            "--output=json",
            artifact(&built, ".qcow2").to_str().unwrap(),
        ],
    ))
    .unwrap();
    assert_eq!(info["format"], "qcow2");
    // Unified: the OS disk also holds DATA-A (os + data GiB).
    assert_eq!(info["virtual-size"], 5u64 << 30);
}

#[test]
fn same_inputs_give_byte_identical_artifacts() {
    let first_trees = trees();
    // Different file times (and ctimes) for the second copy of the same content.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second_trees = trees();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut first = input(&first_trees, a.path());
    let mut second = input(&second_trees, b.path());
    first.image_format = ImageFormat::Vmdk;
    second.image_format = ImageFormat::Vmdk;
    let x = assemble(&HostRunner, &first, &|_| {}).unwrap();
    let y = assemble(&HostRunner, &second, &|_| {}).unwrap();
    let list = |dir: &Path| {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        files.sort();
        files
    };
    assert_eq!(list(&x.dir), list(&y.dir));
    for vmdk in [artifact(&x, ".vmdk"), artifact(&x, "-data.vmdk")] {
        tool_ok("qemu-img", &["check", "-f", "vmdk", vmdk.to_str().unwrap()]);
        let info: serde_json::Value = serde_json::from_str(&tool_ok(
            "qemu-img",
            &["info", "--output=json", vmdk.to_str().unwrap()],
        ))
        .unwrap();
        assert_eq!(info["format"], "vmdk");
        assert_eq!(
            info["format-specific"]["data"]["create-type"],
            "streamOptimized"
        );
    }
    for file in list(&x.dir) {
        let (p, q) = (x.dir.join(&file), y.dir.join(&file));
        assert!(
            std::fs::read(&p).unwrap() == std::fs::read(&q).unwrap(),
            "{} differs between two builds of the same inputs",
            file.to_string_lossy()
        );
    }
}

#[test]
fn bad_inputs_fail_clearly_and_leave_no_partial_artifacts() {
    let trees = trees();
    let out = tempfile::tempdir().unwrap();
    let no_build = |out: &Path| {
        let names: Vec<_> = std::fs::read_dir(out)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert!(names.is_empty(), "left behind: {names:?}");
    };

    let mut unset_epoch = input(&trees, out.path());
    unset_epoch.epoch = 0;
    let error = assemble(&HostRunner, &unset_epoch, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(error.contains("SOURCE_DATE_EPOCH 0 is outside"), "{error}");
    no_build(out.path());

    let mut missing = input(&trees, out.path());
    missing.root_dir = trees.root.join("nope");
    let error = assemble(&HostRunner, &missing, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("root/nope") && error.contains("No such file"),
        "{error}"
    );
    no_build(out.path());

    // 1 GiB OS image: ROOT-A holds 460 MiB; a 470 MiB file cannot fit.
    let big = trees.root.join("big");
    let mut file = File::create(&big).unwrap();
    let chunk = noise(1 << 20, 3);
    for _ in 0..470 {
        file.write_all(&chunk).unwrap();
    }
    drop(file);
    let mut too_big = input(&trees, out.path());
    too_big.os_image_gib = 1;
    let error = assemble(&HostRunner, &too_big, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the root tree needs 47")
            && error.contains("BOTTLEROCKET-ROOT-A holds 460 MiB"),
        "{error}"
    );
    assert!(error.contains("os-image-size-gib"), "{error}");
    no_build(out.path());
    std::fs::remove_file(&big).unwrap();

    let odd = trees.root.join("bad\nname");
    std::fs::write(&odd, "x").unwrap();
    let error = assemble(&HostRunner, &input(&trees, out.path()), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(error.contains("cannot be stored in the image"), "{error}");
    no_build(out.path());
}
