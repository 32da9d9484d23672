//! Runs the real `storewolf` binary against temporary datastores.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use datastore::{Committed, FilesystemDataStore, Key};

const BASE: &str = r#"
[settings]
motd = "Welcome"

[settings.ntp]
time-servers = ["a.example.com", "b.example.com"]

[settings.kubernetes.node-labels]
"example.com/role" = "base"

[services.motd]
configuration-files = ["motd"]
restart-commands = []

[services.chronyd]
configuration-files = ["chrony-conf"]
restart-commands = ["/bin/systemctl try-restart chronyd"]

[configuration-files.motd]
path = "/etc/motd"
template-path = "/usr/share/templates/motd"

[configuration-files.chrony-conf]
path = "/etc/chrony.conf"
template-path = "/usr/share/templates/chrony-conf"
mode = "0600"

[metadata.settings.motd]
affected-services = ["motd"]

[metadata.settings.ntp]
affected-services = ["chronyd"]
"#;

const OVERRIDE: &str = r#"
[settings.ntp]
time-servers = ["c.example.com"]

[settings.kubernetes.node-labels]
"example.com/zone" = "z1"

[services.chronyd]
restart-commands = [["/bin/systemctl", "restart", "chronyd"]]
"#;

fn storewolf(base: &Path, defaults: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_storewolf"))
        .arg("--data-store-base-path")
        .arg(base)
        .arg("--version")
        .arg("1.2.3")
        .arg("--defaults-dir")
        .arg(defaults)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "storewolf failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn setup(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let defaults = dir.path().join("defaults.d");
    fs::create_dir(&defaults).unwrap();
    for (name, text) in files {
        fs::write(defaults.join(name), text).unwrap();
    }
    dir
}

fn get(store: &FilesystemDataStore, key: &str) -> Option<String> {
    store
        .get_key(&Key::data(key).unwrap(), &Committed::Live)
        .unwrap()
}

#[test]
fn creates_datastore_with_version_chain_and_merges_defaults() {
    let dir = setup(&[("20-override.toml", OVERRIDE), ("10-base.toml", BASE)]);
    let base = dir.path().join("datastore");
    ok(&storewolf(&base, &dir.path().join("defaults.d")));

    assert_eq!(
        fs::read_link(base.join("current")).unwrap(),
        Path::new("v1")
    );
    assert_eq!(fs::read_link(base.join("v1")).unwrap(), Path::new("v1.2"));
    assert_eq!(
        fs::read_link(base.join("v1.2")).unwrap(),
        Path::new("v1.2.3")
    );
    let target = fs::read_link(base.join("v1.2.3")).unwrap();
    assert!(
        target.to_str().unwrap().starts_with("v1.2.3_"),
        "{target:?}"
    );

    let store = FilesystemDataStore::open(base.join("current")).unwrap();
    assert_eq!(get(&store, "settings.motd").as_deref(), Some("\"Welcome\""));
    // Arrays replace.
    assert_eq!(
        get(&store, "settings.ntp.time-servers").as_deref(),
        Some("[\"c.example.com\"]")
    );
    // Tables merge.
    assert_eq!(
        get(
            &store,
            "settings.kubernetes.node-labels.\"example.com/role\""
        )
        .as_deref(),
        Some("\"base\"")
    );
    assert_eq!(
        get(
            &store,
            "settings.kubernetes.node-labels.\"example.com/zone\""
        )
        .as_deref(),
        Some("\"z1\"")
    );
    // Services and configuration files as the renderer reads them.
    assert_eq!(
        get(&store, "services.motd.configuration-files").as_deref(),
        Some("[\"motd\"]")
    );
    assert_eq!(
        get(&store, "services.motd.restart-commands").as_deref(),
        Some("[]")
    );
    assert_eq!(
        get(&store, "services.chronyd.configuration-files").as_deref(),
        Some("[\"chrony-conf\"]")
    );
    assert_eq!(
        get(&store, "services.chronyd.restart-commands").as_deref(),
        Some("[[\"/bin/systemctl\",\"restart\",\"chronyd\"]]")
    );
    assert_eq!(
        get(&store, "configuration-files.motd.path").as_deref(),
        Some("\"/etc/motd\"")
    );
    assert_eq!(
        get(&store, "configuration-files.chrony-conf.template-path").as_deref(),
        Some("\"/usr/share/templates/chrony-conf\"")
    );
    assert_eq!(
        get(&store, "configuration-files.chrony-conf.mode").as_deref(),
        Some("\"0600\"")
    );
    let affected = Key::meta("affected-services").unwrap();
    assert_eq!(
        store
            .get_metadata(
                &affected,
                &Key::data("settings.motd").unwrap(),
                &Committed::Live
            )
            .unwrap()
            .as_deref(),
        Some("[\"motd\"]")
    );
    assert_eq!(
        store
            .get_metadata(
                &affected,
                &Key::data("settings.ntp").unwrap(),
                &Committed::Live
            )
            .unwrap()
            .as_deref(),
        Some("[\"chronyd\"]")
    );
    // Written through a committed transaction: none left open.
    assert!(store.list_transactions().unwrap().is_empty());
}

#[test]
fn second_run_is_a_no_op_and_user_settings_are_kept() {
    let dir = setup(&[("10-base.toml", BASE)]);
    let base = dir.path().join("datastore");
    let defaults = dir.path().join("defaults.d");
    ok(&storewolf(&base, &defaults));
    let store = FilesystemDataStore::open(base.join("current")).unwrap();
    let generation = store.generation().unwrap();
    let link = fs::read_link(base.join("v1.2.3")).unwrap();

    ok(&storewolf(&base, &defaults));
    assert_eq!(store.generation().unwrap(), generation, "second run wrote");
    assert_eq!(fs::read_link(base.join("v1.2.3")).unwrap(), link);

    // A user's setting and metadata survive later runs; a removed default comes back.
    let live = Committed::Live;
    store
        .set_key(&Key::data("settings.motd").unwrap(), "\"mine\"", &live)
        .unwrap();
    store
        .set_metadata(
            &Key::meta("affected-services").unwrap(),
            &Key::data("settings.motd").unwrap(),
            "[\"other\"]",
            &live,
        )
        .unwrap();
    store
        .unset_key(&Key::data("settings.ntp.time-servers").unwrap(), &live)
        .unwrap();
    ok(&storewolf(&base, &defaults));
    assert_eq!(get(&store, "settings.motd").as_deref(), Some("\"mine\""));
    assert_eq!(
        store
            .get_metadata(
                &Key::meta("affected-services").unwrap(),
                &Key::data("settings.motd").unwrap(),
                &live
            )
            .unwrap()
            .as_deref(),
        Some("[\"other\"]")
    );
    assert_eq!(
        get(&store, "settings.ntp.time-servers").as_deref(),
        Some("[\"a.example.com\",\"b.example.com\"]")
    );
}

#[test]
fn bad_default_names_file_and_key_and_writes_nothing() {
    let bad = "[settings.ntp]\ntime-servers = 5\n";
    let dir = setup(&[("10-base.toml", BASE), ("30-bad.toml", bad)]);
    let base = dir.path().join("datastore");
    let out = storewolf(&base, &dir.path().join("defaults.d"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("30-bad.toml"), "{stderr}");
    assert!(stderr.contains("settings.ntp.time-servers"), "{stderr}");
    assert!(!base.join("current").exists(), "datastore created anyway");
}

#[test]
fn unknown_keys_are_named() {
    for (text, key) in [
        (
            "[settings]\nno-such-family = 1\n",
            "settings.no-such-family",
        ),
        ("[services.x]\nrestart = []\n", "services.x.restart"),
        (
            "[configuration-files.x]\npath = \"/a\"\ntemplate-path = \"/b\"\nmode = \"999\"\n",
            "configuration-files.x.mode",
        ),
        (
            "[metadata.settings.motd]\naffected-services = \"motd\"\n",
            "metadata.settings.motd.affected-services",
        ),
        ("[other]\na = 1\n", "other"),
    ] {
        let dir = setup(&[("50-x.toml", text)]);
        let out = storewolf(&dir.path().join("ds"), &dir.path().join("defaults.d"));
        assert!(!out.status.success(), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("50-x.toml"), "{text}: {stderr}");
        assert!(stderr.contains(key), "{text}: {stderr}");
    }
}

#[test]
fn library_merge_replaces_arrays_and_merges_tables() {
    let mut a: toml::Table = toml::from_str("x = [1, 2]\n[t]\na = 1\nb = 2\n").unwrap();
    let b: toml::Table = toml::from_str("x = [3]\n[t]\nb = 3\nc = 4\n").unwrap();
    storewolf::merge(&mut a, b);
    let want: toml::Table = toml::from_str("x = [3]\n[t]\na = 1\nb = 3\nc = 4\n").unwrap();
    assert_eq!(a, want);
}
