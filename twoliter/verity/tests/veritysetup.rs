//! Tests against the real `veritysetup` (package cryptsetup-bin) as the oracle: our hash files
//! must be byte-identical to its output and accepted by `veritysetup verify`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;
use twoliter_verity::{build, derive_salt, VerityError, VerityOutput, VerityParams, BLOCK_SIZE};

const BLOCK: usize = BLOCK_SIZE as usize;

/// Path of `veritysetup`; fails the test (not skips) when it is missing.
fn veritysetup() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin".into(), "/sbin".into()]);
    for dir in candidates {
        let p = dir.join("veritysetup");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "veritysetup not found in PATH, /usr/sbin or /sbin: these tests need it as their oracle; \
         install it with `apt-get install cryptsetup-bin`"
    );
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Deterministic pseudo-random bytes (splitmix64).
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        v.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    v.truncate(len);
    v
}

const FORMAT_ARGS: &[&str] = &[
    "--format",
    "1",
    "--hash",
    "sha256",
    "--data-block-size",
    "4096",
    "--hash-block-size",
    "4096",
];

/// Runs `veritysetup format` and returns the root hash it printed.
fn oracle_format(data: &Path, hash: &Path, params: &VerityParams) -> String {
    let mut cmd = Command::new(veritysetup());
    cmd.arg("format")
        .args(FORMAT_ARGS)
        .args(["--salt", &params.salt_hex()]);
    if params.superblock {
        cmd.args(["--uuid", &params.uuid_string()]);
    } else {
        cmd.arg("--no-superblock");
    }
    let out = run_ok(cmd.arg(data).arg(hash));
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|| panic!("no root hash in veritysetup output:\n{stdout}"))
}

/// `veritysetup verify` of data against our hash file; returns whether it succeeded.
fn oracle_verify(data: &Path, hash: &Path, out: &VerityOutput) -> (bool, String) {
    let mut cmd = Command::new(veritysetup());
    cmd.arg("verify");
    if !out.has_superblock() {
        cmd.arg("--no-superblock")
            .args(FORMAT_ARGS)
            .args(["--salt", &out.salt_hex()])
            .args(["--data-blocks", &out.data_blocks.to_string()])
            .args(["--hash-offset", "0"]);
    }
    let res = run(cmd.arg(data).arg(hash).arg(out.root_hash_hex()));
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    (res.status.success(), msg)
}

fn assert_verifies(data: &Path, hash: &Path, out: &VerityOutput) {
    let (ok, msg) = oracle_verify(data, hash, out);
    assert!(
        ok,
        "veritysetup verify rejected {} / {}: {msg}",
        data.display(),
        hash.display()
    );
}

/// Builds with us and with veritysetup and compares everything; returns our output.
fn compare(dir: &Path, name: &str, data: &Path, superblock: bool) -> VerityOutput {
    let params = VerityParams::from_inputs(&[name.as_bytes()]).with_superblock(superblock);
    let ours = dir.join(format!("{name}-{superblock}.ours"));
    let theirs = dir.join(format!("{name}-{superblock}.theirs"));
    let out = build(data, &ours, &params).expect("build");
    let root = oracle_format(data, &theirs, &params);
    assert_eq!(
        out.root_hash_hex(),
        root,
        "{name} superblock={superblock}: root hash"
    );

    let a = fs::read(&ours).unwrap();
    let b = fs::read(&theirs).unwrap();
    assert_eq!(
        a.len(),
        b.len(),
        "{name} superblock={superblock}: hash file size"
    );
    if let Some(pos) = a.iter().zip(&b).position(|(x, y)| x != y) {
        panic!("{name} superblock={superblock}: hash files differ first at byte {pos}");
    }
    assert_eq!(out.hash_size, a.len() as u64);
    let data_len = fs::metadata(data).unwrap().len();
    assert_eq!(out.data_blocks * BLOCK_SIZE, data_len);
    assert_eq!(out.hash_start_block(), u64::from(superblock));
    assert_eq!(
        out.hash_size,
        (out.tree_blocks + out.hash_start_block()) * BLOCK_SIZE
    );
    assert_verifies(data, &ours, &out);
    out
}

fn random_file(dir: &Path, name: &str, blocks: usize) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, pseudo_random(blocks * BLOCK, blocks as u64)).unwrap();
    path
}

#[test]
fn byte_identical_small_and_single_level() {
    let dir = TempDir::new().unwrap();
    for blocks in [1usize, 2, 127, 128, 129, 256, 2048] {
        let name = format!("rand{blocks}");
        let data = random_file(dir.path(), &name, blocks);
        for superblock in [true, false] {
            compare(dir.path(), &name, &data, superblock);
        }
    }
}

#[test]
fn byte_identical_three_levels() {
    // 128*128 + 1 blocks: the smallest tree with three levels.
    let dir = TempDir::new().unwrap();
    let data = random_file(dir.path(), "rand16385", 128 * 128 + 1);
    for superblock in [true, false] {
        let out = compare(dir.path(), "rand16385", &data, superblock);
        assert_eq!(out.tree_blocks, 129 + 2 + 1);
    }
}

#[test]
fn byte_identical_exact_two_levels_full() {
    // 128*128 blocks: two full levels, the top exactly one block.
    let dir = TempDir::new().unwrap();
    let data = random_file(dir.path(), "rand16384", 128 * 128);
    let out = compare(dir.path(), "rand16384", &data, true);
    assert_eq!(out.tree_blocks, 128 + 1);
}

#[test]
fn zero_data_matches() {
    // All-zero data: identical digests everywhere, zero padding must not be confused with data.
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("zeros");
    fs::write(&data, vec![0u8; 300 * BLOCK]).unwrap();
    for superblock in [true, false] {
        compare(dir.path(), "zeros", &data, superblock);
    }
}

fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

#[test]
fn corruption_is_detected() {
    let dir = TempDir::new().unwrap();
    let blocks = 300;
    for superblock in [true, false] {
        let data = random_file(dir.path(), &format!("data-{superblock}"), blocks);
        let hash = dir.path().join(format!("hash-{superblock}"));
        let params = VerityParams::from_inputs(&[b"corrupt"]).with_superblock(superblock);
        let out = build(&data, &hash, &params).unwrap();
        assert_verifies(&data, &hash, &out);

        // One data byte in the middle of block 200.
        flip_byte(&data, 200 * BLOCK + 1234);
        let (ok, msg) = oracle_verify(&data, &hash, &out);
        assert!(
            !ok,
            "verify accepted corrupted data (superblock={superblock}): {msg}"
        );
        flip_byte(&data, 200 * BLOCK + 1234);
        assert_verifies(&data, &hash, &out);

        // One byte of the level-0 hashes (the last tree block).
        let hash_len = fs::metadata(&hash).unwrap().len() as usize;
        flip_byte(&hash, hash_len - BLOCK + 40);
        let (ok, msg) = oracle_verify(&data, &hash, &out);
        assert!(
            !ok,
            "verify accepted a corrupted hash tree (superblock={superblock}): {msg}"
        );
    }
}

/// A small directory tree to put into filesystem images.
fn populate(root: &Path) {
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::create_dir_all(root.join("etc/empty")).unwrap();
    fs::write(root.join("etc/os-release"), "NAME=Test\nVERSION_ID=1.0.0\n").unwrap();
    fs::write(root.join("usr/bin/big"), pseudo_random(300_000, 42)).unwrap();
    for i in 0..20 {
        fs::write(root.join(format!("usr/bin/tool{i}")), format!("tool {i}\n")).unwrap();
    }
    std::os::unix::fs::symlink("tool0", root.join("usr/bin/link")).unwrap();
}

fn tool(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} not found: install it with `apt-get install {package}`");
}

#[test]
fn ext4_image_verifies() {
    let dir = TempDir::new().unwrap();
    let tree = dir.path().join("tree");
    populate(&tree);
    let img = dir.path().join("root.ext4");
    fs::File::create(&img).unwrap().set_len(8 << 20).unwrap();
    run_ok(
        Command::new(tool("mkfs.ext4", "e2fsprogs"))
            .args(["-q", "-F", "-b", "4096", "-O", "^has_journal"])
            .args(["-U", "6b8c2bb4-7a8e-4a8b-9d9e-0d0a5f1f0c01"])
            .args(["-E", "hash_seed=6b8c2bb4-7a8e-4a8b-9d9e-0d0a5f1f0c01"])
            .arg("-d")
            .arg(&tree)
            .arg(&img)
            .env("E2FSPROGS_FAKE_TIME", "1700000000"),
    );
    for superblock in [true, false] {
        let out = compare(dir.path(), "ext4", &img, superblock);
        assert_eq!(out.data_blocks, 2048);
    }
}

#[test]
fn erofs_image_verifies() {
    let dir = TempDir::new().unwrap();
    let tree = dir.path().join("tree");
    populate(&tree);
    let img = dir.path().join("root.erofs");
    run_ok(
        Command::new(tool("mkfs.erofs", "erofs-utils"))
            .args([
                "-T0",
                "--all-root",
                "-U",
                "6b8c2bb4-7a8e-4a8b-9d9e-0d0a5f1f0c02",
            ])
            .arg(&img)
            .arg(&tree),
    );
    // erofs images are a whole number of 4096-byte filesystem blocks already with the default
    // block size; pad anyway (with zeros, which erofs ignores past its end) so this holds for
    // any mkfs.erofs version.
    let len = fs::metadata(&img).unwrap().len();
    let padded = len.div_ceil(BLOCK_SIZE) * BLOCK_SIZE;
    if padded != len {
        eprintln!("padding erofs image from {len} to {padded} bytes");
    }
    fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .unwrap()
        .set_len(padded)
        .unwrap();
    for superblock in [true, false] {
        compare(dir.path(), "erofs", &img, superblock);
    }
}

#[test]
fn salt_derivation_is_deterministic() {
    let a = derive_salt(&[b"root.ext4", b"1.2.3", b"aws-k8s-1.31"]);
    let b = derive_salt(&[b"root.ext4", b"1.2.3", b"aws-k8s-1.31"]);
    assert_eq!(a, b);
    // Pinned (independently: python3 hashlib over the same bytes): a change here changes every
    // image's root hash.
    assert_eq!(
        hex::encode(derive_salt(&[b"twoliter"])),
        "a2744a8d8f8bf68204b5c9f30436c93a34604844fd436a8bcdc309078a27bce1"
    );
    // Input boundaries matter.
    assert_ne!(derive_salt(&[b"ab", b"c"]), derive_salt(&[b"a", b"bc"]));
    assert_ne!(derive_salt(&[b"abc"]), derive_salt(&[b"abc", b""]));
    assert_ne!(derive_salt(&[]), derive_salt(&[b""]));

    let p = VerityParams::from_inputs(&[b"x"]);
    assert_eq!(p, VerityParams::from_inputs(&[b"x"]));
    assert!(p.superblock);

    // The whole hash file is reproducible, superblock UUID included.
    let dir = TempDir::new().unwrap();
    let data = random_file(dir.path(), "d", 130);
    let o1 = build(&data, &dir.path().join("h1"), &p).unwrap();
    let o2 = build(&data, &dir.path().join("h2"), &p).unwrap();
    assert_eq!(o1, o2);
    assert_eq!(
        fs::read(dir.path().join("h1")).unwrap(),
        fs::read(dir.path().join("h2")).unwrap()
    );
}

#[test]
fn dm_table_and_cmdline() {
    let dir = TempDir::new().unwrap();
    let data = random_file(dir.path(), "d", 300);
    let params = VerityParams::from_inputs(&[b"cmdline"]);
    let out = build(&data, &dir.path().join("h"), &params).unwrap();
    let root = out.root_hash_hex();
    let salt = params.salt_hex();
    assert_eq!(
        out.kernel_dm_mod_create("$boot_uuid"),
        format!(
            "dm-mod.create=\"root,,,ro,0 2400 verity 1 PARTUUID=$boot_uuid/PARTNROFF=1 \
             PARTUUID=$boot_uuid/PARTNROFF=2 4096 4096 300 1 sha256 {root} {salt} 2 \
             restart_on_corruption ignore_zero_blocks\""
        )
    );
    let out = build(
        &data,
        &dir.path().join("h"),
        &params.clone().with_superblock(false),
    )
    .unwrap();
    assert_eq!(
        out.root_hash_hex(),
        root,
        "superblock does not change the root"
    );
    assert_eq!(
        out.dm_table_for_devices("/dev/vda3", "/dev/vda4"),
        format!(
            "0 2400 verity 1 /dev/vda3 /dev/vda4 4096 4096 300 0 sha256 {root} {salt} 2 \
             restart_on_corruption ignore_zero_blocks"
        )
    );
}

/// Files in `dir` (to check that failures leave nothing behind).
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = TempDir::new().unwrap();
    let params = VerityParams::from_inputs(&[b"bad"]);
    let hash = dir.path().join("out.verity");

    let odd = dir.path().join("odd.img");
    fs::write(&odd, vec![1u8; BLOCK + 100]).unwrap();
    let err = build(&odd, &hash, &params).unwrap_err();
    assert!(
        matches!(err, VerityError::UnalignedData { size: 4196, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("odd.img") && msg.contains("4196") && msg.contains("4096"),
        "{msg}"
    );

    let missing = dir.path().join("missing.img");
    let err = build(&missing, &hash, &params).unwrap_err();
    assert!(matches!(err, VerityError::DataFile { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.img"), "{err}");

    let empty = dir.path().join("empty.img");
    fs::write(&empty, b"").unwrap();
    let err = build(&empty, &hash, &params).unwrap_err();
    assert!(matches!(err, VerityError::EmptyData { .. }), "{err:?}");

    let err = build(dir.path(), &hash, &params).unwrap_err();
    assert!(matches!(err, VerityError::NotAFile { .. }), "{err:?}");

    let err = build(&odd, &dir.path().join("no/such/dir/h"), &params).unwrap_err();
    assert!(matches!(err, VerityError::UnalignedData { .. }), "{err:?}");
    let good = random_file(dir.path(), "good.img", 3);
    let err = build(&good, &dir.path().join("no/such/dir/h"), &params).unwrap_err();
    assert!(matches!(err, VerityError::CreateTemp { .. }), "{err:?}");
    assert!(err.to_string().contains("no/such/dir"), "{err}");

    let err = build(&good, &good, &params).unwrap_err();
    assert!(matches!(err, VerityError::SameFile { .. }), "{err:?}");

    // No output and no temporary file left behind.
    assert_eq!(
        listing(dir.path()),
        ["empty.img", "good.img", "odd.img"],
        "failed builds must leave no files"
    );

    // A failed build leaves an existing output untouched.
    fs::write(&hash, b"previous").unwrap();
    build(&odd, &hash, &params).unwrap_err();
    assert_eq!(fs::read(&hash).unwrap(), b"previous");
    // A successful one replaces it.
    build(&good, &hash, &params).unwrap();
    assert_eq!(fs::metadata(&hash).unwrap().len(), 2 * BLOCK_SIZE);
}
