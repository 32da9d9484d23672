//! Shared by the apiclient integration tests: the real API server in process and the real
//! `apiclient` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Serves the API in process with `config` (and `updates`, if given) and waits until it answers.
/// Returns the socket. The server thread lives until the test process exits.
pub fn serve(config: apiserver::Config, updates: Option<apiserver::UpdateConfig>) -> PathBuf {
    let socket = config.socket_path.clone();
    let server = match updates {
        Some(updates) => apiserver::Server::bind_with_updates(config, updates),
        None => apiserver::Server::bind(config),
    }
    .unwrap();
    std::thread::spawn(move || server.serve());
    let deadline = Instant::now() + Duration::from_secs(10);
    while apiclient::request(&socket, "GET", "/tx/list", None).is_err() {
        assert!(Instant::now() < deadline, "apiserver did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    socket
}

/// Runs the `apiclient` binary, with no proxy settings from the environment.
pub fn apiclient(socket: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_apiclient"));
    for var in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg("-s")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}
