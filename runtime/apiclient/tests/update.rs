//! `apiclient update` end to end: the real binary against the real API server (in process) with
//! a stand-in `updog` script.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::apiclient;

use serde_json::{json, Value};

/// `check-update` offers 2.0.0 (unless `no-update` exists next to the script; fails when
/// `fail-refresh` exists); `update-image` takes a moment; calls are logged to `updog.log`.
const UPDOG: &str = r#"#!/bin/sh
here="$(dirname "$0")"
echo "$*" >> "$here/updog.log"
case "$*" in
  *check-update*)
    if [ -e "$here/fail-refresh" ]; then echo "repository unreachable" >&2; exit 2; fi
    if [ -e "$here/no-update" ]; then echo '[]'; exit 0; fi
    echo '[{"variant":"metal-dev","arch":"x86_64","version":"2.0.0","max_version":"2.0.0","waves":{},"images":{"boot":"b","root":"r","hash":"h"}}]' ;;
  *update-image*) sleep 0.3 ;;
  *update-apply*|*update-revert*) ;;
  *) echo "unexpected: $*" >&2; exit 64 ;;
esac
"#;

/// Starts the real API server in process on `dir/api.sock` with the stand-in updog.
fn api_server(dir: &Path) -> PathBuf {
    let datastore = datastore::create(dir.join("datastore"), "1.0.0").unwrap();
    let socket = dir.join("api.sock");
    std::fs::write(
        dir.join("os-release"),
        "VERSION_ID=1.0.0\nVARIANT_ID=metal-dev\n",
    )
    .unwrap();
    let updog = dir.join("updog");
    std::fs::write(&updog, UPDOG).unwrap();
    std::fs::set_permissions(&updog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = apiserver::Config {
        socket_path: socket.clone(),
        datastore_path: datastore,
        socket_gid: None,
        apply_command: vec!["true".into()],
        reboot_command: vec!["touch".into(), dir.join("rebooted").display().to_string()],
        os_release_path: dir.join("os-release"),
        max_connections: 16,
        settings_families: None,
    };
    let updates = apiserver::UpdateConfig {
        updog_command: vec![updog.display().to_string()],
        status_path: dir.join("status.json"),
        signpost_disk: Some(dir.join("no-disk")),
        command_timeout: std::time::Duration::from_secs(60),
    };
    crate::common::serve(config, Some(updates))
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn status(socket: &Path) -> Value {
    apiclient::request_ok(socket, "GET", "/updates/status", None)
        .unwrap()
        .json()
}

#[test]
fn check_apply_and_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let socket = api_server(dir.path());

    // Without a status there is nothing to apply.
    let out = apiclient(&socket, &["update", "apply"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no update status yet"));

    let printed: Value = serde_json::from_str(&stdout(&apiclient(&socket, &["update", "check"])))
        .expect("update check prints the status as JSON");
    assert_eq!(printed["update_state"], "Available");
    assert_eq!(printed["available_updates"], json!(["2.0.0"]));

    let out = stdout(&apiclient(
        &socket,
        &["update", "apply", "--check", "--reboot"],
    ));
    assert!(out.contains("Preparing update 2.0.0"), "{out}");
    assert!(out.contains("Update 2.0.0 is activated"), "{out}");
    assert!(dir.path().join("rebooted").exists());
    let s = status(&socket);
    assert_eq!(s["update_state"], "Ready");
    assert_eq!(s["staging_partition"]["image"]["version"], "2.0.0");
    assert_eq!(s["staging_partition"]["next_to_boot"], true);

    stdout(&apiclient(
        &socket,
        &["update", "cancel", "--timeout", "30"],
    ));
    assert_eq!(status(&socket)["update_state"], "Staged");
    // Cancelling again is a state error from the server.
    let out = apiclient(&socket, &["update", "cancel"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("409"));

    // Without --check the current status is used: Staged → Ready.
    let out = stdout(&apiclient(&socket, &["update", "apply"]));
    assert!(out.contains("Activating update 2.0.0"), "{out}");
    assert_eq!(status(&socket)["update_state"], "Ready");

    let log = std::fs::read_to_string(dir.path().join("updog.log")).unwrap();
    assert_eq!(
        log.lines()
            .filter(|l| l.starts_with("update-image"))
            .count(),
        1,
        "{log}"
    );
}

#[test]
fn failed_refresh_and_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let socket = api_server(dir.path());

    std::fs::write(dir.path().join("fail-refresh"), "").unwrap();
    let out = apiclient(&socket, &["update", "check"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'refresh' failed"), "{err}");
    assert!(err.contains("repository unreachable"), "{err}");

    std::fs::remove_file(dir.path().join("fail-refresh")).unwrap();
    std::fs::write(dir.path().join("no-update"), "").unwrap();
    let out = stdout(&apiclient(
        &socket,
        &["update", "apply", "--check", "--reboot"],
    ));
    assert!(out.contains("No update available"), "{out}");
    assert!(!dir.path().join("rebooted").exists());
    let out = apiclient(&socket, &["update", "apply"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no update is chosen"));
}
