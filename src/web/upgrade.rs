//! Protocol upgrades (RFC 9110 §7.8): a handler answers `101 Switching
//! Protocols` with [`Response::upgrade`](super::Response::upgrade), and the
//! connection, once the `101` is written, hands itself over as an
//! [`Upgraded`] stream to the function the handler gave. WebSocket and any
//! other protocol that starts from HTTP/1.1 build on this.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};

use super::target::BoxFuture;

/// A byte stream a connection can become.
pub(crate) trait UpgradeStream: AsyncRead + AsyncWrite + Send + Unpin {
    /// A poll that is ready once the server has begun to shut down gracefully.
    fn shutdown_watch(&self) -> ShutdownPoll;

    /// Ready when a read may find bytes (or the end of the stream), without
    /// reading: a protocol that knows its reader is starved waits on this.
    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// See [`UpgradeStream::shutdown_watch`].
pub(crate) type ShutdownPoll = Box<dyn FnMut(&mut Context<'_>) -> Poll<()> + Send>;

/// The connection after `101 Switching Protocols`: the bytes the client sent
/// after its request head first, then the socket itself.
///
/// It no longer obeys the server's idle timeout (the protocol keeps its own
/// liveness); a write that makes no progress for the server's write timeout
/// fails with [`TimedOut`](io::ErrorKind::TimedOut). A graceful shutdown
/// announces itself through [`shutdown_begun`](Upgraded::shutdown_begun), so
/// the protocol can say goodbye before the deadline;
/// [`close_all_connections`](crate::Server::close_all_connections) and the
/// deadline cut it.
pub struct Upgraded {
    io: Box<dyn UpgradeStream>,
}

impl Upgraded {
    pub(crate) fn new(io: impl UpgradeStream + 'static) -> Self {
        Upgraded { io: Box::new(io) }
    }

    /// Ready when a read may find bytes, or the end of the stream, without
    /// reading anything: for a protocol whose last read found nothing, a
    /// cheaper wait than another read attempt.
    pub fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_readable(cx)
    }

    /// A future that resolves once the server has begun a graceful
    /// shutdown: the moment to close the protocol's session politely before
    /// the deadline cuts it. It owns what it needs, so it can be awaited
    /// beside reads and writes on the stream.
    pub fn shutdown_begun(&self) -> ShutdownBegun {
        ShutdownBegun { poll: self.io.shutdown_watch() }
    }
}

/// A future that resolves once the server has begun a graceful shutdown:
/// see [`Upgraded::shutdown_begun`] and [`Request::shutdown_begun`](crate::Request::shutdown_begun).
#[must_use = "a future does nothing unless awaited"]
pub struct ShutdownBegun {
    poll: ShutdownPoll,
}

impl ShutdownBegun {
    pub(crate) fn from_poll(poll: ShutdownPoll) -> Self {
        ShutdownBegun { poll }
    }
}

impl std::future::Future for ShutdownBegun {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        (self.poll)(cx)
    }
}

impl fmt::Debug for ShutdownBegun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShutdownBegun")
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded").finish_non_exhaustive()
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_close(cx)
    }
}

/// What runs on the connection once it is upgraded.
pub(crate) struct OnUpgrade(pub(crate) Box<dyn FnOnce(Upgraded) -> BoxFuture<'static, ()> + Send>);

impl fmt::Debug for OnUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnUpgrade(..)")
    }
}
