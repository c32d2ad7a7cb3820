//! One open WebSocket: read frames and hand messages to the handler, write
//! what its handles queue, keep the connection alive with pings, and close
//! it with the right code whatever ends it.

use std::future::{Future, pending};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use futures_lite::{FutureExt, StreamExt};
use tungstenite::Message as Frame;
use tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use super::handler::WebSocketHandler;
use super::socket::{CloseCode, Command, Message, WebSocket, close_reason};
use crate::web::Upgraded;

/// A route's limits for each of its connections.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) max_message: usize,
    pub(super) ping_interval: Option<Duration>,
    pub(super) ping_timeout: Option<Duration>,
    pub(super) queue: usize,
    pub(super) close_timeout: Duration,
}

/// How often a socket is pinged, and how long its pong may take, unless
/// the route says otherwise: a peer that vanished (no FIN, no RST: a laptop
/// closed, a NAT entry dropped) is noticed within 40 s, as the `websockets`
/// library's defaults do.
pub(super) const DEFAULT_PING: Duration = Duration::from_secs(20);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 10 * 1024 * 1024,
            ping_interval: Some(DEFAULT_PING),
            ping_timeout: Some(DEFAULT_PING),
            queue: 16,
            close_timeout: Duration::from_secs(5),
        }
    }
}

/// Bytes read from the socket at a time; frames larger than this are
/// gathered in a buffer of their own size. Small, because it is allocated
/// for every open socket, idle or not.
const READ_CHUNK: usize = 4 * 1024;

/// Queued messages written in a row before the socket is read first again.
const FAIR_RUN: u32 = 16;

type Stream = WebSocketStream<Upgraded>;

/// The session's side of the connection: the frame stream, the handles'
/// queue, and where the closing handshake stands.
struct Conn {
    ws: Stream,
    rx: async_channel::Receiver<Command>,
    /// The session's own handle, to refuse sends once closing.
    socket: WebSocket,
    limits: Limits,
    /// A Close has been sent: wait for the answer until then.
    closing: Option<Instant>,
    /// What the client's Close said, once it came.
    peer_close: Option<(Option<u16>, String)>,
    last_ping: Instant,
    /// A keep-alive ping is out, sent then.
    awaiting_pong: Option<Instant>,
    /// Queued messages written since the last frame was read.
    sends_in_a_row: u32,
    /// The last read found nothing: wait for readiness before reading again.
    starved: bool,
}

/// What woke the session.
enum Event {
    Frame(Option<Result<Frame, WsError>>),
    Command(Command),
    Timer,
    Shutdown,
}

/// Whether the session goes on after an event.
#[derive(PartialEq)]
enum Flow {
    Continue,
    End,
}

/// Runs a WebSocket session on an upgraded connection until it closes.
pub(super) async fn run<H: WebSocketHandler>(
    io: Upgraded,
    mut handler: H,
    limits: Limits,
    peer: Option<SocketAddr>,
    subprotocol: Option<String>,
) {
    let mut shutdown = Some(io.shutdown_begun());
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_CHUNK)
        .write_buffer_size(0)
        .max_message_size(Some(limits.max_message))
        .max_frame_size(Some(limits.max_message));
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    let (tx, rx) = async_channel::bounded(limits.queue);
    let socket = WebSocket::new(tx, peer, subprotocol);
    let mut conn = Conn {
        ws,
        rx,
        socket: socket.clone(),
        limits,
        closing: None,
        peer_close: None,
        last_ping: Instant::now(),
        awaiting_pong: None,
        sends_in_a_row: 0,
        starved: false,
    };
    let mut alarm = Alarm::default();
    let mut flow = conn.drive(handler.open(&socket)).await;
    while flow == Flow::Continue {
        alarm.set(conn.next_deadline());
        let event = {
            let (ws, rx, starved) = (&mut conn.ws, &conn.rx, &mut conn.starved);
            let frame = std::future::poll_fn(|cx| {
                // The last read found the socket empty: wait for it to be
                // readable rather than read again on every wake-up (each
                // would cost a syscall, and tungstenite clears its buffer).
                if *starved {
                    if ws.get_mut().poll_readable(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *starved = false;
                }
                let next = Pin::new(&mut *ws).poll_next(cx);
                *starved = next.is_pending();
                next.map(Event::Frame)
            });
            let command = async {
                match rx.recv().await {
                    Ok(command) => Event::Command(command),
                    Err(_) => pending().await,
                }
            };
            let timer = async {
                alarm.wait().await;
                Event::Timer
            };
            let shutdown = async {
                match &mut shutdown {
                    Some(begun) => begun.await,
                    None => pending().await,
                }
                Event::Shutdown
            };
            // Queued messages first: a wake-up for one then costs no read
            // that would find the socket empty (a broadcast wakes every
            // socket). After a run of them, frames first, so a socket that
            // is sent to without pause still reads.
            if conn.sends_in_a_row < FAIR_RUN {
                command.or(frame).or(timer).or(shutdown).await
            } else {
                frame.or(command).or(timer).or(shutdown).await
            }
        };
        conn.sends_in_a_row = if matches!(event, Event::Command(_)) { conn.sends_in_a_row + 1 } else { 0 };
        flow = match event {
            Event::Frame(Some(Ok(Frame::Text(text)))) => {
                conn.deliver(handler.on_message(&socket, Message::Text(text))).await
            }
            Event::Frame(Some(Ok(Frame::Binary(data)))) => {
                conn.deliver(handler.on_message(&socket, Message::Binary(data))).await
            }
            Event::Frame(Some(Ok(Frame::Ping(payload)))) => {
                // tungstenite has queued the pong; the next read sends it.
                handler.on_ping(&socket, &payload);
                Flow::Continue
            }
            Event::Frame(Some(Ok(Frame::Pong(payload)))) => {
                conn.awaiting_pong = None;
                handler.on_pong(&socket, &payload);
                Flow::Continue
            }
            Event::Frame(Some(Ok(Frame::Close(frame)))) => {
                // tungstenite has queued the answering Close (or this was
                // the answer to ours); the next read sends it and ends.
                conn.peer_close =
                    Some(frame.map_or((None, String::new()), |f| (Some(f.code.into()), f.reason.to_string())));
                conn.socket.shut();
                Flow::Continue
            }
            Event::Frame(Some(Ok(Frame::Frame(_)))) => Flow::Continue,
            Event::Frame(Some(Err(e))) => conn.failed(e).await,
            Event::Frame(None) => Flow::End,
            Event::Command(command) => conn.apply(command).await,
            Event::Timer => conn.timer().await,
            Event::Shutdown => {
                shutdown = None;
                conn.start_close(CloseCode::GOING_AWAY, "server shutting down").await
            }
        };
    }
    conn.socket.shut();
    let (code, reason) = conn.peer_close.unwrap_or_default();
    handler.on_close(code, &reason);
}

impl Conn {
    /// Runs a handler method while still writing what handles queue, so a
    /// handler that sends through its own handle cannot wait on itself.
    /// The method is never cancelled half-way.
    async fn drive(&mut self, method: impl Future<Output = ()>) -> Flow {
        let mut method = pin!(method);
        loop {
            let rx = &self.rx;
            let step = async {
                method.as_mut().await;
                None
            }
            .or(async { rx.recv().await.ok() })
            .await;
            match step {
                None => return Flow::Continue,
                Some(command) => {
                    if self.apply(command).await == Flow::End {
                        // The connection is gone: the method still runs to
                        // its end, its sends failing with `Closed`.
                        self.socket.shut();
                        method.await;
                        return Flow::End;
                    }
                }
            }
        }
    }

    /// Hands a message to the handler, unless the session is closing.
    async fn deliver(&mut self, on_message: impl Future<Output = ()>) -> Flow {
        if self.closing.is_some() || self.peer_close.is_some() {
            return Flow::Continue;
        }
        self.drive(on_message).await
    }

    async fn apply(&mut self, command: Command) -> Flow {
        if self.closing.is_some() || self.peer_close.is_some() {
            return Flow::Continue; // queued behind a Close: dropped
        }
        match command {
            Command::Send(frame) => self.send(frame).await,
            Command::Close(code, reason) => self.start_close(code, &reason).await,
        }
    }

    async fn send(&mut self, frame: Frame) -> Flow {
        match self.ws.send(frame).await {
            Ok(()) => Flow::Continue,
            Err(e) => {
                log::debug!(target: "squall::websocket", "{}: write failed: {e}", self.peer());
                Flow::End
            }
        }
    }

    /// Sends a Close and waits (up to the close timeout) for the client's.
    async fn start_close(&mut self, code: u16, reason: &str) -> Flow {
        if self.closing.is_some() || self.peer_close.is_some() {
            return Flow::Continue;
        }
        self.socket.shut();
        self.closing = Some(Instant::now() + self.limits.close_timeout);
        let frame = CloseFrame { code: code.into(), reason: reason.into() };
        self.send(Frame::Close(Some(frame))).await
    }

    /// A read failed. A protocol violation is answered with a Close naming
    /// it (RFC 6455 §7.4.1), then the connection ends without waiting.
    async fn failed(&mut self, e: WsError) -> Flow {
        let code = match &e {
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
            WsError::Protocol(_) | WsError::AttackAttempt => Some(CloseCode::PROTOCOL_ERROR),
            // A 64-bit length whose most significant bit is set is not a
            // length at all (RFC 6455 §5.2): a protocol error, not a big message.
            WsError::Capacity(CapacityError::MessageTooLong { size, .. })
                if u64::try_from(*size).is_ok_and(|n| n >> 63 == 1) =>
            {
                Some(CloseCode::PROTOCOL_ERROR)
            }
            WsError::Utf8(_) => Some(CloseCode::INVALID_PAYLOAD),
            WsError::Capacity(_) => Some(CloseCode::MESSAGE_TOO_BIG),
            _ => None,
        };
        let Some(code) = code else {
            log::debug!(target: "squall::websocket", "{}: connection lost: {e}", self.peer());
            return Flow::End;
        };
        log::warn!(target: "squall::websocket", "{}: closing with {code}: {e}", self.peer());
        if self.closing.is_none() && self.peer_close.is_none() {
            let reason = e.to_string();
            let frame = CloseFrame { code: code.into(), reason: close_reason(&reason).into() };
            let close = self.ws.close(Some(frame));
            let _ = crate::rt::timeout(self.limits.close_timeout, close).await;
        }
        Flow::End
    }

    /// The earliest moment the session must act on its own.
    fn next_deadline(&self) -> Option<Instant> {
        if let Some(closing) = self.closing {
            return Some(closing);
        }
        let interval = self.limits.ping_interval?;
        Some(match self.awaiting_pong {
            Some(sent) => sent + self.limits.ping_timeout.unwrap_or(interval),
            None => self.last_ping + interval,
        })
    }

    async fn timer(&mut self) -> Flow {
        let now = Instant::now();
        if self.closing.is_some_and(|at| now >= at) {
            log::debug!(target: "squall::websocket", "{}: no Close in answer to ours; dropping", self.peer());
            return Flow::End;
        }
        let Some(interval) = self.limits.ping_interval else {
            return Flow::Continue;
        };
        if let Some(sent) = self.awaiting_pong {
            if now >= sent + self.limits.ping_timeout.unwrap_or(interval) {
                log::info!(target: "squall::websocket", "{}: no pong within the ping timeout; closing", self.peer());
                let frame = CloseFrame { code: CloseCode::GOING_AWAY.into(), reason: "ping timeout".into() };
                let _ = crate::rt::timeout(self.limits.close_timeout, self.ws.close(Some(frame))).await;
                return Flow::End;
            }
        } else if now >= self.last_ping + interval {
            self.last_ping = now;
            self.awaiting_pong = Some(now);
            return self.send(Frame::Ping(Default::default())).await;
        }
        Flow::Continue
    }

    fn peer(&self) -> String {
        self.socket.remote_addr().map_or_else(|| "-".to_owned(), |a| a.to_string())
    }
}

/// One timer, re-armed only when the session's next deadline moves, so
/// that a busy socket does not make a timer per message.
#[derive(Default)]
struct Alarm {
    at: Option<Instant>,
    sleep: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Alarm {
    fn set(&mut self, at: Option<Instant>) {
        if self.at != at {
            self.at = at;
            self.sleep = at.map(|at| {
                let sleep: Pin<Box<dyn Future<Output = ()> + Send>> =
                    Box::pin(crate::rt::sleep(at.saturating_duration_since(Instant::now())));
                sleep
            });
        }
    }

    async fn wait(&mut self) {
        match &mut self.sleep {
            Some(sleep) => {
                sleep.await;
                self.at = None;
                self.sleep = None;
            }
            None => pending().await,
        }
    }
}
