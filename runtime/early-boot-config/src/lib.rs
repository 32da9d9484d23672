//! `early-boot-config`: applies the settings of the instance's user data once, at first boot.
//!
//! * User data comes from a local file ([`read_user_data_file`]; a missing file means no user
//!   data) or from an IMDSv2-style endpoint ([`fetch_imds_user_data`]): `PUT /latest/api/token`
//!   with `X-aws-ec2-metadata-token-ttl-seconds: 21600` returns a session token, then
//!   `GET /latest/user-data` with `X-aws-ec2-metadata-token: <token>` returns the user data; a
//!   404 means there is none (a refused connection is retried a few times with backoff first,
//!   since the network may still be coming up). The HTTP client is `ureq`, never through a proxy
//!   (`http://host[:port]` base URLs only), with connect, read and write timeouts.
//! * [`parse_user_data`] gunzips it when it starts with the gzip magic bytes, parses TOML and
//!   returns its `settings` table (other top-level tables are ignored with a warning), validated
//!   with [`settings::validate_settings_json`]: errors name the dotted key.
//! * [`run`] does nothing when the marker file exists; otherwise it reads, validates and applies
//!   the settings through the API ([`apiclient::set_settings`]: `PATCH /settings` into a private
//!   transaction, then `POST /tx/commit_and_apply`), and only then writes the marker. A failure
//!   leaves no marker, so the next boot tries again; invalid user data applies nothing.

#![warn(missing_docs)]

use std::fs;
use std::io::{ErrorKind, Read};
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
/// Network timeout of each IMDS request step: connecting, and each read and write.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The marker file could not be written.
    #[error("cannot write the first-boot marker")]
    Marker(#[source] fsutil::IoError),
    /// A local file could not be read or written.
    #[error("cannot {op} {}", path.display())]
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

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
}

/// Checks that `base_url` is `http://host[:port]`, with no path or user info.
fn check_base_url(base_url: &str) -> std::result::Result<(), String> {
    let rest = base_url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        return Err("expected http://host[:port] with no path".into());
    }
    Ok(())
}

/// The IMDS client: no proxy (the endpoint is link-local), no redirects, statuses as answers.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_connect(Some(TIMEOUT))
        .timeout_per_read(Some(TIMEOUT))
        .timeout_per_write(Some(TIMEOUT))
        .user_agent(concat!("early-boot-config/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Why one request failed, before it is put into an [`Error::Imds`].
enum Failure {
    /// The URL or the request is invalid.
    Invalid(String),
    /// The exchange failed.
    Http(ureq::Error),
}

impl Failure {
    /// Whether no connection could be made (worth retrying while the network comes up).
    fn is_connect(&self) -> bool {
        use std::io::ErrorKind as K;
        match self {
            Failure::Http(ureq::Error::Io(e)) => matches!(
                e.kind(),
                K::ConnectionRefused
                    | K::NetworkUnreachable
                    | K::HostUnreachable
                    | K::AddrNotAvailable
            ),
            Failure::Http(ureq::Error::ConnectionFailed)
            | Failure::Http(ureq::Error::Timeout(ureq::Timeout::Connect)) => true,
            _ => false,
        }
    }

    fn into_error(self, method: &str, url: String) -> Error {
        let connect = self.is_connect();
        let reason = match self {
            Failure::Invalid(reason) => reason,
            Failure::Http(e) if connect => format!("connect: {e}"),
            Failure::Http(e) => e.to_string(),
        };
        Error::Imds {
            method: method.to_string(),
            url,
            reason,
        }
    }
}

/// Sends one request with `headers` and reads the whole answer (at most [`MAX_USER_DATA`] bytes).
fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> std::result::Result<HttpResponse, Failure> {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(())
        .map_err(|e| Failure::Invalid(e.to_string()))?;
    let mut response = agent.run(request).map_err(Failure::Http)?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_USER_DATA as u64)
        .read_to_vec()
        .map_err(Failure::Http)?;
    Ok(HttpResponse { status, body })
}

/// The URL of `path` under `base_url`.
fn url_of(base_url: &str, path: &str) -> String {
    format!("{}{path}", base_url.trim_end_matches('/'))
}

/// Sends one request to `base_url` + `path`, with `headers`; any status is an answer.
pub fn http_request(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<HttpResponse> {
    let url = url_of(base_url, path);
    check_base_url(base_url)
        .map_err(Failure::Invalid)
        .and_then(|()| send(&agent(), method, &url, headers))
        .map_err(|f| f.into_error(method, url.clone()))
}

/// Fetches user data from an IMDSv2-style endpoint; `None` on 404.
pub fn fetch_imds_user_data(base_url: &str) -> Result<Option<Vec<u8>>> {
    let ttl = TOKEN_TTL_SECONDS.to_string();
    let token_path = "/latest/api/token";
    let url = |path: &str| url_of(base_url, path);
    check_base_url(base_url).map_err(|reason| Error::Imds {
        method: "PUT".into(),
        url: url(token_path),
        reason,
    })?;
    let agent = agent();
    // Early in boot the network may not be up yet: connection failures of the first request
    // are retried with backoff.
    let mut attempt = 0;
    let response = loop {
        match send(&agent, "PUT", &url(token_path), &[(TOKEN_TTL_HEADER, &ttl)]) {
            Err(f) if f.is_connect() && attempt + 1 < CONNECT_ATTEMPTS => {
                attempt += 1;
                warn!(
                    "IMDS not reachable ({}); retrying",
                    f.into_error("PUT", url(token_path))
                );
                std::thread::sleep(Duration::from_millis(100 << attempt));
            }
            other => break other.map_err(|f| f.into_error("PUT", url(token_path)))?,
        }
    };
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
    let response = send(&agent, "GET", &url(data_path), &[(TOKEN_HEADER, &token)])
        .map_err(|f| f.into_error("GET", url(data_path)))?;
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
    fsutil::atomic_write(marker, b"", 0o644).map_err(Error::Marker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert!(check_base_url("http://127.0.0.1:8080").is_ok());
        assert!(check_base_url("http://169.254.169.254/").is_ok());
        assert!(check_base_url("https://x").is_err());
        assert!(check_base_url("http://x/latest").is_err());
        assert!(check_base_url("http://user@x").is_err());
        let e = http_request("ftp://x", "GET", "/latest/user-data", &[]).unwrap_err();
        assert!(e.to_string().contains("only http://"), "{e}");
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
