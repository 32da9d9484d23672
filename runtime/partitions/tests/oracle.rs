//! Writes planned images and checks them with independent tools: `sfdisk --json` (util-linux,
//! apt package `fdisk`) and `sgdisk -p/-i/-v` (apt package `gdisk`). It also builds the same table
//! with `sgdisk` itself, as Bottlerocket's `rpm2img` does, and compares the GPT bytes.
//!
//! The tools are required: a missing tool fails the tests with the package to install.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use partitions::{
    attrs::BOOT_EVER_SUCCEEDED_BIT, choose_bank, next_boot, plan, read_table, set_attributes,
    write_image, write_table, Bank, Candidate, DiskPlan, Error, GptAttributes, Layout, PartitionId,
    PartitionPlan, PlanInput,
};
use serde_json::Value;

const SEED: [u8; 32] = *b"oracle-test-seed-0123456789abcde";

fn tool(name: &str, package: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = vec!["/usr/sbin".into(), "/sbin".into()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` not found: install it with `apt-get install {package}` (these tests need it as an oracle)")
        })
}

fn run(name: &str, package: &str, args: &[&str]) -> String {
    let out = Command::new(tool(name, package))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn sfdisk(args: &[&str]) -> String {
    run("sfdisk", "fdisk", args)
}

fn sgdisk(args: &[&str]) -> String {
    run("sgdisk", "gdisk", args)
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn input(g: u64, data: u64, plan: PartitionPlan, in_place_updates: bool) -> PlanInput {
    PlanInput {
        os_image_gib: g,
        data_image_gib: data,
        plan,
        in_place_updates,
        seed: SEED,
    }
}

/// sfdisk's rendering of the attribute bits we use (bits 48–63 as `GUID:n,m`).
fn sfdisk_attrs(bits: u64) -> Option<String> {
    assert_eq!(
        bits & 0xffff_ffff_ffff,
        0,
        "only type-specific bits are planned"
    );
    if bits == 0 {
        return None;
    }
    let set: Vec<String> = (48..64)
        .filter(|b| bits & (1 << b) != 0)
        .map(|b| b.to_string())
        .collect();
    Some(format!("GUID:{}", set.join(",")))
}

fn upper(u: uuid::Uuid) -> String {
    u.to_string().to_uppercase()
}

/// Checks `img` against `disk` with sfdisk and sgdisk, field by field.
fn check_with_tools(disk: &DiskPlan, img: &Path) {
    let len = std::fs::metadata(img).unwrap().len();
    assert_eq!(len, disk.size_bytes(), "image size");

    // sfdisk --json
    let json: Value = serde_json::from_str(&sfdisk(&["--json", s(img)])).unwrap();
    let t = &json["partitiontable"];
    assert_eq!(t["label"], "gpt");
    assert_eq!(t["id"], upper(disk.disk_guid));
    assert_eq!(t["sectorsize"], 512);
    assert_eq!(t["firstlba"], 34);
    assert_eq!(t["lastlba"], disk.size_sectors() - 34);
    let parts = t["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), disk.partitions.len());
    for (p, j) in disk.partitions.iter().zip(parts) {
        let ctx = format!("sfdisk, partition {} ({})", p.number, p.id);
        assert_eq!(j["node"], format!("{}{}", s(img), p.number), "{ctx}");
        assert_eq!(j["start"], p.start_lba(), "{ctx}");
        assert_eq!(j["size"], p.size_sectors(), "{ctx}");
        assert_eq!(j["type"], upper(p.type_guid), "{ctx}");
        assert_eq!(j["uuid"], upper(p.partition_guid), "{ctx}");
        let name = j.get("name").and_then(Value::as_str).unwrap_or("");
        assert_eq!(name, p.label, "{ctx}");
        let attrs = j.get("attrs").and_then(Value::as_str).map(str::to_string);
        assert_eq!(attrs, sfdisk_attrs(p.attributes.bits()), "{ctx}");
    }

    // sgdisk -p
    let print = sgdisk(&["-p", s(img)]);
    assert!(
        print.contains(&format!("{}: {} sectors", s(img), disk.size_sectors())),
        "{print}"
    );
    assert!(
        print.contains(&format!(
            "Disk identifier (GUID): {}",
            upper(disk.disk_guid)
        )),
        "{print}"
    );
    assert!(print.contains("First usable sector is 34,"), "{print}");
    let rows: Vec<Vec<&str>> = print
        .lines()
        .skip_while(|l| !l.starts_with("Number"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .filter(|r: &Vec<&str>| !r.is_empty())
        .collect();
    assert_eq!(rows.len(), disk.partitions.len(), "{print}");
    for (p, r) in disk.partitions.iter().zip(&rows) {
        assert_eq!(r[0], p.number.to_string(), "{print}");
        assert_eq!(r[1], p.start_lba().to_string(), "{print}");
        assert_eq!(r[2], p.last_lba().to_string(), "{print}");
    }

    // sgdisk -i N
    for p in &disk.partitions {
        let info = sgdisk(&["-i", &p.number.to_string(), s(img)]);
        let field = |key: &str| -> String {
            info.lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("no `{key}` in:\n{info}"))
                .trim()
                .to_string()
        };
        let ctx = format!("sgdisk -i {} ({})\n{info}", p.number, p.id);
        assert!(
            field("Partition GUID code:").starts_with(&upper(p.type_guid)),
            "{ctx}"
        );
        assert_eq!(
            field("Partition unique GUID:"),
            upper(p.partition_guid),
            "{ctx}"
        );
        assert!(
            field("First sector:").starts_with(&format!("{} ", p.start_lba())),
            "{ctx}"
        );
        assert!(
            field("Last sector:").starts_with(&format!("{} ", p.last_lba())),
            "{ctx}"
        );
        assert!(
            field("Partition size:").starts_with(&format!("{} sectors", p.size_sectors())),
            "{ctx}"
        );
        assert_eq!(
            field("Attribute flags:"),
            format!("{:016X}", p.attributes.bits()),
            "{ctx}"
        );
        assert_eq!(field("Partition name:"), format!("'{}'", p.label), "{ctx}");
    }

    // sgdisk -v
    let verify = sgdisk(&["-v", s(img)]);
    assert!(verify.contains("No problems found"), "{verify}");
}

/// sgdisk arguments that build `disk`'s table on `img`, as Bottlerocket's rpm2img does.
fn sgdisk_args(disk: &DiskPlan, img: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec!["--clear".into(), "-U".into(), disk.disk_guid.to_string()];
    for p in &disk.partitions {
        let n = p.number;
        args.push("-n".into());
        args.push(format!("{n}:{}:{}", p.start_lba(), p.last_lba()));
        args.push("-c".into());
        args.push(format!("{n}:{}", p.label));
        args.push("-t".into());
        args.push(format!("{n}:{}", p.type_guid));
        args.push("-u".into());
        args.push(format!("{n}:{}", p.partition_guid));
        for bit in 0..64 {
            if p.attributes.bits() & (1 << bit) != 0 {
                args.push("-A".into());
                args.push(format!("{n}:set:{bit}"));
            }
        }
    }
    args.push(s(img).to_string());
    args
}

/// Compares the protective MBR and both GPT copies of `ours` and `reference` byte for byte. The
/// only tolerated difference is the protective MBR's ending CHS address, which gptman writes as
/// 0xFFFFFF ("not representable", allowed by the UEFI spec) where sgdisk computes a geometry.
fn assert_same_gpt_bytes(ours: &Path, reference: &Path, size: u64) {
    let head = 34 * 512;
    for (i, (a, b)) in read_at(ours, 0, head)
        .iter()
        .zip(&read_at(reference, 0, head))
        .enumerate()
    {
        if (451..454).contains(&i) {
            continue; // protective MBR ending CHS
        }
        assert_eq!(a, b, "{}: byte {i} differs from sgdisk's", s(ours));
    }
    let tail = 33 * 512;
    assert_eq!(
        read_at(ours, size - tail, tail),
        read_at(reference, size - tail, tail),
        "{}: backup GPT differs from sgdisk's",
        s(ours)
    );
}

fn read_at(path: &Path, offset: u64, len: u64) -> Vec<u8> {
    let mut f = File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0; len as usize];
    f.read_exact(&mut buf).unwrap();
    buf
}

/// Checks our own reader against the plan.
fn check_read_back(disk: &DiskPlan, img: &Path) {
    let table = read_table(img).unwrap();
    assert_eq!(table.sector_size, 512);
    assert_eq!(table.disk_guid, disk.disk_guid);
    assert_eq!(table.first_usable_lba, 34);
    assert_eq!(table.last_usable_lba, disk.size_sectors() - 34);
    assert_eq!(table.backup_lba, disk.size_sectors() - 1);
    assert_eq!(table.entries, 128);
    assert_eq!(table.partitions.len(), disk.partitions.len());
    for (p, t) in disk.partitions.iter().zip(&table.partitions) {
        assert_eq!(t.number, p.number);
        assert_eq!(t.label, p.label);
        assert_eq!(t.type_guid, p.type_guid);
        assert_eq!(t.partition_guid, p.partition_guid);
        assert_eq!(t.first_lba, p.start_lba());
        assert_eq!(t.last_lba, p.last_lba());
        assert_eq!(t.size_sectors(), p.size_sectors());
        assert_eq!(t.attributes, p.attributes);
        assert_eq!(
            table.byte_range(t),
            p.start_bytes()..p.start_bytes() + p.size_bytes()
        );
    }
}

/// Plans, writes every disk of the layout, and checks each with all oracles.
fn write_and_check(input: &PlanInput) -> (tempfile::TempDir, Layout) {
    let dir = tempfile::tempdir().unwrap();
    let layout = plan(input).unwrap();
    for (i, disk) in layout.disks().enumerate() {
        let img = dir.path().join(format!("disk{i}.img"));
        write_image(disk, &img).unwrap();
        check_with_tools(disk, &img);
        check_read_back(disk, &img);
    }
    (dir, layout)
}

/// (label, start MiB, size MiB) rows as the tools report them, converted from sectors.
fn mib_rows(img: &Path) -> Vec<(String, u64, u64)> {
    let json: Value = serde_json::from_str(&sfdisk(&["--json", s(img)])).unwrap();
    json["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let start = p["start"].as_u64().unwrap();
            let size = p["size"].as_u64().unwrap();
            assert_eq!(start % 2048, 0);
            assert_eq!(size % 2048, 0);
            (
                p.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                start / 2048,
                size / 2048,
            )
        })
        .collect()
}

fn rows(rows: &[(&str, u64, u64)]) -> Vec<(String, u64, u64)> {
    rows.iter()
        .map(|&(l, o, s)| (l.to_string(), o, s))
        .collect()
}

#[test]
fn split_2_gib_matches_design_table() {
    let (dir, layout) = write_and_check(&input(2, 2, PartitionPlan::Split, true));
    assert_eq!(
        mib_rows(&dir.path().join("disk0.img")),
        rows(&[
            ("BIOS-BOOT", 1, 4),
            ("EFI-SYSTEM", 5, 5),
            ("BOTTLEROCKET-BOOT-A", 10, 40),
            ("BOTTLEROCKET-ROOT-A", 50, 920),
            ("BOTTLEROCKET-HASH-A", 970, 10),
            ("BOTTLEROCKET-RESERVED-A", 980, 25),
            ("EFI-BACKUP", 1005, 5),
            ("BOTTLEROCKET-BOOT-B", 1010, 40),
            ("BOTTLEROCKET-ROOT-B", 1050, 920),
            ("BOTTLEROCKET-HASH-B", 1970, 10),
            ("BOTTLEROCKET-RESERVED-B", 1980, 25),
            ("BOTTLEROCKET-PRIVATE", 2005, 41),
            ("", 2046, 1),
        ])
    );
    assert_eq!(
        mib_rows(&dir.path().join("disk1.img")),
        rows(&[("", 1, 2 * 1024 - 2)])
    );
    assert_eq!(layout.os.size_mib, 2048);
}

#[test]
fn split_4_gib_matches_design_table() {
    let (dir, layout) = write_and_check(&input(4, 1, PartitionPlan::Split, true));
    assert_eq!(
        mib_rows(&dir.path().join("disk0.img")),
        rows(&[
            ("BIOS-BOOT", 1, 4),
            ("EFI-SYSTEM", 5, 5),
            ("BOTTLEROCKET-BOOT-A", 10, 80),
            ("BOTTLEROCKET-ROOT-A", 90, 1840),
            ("BOTTLEROCKET-HASH-A", 1930, 20),
            ("BOTTLEROCKET-RESERVED-A", 1950, 55),
            ("EFI-BACKUP", 2005, 5),
            ("BOTTLEROCKET-BOOT-B", 2010, 80),
            ("BOTTLEROCKET-ROOT-B", 2090, 1840),
            ("BOTTLEROCKET-HASH-B", 3930, 20),
            ("BOTTLEROCKET-RESERVED-B", 3950, 55),
            ("BOTTLEROCKET-PRIVATE", 4005, 89),
            ("", 4094, 1),
        ])
    );
    assert_eq!(
        mib_rows(&dir.path().join("disk1.img")),
        rows(&[("", 1, 1022)])
    );
    assert_eq!(layout.os.size_mib, 4096);
}

#[test]
fn unified_2_and_4_gib() {
    let (dir, layout) = write_and_check(&input(2, 3, PartitionPlan::Unified, true));
    assert!(layout.data.is_none());
    let r = mib_rows(&dir.path().join("disk0.img"));
    assert_eq!(r.len(), 13);
    assert_eq!(r[11], ("BOTTLEROCKET-PRIVATE".to_string(), 2005, 41));
    assert_eq!(r[12], (String::new(), 2046, 3 * 1024));
    assert_eq!(layout.os.size_mib, 5 * 1024);

    let (dir, layout) = write_and_check(&input(4, 1, PartitionPlan::Unified, true));
    let r = mib_rows(&dir.path().join("disk0.img"));
    assert_eq!(r[11], ("BOTTLEROCKET-PRIVATE".to_string(), 4005, 89));
    assert_eq!(r[12], (String::new(), 4094, 1024));
    assert_eq!(layout.os.size_mib, 5 * 1024);
}

#[test]
fn without_in_place_updates() {
    let (dir, layout) = write_and_check(&input(2, 1, PartitionPlan::Split, false));
    assert_eq!(
        mib_rows(&dir.path().join("disk0.img")),
        rows(&[
            ("BIOS-BOOT", 1, 4),
            ("EFI-SYSTEM", 5, 10),
            ("BOTTLEROCKET-BOOT-A", 15, 80),
            ("BOTTLEROCKET-ROOT-A", 95, 1840),
            ("BOTTLEROCKET-HASH-A", 1935, 20),
            ("BOTTLEROCKET-RESERVED-A", 1955, 50),
            ("BOTTLEROCKET-PRIVATE", 2005, 41),
            ("", 2046, 1),
        ])
    );
    assert_eq!(layout.os.size_mib, 2048);
    assert!(layout.os.partition(PartitionId::Efi(Bank::B)).is_none());

    let (dir, layout) = write_and_check(&input(4, 2, PartitionPlan::Unified, false));
    let r = mib_rows(&dir.path().join("disk0.img"));
    assert_eq!(r.len(), 8);
    assert_eq!(r[2], ("BOTTLEROCKET-BOOT-A".to_string(), 15, 160));
    assert_eq!(r[6], ("BOTTLEROCKET-PRIVATE".to_string(), 4005, 89));
    assert_eq!(r[7], (String::new(), 4094, 2048));
    assert_eq!(layout.os.size_mib, 6 * 1024);
}

/// Every configuration the tests cover, written by us and by sgdisk (run concurrently: each
/// sgdisk write sleeps 1 s on Linux), compared byte for byte.
#[test]
fn byte_identical_to_sgdisk() {
    let dir = tempfile::tempdir().unwrap();
    let configs = [
        input(2, 2, PartitionPlan::Split, true),
        input(4, 1, PartitionPlan::Split, true),
        input(2, 3, PartitionPlan::Unified, true),
        input(4, 1, PartitionPlan::Unified, true),
        input(2, 1, PartitionPlan::Split, false),
        input(4, 2, PartitionPlan::Unified, false),
    ];
    let mut jobs = Vec::new();
    for (c, config) in configs.iter().enumerate() {
        let layout = plan(config).unwrap();
        for (d, disk) in layout.disks().enumerate() {
            let ours = dir.path().join(format!("ours-{c}-{d}.img"));
            let reference = dir.path().join(format!("sgdisk-{c}-{d}.img"));
            write_image(disk, &ours).unwrap();
            File::create(&reference)
                .and_then(|f| f.set_len(disk.size_bytes()))
                .unwrap();
            let child = Command::new(tool("sgdisk", "gdisk"))
                .args(sgdisk_args(disk, &reference))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            jobs.push((child, ours, reference, disk.size_bytes()));
        }
    }
    for (mut child, ours, reference, size) in jobs {
        assert!(
            child.wait().unwrap().success(),
            "sgdisk failed for {}",
            s(&reference)
        );
        assert_same_gpt_bytes(&ours, &reference, size);
    }
}

/// Byte ranges of `path` that hold data (everything else is a hole and reads as zeros).
fn data_segments(path: &Path) -> Vec<(u64, u64)> {
    use rustix::fs::{seek, SeekFrom};
    let f = File::open(path).unwrap();
    let len = f.metadata().unwrap().len();
    let mut segments = Vec::new();
    let mut pos = 0;
    while pos < len {
        let Ok(start) = seek(&f, SeekFrom::Data(pos)) else {
            break; // ENXIO: no data after `pos`
        };
        let end = seek(&f, SeekFrom::Hole(start)).unwrap();
        assert!(end > start, "SEEK_HOLE failed on {}", s(path));
        segments.push((start, end));
        pos = end;
    }
    segments
}

/// Whether two (sparse) files have identical contents: same length, and the same bytes in every
/// range either of them stores as data; outside those ranges both are holes.
fn same_bytes(a: &Path, b: &Path) -> bool {
    let len = std::fs::metadata(a).unwrap().len();
    if len != std::fs::metadata(b).unwrap().len() {
        return false;
    }
    let mut segments = data_segments(a);
    segments.extend(data_segments(b));
    assert!(
        segments.iter().map(|(s, e)| e - s).sum::<u64>() < 64 << 20,
        "images are expected to be sparse"
    );
    segments
        .iter()
        .all(|&(start, end)| read_at(a, start, end - start) == read_at(b, start, end - start))
}

#[test]
fn same_seed_gives_identical_images() {
    let dir = tempfile::tempdir().unwrap();
    let first = plan(&input(2, 1, PartitionPlan::Split, true)).unwrap();
    let again = plan(&input(2, 1, PartitionPlan::Split, true)).unwrap();
    let mut other_input = input(2, 1, PartitionPlan::Split, true);
    other_input.seed[31] ^= 0x80;
    let other = plan(&other_input).unwrap();
    let (a, b, c) = (
        dir.path().join("a.img"),
        dir.path().join("b.img"),
        dir.path().join("c.img"),
    );
    write_image(&first.os, &a).unwrap();
    write_image(&again.os, &b).unwrap();
    write_image(&other.os, &c).unwrap();
    assert!(same_bytes(&a, &b), "same seed, different bytes");
    assert!(!same_bytes(&a, &c), "different seed, same bytes");
    // Writing over an existing image replaces it atomically and leaves no temporary files.
    write_image(&first.os, &c).unwrap();
    assert!(same_bytes(&a, &c));
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a.img", "b.img", "c.img"]);
    // Sparse: only the GPT areas are allocated.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        assert!(std::fs::metadata(&a).unwrap().blocks() * 512 <= 1 << 20);
    }
}

fn attrs_of(img: &Path, number: u32) -> GptAttributes {
    read_table(img)
        .unwrap()
        .partition(number)
        .unwrap()
        .attributes
}

#[test]
fn attribute_update_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let layout = plan(&input(2, 1, PartitionPlan::Split, true)).unwrap();
    let img = dir.path().join("os.img");
    write_image(&layout.os, &img).unwrap();
    let boot_a = layout
        .os
        .partition(PartitionId::Boot(Bank::A))
        .unwrap()
        .number;
    let boot_b = layout
        .os
        .partition(PartitionId::Boot(Bank::B))
        .unwrap()
        .number;
    let private = layout.os.partition(PartitionId::Private).unwrap().number;

    // signpost upgrade-to-inactive: B priority 2, tries 1, not successful; A priority 1,
    // successful; plus "a boot has ever succeeded" on PRIVATE.
    let new_b = GptAttributes::boot(2, 1, false).unwrap();
    let old_a = GptAttributes::boot(1, 0, true).unwrap();
    let mut private_attrs = GptAttributes::NONE;
    private_attrs.set_boot_ever_succeeded(true);
    let table = set_attributes(
        &img,
        &[(boot_b, new_b), (boot_a, old_a), (private, private_attrs)],
    )
    .unwrap();
    assert_eq!(table.partition(boot_b).unwrap().attributes, new_b);

    let mut expected = layout.os.clone();
    for p in &mut expected.partitions {
        if p.number == boot_b {
            p.attributes = new_b;
        } else if p.number == private {
            p.attributes = private_attrs;
        }
    }
    check_with_tools(&expected, &img);
    check_read_back(&expected, &img);
    let json = sfdisk(&["--json", s(&img)]);
    assert!(json.contains("\"GUID:49,52\""), "{json}");
    assert!(
        json.contains(&format!("\"GUID:{BOOT_EVER_SUCCEEDED_BIT}\"")),
        "{json}"
    );

    // The chooser picks B by tries and spends the try on the disk (both copies).
    let choice = next_boot(&img).unwrap();
    assert_eq!(choice.bank, Bank::B);
    assert_eq!(choice.number, boot_b);
    assert!(choice.chosen_by_tries());
    assert_eq!(choice.to_string(), "bank B chosen by tries (1 → 0)");
    assert_eq!(
        attrs_of(&img, boot_b),
        GptAttributes::boot(2, 0, false).unwrap()
    );
    // Boot failed (no mark-successful): the next choice falls back to A, writing nothing.
    let size = layout.os.size_bytes();
    let gpt_areas = |img: &Path| {
        [
            read_at(img, 0, 34 * 512),
            read_at(img, size - 33 * 512, 33 * 512),
        ]
    };
    let before = gpt_areas(&img);
    let choice = next_boot(&img).unwrap();
    assert_eq!(choice.bank, Bank::A);
    assert_eq!(choice.to_string(), "bank A chosen as successful");
    assert!(gpt_areas(&img) == before);
    // The pure chooser agrees with the disk-level one.
    let t = read_table(&img).unwrap();
    let candidates = [boot_a, boot_b].map(|n| Candidate {
        bank: if n == boot_a { Bank::A } else { Bank::B },
        number: n,
        attributes: t.partition(n).unwrap().attributes,
    });
    assert_eq!(choose_bank(&candidates).unwrap(), choice);

    // Both copies were written: destroy the primary header and read the backup.
    {
        let mut f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        f.seek(SeekFrom::Start(512)).unwrap();
        f.write_all(&[0u8; 512]).unwrap();
    }
    assert_eq!(
        attrs_of(&img, boot_b),
        GptAttributes::boot(2, 0, false).unwrap()
    );
    assert_eq!(attrs_of(&img, private), private_attrs);
    // An update from the backup copy rewrites the primary too.
    set_attributes(&img, &[(boot_b, GptAttributes::NONE)]).unwrap();
    expected.partitions[(boot_b - 1) as usize].attributes = GptAttributes::NONE;
    check_with_tools(&expected, &img);

    // Unknown partition numbers are rejected without writing.
    for n in [0, 14, 128, 129] {
        let err = set_attributes(&img, &[(n, GptAttributes::NONE)]).unwrap_err();
        assert!(matches!(err, Error::NoSuchPartition { number, .. } if number == n));
    }
    check_with_tools(&expected, &img);
}

#[test]
fn write_table_in_place_keeps_contents() {
    let dir = tempfile::tempdir().unwrap();
    let layout = plan(&input(2, 1, PartitionPlan::Split, true)).unwrap();
    let root_a = layout.os.partition(PartitionId::Root(Bank::A)).unwrap();
    let img = dir.path().join("os.img");
    {
        // Partition contents written before the table, into a shorter file with stale GPT bytes.
        let mut f = File::create(&img).unwrap();
        f.write_all(&[0xa5; 512 * 40]).unwrap();
        f.seek(SeekFrom::Start(root_a.start_bytes())).unwrap();
        f.write_all(b"root filesystem").unwrap();
    }
    write_table(&layout.os, &img).unwrap();
    check_with_tools(&layout.os, &img);
    assert_eq!(read_at(&img, root_a.start_bytes(), 15), b"root filesystem");
    // Boot code area of the MBR is left alone.
    assert_eq!(read_at(&img, 0, 446), vec![0xa5; 446]);

    // A file larger than the planned disk is refused.
    File::options()
        .write(true)
        .open(&img)
        .unwrap()
        .set_len(layout.os.size_bytes() + 512)
        .unwrap();
    let err = write_table(&layout.os, &img).unwrap_err();
    assert!(matches!(err, Error::ImageTooLarge { .. }), "{err}");
}

#[test]
fn read_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("blank.img");
    File::create(&img).unwrap().set_len(1 << 20).unwrap();
    let err = read_table(&img).unwrap_err();
    assert!(err.to_string().contains("blank.img"), "{err}");
    let err = read_table(&dir.path().join("missing.img")).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err}");
}

#[test]
fn damaged_primary_entry_array_falls_back_to_backup() {
    use partitions::{inspect_table, GptCopy};
    let dir = tempfile::tempdir().unwrap();
    let layout = plan(&input(2, 1, PartitionPlan::Split, true)).unwrap();
    let img = dir.path().join("os.img");
    write_image(&layout.os, &img).unwrap();
    let healthy = inspect_table(&img).unwrap();
    assert_eq!(healthy.source, GptCopy::Primary);
    assert_eq!(
        (healthy.primary_problem, healthy.backup_problem),
        (None, None)
    );
    assert!(!healthy.copies_differ);

    // The primary header is intact but its entry array is not (a torn write of the entries):
    // the backup is used, and the problem is reported.
    {
        let mut f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        f.seek(SeekFrom::Start(2 * 512 + 40)).unwrap();
        f.write_all(&[0x5a; 8]).unwrap();
    }
    let i = inspect_table(&img).unwrap();
    assert_eq!(i.source, GptCopy::Backup);
    assert!(
        i.primary_problem.as_deref().unwrap().contains("CRC32"),
        "{:?}",
        i.primary_problem
    );
    assert_eq!(i.table, healthy.table);
    // set_attributes works from the backup and repairs the primary.
    set_attributes(&img, &[]).unwrap();
    check_with_tools(&layout.os, &img);
    assert_eq!(inspect_table(&img).unwrap().source, GptCopy::Primary);

    // Both copies gone: an error naming the disk and both problems.
    let len = std::fs::metadata(&img).unwrap().len();
    {
        let mut f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        for offset in [512, len - 512] {
            f.seek(SeekFrom::Start(offset)).unwrap();
            f.write_all(&[0u8; 512]).unwrap();
        }
    }
    let err = read_table(&img).unwrap_err();
    assert!(matches!(err, Error::NoValidGpt { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("os.img") && msg.contains("primary") && msg.contains("backup"),
        "{msg}"
    );
}
