//! storewolf creates the datastore from defaults, apiserver serves it on a Unix socket, apiclient
//! gets, sets and applies settings, and the apply command (thar-be-settings) renders the file.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The workspace binary `name`, built beside this test (`target/<profile>/<name>`).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo test --workspace` (or `cargo build -p storewolf -p apiserver -p apiclient -p renderer` first)",
        path.display()
    );
    path
}

/// A scratch host: datastore, defaults, templates, rendered root and the API socket.
struct Host {
    dir: tempfile::TempDir,
    apiserver: Option<Child>,
}

impl Host {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let templates = dir.path().join("templates");
        for sub in ["defaults.d", "root", "templates"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::copy(
            fixtures.join("motd.template"),
            templates.join("motd.template"),
        )
        .unwrap();
        let defaults = std::fs::read_to_string(fixtures.join("defaults.toml"))
            .unwrap()
            .replace("@TEMPLATE_DIR@", &templates.display().to_string());
        std::fs::write(dir.path().join("defaults.d/10-motd.toml"), defaults).unwrap();
        Self {
            dir,
            apiserver: None,
        }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    fn storewolf(&self) -> Output {
        run(Command::new(binary("storewolf"))
            .arg("--data-store-base-path")
            .arg(self.path("datastore"))
            .args(["--version", "1.0.0", "--defaults-dir"])
            .arg(self.path("defaults.d")))
    }

    fn start_apiserver(&mut self) {
        let socket = self.path("api.sock");
        let _ = std::fs::remove_file(&socket);
        let current = self.path("datastore/current");
        let apply = format!(
            "{} --datastore-path {} --root {}",
            binary("thar-be-settings").display(),
            current.display(),
            self.path("root").display()
        );
        let mut child = Command::new(binary("apiserver"))
            .arg("--datastore-path")
            .arg(&current)
            .arg("--socket-path")
            .arg(&socket)
            .arg("--apply-command")
            .arg(apply)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("apiserver starts");
        let started = Instant::now();
        while !socket.exists() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("apiserver exited with {status} before creating its socket");
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "apiserver's socket did not appear within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.apiserver = Some(child);
    }

    fn stop_apiserver(&mut self) {
        if let Some(mut child) = self.apiserver.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn api(&self, args: &[&str]) -> Output {
        run(Command::new(binary("apiclient"))
            .arg("-s")
            .arg(self.path("api.sock"))
            .args(args))
    }

    /// Waits (the apply command runs after the API call returns) until the rendered motd is
    /// exactly `expected`.
    fn wait_for_motd(&self, expected: &str) {
        let motd = self.path("root/etc/motd");
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&motd).unwrap_or_default();
            if text.trim_end() == expected {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{} holds {text:?}, not {expected:?}",
                motd.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop_apiserver();
    }
}

fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn settings_flow_from_defaults_through_the_api_to_rendered_files() {
    let mut host = Host::new();
    let created = host.storewolf();
    assert!(created.status.success(), "storewolf: {}", text(&created));
    assert!(host.path("datastore/current").exists());

    host.start_apiserver();
    assert_eq!(mode(&host.path("api.sock")), 0o660, "socket mode");

    let default = host.api(&["get", "settings.motd"]);
    assert!(default.status.success(), "{}", text(&default));
    assert!(text(&default).contains("\"welcome\""), "{}", text(&default));

    let set = host.api(&["set", "motd=hi"]);
    assert!(set.status.success(), "{}", text(&set));
    host.wait_for_motd("hi");
    assert_eq!(
        mode(&host.path("root/etc/motd")),
        0o644,
        "rendered file mode"
    );
    assert!(text(&host.api(&["get", "settings.motd"])).contains("\"hi\""));

    // An invalid value is refused, naming the key, and changes nothing.
    let invalid = host.api(&["set", "kubernetes.max-pods=notanumber"]);
    assert!(!invalid.status.success(), "{}", text(&invalid));
    assert!(text(&invalid).contains("max-pods"), "{}", text(&invalid));
    assert!(text(&host.api(&["get", "settings.motd"])).contains("\"hi\""));
    host.wait_for_motd("hi");

    // A second storewolf run (the next boot) keeps the user's value.
    host.stop_apiserver();
    let again = host.storewolf();
    assert!(again.status.success(), "second storewolf: {}", text(&again));
    host.start_apiserver();
    assert!(text(&host.api(&["get", "settings.motd"])).contains("\"hi\""));

    // apiclient apply with a TOML file.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let applied = host.api(&["apply", fixtures.join("apply.toml").to_str().unwrap()]);
    assert!(applied.status.success(), "{}", text(&applied));
    host.wait_for_motd("from-apply");
    assert!(text(&host.api(&["get", "settings.motd"])).contains("\"from-apply\""));
}
