//! A chat room on all three real-time transports at once:
//! `cargo run --example chat --features websocket -- [ADDR] [--max-message BYTES] [--redis URL]`
//! (ADDR defaults to `127.0.0.1:8888`).
//!
//! - `/` — a page with a chat client over WebSocket
//! - `/chatsocket` — WebSocket: each text message goes to everyone in the
//!   room (the sender too), and to the long-pollers and event streams
//! - `/echo` — WebSocket: each message comes back as it was sent
//! - `POST /message` (form field `body`) — posts a message to everyone;
//!   `503` with `Retry-After` while the room's backend is unreachable
//! - `GET /poll?cursor=N` — long poll: the messages numbered above N as
//!   JSON, at once if there are any, else when the next arrives, or `[]`
//!   after 30 s; `{"id": N, "reload": true}` first when messages after N
//!   are no longer kept
//! - `GET /events` — the messages as server-sent events, numbered by their
//!   id; a reconnecting browser's `Last-Event-ID` replays what it missed,
//!   or sends a `reload` event when that is no longer kept
//!
//! The room is a topic of a [`Broadcast`]: in this process, or — with
//! `--redis URL` (feature `redis`) — shared through Redis by every chat
//! process and `--workers` process using it, with the same message ids
//! everywhere. `SIGTERM` or `SIGINT` drains: sockets get Close 1001,
//! streams end.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::FutureExt;
use serde::Serialize;
use squall::broadcast::{Broadcast, Delivery, Subscription, Unavailable};
use squall::web::{Event, EventStream};
use squall::websocket::{Message, WebSocket, WebSocketHandler, websocket, websocket_fn};
use squall::{HttpError, IntoResponse, Request, Response, Router, get, post};

#[path = "support/cli.rs"]
mod cli;
use cli::Cli;

/// How long a long poll waits before answering with nothing.
const POLL_WAIT: Duration = Duration::from_secs(30);

// ANCHOR: room
/// The room's topic in the broadcast.
const TOPIC: &str = "chat";

/// Everyone listening, on whichever transport, in whichever process: the
/// broadcast numbers each message and hands it to every subscriber.
struct Room {
    broadcast: Broadcast,
    /// The largest message, in bytes (`--max-message`), on every transport.
    max_message: usize,
}

/// One message as the long poll answers it.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum Entry {
    Message {
        id: u64,
        body: String,
    },
    /// Messages after `id` are no longer kept: reload.
    Reload {
        id: u64,
        reload: bool,
    },
}

/// `503` with `Retry-After`: the broadcast backend (Redis) is unreachable.
fn unavailable(why: Unavailable) -> HttpError {
    HttpError::new(http::StatusCode::SERVICE_UNAVAILABLE)
        .with_message("the chat cannot take messages right now; try again in a moment")
        .with_log(why.to_string())
}
// ANCHOR_END: room

// ANCHOR: socket
/// A member of the room on a WebSocket: subscribed while the socket is open.
struct Member {
    room: Arc<Room>,
    subscription: Option<Subscription>,
}

impl WebSocketHandler for Member {
    async fn open(&mut self, socket: &WebSocket) {
        let to = socket.clone();
        // Never waits: a full queue drops the message for this socket alone.
        let sink = move |delivery: Delivery<'_>| {
            let text = match delivery {
                Delivery::Message(message) => message.body.to_string(),
                Delivery::Gap { .. } => "(some messages were missed: reload)".to_owned(),
            };
            to.try_send(Message::text(text)).is_ok() || !to.is_closed()
        };
        match self.room.broadcast.subscribe_after(TOPIC, u64::MAX, sink).await {
            Ok(subscription) => self.subscription = Some(subscription),
            Err(why) => {
                let _ = socket.try_send(Message::text(format!("(not connected to the room: {why})")));
            }
        }
    }

    async fn on_message(&mut self, socket: &WebSocket, message: Message) {
        if let Some(text) = message.as_text()
            && let Err(why) = self.room.broadcast.publish(TOPIC, text).await
        {
            let _ = socket.try_send(Message::text(format!("(not sent: {why})")));
        }
    }

    fn on_close(&mut self, _code: Option<u16>, _reason: &str) {
        self.subscription = None;
    }
}
// ANCHOR_END: socket

// ANCHOR: poll
/// `GET /poll?cursor=N`: what is new, now or as soon as there is something.
async fn poll(req: Request) -> Result<Response, HttpError> {
    let room = req.state::<Arc<Room>>()?.clone();
    let cursor: u64 = req.query_arguments().require_as("cursor").unwrap_or(0);
    let found: Arc<Mutex<Vec<Entry>>> = Arc::default();
    let (wake, woken) = async_channel::bounded(1);
    let into = found.clone();
    // What is above the cursor now comes at once; the next message wakes us.
    let subscription = room
        .broadcast
        .subscribe_after(TOPIC, cursor, move |delivery| {
            let entry = match delivery {
                Delivery::Message(message) => Entry::Message { id: message.id, body: message.body.to_string() },
                Delivery::Gap { after } => Entry::Reload { id: after, reload: true },
            };
            into.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
            let _ = wake.try_send(());
            true
        })
        .await
        .map_err(unavailable)?;
    if found.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
        let disconnected = req.disconnected();
        let shutdown = req.shutdown_begun();
        async {
            let _ = woken.recv().await;
        }
        .or(squall::sleep(POLL_WAIT))
        .or(disconnected)
        // The server is going down: answer now, the client polls again elsewhere.
        .or(shutdown)
        .await;
    }
    drop(subscription);
    let answer = std::mem::take(&mut *found.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(Response::json(&answer))
}
// ANCHOR_END: poll

// ANCHOR: events
/// `GET /events`: every message from now on, and those after `Last-Event-ID`
/// for a browser that reconnects — to this process or another.
async fn events(req: Request) -> Result<EventStream, HttpError> {
    let room = req.state::<Arc<Room>>()?.clone();
    let (sender, stream) = EventStream::channel();
    let after = req.last_event_id().and_then(|id| id.parse::<u64>().ok()).unwrap_or(u64::MAX);
    let sink = move |delivery: Delivery<'_>| {
        let event = match delivery {
            Delivery::Message(message) => Event::data(message.body.to_string()).id(message.id.to_string()),
            Delivery::Gap { .. } => Event::data("some messages were missed").event("reload"),
        };
        sender.try_send(event).is_ok() || !sender.is_closed()
    };
    // Subscribed until the stream's client leaves (its sink then says stop).
    room.broadcast.subscribe_after(TOPIC, after, sink).await.map_err(unavailable)?.keep();
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
    match room.broadcast.publish(TOPIC, body).await {
        Ok(_) => Ok(Response::new(http::StatusCode::NO_CONTENT)),
        Err(why) => {
            let mut refused = unavailable(why).into_response();
            refused.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            Ok(refused)
        }
    }
}

fn app(broadcast: Broadcast, max_message: usize) -> Router {
    let room = Arc::new(Room { broadcast, max_message });
    let members = room.clone();
    Router::with_state(room)
        .route("/", get(|_req| async { Response::html(PAGE) }))
        .route(
            "/chatsocket",
            websocket(move |_req| Member { room: members.clone(), subscription: None }).max_message_size(max_message),
        )
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

/// The room's broadcast: through Redis at `url`, or in this process.
fn broadcast(redis: Option<&str>) -> squall::Result<Broadcast> {
    match redis {
        #[cfg(feature = "redis")]
        Some(url) => squall::block_on(Broadcast::redis(url)),
        #[cfg(not(feature = "redis"))]
        Some(_) => unreachable!("main refuses --redis without the feature"),
        None => Ok(Broadcast::in_process()),
    }
}

const USAGE: &str = "\
usage: chat [ADDR] [--max-message BYTES] [--redis URL] [server options]
(ADDR defaults to 127.0.0.1:8888; BYTES, the largest WebSocket message, to 10 MiB;
--redis shares the room with every chat using that Redis, with the feature redis)
";

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let mut cli = Cli::new("chat", USAGE);
    let mut max_message = 10 * 1024 * 1024;
    let mut redis = None;
    while let Some(flag) = cli.next() {
        match flag.as_str() {
            "--max-message" => max_message = cli.parse(&flag),
            "--redis" => redis = Some(cli.value(&flag)),
            _ => cli.unknown(&flag),
        }
    }
    if redis.is_some() && !cfg!(feature = "redis") {
        cli.fail("--redis needs the example built with --features websocket,redis");
    }
    // Each worker process connects on its own: Redis down stops start-up.
    cli.serve(
        |_worker| Ok(app(broadcast(redis.as_deref())?, max_message)),
        |scheme, addr| format!("chat on {scheme}://{addr}/"),
    )
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
