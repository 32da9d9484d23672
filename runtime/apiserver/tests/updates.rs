//! The update API over the real socket, with a stand-in `updog` (`crate::common::STAND_IN_UPDOG`).

use std::time::{Duration, Instant};

use crate::common::TestServer;
use serde_json::{json, Value};

/// Waits until the running update command has finished; returns the status.
fn wait_done(s: &TestServer) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = s.req("GET", "/updates/status", None);
        match r.status {
            423 => {}
            200 if r.json()["most_recent_command"]["cmd_status"] != "Unknown" => return r.json(),
            _ => panic!("unexpected status answer {}: {}", r.status, r.body),
        }
        assert!(Instant::now() < deadline, "update command did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `action` and waits for it; asserts it succeeded and the state it reached.
fn run(s: &TestServer, action: &str, state: &str) -> Value {
    s.expect("POST", &format!("/actions/{action}"), None, 204);
    let status = wait_done(s);
    assert_eq!(
        status["most_recent_command"]["cmd_status"], "Success",
        "{status}"
    );
    assert_eq!(status["update_state"], state, "{status}");
    status
}

fn conflict(s: &TestServer, action: &str, needle: &str) {
    let body = s.expect("POST", &format!("/actions/{action}"), None, 409);
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains(needle), "{action}: {msg}");
}

fn image(version: &str) -> Value {
    json!({"arch": "x86_64", "version": version, "variant": "aws-k8s-1.31"})
}

#[test]
fn state_machine_locking_and_restart() {
    let mut s = TestServer::start();
    let this_os = json!({
        "arch": std::env::consts::ARCH, "version": "1.2.3", "variant": "aws-k8s-1.31"
    });

    // Before any refresh.
    let body = s.expect("GET", "/updates/status", None, 404);
    assert_eq!(body["error"], "no update status yet");
    conflict(&s, "prepare-update", "state Idle");

    // Idle → Available.
    let status = run(&s, "refresh-updates", "Available");
    assert_eq!(status["available_updates"], json!(["1.4.0", "1.3.0"]));
    assert_eq!(status["chosen_update"], image("1.4.0"));
    assert_eq!(
        status["active_partition"],
        json!({"image": this_os, "next_to_boot": true})
    );
    assert_eq!(status["staging_partition"], Value::Null);
    let cmd = &status["most_recent_command"];
    assert_eq!(cmd["cmd_type"], "refresh");
    assert_eq!(cmd["exit_status"], 0);
    assert!(humantime::parse_rfc3339(cmd["timestamp"].as_str().unwrap()).is_ok());
    conflict(
        &s,
        "activate-update",
        "state Available: activate is allowed in Staged",
    );
    conflict(&s, "deactivate-update", "allowed in Ready");

    // Available → Staged; while update-image runs (1 s), status and actions are locked but
    // settings are served.
    s.expect("POST", "/actions/prepare-update", None, 204);
    let locked = s.expect("GET", "/updates/status", None, 423);
    assert!(
        locked["error"].as_str().unwrap().contains("'prepare'"),
        "{locked}"
    );
    for action in ["refresh-updates", "prepare-update", "activate-update"] {
        let body = s.expect("POST", &format!("/actions/{action}"), None, 423);
        assert!(
            body["error"].as_str().unwrap().contains("prepare"),
            "{body}"
        );
    }
    let t = Instant::now();
    s.expect("GET", "/settings", None, 200);
    s.expect("PATCH", "/settings", Some(r#"{"motd": "during"}"#), 204);
    assert!(t.elapsed() < Duration::from_millis(500), "settings blocked");
    assert_eq!(
        s.expect("GET", "/updates/status", None, 423)["error"],
        locked["error"]
    );
    let status = wait_done(&s);
    assert_eq!(status["update_state"], "Staged", "{status}");
    assert_eq!(status["most_recent_command"]["cmd_type"], "prepare");
    assert_eq!(
        status["staging_partition"],
        json!({"image": image("1.4.0"), "next_to_boot": false})
    );
    conflict(&s, "deactivate-update", "state Staged");

    // Staged → Ready → (refresh keeps Ready) → Staged.
    let status = run(&s, "activate-update", "Ready");
    assert_eq!(status["active_partition"]["next_to_boot"], false);
    assert_eq!(status["staging_partition"]["next_to_boot"], true);
    conflict(&s, "prepare-update", "state Ready");
    conflict(&s, "activate-update", "state Ready");
    run(&s, "refresh-updates", "Ready");
    let status = run(&s, "deactivate-update", "Staged");
    assert_eq!(status["active_partition"]["next_to_boot"], true);
    assert_eq!(status["staging_partition"]["next_to_boot"], false);

    let log = std::fs::read_to_string(s.dir.path().join("updog.log")).unwrap();
    let calls: Vec<&str> = log.lines().collect();
    assert_eq!(
        calls,
        [
            "check-update --all --json",
            "check-update --json",
            "update-image --image 1.4.0 --ignore-waves",
            "update-apply",
            "check-update --all --json",
            "check-update --json",
            "update-revert",
        ]
    );

    // The status survives a restart, also one left Unknown by a server that died mid-command.
    s.restart();
    assert_eq!(s.expect("GET", "/updates/status", None, 200), status);
    let path = s.dir.path().join("status/status.json");
    let mut on_disk: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    on_disk["most_recent_command"]["cmd_status"] = json!("Unknown");
    std::fs::write(&path, on_disk.to_string()).unwrap();
    s.restart();
    let loaded = s.expect("GET", "/updates/status", None, 200);
    assert_eq!(loaded["most_recent_command"]["cmd_status"], "Failed");
    assert_eq!(
        loaded["update_state"], "Staged",
        "an interrupted revert keeps the stage"
    );
    // An interrupted prepare may have left a half-written bank: nothing is staged any more.
    on_disk["most_recent_command"]["cmd_type"] = json!("prepare");
    std::fs::write(&path, on_disk.to_string()).unwrap();
    s.restart();
    let loaded = s.expect("GET", "/updates/status", None, 200);
    let cmd = &loaded["most_recent_command"];
    assert_eq!(cmd["cmd_status"], "Failed");
    assert!(
        cmd["stderr"]
            .as_str()
            .unwrap()
            .contains("stopped while 'prepare' ran"),
        "{cmd}"
    );
    assert_eq!(loaded["update_state"], "Available");
    assert_eq!(loaded["staging_partition"], Value::Null);
    // Available allows a fresh prepare.
    std::fs::write(s.dir.path().join("image-delay"), "0").unwrap();
    run(&s, "prepare-update", "Staged");
}

#[test]
fn failed_prepare_leaves_available_with_stderr() {
    let s = TestServer::start();
    std::fs::write(s.dir.path().join("image-delay"), "0").unwrap();
    std::fs::write(s.dir.path().join("fail-image"), "").unwrap();
    run(&s, "refresh-updates", "Available");
    s.expect("POST", "/actions/prepare-update", None, 204);
    let status = wait_done(&s);
    assert_eq!(status["update_state"], "Available", "{status}");
    assert_eq!(status["staging_partition"], Value::Null);
    let cmd = &status["most_recent_command"];
    assert_eq!(cmd["cmd_type"], "prepare");
    assert_eq!(cmd["cmd_status"], "Failed");
    assert_eq!(cmd["exit_status"], 3);
    assert_eq!(cmd["stderr"], "no space left on the inactive bank");
    // The persisted status says the same.
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(s.dir.path().join("status/status.json")).unwrap())
            .unwrap();
    assert_eq!(on_disk["most_recent_command"], *cmd);
    // A retry is allowed from Available.
    std::fs::remove_file(s.dir.path().join("fail-image")).unwrap();
    run(&s, "prepare-update", "Staged");
}

#[test]
fn updog_that_cannot_run_fails_the_command() {
    let s = TestServer::start();
    std::fs::remove_file(s.dir.path().join("updog")).unwrap();
    s.expect("POST", "/actions/refresh-updates", None, 204);
    let status = wait_done(&s);
    assert_eq!(status["update_state"], "Idle");
    let cmd = &status["most_recent_command"];
    assert_eq!(cmd["cmd_status"], "Failed");
    assert_eq!(cmd["exit_status"], Value::Null);
    let stderr = cmd["stderr"].as_str().unwrap();
    assert!(stderr.contains("failed to run"), "{stderr}");

    // Output that isn't the expected JSON fails the refresh, with the output in stderr.
    crate::common::script(s.dir.path(), "updog", "echo 'not json'");
    s.expect("POST", "/actions/refresh-updates", None, 204);
    let status = wait_done(&s);
    let stderr = status["most_recent_command"]["stderr"].as_str().unwrap();
    assert!(stderr.contains("not json"), "{stderr}");
    assert_eq!(status["most_recent_command"]["cmd_status"], "Failed");
    s.expect("GET", "/updates/status?bogus=1", None, 400);
}

/// An updog that hangs (a stalled mirror) is stopped after the command timeout (5 s here), with
/// what it started: the lock is released and the prepare fails, naming the timeout.
#[test]
fn hung_updog_is_stopped_after_the_timeout() {
    let s = TestServer::start();
    run(&s, "refresh-updates", "Available");
    std::fs::write(s.dir.path().join("image-delay"), "120").unwrap();
    let started = Instant::now();
    s.expect("POST", "/actions/prepare-update", None, 204);
    let status = wait_done(&s);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let cmd = &status["most_recent_command"];
    assert_eq!(cmd["cmd_status"], "Failed", "{status}");
    assert!(
        cmd["stderr"]
            .as_str()
            .unwrap()
            .contains("ran longer than 5s"),
        "{status}"
    );
    assert_eq!(status["update_state"], "Available");
    // The lock is free again.
    std::fs::write(s.dir.path().join("image-delay"), "0").unwrap();
    run(&s, "prepare-update", "Staged");
}
