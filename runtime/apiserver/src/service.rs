//! HTTP/1 over the Unix socket, by hyper: the accept loop with its connection cap, and the
//! service that turns a request into an [`Action`](crate::action::Action) (by the routes), runs
//! it on the [`Controller`] and turns the result into a response.
//!
//! Reads run on the runtime's threads; actions that write or run a command
//! ([`Action::blocks`](crate::action::Action::blocks)) run on its blocking pool, so a slow apply
//! never holds up other requests. Every error answer, including hyper's own answer to a request
//! it cannot parse, carries the JSON [`api_model::ErrorBody`] (see [`ErrorAnswers`]).

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING,
};
use hyper::server::conn::http1;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use crate::action::{serialize_body, Reply};
use crate::controller::Controller;
use crate::error::ApiError;
use crate::routes;

/// Longest request head (request line and headers) accepted, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted, in bytes.
pub const MAX_BODY: u64 = 16 * 1024 * 1024;
/// Idle time after which a kept-alive connection is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a rejected connection gets to take its 503 and send its request.
const REJECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves connections on `listener` forever, at most `max_connections` at once; further ones
/// are answered 503 and closed.
pub async fn serve(listener: UnixListener, controller: Arc<Controller>, max_connections: usize) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(IDLE_TIMEOUT)
        .max_header_size(MAX_HEAD)
        .title_case_headers(true)
        .auto_date_header(false);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                warn!("accept failed: {e}");
                // E.g. EMFILE: don't spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tokio::spawn(reject(stream, "too many connections; try again later"));
            continue;
        };
        let (http, controller) = (http.clone(), Arc::clone(&controller));
        tokio::spawn(async move {
            let mut io = ErrorAnswers::new(stream);
            let service = hyper::service::service_fn(move |req| {
                let controller = Arc::clone(&controller);
                async move { Ok::<_, Infallible>(handle(&controller, req).await) }
            });
            if let Err(e) = http.serve_connection(TokioIo::new(&mut io), service).await {
                io.answer(&e).await;
            }
            drop(slot);
        });
    }
}

/// Answers one request.
async fn handle(
    controller: &Arc<Controller>,
    req: hyper::Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    if parts.headers.contains_key(TRANSFER_ENCODING) {
        let e = ApiError::new(
            411,
            "chunked request bodies are not supported; send Content-Length",
        );
        return error_response(e, true);
    }
    let length = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(0);
    if length > MAX_BODY {
        let e = ApiError::new(
            413,
            format!("body of {length} bytes is larger than the limit of {MAX_BODY}"),
        );
        return error_response(e, true);
    }
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return error_response(ApiError::bad(format!("failed to read the body: {e}")), true)
        }
    };
    let request = routes::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        body: &body,
    };
    let result = match routes::route(&request) {
        Ok(action) if action.blocks() => {
            let controller = Arc::clone(controller);
            tokio::task::spawn_blocking(move || controller.execute(action))
                .await
                .unwrap_or_else(|e| {
                    Err(ApiError::internal(format!(
                        "the request handler failed: {e}"
                    )))
                })
        }
        Ok(action) => controller.execute(action),
        Err(e) => Err(e),
    };
    let response = match result {
        Ok(Reply::NoContent) => response(StatusCode::NO_CONTENT, Bytes::new()),
        Ok(Reply::Json(value)) => response(StatusCode::OK, serialize_body(&value)),
        Ok(Reply::Serialized(body)) => response(StatusCode::OK, body),
        Err(e) => error_response(e, false),
    };
    debug!("{} {} -> {}", parts.method, parts.uri, response.status());
    response
}

fn response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let json = !body.is_empty();
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if json {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    response
}

/// The answer to an error; `close` ends the connection after it.
fn error_response(e: ApiError, close: bool) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = response(status, serialize_body(&e.body));
    let headers = response.headers_mut();
    if let Some(allow) = e.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
        headers.insert(ALLOW, allow);
    }
    if close {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A whole error answer as bytes, for a connection that hyper does not (or no longer) serve.
fn raw_error(e: &ApiError) -> Vec<u8> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serialize_body(&e.body);
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Answers a connection that won't be served with 503 and closes it, without blocking long.
async fn reject(mut stream: UnixStream, message: &str) {
    warn!("rejecting a connection: {message}");
    let answer = raw_error(&ApiError::new(503, message));
    let _ = tokio::time::timeout(REJECT_TIMEOUT, stream.write_all(&answer)).await;
    let _ = stream.shutdown().await;
    // Closing a socket whose request was never read resets the connection, and the client would
    // see ECONNRESET instead of the 503: read what the client sends (until it closes, or for a
    // bounded time and amount) before closing.
    let drain = async {
        let mut sink = [0u8; 4096];
        let mut total = 0;
        while total < MAX_HEAD {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(REJECT_TIMEOUT, drain).await;
}

/// The connection under hyper. It holds back hyper's own answer to a request it cannot parse (a
/// bare `400` or `431` head with no body, which no route ever sends: every error of ours has a
/// JSON body), so that [`ErrorAnswers::answer`] can send the API's JSON error instead.
struct ErrorAnswers {
    stream: UnixStream,
    /// The status of the answer held back.
    held: Option<u16>,
}

impl ErrorAnswers {
    fn new(stream: UnixStream) -> Self {
        Self { stream, held: None }
    }

    /// Sends the JSON answer for the parse error `e` that ended the connection, if hyper had
    /// answered it.
    async fn answer(&mut self, e: &hyper::Error) {
        let Some(status) = self.held else {
            debug!("connection error: {e}");
            return;
        };
        let message = e.to_string();
        // hyper answers every version it does not speak with 400; the API has said 505.
        let status = if status == 400 && message.contains("HTTP version") {
            505
        } else {
            status
        };
        debug!("answering an unparsable request with {status}: {message}");
        let _ = self
            .stream
            .write_all(&raw_error(&ApiError::new(status, message)))
            .await;
        let _ = self.stream.shutdown().await;
    }

    /// Whether `buf` is hyper's answer to a request it could not parse: a whole 4xx head with
    /// `Content-Length: 0`.
    fn is_parse_error_answer(buf: &[u8]) -> Option<u16> {
        let digits = buf.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
        // Cheap first: every answer passes here, and only a 4xx can be one.
        if digits[0] != b'4' {
            return None;
        }
        let status: u16 = std::str::from_utf8(digits).ok()?.parse().ok()?;
        let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = &buf[..head_end + 2];
        (head_end + 4 == buf.len() && head.windows(19).any(|w| w == b"Content-Length: 0\r\n"))
            .then_some(status)
    }
}

impl AsyncRead for ErrorAnswers {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ErrorAnswers {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(status) = Self::is_parse_error_answer(buf) {
            self.held = Some(status);
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut nonempty = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (nonempty.next(), nonempty.next()) {
            if let Some(status) = Self::is_parse_error_answer(only) {
                self.held = Some(status);
                return Poll::Ready(Ok(only.len()));
            }
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    /// Nothing to do: hyper shuts a connection down only before it is dropped, and dropping
    /// closes the socket (a held JSON answer is still written before that, by `answer`).
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_hypers_parse_error_answers_only() {
        let bare = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(ErrorAnswers::is_parse_error_answer(bare), Some(400));
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(ErrorAnswers::is_parse_error_answer(bare), Some(431));
        let ours = raw_error(&ApiError::bad("x"));
        assert_eq!(ErrorAnswers::is_parse_error_answer(&ours), None);
        let no_content = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(ErrorAnswers::is_parse_error_answer(no_content), None);
        assert_eq!(ErrorAnswers::is_parse_error_answer(b"{\"motd\":1}"), None);
    }

    #[test]
    fn raw_errors_are_whole_json_answers() {
        let text = String::from_utf8(raw_error(&ApiError::new(503, "busy"))).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n{\"error\":\"busy\"}\n"), "{text}");
        assert!(text.contains("Content-Length: 17\r\n"), "{text}");
    }
}
