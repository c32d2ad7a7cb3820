//! What handlers see and return: [`Request`], [`Response`], [`Body`],
//! [`Arguments`], [`IntoResponse`], the [`Target`] contract every route
//! target implements, Tornado-style [`RequestHandler`]s, and the access log.
//!
//! Nothing here knows about sockets or HTTP/1.1 framing; that is `server`.

mod arguments;
pub(crate) mod body;
mod handler;
pub(crate) mod log;
mod request;
mod response;
mod target;

pub use arguments::Arguments;
pub(crate) use arguments::encode_path_arg;
pub use body::Body;
pub use handler::{HandlerFuture, RequestHandler, request_handler};
pub(crate) use request::{Origin, decode_path_arg, split_host_port};
pub use request::{PathArgs, Request};
pub use response::{IntoResponse, Json, Response};
pub(crate) use response::{StatusLine, declared_length, reason_phrase};
pub use target::{BoxFuture, Dispatch, Target};
