//! What hyper's client runs on: the Unix socket and a one-socket executor on the calling thread,
//! instead of an async runtime.
//!
//! A client waits on exactly one server, so the executor's only event source is that socket:
//!
//! * writes block until written (the socket is blocking), so hyper never waits to write;
//! * reads never block: a read that finds nothing leaves the future `Pending`, and [`block_on`]
//!   then waits in `poll(2)` for the socket to become readable (unless a waker already asked
//!   for another poll);
//! * a read shorter than asked drained the socket, so the next read waits for `poll(2)` instead
//!   of asking the kernel again (hyper checks an idle connection after every answer).
//!
//! An exchange is then one write, one wait and one read, with no readiness registration and no
//! write-readiness wake-ups.

use std::future::Future;
use std::io::{self, IoSlice, Write};
use std::os::unix::net::UnixStream;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use hyper::rt::ReadBufCursor;
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::RecvFlags;

/// Size of the socket reads: a typical answer (a `GET /settings` of a few hundred keys is some
/// tens of KiB) arrives in one read.
pub const READ_BUFFER: usize = 64 * 1024;

/// A connected stream and whether it may have bytes to read.
#[derive(Debug)]
pub struct Stream {
    stream: UnixStream,
    readable: AtomicBool,
}

impl Stream {
    /// A connected, blocking stream.
    pub fn new(stream: UnixStream) -> Arc<Self> {
        Arc::new(Self {
            stream,
            readable: AtomicBool::new(true),
        })
    }

    /// Makes the next read ask the kernel (e.g. to see whether an idle connection was closed).
    pub fn recheck(&self) {
        self.readable.store(true, Ordering::Release);
    }
}

/// A connected Unix socket as hyper's I/O (see the module documentation).
#[derive(Debug)]
pub struct Socket {
    stream: Arc<Stream>,
    /// Bytes are received here (its spare capacity: never zeroed) and copied into hyper's buffer.
    buf: Vec<u8>,
}

impl Socket {
    /// hyper's I/O on `stream`, which the executor waits on.
    pub fn new(stream: Arc<Stream>) -> Self {
        Self {
            stream,
            buf: Vec::with_capacity(READ_BUFFER),
        }
    }
}

impl hyper::rt::Read for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        mut out: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.stream.readable.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        let len = out.remaining().min(READ_BUFFER);
        loop {
            let spare = &mut this.buf.spare_capacity_mut()[..len];
            match rustix::net::recv(&this.stream.stream, spare, RecvFlags::DONTWAIT) {
                Ok(((received, _), _)) => {
                    if !received.is_empty() && received.len() < len {
                        this.stream.readable.store(false, Ordering::Release);
                    }
                    out.put_slice(received);
                    return Poll::Ready(Ok(()));
                }
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => {
                    this.stream.readable.store(false, Ordering::Release);
                    return Poll::Pending;
                }
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
    }
}

impl hyper::rt::Write for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready((&self.stream.stream).write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready((&self.stream.stream).write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Nothing to do: hyper shuts a connection down only to drop it, and closing the socket
    /// ends it.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Records that a future asked to be polled again.
#[derive(Default)]
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `future`, whose only outside event source is `stream`, to completion on this thread:
/// polled again at once when it woke itself, else when the socket is readable (or closed).
///
/// # Errors
/// When `poll(2)` fails.
pub fn block_on<F: Future>(stream: &Stream, future: F) -> io::Result<F::Output> {
    let mut future = pin!(future);
    let woken = Arc::new(Woken::default());
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Ok(output);
        }
        if !woken.0.swap(false, Ordering::AcqRel) {
            let mut fds = [PollFd::new(&stream.stream, PollFlags::IN)];
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => stream.recheck(),
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::{Read, ReadBuf, Write as _};

    #[test]
    fn reads_never_block_and_a_drained_socket_waits_for_poll() {
        let (client, mut server) = UnixStream::pair().unwrap();
        let stream = Stream::new(client);
        let mut socket = Socket::new(Arc::clone(&stream));
        let mut storage = [std::mem::MaybeUninit::uninit(); 16];
        let mut buf = ReadBuf::uninit(&mut storage);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(&mut socket)
            .poll_read(&mut cx, buf.unfilled())
            .is_pending());
        let written = Pin::new(&mut socket).poll_write(&mut cx, b"ask");
        assert!(matches!(written, Poll::Ready(Ok(3))));
        let mut asked = [0; 3];
        std::io::Read::read_exact(&mut server, &mut asked).unwrap();
        server.write_all(b"answer").unwrap();
        // Marked drained by the read that found nothing: no read until `poll(2)` says so.
        assert!(Pin::new(&mut socket)
            .poll_read(&mut cx, buf.unfilled())
            .is_pending());
        let read = block_on(
            &stream,
            std::future::poll_fn(|cx| Pin::new(&mut socket).poll_read(cx, buf.unfilled())),
        )
        .unwrap();
        assert!(read.is_ok());
        assert_eq!(buf.filled(), b"answer");
        // A short read drained the socket; `recheck` asks the kernel again (and sees EOF).
        drop(server);
        assert!(Pin::new(&mut socket)
            .poll_read(&mut cx, buf.unfilled())
            .is_pending());
        stream.recheck();
        let eof = Pin::new(&mut socket).poll_read(&mut cx, buf.unfilled());
        assert!(matches!(eof, Poll::Ready(Ok(()))));
        assert_eq!(buf.filled(), b"answer");
    }

    #[test]
    fn block_on_waits_for_the_socket_unless_woken() {
        let (client, mut server) = UnixStream::pair().unwrap();
        let stream = Stream::new(client);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            server.write_all(b"x").unwrap();
            server
        });
        // Pending twice: once woken by itself (no wait), once waiting for the socket.
        let mut polls = 0;
        let value = block_on(
            &stream,
            std::future::poll_fn(|cx| {
                polls += 1;
                match polls {
                    1 => {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                    2 => Poll::Pending,
                    _ => Poll::Ready(polls),
                }
            }),
        )
        .unwrap();
        assert_eq!(value, 3);
        let mut byte = [0; 1];
        std::io::Read::read_exact(&mut &stream.stream, &mut byte).unwrap();
        assert_eq!(&byte, b"x");
        drop(writer.join().unwrap());
    }
}
