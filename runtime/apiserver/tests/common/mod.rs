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
    apply_command: String,
    child: Child,
}

/// Starts the server binary on the files in `dir` (os-release, reboot.sh, the stand-in updog).
fn spawn_server(dir: &Path, socket: &Path, datastore: &Path, apply_command: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_apiserver"))
        .arg("--socket-path")
        .arg(socket)
        .arg("--datastore-path")
        .arg(datastore)
        .arg("--apply-command")
        .arg(apply_command)
        .arg("--reboot-command")
        .arg(dir.join("reboot.sh"))
        .arg("--os-release-path")
        .arg(dir.join("os-release"))
        .arg("--updog-command")
        .arg(dir.join("updog"))
        .arg("--update-status-path")
        .arg(dir.join("status/status.json"))
        .arg("--update-command-timeout")
        .arg("5s")
        // No Bottlerocket disk here: next-to-boot is judged from the update state.
        .arg("--signpost-disk")
        .arg(dir.join("no-disk"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// A stand-in for `updog` (see `updates.rs` in the server for the contract): `check-update`
/// prints two updates (`--all`) or the newest one; `update-image` sleeps for the seconds in the
/// file `image-delay` next to it (default 1), fails when the file `fail-image` exists; every
/// call is appended to `updog.log`.
pub const STAND_IN_UPDOG: &str = r#"here="$(dirname "$0")"
echo "$*" >> "$here/updog.log"
u() { printf '{"variant":"aws-k8s-1.31","arch":"x86_64","version":"%s","max_version":"1.4.0","waves":{},"images":{"boot":"b","root":"r","hash":"h"}}' "$1"; }
for a in "$@"; do last="$a"; done
case "$*" in
  *check-update*--all*) printf '[%s,%s]
' "$(u 1.3.0)" "$(u 1.4.0)" ;;
  *check-update*) printf '[%s]
' "$(u 1.4.0)" ;;
  *update-image*)
    sleep "$(cat "$here/image-delay" 2>/dev/null || echo 1)"
    if [ -e "$here/fail-image" ]; then echo "no space left on the inactive bank" >&2; exit 3; fi ;;
  *update-apply*|*update-revert*) ;;
  *) echo "unexpected arguments: $*" >&2; exit 64 ;;
esac"#;

/// Waits (at most 10 s) until a server answers on `socket`.
pub fn wait_for(socket: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while apiclient::request(socket, "GET", "/tx/list", None).is_err() {
        assert!(Instant::now() < deadline, "apiserver did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
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
        script(
            dir.path(),
            "reboot.sh",
            "touch \"$(dirname \"$0\")/rebooted\"",
        );
        script(dir.path(), "updog", STAND_IN_UPDOG);
        let socket = dir.path().join("api.sock");
        let child = spawn_server(dir.path(), &socket, &datastore, &apply_command);
        let server = Self {
            dir,
            socket,
            datastore,
            apply_command,
            child,
        };
        server.wait_ready();
        server
    }

    /// Kills the server and starts it again with the same files.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_server(
            self.dir.path(),
            &self.socket,
            &self.datastore,
            &self.apply_command,
        );
        self.wait_ready();
    }

    fn wait_ready(&self) {
        wait_for(&self.socket);
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
