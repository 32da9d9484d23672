//! Functional tests of the filesystem datastore.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use datastore::{
    create, create_version_dir, current_version, from_pairs, link_version, to_pairs, Committed,
    DatastoreVersion, Error, FilesystemDataStore, Key,
};
use serde_json::json;

fn key(name: &str) -> Key {
    Key::data(name).unwrap_or_else(|e| panic!("{e}"))
}

fn meta(name: &str) -> Key {
    Key::meta(name).unwrap_or_else(|e| panic!("{e}"))
}

fn pending(tx: &str) -> Committed {
    Committed::pending(tx).unwrap()
}

fn pairs(list: &[(&str, &str)]) -> HashMap<Key, String> {
    list.iter().map(|(k, v)| (key(k), v.to_string())).collect()
}

fn keys(list: &[&str]) -> HashSet<Key> {
    list.iter().map(|k| key(k)).collect()
}

fn new_store() -> (tempfile::TempDir, FilesystemDataStore) {
    let dir = tempfile::tempdir().unwrap();
    let current = create(dir.path(), "1.0.0").unwrap();
    let store = FilesystemDataStore::open(current).unwrap();
    (dir, store)
}

/// Every name in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// Every regular file under `dir` (symlinks not followed), relative.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let file_type = entry.file_type().unwrap();
            if file_type.is_dir() {
                stack.push(path);
            } else if file_type.is_file() {
                out.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn version_links_lead_to_the_datastore() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("datastore");
    let current = create(&base, "1.2.3").unwrap();
    assert_eq!(current, base.join("current"));
    let link = |name: &str| fs::read_link(base.join(name)).unwrap();
    assert_eq!(link("current"), Path::new("v1"));
    assert_eq!(link("v1"), Path::new("v1.2"));
    assert_eq!(link("v1.2"), Path::new("v1.2.3"));
    let target = link("v1.2.3").to_string_lossy().into_owned();
    let id = target.strip_prefix("v1.2.3_").expect(&target);
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(
        fs::canonicalize(&current).unwrap(),
        fs::canonicalize(base.join(&target)).unwrap()
    );
    assert_eq!(
        names(&base.join(&target)),
        [".lock", "live", "live.0", "pending"]
    );
    assert_eq!(
        current_version(&base).unwrap(),
        DatastoreVersion::new(1, 2, 3)
    );

    // A second create refuses to replace the datastore.
    assert!(matches!(
        create(&base, "1.2.3"),
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        create(&base, "1.2"),
        Err(Error::InvalidVersion { .. })
    ));

    // A migration fills a new version directory and flips the links.
    let old = FilesystemDataStore::open(&current).unwrap();
    old.set_keys(&pairs(&[("settings.motd", "\"old\"")]), &Committed::Live)
        .unwrap();
    let next = DatastoreVersion::new(1, 3, 0);
    let new_dir = create_version_dir(&base, &next).unwrap();
    let new = FilesystemDataStore::open(&new_dir).unwrap();
    new.set_keys(&pairs(&[("settings.motd", "\"new\"")]), &Committed::Live)
        .unwrap();
    link_version(&base, &next, &new_dir).unwrap();
    assert_eq!(link("v1"), Path::new("v1.3"));
    assert_eq!(link("v1.2"), Path::new("v1.2.3"));
    assert_eq!(current_version(&base).unwrap(), next);
    let reopened = FilesystemDataStore::open(&current).unwrap();
    assert_eq!(
        reopened
            .get_key(&key("settings.motd"), &Committed::Live)
            .unwrap()
            .as_deref(),
        Some("\"new\"")
    );
}

#[test]
fn set_get_unset_commit() {
    let (_dir, ds) = new_store();
    let tx = pending("tx1");
    ds.set_keys(
        &pairs(&[
            ("settings.motd", "\"hi\""),
            ("settings.a.b", "1"),
            ("settings.c", "true"),
        ]),
        &tx,
    )
    .unwrap();
    assert_eq!(
        ds.get_key(&key("settings.motd"), &Committed::Live).unwrap(),
        None
    );
    assert_eq!(
        ds.get_key(&key("settings.motd"), &tx).unwrap().as_deref(),
        Some("\"hi\"")
    );
    assert_eq!(
        ds.list_transactions().unwrap(),
        HashSet::from(["tx1".to_string()])
    );

    let changed = ds.commit_transaction("tx1").unwrap();
    assert_eq!(
        changed,
        keys(&["settings.motd", "settings.a.b", "settings.c"])
    );
    assert!(ds.list_transactions().unwrap().is_empty());
    assert_eq!(
        ds.get_prefix("settings.", &Committed::Live).unwrap(),
        pairs(&[
            ("settings.motd", "\"hi\""),
            ("settings.a.b", "1"),
            ("settings.c", "true")
        ])
    );

    // Unset is a tombstone in the transaction and a removal on commit.
    let tx2 = pending("tx2");
    ds.unset_key(&key("settings.motd"), &tx2).unwrap();
    ds.set_keys(
        &pairs(&[("settings.c", "true"), ("settings.d", "[1,2]")]),
        &tx2,
    )
    .unwrap();
    assert_eq!(ds.get_key(&key("settings.motd"), &tx2).unwrap(), None);
    assert!(ds
        .get_key(&key("settings.motd"), &Committed::Live)
        .unwrap()
        .is_some());
    let changes = ds.pending_changes("tx2").unwrap();
    assert_eq!(changes.unset, keys(&["settings.motd"]));
    assert_eq!(
        changes.set,
        pairs(&[("settings.c", "true"), ("settings.d", "[1,2]")])
    );
    // settings.c is set to the value it already has: not a change.
    assert_eq!(
        ds.commit_transaction("tx2").unwrap(),
        keys(&["settings.motd", "settings.d"])
    );
    assert_eq!(
        ds.get_key(&key("settings.motd"), &Committed::Live).unwrap(),
        None
    );
    assert_eq!(
        ds.get_key(&key("settings.d"), &Committed::Live)
            .unwrap()
            .as_deref(),
        Some("[1,2]")
    );

    // Each commit is one generation; old ones are gone.
    assert_eq!(ds.generation().unwrap(), 2);
    assert_eq!(names(ds.path()), [".lock", "live", "live.2", "pending"]);
}

#[test]
fn pending_reads_overlay_live() {
    let (_dir, ds) = new_store();
    ds.set_keys(
        &pairs(&[("s.a", "1"), ("s.b", "2"), ("s.keep", "0")]),
        &Committed::Live,
    )
    .unwrap();
    let tx = pending("t");
    ds.set_keys(&pairs(&[("s.b", "3"), ("s.c", "4")]), &tx)
        .unwrap();
    ds.unset_key(&key("s.a"), &tx).unwrap();
    assert_eq!(
        ds.get_prefix("s.", &tx).unwrap(),
        pairs(&[("s.b", "3"), ("s.c", "4"), ("s.keep", "0")])
    );
    assert_eq!(
        ds.list_populated_keys("", &tx).unwrap(),
        keys(&["s.b", "s.c", "s.keep"])
    );
    assert_eq!(
        ds.get_prefix("s.", &Committed::Live).unwrap(),
        pairs(&[("s.a", "1"), ("s.b", "2"), ("s.keep", "0")])
    );
    // A transaction that doesn't exist reads as live.
    assert_eq!(ds.get_prefix("", &pending("nope")).unwrap().len(), 3);
    // Re-setting an unset key replaces the tombstone.
    ds.set_keys(&pairs(&[("s.a", "5")]), &tx).unwrap();
    assert_eq!(ds.get_key(&key("s.a"), &tx).unwrap().as_deref(), Some("5"));
    // String prefixes, not just whole segments.
    assert_eq!(
        ds.list_populated_keys("s.k", &Committed::Live).unwrap(),
        keys(&["s.keep"])
    );
    assert!(ds
        .list_populated_keys("x", &Committed::Live)
        .unwrap()
        .is_empty());
}

#[test]
fn empty_commits_are_distinguishable() {
    let (_dir, ds) = new_store();
    let err = ds.commit_transaction("missing").unwrap_err();
    assert!(err.is_nothing_to_commit(), "{err}");
    assert!(matches!(err, Error::NothingToCommit { ref tx } if tx == "missing"));
    assert!(err.to_string().contains("'missing'"));
    // Committing twice: the second time there's nothing left.
    ds.set_keys(&pairs(&[("a", "1")]), &pending("t")).unwrap();
    ds.commit_transaction("t").unwrap();
    assert!(ds
        .commit_transaction("t")
        .unwrap_err()
        .is_nothing_to_commit());
    assert_eq!(ds.generation().unwrap(), 1);
}

#[test]
fn metadata() {
    let (_dir, ds) = new_store();
    let services = meta("affected-services");
    let template = meta("template");
    ds.set_keys(
        &pairs(&[
            ("settings.motd", "\"hi\""),
            ("settings.kubernetes.max-pods", "10"),
        ]),
        &Committed::Live,
    )
    .unwrap();
    ds.set_metadata(
        &services,
        &key("settings.motd"),
        "[\"motd\"]",
        &Committed::Live,
    )
    .unwrap();
    // Metadata on a key with sub-keys and on a key without a value.
    ds.set_metadata(
        &services,
        &key("settings.kubernetes"),
        "[\"kubelet\"]",
        &Committed::Live,
    )
    .unwrap();
    ds.set_metadata(
        &template,
        &key("services.motd"),
        "\"/etc/motd\"",
        &Committed::Live,
    )
    .unwrap();

    assert_eq!(
        ds.get_metadata(&services, &key("settings.motd"), &Committed::Live)
            .unwrap()
            .as_deref(),
        Some("[\"motd\"]")
    );
    assert_eq!(
        ds.get_metadata(&template, &key("settings.motd"), &Committed::Live)
            .unwrap(),
        None
    );
    // Metadata never shows up as data.
    assert_eq!(
        ds.list_populated_keys("", &Committed::Live).unwrap(),
        keys(&["settings.motd", "settings.kubernetes.max-pods"])
    );
    let all = ds
        .list_populated_metadata("", &Committed::Live, None)
        .unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        all[&key("services.motd")],
        HashSet::from([template.clone()])
    );
    let settings_only = ds
        .list_populated_metadata("settings", &Committed::Live, Some(&services))
        .unwrap();
    assert_eq!(
        settings_only.keys().cloned().collect::<HashSet<_>>(),
        keys(&["settings.motd", "settings.kubernetes"])
    );
    assert_eq!(
        ds.get_metadata_prefix("settings.", &services, &Committed::Live)
            .unwrap(),
        pairs(&[
            ("settings.motd", "[\"motd\"]"),
            ("settings.kubernetes", "[\"kubelet\"]")
        ])
    );

    // Metadata in a transaction overlays live and commits with it.
    let tx = pending("m");
    ds.set_metadata(&services, &key("settings.motd"), "[\"motd\",\"x\"]", &tx)
        .unwrap();
    ds.unset_metadata(&services, &key("settings.kubernetes"), &tx)
        .unwrap();
    assert_eq!(
        ds.get_metadata_prefix("settings.", &services, &tx).unwrap(),
        pairs(&[("settings.motd", "[\"motd\",\"x\"]")])
    );
    let changes = ds.pending_changes("m").unwrap();
    assert_eq!(
        changes.metadata_unset[&key("settings.kubernetes")],
        HashSet::from([services.clone()])
    );
    // Only metadata changed: the commit succeeds and reports no changed data keys.
    assert!(ds.commit_transaction("m").unwrap().is_empty());
    assert_eq!(
        ds.get_metadata_prefix("", &services, &Committed::Live)
            .unwrap(),
        pairs(&[("settings.motd", "[\"motd\",\"x\"]")])
    );
    // Wrong key types and bad values are refused.
    assert!(ds
        .get_metadata(&key("a"), &key("b"), &Committed::Live)
        .is_err());
    assert!(ds
        .set_metadata(&services, &key("a"), "not json", &Committed::Live)
        .is_err());
}

#[test]
fn deleting_a_transaction() {
    let (_dir, ds) = new_store();
    ds.set_keys(&pairs(&[("a", "1")]), &Committed::Live)
        .unwrap();
    let tx = pending("doomed");
    ds.set_keys(&pairs(&[("a", "2"), ("b.c", "3")]), &tx)
        .unwrap();
    ds.set_keys(&pairs(&[("x", "9")]), &pending("other"))
        .unwrap();
    assert_eq!(
        ds.delete_transaction("doomed").unwrap(),
        keys(&["a", "b.c"])
    );
    assert_eq!(
        ds.list_transactions().unwrap(),
        HashSet::from(["other".to_string()])
    );
    assert_eq!(ds.get_key(&key("a"), &tx).unwrap().as_deref(), Some("1"));
    assert!(ds.delete_transaction("doomed").unwrap().is_empty());
    assert!(ds
        .commit_transaction("doomed")
        .unwrap_err()
        .is_nothing_to_commit());
    assert_eq!(names(&ds.path().join("pending")), ["other"]);
}

#[test]
fn reopen_sees_committed_data() {
    let dir = tempfile::tempdir().unwrap();
    let current = create(dir.path(), "1.0.0").unwrap();
    {
        let ds = FilesystemDataStore::open(&current).unwrap();
        ds.set_keys(&pairs(&[("settings.motd", "\"hi\"")]), &pending("t"))
            .unwrap();
        ds.commit_transaction("t").unwrap();
        ds.set_keys(&pairs(&[("settings.left", "1")]), &pending("open"))
            .unwrap();
    }
    let ds = FilesystemDataStore::open(&current).unwrap();
    assert_eq!(
        ds.get_prefix("", &Committed::Live).unwrap(),
        pairs(&[("settings.motd", "\"hi\"")])
    );
    assert_eq!(
        ds.list_transactions().unwrap(),
        HashSet::from(["open".to_string()])
    );
    assert_eq!(
        ds.commit_transaction("open").unwrap(),
        keys(&["settings.left"])
    );
}

#[test]
fn quoted_segments_and_json_round_trip() {
    let (_dir, ds) = new_store();
    let doc = json!({"settings": {"kubernetes": {"node-labels": {
        "example.com/role": "web",
        "k8s.io/cluster-autoscaler/enabled": "true",
    }, "node-taints": {"dedicated": ["a:NoSchedule", "b:NoExecute"]}}, "motd": "hi"}});
    let flat = to_pairs(&doc).unwrap();
    ds.set_keys(&flat, &pending("json")).unwrap();
    ds.commit_transaction("json").unwrap();
    let role = key("settings.kubernetes.node-labels.\"example.com/role\"");
    assert_eq!(
        ds.get_key(&role, &Committed::Live).unwrap().as_deref(),
        Some("\"web\"")
    );
    let gen_dir = ds.path().join("live.1");
    assert!(gen_dir
        .join("settings/kubernetes/node-labels/example%2Ecom%2Frole")
        .is_file());
    let read_back = ds.get_prefix("settings.", &Committed::Live).unwrap();
    assert_eq!(read_back, flat);
    assert_eq!(from_pairs(&read_back).unwrap(), doc);
    // Prefix reads inside quoted segments.
    assert_eq!(
        ds.list_populated_keys(
            "settings.kubernetes.node-labels.\"example",
            &Committed::Live
        )
        .unwrap(),
        HashSet::from([role])
    );
}

#[test]
fn keys_cannot_escape_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    let current = create(&base, "1.0.0").unwrap();
    let ds = FilesystemDataStore::open(&current).unwrap();
    for bad in [
        "settings.a/../../etc",
        "..",
        "settings..x",
        "settings.\"..\"",
        "/etc/passwd.",
    ] {
        let err = Key::data(bad).expect_err(bad);
        assert!(
            matches!(err, Error::InvalidKey { ref key, .. } if key == bad),
            "{err}"
        );
    }
    // Keys that parse but look like paths are encoded into single file names.
    let sneaky = [
        "settings.\"../../../../escape\"",
        "settings.a/./etc",
        "settings./",
        "settings.\"a/../../b\".c",
        "settings.\"...\"",
    ];
    let values: HashMap<Key, String> = sneaky.iter().map(|k| (key(k), "1".to_string())).collect();
    ds.set_keys(&values, &pending("sneaky")).unwrap();
    ds.commit_transaction("sneaky").unwrap();
    ds.set_metadata(
        &meta("a/b"),
        &key("settings.\"../../x\""),
        "1",
        &Committed::Live,
    )
    .unwrap();
    assert_eq!(
        ds.list_populated_keys("", &Committed::Live).unwrap(),
        values.keys().cloned().collect()
    );
    // Nothing was written outside the store's directory, and every file is under live.N/settings.
    assert_eq!(names(dir.path()), ["base"]);
    let root = fs::canonicalize(&current).unwrap();
    let gen = format!("live.{}", ds.generation().unwrap());
    for file in files(&root) {
        let s = file.to_string_lossy();
        if s != ".lock" {
            assert!(
                s.starts_with(&format!("{gen}/settings/")),
                "unexpected file {s}"
            );
            assert!(!s.contains("/.") && !s.contains(".."), "{s}");
        }
    }
}

#[test]
fn a_key_holds_a_value_or_sub_keys() {
    let (_dir, ds) = new_store();
    ds.set_keys(
        &pairs(&[("s.leaf", "1"), ("s.tree.x", "2")]),
        &Committed::Live,
    )
    .unwrap();
    let tx = pending("c");
    let err = ds
        .set_keys(&pairs(&[("s.leaf.child", "1")]), &tx)
        .unwrap_err();
    assert!(
        matches!(err, Error::KeyConflict { ref key, ref existing, .. } if key == "s.leaf.child" && existing == "s.leaf"),
        "{err}"
    );
    let err = ds.set_keys(&pairs(&[("s.tree", "1")]), &tx).unwrap_err();
    assert!(
        matches!(err, Error::KeyConflict { ref existing, .. } if existing == "s.tree.x"),
        "{err}"
    );
    // Direct writes to live are checked at commit and leave live untouched.
    let generation = ds.generation().unwrap();
    let err = ds
        .set_keys(&pairs(&[("s.tree", "1")]), &Committed::Live)
        .unwrap_err();
    assert!(matches!(err, Error::KeyConflict { .. }), "{err}");
    assert_eq!(ds.generation().unwrap(), generation);
    assert_eq!(
        names(ds.path()),
        [".lock", "live", &format!("live.{generation}"), "pending"]
    );
    // A commit that conflicts leaves the transaction for the caller to fix.
    ds.set_keys(&pairs(&[("n.a", "1")]), &tx).unwrap();
    ds.set_keys(&pairs(&[("n.a", "1")]), &Committed::Live)
        .unwrap();
    let other = pending("other");
    ds.unset_key(&key("n.a"), &other).unwrap();
    ds.set_keys(&pairs(&[("n.b", "1")]), &other).unwrap();
    ds.commit_transaction("other").unwrap();
    // A batch that contradicts itself is refused before anything is written.
    for committed in [pending("batch"), Committed::Live] {
        let err = ds
            .set_keys(&pairs(&[("b.x", "1"), ("b.x.y", "2")]), &committed)
            .unwrap_err();
        assert!(
            matches!(err, Error::KeyConflict { ref key, ref existing, .. } if key == "b.x.y" && existing == "b.x"),
            "{err}"
        );
    }
    assert!(!ds.list_transactions().unwrap().contains("batch"));
    // Pending changes under a key block changing the key itself in that transaction.
    let t3 = pending("t3");
    ds.set_keys(&pairs(&[("p.q.r", "1")]), &t3).unwrap();
    for attempt in [
        ds.set_keys(&pairs(&[("p.q", "1")]), &t3),
        ds.unset_key(&key("p.q"), &t3),
    ] {
        let err = attempt.unwrap_err();
        assert!(
            matches!(err, Error::KeyConflict { ref existing, .. } if existing == "p.q.r"),
            "{err}"
        );
    }
    // Empty writes create nothing.
    ds.set_keys(&HashMap::new(), &pending("empty")).unwrap();
    assert!(!ds.list_transactions().unwrap().contains("empty"));
    // Removing a leaf and then giving it sub-keys in a direct live write works.
    ds.unset_key(&key("s.leaf"), &Committed::Live).unwrap();
    ds.set_keys(&pairs(&[("s.leaf.child", "1")]), &Committed::Live)
        .unwrap();
    assert_eq!(
        ds.list_populated_keys("s.", &Committed::Live).unwrap(),
        keys(&["s.leaf.child", "s.tree.x"])
    );
}

#[test]
fn invalid_input_is_refused_with_context() {
    let (_dir, ds) = new_store();
    let err = ds
        .set_keys(&pairs(&[("settings.motd", "hi")]), &Committed::Live)
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidValue { ref key, .. } if key == "settings.motd"),
        "{err}"
    );
    for bad in ["", "null", "{\"a\":1}"] {
        assert!(
            ds.set_keys(&pairs(&[("a", bad)]), &Committed::Live)
                .is_err(),
            "{bad:?}"
        );
    }
    let err = ds.get_key(&meta("m"), &Committed::Live).unwrap_err();
    assert!(err.to_string().contains("expected a data key"), "{err}");
    let bad_tx = Committed::Pending {
        tx: "../x".to_string(),
    };
    assert!(matches!(
        ds.get_key(&key("a"), &bad_tx),
        Err(Error::InvalidTransaction { .. })
    ));
    assert!(Committed::pending("a.b").is_err());
    assert!(matches!(
        ds.commit_transaction(""),
        Err(Error::InvalidTransaction { .. })
    ));
    // 100 dots fit in a key, not in a file name.
    let long = Key::from_segments(datastore::KeyType::Data, &["a", &".".repeat(100)]).unwrap();
    let err = ds
        .set_keys(&HashMap::from([(long, "1".to_string())]), &pending("t"))
        .unwrap_err();
    assert!(err.to_string().contains("percent-encoded"), "{err}");
    assert!(ds.list_transactions().unwrap().is_empty());
    // Not a datastore.
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        FilesystemDataStore::open(empty.path()),
        Err(Error::NotADatastore { .. })
    ));
}

#[test]
fn recovery_removes_leftovers_of_interrupted_commits() {
    let (_dir, ds) = new_store();
    ds.set_keys(&pairs(&[("a", "1"), ("b.c", "2")]), &pending("t"))
        .unwrap();
    ds.commit_transaction("t").unwrap();
    let root = ds.path().to_path_buf();
    drop(ds);
    // A half-built generation, a finished one the link never reached, a stale old one, a temp
    // symlink (as this and an earlier release name them), a half-deleted transaction and a temp file from an interrupted pending write.
    fs::create_dir_all(root.join("live.2.tmp/a")).unwrap();
    fs::create_dir_all(root.join("live.3/x")).unwrap();
    fs::write(root.join("live.3/x/y"), "1").unwrap();
    fs::create_dir_all(root.join("live.0")).unwrap();
    std::os::unix::fs::symlink("live.3", root.join(".link-1-1")).unwrap();
    std::os::unix::fs::symlink("live.3", root.join(".live.Ab12Cd.link")).unwrap();
    fs::create_dir_all(root.join("pending/.trash-t-1-1/z")).unwrap();
    fs::create_dir_all(root.join("pending/open/d")).unwrap();
    fs::write(root.join("pending/open/d/.tmp-1-2"), "9").unwrap();
    fs::write(root.join("pending/open/d/e"), "5").unwrap();

    let ds = FilesystemDataStore::open(&root).unwrap();
    assert_eq!(names(&root), [".lock", "live", "live.1", "pending"]);
    assert_eq!(files(&root.join("pending")), [PathBuf::from("open/d/e")]);
    assert_eq!(
        ds.get_prefix("", &Committed::Live).unwrap(),
        pairs(&[("a", "1"), ("b.c", "2")])
    );
    assert_eq!(ds.commit_transaction("open").unwrap(), keys(&["d.e"]));
}

#[test]
fn recovery_finishes_an_interrupted_transaction_cleanup() {
    let (_dir, ds) = new_store();
    ds.set_keys(&pairs(&[("a", "1")]), &pending("t")).unwrap();
    ds.commit_transaction("t").unwrap();
    let root = ds.path().to_path_buf();
    // As if the process died after the commit point, before removing the transaction.
    fs::create_dir_all(root.join("pending/t")).unwrap();
    fs::write(root.join("pending/t/a"), "1").unwrap();
    fs::write(root.join("live.1/.committed-tx"), "t").unwrap();
    // Readers already ignore the committed transaction...
    assert!(ds.pending_changes("t").unwrap().is_empty());
    // ...and the next writer (or open) removes it.
    let ds = FilesystemDataStore::open(&root).unwrap();
    assert!(ds.list_transactions().unwrap().is_empty());
    assert!(!root.join("live.1/.committed-tx").exists());
    assert!(ds
        .commit_transaction("t")
        .unwrap_err()
        .is_nothing_to_commit());
}

#[test]
fn converts_a_plain_live_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("live/settings")).unwrap();
    fs::create_dir_all(root.join("pending")).unwrap();
    fs::write(root.join("live/settings/motd"), "\"hi\"").unwrap();
    fs::write(
        root.join("live/settings/motd.affected-services"),
        "[\"motd\"]",
    )
    .unwrap();
    let ds = FilesystemDataStore::open(root).unwrap();
    assert_eq!(
        fs::read_link(root.join("live")).unwrap(),
        Path::new("live.0")
    );
    assert_eq!(
        ds.get_key(&key("settings.motd"), &Committed::Live)
            .unwrap()
            .as_deref(),
        Some("\"hi\"")
    );
    assert_eq!(
        ds.get_metadata(
            &meta("affected-services"),
            &key("settings.motd"),
            &Committed::Live
        )
        .unwrap()
        .as_deref(),
        Some("[\"motd\"]")
    );
}

#[test]
fn create_at_initializes_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let ds = FilesystemDataStore::create_at(&path).unwrap();
    assert_eq!(ds.generation().unwrap(), 0);
    assert!(ds.get_prefix("", &Committed::Live).unwrap().is_empty());
    drop(ds);
    assert!(matches!(
        FilesystemDataStore::create_at(&path),
        Err(Error::AlreadyExists { .. })
    ));
}
