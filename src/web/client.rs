//! The connection a request arrived on, as its handler may ask about it:
//! [`Disconnected`] resolves when the client goes away mid-request, so a
//! long poll stops waiting for a client that left (Tornado's
//! `on_connection_close`).

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;

/// The connection as a request sees it: its body, and whether its client is still there.
pub(crate) trait BodySource: Send {
    /// The next chunk of request number `seq`, `None` at its end.
    fn poll_chunk(&mut self, cx: &mut Context<'_>, seq: u64) -> Poll<Option<io::Result<Bytes>>>;

    /// Replaces the body size limit of request `seq`, if its body is unread.
    fn set_limit(&mut self, seq: u64, limit: u64);

    /// Ready once the client of request `seq` has gone, or that request
    /// has been answered.
    fn poll_gone(&mut self, cx: &mut Context<'_>, seq: u64) -> Poll<()>;

    /// Ready once the server has begun to wind down (a graceful shutdown).
    fn poll_ending(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// Request number `seq` of a connection.
#[derive(Clone)]
pub(crate) struct ClientLink {
    pub(crate) source: Arc<Mutex<dyn BodySource>>,
    pub(crate) seq: u64,
}

impl fmt::Debug for ClientLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientLink").field("seq", &self.seq).finish_non_exhaustive()
    }
}

/// A future that resolves when the client of a request has gone: it closed
/// its connection (or the connection failed) before the response was
/// written. See [`Request::disconnected`](crate::Request::disconnected).
///
/// Once the request has been answered it resolves at once: there is nothing
/// left to wait for. For a request made in memory (the
/// [`testing`](crate::testing) helpers' `call`), or one a gateway host
/// handed over, it never resolves.
///
/// Await it in the handler's own task (beside the work it guards, with
/// [`or`](futures_lite::FutureExt::or) or a select), not in a task of its
/// own: it watches the socket the handler's task reads.
#[must_use = "a future does nothing unless awaited"]
pub struct Disconnected {
    link: Option<ClientLink>,
}

impl Disconnected {
    pub(crate) fn new(link: Option<ClientLink>) -> Self {
        Disconnected { link }
    }
}

impl Future for Disconnected {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &self.link {
            Some(link) => crate::rt::lock(&link.source).poll_gone(cx, link.seq),
            None => Poll::Pending,
        }
    }
}

impl fmt::Debug for Disconnected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Disconnected").field("watching", &self.link.is_some()).finish()
    }
}
