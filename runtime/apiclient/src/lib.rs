//! Client of the host API server (`apiserver`) on its Unix socket.
//!
//! * [`request`] sends one HTTP/1.1 request over the socket (a small hand-written client: one
//!   connection per request, `Connection: close`, `Content-Length` bodies) and returns the
//!   [`Response`]; [`check`] turns a non-2xx response into [`Error::Status`], whose message is
//!   `Status N when METHODing URI: body`.
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

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};

pub mod update;

/// Default path of the API socket.
pub const DEFAULT_SOCKET_PATH: &str = "/run/api.sock";

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket could not be connected to.
    #[error("failed to connect to API socket '{}': {source}", path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the connection (or an input file) failed.
    #[error("failed to {op}: {source}")]
    Io {
        /// What was being done.
        op: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The server's response is not valid HTTP/1.1.
    #[error("invalid response to {method} {uri}: {reason}")]
    BadResponse {
        /// The request method.
        method: String,
        /// The request URI.
        uri: String,
        /// What is wrong with the response.
        reason: String,
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
        cmd_type: String,
        /// Its exit status, if it exited.
        exit_status: Option<i64>,
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

/// An HTTP response from the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body parsed as JSON (`Value::Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends one request (`method` such as `GET`, `uri` such as `/settings?keys=settings.motd`) over
/// the Unix socket at `socket` and returns the response, whatever its status.
pub fn request(socket: &Path, method: &str, uri: &str, body: Option<&str>) -> Result<Response> {
    let method = method.to_ascii_uppercase();
    let mut stream = UnixStream::connect(socket).map_err(|source| Error::Connect {
        path: socket.to_path_buf(),
        source,
    })?;
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {uri} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let io = |op: &str| {
        let op = format!("{op} {method} {uri}");
        move |source| Error::Io { op, source }
    };
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    stream.write_all(&out).map_err(io("send"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(io("read response to"))?;
    parse_response(&raw).map_err(|reason| Error::BadResponse {
        method: method.clone(),
        uri: uri.to_string(),
        reason,
    })
}

/// A client that keeps its connection open across requests (HTTP keep-alive), reconnecting when
/// the server has closed it (idle timeout, `Connection: close`).
#[derive(Debug)]
pub struct Client {
    socket: PathBuf,
    conn: Option<BufReader<UnixStream>>,
}

impl Client {
    /// A client of the socket at `socket`; connects on the first request.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            conn: None,
        }
    }

    /// Sends one request on the kept-alive connection and returns the response, whatever its
    /// status.
    pub fn request(&mut self, method: &str, uri: &str, body: Option<&str>) -> Result<Response> {
        let method = method.to_ascii_uppercase();
        let body = body.unwrap_or("");
        let mut out = format!(
            "{method} {uri} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body.as_bytes());
        let reused = self.conn.is_some();
        match self.exchange(&method, uri, &out) {
            // The server closes idle connections before reading a request, so a reused
            // connection that ends before any response byte never ran the request: retry once.
            Err(Exchange::ClosedEarly) if reused => match self.exchange(&method, uri, &out) {
                Err(e) => Err(e.into_error(&method, uri)),
                Ok(r) => Ok(r),
            },
            Err(e) => Err(e.into_error(&method, uri)),
            Ok(r) => Ok(r),
        }
    }

    fn exchange(&mut self, method: &str, uri: &str, out: &[u8]) -> Result<Response, Exchange> {
        let conn = match &mut self.conn {
            Some(c) => c,
            None => {
                let stream = UnixStream::connect(&self.socket).map_err(|source| {
                    Exchange::Fatal(Error::Connect {
                        path: self.socket.clone(),
                        source,
                    })
                })?;
                self.conn.insert(BufReader::new(stream))
            }
        };
        let result = exchange_on(conn, method, uri, out);
        if !matches!(result, Ok((_, true))) {
            self.conn = None;
        }
        result.map(|(r, _)| r)
    }
}

/// Why an exchange on a kept-alive connection failed.
enum Exchange {
    /// The connection ended (or failed) before any byte of the response arrived.
    ClosedEarly,
    /// Anything else.
    Fatal(Error),
}

impl Exchange {
    fn into_error(self, method: &str, uri: &str) -> Error {
        match self {
            Exchange::Fatal(e) => e,
            Exchange::ClosedEarly => Error::BadResponse {
                method: method.to_string(),
                uri: uri.to_string(),
                reason: "the connection closed without a response".into(),
            },
        }
    }
}

/// Sends `out` and reads one response; also returns whether the connection may be reused.
fn exchange_on(
    conn: &mut BufReader<UnixStream>,
    method: &str,
    uri: &str,
    out: &[u8],
) -> Result<(Response, bool), Exchange> {
    let io = |op: &str| {
        let op = format!("{op} {method} {uri}");
        move |source| Exchange::Fatal(Error::Io { op, source })
    };
    let bad = |reason: String| {
        Exchange::Fatal(Error::BadResponse {
            method: method.to_string(),
            uri: uri.to_string(),
            reason,
        })
    };
    if conn.get_mut().write_all(out).is_err() {
        return Err(Exchange::ClosedEarly);
    }
    let mut raw = Vec::new();
    let mut first = true;
    loop {
        let start = raw.len();
        match conn.read_until(b'\n', &mut raw) {
            Ok(0) | Err(_) if first => return Err(Exchange::ClosedEarly),
            Ok(0) => return Err(bad("connection closed inside the response head".into())),
            Err(e) => return Err(io("read response to")(e)),
            Ok(_) => {}
        }
        first = false;
        if raw[start..] == *b"\r\n" || raw[start..] == *b"\n" {
            break;
        }
        if raw.len() > 64 * 1024 {
            return Err(bad("response head too large".into()));
        }
    }
    let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let mut len = None;
    let mut keep_alive = true;
    for line in head.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim() {
                "content-length" => {
                    len = Some(
                        value
                            .trim()
                            .parse::<usize>()
                            .map_err(|_| bad(format!("bad Content-Length '{}'", value.trim())))?,
                    )
                }
                "connection" if value.contains("close") => keep_alive = false,
                _ => {}
            }
        }
    }
    let Some(len) = len else {
        return Err(bad("no Content-Length on a kept-alive connection".into()));
    };
    if !raw.ends_with(b"\r\n\r\n") {
        return Err(bad("response head does not end in CRLF CRLF".into()));
    }
    let start = raw.len();
    raw.resize(start + len, 0);
    conn.read_exact(&mut raw[start..])
        .map_err(io("read response body of"))?;
    let response = parse_response(&raw).map_err(bad)?;
    Ok((response, keep_alive))
}

/// Parses a complete HTTP/1.1 response (the connection was read to its end).
fn parse_response(raw: &[u8]) -> std::result::Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line '{status_line}'"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line '{status_line}'"))?;
    let mut body = &raw[end + 4..];
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                let len: usize = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad Content-Length '{}'", value.trim()))?;
                if body.len() < len {
                    return Err(format!(
                        "body truncated: {} of {len} bytes received",
                        body.len()
                    ));
                }
                body = &body[..len];
            }
        }
    }
    Ok(Response {
        status,
        body: String::from_utf8_lossy(body).into_owned(),
    })
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

/// Parses `key=value` arguments into one nested settings object (the object under `settings`).
pub fn settings_from_args<S: AsRef<str>>(args: &[S]) -> Result<Value> {
    let mut root = Map::new();
    for arg in args {
        let arg = arg.as_ref();
        let (segments, value) = parse_setting(arg)?;
        insert_nested(&mut root, &segments, value).map_err(|reason| Error::InvalidSetting {
            input: arg.to_string(),
            reason,
        })?;
    }
    Ok(Value::Object(root))
}

/// Inserts `value` at `segments` in `map`, creating objects on the way.
fn insert_nested(
    map: &mut Map<String, Value>,
    segments: &[String],
    value: Value,
) -> std::result::Result<(), String> {
    let (last, parents) = segments.split_last().ok_or("empty key")?;
    let mut cur = map;
    for seg in parents {
        let entry = cur
            .entry(seg.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        cur = entry
            .as_object_mut()
            .ok_or_else(|| format!("'{seg}' is given both a value and sub-keys"))?;
    }
    if cur.get(last).is_some_and(Value::is_object) {
        return Err(format!("'{last}' is given both a value and sub-keys"));
    }
    cur.insert(last.clone(), value);
    Ok(())
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
    Ok(match response.json() {
        Value::Array(keys) => keys
            .into_iter()
            .filter_map(|k| k.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    })
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
    fn parses_responses() {
        let r = parse_response(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}xx").unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.body, "{}");
        assert!(parse_response(b"garbage").is_err());
        let e = check(r, "get", "/x").unwrap_err();
        assert_eq!(e.to_string(), "Status 404 when GETing /x: {}");
    }
}
