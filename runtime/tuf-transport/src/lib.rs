//! A `tough` transport for `file://` and `http(s)://` (through `ureq`, rustls), and the metadata
//! size limits, shared by the host's update client (updog) and the publisher's repository tool
//! (`twoliter repo`), so a repository the publisher accepts is one hosts accept.
//!
//! Each fetch reads on its own thread in large chunks (1 MiB) and hands them to tough through a
//! small bounded channel, so reading overlaps with tough's hashing and with decompression.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;
use tough::{Bytes, Transport, TransportError, TransportErrorKind, TransportStream};
use url::Url;

/// Size of the chunks a fetch reads.
const CHUNK: usize = 1024 * 1024;

/// Chunks buffered between the reading thread and tough.
const DEPTH: usize = 4;

/// Fetches `file://` URLs from the local file system and `http://`/`https://` URLs with ureq.
/// A missing file or an HTTP 404/403 is [`TransportErrorKind::FileNotFound`], which tough needs to
/// tell "no newer root.json" from a failure.
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
}

/// How long connecting to a server may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a server may take to start answering a request (status line and headers). Bodies
/// have no overall limit: a large image on a slow link may take long, as long as it flows.
const RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl Default for UreqTransport {
    fn default() -> Self {
        UreqTransport {
            agent: ureq::Agent::config_builder()
                .timeout_connect(Some(CONNECT_TIMEOUT))
                .timeout_recv_response(Some(RESPONSE_TIMEOUT))
                .user_agent(concat!("tuf-transport/", env!("CARGO_PKG_VERSION")))
                .build()
                .into(),
        }
    }
}

#[tough::async_trait]
impl Transport for UreqTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        let reader: Box<dyn Read + Send> = match url.scheme() {
            "file" => {
                let path = url.to_file_path().map_err(|()| {
                    TransportError::new_with_cause(
                        TransportErrorKind::Other,
                        url.clone(),
                        "not a local file path",
                    )
                })?;
                let file = File::open(&path).map_err(|e| {
                    let kind = if e.kind() == ErrorKind::NotFound {
                        TransportErrorKind::FileNotFound
                    } else {
                        TransportErrorKind::Other
                    };
                    TransportError::new_with_cause(kind, url.clone(), e)
                })?;
                Box::new(file)
            }
            "http" | "https" => match self.agent.get(url.as_str()).call() {
                Ok(response) => Box::new(response.into_body().into_reader()),
                Err(ureq::Error::StatusCode(code @ (403 | 404 | 410))) => {
                    return Err(TransportError::new_with_cause(
                        TransportErrorKind::FileNotFound,
                        url,
                        format!("HTTP status {code}"),
                    ))
                }
                Err(e) => {
                    return Err(TransportError::new_with_cause(
                        TransportErrorKind::Other,
                        url,
                        e,
                    ))
                }
            },
            _ => {
                return Err(TransportError::new(
                    TransportErrorKind::UnsupportedUrlScheme,
                    url,
                ))
            }
        };
        Ok(spawn_reader(url, reader))
    }
}

/// Reads `reader` on a new thread into 1 MiB chunks.
fn spawn_reader(url: Url, mut reader: Box<dyn Read + Send>) -> TransportStream {
    let (tx, rx) = mpsc::channel(DEPTH);
    std::thread::spawn(move || loop {
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        let result = loop {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    filled += n;
                    if filled == buf.len() {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        let done = filled < buf.len();
        if filled > 0 {
            buf.truncate(filled);
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                return;
            }
        }
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(TransportError::new_with_cause(
                TransportErrorKind::Other,
                url.clone(),
                e,
            )));
            return;
        }
        if done {
            return;
        }
    });
    Box::pin(ChannelStream(rx))
}

struct ChannelStream(mpsc::Receiver<Result<Bytes, TransportError>>);

impl Stream for ChannelStream {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Metadata size limits for loading a repository: generous for thousands of targets, small
/// enough that a hostile mirror cannot exhaust memory.
pub fn limits() -> tough::Limits {
    tough::Limits {
        max_root_size: 1024 * 1024,
        max_targets_size: 64 * 1024 * 1024,
        max_timestamp_size: 1024 * 1024,
        max_snapshot_size: 4 * 1024 * 1024,
        max_root_updates: 1024,
    }
}
