//! `apiclient apply` of `http://` URIs: the real `apiclient` binary fetches a document from a
//! tiny HTTP server on 127.0.0.1 and applies it to the real API server (the `apiserver` library,
//! served in process on a Unix socket in front of a fresh datastore). No other network is used.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::common::apiclient;

use serde_json::json;

const DOCUMENT: &str = r#"# user data
[settings]
motd = "from a URI"

[settings.ntp]
time-servers = ["a.example.com", "b.example.com"]
"#;

/// Serves `DOCUMENT` at `/settings.toml` and 404 elsewhere, on 127.0.0.1; records request paths.
/// Returns the base URI (`http://127.0.0.1:PORT`) and the log.
fn document_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            loop {
                let mut header = String::new();
                match reader.read_line(&mut header) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if header.trim().is_empty() => break,
                    Ok(_) => {}
                }
            }
            let (status, body) = match path.as_str() {
                "/settings.toml" => ("200 OK", DOCUMENT.to_string()),
                _ => ("404 Not Found", format!("no document at {path}\n")),
            };
            log.lock().unwrap().push(path);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/toml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, seen)
}

/// Starts the real API server in process on `dir/api.sock`; its apply command appends the
/// applied keys to `dir/applied.log`. The server thread lives until the test process exits.
fn api_server(dir: &Path) -> PathBuf {
    let datastore = datastore::create(dir.join("datastore"), "1.0.0").unwrap();
    let socket = dir.join("api.sock");
    let log = dir.join("applied.log");
    let config = apiserver::Config {
        socket_path: socket.clone(),
        datastore_path: datastore,
        socket_gid: None,
        apply_command: vec![
            "sh".into(),
            "-c".into(),
            format!("cat >> '{}'; echo >> '{}'", log.display(), log.display()),
        ],
        reboot_command: vec!["true".into()],
        os_release_path: dir.join("os-release"),
        max_connections: 16,
        settings_families: None,
    };
    crate::common::serve(config, None)
}

#[test]
fn apply_fetches_http_uri_and_applies_it() {
    let dir = tempfile::tempdir().unwrap();
    let socket = api_server(dir.path());
    let (base, seen) = document_server();
    let uri = format!("{base}/settings.toml");

    let out = apiclient(&socket, &["apply", &uri]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(*seen.lock().unwrap(), vec!["/settings.toml".to_string()]);

    // The settings landed in the live datastore and were applied.
    let settings = apiclient::get_settings(&socket, &["settings.motd", "settings.ntp"]).unwrap();
    assert_eq!(
        settings,
        json!({"settings": {
            "motd": "from a URI",
            "ntp": {"time-servers": ["a.example.com", "b.example.com"]}
        }})
    );
    let out = apiclient(&socket, &["get", "motd"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("from a URI"));
    let applied = std::fs::read_to_string(dir.path().join("applied.log")).unwrap();
    assert!(applied.contains("settings.motd"), "{applied}");
    assert!(applied.contains("settings.ntp.time-servers"), "{applied}");
    // Nothing was left pending.
    assert_eq!(
        apiclient::request(&socket, "GET", "/tx/list", None)
            .unwrap()
            .json(),
        json!([])
    );
}

#[test]
fn apply_of_missing_uri_names_the_uri_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let socket = api_server(dir.path());
    let (base, seen) = document_server();
    let uri = format!("{base}/missing.toml");

    let out = apiclient(&socket, &["apply", &uri]);
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("'{uri}'")), "{stderr}");
    assert!(stderr.contains("404"), "{stderr}");
    assert!(stderr.contains("no document at /missing.toml"), "{stderr}");
    assert_eq!(*seen.lock().unwrap(), vec!["/missing.toml".to_string()]);
    // Nothing was written.
    assert_eq!(
        apiclient::request(&socket, "GET", "/tx/list", None)
            .unwrap()
            .json(),
        json!([])
    );
    assert!(!dir.path().join("applied.log").exists());

    // A server that isn't there: the error names the URI too.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}/settings.toml", closed.local_addr().unwrap());
    drop(closed);
    let out = apiclient(&socket, &["apply", &uri]);
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("failed to fetch '{uri}'")),
        "{stderr}"
    );
}

#[test]
fn apply_of_unsupported_scheme_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let socket = api_server(dir.path());
    for uri in ["ftp://127.0.0.1/settings.toml", "s3://bucket/settings.toml"] {
        let out = apiclient(&socket, &["apply", uri]);
        assert!(!out.status.success(), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let scheme = uri.split_once("://").unwrap().0;
        assert!(
            stderr.contains(&format!("unsupported URI scheme '{scheme}' in '{uri}'")),
            "{stderr}"
        );
        assert!(stderr.contains("http://"), "{stderr}");
    }
    assert!(!dir.path().join("applied.log").exists());
}
