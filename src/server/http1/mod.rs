//! squall's HTTP/1.1 engine, private to the crate: [`decode`] (request heads),
//! [`body`] (request body framing), [`encode`] (response heads and framing),
//! `socket` (the byte stream, its read buffer, head reading), `request_body`
//! (the current request's body: framing, limits, `100 Continue`, failure),
//! `transport` (the two behind one lock, shared with the request's body), `write` (response
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
mod socket;
mod transport;
mod write;

pub(crate) use encode::civil_from_days;
