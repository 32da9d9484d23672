//! The `apiclient` binary against a fake server on a real Unix socket that records requests.
//! (End-to-end tests against the real server live in the `apiserver` crate.)

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// One recorded request: method, URI, body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// Serves canned responses: `respond(method, uri)` gives (status, body).
fn fake_server(
    dir: &Path,
    respond: impl Fn(&str, &str) -> (u16, String) + Send + 'static,
) -> (PathBuf, Seen) {
    let socket = dir.join("api.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let (method, uri) = (
                parts.next().unwrap().to_string(),
                parts.next().unwrap().to_string(),
            );
            let mut len = 0;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let (status, reply) = respond(&method, &uri);
            log.lock()
                .unwrap()
                .push((method, uri, String::from_utf8(body).unwrap()));
            write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            )
            .unwrap();
        }
    });
    (socket, seen)
}

fn run(socket: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_apiclient"))
        .arg("-s")
        .arg(socket)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(_: &str, uri: &str) -> (u16, String) {
    match uri {
        "/os" => (200, r#"{"name": "Bottlerocket"}"#.into()),
        u if u.starts_with("/settings?prefix=") => (200, r#"{"motd": "hi"}"#.into()),
        u if u.starts_with("/tx/commit_and_apply") => (200, r#"["settings.motd"]"#.into()),
        "/actions/reboot" => (204, String::new()),
        _ => (204, String::new()),
    }
}

#[test]
fn set_patches_a_private_transaction_then_commits_and_applies() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, seen) = fake_server(dir.path(), ok);
    let out = run(
        &socket,
        &[
            "set",
            "motd=hi",
            "kubernetes.node-labels.\"example.com/role\"=web",
            "settings.kubernetes.max-pods=10",
        ],
        "",
    );
    assert!(out.status.success(), "{out:?}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let (m, uri, body) = &seen[0];
    assert_eq!(m, "PATCH");
    let tx = uri.strip_prefix("/settings?tx=").unwrap();
    assert!(tx.starts_with("apiclient-"));
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        json!({"motd": "hi", "kubernetes": {"node-labels": {"example.com/role": "web"}, "max-pods": 10}})
    );
    assert_eq!(seen[1].0, "POST");
    assert_eq!(seen[1].1, format!("/tx/commit_and_apply?tx={tx}"));
}

#[test]
fn set_json_and_apply_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, seen) = fake_server(dir.path(), ok);
    let out = run(&socket, &["set", "--json", r#"{"motd": "j"}"#], "");
    assert!(out.status.success(), "{out:?}");
    let out = run(
        &socket,
        &["apply"],
        "[settings]\nmotd = \"t\"\n[settings.ntp]\ntime-servers = [\"a\"]\n",
    );
    assert!(out.status.success(), "{out:?}");
    let file = dir.path().join("in.json");
    std::fs::write(&file, r#"{"settings": {"motd": "f"}}"#).unwrap();
    let out = run(&socket, &["apply", file.to_str().unwrap()], "");
    assert!(out.status.success(), "{out:?}");
    let seen = seen.lock().unwrap();
    let patches: Vec<Value> = seen
        .iter()
        .filter(|(m, _, _)| m == "PATCH")
        .map(|(_, _, b)| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(
        patches,
        vec![
            json!({"motd": "j"}),
            json!({"motd": "t", "ntp": {"time-servers": ["a"]}}),
            json!({"motd": "f"})
        ]
    );
    let out = run(&socket, &["apply", "-"], "no settings = 1\n");
    assert!(!out.status.success());
    // (http:// and https:// URIs are tested against a local server in `apply_uri.rs`.)
    let out = run(&socket, &["apply", "ftp://127.0.0.1/x.toml"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported URI scheme 'ftp'"));
}

#[test]
fn get_raw_and_reboot() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, seen) = fake_server(dir.path(), ok);
    let out = run(&socket, &["get", "motd"], "");
    assert!(out.status.success(), "{out:?}");
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, json!({"settings": {"motd": "hi"}}));
    let out = run(&socket, &["get", "/os"], "");
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!({"name": "Bottlerocket"})
    );
    let out = run(
        &socket,
        &["raw", "-u", "/tx/apply", "-m", "post", "-d", "[]"],
        "",
    );
    assert!(out.status.success(), "{out:?}");
    let out = run(&socket, &["reboot"], "");
    assert!(out.status.success(), "{out:?}");
    let seen = seen.lock().unwrap();
    let reqs: Vec<(&str, &str, &str)> = seen
        .iter()
        .map(|(m, u, b)| (m.as_str(), u.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        reqs,
        vec![
            ("GET", "/settings?prefix=settings.motd", ""),
            ("GET", "/os", ""),
            ("POST", "/tx/apply", "[]"),
            ("POST", "/actions/reboot", ""),
        ]
    );
}

#[test]
fn errors_print_status_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, seen) = fake_server(dir.path(), |m, _| match m {
        "PATCH" => (400, r#"{"error":"bad","key":"settings.motd"}"#.to_string()),
        _ => (200, "[]".to_string()),
    });
    let out = run(&socket, &["set", "motd=5"], "");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("apiclient: error: Status 400 when PATCHing /settings?tx=apiclient-"),
        "{stderr}"
    );
    assert!(stderr.contains(r#""key":"settings.motd""#), "{stderr}");
    // The failed transaction is cleaned up.
    let methods: Vec<String> = seen.lock().unwrap().iter().map(|r| r.0.clone()).collect();
    assert_eq!(methods, vec!["PATCH", "DELETE"]);

    let out = run(&socket, &["set", "no-equals-sign"], "");
    assert!(!out.status.success());
    let out = run(&dir.path().join("missing.sock"), &["get"], "");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot connect to the API socket") && stderr.contains("missing.sock"),
        "{stderr}"
    );
    // The cause is printed once, after the message.
    assert!(stderr.contains(": No such file or directory"), "{stderr}");
}

/// A reader that stops early (`apiclient get | head -1`) ends apiclient quietly, not in a panic.
#[test]
fn closed_stdout_is_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let big = json!({ "settings": { "motd": "x".repeat(1 << 20) } }).to_string();
    let (socket, _) = fake_server(dir.path(), move |_, _| (200, big.clone()));
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_apiclient"))
        .arg("-s")
        .arg(&socket)
        .args(["get", "/settings"])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
}
