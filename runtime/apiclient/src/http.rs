//! HTTP/1 to the API server over its Unix socket, by hyper's client on a tokio current-thread
//! runtime: [`request`] (one connection per request, as the CLI does) and [`Client`] (one
//! kept-alive connection). Both are blocking calls, so they must not be made from inside an
//! async runtime.

use std::cell::OnceCell;
use std::future::Future;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::UnixStream;
use tokio::runtime::Runtime;

use crate::{Error, Result};

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

fn runtime() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
}

thread_local! {
    /// The runtime of [`request`] on this thread (made on first use).
    static RUNTIME: OnceCell<Runtime> = const { OnceCell::new() };
}

/// Runs `f` to completion on this thread's runtime.
fn block_on<F: Future>(f: F) -> Result<F::Output> {
    RUNTIME.with(|cell| {
        if cell.get().is_none() {
            let _ = cell.set(runtime().map_err(Error::Runtime)?);
        }
        let rt = cell.get().ok_or_else(|| {
            Error::Runtime(std::io::Error::other("the client runtime is missing"))
        })?;
        Ok(rt.block_on(f))
    })
}

/// Builds a request; `keep_alive` false asks the server to close the connection after it.
fn build(
    method: &str,
    uri: &str,
    body: Option<&str>,
    keep_alive: bool,
) -> Result<hyper::Request<Full<Bytes>>> {
    let method = method.to_ascii_uppercase();
    let body = Bytes::from(body.unwrap_or("").to_string());
    hyper::Request::builder()
        .method(method.as_str())
        .uri(uri)
        .header(HOST, HeaderValue::from_static("localhost"))
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(
            CONNECTION,
            HeaderValue::from_static(if keep_alive { "keep-alive" } else { "close" }),
        )
        .body(Full::new(body))
        .map_err(|e| Error::InvalidRequest {
            method,
            uri: uri.to_string(),
            reason: e.to_string(),
        })
}

/// The read buffer of a connection: big enough that a typical answer (a `GET /settings` of a
/// few hundred keys is some tens of KiB) is read in one call.
const READ_BUFFER: usize = 64 * 1024;

/// Connects to `socket` and starts an HTTP/1 connection on it.
async fn connect(
    socket: &Path,
    method: &str,
    uri: &str,
) -> Result<(
    SendRequest<Full<Bytes>>,
    http1::Connection<TokioIo<UnixStream>, Full<Bytes>>,
)> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|source| Error::Connect {
            path: socket.to_path_buf(),
            source,
        })?;
    http1::Builder::new()
        .read_buf_exact_size(Some(READ_BUFFER))
        .handshake(TokioIo::new(stream))
        .await
        .map_err(http_error(method, uri))
}

/// Reads a whole response.
async fn read(
    response: hyper::Response<hyper::body::Incoming>,
) -> std::result::Result<Response, hyper::Error> {
    let status = response.status().as_u16();
    let body = Vec::from(response.into_body().collect().await?.to_bytes());
    // Valid UTF-8 (JSON always is) is taken as it is, without another copy.
    let body = String::from_utf8(body)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Ok(Response { status, body })
}

fn http_error(method: &str, uri: &str) -> impl FnOnce(hyper::Error) -> Error {
    let (method, uri) = (method.to_ascii_uppercase(), uri.to_string());
    move |source| Error::Http {
        method,
        uri,
        source,
    }
}

/// What became of a request on a reused connection.
enum Sent {
    /// It was sent: the response, or why the exchange failed.
    Done(std::result::Result<Response, hyper::Error>),
    /// It could not be sent (the server had closed the connection, e.g. at its idle timeout), so
    /// it never ran: send it on a new connection.
    Unsent(Box<hyper::Request<Full<Bytes>>>),
}

async fn try_reused(
    sender: &mut SendRequest<Full<Bytes>>,
    req: hyper::Request<Full<Bytes>>,
) -> Sent {
    if sender.is_closed() || sender.ready().await.is_err() {
        return Sent::Unsent(Box::new(req));
    }
    match sender.try_send_request(req).await {
        Ok(response) => Sent::Done(read(response).await),
        Err(mut e) => match e.take_message() {
            Some(req) => Sent::Unsent(Box::new(req)),
            None => Sent::Done(Err(e.into_error())),
        },
    }
}

/// Sends one request (`method` such as `GET`, `uri` such as `/settings?keys=settings.motd`) over
/// the Unix socket at `socket`, on a connection of its own, and returns the response, whatever
/// its status.
pub fn request(socket: &Path, method: &str, uri: &str, body: Option<&str>) -> Result<Response> {
    let req = build(method, uri, body, false)?;
    block_on(async {
        let (mut sender, conn) = connect(socket, method, uri).await?;
        let exchange = async {
            let response = read(sender.send_request(req).await?).await;
            drop(sender);
            response
        };
        // The connection is driven alongside the exchange, and ends with it.
        let (response, _) = tokio::join!(exchange, conn);
        response.map_err(http_error(method, uri))
    })?
}

/// A client that keeps its connection open across requests (HTTP keep-alive), reconnecting when
/// the server has closed it (idle timeout, `Connection: close`).
pub struct Client {
    socket: PathBuf,
    runtime: Option<Runtime>,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("socket", &self.socket)
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl Client {
    /// A client of the socket at `socket`; connects on the first request.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            runtime: None,
            conn: None,
        }
    }

    /// Sends one request on the kept-alive connection and returns the response, whatever its
    /// status.
    pub fn request(&mut self, method: &str, uri: &str, body: Option<&str>) -> Result<Response> {
        let req = build(method, uri, body, true)?;
        if self.runtime.is_none() {
            self.runtime = Some(runtime().map_err(Error::Runtime)?);
        }
        let Some(rt) = &self.runtime else {
            return Err(Error::Runtime(std::io::Error::other(
                "the client runtime is missing",
            )));
        };
        let (socket, conn) = (&self.socket, &mut self.conn);
        rt.block_on(async {
            let req = match conn.as_mut() {
                Some(sender) => match try_reused(sender, req).await {
                    Sent::Done(response) => return Self::finish(conn, response, method, uri),
                    Sent::Unsent(req) => *req,
                },
                None => req,
            };
            let (mut sender, connection) = connect(socket, method, uri).await?;
            // Driven whenever this client's runtime runs, i.e. during its requests.
            tokio::spawn(connection);
            let response = match sender.send_request(req).await {
                Ok(response) => read(response).await,
                Err(e) => Err(e),
            };
            *conn = Some(sender);
            Self::finish(conn, response, method, uri)
        })
    }

    /// Keeps the connection only when the exchange succeeded.
    fn finish(
        conn: &mut Option<SendRequest<Full<Bytes>>>,
        response: std::result::Result<Response, hyper::Error>,
        method: &str,
        uri: &str,
    ) -> Result<Response> {
        if response.is_err() {
            *conn = None;
        }
        response.map_err(http_error(method, uri))
    }
}
