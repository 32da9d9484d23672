//! `early-boot-config`: applies the settings of the instance's user data once, at first boot.
//!
//! * User data comes from a local file ([`read_user_data_file`]; a missing file means no user
//!   data) or from an IMDSv2-style endpoint ([`fetch_imds_user_data`]): `PUT /latest/api/token`
//!   with `X-aws-ec2-metadata-token-ttl-seconds: 21600` returns a session token, then
//!   `GET /latest/user-data` with `X-aws-ec2-metadata-token: <token>` returns the user data; a
//!   404 means there is none (a refused connection is retried a few times with backoff first,
//!   since the network may still be coming up). The HTTP/1.1 client is a small hand-written one over
//!   [`std::net::TcpStream`] (`http://host:port` URLs only).
//! * [`parse_user_data`] gunzips it when it starts with the gzip magic bytes, parses TOML and
//!   returns its `settings` table (other top-level tables are ignored with a warning), validated
//!   with [`settings::validate_settings_json`]: errors name the dotted key.
//! * [`run`] does nothing when the marker file exists; otherwise it reads, validates and applies
//!   the settings through the API ([`apiclient::set_settings`]: `PATCH /settings` into a private
//!   transaction, then `POST /tx/commit_and_apply`), and only then writes the marker. A failure
//!   leaves no marker, so the next boot tries again; invalid user data applies nothing.

#![warn(missing_docs)]

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tracing::{info, warn};

/// Default path of the marker written after a successful run.
pub const DEFAULT_MARKER_PATH: &str = "/var/lib/bottlerocket/early-boot-config.ran";
/// Header asking IMDS for a session token with this lifetime.
pub const TOKEN_TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
/// Header carrying the session token.
pub const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";
/// Token lifetime asked for, in seconds.
pub const TOKEN_TTL_SECONDS: u32 = 21600;
/// Largest user data accepted (before and after decompression), in bytes.
pub const MAX_USER_DATA: usize = 16 * 1024 * 1024;
/// Connection attempts of the first IMDS request.
const CONNECT_ATTEMPTS: u32 = 5;
/// Network timeout of each IMDS request step.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A local file could not be read or written.
    #[error("failed to {op} '{}': {source}", path.display())]
    File {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An IMDS request failed.
    #[error("IMDS request {method} {url} failed: {reason}")]
    Imds {
        /// The request method.
        method: String,
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The user data can't be decoded or parsed.
    #[error("invalid user data from {source_name}: {reason}")]
    Parse {
        /// Where the user data came from.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// A setting in the user data is invalid.
    #[error("invalid user data from {source_name}: {key}: {reason}")]
    InvalidSetting {
        /// Where the user data came from.
        source_name: String,
        /// The dotted key at fault.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The API rejected the settings or could not be reached.
    #[error("failed to apply user data settings: {0}")]
    Api(#[from] apiclient::Error),
}

/// Where to read user data from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// A local user data file; used when it exists.
    pub user_data_file: Option<PathBuf>,
    /// An IMDS base URL, `http://host:port`; used when no file gave user data.
    pub imds_base_url: Option<String>,
}

/// What [`run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The marker existed; nothing was done.
    AlreadyRan,
    /// There were no settings to apply (marker written).
    NothingToApply,
    /// The settings were applied (marker written); the changed keys.
    Applied(Vec<String>),
}

/// Reads a user data file; `None` when it does not exist.
pub fn read_user_data_file(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::File {
            op: "read user data file",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

/// Splits `http://host[:port]` into the `host:port` authority; a path is not allowed.
fn authority(base_url: &str) -> std::result::Result<String, String> {
    let rest = base_url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        return Err("expected http://host[:port] with no path".into());
    }
    Ok(if rest.contains(':') && !rest.ends_with(']') {
        rest.to_string()
    } else {
        format!("{rest}:80")
    })
}

/// Sends one HTTP/1.1 request (`Connection: close`) to `base_url` + `path`.
pub fn http_request(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<HttpResponse> {
    let url = format!("{}{path}", base_url.trim_end_matches('/'));
    let fail = |reason: String| Error::Imds {
        method: method.to_string(),
        url: url.clone(),
        reason,
    };
    let auth = authority(base_url).map_err(fail)?;
    let addr = auth
        .to_socket_addrs()
        .map_err(|e| fail(format!("can't resolve {auth}: {e}")))?
        .next()
        .ok_or_else(|| fail(format!("no address for {auth}")))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| fail(format!("connect: {e}")))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|_| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| fail(e.to_string()))?;
    let host = auth.strip_suffix(":80").unwrap_or(&auth);
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| fail(format!("send: {e}")))?;
    let mut raw = Vec::new();
    stream
        .take((MAX_USER_DATA + 64 * 1024) as u64)
        .read_to_end(&mut raw)
        .map_err(|e| fail(format!("receive: {e}")))?;
    parse_response(&raw).map_err(fail)
}

/// Parses a complete HTTP/1.1 response (read until the server closed the connection).
pub fn parse_response(raw: &[u8]) -> std::result::Result<HttpResponse, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("incomplete response head")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {line:?}"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = content_length {
        if rest.len() < len {
            return Err(format!("body truncated: got {} of {len} bytes", rest.len()));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse { status, body })
}

fn dechunk(mut data: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Fetches user data from an IMDSv2-style endpoint; `None` on 404.
pub fn fetch_imds_user_data(base_url: &str) -> Result<Option<Vec<u8>>> {
    let ttl = TOKEN_TTL_SECONDS.to_string();
    let token_path = "/latest/api/token";
    // Early in boot the network may not be up yet: connection failures of the first request
    // are retried with backoff.
    let mut attempt = 0;
    let response = loop {
        match http_request(base_url, "PUT", token_path, &[(TOKEN_TTL_HEADER, &ttl)]) {
            Err(Error::Imds { reason, .. })
                if reason.starts_with("connect:") && attempt + 1 < CONNECT_ATTEMPTS =>
            {
                attempt += 1;
                warn!("IMDS not reachable ({reason}); retrying");
                std::thread::sleep(Duration::from_millis(100 << attempt));
            }
            other => break other?,
        }
    };
    let url = |path: &str| format!("{}{path}", base_url.trim_end_matches('/'));
    if response.status != 200 {
        return Err(Error::Imds {
            method: "PUT".into(),
            url: url(token_path),
            reason: format!("status {}", response.status),
        });
    }
    let token = String::from_utf8(response.body)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| Error::Imds {
            method: "PUT".into(),
            url: url(token_path),
            reason: "the token is empty or not printable ASCII".into(),
        })?;
    let data_path = "/latest/user-data";
    let response = http_request(base_url, "GET", data_path, &[(TOKEN_HEADER, &token)])?;
    match response.status {
        200 => Ok(Some(response.body)),
        404 => Ok(None),
        status => Err(Error::Imds {
            method: "GET".into(),
            url: url(data_path),
            reason: format!("status {status}"),
        }),
    }
}

/// Gunzips `bytes` if they start with the gzip magic bytes.
pub fn maybe_gunzip(bytes: Vec<u8>) -> std::io::Result<Vec<u8>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes.as_slice())
        .take(MAX_USER_DATA as u64 + 1)
        .read_to_end(&mut out)?;
    if out.len() > MAX_USER_DATA {
        return Err(std::io::Error::other(format!(
            "decompressed user data is larger than {MAX_USER_DATA} bytes"
        )));
    }
    Ok(out)
}

/// Decodes user data and returns its validated `settings` object; `None` when it has no
/// settings (or is empty).
pub fn parse_user_data(source_name: &str, bytes: Vec<u8>) -> Result<Option<Value>> {
    let parse = |reason: String| Error::Parse {
        source_name: source_name.to_string(),
        reason,
    };
    if bytes.len() > MAX_USER_DATA {
        return Err(parse(format!("larger than {MAX_USER_DATA} bytes")));
    }
    let bytes = maybe_gunzip(bytes).map_err(|e| parse(format!("bad gzip data: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| parse("not UTF-8 text".into()))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|e| parse(format!("not TOML: {}", e.message())))?;
    for other in table.keys().filter(|k| *k != "settings") {
        warn!("ignoring top-level key '{other}' of user data from {source_name}");
    }
    let settings = match table.remove("settings") {
        None => return Ok(None),
        Some(toml::Value::Table(t)) => t,
        Some(_) => {
            return Err(Error::InvalidSetting {
                source_name: source_name.to_string(),
                key: "settings".into(),
                reason: "expected a table".into(),
            })
        }
    };
    if settings.is_empty() {
        return Ok(None);
    }
    let json = serde_json::to_value(&settings).map_err(|e| parse(e.to_string()))?;
    settings::validate_settings_json(&json, None).map_err(|e| Error::InvalidSetting {
        source_name: source_name.to_string(),
        key: e.path().to_string(),
        reason: e.to_string(),
    })?;
    let prefix = datastore::Key::data("settings").expect("valid key");
    datastore::to_pairs_with_prefix(&prefix, &json).map_err(|e| Error::InvalidSetting {
        source_name: source_name.to_string(),
        key: "settings".into(),
        reason: e.to_string(),
    })?;
    Ok(Some(json))
}

/// Reads the user data from the first source that has it: the file, then IMDS. Returns the
/// source's name with the bytes.
pub fn read_user_data(sources: &Sources) -> Result<Option<(String, Vec<u8>)>> {
    if let Some(path) = &sources.user_data_file {
        if let Some(bytes) = read_user_data_file(path)? {
            return Ok(Some((format!("file '{}'", path.display()), bytes)));
        }
        info!("no user data file at {}", path.display());
    }
    if let Some(url) = &sources.imds_base_url {
        if let Some(bytes) = fetch_imds_user_data(url)? {
            return Ok(Some((format!("IMDS {url}"), bytes)));
        }
        info!("IMDS at {url} has no user data");
    }
    Ok(None)
}

/// Applies the user data settings once: see the crate docs.
pub fn run(sources: &Sources, socket: &Path, marker: &Path) -> Result<Outcome> {
    if fs::symlink_metadata(marker).is_ok() {
        info!("{} exists; user data was already applied", marker.display());
        return Ok(Outcome::AlreadyRan);
    }
    let settings = match read_user_data(sources)? {
        Some((name, bytes)) => parse_user_data(&name, bytes)?,
        None => None,
    };
    let outcome = match settings {
        Some(settings) => {
            let changed = apiclient::set_settings(socket, &settings)?;
            info!("applied user data: {} keys changed", changed.len());
            Outcome::Applied(changed)
        }
        None => {
            info!("no user data settings to apply");
            Outcome::NothingToApply
        }
    };
    write_marker(marker)?;
    Ok(outcome)
}

/// Creates the marker file (and its parent directories) durably.
pub fn write_marker(marker: &Path) -> Result<()> {
    let err = |op, source| Error::File {
        op,
        path: marker.to_path_buf(),
        source,
    };
    if let Some(parent) = marker.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| err("create the directory of", e))?;
    }
    let file = fs::File::create(marker).map_err(|e| err("create marker", e))?;
    file.sync_all().map_err(|e| err("sync marker", e))?;
    if let Some(parent) = marker.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(dir) = fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abc"[..]));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"abcde");
        let r = parse_response(b"HTTP/1.0 404 Not Found\r\n\r\n").unwrap();
        assert_eq!(r.status, 404);
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn authorities() {
        assert_eq!(
            authority("http://127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            authority("http://169.254.169.254/").unwrap(),
            "169.254.169.254:80"
        );
        assert!(authority("https://x").is_err());
        assert!(authority("http://x/latest").is_err());
    }

    #[test]
    fn user_data_without_settings_is_nothing() {
        assert_eq!(parse_user_data("t", b"".to_vec()).unwrap(), None);
        assert_eq!(
            parse_user_data("t", b"[other]\na = 1\n".to_vec()).unwrap(),
            None
        );
    }
}
