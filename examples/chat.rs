//! A chat room on all three real-time transports at once:
//! `cargo run --example chat --features websocket -- [ADDR] [--max-message BYTES]`
//! (ADDR defaults to `127.0.0.1:8888`).
//!
//! - `/` — a page with a chat client over WebSocket
//! - `/chatsocket` — WebSocket: each text message goes to everyone in the
//!   room (the sender too), and to the long-pollers and event streams
//! - `/echo` — WebSocket: each message comes back as it was sent
//! - `POST /message` (form field `body`) — posts a message to everyone
//! - `GET /poll?cursor=N` — long poll: the messages numbered above N as
//!   JSON, at once if there are any, else when the next arrives, or `[]`
//!   after 30 s
//! - `GET /events` — the messages as server-sent events, numbered by their id
//!
//! `SIGTERM` or `SIGINT` drains: sockets get Close 1001, streams end.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::FutureExt;
use serde::Serialize;
use squall::web::{Event, EventSender, EventStream};
use squall::websocket::{Message, WebSocket, WebSocketHandler, websocket, websocket_fn};
use squall::{HttpError, Request, Response, Router, get, post};

#[path = "support/cli.rs"]
mod cli;
use cli::Cli;

/// How many messages the room remembers for pollers and reconnecting
/// streams, and how many bytes of them at most.
const HISTORY: usize = 1000;
const HISTORY_BYTES: usize = 16 << 20;

/// How long a long poll waits before answering with nothing.
const POLL_WAIT: Duration = Duration::from_secs(30);

// ANCHOR: room
/// One message, numbered from 1 in the order the room received it.
#[derive(Debug, Clone, Serialize)]
struct Posted {
    id: u64,
    body: String,
}

/// Everyone listening, on whichever transport.
struct Room {
    state: Mutex<RoomState>,
    /// The largest message, in bytes (`--max-message`), on every transport.
    max_message: usize,
}

#[derive(Default)]
struct RoomState {
    history: VecDeque<Posted>,
    /// The bytes of the messages in `history`.
    history_bytes: usize,
    next_id: u64,
    sockets: Vec<WebSocket>,
    streams: Vec<EventSender>,
    /// Long polls waiting for the next message: one wake-up each.
    pollers: Vec<async_channel::Sender<()>>,
}

impl Room {
    /// Numbers `body` and hands it to every listener. Nobody waits here for
    /// a slow client: a full queue drops the message for that client alone.
    fn post(&self, body: String) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.next_id += 1;
        let posted = Posted { id: state.next_id, body };
        let text = Message::text(posted.body.clone());
        state.sockets.retain(|socket| socket.try_send(text.clone()).is_ok() || !socket.is_closed());
        let event = Event::data(posted.body.clone()).id(posted.id.to_string());
        state.streams.retain(|stream| stream.try_send(event.clone()).is_ok() || !stream.is_closed());
        for poller in state.pollers.drain(..) {
            let _ = poller.try_send(());
        }
        state.history_bytes += posted.body.len();
        state.history.push_back(posted);
        while state.history.len() > HISTORY || state.history_bytes > HISTORY_BYTES {
            let Some(oldest) = state.history.pop_front() else { break };
            state.history_bytes -= oldest.body.len();
        }
    }

    /// The messages numbered above `cursor`.
    fn since(&self, cursor: u64) -> Vec<Posted> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.history.iter().filter(|p| p.id > cursor).cloned().collect()
    }
}
// ANCHOR_END: room

// ANCHOR: socket
/// A member of the room on a WebSocket.
struct Member {
    room: Arc<Room>,
}

impl WebSocketHandler for Member {
    async fn open(&mut self, socket: &WebSocket) {
        self.room.state.lock().unwrap_or_else(|e| e.into_inner()).sockets.push(socket.clone());
    }

    async fn on_message(&mut self, _socket: &WebSocket, message: Message) {
        if let Some(text) = message.as_text() {
            self.room.post(text.to_owned());
        }
    }

    fn on_close(&mut self, _code: Option<u16>, _reason: &str) {
        self.room.state.lock().unwrap_or_else(|e| e.into_inner()).sockets.retain(|s| !s.is_closed());
    }
}
// ANCHOR_END: socket

// ANCHOR: poll
/// `GET /poll?cursor=N`: what is new, now or as soon as there is something.
async fn poll(req: Request) -> Result<Response, HttpError> {
    let room = req.state::<Arc<Room>>()?.clone();
    let cursor: u64 = req.query_arguments().require_as("cursor").unwrap_or(0);
    let (wake, woken) = async_channel::bounded(1);
    // Registered before looking, so a message posted in between still wakes us.
    {
        let mut state = room.state.lock().unwrap_or_else(|e| e.into_inner());
        state.pollers.retain(|p| p.receiver_count() > 0); // polls that ended without news
        state.pollers.push(wake);
    }
    let mut news = room.since(cursor);
    if news.is_empty() {
        let disconnected = req.disconnected();
        let shutdown = req.shutdown_begun();
        let waited = async { woken.recv().await.is_ok() }
            .or(async {
                squall::sleep(POLL_WAIT).await;
                false
            })
            .or(async {
                disconnected.await;
                false
            })
            .or(async {
                // The server is going down: answer now, the client polls again elsewhere.
                shutdown.await;
                false
            })
            .await;
        if waited {
            news = room.since(cursor);
        }
    }
    Ok(Response::json(&news))
}
// ANCHOR_END: poll

// ANCHOR: events
/// `GET /events`: every message from now on, and those after `Last-Event-ID`
/// for a browser that reconnects.
async fn events(req: Request) -> Result<EventStream, HttpError> {
    let room = req.state::<Arc<Room>>()?.clone();
    let (sender, stream) = EventStream::channel();
    let mut state = room.state.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(last) = req.last_event_id().and_then(|id| id.parse::<u64>().ok()) {
        for missed in state.history.iter().filter(|p| p.id > last) {
            let _ = sender.try_send(Event::data(missed.body.clone()).id(missed.id.to_string()));
        }
    }
    // Streams whose clients left hold no queue, only a few bytes: pruned here.
    state.streams.retain(|stream| !stream.is_closed());
    state.streams.push(sender);
    Ok(stream)
}
// ANCHOR_END: events

/// `POST /message`: the form field `body`, to everyone; no larger than a
/// WebSocket message may be (`413`).
async fn message(mut req: Request) -> Result<Response, HttpError> {
    let room = req.state::<Arc<Room>>()?.clone();
    let max = room.max_message;
    // Percent-encoding makes a byte at most three: refuse a larger body
    // before reading it, then the decoded message itself.
    req.set_max_body_size(u64::try_from(max).unwrap_or(u64::MAX).saturating_mul(3).saturating_add(1024));
    let form = req.form().await?;
    let body = form.require("body")?;
    if body.len() > max {
        return Err(HttpError::new(http::StatusCode::PAYLOAD_TOO_LARGE)
            .with_message(format!("a message is at most {max} bytes")));
    }
    room.post(body.to_owned());
    Ok(Response::new(http::StatusCode::NO_CONTENT))
}

fn app(max_message: usize) -> Router {
    let room = Arc::new(Room { state: Mutex::default(), max_message });
    let members = room.clone();
    Router::with_state(room)
        .route("/", get(|_req| async { Response::html(PAGE) }))
        .route("/chatsocket", websocket(move |_req| Member { room: members.clone() }).max_message_size(max_message))
        .route(
            "/echo",
            websocket_fn(|socket: WebSocket, message: Message| async move {
                let _ = socket.send(message).await;
            })
            .max_message_size(max_message),
        )
        .route("/message", post(message))
        .route("/poll", get(poll))
        .route("/events", get(events))
}

const USAGE: &str = "\
usage: chat [ADDR] [--max-message BYTES] [server options]
(ADDR defaults to 127.0.0.1:8888; BYTES, the largest WebSocket message, to 10 MiB)
";

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let mut cli = Cli::new("chat", USAGE);
    let mut max_message = 10 * 1024 * 1024;
    while let Some(flag) = cli.next() {
        match flag.as_str() {
            "--max-message" => max_message = cli.parse(&flag),
            _ => cli.unknown(&flag),
        }
    }
    cli.serve(|_worker| Ok(app(max_message)), |scheme, addr| format!("chat on {scheme}://{addr}/"))
}

/// The chat page: a WebSocket client in a few lines of JavaScript.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>squall chat</title>
<style>
  body { font-family: sans-serif; max-width: 40em; margin: 2em auto; }
  #messages { list-style: none; padding: 0; min-height: 10em; border: 1px solid #ccc; }
  #messages li { padding: .2em .5em; }
</style>
</head>
<body>
<h1>squall chat</h1>
<p id="status">connecting…</p>
<ul id="messages"></ul>
<form id="form">
  <input id="body" autocomplete="off" placeholder="say something" autofocus>
  <button>Send</button>
</form>
<script>
  const messages = document.getElementById("messages");
  const status = document.getElementById("status");
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + location.host + "/chatsocket");
  socket.onopen = () => { status.textContent = "connected"; };
  socket.onclose = () => { status.textContent = "disconnected"; };
  socket.onmessage = (event) => {
    const item = document.createElement("li");
    item.textContent = event.data;
    messages.appendChild(item);
  };
  document.getElementById("form").onsubmit = (event) => {
    event.preventDefault();
    const input = document.getElementById("body");
    if (input.value && socket.readyState === WebSocket.OPEN) {
      socket.send(input.value);
      input.value = "";
    }
  };
</script>
</body>
</html>
"#;
