//! [`WebSocketHandler`]: one value per connection with a method per event,
//! and [`FnHandler`], the one a closure makes.

use std::future::Future;

use super::handshake;
use super::socket::{Message, WebSocket};
use crate::error::HttpError;
use crate::web::Request;

/// A WebSocket endpoint, Tornado's `WebSocketHandler`: a new value per
/// connection (made by the factory given to [`websocket`](super::websocket)), told of each
/// event in order. Only [`on_message`](WebSocketHandler::on_message) is required.
///
/// The session awaits each method before reading the next frame, so a
/// handler sees its messages one at a time and in order; while one is
/// awaited, messages sent through the [`WebSocket`] handle still go out. A
/// method is never cancelled half-way: when the connection ends while one
/// runs, it runs on to its end (its sends fail with
/// [`SendError::Closed`](super::SendError::Closed)), then `on_close` is called.
pub trait WebSocketHandler: Send + 'static {
    /// Runs before the handshake is answered; an error refuses the
    /// connection with that status (`403` for a missing login, say).
    fn prepare(&mut self, req: &mut Request) -> impl Future<Output = Result<(), HttpError>> + Send {
        let _ = req;
        async { Ok(()) }
    }

    /// Whether to accept a browser's connection from page `origin`. The
    /// default accepts only the request's own host and port (what
    /// Tornado's `check_origin` does); a refusal is `403`. Requests without
    /// `Origin` (not from a browser) are not asked about.
    fn check_origin(&self, origin: &str, req: &Request) -> bool {
        handshake::same_origin(origin, req)
    }

    /// Picks one of the subprotocols the client offered (in its order of
    /// preference), or none. The default picks none.
    fn select_subprotocol(&mut self, offered: &[String]) -> Option<String> {
        let _ = offered;
        None
    }

    /// The connection is open: keep `socket` to send to it later.
    fn open(&mut self, socket: &WebSocket) -> impl Future<Output = ()> + Send {
        let _ = socket;
        async {}
    }

    /// A complete message arrived (fragments are joined first).
    fn on_message(&mut self, socket: &WebSocket, message: Message) -> impl Future<Output = ()> + Send;

    /// A ping arrived; the pong has already been queued.
    fn on_ping(&mut self, socket: &WebSocket, payload: &[u8]) {
        let _ = (socket, payload);
    }

    /// A pong arrived (to a ping of the keep-alive or of
    /// [`WebSocket::ping`]), or an unsolicited one.
    fn on_pong(&mut self, socket: &WebSocket, payload: &[u8]) {
        let _ = (socket, payload);
    }

    /// The connection has closed. `code` and `reason` are what the client's
    /// Close frame said; `None` when it sent none (it vanished, broke the
    /// protocol, or stopped answering pings).
    fn on_close(&mut self, code: Option<u16>, reason: &str) {
        let _ = (code, reason);
    }
}

/// The handler [`websocket_fn`](super::websocket_fn) makes: a closure for each message.
#[derive(Debug, Clone)]
pub struct FnHandler<M> {
    on_message: M,
}

impl<M> FnHandler<M> {
    pub(super) fn new(on_message: M) -> Self {
        FnHandler { on_message }
    }
}

impl<M, Fut> WebSocketHandler for FnHandler<M>
where
    M: Fn(WebSocket, Message) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn on_message(&mut self, socket: &WebSocket, message: Message) -> impl Future<Output = ()> + Send {
        (self.on_message)(socket.clone(), message)
    }
}
