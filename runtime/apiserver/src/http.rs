//! A minimal HTTP/1.1 server side: request parsing and response writing.
//!
//! Supports what the API needs and nothing more: a request line, headers, a `Content-Length`
//! body (chunked bodies are refused with 411), keep-alive (HTTP/1.1 default, `Connection:
//! close` honoured) and JSON responses with `Content-Length`.

use std::collections::HashMap;
use std::io::{self, BufRead, Read, Write};
use std::sync::Arc;

use serde_json::Value;

/// Longest request head (request line and headers) accepted, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// A parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method, upper-case.
    pub method: String,
    /// The path part of the request target.
    pub path: String,
    /// The raw query string (without `?`), possibly empty.
    pub query: String,
    /// The body.
    pub body: Vec<u8>,
    /// Whether the client wants the connection kept open.
    pub keep_alive: bool,
}

/// Why a request could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The connection closed (or timed out) before a request started; not an error.
    Closed,
    /// The request is malformed; answer with this status and message, then close.
    Bad(u16, String),
    /// Reading failed.
    Io(io::Error),
}

/// Reads one line ending in `\n` (at most `limit` bytes), without the line ending.
fn read_line(reader: &mut impl BufRead, limit: &mut usize) -> Result<Option<String>, ReadError> {
    let mut buf = Vec::new();
    let n = reader
        .by_ref()
        .take(*limit as u64 + 1)
        .read_until(b'\n', &mut buf)
        .map_err(ReadError::Io)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *limit || !buf.ends_with(b"\n") {
        return Err(ReadError::Bad(
            431,
            "request head too large or truncated".into(),
        ));
    }
    *limit -= n;
    buf.pop();
    if buf.ends_with(b"\r") {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| ReadError::Bad(400, "request head is not UTF-8".into()))
}

/// Reads the next request from a connection.
pub fn read_request(reader: &mut impl BufRead) -> Result<Request, ReadError> {
    let mut limit = MAX_HEAD;
    let line = match read_line(reader, &mut limit) {
        Ok(Some(line)) => line,
        Ok(None) => return Err(ReadError::Closed),
        Err(ReadError::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::ConnectionReset
            ) =>
        {
            return Err(ReadError::Closed)
        }
        Err(e) => return Err(e),
    };
    let bad = |msg: String| ReadError::Bad(400, msg);
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!("malformed request line '{line}'")));
    };
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => {
            return Err(ReadError::Bad(
                505,
                format!("unsupported version '{version}'"),
            ))
        }
    };
    let mut headers = HashMap::new();
    loop {
        let line = read_line(reader, &mut limit)?
            .ok_or_else(|| bad("connection closed inside the request head".into()))?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("malformed header line '{line}'")))?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    if let Some(conn) = headers.get("connection") {
        let conn = conn.to_ascii_lowercase();
        if conn.contains("close") {
            keep_alive = false;
        } else if conn.contains("keep-alive") {
            keep_alive = true;
        }
    }
    if headers.contains_key("transfer-encoding") {
        return Err(ReadError::Bad(
            411,
            "chunked request bodies are not supported; send Content-Length".into(),
        ));
    }
    let len: usize = match headers.get("content-length") {
        None => 0,
        Some(v) => v
            .parse()
            .map_err(|_| bad(format!("invalid Content-Length '{v}'")))?,
    };
    if len > MAX_BODY {
        return Err(ReadError::Bad(
            413,
            format!("body of {len} bytes is larger than the limit of {MAX_BODY}"),
        ));
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).map_err(ReadError::Io)?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    if !path.starts_with('/') {
        return Err(bad(format!(
            "request target '{target}' is not an absolute path"
        )));
    }
    Ok(Request {
        method: method.to_ascii_uppercase(),
        path,
        query,
        body,
        keep_alive,
    })
}

/// The reason phrase of a status code.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// A response: status, optional JSON body and optional `Allow` header (for 405).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The JSON body; `None` for an empty body.
    pub body: Option<Value>,
    /// An already serialized JSON body (with its trailing newline); sent instead of `body` when
    /// set, so a cached response costs no serialization.
    pub raw_body: Option<Arc<[u8]>>,
    /// The methods allowed on the route (sent with 405).
    pub allow: Option<String>,
}

impl Response {
    /// A response with a JSON body.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            raw_body: None,
            allow: None,
        }
    }

    /// A response with an already serialized JSON body (see [`serialize_body`]).
    pub fn raw(status: u16, body: Arc<[u8]>) -> Self {
        Self {
            status,
            body: None,
            raw_body: Some(body),
            allow: None,
        }
    }

    /// `204 No Content`.
    pub fn no_content() -> Self {
        Self {
            status: 204,
            body: None,
            raw_body: None,
            allow: None,
        }
    }
}

/// Writes `response` to `out`.
pub fn write_response(
    out: &mut impl Write,
    response: &Response,
    keep_alive: bool,
) -> io::Result<()> {
    let serialized;
    let body: &[u8] = match (&response.raw_body, &response.body) {
        _ if response.status == 204 => &[],
        (Some(raw), _) => raw,
        (None, Some(v)) => {
            serialized = serialize_body(v);
            &serialized
        }
        (None, None) => &[],
    };
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: {}\r\n",
        response.status,
        reason(response.status),
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(allow) = &response.allow {
        head.push_str(&format!("Allow: {allow}\r\n"));
    }
    head.push_str("\r\n");
    // Head and body in one `writev`, without copying the (often cached, large) body.
    let mut parts = [head.as_bytes(), body];
    let mut slices = [io::IoSlice::new(parts[0]), io::IoSlice::new(parts[1])];
    let mut first = 0;
    while first < parts.len() {
        let n = match out.write_vectored(&slices[first..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut left = n;
        while first < parts.len() && left >= parts[first].len() {
            left -= parts[first].len();
            first += 1;
        }
        if first < parts.len() {
            parts[first] = &parts[first][left..];
        }
        for (slice, part) in slices.iter_mut().zip(parts) {
            *slice = io::IoSlice::new(part);
        }
    }
    out.flush()
}

/// Serializes a JSON body as sent on the wire (with a trailing newline).
pub fn serialize_body(value: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec(value).unwrap_or_default();
    b.push(b'\n');
    b
}

/// Percent-decodes a query component (`+` stays `+`); `None` on a bad escape or non-UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        let raw =
            b"PATCH /settings?tx=a HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET / HTTP/1.0\r\n\r\n";
        let mut r = &raw[..];
        let req = read_request(&mut r).unwrap();
        assert_eq!(
            (req.method.as_str(), req.path.as_str(), req.query.as_str()),
            ("PATCH", "/settings", "tx=a")
        );
        assert_eq!(req.body, b"{}");
        assert!(req.keep_alive);
        let req = read_request(&mut r).unwrap();
        assert!(!req.keep_alive);
        assert!(matches!(read_request(&mut r), Err(ReadError::Closed)));
        let mut r = &b"GET /\r\n\r\n"[..];
        assert!(matches!(read_request(&mut r), Err(ReadError::Bad(400, _))));
    }

    /// A writer that takes at most 7 bytes per call, to exercise partial vectored writes.
    struct Trickle(Vec<u8>);

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(7);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_responses_whole() {
        let body: Arc<[u8]> = serialize_body(&serde_json::json!({"motd": "x".repeat(100)})).into();
        let mut out = Trickle(Vec::new());
        write_response(&mut out, &Response::raw(200, Arc::clone(&body)), true).unwrap();
        let text = String::from_utf8(out.0).unwrap();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        assert!(head.contains("Connection: keep-alive"), "{head}");
        assert_eq!(rest.as_bytes(), &body[..]);
        let mut out = Trickle(Vec::new());
        write_response(&mut out, &Response::no_content(), false).unwrap();
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%22b%2Fc").unwrap(), "a\"b/c");
        assert!(percent_decode("%zz").is_none());
        assert!(percent_decode("%2").is_none());
    }
}
