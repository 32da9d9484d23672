//! Threads writing, committing and reading at once, through one handle and through two handles
//! (whose writers exclude each other only by flock, as separate processes would).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use datastore::{Committed, FilesystemDataStore, Key};

const WRITERS: usize = 4;
const ROUNDS: u64 = 12;
const KEYS_PER_WRITER: usize = 8;

fn key(name: &str) -> Key {
    Key::data(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Per writer: the set of values its keys hold in `view` (one value if its commits are atomic).
fn values_by_writer(view: &HashMap<Key, String>) -> BTreeMap<String, Vec<u64>> {
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (k, v) in view {
        let writer = k.segments()[1].clone();
        out.entry(writer).or_default().push(v.parse().unwrap());
    }
    for values in out.values_mut() {
        values.sort();
        values.dedup();
    }
    out
}

#[test]
fn concurrent_writers_and_readers() {
    let dir = tempfile::tempdir().unwrap();
    let first = Arc::new(FilesystemDataStore::create_at(dir.path().join("ds")).unwrap());
    let second = Arc::new(FilesystemDataStore::open(first.path()).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));

    let readers: Vec<_> = (0..2)
        .map(|r| {
            let ds = Arc::clone(if r == 0 { &first } else { &second });
            let (done, reads) = (Arc::clone(&done), Arc::clone(&reads));
            thread::spawn(move || {
                let mut seen: BTreeMap<String, u64> = BTreeMap::new();
                while !done.load(Ordering::Relaxed) {
                    let view = ds.get_prefix("w.", &Committed::Live).unwrap();
                    for (writer, values) in values_by_writer(&view) {
                        assert_eq!(values.len(), 1, "{writer} torn: {values:?}");
                        let count = view.keys().filter(|k| k.segments()[1] == writer).count();
                        assert_eq!(count, KEYS_PER_WRITER, "{writer} partially visible");
                        let previous = seen.insert(writer.clone(), values[0]).unwrap_or(0);
                        assert!(values[0] >= previous, "{writer} went back");
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let ds = Arc::clone(if w % 2 == 0 { &first } else { &second });
            thread::spawn(move || {
                let tx = format!("tx{w}");
                for round in 1..=ROUNDS {
                    let pairs: HashMap<Key, String> = (0..KEYS_PER_WRITER)
                        .map(|i| (key(&format!("w.t{w}.k{i}")), round.to_string()))
                        .collect();
                    // Split over two calls, so the transaction is built up piecewise.
                    let (a, b): (HashMap<_, _>, HashMap<_, _>) = pairs
                        .into_iter()
                        .partition(|(k, _)| k.name().ends_with(['0', '1', '2']));
                    let pending = Committed::pending(tx.as_str()).unwrap();
                    ds.set_keys(&a, &pending).unwrap();
                    ds.set_keys(&b, &pending).unwrap();
                    let changed = ds.commit_transaction(&tx).unwrap();
                    assert_eq!(changed.len(), KEYS_PER_WRITER, "writer {w} round {round}");
                }
            })
        })
        .collect();

    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().unwrap();
    }

    // No committed write was lost: every writer's keys hold its last round, and every commit
    // made exactly one generation.
    let live = first.get_prefix("", &Committed::Live).unwrap();
    assert_eq!(live.len(), WRITERS * KEYS_PER_WRITER);
    assert!(live.values().all(|v| *v == ROUNDS.to_string()), "{live:?}");
    assert_eq!(first.generation().unwrap(), WRITERS as u64 * ROUNDS);
    assert!(first.list_transactions().unwrap().is_empty());
    assert!(reads.load(Ordering::Relaxed) > 0);
}

#[test]
fn concurrent_writes_to_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let ds = Arc::new(FilesystemDataStore::create_at(dir.path().join("ds")).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let ds = Arc::clone(&ds);
            thread::spawn(move || {
                let pending = Committed::pending("shared").unwrap();
                for i in 0..10 {
                    let pair = HashMap::from([(key(&format!("s.t{t}.k{i}")), i.to_string())]);
                    ds.set_keys(&pair, &pending).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(ds.commit_transaction("shared").unwrap().len(), 40);
    assert_eq!(
        ds.list_populated_keys("s.", &Committed::Live)
            .unwrap()
            .len(),
        40
    );
}
