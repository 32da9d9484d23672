//! The live read cache, kept-alive connections, the connection cap and the server's threads.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{seed, TestServer};
use datastore::{Committed, Key};
use serde_json::json;

fn motd_through(client: &mut apiclient::Client, uri: &str) -> serde_json::Value {
    let r = client.request("GET", uri, None).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn cache_never_serves_stale_data_after_another_processs_commit() {
    let s = TestServer::start_with(|_| "true".into(), seed);
    // A second datastore handle, as another process would have.
    let other = s.store();
    let motd = Key::data("settings.motd").unwrap();
    let mut client = apiclient::Client::new(&s.socket);
    let uris = [
        "/settings",
        "/settings?keys=settings.motd",
        "/settings?prefix=settings.motd",
    ];
    for i in 0..30 {
        // Warm every cached form of the read, twice.
        for uri in uris {
            motd_through(&mut client, uri);
            motd_through(&mut client, uri);
        }
        let value = format!("other {i}");
        if i % 2 == 0 {
            // A transaction committed by the other handle...
            let tx = Committed::pending("elsewhere").unwrap();
            other
                .set_key(&motd, &json!(value).to_string(), &tx)
                .unwrap();
            other.commit_transaction("elsewhere").unwrap();
        } else {
            // ...or a direct write to live.
            other
                .set_key(&motd, &json!(value).to_string(), &Committed::Live)
                .unwrap();
        }
        for uri in uris {
            assert_eq!(
                motd_through(&mut client, uri),
                json!({"motd": value}),
                "{uri} after commit {i}"
            );
        }
        let root = motd_through(&mut client, "/");
        assert_eq!(root["settings"]["motd"], json!(value));
    }

    // Commits through the server are seen at once too; pending reads are never cached.
    s.expect(
        "PATCH",
        "/settings?tx=t",
        Some(r#"{"motd": "pending"}"#),
        204,
    );
    assert_eq!(
        s.expect("GET", "/settings?tx=t", None, 200)["motd"],
        "pending"
    );
    assert_eq!(s.expect("GET", "/settings", None, 200)["motd"], "other 29");
    s.expect(
        "PATCH",
        "/settings?tx=t",
        Some(r#"{"motd": "pending 2"}"#),
        204,
    );
    assert_eq!(
        s.expect("GET", "/settings?tx=t", None, 200)["motd"],
        "pending 2"
    );
    s.expect("POST", "/tx/commit?tx=t", None, 200);
    assert_eq!(motd_through(&mut client, "/settings")["motd"], "pending 2");
    // Services and configuration files come from the same cache.
    other
        .set_key(
            &Key::data("services.motd.restart-commands").unwrap(),
            "[\"x\"]",
            &Committed::Live,
        )
        .unwrap();
    assert_eq!(
        motd_through(&mut client, "/services?names=motd")["motd"]["restart-commands"],
        json!(["x"])
    );
}

#[test]
fn keep_alive_client_reuses_its_connection() {
    let s = TestServer::start();
    let mut client = apiclient::Client::new(&s.socket);
    for _ in 0..50 {
        assert_eq!(
            client.request("GET", "/settings", None).unwrap().status,
            200
        );
    }
    assert_eq!(
        client
            .request("PATCH", "/settings", Some(r#"{"motd": "ka"}"#))
            .unwrap()
            .status,
        204
    );
    assert_eq!(
        client.request("POST", "/tx/commit", None).unwrap().status,
        200
    );
    assert_eq!(
        client.request("GET", "/settings", None).unwrap().json(),
        json!({"motd": "ka"})
    );
    // Errors keep the connection usable too.
    assert_eq!(client.request("GET", "/nope", None).unwrap().status, 404);
    assert_eq!(client.request("GET", "/os", None).unwrap().status, 200);
}

#[test]
fn connections_beyond_the_cap_get_503_and_slots_are_released() {
    let s = TestServer::start();
    let socket = s.dir.path().join("capped.sock");
    let child = Command::new(env!("CARGO_BIN_EXE_apiserver"))
        .arg("--socket-path")
        .arg(&socket)
        .arg("--datastore-path")
        .arg(&s.datastore)
        .arg("--max-connections")
        .arg("2")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Killed on drop, also when an assertion below fails, so no server outlives the test.
    let _server = crate::common::KillOnDrop(child);
    crate::common::wait_for(&socket);
    // Two idle connections take both slots (a served request proves each is accepted). The
    // startup probes' slots are released asynchronously, so a connection may first see 503.
    let connect = || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut client = apiclient::Client::new(&socket);
            let status = status_of(client.request("GET", "/tx/list", None));
            if status == 200 {
                return client;
            }
            assert_eq!(status, 503);
            assert!(Instant::now() < deadline, "no slot became free");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let a = connect();
    let mut b = connect();
    let mut third = UnixStream::connect(&socket).unwrap();
    let mut out = String::new();
    third.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
    assert!(out.contains("too many connections"), "{out}");
    // Closing one frees its slot.
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = status_of(apiclient::request(&socket, "GET", "/tx/list", None));
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "slot was never released");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(b.request("GET", "/tx/list", None).unwrap().status, 200);
}

/// The status of a request on a new connection. A connection over the cap is answered 503 at
/// once, without the server reading the request; when that answer arrives before the client has
/// sent its request, hyper reports an unexpected message instead of the response, which is the
/// same rejection.
fn status_of(result: Result<apiclient::Response, apiclient::Error>) -> u16 {
    match result {
        Ok(response) => response.status,
        Err(e) if format!("{e:?}").contains("UnexpectedMessage") => 503,
        Err(e) => panic!("GET /tx/list: {e:?}"),
    }
}

/// Threads of a process (Linux).
fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count()
}

/// Many kept-alive connections are served at once on a few threads (the server is async: no
/// thread per connection), and the server stays healthy once they close.
#[test]
fn open_connections_are_served_at_once_on_few_threads() {
    let s = TestServer::start();
    let mut clients: Vec<_> = (0..24).map(|_| apiclient::Client::new(&s.socket)).collect();
    // Round-robin over the open connections: each is served while all the others stay open.
    for _ in 0..3 {
        for c in &mut clients {
            assert_eq!(c.request("GET", "/settings", None).unwrap().status, 200);
        }
    }
    let threads = thread_count(s.pid());
    assert!(threads < 24, "{threads} threads for 24 open connections");
    drop(clients);
    for _ in 0..20 {
        s.expect("GET", "/settings", None, 200);
    }
}
