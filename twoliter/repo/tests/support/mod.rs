//! Test support shared by the `twoliter repo` tests of this crate and of the `twoliter` binary
//! (included there with `#[path]`): the python-tuf oracle and loopback helper processes.

#![allow(dead_code)] // Each test file uses its own subset.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Whether python3 can import every module (e.g. `"cryptography, tuf.ngclient"`).
pub fn python_has(modules: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A script under `scripts/repo-e2e/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/repo-e2e")
        .join(name)
}

/// A child process killed when the test ends, pass or fail.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits until something listens on 127.0.0.1:`port`.
pub fn wait_for(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// python-tuf's ngclient (`scripts/repo-e2e/tuf_oracle.py`) loads the repository in `repo_dir`
/// over HTTP from 127.0.0.1 with its `root.json` and downloads every target, of which there
/// must be `expect_targets`. Skipped with a NOTICE when python3 lacks `tuf` (CI installs it).
pub fn tuf_oracle(repo_dir: &Path, expect_targets: usize) {
    if !python_has("tuf.ngclient") {
        println!("NOTICE: python-tuf oracle skipped: python3 lacks `tuf`");
        return;
    }
    let port = free_port();
    let _server = Server(
        Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(repo_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(port);
    let out = Command::new("python3")
        .arg(script("tuf_oracle.py"))
        .arg("--root")
        .arg(repo_dir.join("root.json"))
        .args([
            "--metadata-url",
            &format!("http://127.0.0.1:{port}/metadata/"),
        ])
        .args([
            "--targets-url",
            &format!("http://127.0.0.1:{port}/targets/"),
        ])
        .args(["--expect-targets", &expect_targets.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-tuf rejected the repository:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "python-tuf oracle: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
