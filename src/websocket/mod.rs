//! WebSocket (RFC 6455) handlers, Tornado's `WebSocketHandler` in Rust
//! (cargo feature `websocket`).
//!
//! A route to [`websocket`] takes a factory that makes one
//! [`WebSocketHandler`] per connection; [`websocket_fn`] takes just a
//! closure for each message. The handshake is checked here (method,
//! `Upgrade`, `Sec-WebSocket-Key` and `-Version`, `Origin`, subprotocols),
//! the connection is taken over through squall's own HTTP/1.1 upgrade
//! ([`Response::upgrade`](crate::Response::upgrade)), and frames are read and
//! written by tungstenite's protocol core, which speaks `futures-io`.
//!
//! Every protocol violation is answered with a Close frame carrying the
//! right code before the TCP connection closes: `1002` for a broken frame,
//! `1007` for text that is not UTF-8, `1009` for a message over
//! [`max_message_size`](WebSocketRoute::max_message_size). A graceful
//! server shutdown closes every socket with `1001` (going away) and waits
//! for the client's answer until its deadline.
//!
//! The [`WebSocket`] each handler method is given is a handle: clone it
//! into other tasks or a broadcast list, and send to the client from
//! anywhere. Messages sent through it queue (up to
//! [`queue`](WebSocketRoute::queue) of them) and go out in order.
//!
//! # Examples
//!
//! An echo endpoint, and a chat room that sends each message to everyone:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use squall::websocket::{Message, WebSocket, WebSocketHandler, websocket, websocket_fn};
//! use squall::Router;
//!
//! #[derive(Default)]
//! struct Room {
//!     members: Mutex<Vec<WebSocket>>,
//! }
//!
//! struct Member {
//!     room: Arc<Room>,
//! }
//!
//! impl WebSocketHandler for Member {
//!     async fn open(&mut self, socket: &WebSocket) {
//!         self.room.members.lock().unwrap().push(socket.clone());
//!     }
//!
//!     async fn on_message(&mut self, _socket: &WebSocket, message: Message) {
//!         let members = self.room.members.lock().unwrap().clone();
//!         for member in members {
//!             let _ = member.send(message.clone()).await; // a member that left is skipped
//!         }
//!     }
//!
//!     fn on_close(&mut self, _code: Option<u16>, _reason: &str) {
//!         self.room.members.lock().unwrap().retain(|m| !m.is_closed());
//!     }
//! }
//!
//! let room = Arc::new(Room::default());
//! let app = Router::new()
//!     .route("/echo", websocket_fn(|socket: WebSocket, message: Message| async move {
//!         let _ = socket.send(message).await;
//!     }))
//!     .route("/room", websocket(move |_req| Member { room: room.clone() }));
//! # let _ = app;
//! ```

mod handler;
mod handshake;
mod route;
mod session;
mod socket;

pub use handler::{FnHandler, WebSocketHandler};
pub use route::{WebSocketRoute, websocket, websocket_fn};
pub use socket::{CloseCode, Message, SendError, WebSocket};
/// Text payloads: UTF-8 bytes, cheap to clone (a broadcast shares one buffer).
pub use tungstenite::Utf8Bytes;
