//! Benchmark of `updog update-image` from a local file:// repository against its two lower
//! bounds measured in the same run: (a) lz4 decompression alone of the same payloads to a sink,
//! (b) a plain sequential write (with fsync) of the decompressed bytes over a file of the disk
//! image's size whose blocks are already allocated, as a partition's are.
//!
//! (b) and updog run alternately for `UPDOG_BENCH_ROUNDS` rounds (default 3); the best of each
//! counts, since this machine's disk speed varies a lot between seconds.
//!
//! Payload: a root image of `UPDOG_BENCH_MIB` MiB (default 1024) of which
//! `UPDOG_BENCH_RANDOM_PERCENT` (default 50) is incompressible, an 8 MiB hash and a 40 MiB boot
//! image. Also printed: (c) sha256 of the compressed bytes, the verification every updater does. Run with `cargo bench -p updog`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;
use update_metadata::Manifest;

fn mb_s(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e6
}

/// Flushes earlier dirty pages so that one measurement's writeback does not slow the next.
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let mib: usize = std::env::var("UPDOG_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
        .clamp(16, 1800);
    // How much of the root image is incompressible: a real root file system shrinks to about
    // 25-50% with lz4 (metal-dev's: 23%); 75 is a worst case. Every compressed byte is hashed
    // (TUF), so this decides whether hashing or writing is the bottleneck.
    let random_percent: usize = std::env::var("UPDOG_BENCH_RANDOM_PERCENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
        .min(100);
    // 4 GiB OS image: ROOT holds 1840 MiB.
    let host = Host::with_size("1.0.0", 4);
    let files = host.dir.path().join("files");
    let payloads = Payloads {
        boot: payload(40 << 20, 1),
        root: payload_mix(mib << 20, 2, random_percent),
        hash: payload(8 << 20, 3),
    };
    let total = (payloads.boot.len() + payloads.root.len() + payloads.hash.len()) as u64;
    let mut targets = write_payload_targets(&files, "2.0.0", &payloads);
    let compressed: Vec<Vec<u8>> = targets
        .iter()
        .map(|(_, p)| std::fs::read(p).unwrap())
        .collect();
    drop(payloads);
    let mut manifest = Manifest::default();
    manifest.updates.push(update("2.0.0"));
    manifest
        .set_migrations(
            semver::Version::new(1, 0, 0),
            semver::Version::new(2, 0, 0),
            Vec::new(),
        )
        .unwrap();
    targets.push(manifest_target(&files, &manifest));
    let repo = host.dir.path().join("repo");
    make_repo(
        &host.root_json,
        &RepoSpec {
            version: 1,
            timestamp_expires: days(7),
            targets,
            dir: &repo,
        },
    );
    host.configure_file(&repo, "ignore_waves = true\n");

    // (a) decompress only.
    let t = Instant::now();
    let mut buf = vec![0u8; 4 << 20];
    let mut n = 0u64;
    for c in &compressed {
        let mut d = lz4_flex::frame::FrameDecoder::new(&c[..]);
        loop {
            let k = d.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            n += k as u64;
        }
    }
    let decompress = t.elapsed();
    assert_eq!(n, total);

    // (c) sha256 of the compressed bytes: TUF's check, which no updater can skip.
    let t = Instant::now();
    for c in &compressed {
        std::hint::black_box(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, c));
    }
    let hashing = t.elapsed();
    let compressed_bytes: u64 = compressed.iter().map(|c| c.len() as u64).sum();

    // (b) sequential write of the decompressed bytes, with fsync, into a file of the disk
    // image's size.
    let out = host.dir.path().join("plain.img");
    let disk_size = std::fs::metadata(&host.disk).unwrap().len();
    let decompressed: Vec<Vec<u8>> = compressed
        .iter()
        .map(|c| {
            let mut v = Vec::new();
            lz4_flex::frame::FrameDecoder::new(&c[..])
                .read_to_end(&mut v)
                .unwrap();
            v
        })
        .collect();
    // This machine's disk speed swings a lot from one second to the next, so (b) and updog run
    // alternately for several rounds and the best round of each counts. Both overwrite blocks
    // that are already allocated, as on a host's partition: (b) rewrites a file filled once
    // before timing, and an untimed first updog run fills bank B.
    let rounds: usize = std::env::var("UPDOG_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let plain_write = |create: bool| {
        let t = Instant::now();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(create)
            .truncate(false)
            .open(&out)
            .unwrap();
        if create {
            f.set_len(disk_size).unwrap();
        }
        for d in &decompressed {
            for chunk in d.chunks(4 << 20) {
                f.write_all(chunk).unwrap();
            }
        }
        f.sync_all().unwrap();
        t.elapsed()
    };
    plain_write(true);
    let o = host.run(&["update-image"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut write = Duration::MAX;
    let mut updog = Duration::MAX;
    for round in 1..=rounds {
        settle();
        let plain = plain_write(false);

        // updog update-image (the release binary), into the same disk each round.
        settle();
        let t = Instant::now();
        let o = host.run(&["update-image"]);
        let ours = t.elapsed();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        println!(
            "round {round}: plain write {:.3} s, updog {:.3} s",
            plain.as_secs_f64(),
            ours.as_secs_f64()
        );
        write = write.min(plain);
        updog = updog.min(ours);
    }
    drop(decompressed);
    std::fs::remove_file(&out).unwrap();

    let slower = decompress.max(write);
    println!(
        "payload: {:.1} MiB decompressed ({mib} MiB root, {random_percent}% incompressible, + 8 MiB hash + 40 MiB boot), {:.1} MiB compressed",
        total as f64 / 1048576.0,
        compressed_bytes as f64 / 1048576.0
    );
    println!(
        "(a) lz4 decompress only:      {:>7.3} s  {:>8.1} MB/s",
        decompress.as_secs_f64(),
        mb_s(total, decompress)
    );
    println!(
        "(b) sequential write + fsync: {:>7.3} s  {:>8.1} MB/s",
        write.as_secs_f64(),
        mb_s(total, write)
    );
    println!(
        "(c) sha256 of compressed:     {:>7.3} s  {:>8.1} MB/s of compressed data",
        hashing.as_secs_f64(),
        mb_s(compressed_bytes, hashing)
    );
    println!(
        "updog update-image:           {:>7.3} s  {:>8.1} MB/s",
        updog.as_secs_f64(),
        mb_s(total, updog)
    );
    println!(
        "updog throughput / slower of (a),(b): {:.2}",
        slower.as_secs_f64() / updog.as_secs_f64()
    );
    println!(
        "updog throughput / slowest of (a),(b),(c): {:.2}",
        slower.max(hashing).as_secs_f64() / updog.as_secs_f64()
    );
}
