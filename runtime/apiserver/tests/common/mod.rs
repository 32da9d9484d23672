//! A real `apiserver` process on a real socket, driven with the `apiclient` library.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apiclient::Response;
use datastore::{Committed, FilesystemDataStore, Key};
use serde_json::Value;

/// A running server in a temporary directory; killed on drop.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub datastore: PathBuf,
    child: Child,
}

/// Writes an executable shell script.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

impl TestServer {
    /// Starts a server whose apply command appends its stdin to `applied.log`.
    pub fn start() -> Self {
        Self::start_with(
            |dir| {
                let apply = script(dir, "apply.sh", "cat >> \"$(dirname \"$0\")/applied.log\"; echo >> \"$(dirname \"$0\")/applied.log\"");
                apply.display().to_string()
            },
            |_| {},
        )
    }

    /// Starts a server with the apply command `apply(dir)` after `seed`ing the datastore.
    pub fn start_with(
        apply: impl FnOnce(&Path) -> String,
        seed: impl FnOnce(&FilesystemDataStore),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let datastore = datastore::create(dir.path().join("datastore"), "1.0.0").unwrap();
        seed(&FilesystemDataStore::open(&datastore).unwrap());
        let os_release = dir.path().join("os-release");
        std::fs::write(
            &os_release,
            "NAME=Bottlerocket\nVERSION_ID=1.2.3\nVARIANT_ID=\"aws-k8s-1.31\"\n",
        )
        .unwrap();
        let apply_command = apply(dir.path());
        let reboot = script(
            dir.path(),
            "reboot.sh",
            "touch \"$(dirname \"$0\")/rebooted\"",
        );
        let socket = dir.path().join("api.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_apiserver"))
            .arg("--socket-path")
            .arg(&socket)
            .arg("--datastore-path")
            .arg(&datastore)
            .arg("--apply-command")
            .arg(apply_command)
            .arg("--reboot-command")
            .arg(&reboot)
            .arg("--os-release-path")
            .arg(&os_release)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self {
            dir,
            socket,
            datastore,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while apiclient::request(&server.socket, "GET", "/tx/list", None).is_err() {
            assert!(Instant::now() < deadline, "apiserver did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        server
    }

    /// Sends a request; panics only on transport errors.
    pub fn req(&self, method: &str, uri: &str, body: Option<&str>) -> Response {
        apiclient::request(&self.socket, method, uri, body)
            .unwrap_or_else(|e| panic!("{method} {uri}: {e}"))
    }

    /// Sends a request and asserts its status; returns the JSON body.
    pub fn expect(&self, method: &str, uri: &str, body: Option<&str>, status: u16) -> Value {
        let r = self.req(method, uri, body);
        assert_eq!(r.status, status, "{method} {uri} {body:?}: {}", r.body);
        r.json()
    }

    /// The server's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Opens the datastore directly.
    pub fn store(&self) -> FilesystemDataStore {
        FilesystemDataStore::open(&self.datastore).unwrap()
    }

    /// The applied.log written by the default apply script.
    pub fn applied_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("applied.log")).unwrap_or_default()
    }
}

/// A child process that is killed and reaped when dropped, also when a test panics, so no
/// server outlives its test (and holds the test runner's output pipe open).
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seeds metadata, services and configuration files.
pub fn seed(store: &FilesystemDataStore) {
    let live = Committed::Live;
    let motd = Key::data("settings.motd").unwrap();
    store.set_key(&motd, "\"seeded\"", &live).unwrap();
    store
        .set_metadata(
            &Key::meta("affected-services").unwrap(),
            &motd,
            "[\"motd\"]",
            &live,
        )
        .unwrap();
    store
        .set_metadata(
            &Key::meta("setting-generator").unwrap(),
            &Key::data("settings.network.hostname").unwrap(),
            "\"netdog generate-hostname\"",
            &live,
        )
        .unwrap();
    store
        .set_metadata(
            &Key::meta("template").unwrap(),
            &Key::data("settings.network.hostname").unwrap(),
            "\"{{settings.network.hostname}}\"",
            &live,
        )
        .unwrap();
    for (k, v) in [
        ("services.motd.configuration-files", "[\"motd\"]"),
        ("services.motd.restart-commands", "[]"),
        ("services.chronyd.configuration-files", "[\"chrony-conf\"]"),
        (
            "services.chronyd.restart-commands",
            "[\"/bin/systemctl try-restart chronyd\"]",
        ),
        ("configuration-files.motd.path", "\"/etc/motd\""),
        (
            "configuration-files.motd.template-path",
            "\"/usr/share/templates/motd\"",
        ),
        (
            "configuration-files.chrony-conf.path",
            "\"/etc/chrony.conf\"",
        ),
    ] {
        store.set_key(&Key::data(k).unwrap(), v, &live).unwrap();
    }
}
