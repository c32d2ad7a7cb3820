//! What handlers see and return: [`Request`], [`Response`], [`Body`],
//! [`Arguments`], [`IntoResponse`], the [`Target`] contract every route
//! target implements, Tornado-style [`RequestHandler`]s, and the access log.
//!
//! Nothing here knows about sockets or HTTP/1.1 framing; that is `server`.

pub(crate) mod app_context;
mod arguments;
pub(crate) mod body;
pub(crate) mod client;
mod cookies;
mod encoding;
mod event_stream;
mod handler;
pub(crate) mod multipart;
mod read;
mod request;
mod response;
pub(crate) mod signing;
mod target;
pub(crate) mod upgrade;
pub(crate) mod xsrf;

pub use arguments::{Arguments, PathArgs};
pub(crate) use arguments::{decode_path_arg, encode_path_arg, encode_path_bytes, percent_decode, percent_encode};
pub use body::Body;
pub use client::Disconnected;
pub(crate) use encoding::coding_accepted;
pub use event_stream::{Event, EventSender, EventStream, StreamClosed};
pub use handler::{HandlerFuture, RequestHandler, request_handler};
pub use multipart::{Multipart, MultipartForm, MultipartLimits, Part, UploadedFile};
#[cfg(all(unix, feature = "cgi"))]
pub(crate) use read::temp_file;
pub(crate) use read::{Spool, Spooled};
pub use request::Request;
pub(crate) use request::{AppState, Origin, split_host_port};
pub use response::{IntoResponse, Json, Response};
pub(crate) use response::{StatusLine, decimal, declared_length, reason_phrase, slash_redirect};
pub use signing::CookieSecret;
pub use target::{BoxFuture, Dispatch, Target};
pub use upgrade::{ShutdownBegun, Upgraded};
