//! Runs the real `updog` binary against real GPT disk images (written by the real planner) and
//! TUF repositories signed in the test with tough's editor: a full update and boot simulation,
//! attacks that must be refused, update selection, the HTTP transport and a kill -9 mid-write.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use partitions::{Bank, GptAttributes, PartitionId};
use semver::Version;
use serde_json::Value;
use update_metadata::{Manifest, Timestamp};

const MIGRATION: &str = "migrate_v2.0.0_test.lz4";

fn v2() -> Payloads {
    Payloads {
        boot: payload(1 << 20, 11),
        root: payload(3 << 20, 12),
        hash: payload(128 << 10, 13),
    }
}

/// Options of the standard repository: v1.0.0 and v2.0.0 for the test variant.
struct Opts {
    version: u64,
    timestamp_expires: jiff::Timestamp,
    manifest: Manifest,
    payloads: Payloads,
}

impl Opts {
    fn new() -> Opts {
        let mut manifest = Manifest::default();
        manifest.updates.push(update("1.0.0"));
        let mut u2 = update("2.0.0");
        u2.max_version = Version::new(2, 0, 0);
        manifest.updates.push(u2);
        manifest.updates[0].max_version = Version::new(2, 0, 0);
        manifest
            .set_migrations(
                Version::new(1, 0, 0),
                Version::new(2, 0, 0),
                vec![MIGRATION.to_string()],
            )
            .unwrap();
        Opts {
            version: 1,
            timestamp_expires: days(7),
            manifest,
            payloads: v2(),
        }
    }
}

/// Builds the repository into `<host>/<name>` and returns its directory.
fn repo(host: &Host, name: &str, opts: &Opts) -> PathBuf {
    let dir = host.dir.path().join(name);
    let files = dir.join("files");
    let mut targets = write_payload_targets(&files, "2.0.0", &opts.payloads);
    targets.push(manifest_target(&files, &opts.manifest));
    let migration = files.join(MIGRATION);
    std::fs::write(&migration, lz4(b"#!/bin/sh\necho migrating\n")).unwrap();
    targets.push((MIGRATION.to_string(), migration));
    make_repo(
        &host.root_json,
        &RepoSpec {
            version: opts.version,
            timestamp_expires: opts.timestamp_expires,
            targets,
            dir: &dir,
        },
    );
    dir
}

fn versions(json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(json).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|u| u["version"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts that bank B stays not bootable and A boots next.
fn assert_b_unbootable(host: &Host) {
    assert_eq!(host.bank(Bank::B).0, 0, "bank B must have priority 0");
    let next = host.signpost(None).peek_next().unwrap();
    assert_eq!(next.bank, Bank::A);
}

#[test]
fn update_writes_bank_b_and_boots_it_once() {
    let host = Host::new("1.0.0");
    let opts = Opts::new();
    let dir = repo(&host, "repo", &opts);
    host.configure_file(&dir, "seed = 100\n");

    let out = host.ok(&["update", "--ignore-waves", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], "2.0.0");
    assert_eq!(v["bank"], "B");

    let p = &opts.payloads;
    assert!(host.read(PartitionId::Boot(Bank::B), p.boot.len()) == p.boot);
    assert!(host.read(PartitionId::Root(Bank::B), p.root.len()) == p.root);
    assert!(host.read(PartitionId::Hash(Bank::B), p.hash.len()) == p.hash);
    // Bank A untouched (never written: zeros).
    assert!(host
        .read(PartitionId::Root(Bank::A), 4096)
        .iter()
        .all(|b| *b == 0));
    assert!(host.migrations_dir.join(MIGRATION).is_file());

    assert_eq!(host.bank(Bank::B), (2, 1, false));
    assert_eq!(host.bank(Bank::A), (1, 0, true));
    let status = host.signpost(None).status();
    assert_eq!(status.active.as_deref(), Some("A"));

    // First boot: B, by its one try.
    let next = host.signpost(None).choose_next().unwrap();
    assert_eq!(
        (next.bank.as_str(), next.by_tries, next.tries_left),
        ("B", true, 0)
    );
    let marked = host.dir.path().join("marked.img");
    std::fs::copy(&host.disk, &marked).unwrap();

    // Not marked successful: the next boot falls back to A.
    let next = host.signpost(None).choose_next().unwrap();
    assert_eq!(next.bank, "A");

    // Marked successful: B stays.
    let load = |booted| {
        signpost::Signpost::load(&signpost::LoadOptions {
            disk: Some(marked.clone()),
            booted,
            ..signpost::LoadOptions::default()
        })
        .unwrap()
    };
    load(Some(Bank::B)).mark_successful_boot().unwrap();
    for _ in 0..2 {
        assert_eq!(load(None).choose_next().unwrap().bank, "B");
    }

    // Nothing newer now that the running version is 2.0.0.
    std::fs::write(
        &host.os_release,
        format!("VERSION_ID=2.0.0\nVARIANT_ID={VARIANT}\n"),
    )
    .unwrap();
    assert_eq!(
        host.ok(&["update", "--ignore-waves"]).trim(),
        "No update available"
    );
}

#[test]
fn image_then_apply_then_revert() {
    let host = Host::new("1.0.0");
    let opts = Opts::new();
    let dir = repo(&host, "repo", &opts);
    host.configure_file(&dir, "ignore_waves = true\n");

    // Nothing staged yet: apply refuses.
    let err = host.fails(&["update-apply"]);
    assert!(err.contains("no update image is staged"), "{err}");

    let out = host.ok(&["update-image", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["version"].as_str(), v["bank"].as_str()),
        (Some("2.0.0"), Some("B"))
    );
    // Staged but not bootable yet.
    assert_eq!(host.bank(Bank::B).0, 0);
    host.ok(&["update-apply", "--reboot", "--reboot-command", "true"]);
    assert_eq!(host.bank(Bank::B), (2, 1, false));
    host.ok(&["update-revert"]);
    assert_eq!(host.bank(Bank::B).0, 0);
    assert_eq!(host.bank(Bank::A), (2, 0, true));
    // The image stays staged: it can be activated again without another download.
    host.ok(&["update-apply"]);
    assert_eq!(host.bank(Bank::B), (2, 1, false));
}

#[test]
fn tampered_target_is_refused() {
    let host = Host::new("1.0.0");
    let opts = Opts::new();
    let dir = repo(&host, "repo", &opts);
    // Make B look bootable first: updog must clear it before writing.
    partitions::set_attributes(
        &host.disk,
        &[(
            host.layout
                .os
                .partition(PartitionId::Boot(Bank::B))
                .unwrap()
                .number,
            GptAttributes::boot(1, 0, true).unwrap(),
        )],
    )
    .unwrap();
    let file = target_file(&dir, &images("2.0.0").root);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, &bytes).unwrap();
    host.configure_file(&dir, "ignore_waves = true\n");
    let err = host.fails(&["update"]);
    assert!(
        err.contains("root.ext4.lz4") && err.to_lowercase().contains("hash mismatch"),
        "{err}"
    );
    assert_b_unbootable(&host);
}

#[test]
fn wrong_length_target_is_refused() {
    let host = Host::new("1.0.0");
    let opts = Opts::new();
    let dir = repo(&host, "repo", &opts);
    let file = target_file(&dir, &images("2.0.0").boot);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(&[0u8; 4096]);
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, &bytes).unwrap();
    host.configure_file(&dir, "ignore_waves = true\n");
    let err = host.fails(&["update-image"]);
    assert!(err.contains("boot.ext4.lz4"), "{err}");
    assert_b_unbootable(&host);
}

#[test]
fn expired_timestamp_is_refused() {
    let host = Host::new("1.0.0");
    let mut opts = Opts::new();
    opts.timestamp_expires = days(-1);
    let dir = repo(&host, "repo", &opts);
    host.configure_file(&dir, "ignore_waves = true\n");
    let err = host.fails(&["update"]);
    assert!(err.contains("xpired"), "{err}");
    assert_b_unbootable(&host);
    let err = host.fails(&["check-update"]);
    assert!(err.contains("xpired"), "{err}");
}

#[test]
fn rolled_back_metadata_is_refused() {
    let host = Host::new("1.0.0");
    let mut opts = Opts::new();
    opts.version = 2;
    let new = repo(&host, "repo-new", &opts);
    opts.version = 1;
    let old = repo(&host, "repo-old", &opts);
    host.configure_file(&new, "ignore_waves = true\n");
    host.ok(&["check-update"]);
    host.configure_file(&old, "ignore_waves = true\n");
    let err = host.fails(&["update"]);
    assert!(err.contains("cannot load the update repository"), "{err}");
    assert!(err.to_lowercase().contains("version"), "{err}");
    assert_b_unbootable(&host);
}

#[test]
fn foreign_variant_or_arch_is_not_taken() {
    for foreign in ["variant", "arch"] {
        let host = Host::new("1.0.0");
        let mut opts = Opts::new();
        for u in &mut opts.manifest.updates {
            match foreign {
                "variant" => u.variant = "other-variant".into(),
                _ => u.arch = "sparc64".into(),
            }
        }
        let dir = repo(&host, "repo", &opts);
        host.configure_file(&dir, "ignore_waves = true\n");
        assert_eq!(host.ok(&["update"]).trim(), "No update available");
        assert_eq!(host.ok(&["check-update", "--json"]).trim(), "[]");
        let err = host.fails(&["update-image", "--image", "2.0.0"]);
        assert!(err.contains("no update 2.0.0"), "{err}");
        assert_eq!(host.bank(Bank::B).0, 0);
    }
}

#[test]
fn waves_not_reached_are_not_taken() {
    let host = Host::new("1.0.0");
    let mut opts = Opts::new();
    let start: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
    opts.manifest.updates[1].waves.insert(0, start);
    opts.manifest.updates[1]
        .waves
        .insert(1024, "2030-01-02T00:00:00Z".parse().unwrap());
    let dir = repo(&host, "repo", &opts);
    host.configure_file(&dir, "seed = 5\n");
    let before = ["--now", "2029-12-31T00:00:00Z"];
    assert_eq!(
        host.ok(&["update", before[0], before[1]]).trim(),
        "No update available"
    );
    assert_eq!(host.bank(Bank::B).0, 0);
    let out = host.ok(&["check-update", "--json", "--now", "2030-01-01T01:00:00Z"]);
    assert_eq!(versions(&out), ["2.0.0"]);
    // A later wave's seed is not due yet at that time.
    host.configure_file(&dir, "seed = 2000\n");
    let out = host.ok(&["check-update", "--json", "--now", "2030-01-01T01:00:00Z"]);
    assert!(versions(&out).is_empty());
    // --all ignores waves.
    let out = host.ok(&[
        "check-update",
        "--all",
        "--json",
        "--now",
        "2029-01-01T00:00:00Z",
    ]);
    assert_eq!(versions(&out), ["2.0.0", "1.0.0"]);
}

#[test]
fn target_bigger_than_partition_is_refused() {
    let host = Host::new("1.0.0");
    let mut opts = Opts::new();
    let hash_size = host.range(PartitionId::Hash(Bank::B));
    opts.payloads.hash = vec![7u8; (hash_size.end - hash_size.start) as usize + 4096];
    let dir = repo(&host, "repo", &opts);
    host.configure_file(&dir, "ignore_waves = true\n");
    let err = host.fails(&["update"]);
    assert!(
        err.contains("does not fit partition BOTTLEROCKET-HASH-B"),
        "{err}"
    );
    assert_b_unbootable(&host);
    // Nothing was written past the partition: RESERVED-B is untouched.
    let reserved = host.read(PartitionId::Reserved(Bank::B), 8192);
    assert!(reserved.iter().all(|b| *b == 0));
}

#[test]
fn check_update_lists_and_version_lock_downgrades() {
    let host = Host::new("2.0.0");
    let mut opts = Opts::new();
    let mut pulled = update("3.0.0");
    pulled.max_version = Version::new(2, 0, 0);
    opts.manifest.updates.push(pulled);
    let dir = repo(&host, "repo", &opts);
    host.configure_file(&dir, "ignore_waves = true\n");
    assert!(versions(&host.ok(&["check-update", "--json"])).is_empty());
    assert_eq!(host.ok(&["check-update"]).trim(), "No update available");
    assert_eq!(
        versions(&host.ok(&["check-update", "--all", "--json"])),
        ["2.0.0", "1.0.0"]
    );
    host.configure_file(&dir, "ignore_waves = true\nversion_lock = \"v1.0.0\"\n");
    let out = host.ok(&["check-update", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(versions(&out), ["1.0.0"]);
    assert_eq!(v[0]["images"]["root"], images("1.0.0").root);
    assert!(host.ok(&["check-update"]).contains("1.0.0"));
    // Unknown configuration keys are refused, naming the file and key.
    host.configure_file(&dir, "colour = \"blue\"\n");
    let err = host.fails(&["check-update"]);
    assert!(
        err.contains("colour") && err.contains("updog.toml"),
        "{err}"
    );
}

/// A minimal HTTP/1.1 file server on loopback: GET only, one request per connection.
fn serve(dir: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let file = dir.join(path.trim_start_matches('/'));
                let response = match std::fs::read(&file) {
                    Ok(body) if !path.contains("..") => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(&body);
                        r
                    }
                    _ => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = stream.write_all(&response);
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn http_transport() {
    let host = Host::new("1.0.0");
    let opts = Opts::new();
    let dir = repo(&host, "repo", &opts);
    let base = serve(dir);
    host.configure(
        &format!("{base}/metadata"),
        &format!("{base}/targets/"),
        "ignore_waves = true\n",
    );
    let out = host.ok(&["update-image", "--json"]);
    assert!(out.contains("2.0.0"), "{out}");
    let p = &opts.payloads;
    assert!(host.read(PartitionId::Root(Bank::B), p.root.len()) == p.root);
    assert!(host.migrations_dir.join(MIGRATION).is_file());
}

#[test]
fn kill_during_write_leaves_a_bootable_disk() {
    let host = Host::new("1.0.0");
    let mut opts = Opts::new();
    opts.payloads.root = payload(256 << 20, 99);
    let dir = repo(&host, "repo", &opts);
    host.configure_file(&dir, "ignore_waves = true\n");
    // B holds a "previous" good image, so there is something to clear.
    let b_boot = host
        .layout
        .os
        .partition(PartitionId::Boot(Bank::B))
        .unwrap()
        .number;
    partitions::set_attributes(
        &host.disk,
        &[(b_boot, GptAttributes::boot(1, 0, true).unwrap())],
    )
    .unwrap();

    let mut child = host
        .command(&["update"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let root_b = host.range(PartitionId::Root(Bank::B));
    // Inside the first 64 KiB block, which `payload` fills with random bytes.
    let probe = root_b.start + 4096;
    let deadline = Instant::now() + Duration::from_secs(60);
    let killed = loop {
        let mut byte = [0u8; 16];
        use std::os::unix::fs::FileExt;
        std::fs::File::open(&host.disk)
            .unwrap()
            .read_exact_at(&mut byte, probe)
            .unwrap();
        if byte.iter().any(|b| *b != 0) {
            child.kill().unwrap();
            break true;
        }
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let status = child.wait().unwrap();
    assert!(
        killed && !status.success(),
        "updog finished before it could be killed mid-write ({status})"
    );
    // Killed mid-write: A still boots, B does not.
    assert_b_unbootable(&host);
    assert_eq!(host.signpost(None).status().active.as_deref(), Some("A"));
    // A rerun completes.
    host.ok(&["update"]);
    assert_eq!(host.bank(Bank::B), (2, 1, false));
    let p = &opts.payloads;
    assert!(host.read(PartitionId::Root(Bank::B), p.root.len()) == p.root);
}

#[test]
fn bad_arguments_are_clear() {
    let host = Host::new("1.0.0");
    host.configure("file:///nonexistent/m", "file:///nonexistent/t", "");
    let err = host.fails(&["check-update", "--now", "yesterday"]);
    assert!(err.contains("yesterday"), "{err}");
    let err = host.fails(&["check-update"]);
    assert!(err.contains("nonexistent"), "{err}");
    let missing: &Path = &host.dir.path().join("missing.toml");
    let out = host
        .command(&["check-update"])
        .arg("--config")
        .arg(missing)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}
