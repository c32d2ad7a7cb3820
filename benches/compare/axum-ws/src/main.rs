//! axum's WebSocket (tokio-tungstenite) serving what the chat example serves
//! to the WebSocket bench: `/echo` sends each message back, `/chatsocket`
//! sends each text message to every open socket. Each socket has a writer
//! task fed by an unbounded channel, the usual shape of an axum broadcast.
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

type Room = Arc<Mutex<Vec<UnboundedSender<Message>>>>;

async fn echo(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Text(_) | Message::Binary(_)) && socket.send(message).await.is_err() {
                break;
            }
        }
    })
}

async fn chat(upgrade: WebSocketUpgrade, State(room): State<Room>) -> Response {
    upgrade.on_upgrade(move |socket: WebSocket| async move {
        use futures_util::{SinkExt, StreamExt};
        let (mut sink, mut stream) = socket.split();
        let (tx, mut rx) = unbounded_channel();
        room.lock().unwrap().push(tx);
        let writer = tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                if sink.send(message).await.is_err() {
                    break;
                }
            }
        });
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Text(_) = message {
                room.lock().unwrap().retain(|member| member.send(message.clone()).is_ok());
            }
        }
        writer.abort();
    })
}

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    let room = Room::default();
    let app = Router::new()
        .route("/", get(|| async { "Hello, world!" }))
        .route("/echo", get(echo))
        .route("/chatsocket", get(chat))
        .with_state(room);
    axum::serve(listener, app).await.expect("serve");
}
