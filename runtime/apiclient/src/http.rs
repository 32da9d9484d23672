//! HTTP/1 to the API server over its Unix socket, by hyper's client on the calling thread
//! ([`crate::transport`]: a blocking socket, no async runtime): [`request`] (one connection per
//! request, as the CLI does) and [`Client`] (one kept-alive connection). Both are blocking calls.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::Either;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, HOST};
use serde_json::Value;

use crate::transport::{block_on, Socket, Stream, READ_BUFFER};
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

/// A connection's I/O: hyper's HTTP/1 state machine over the socket.
type Io = http1::Connection<Socket, Full<Bytes>>;

/// An open HTTP/1 connection: the request handle, the connection future that does its I/O, and
/// the socket the executor waits on.
struct Connection {
    sender: SendRequest<Full<Bytes>>,
    io: Io,
    stream: Arc<Stream>,
}

impl Connection {
    /// Connects to `socket` and starts an HTTP/1 connection on it.
    fn open(socket: &Path, method: &str, uri: &str) -> Result<Self> {
        let stream = UnixStream::connect(socket).map_err(|source| Error::Connect {
            path: socket.to_path_buf(),
            source,
        })?;
        let stream = Stream::new(stream);
        let handshake = http1::Builder::new()
            .read_buf_exact_size(Some(READ_BUFFER))
            .handshake(Socket::new(Arc::clone(&stream)));
        let (sender, io) = block_on(&stream, handshake)
            .map_err(Error::Wait)?
            .map_err(http_error(method, uri))?;
        Ok(Self { sender, io, stream })
    }

    /// Sends `req` and reads the whole response, driving the connection meanwhile.
    fn send(&mut self, req: hyper::Request<Full<Bytes>>) -> Result<Sent> {
        let Self { sender, io, stream } = self;
        if sender.is_closed() {
            return Ok(Sent::Unsent(Box::new(req)));
        }
        // hyper's look at the idle connection must ask the kernel: the server may have closed it.
        stream.recheck();
        let exchange = async {
            if sender.ready().await.is_err() {
                return Sent::Unsent(Box::new(req));
            }
            match sender.try_send_request(req).await {
                Ok(response) => Sent::Done(read(response).await),
                Err(mut e) => match e.take_message() {
                    Some(req) => Sent::Unsent(Box::new(req)),
                    None => Sent::Done(Err(e.into_error())),
                },
            }
        };
        block_on(stream, async {
            let mut exchange = std::pin::pin!(exchange);
            // The connection future ends only when the connection does: then the exchange
            // learns why from its request handle.
            match futures::future::select(exchange.as_mut(), io).await {
                Either::Left((sent, _)) => sent,
                Either::Right((_, _)) => exchange.await,
            }
        })
        .map_err(Error::Wait)
    }
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

/// Sends one request (`method` such as `GET`, `uri` such as `/settings?keys=settings.motd`) over
/// the Unix socket at `socket`, on a connection of its own, and returns the response, whatever
/// its status.
pub fn request(socket: &Path, method: &str, uri: &str, body: Option<&str>) -> Result<Response> {
    let req = build(method, uri, body, false)?;
    let Connection {
        mut sender,
        io,
        stream,
    } = Connection::open(socket, method, uri)?;
    let exchange = async {
        let response = read(sender.send_request(req).await?).await;
        drop(sender);
        response
    };
    // The connection is driven alongside the exchange, and ends with it (`Connection: close`).
    let (response, _) =
        block_on(&stream, futures::future::join(exchange, io)).map_err(Error::Wait)?;
    response.map_err(http_error(method, uri))
}

/// A client that keeps its connection open across requests (HTTP keep-alive), reconnecting when
/// the server has closed it (idle timeout, `Connection: close`).
///
/// The connection is driven on the calling thread during each request: a request costs one
/// write and one blocking read (see [`crate::transport`]).
pub struct Client {
    socket: PathBuf,
    conn: Option<Connection>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("socket", &self.socket)
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

/// What became of a request on a connection.
enum Sent {
    /// It was sent: the response, or why the exchange failed.
    Done(std::result::Result<Response, hyper::Error>),
    /// It could not be sent (the server had closed the connection, e.g. at its idle timeout), so
    /// it never ran: send it on a new connection.
    Unsent(Box<hyper::Request<Full<Bytes>>>),
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
        let mut req = build(method, uri, body, true)?;
        if let Some(open) = self.conn.as_mut() {
            match open.send(req)? {
                Sent::Done(response) => return self.finish(response, method, uri),
                Sent::Unsent(unsent) => req = *unsent,
            }
        }
        let open = self
            .conn
            .insert(Connection::open(&self.socket, method, uri)?);
        match open.send(req)? {
            Sent::Done(response) => self.finish(response, method, uri),
            // A new connection closed before taking the request.
            Sent::Unsent(_) => {
                self.conn = None;
                Err(Error::Closed {
                    method: method.to_ascii_uppercase(),
                    uri: uri.to_string(),
                })
            }
        }
    }

    /// Keeps the connection only when the exchange succeeded.
    fn finish(
        &mut self,
        response: std::result::Result<Response, hyper::Error>,
        method: &str,
        uri: &str,
    ) -> Result<Response> {
        if response.is_err() {
            self.conn = None;
        }
        response.map_err(http_error(method, uri))
    }
}
