//! Client of the host API server (`apiserver`) on its Unix socket.
//!
//! * [`request`] sends one HTTP/1.1 request over the socket (hyper's client, one connection per
//!   request) and returns the [`Response`]; [`check`] turns a non-2xx response into
//!   [`Error::Status`], whose message is `Status N when METHODing URI: body`.
//! * [`Client`] keeps one connection open across requests (HTTP keep-alive), for callers that
//!   send many requests.
//! * [`parse_setting`] / [`settings_from_args`] turn `apiclient set` arguments (`motd=hi`,
//!   `kubernetes.node-labels."example.com/role"=web`) into a nested settings object.
//! * [`set_settings`] writes a settings object in a private transaction and commits and applies
//!   it; [`get_settings`] reads settings by prefix; [`read_apply_input`] reads an `apiclient
//!   apply` input (a file, `-` for stdin, or an `http://`/`https://` URI fetched with
//!   [`fetch_uri`]) and [`parse_apply_input`] parses the TOML or JSON document.
//! * [`update`] runs the update actions (`apiclient update check|apply|cancel`) and waits for
//!   their results.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use api_model::{ChangedKeys, CommandType, SettingsPatch};
use serde_json::{Map, Value};

mod http;
mod transport;
pub mod update;

pub use http::{request, Client, Response};

/// Default path of the API socket.
pub const DEFAULT_SOCKET_PATH: &str = "/run/api.sock";

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket could not be connected to.
    #[error("cannot connect to the API socket {}", path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Reading an input file (or stdin) failed.
    #[error("cannot {op}")]
    Io {
        /// What was being done.
        op: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the API server's socket failed.
    #[error("cannot wait for the API socket")]
    Wait(#[source] std::io::Error),
    /// The method or URI can't make a request.
    #[error("invalid request {method} {uri}: {reason}")]
    InvalidRequest {
        /// The request method.
        method: String,
        /// The request URI.
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// The server closed a new connection before taking the request.
    #[error("request {method} {uri} failed: the server closed a new connection before reading the request")]
    Closed {
        /// The request method.
        method: String,
        /// The request URI.
        uri: String,
    },
    /// The HTTP exchange with the server failed (connection lost, invalid response).
    #[error("request {method} {uri} failed")]
    Http {
        /// The request method.
        method: String,
        /// The request URI.
        uri: String,
        /// The underlying error.
        #[source]
        source: hyper::Error,
    },
    /// The server answered with a non-2xx status.
    #[error("Status {status} when {}ing {uri}: {body}", method.to_ascii_uppercase())]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The request method.
        method: String,
        /// The request URI.
        uri: String,
        /// The response body.
        body: String,
    },
    /// A settings document could not be fetched from its URI.
    #[error("failed to fetch '{uri}': {reason}")]
    Fetch {
        /// The URI.
        uri: String,
        /// What went wrong (including the HTTP status and body for a non-2xx answer).
        reason: String,
    },
    /// An `apply` input names a URI scheme that is not supported.
    #[error(
        "unsupported URI scheme '{scheme}' in '{uri}': give a file path, '-' for stdin, or an \
         http:// or https:// URI"
    )]
    UnsupportedScheme {
        /// The scheme, e.g. `ftp`.
        scheme: String,
        /// The input.
        uri: String,
    },
    /// A `key=value` argument or settings document is malformed.
    #[error("invalid setting '{input}': {reason}")]
    InvalidSetting {
        /// The argument or document part at fault.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Waiting for an update command (or for the server to be free of one) took too long.
    #[error("timed out after {}s waiting for {waiting_for}", timeout.as_secs())]
    UpdateTimeout {
        /// What was awaited.
        waiting_for: String,
        /// The timeout.
        timeout: Duration,
    },
    /// An update command finished as failed.
    #[error(
        "update command '{cmd_type}' failed (exit status {}): {stderr}",
        exit_status.map_or_else(|| "none".to_string(), |c| c.to_string())
    )]
    UpdateFailed {
        /// The command type, e.g. `prepare`.
        cmd_type: CommandType,
        /// Its exit status, if it exited.
        exit_status: Option<i32>,
        /// Its captured standard error.
        stderr: String,
    },
    /// The update state does not allow what was asked.
    #[error("{reason}")]
    UpdateState {
        /// Why.
        reason: String,
    },
}

/// Turns a non-2xx response into [`Error::Status`].
pub fn check(response: Response, method: &str, uri: &str) -> Result<Response> {
    if response.is_success() {
        Ok(response)
    } else {
        Err(Error::Status {
            status: response.status,
            method: method.to_string(),
            uri: uri.to_string(),
            body: response.body,
        })
    }
}

/// [`request`] followed by [`check`].
pub fn request_ok(socket: &Path, method: &str, uri: &str, body: Option<&str>) -> Result<Response> {
    let response = request(socket, method, uri, body)?;
    check(response, method, uri)
}

/// Percent-encodes a query-string value (everything but `[A-Za-z0-9_.,~-]`).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b',' | b'~' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Makes a key name absolute: `motd` → `settings.motd`; names starting with `settings.` (or equal
/// to `settings`) are kept.
pub fn absolute_key(name: &str) -> String {
    if name == "settings" || name.starts_with("settings.") {
        name.to_string()
    } else {
        format!("settings.{name}")
    }
}

/// Parses one `key=value` argument of `apiclient set`.
///
/// The key is relative to `settings.` unless it starts with `settings.`, and may hold quoted
/// segments (`kubernetes.node-labels."example.com/role"=web`); the split is at the first `=`
/// outside quotes. The value is parsed as JSON when it parses (`42`, `true`, `["a"]`), else it
/// is a string. Returns the key's segments below `settings` and the value.
pub fn parse_setting(arg: &str) -> Result<(Vec<String>, Value)> {
    let invalid = |reason: &str| Error::InvalidSetting {
        input: arg.to_string(),
        reason: reason.to_string(),
    };
    let mut in_quotes = false;
    let mut split = None;
    for (i, c) in arg.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '=' if !in_quotes => {
                split = Some(i);
                break;
            }
            _ => {}
        }
    }
    let at = split.ok_or_else(|| invalid("expected key=value"))?;
    let (name, raw_value) = (&arg[..at], &arg[at + 1..]);
    if name.is_empty() {
        return Err(invalid("the key is empty"));
    }
    let key = datastore::Key::data(&absolute_key(name)).map_err(|e| invalid(&e.to_string()))?;
    let segments = key.segments();
    if segments.len() < 2 {
        return Err(invalid("the key must name a setting below 'settings'"));
    }
    let value = serde_json::from_str(raw_value).unwrap_or_else(|_| Value::String(raw_value.into()));
    Ok((segments[1..].to_vec(), value))
}

/// Parses `key=value` arguments into one nested settings object (the object under `settings`);
/// a key given twice takes its last value.
pub fn settings_from_args<S: AsRef<str>>(args: &[S]) -> Result<Value> {
    let mut patch = SettingsPatch::new();
    for arg in args {
        let arg = arg.as_ref();
        let (segments, value) = parse_setting(arg)?;
        patch
            .set(&segments, value)
            .map_err(|e| Error::InvalidSetting {
                input: arg.to_string(),
                reason: e.to_string(),
            })?;
    }
    Ok(patch.into_value())
}

/// A transaction name private to this call (`apiclient-<pid>-<n>`).
fn private_tx() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "apiclient-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes `settings` (the object under `settings`) in a private transaction with
/// `PATCH /settings`, then commits and applies it with `POST /tx/commit_and_apply`; returns the
/// changed keys. On a failed PATCH the transaction is deleted.
pub fn set_settings(socket: &Path, settings: &Value) -> Result<Vec<String>> {
    let tx = private_tx();
    let patch_uri = format!("/settings?tx={tx}");
    let body = settings.to_string();
    if let Err(e) = request_ok(socket, "PATCH", &patch_uri, Some(&body)) {
        let _ = request(socket, "DELETE", &format!("/tx?tx={tx}"), None);
        return Err(e);
    }
    let commit_uri = format!("/tx/commit_and_apply?tx={tx}");
    let response = request_ok(socket, "POST", &commit_uri, None)?;
    // The keys are for information only: an unreadable list is not a failure of the commit.
    Ok(serde_json::from_str::<ChangedKeys>(&response.body)
        .map(|keys| keys.0)
        .unwrap_or_default())
}

/// Reads settings with `GET /settings?prefix=` for each prefix (relative to `settings.` unless
/// they start with it; all settings when `prefixes` is empty) and merges them into one object
/// `{"settings": {...}}`.
pub fn get_settings<S: AsRef<str>>(socket: &Path, prefixes: &[S]) -> Result<Value> {
    let mut merged = Value::Object(Map::new());
    if prefixes.is_empty() {
        let response = request_ok(socket, "GET", "/settings", None)?;
        merged = response.json();
    }
    for prefix in prefixes {
        let uri = format!(
            "/settings?prefix={}",
            encode_query_value(&absolute_key(prefix.as_ref()))
        );
        let response = request_ok(socket, "GET", &uri, None)?;
        merge(&mut merged, response.json());
    }
    Ok(serde_json::json!({ "settings": merged }))
}

/// Merges `from` into `into`: objects merge recursively, anything else replaces.
pub fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Overall time allowed to fetch an `apply` document from a URI (connect, TLS, headers, body).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed to connect (TCP and TLS handshake) when fetching a URI.
pub const FETCH_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest `apply` document fetched from a URI, in bytes (the server's request body limit).
pub const FETCH_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// How much of an error response's body is quoted in [`Error::Fetch`], in bytes.
const FETCH_ERROR_BODY: usize = 1024;

/// Fetches a document from an `http://` or `https://` URI (TLS by rustls with the Mozilla root
/// certificates; a proxy from `ALL_PROXY`, `HTTPS_PROXY` or `HTTP_PROXY`, `NO_PROXY` honoured),
/// with [`FETCH_TIMEOUT`]. A non-2xx answer is an [`Error::Fetch`] naming the URI, the status
/// and the start of the body.
pub fn fetch_uri(uri: &str) -> Result<String> {
    let fail = |reason: String| Error::Fetch {
        uri: uri.to_string(),
        reason,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .timeout_connect(Some(FETCH_CONNECT_TIMEOUT))
        .http_status_as_error(false)
        .user_agent(concat!("apiclient/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut response = agent.get(uri).call().map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    let body = response.body_mut().with_config().limit(FETCH_MAX_BYTES);
    if !status.is_success() {
        // Best effort: the status alone is enough when the body can't be read.
        let text = body.read_to_string().unwrap_or_default();
        let mut end = text.len().min(FETCH_ERROR_BODY);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let more = if end < text.len() { "..." } else { "" };
        return Err(fail(format!(
            "HTTP status {status}: {}{more}",
            text[..end].trim_end()
        )));
    }
    body.read_to_string()
        .map_err(|e| fail(format!("failed to read the body: {e}")))
}

/// Reads one `apiclient apply` input: `-` is stdin, `http://` and `https://` URIs are fetched
/// ([`fetch_uri`]), `file://` URIs and anything else without a `scheme://` are file paths;
/// other schemes are refused with [`Error::UnsupportedScheme`].
pub fn read_apply_input(input: &str) -> Result<String> {
    if input == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| Error::Io {
                op: "read stdin".into(),
                source,
            })?;
        return Ok(text);
    }
    let path = match uri_scheme(input) {
        Some(scheme) if scheme.eq_ignore_ascii_case("http") => return fetch_uri(input),
        Some(scheme) if scheme.eq_ignore_ascii_case("https") => return fetch_uri(input),
        Some(scheme) if scheme.eq_ignore_ascii_case("file") => &input[scheme.len() + 3..],
        Some(scheme) => {
            return Err(Error::UnsupportedScheme {
                scheme: scheme.to_string(),
                uri: input.to_string(),
            })
        }
        None => input,
    };
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        op: format!("read '{input}'"),
        source,
    })
}

/// The scheme of `input` when it starts like a URI (`scheme://`, the scheme being a letter then
/// letters, digits, `+`, `-` or `.`).
fn uri_scheme(input: &str) -> Option<&str> {
    let (scheme, _) = input.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// Reads an `apiclient apply` document, JSON or TOML, and returns its `settings` table.
///
/// `source` names the input in error messages.
pub fn parse_apply_input(source: &str, text: &str) -> Result<Value> {
    let doc: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(json_err) => {
            let table: toml::Table =
                toml::from_str(text).map_err(|toml_err| Error::InvalidSetting {
                    input: source.to_string(),
                    reason: format!(
                        "neither JSON ({json_err}) nor TOML ({})",
                        toml_err.message()
                    ),
                })?;
            serde_json::to_value(table).map_err(|e| Error::InvalidSetting {
                input: source.to_string(),
                reason: format!("can't convert TOML to JSON: {e}"),
            })?
        }
    };
    match doc.get("settings") {
        Some(settings @ Value::Object(_)) => Ok(settings.clone()),
        Some(_) => Err(Error::InvalidSetting {
            input: source.to_string(),
            reason: "'settings' must be a table".into(),
        }),
        None => Err(Error::InvalidSetting {
            input: source.to_string(),
            reason: "no 'settings' table".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_settings_arguments() {
        let v = settings_from_args(&[
            "motd=hi",
            "settings.kubernetes.max-pods=10",
            "kubernetes.node-labels.\"example.com/role\"=a=b",
            "network.hostname=\"quoted\"",
        ])
        .unwrap();
        assert_eq!(
            v,
            json!({
                "motd": "hi",
                "kubernetes": {"max-pods": 10, "node-labels": {"example.com/role": "a=b"}},
                "network": {"hostname": "quoted"}
            })
        );
        assert!(settings_from_args(&["motd"]).is_err());
        assert!(settings_from_args(&["=x"]).is_err());
        assert!(settings_from_args(&["a..b=1"]).is_err());
        assert!(settings_from_args(&["a=1", "a.b=2"]).is_err());
    }

    #[test]
    fn recognizes_uri_schemes() {
        assert_eq!(uri_scheme("https://example.com/x.toml"), Some("https"));
        assert_eq!(uri_scheme("s3://bucket/key"), Some("s3"));
        assert_eq!(uri_scheme("file:///etc/x.toml"), Some("file"));
        assert_eq!(uri_scheme("/tmp/a://b"), None);
        assert_eq!(uri_scheme("./x.toml"), None);
        assert_eq!(uri_scheme("-"), None);
        let err = read_apply_input("ftp://host/x.toml").unwrap_err();
        assert!(matches!(err, Error::UnsupportedScheme { .. }), "{err}");
        assert!(err.to_string().contains("'ftp'"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("in.toml");
        std::fs::write(&file, "[settings]\nmotd = \"f\"\n").unwrap();
        let uri = format!("file://{}", file.display());
        assert_eq!(
            read_apply_input(&uri).unwrap(),
            "[settings]\nmotd = \"f\"\n"
        );
    }

    #[test]
    fn parses_apply_documents() {
        let toml = "[settings]\nmotd = \"hi\"\n[settings.kubernetes]\nmax-pods = 3\n";
        assert_eq!(
            parse_apply_input("x", toml).unwrap(),
            json!({"motd": "hi", "kubernetes": {"max-pods": 3}})
        );
        assert_eq!(
            parse_apply_input("x", r#"{"settings": {"motd": "j"}}"#).unwrap(),
            json!({"motd": "j"})
        );
        assert!(parse_apply_input("x", "motd = 1").is_err());
        assert!(parse_apply_input("x", "{{").is_err());
    }

    #[test]
    fn non_2xx_is_a_status_error() {
        let r = Response {
            status: 404,
            body: "{}".into(),
        };
        let e = check(r, "get", "/x").unwrap_err();
        assert_eq!(e.to_string(), "Status 404 when GETing /x: {}");
        let ok = Response {
            status: 204,
            body: String::new(),
        };
        assert_eq!(check(ok.clone(), "post", "/x").unwrap(), ok);
    }
}
