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

use super::Request;
use super::upgrade::ShutdownBegun;

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

/// What a request knows of its client's connection, and of the server's.
impl Request {
    /// The `Last-Event-ID` header: the id of the last server-sent event a
    /// reconnecting browser received (see [`EventStream`](crate::web::EventStream)).
    pub fn last_event_id(&self) -> Option<&str> {
        self.header("last-event-id")
    }

    /// Resolves when the client goes away before this request is answered:
    /// how a long poll or a slow computation learns that nobody is waiting
    /// any more. The future owns what it needs, so it can also be taken out
    /// first and moved.
    ///
    /// The server notices a close by reading ahead while the handler works;
    /// what it reads (the rest of the body, a pipelined request) stays
    /// buffered for whoever reads it next. A client that half-closes its
    /// side after sending the request counts as gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::FutureExt;
    /// use squall::{Request, Response};
    ///
    /// async fn wait_for_news(req: Request) -> Response {
    ///     let news = async { squall::sleep(std::time::Duration::from_secs(30)).await; Some("news") };
    ///     let gone = async { req.disconnected().await; None };
    ///     match news.or(gone).await {
    ///         Some(news) => Response::text(news),
    ///         None => Response::text(""), // nobody reads this
    ///     }
    /// }
    /// let app = squall::Router::new().route("/news", squall::get(wait_for_news));
    /// # let _ = app;
    /// ```
    pub fn disconnected(&self) -> Disconnected {
        Disconnected::new(self.client_link().cloned())
    }

    /// Resolves when the server begins a graceful shutdown (SIGTERM, say):
    /// a handler that waits for news (a long poll) answers then, so that
    /// its client asks again — of another instance — instead of being cut
    /// at the drain deadline. Event streams end by themselves.
    ///
    /// For a request made in memory, or one a gateway host handed over, it
    /// never resolves. Await it in the handler's own task.
    pub fn shutdown_begun(&self) -> ShutdownBegun {
        let link = self.client_link().cloned();
        ShutdownBegun::from_poll(Box::new(move |cx| match &link {
            Some(link) => crate::rt::lock(&link.source).poll_ending(cx),
            None => std::task::Poll::Pending,
        }))
    }
}
