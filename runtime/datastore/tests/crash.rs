//! Crash consistency: child processes commit in a loop and are SIGKILLed at random points; after
//! recovery, live must hold exactly one generation's values.
//!
//! The children are this test binary run again with `DATASTORE_TEST_CHILD` set, selecting the
//! `child_process` test, which then acts as a writer instead of returning at once.

use std::collections::{BTreeMap, HashMap};
use std::env;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use datastore::{create, Committed, FilesystemDataStore, Key};

/// Keys each transaction sets.
const KEYS: usize = 50;
/// Kill-and-recover rounds.
const ROUNDS: usize = 200;
const READY: &str = "DATASTORE-CHILD-READY";
const CHILD_ENV: &str = "DATASTORE_TEST_CHILD";
const DIR_ENV: &str = "DATASTORE_TEST_DIR";
const TX: &str = "crash";

/// A small seeded PRNG (SplitMix64), so a failing run can be replayed with the same seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn key(name: &str) -> Key {
    Key::data(name).unwrap_or_else(|e| panic!("{e}"))
}

fn gen_key(i: usize) -> Key {
    key(&format!("settings.crash.k{i}"))
}

fn odd_key() -> Key {
    key("settings.crash.odd")
}

fn quoted_key() -> Key {
    key("settings.crash.labels.\"example.com/gen\"")
}

fn gen_meta() -> Key {
    Key::meta("generation").unwrap()
}

/// One transaction moving every key to generation `n`: 50 keys (one quoted) set to `n`,
/// `settings.crash.odd` present only in odd generations, metadata naming `n`.
fn commit_generation(ds: &FilesystemDataStore, n: u64) {
    let tx = Committed::pending(TX).unwrap();
    let mut pairs: HashMap<Key, String> =
        (0..KEYS - 1).map(|i| (gen_key(i), n.to_string())).collect();
    pairs.insert(quoted_key(), n.to_string());
    if n % 2 == 1 {
        pairs.insert(odd_key(), n.to_string());
    }
    ds.set_keys(&pairs, &tx).unwrap();
    if n.is_multiple_of(2) {
        ds.unset_key(&odd_key(), &tx).unwrap();
    }
    ds.set_metadata(&gen_meta(), &key("settings.crash"), &n.to_string(), &tx)
        .unwrap();
    ds.commit_transaction(TX).unwrap();
}

/// The generation live is at, after checking that every key agrees on it.
fn check_live(ds: &FilesystemDataStore) -> u64 {
    let live = ds.get_prefix("settings.", &Committed::Live).unwrap();
    let mut values: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in &live {
        if *k != odd_key() && !k.name().starts_with("settings.other") {
            values.entry(v.as_str()).or_default().push(k.name());
        }
    }
    let n = match values.len() {
        0 => 0,
        1 => {
            let (value, keys) = values.iter().next().unwrap();
            assert_eq!(
                keys.len(),
                KEYS,
                "generation {value} is missing keys: {live:?}"
            );
            value.parse::<u64>().unwrap()
        }
        _ => panic!("live mixes generations: {values:?}"),
    };
    let odd = ds.get_key(&odd_key(), &Committed::Live).unwrap();
    assert_eq!(
        odd,
        (n % 2 == 1).then(|| n.to_string()),
        "odd key in generation {n}"
    );
    let meta = ds
        .get_metadata(&gen_meta(), &key("settings.crash"), &Committed::Live)
        .unwrap();
    assert_eq!(
        meta,
        (n > 0).then(|| n.to_string()),
        "metadata in generation {n}"
    );
    n
}

/// Leftovers of an interrupted commit that recovery has to deal with, by kind: a half-built
/// generation, a temp symlink, a generation besides the live one (built but not linked, or old
/// and not yet deleted), a commit marker (transaction cleanup unfinished).
fn leftovers(root: &Path) -> [usize; 4] {
    let mut kinds = [0; 4];
    let mut generations = 0;
    for entry in fs::read_dir(root).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            kinds[0] += 1;
        } else if name.starts_with('.') && name.ends_with(".link") {
            kinds[1] += 1;
        } else if name.starts_with("live.") {
            generations += 1;
        }
    }
    kinds[2] = generations - 1;
    let target = fs::read_link(root.join("live")).unwrap();
    if root.join(target).join(".committed-tx").exists() {
        kinds[3] += 1;
    }
    kinds
}

/// After recovery: one generation, the link to it, nothing hidden in it.
fn check_clean(root: &Path) {
    let mut names: Vec<String> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let target = fs::read_link(root.join("live")).unwrap();
    let target = target.to_string_lossy().into_owned();
    assert_eq!(
        names,
        [".lock", "live", target.as_str(), "pending"],
        "after recovery"
    );
    let mut stack = vec![root.join(&target), root.join("pending")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with('.'),
                "leftover {}",
                entry.path().display()
            );
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            }
        }
    }
}

fn spawn_child(dir: &Path, mode: &str) -> Child {
    Command::new(env::current_exe().unwrap())
        .args([
            "--exact",
            "crash::child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, mode)
        .env(DIR_ENV, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_ready(child: &mut Child) {
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap_or(0) > 0 {
        if line.contains(READY) {
            // Keep draining, so the child never writes into a closed pipe.
            std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
            return;
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    panic!("child exited before it was ready: {stderr}");
}

/// The writer side: only does something when started by the tests below.
#[test]
fn child_process() {
    let Ok(mode) = env::var(CHILD_ENV) else {
        return;
    };
    let dir = env::var_os(DIR_ENV).unwrap();
    let ds = FilesystemDataStore::open(&dir).unwrap();
    match mode.as_str() {
        "crash" => {
            // A transaction left half-written by the previous child is dropped.
            ds.delete_transaction(TX).unwrap();
            println!("{READY}");
            std::io::stdout().flush().unwrap();
            loop {
                let n = check_live(&ds);
                commit_generation(&ds, n + 1);
            }
        }
        other => {
            // "writer-<id>": 20 commits to keys of its own, racing another process.
            let id = other.strip_prefix("writer-").unwrap();
            println!("{READY}");
            std::io::stdout().flush().unwrap();
            for round in 1..=20u64 {
                let tx = format!("w{id}");
                let pairs: HashMap<Key, String> = (0..10)
                    .map(|i| (key(&format!("settings.other{id}.k{i}")), round.to_string()))
                    .collect();
                ds.set_keys(&pairs, &Committed::pending(tx.as_str()).unwrap())
                    .unwrap();
                let changed = ds.commit_transaction(&tx).unwrap();
                assert_eq!(changed.len(), 10);
            }
        }
    }
}

#[test]
fn commits_survive_sigkill_at_any_point() {
    if env::var(CHILD_ENV).is_ok() {
        return;
    }
    let seed = env::var("DATASTORE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_da7a_u64);
    let mut rng = SplitMix64(seed);
    let base = tempfile::tempdir().unwrap();
    let current = create(base.path(), "1.0.0").unwrap();
    let root = fs::canonicalize(&current).unwrap();

    // How long one transaction takes here (a few ms on tmpfs, tens of ms on a disk that really
    // syncs), so kill delays spread uniformly over a whole transaction: the pending writes, the
    // generation build, the link swap and the cleanup.
    let cycle = {
        let scratch = tempfile::tempdir().unwrap();
        let ds = FilesystemDataStore::create_at(scratch.path().join("ds")).unwrap();
        let start = Instant::now();
        for n in 1..=5 {
            commit_generation(&ds, n);
        }
        start.elapsed() / 5
    };
    let max_delay = cycle.max(Duration::from_millis(3));

    let started = Instant::now();
    let (mut last, mut dirty, mut advanced, mut kinds) = (0u64, 0usize, 0usize, [0usize; 4]);
    for round in 0..ROUNDS {
        let mut child = spawn_child(&root, "crash");
        wait_ready(&mut child);
        let delay = Duration::from_micros(rng.below(max_delay.as_micros() as u64));
        std::thread::sleep(delay);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        if status.signal() != Some(9) {
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            panic!("round {round}: writer ended on its own ({status}): {stderr}");
        }
        let found = leftovers(&root);
        if found.iter().any(|&n| n > 0) {
            dirty += 1;
        }
        for (total, n) in kinds.iter_mut().zip(found) {
            *total += usize::from(n > 0);
        }

        let ds = FilesystemDataStore::open(&current).unwrap();
        check_clean(&root);
        let n = check_live(&ds);
        assert!(
            n >= last,
            "round {round} (seed {seed}): live went back from {last} to {n}"
        );
        if n > last {
            advanced += 1;
        }
        last = n;
    }
    eprintln!(
        "{ROUNDS} kills (seed {seed}, cycle {cycle:?}, delays up to {max_delay:?}) in {:?}: \
         {last} generations committed, {advanced} rounds advanced, {dirty} left an interrupted \
         commit to recover (tmp generation / temp link / extra generation / commit marker: \
         {kinds:?})",
        started.elapsed()
    );
    assert!(advanced > 0, "no kill landed after a commit");
    assert!(dirty > 0, "no kill landed inside a commit");
}

#[test]
fn two_processes_commit_concurrently() {
    if env::var(CHILD_ENV).is_ok() {
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let current = create(base.path(), "1.0.0").unwrap();
    let root = fs::canonicalize(&current).unwrap();
    let mut children: Vec<Child> = (0..2)
        .map(|id| spawn_child(&root, &format!("writer-{id}")))
        .collect();
    for child in &mut children {
        wait_ready(child);
    }
    for mut child in children {
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
        assert!(status.success(), "writer failed ({status}): {stderr}");
    }
    let ds = FilesystemDataStore::open(&current).unwrap();
    assert_eq!(ds.generation().unwrap(), 40);
    let live = ds.get_prefix("settings.", &Committed::Live).unwrap();
    assert_eq!(live.len(), 20);
    assert!(live.values().all(|v| v == "20"), "{live:?}");
    check_clean(&root);
}
