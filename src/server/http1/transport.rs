//! The connection as the request loop and the request body share it: the
//! [`Socket`] and the current [`RequestBody`], behind one lock.
//!
//! A [`Transport`] sits behind a mutex that is never held across an await:
//! the loop in `conn` reads heads and writes responses through it, and the
//! request's [`Body`](crate::Body) reads the body through it, so a handler
//! streams its body straight from the socket and `100 Continue` goes out
//! only when it starts reading.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use super::decode::{RequestFraming, RequestHead};
use super::request_body::{RequestBody, Settled};
use super::socket::{HeadError, RELEASE_AFTER, Socket};
use crate::rt::{self, Io};
use crate::server::watch::{Ending, Watch};
#[cfg(target_os = "linux")]
use crate::web::body::FilePart;
use crate::web::client::BodySource;
use bytes::Bytes;
use futures_lite::FutureExt;

/// How long, and how much, a closing connection reads and discards so that the
/// client receives the final response instead of a reset.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

/// The per-connection limits the transport enforces itself.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) body_timeout: Option<Duration>,
    pub(super) write_timeout: Option<Duration>,
    pub(super) chunk_size: usize,
}

/// The connection: its socket and the current request's body.
pub(super) struct Transport<S> {
    socket: Socket<S>,
    body: RequestBody,
    /// The request whose handler is at work, 0 between requests.
    answering: u64,
}

/// The transport as the connection loop and the request body share it.
pub(super) type SharedTransport<S> = Arc<Mutex<Transport<S>>>;

pub(super) fn lock<S>(shared: &SharedTransport<S>) -> MutexGuard<'_, Transport<S>> {
    rt::lock(shared)
}

impl<S: Io> Transport<S> {
    pub(super) fn new(io: S, watch: Arc<Watch>, limits: Limits) -> Self {
        let socket = Socket::new(io, watch, limits.write_timeout);
        Transport { socket, body: RequestBody::new(limits.chunk_size, limits.body_timeout), answering: 0 }
    }

    /// Starts the body of request `seq`.
    pub(super) fn start_body(
        &mut self,
        seq: u64,
        framing: RequestFraming,
        expect_continue: bool,
        limit: u64,
        gzip: bool,
    ) {
        self.body.start(seq, framing, expect_continue, limit, gzip);
        self.answering = seq;
    }

    /// Whether the body of the current request has been read to its end.
    pub(super) fn body_done(&self) -> bool {
        self.body.is_done()
    }

    /// Why reading the current request's body failed, if it did.
    pub(super) fn body_failure(&self) -> Option<(http::StatusCode, &'static str)> {
        self.body.failure()
    }

    /// The handler has answered: what the request body leaves for the connection.
    pub(super) fn settle_body(&mut self) -> Settled {
        self.answering = 0;
        self.body.settle()
    }

    /// Ready once the client has closed the connection; see [`Socket::poll_gone`].
    pub(super) fn poll_peer_gone(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.socket.poll_gone(cx)
    }

    /// The server is winding down and the client has not already sent its
    /// next request: the response in hand is the connection's last.
    pub(super) fn is_last_request(&self) -> bool {
        self.socket.watch().ending() != Ending::No && !self.socket.has_head()
    }
}

impl<S: Io> BodySource for Transport<S> {
    fn set_limit(&mut self, seq: u64, limit: u64) {
        self.body.set_limit(seq, limit);
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>, seq: u64) -> Poll<Option<io::Result<Bytes>>> {
        self.body.poll_chunk(&mut self.socket, cx, seq)
    }

    fn poll_gone(&mut self, cx: &mut Context<'_>, seq: u64) -> Poll<()> {
        if seq != self.answering {
            return Poll::Ready(());
        }
        self.socket.poll_gone(cx)
    }

    fn poll_ending(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.socket.watch().poll_ending(cx)
    }
}

/// The connection after `101 Switching Protocols`, as a byte stream: the
/// bytes read past the request head first, then the socket.
pub(super) struct UpgradedTransport<S> {
    shared: SharedTransport<S>,
}

impl<S> UpgradedTransport<S> {
    pub(super) fn new(shared: SharedTransport<S>) -> Self {
        UpgradedTransport { shared }
    }
}

impl<S: Io> futures_lite::io::AsyncRead for UpgradedTransport<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        lock(&self.shared).socket.poll_read_through(cx, buf)
    }
}

impl<S: Io> crate::web::upgrade::UpgradeStream for UpgradedTransport<S> {
    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut t = lock(&self.shared);
        if t.socket.buffered().is_empty() { t.socket.io().poll_read_ready(cx) } else { Poll::Ready(Ok(())) }
    }

    fn shutdown_watch(&self) -> crate::web::upgrade::ShutdownPoll {
        let shared = self.shared.clone();
        Box::new(move |cx| lock(&shared).socket.watch().poll_ending(cx))
    }
}

impl<S: Io> futures_lite::io::AsyncWrite for UpgradedTransport<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        lock(&self.shared).socket.poll_write_some(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(lock(&self.shared).socket.io()).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(lock(&self.shared).socket.io()).poll_close(cx)
    }
}

/// Reads and parses the next request head; `Ok(None)` on a clean close
/// between requests. The whole head must arrive within `timeout` from now,
/// however it trickles in.
pub(super) async fn read_head<S: Io>(
    shared: &SharedTransport<S>,
    max: usize,
    timeout: Option<Duration>,
) -> Result<Option<RequestHead>, HeadError> {
    // The first deadline only marks the connection as quiet, to free its buffer.
    let mut release = timeout.is_none_or(|t| t > RELEASE_AFTER);
    lock(shared).socket.watch().read_within(if release { Some(RELEASE_AFTER) } else { timeout });
    poll_fn(|cx| lock(shared).socket.poll_head(cx, max, timeout, &mut release)).await
}

pub(super) async fn write_all<S: Io>(shared: &SharedTransport<S>, data: &[u8]) -> io::Result<()> {
    let mut written = 0;
    poll_fn(|cx| lock(shared).socket.poll_write_all(cx, data, &mut written)).await
}

/// Whether the socket can send files with `sendfile(2)` (not TLS).
#[cfg(target_os = "linux")]
pub(super) fn sends_files<S: Io>(shared: &SharedTransport<S>) -> bool {
    lock(shared).socket.io().sends_files()
}

/// Corks or uncorks the socket (see [`Io::cork`]).
#[cfg(target_os = "linux")]
pub(super) fn cork<S: Io>(shared: &SharedTransport<S>, on: bool) {
    lock(shared).socket.io().cork(on);
}

/// The connection's watch: its deadlines and shutdown state.
pub(super) fn watch_of<S: Io>(shared: &SharedTransport<S>) -> Arc<Watch> {
    lock(shared).socket.watch().clone()
}

/// Sends a part of a file with `sendfile(2)` on a socket that
/// [`sends_files`]: how many bytes went, fewer than asked when the file
/// ended early.
#[cfg(target_os = "linux")]
pub(super) async fn send_file<S: Io>(shared: &SharedTransport<S>, part: &FilePart) -> io::Result<u64> {
    let (mut offset, end) = (part.offset, part.offset + part.len);
    while offset < end {
        let step = usize::try_from(end - offset).unwrap_or(usize::MAX).min(1 << 30);
        let sent = poll_fn(|cx| lock(shared).socket.poll_sendfile_some(cx, &part.file, &mut offset, step)).await?;
        if sent == 0 {
            break; // the file is shorter than it was
        }
    }
    Ok(offset - part.offset)
}

pub(super) async fn flush<S: Io>(shared: &SharedTransport<S>) -> io::Result<()> {
    poll_fn(|cx| Pin::new(lock(shared).socket.io()).poll_flush(cx)).await
}

/// Closes the connection gracefully: shuts down writing, then reads and
/// discards what the client still sends (bounded in bytes and time), so the
/// kernel does not answer unread input with a reset that destroys the response.
pub(super) async fn linger_close<S: Io>(shared: &SharedTransport<S>) {
    // `poll_close` ends a TLS session properly (close_notify); it can stall
    // on a client that reads nothing, hence the bound.
    let close = poll_fn(|cx| Pin::new(lock(shared).socket.io()).poll_close(cx));
    let _ = rt::timeout(LINGER, close).await;
    let _ = lock(shared).socket.io().shutdown_write();
    let discard = async {
        let mut left = LINGER_BYTES;
        let mut sink = vec![0u8; 4096]; // on the heap: it would make every connection task larger
        while left > 0 {
            match poll_fn(|cx| Pin::new(lock(shared).socket.io()).poll_read(cx, &mut sink)).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    discard.or(rt::sleep(LINGER)).await;
}
