//! Runs the real `early-boot-config` binary against a real apiserver (in a thread of the test,
//! on a real Unix socket) and a tiny IMDSv2-style server on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datastore::{Committed, FilesystemDataStore, Key};
use flate2::write::GzEncoder;

const TOKEN: &str = "AQAEAtest-token==";

struct Api {
    dir: tempfile::TempDir,
    socket: PathBuf,
    datastore: PathBuf,
}

impl Api {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let datastore = datastore::create(dir.path().join("datastore"), "1.0.0").unwrap();
        let os_release = dir.path().join("os-release");
        std::fs::write(&os_release, "NAME=Bottlerocket\nVERSION_ID=1.0.0\n").unwrap();
        let apply = dir.path().join("apply.sh");
        std::fs::write(
            &apply,
            "#!/bin/sh\ncat >> \"$(dirname \"$0\")/applied.log\"; echo >> \"$(dirname \"$0\")/applied.log\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&apply, std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = dir.path().join("api.sock");
        let server = apiserver::Server::bind(apiserver::Config {
            socket_path: socket.clone(),
            datastore_path: datastore.clone(),
            socket_gid: None,
            apply_command: vec![apply.display().to_string()],
            reboot_command: vec!["true".into()],
            os_release_path: os_release,
            max_connections: apiserver::DEFAULT_MAX_CONNECTIONS,
            settings_families: None,
        })
        .unwrap();
        std::thread::spawn(move || server.serve());
        let deadline = Instant::now() + Duration::from_secs(10);
        while apiclient::request(&socket, "GET", "/tx/list", None).is_err() {
            assert!(Instant::now() < deadline, "apiserver did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self {
            dir,
            socket,
            datastore,
        }
    }

    fn get(&self, key: &str) -> Option<String> {
        FilesystemDataStore::open(&self.datastore)
            .unwrap()
            .get_key(&Key::data(key).unwrap(), &Committed::Live)
            .unwrap()
    }

    fn applied_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("applied.log")).unwrap_or_default()
    }

    fn marker(&self) -> PathBuf {
        self.dir.path().join("var/lib/ebc.ran")
    }

    fn run(&self, source_args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_early-boot-config"))
            .args(source_args)
            .arg("--socket-path")
            .arg(&self.socket)
            .arg("--marker-path")
            .arg(self.marker())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "early-boot-config failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// What the IMDS server answers for the user data.
#[derive(Clone)]
enum UserData {
    Body(Vec<u8>),
    NotFound,
}

/// A tiny IMDSv2-style server: tokens for a PUT with the TTL header, user data only with the
/// token. Records each request's head.
struct Imds {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Imds {
    fn start(user_data: UserData) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                handle(stream, &user_data, &log);
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// The value of header `name` (matched without regard to case, as HTTP does) in a request head.
fn header_of(head: &str, name: &str) -> Option<String> {
    head.split("\r\n").skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn handle(mut stream: TcpStream, user_data: &UserData, log: &Mutex<Vec<String>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    log.lock().unwrap().push(head.clone());
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let header = |name: &str| header_of(&head, name);
    let (status, body): (&str, Vec<u8>) = match request_line.as_str() {
        "PUT /latest/api/token HTTP/1.1" => {
            match header("X-aws-ec2-metadata-token-ttl-seconds").as_deref() {
                Some("21600") => ("200 OK", TOKEN.as_bytes().to_vec()),
                _ => ("400 Bad Request", b"missing TTL".to_vec()),
            }
        }
        "GET /latest/user-data HTTP/1.1" => {
            if header("X-aws-ec2-metadata-token").as_deref() != Some(TOKEN) {
                ("401 Unauthorized", Vec::new())
            } else {
                match user_data {
                    UserData::Body(b) => ("200 OK", b.clone()),
                    UserData::NotFound => ("404 Not Found", b"not found".to_vec()),
                }
            }
        }
        _ => ("404 Not Found", Vec::new()),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    let _ = stream.write_all(&response);
}

const USER_DATA: &str = r#"
[settings]
motd = "from user data"

[settings.kubernetes.node-labels]
"example.com/role" = "web"

[other]
ignored = true
"#;

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path.display().to_string()
}

fn assert_applied(api: &Api) {
    assert_eq!(
        api.get("settings.motd").as_deref(),
        Some("\"from user data\"")
    );
    assert_eq!(
        api.get("settings.kubernetes.node-labels.\"example.com/role\"")
            .as_deref(),
        Some("\"web\"")
    );
    assert!(
        api.applied_log().contains("settings.motd"),
        "{}",
        api.applied_log()
    );
    assert!(api.marker().exists());
    let open = apiclient::request(&api.socket, "GET", "/tx/list", None).unwrap();
    assert_eq!(open.json(), serde_json::json!([]));
}

#[test]
fn plain_user_data_file_is_applied_once() {
    let api = Api::start();
    let file = write(api.dir.path(), "user-data", USER_DATA.as_bytes());
    ok(&api.run(&["--user-data-file", &file]));
    assert_applied(&api);

    // The marker makes a second run a no-op, even with different user data.
    write(
        api.dir.path(),
        "user-data",
        b"[settings]\nmotd = \"second\"\n",
    );
    let log = api.applied_log();
    let stdout = ok(&api.run(&["--user-data-file", &file]));
    assert!(stdout.contains("already ran"), "{stdout}");
    assert_eq!(
        api.get("settings.motd").as_deref(),
        Some("\"from user data\"")
    );
    assert_eq!(api.applied_log(), log);
}

#[test]
fn gzipped_user_data_file_is_applied() {
    let api = Api::start();
    let file = write(api.dir.path(), "user-data.gz", &gzip(USER_DATA.as_bytes()));
    ok(&api.run(&["--user-data-file", &file]));
    assert_applied(&api);
}

#[test]
fn plain_and_gzipped_user_data_from_imds() {
    for data in [USER_DATA.as_bytes().to_vec(), gzip(USER_DATA.as_bytes())] {
        let api = Api::start();
        let imds = Imds::start(UserData::Body(data));
        ok(&api.run(&["--imds-base-url", &imds.url]));
        assert_applied(&api);
        // The token was asked for with the TTL header and sent with the user data request.
        let requests = imds.requests();
        assert_eq!(requests.len(), 2, "{requests:?}");
        assert!(requests[0].starts_with("PUT /latest/api/token "));
        assert_eq!(
            header_of(&requests[0], "X-aws-ec2-metadata-token-ttl-seconds").as_deref(),
            Some("21600")
        );
        assert!(requests[1].starts_with("GET /latest/user-data "));
        assert_eq!(
            header_of(&requests[1], "X-aws-ec2-metadata-token").as_deref(),
            Some(TOKEN)
        );
    }
}

#[test]
fn missing_file_falls_back_to_imds() {
    let api = Api::start();
    let imds = Imds::start(UserData::Body(USER_DATA.as_bytes().to_vec()));
    let missing = api.dir.path().join("no-such-file").display().to_string();
    ok(&api.run(&["--user-data-file", &missing, "--imds-base-url", &imds.url]));
    assert_applied(&api);
}

#[test]
fn imds_404_means_nothing_to_apply() {
    let api = Api::start();
    let imds = Imds::start(UserData::NotFound);
    let stdout = ok(&api.run(&["--imds-base-url", &imds.url]));
    assert!(stdout.contains("no user data"), "{stdout}");
    assert_eq!(api.get("settings.motd"), None);
    assert_eq!(api.applied_log(), "");
    assert!(api.marker().exists());
}

#[test]
fn imds_token_is_required() {
    // The library's GET without a token is refused by the server: the client must fetch one.
    let imds = Imds::start(UserData::Body(b"[settings]\nmotd = \"x\"\n".to_vec()));
    let r = early_boot_config::http_request(&imds.url, "GET", "/latest/user-data", &[]).unwrap();
    assert_eq!(r.status, 401);
    let r = early_boot_config::http_request(
        &imds.url,
        "GET",
        "/latest/user-data",
        &[("X-aws-ec2-metadata-token", "wrong")],
    )
    .unwrap();
    assert_eq!(r.status, 401);
    let data = early_boot_config::fetch_imds_user_data(&imds.url).unwrap();
    assert_eq!(data.as_deref(), Some(&b"[settings]\nmotd = \"x\"\n"[..]));

    // A server that refuses the token request fails the run and leaves no marker.
    let api = Api::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let out = api.run(&["--imds-base-url", &url]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/latest/api/token") && stderr.contains("403"),
        "{stderr}"
    );
    assert!(!api.marker().exists());
}

#[test]
fn invalid_user_data_names_the_key_and_applies_nothing() {
    let api = Api::start();
    let bad = "[settings]\nmotd = \"fine\"\n[settings.kubernetes]\nmax-pods = \"lots\"\n";
    for (name, data) in [
        ("plain", bad.as_bytes().to_vec()),
        ("gz", gzip(bad.as_bytes())),
    ] {
        let file = write(api.dir.path(), name, &data);
        let out = api.run(&["--user-data-file", &file]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("settings.kubernetes.max-pods"), "{stderr}");
        assert!(stderr.contains(&file), "{stderr}");
    }
    let imds = Imds::start(UserData::Body(b"[settings]\nno-such-family = 1\n".to_vec()));
    let out = api.run(&["--imds-base-url", &imds.url]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("settings.no-such-family"), "{stderr}");

    let file = write(api.dir.path(), "not-toml", b"\x1f\x8bnot really gzip");
    let out = api.run(&["--user-data-file", &file]);
    assert!(!out.status.success());

    assert_eq!(api.get("settings.motd"), None);
    assert_eq!(api.applied_log(), "");
    assert!(!api.marker().exists());
    let open = apiclient::request(&api.socket, "GET", "/tx/list", None).unwrap();
    assert_eq!(open.json(), serde_json::json!([]));
}

#[test]
fn missing_file_and_no_imds_is_nothing_to_apply() {
    let api = Api::start();
    let missing = api.dir.path().join("absent").display().to_string();
    let stdout = ok(&api.run(&["--user-data-file", &missing]));
    assert!(stdout.contains("no user data"), "{stdout}");
    assert!(api.marker().exists());
}

#[test]
fn unreachable_imds_is_retried_then_fails_without_a_marker() {
    let api = Api::start();
    // A port nobody listens on: every connection is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    let out = api.run(&["--imds-base-url", &url]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/latest/api/token") && stderr.contains("connect:"),
        "{stderr}"
    );
    // Four backoffs of 200, 400, 800 and 1600 ms.
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "not retried: {:?}",
        start.elapsed()
    );
    assert!(!api.marker().exists());
}
