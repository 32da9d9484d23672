//! Throughput of `twoliter_verity::build` against `veritysetup format` on the same 1 GiB file.
//!
//! `cargo bench -p twoliter-verity` (release profile). The data file is taken from
//! `VERITY_BENCH_FILE`, or `/var/tmp/twoliter-verity-bench-1g.bin`, created with pseudo-random
//! data when missing or of the wrong size and kept for later runs. Both tools run against a warm
//! page cache (the file is re-read before every run), alternately, `VERITY_BENCH_RUNS` times
//! each (default 5); best and median times are reported.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use twoliter_verity::{build, VerityParams};

const SIZE: u64 = 1 << 30;

fn ensure_data(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    if fs::metadata(path).map(|m| m.len() == SIZE).unwrap_or(false) {
        return Ok(());
    }
    eprintln!(
        "creating {} ({} MiB of pseudo-random data)",
        path.display(),
        SIZE >> 20
    );
    let mut w = BufWriter::with_capacity(8 << 20, fsutil::AtomicFile::create(path, 0o644)?);
    let mut state: u64 = 0x1234_5678_9abc_def0;
    let mut chunk = vec![0u8; 8 << 20];
    for _ in 0..SIZE / chunk.len() as u64 {
        for word in chunk.chunks_exact_mut(8) {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            word.copy_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        w.write_all(&chunk)?;
    }
    w.into_inner().map_err(|e| e.into_error())?.commit()?;
    Ok(())
}

fn warm(path: &Path) -> std::io::Result<()> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 8 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

/// Times one run of `f` after re-reading the data (to undo any page-cache reclaim in between).
fn timed<F: FnMut() -> String>(data: &Path, mut f: F) -> (Duration, String) {
    warm(data).expect("read benchmark data");
    let t = Instant::now();
    let result = f();
    (t.elapsed(), result)
}

fn best_and_median(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[0], times[times.len() / 2])
}

fn mbps(d: Duration) -> f64 {
    SIZE as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    // `cargo test --all-targets` also runs bench binaries, without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("verity benchmark: run with `cargo bench -p twoliter-verity`");
        return;
    }
    let data = std::env::var_os("VERITY_BENCH_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/twoliter-verity-bench-1g.bin"));
    let runs: usize = std::env::var("VERITY_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    ensure_data(&data).expect("create benchmark data");
    let ours_out = data.with_extension("ours.verity");
    let theirs_out = data.with_extension("veritysetup.verity");
    let params = VerityParams::from_inputs(&[b"bench"]);

    let ours = || {
        build(&data, &ours_out, &params)
            .expect("build")
            .root_hash_hex()
    };
    let theirs = || {
        let _ = fs::remove_file(&theirs_out);
        let out = Command::new("veritysetup")
            .args(["format", "--format", "1", "--hash", "sha256"])
            .args(["--data-block-size", "4096", "--hash-block-size", "4096"])
            .args([
                "--salt",
                &params.salt_hex(),
                "--uuid",
                &params.uuid_string(),
            ])
            .arg(&data)
            .arg(&theirs_out)
            .output()
            .expect("run veritysetup (apt-get install cryptsetup-bin)");
        assert!(out.status.success(), "veritysetup format failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("Root hash:"))
            .map(|h| h.trim().to_string())
            .unwrap_or_default()
    };
    // Interleave the two tools so that noise from the host hits both alike.
    let (mut t_ours, mut t_theirs) = (Vec::new(), Vec::new());
    let (mut root_ours, mut root_theirs) = (String::new(), String::new());
    for _ in 0..runs.max(1) {
        let (t, r) = timed(&data, ours);
        t_ours.push(t);
        root_ours = r;
        let (t, r) = timed(&data, theirs);
        t_theirs.push(t);
        root_theirs = r;
    }
    assert_eq!(root_ours, root_theirs, "root hashes differ");
    let identical = fs::read(&ours_out).ok() == fs::read(&theirs_out).ok();
    let _ = fs::remove_file(&ours_out);
    let _ = fs::remove_file(&theirs_out);
    let (ours_best, ours_median) = best_and_median(t_ours);
    let (theirs_best, theirs_median) = best_and_median(t_theirs);

    println!(
        "data: {} ({} MiB), {runs} interleaved runs, rayon threads: {}",
        data.display(),
        SIZE >> 20,
        rayon::current_num_threads()
    );
    for (name, best, median) in [
        ("twoliter-verity", ours_best, ours_median),
        ("veritysetup", theirs_best, theirs_median),
    ] {
        println!(
            "{name:<16} best {:.3} s ({:.0} MB/s), median {:.3} s ({:.0} MB/s)",
            best.as_secs_f64(),
            mbps(best),
            median.as_secs_f64(),
            mbps(median)
        );
    }
    println!(
        "speedup (veritysetup / ours): best {:.2}x, median {:.2}x; root hashes equal; \
         hash files identical: {identical}",
        theirs_best.as_secs_f64() / ours_best.as_secs_f64(),
        theirs_median.as_secs_f64() / ours_median.as_secs_f64()
    );
}
