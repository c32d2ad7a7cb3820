//! What handlers hold: [`Message`]s, and the [`WebSocket`] handle that sends
//! them from any task.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tungstenite::Utf8Bytes;

/// A data message: text (always valid UTF-8) or binary.
///
/// Cloning is cheap: the payload is shared, so one message can be sent to
/// many sockets without copying it for each.
///
/// # Examples
///
/// ```
/// use squall::websocket::Message;
///
/// let m = Message::from("hi");
/// assert_eq!(m.as_text(), Some("hi"));
/// assert_eq!(Message::from(vec![1u8, 2]).as_bytes(), &[1, 2]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Message::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Message::Binary(data.into())
    }

    /// The text, for a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t.as_str()),
            Message::Binary(_) => None,
        }
    }

    /// The payload's bytes, whatever the type.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn into_frame(self) -> tungstenite::Message {
        match self {
            Message::Text(t) => tungstenite::Message::Text(t),
            Message::Binary(b) => tungstenite::Message::Binary(b),
        }
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::Text(text.into())
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message::Text(text.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        Message::Binary(data.into())
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Self {
        Message::Binary(data)
    }
}

/// Close codes (RFC 6455 §7.4.1) squall sends, for use with
/// [`WebSocket::close`] and in [`WebSocketHandler::on_close`](super::WebSocketHandler::on_close).
pub struct CloseCode;

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: u16 = 1000;
    /// 1001: the server is going down, or the peer navigated away.
    pub const GOING_AWAY: u16 = 1001;
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// 1003: a type of data the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// 1007: a text message (or close reason) that is not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// 1008: a message that violates the endpoint's policy.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: u16 = 1011;
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CloseCode")
    }
}

/// Why a message could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The connection is closed (or closing): nothing more goes out.
    Closed,
    /// The queue is full ([`WebSocket::try_send`] only): the client reads
    /// slower than messages are sent to it.
    Full,
    /// A ping payload over 125 bytes, or a close code no endpoint may send.
    Invalid,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Closed => "the WebSocket is closed",
            SendError::Full => "the WebSocket's send queue is full",
            SendError::Invalid => "not a valid ping payload or close code",
        })
    }
}

impl std::error::Error for SendError {}

/// `reason` cut to the 123 bytes a Close frame has room for (RFC 6455
/// §5.5: 125 bytes of payload, 2 of them the code), at a character boundary.
pub(super) fn close_reason(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// What the session is asked to do by a handle.
#[derive(Debug)]
pub(super) enum Command {
    Send(tungstenite::Message),
    Close(u16, Utf8Bytes),
}

/// A handle to one open WebSocket: clone it freely, keep it in a list,
/// send through it from any task. Two handles are equal when they are
/// handles to the same connection.
#[derive(Clone)]
pub struct WebSocket {
    shared: Arc<Shared>,
}

struct Shared {
    tx: async_channel::Sender<Command>,
    peer: Option<SocketAddr>,
    subprotocol: Option<String>,
}

impl WebSocket {
    pub(super) fn new(
        tx: async_channel::Sender<Command>,
        peer: Option<SocketAddr>,
        subprotocol: Option<String>,
    ) -> Self {
        WebSocket { shared: Arc::new(Shared { tx, peer, subprotocol }) }
    }

    /// Queues a message for the client, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] once the connection is closing or closed.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.command(Command::Send(message.into().into_frame())).await
    }

    /// Queues a message if there is room now: for a broadcaster that must
    /// not wait on one slow client.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`] when the queue is full, [`SendError::Closed`]
    /// once the connection is closing or closed.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.shared.tx.try_send(Command::Send(message.into().into_frame())).map_err(|e| match e {
            async_channel::TrySendError::Full(_) => SendError::Full,
            async_channel::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Sends a ping; the client's pong reaches
    /// [`on_pong`](super::WebSocketHandler::on_pong).
    ///
    /// # Errors
    ///
    /// [`SendError::Invalid`] for a payload over 125 bytes (RFC 6455
    /// §5.5), [`SendError::Closed`] once the connection is closing.
    pub async fn ping(&self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        let payload = payload.into();
        if payload.len() > 125 {
            return Err(SendError::Invalid);
        }
        self.command(Command::Send(tungstenite::Message::Ping(payload))).await
    }

    /// Starts the closing handshake with `code` and `reason` (cut to 123
    /// bytes, at a character boundary). The session waits a few seconds for
    /// the client's Close, then ends; messages queued before this go out first.
    ///
    /// # Errors
    ///
    /// [`SendError::Invalid`] for a code an endpoint may not send (below
    /// 1000, 1004–1006, 1015, reserved ranges), [`SendError::Closed`] when
    /// already closing.
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), SendError> {
        if !tungstenite::protocol::frame::coding::CloseCode::from(code).is_allowed() {
            return Err(SendError::Invalid);
        }
        self.command(Command::Close(code, Utf8Bytes::from(close_reason(reason)))).await
    }

    /// Whether the connection has closed (or is closing): sends will fail.
    pub fn is_closed(&self) -> bool {
        self.shared.tx.is_closed()
    }

    /// The client's address, as the server saw it.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.shared.peer
    }

    /// The subprotocol the handshake settled on, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.shared.subprotocol.as_deref()
    }

    /// Refuses every further message: the session is ending.
    pub(super) fn shut(&self) {
        self.shared.tx.close();
    }

    async fn command(&self, command: Command) -> Result<(), SendError> {
        self.shared.tx.send(command).await.map_err(|_| SendError::Closed)
    }
}

impl PartialEq for WebSocket {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for WebSocket {}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("peer", &self.shared.peer)
            .field("subprotocol", &self.shared.subprotocol)
            .field("closed", &self.is_closed())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::close_reason;

    #[test]
    fn rfc6455_5_5_close_reasons_fit_the_control_frame_at_a_char_boundary() {
        assert_eq!(close_reason("bye"), "bye");
        let long = "é".repeat(100); // 200 bytes
        let cut = close_reason(&long);
        assert_eq!(cut.len(), 122, "123 would split a character");
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
