//! Throughput and latency of the real `apiserver` on a Unix socket, driven with the `apiclient`
//! library: one connection per request (like the CLI) and one kept-alive connection
//! ([`apiclient::Client`]), which measures the server rather than `connect()` and thread start.
//!
//! Runs only when given `--bench` (`cargo bench -p apiserver`), so `cargo test --all-targets`
//! builds it without running it; `cargo bench -p apiserver -- WORD` runs only the measurements
//! whose name contains WORD (e.g. `connection`). Prints requests/s, p50 and p99 for `GET /settings` with ~500
//! keys populated (from the read cache; and right after each commit, uncached) and for set +
//! `commit_and_apply`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use datastore::{Committed, FilesystemDataStore, Key};

fn report(name: &str, mut samples: Vec<Duration>, total: Duration) {
    if samples.is_empty() {
        return;
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
    println!(
        "{name}: {} requests, {:.0} req/s, p50 {:?}, p99 {:?}",
        samples.len(),
        samples.len() as f64 / total.as_secs_f64(),
        pct(0.50),
        pct(0.99)
    );
}

fn time(n: usize, mut f: impl FnMut(usize)) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let samples = (0..n)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed()
        })
        .collect();
    (samples, start.elapsed())
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let dir = tempfile::tempdir().unwrap();
    let ds = datastore::create(dir.path().join("datastore"), "1.0.0").unwrap();
    {
        let store = FilesystemDataStore::open(&ds).unwrap();
        let pairs = (0..500)
            .map(|i| {
                (
                    Key::data(&format!(
                        "settings.kubernetes.node-labels.\"example.com/l{i}\""
                    ))
                    .unwrap(),
                    format!("\"value-{i}\""),
                )
            })
            .collect();
        store.set_keys(&pairs, &Committed::Live).unwrap();
    }
    let socket = dir.path().join("api.sock");
    let os_release = dir.path().join("os-release");
    std::fs::write(&os_release, "NAME=Bottlerocket\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_apiserver"))
        .arg("--socket-path")
        .arg(&socket)
        .arg("--datastore-path")
        .arg(&ds)
        .arg("--apply-command")
        .arg("cat")
        .arg("--os-release-path")
        .arg(&os_release)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&socket);

    // The datastore alone, for comparison with the full request path.
    let store = FilesystemDataStore::open(&ds).unwrap();
    let name = "datastore get_prefix (500 keys, in process)";
    let (samples, total) = time(if wanted(name) { 2000 } else { 0 }, |_| {
        let pairs = store.get_prefix("settings.", &Committed::Live).unwrap();
        assert_eq!(pairs.len(), 500);
    });
    report(name, samples, total);

    let name = "GET /settings (500 keys, connection per request)";
    let (samples, total) = time(if wanted(name) { 5000 } else { 0 }, |_| {
        let r = apiclient::request(&socket, "GET", "/settings", None).unwrap();
        assert_eq!(r.status, 200);
    });
    report(name, samples, total);

    // Two clients in parallel, a new connection per request each.
    let name = "GET /settings (500 keys, connection per request, 2 clients)";
    let n = if wanted(name) { 5000 } else { 0 };
    let start = Instant::now();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                time(n, |_| {
                    let r = apiclient::request(&socket, "GET", "/settings", None).unwrap();
                    assert_eq!(r.status, 200);
                })
                .0
            })
        })
        .collect();
    let samples = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    report(name, samples, start.elapsed());

    let mut client = apiclient::Client::new(&socket);
    let name = "GET /settings (500 keys, keep-alive)";
    let (samples, total) = time(if wanted(name) { 20000 } else { 0 }, |_| {
        let r = client.request("GET", "/settings", None).unwrap();
        assert_eq!(r.status, 200);
    });
    report(name, samples, total);

    // Two kept-alive clients in parallel (the machine has two cores).
    let name = "GET /settings (500 keys, keep-alive, 2 clients)";
    let n = if wanted(name) { 10000 } else { 0 };
    let start = Instant::now();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let mut client = apiclient::Client::new(&socket);
                time(n, |_| {
                    let r = client.request("GET", "/settings", None).unwrap();
                    assert_eq!(r.status, 200);
                })
                .0
            })
        })
        .collect();
    let samples = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    report(name, samples, start.elapsed());

    // Cache misses: every read follows a commit by another process (only the GET is timed).
    let mut samples = Vec::new();
    let mut total = Duration::ZERO;
    let name = "GET /settings after an external commit (cache miss, keep-alive)";
    for i in 0..if wanted(name) { 300 } else { 0 } {
        store
            .set_key(
                &Key::data("settings.motd").unwrap(),
                &format!("\"miss {i}\""),
                &Committed::Live,
            )
            .unwrap();
        let t = Instant::now();
        let r = client.request("GET", "/settings", None).unwrap();
        let elapsed = t.elapsed();
        assert!(r.body.contains(&format!("miss {i}")));
        samples.push(elapsed);
        total += elapsed;
    }
    report(name, samples, total);

    let name = "PATCH /settings + POST /tx/commit_and_apply";
    let (samples, total) = time(if wanted(name) { 300 } else { 0 }, |i| {
        let settings = serde_json::json!({"motd": format!("bench {i}")});
        apiclient::set_settings(&socket, &settings).unwrap();
    });
    report(name, samples, total);

    let _ = child.kill();
    let _ = child.wait();
}

fn wait_for(socket: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while apiclient::request(socket, "GET", "/tx/list", None).is_err() {
        assert!(Instant::now() < deadline, "apiserver did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
}
