//! End-to-end tests of the renderer against a real datastore in a tempdir.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use datastore::{Committed, FilesystemDataStore, Key};
use renderer::{affected_services, apply, ApplyError, Options, Selection, AFFECTED_SERVICES};
use serde_json::json;
use tempfile::TempDir;

struct Fixture {
    _dir: TempDir,
    ds_path: PathBuf,
    templates: PathBuf,
    root: PathBuf,
    store: FilesystemDataStore,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ds_path = datastore::create(dir.path().join("ds"), "1.0.0").unwrap();
        let store = FilesystemDataStore::open(&ds_path).unwrap();
        let templates = dir.path().join("templates");
        let root = dir.path().join("root");
        fs::create_dir_all(&templates).unwrap();
        Self {
            _dir: dir,
            ds_path,
            templates,
            root,
            store,
        }
    }

    fn set(&self, key: &str, value: serde_json::Value) {
        self.store
            .set_key(&k(key), &value.to_string(), &Committed::Live)
            .unwrap();
    }

    fn affects(&self, key: &str, services: &[&str]) {
        self.store
            .set_metadata(
                &Key::meta(AFFECTED_SERVICES).unwrap(),
                &k(key),
                &json!(services).to_string(),
                &Committed::Live,
            )
            .unwrap();
    }

    /// A configuration file `name` rendered to `/etc/<name>` from `template`.
    fn config_file(&self, name: &str, template: &str, mode: Option<&str>) {
        let template_path = self.templates.join(format!("{name}.hbs"));
        fs::write(&template_path, template).unwrap();
        self.set(
            &format!("configuration-files.{name}.path"),
            json!(format!("/etc/{name}")),
        );
        self.set(
            &format!("configuration-files.{name}.template-path"),
            json!(template_path.to_str().unwrap()),
        );
        if let Some(mode) = mode {
            self.set(&format!("configuration-files.{name}.mode"), json!(mode));
        }
    }

    fn service(&self, name: &str, files: &[&str], commands: serde_json::Value) {
        self.set(
            &format!("services.{name}.configuration-files"),
            json!(files),
        );
        self.set(&format!("services.{name}.restart-commands"), commands);
    }

    fn options(&self, restart: bool) -> Options {
        Options {
            root: Some(self.root.clone()),
            run_restart_commands: restart,
        }
    }

    fn out(&self, name: &str) -> PathBuf {
        self.root.join("etc").join(name)
    }
}

fn k(name: &str) -> Key {
    Key::data(name).unwrap()
}

fn keys(names: &[&str]) -> BTreeSet<Key> {
    names.iter().map(|n| k(n)).collect()
}

fn set_of(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The standard fixture: a motd service and a kubelet service with helpers.
fn standard() -> Fixture {
    let f = Fixture::new();
    f.set("settings.motd", json!("hello world"));
    f.set("settings.kubernetes.cluster-name", json!("prod"));
    f.set("settings.kubernetes.node-labels.role", json!("web"));
    f.set(
        "settings.kubernetes.node-labels.\"example.com/zone\"",
        json!("a"),
    );
    f.set("settings.kubernetes.dns", json!(["10.0.0.10", "10.0.0.11"]));
    f.set("settings.kubernetes.bootstrap", json!("ZWNobyBoaQ=="));
    f.affects("settings.motd", &["motd"]);
    f.affects("settings.kubernetes", &["kubelet"]);
    f.affects("settings.kubernetes.node-labels", &["kubelet", "labeler"]);
    f.config_file("motd", "{{settings.motd}}\n", None);
    f.config_file(
        "kubelet",
        concat!(
            "cluster={{settings.kubernetes.cluster-name}}\n",
            "labels={{join_map \"=\" \",\" settings.kubernetes.node-labels}}\n",
            "dns={{join_array \", \" settings.kubernetes.dns}}\n",
            "bootstrap={{base64_decode settings.kubernetes.bootstrap}}\n",
            "max-pods={{default \"110\" settings.kubernetes.max-pods}}\n",
            "{{#if settings.kubernetes.taints}}taints=yes\n{{/if}}",
            "{{#if_not_null settings.kubernetes.cluster-name}}named\n{{else}}unnamed\n{{/if_not_null}}",
        ),
        Some("0600"),
    );
    f.service("motd", &["motd"], json!(["true"]));
    f.service("kubelet", &["kubelet"], json!([["true", "kubelet"]]));
    f
}

#[test]
fn affected_services_uses_nearest_ancestor_metadata() {
    let f = standard();
    let s = &f.store;
    assert_eq!(
        affected_services(s, &keys(&["settings.motd"])).unwrap(),
        set_of(&["motd"])
    );
    // Covered by the metadata on settings.kubernetes.
    assert_eq!(
        affected_services(s, &keys(&["settings.kubernetes.cluster-name"])).unwrap(),
        set_of(&["kubelet"])
    );
    // The nearest ancestor (node-labels) wins over settings.kubernetes.
    assert_eq!(
        affected_services(s, &keys(&["settings.kubernetes.node-labels.x"])).unwrap(),
        set_of(&["kubelet", "labeler"])
    );
    // No metadata anywhere up the tree.
    assert!(affected_services(s, &keys(&["settings.other.x"]))
        .unwrap()
        .is_empty());
    // Service and configuration-file keys affect their own services.
    assert_eq!(
        affected_services(
            s,
            &keys(&[
                "services.motd.restart-commands",
                "configuration-files.kubelet.mode"
            ])
        )
        .unwrap(),
        set_of(&["kubelet", "motd"])
    );
    let v: Vec<Key> = vec![k("settings.motd"), k("settings.kubernetes.dns")];
    assert_eq!(
        affected_services(s, &v).unwrap(),
        set_of(&["kubelet", "motd"])
    );
}

#[test]
fn renders_motd_and_helpers_with_modes_atomically() {
    let f = standard();
    let report = apply(&f.store, &Selection::All, &f.options(true)).unwrap();
    assert_eq!(report.services, set_of(&["kubelet", "motd"]));
    assert_eq!(report.files_written, vec![f.out("kubelet"), f.out("motd")]);
    assert_eq!(report.commands_run, vec!["true kubelet", "true"]);

    assert_eq!(fs::read_to_string(f.out("motd")).unwrap(), "hello world\n");
    assert_eq!(
        fs::read_to_string(f.out("kubelet")).unwrap(),
        "cluster=prod\nlabels=example.com/zone=a,role=web\ndns=10.0.0.10, 10.0.0.11\n\
         bootstrap=echo hi\nmax-pods=110\nnamed\n"
    );
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&f.out("motd")), 0o644);
    assert_eq!(mode(&f.out("kubelet")), 0o600);
    // No temp files left behind.
    let names: Vec<String> = fs::read_dir(f.root.join("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // Re-rendering replaces the file (and its mode) atomically.
    f.set("settings.motd", json!("changed"));
    fs::set_permissions(f.out("motd"), fs::Permissions::from_mode(0o600)).unwrap();
    let report = apply(
        &f.store,
        &Selection::Keys(keys(&["settings.motd"])),
        &f.options(false),
    )
    .unwrap();
    assert_eq!(report.files_written, vec![f.out("motd")]);
    assert!(report.commands_run.is_empty());
    assert_eq!(fs::read_to_string(f.out("motd")).unwrap(), "changed\n");
    assert_eq!(mode(&f.out("motd")), 0o644);
}

#[test]
fn strict_mode_names_template_and_writes_nothing() {
    let f = standard();
    f.config_file("motd", "{{settings.motd}} {{settings.missing}}\n", None);
    let err = apply(&f.store, &Selection::All, &f.options(true)).unwrap_err();
    assert!(matches!(err, ApplyError::Render { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("'motd'") && msg.contains("motd.hbs"), "{msg}");
    assert!(msg.contains("settings.missing"), "{msg}");
    assert!(!f.out("kubelet").exists() && !f.out("motd").exists());
}

#[test]
fn failing_restart_command_reports_status_and_stderr() {
    let f = standard();
    f.service(
        "motd",
        &["motd"],
        json!(["echo 'motd reload failed' >&2; exit 3", ["true"]]),
    );
    let err = apply(
        &f.store,
        &Selection::Keys(keys(&["settings.motd"])),
        &f.options(true),
    )
    .unwrap_err();
    let ApplyError::RestartFailed { failures } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].service, "motd");
    assert!(failures[0].status.contains('3'), "{:?}", failures[0]);
    assert_eq!(failures[0].stderr_tail, "motd reload failed");
    let msg = err.to_string();
    assert!(
        msg.contains("exit 3") && msg.contains("motd reload failed"),
        "{msg}"
    );
    // Files were written before the restart.
    assert_eq!(fs::read_to_string(f.out("motd")).unwrap(), "hello world\n");
}

#[test]
fn configuration_errors_name_the_file() {
    let f = standard();
    f.service("broken", &["nope"], json!([]));
    f.affects("settings.broken", &["broken"]);
    let err = apply(
        &f.store,
        &Selection::Keys(keys(&["settings.broken"])),
        &f.options(false),
    )
    .unwrap_err();
    assert!(err.to_string().contains("'nope'"), "{err}");

    let f = standard();
    f.set("configuration-files.motd.mode", json!("rw-r--r--"));
    let err = apply(&f.store, &Selection::All, &f.options(false)).unwrap_err();
    assert!(matches!(err, ApplyError::InvalidMode { .. }), "{err:?}");

    let f = standard();
    fs::remove_file(f.templates.join("motd.hbs")).unwrap();
    let err = apply(&f.store, &Selection::All, &f.options(false)).unwrap_err();
    assert!(matches!(err, ApplyError::TemplateRead { .. }), "{err}");
}

#[test]
fn unaffected_keys_do_nothing() {
    let f = standard();
    let report = apply(
        &f.store,
        &Selection::Keys(keys(&["settings.unrelated"])),
        &f.options(true),
    )
    .unwrap();
    assert!(report.services.is_empty() && report.files_written.is_empty());
}

fn binary(f: &Fixture, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_thar-be-settings"))
        .arg("--datastore-path")
        .arg(&f.ds_path)
        .arg("--root")
        .arg(&f.root)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

#[test]
fn binary_reads_changed_keys_from_stdin() {
    let f = standard();
    let out = binary(&f, &[], Some(r#"["settings.motd"]"#));
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["services"], json!(["motd"]));
    assert_eq!(report["commands_run"], json!(["true"]));
    assert_eq!(fs::read_to_string(f.out("motd")).unwrap(), "hello world\n");
    assert!(!f.out("kubelet").exists());
}

#[test]
fn binary_all_and_failures() {
    let f = standard();
    let out = binary(&f, &["--all", "--no-restart"], None);
    assert!(out.status.success(), "{out:?}");
    assert!(f.out("motd").exists() && f.out("kubelet").exists());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["commands_run"], json!([]));

    let out = binary(&f, &[], Some("not json"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("JSON array"));

    f.service("motd", &["motd"], json!(["echo boom >&2; false"]));
    let out = binary(&f, &[], Some(r#"["settings.motd"]"#));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("boom") && stderr.contains("echo boom"),
        "{stderr}"
    );
}
