//! [`WebSocketRoute`]: the route target that checks the handshake, makes a
//! handler per connection and hands the upgraded connection to a session.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use http::header::{self, HeaderValue};

use super::handler::{FnHandler, WebSocketHandler};
use super::handshake::{self, Opening};
use super::session::{self, Limits};
use super::socket::{Message, WebSocket};
use crate::error::HttpError;
use crate::web::{Dispatch, IntoResponse, Request, Response, Target};

/// A route target that speaks WebSocket; see [`websocket`] and [`websocket_fn`].
pub struct WebSocketRoute<F> {
    factory: F,
    limits: Limits,
}

/// A WebSocket route: `factory` makes the handler of each connection from
/// its opening request (path arguments, state, cookies are there).
pub fn websocket<F, H>(factory: F) -> WebSocketRoute<F>
where
    F: Fn(&Request) -> H + Send + Sync + 'static,
    H: WebSocketHandler,
{
    WebSocketRoute { factory, limits: Limits::default() }
}

/// A WebSocket route that calls `on_message` with a handle to the socket
/// and each message; the rest of [`WebSocketHandler`] keeps its defaults.
///
/// # Examples
///
/// ```
/// use squall::websocket::{websocket_fn, Message, WebSocket};
///
/// let echo = websocket_fn(|socket: WebSocket, message: Message| async move {
///     let _ = socket.send(message).await;
/// });
/// let app = squall::Router::new().route("/echo", echo);
/// # let _ = app;
/// ```
pub fn websocket_fn<M, Fut>(on_message: M) -> WebSocketRoute<impl Fn(&Request) -> FnHandler<M> + Send + Sync + 'static>
where
    M: Fn(WebSocket, Message) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    websocket(move |_req: &Request| FnHandler::new(on_message.clone()))
}

impl<F> WebSocketRoute<F> {
    /// The largest message accepted, in bytes, fragments joined (default
    /// 10 MiB, as Tornado's). A larger one closes the connection with `1009`.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.limits.max_message = bytes;
        self
    }

    /// Pings the client every `interval` (default 20 s); `Duration::ZERO`
    /// turns pings off. With pings, a peer that vanished without closing
    /// its connection is noticed and the socket released.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.limits.ping_interval = (!interval.is_zero()).then_some(interval);
        self
    }

    /// Closes the connection with `1001` when a ping is not answered within
    /// `timeout` (default 20 s; `Duration::ZERO`: the ping interval, Tornado
    /// 6.5's rule).
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.limits.ping_timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }

    /// How many messages may wait in a socket's send queue (default 16);
    /// beyond it [`WebSocket::send`] waits and [`WebSocket::try_send`] fails.
    pub fn queue(mut self, messages: usize) -> Self {
        self.limits.queue = messages.max(1);
        self
    }

    /// How long a closing socket waits for the client's Close (default 5 s).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.limits.close_timeout = timeout;
        self
    }
}

impl<F> fmt::Debug for WebSocketRoute<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketRoute").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl<F, H> Target for WebSocketRoute<F>
where
    F: Fn(&Request) -> H + Send + Sync + 'static,
    H: WebSocketHandler,
{
    fn call(&self, req: Request) -> Dispatch<'_> {
        Dispatch::answer(self.accept(req))
    }
}

impl<F, H> WebSocketRoute<F>
where
    F: Fn(&Request) -> H + Send + Sync + 'static,
    H: WebSocketHandler,
{
    async fn accept(&self, mut req: Request) -> Response {
        let Opening { accept, protocols } = match handshake::check(&req) {
            Ok(opening) => opening,
            Err(refusal) => {
                log::info!(target: "squall::websocket", "{} {}: handshake refused: {refusal:?}", req.method(), req.path());
                return refusal.into_response();
            }
        };
        let mut handler = (self.factory)(&req);
        let allowed = match handshake::origin(&req) {
            Ok(None) => true,
            Ok(Some(origin)) => handler.check_origin(origin, &req),
            Err(()) => false, // unreadable or twice: fail closed
        };
        if !allowed {
            let origin = req.headers().get(http::header::ORIGIN);
            log::warn!(target: "squall::websocket", "{}: cross-origin WebSocket from {origin:?} refused", req.path());
            return HttpError::new(http::StatusCode::FORBIDDEN)
                .with_message("cross-origin WebSocket not allowed")
                .into_response();
        }
        if let Err(e) = handler.prepare(&mut req).await {
            return e.into_response();
        }
        let subprotocol = handler.select_subprotocol(&protocols);
        let subprotocol = match subprotocol {
            Some(p) if !protocols.contains(&p) => {
                log::error!(target: "squall::websocket", "select_subprotocol chose {p:?}, which the client did not offer; none used");
                None
            }
            chosen => chosen,
        };
        let limits = self.limits;
        let peer = req.remote_addr();
        let chosen = subprotocol.clone();
        let mut response = Response::upgrade("websocket", move |io| session::run(io, handler, limits, peer, chosen));
        let headers = response.headers_mut();
        if let Ok(accept) = HeaderValue::try_from(accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(p) = subprotocol.and_then(|p| HeaderValue::try_from(p).ok()) {
            headers.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
        }
        response
    }
}
