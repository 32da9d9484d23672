//! Test support shared by the twoliter crates (a dev-dependency only): loopback ports and
//! servers, a child-process guard, HTTP helpers, the python-tuf oracle, and fake builds laid
//! out through the artifact contract, and small projects ([`project`]).
//!
//! A missing oracle tool fails the test with an install hint: a green run always means the
//! oracle ran.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod build;
pub mod project;

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A child process killed (and reaped) when the guard drops, whether the test passes or fails.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Spawns `command`, panicking with the program's name when it cannot run.
    pub fn spawn(command: &mut Command) -> KillOnDrop {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", command.get_program()));
        KillOnDrop(child)
    }

    /// The child.
    pub fn child(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether python3 can import every module (e.g. `"cryptography, tuf.ngclient"`).
pub fn python_has(modules: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Fails the test unless python3 can import `modules`, naming the pip packages to install.
pub fn require_python(modules: &str, pip: &str) {
    assert!(
        python_has(modules),
        "this test needs python3 with {modules}: pip install {pip}"
    );
}

/// A file under the workspace's `scripts/` (`scripts("repo-e2e/tuf_oracle.py")`).
pub fn script(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(relative)
}

/// Waits (up to 10 s) until something listens on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A response read by [`http_request`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

/// Sends one HTTP/1.0 request without a body to 127.0.0.1:`port` and reads the whole
/// response.
pub fn http_request(port: u16, method: &str, path: &str) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {head:?}")))?;
    Ok(HttpResponse {
        status,
        body: body.to_string(),
    })
}

/// A static HTTP server (`python3 -m http.server`) for `dir` on a free loopback port.
pub fn serve_dir(dir: &Path) -> (KillOnDrop, u16) {
    let port = free_port();
    let server = KillOnDrop::spawn(
        Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_for_port(port);
    (server, port)
}

/// python-tuf's ngclient (`scripts/repo-e2e/tuf_oracle.py`) loads the repository in `repo_dir`
/// over HTTP from 127.0.0.1 with its `root.json` and downloads every target, of which there
/// must be `expect_targets`. Fails when python3 lacks `tuf`.
pub fn tuf_oracle(repo_dir: &Path, expect_targets: usize) {
    require_python(
        "tuf.ngclient",
        "'tuf>=5,<8' 'securesystemslib[crypto]>=1,<2'",
    );
    let (_server, port) = serve_dir(repo_dir);
    let out = Command::new("python3")
        .arg(script("repo-e2e/tuf_oracle.py"))
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
        .expect("python3 runs");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_servers_and_requests() {
        let tmp = std::env::temp_dir().join(format!("test-support-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(tmp.join("hello.txt"), "hi").unwrap();
        let (_server, port) = serve_dir(&tmp);
        let response = http_request(port, "GET", "/hello.txt").unwrap();
        assert_eq!((response.status, response.body.as_str()), (200, "hi"));
        assert_eq!(http_request(port, "GET", "/none").unwrap().status, 404);
        std::fs::remove_dir_all(&tmp).unwrap();
        assert!(python_has("json"));
        assert!(!python_has("no_such_module_here"));
    }
}
