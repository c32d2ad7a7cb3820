//! squall's HTTP/1.1 engine, private to the crate: [`decode`] (request heads),
//! [`body`] (request body framing), [`encode`] (response heads and framing),
//! `transport` (the shared socket and read buffer), `request_body` (the
//! current request's body: framing, limits, `100 Continue`, failure), `write` (response
//! writing) and [`conn`] (the per-connection loop tying them to a handler).
//!
//! It knows nothing of routing: it hands a `Request` to a `Target` and writes
//! back the `Response`. It runs over any `AsyncRead + AsyncWrite`, so tests
//! drive it in memory.

pub(crate) mod body;
pub(crate) mod conn;
pub(crate) mod decode;
pub(crate) mod encode;
mod inflate;
mod request_body;
mod transport;
mod write;
