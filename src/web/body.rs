//! [`Body`]: one type for request and response bodies, streamed in chunks.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_lite::Stream;
use http::StatusCode;

use super::client::ClientLink;
use crate::error::HttpError;

/// A body: empty, a buffer, a stream of chunks, or a request body still
/// arriving on the connection.
///
/// Request bodies are streamed, not pre-buffered: read them chunk by chunk with
/// [`Body::chunk`] (or as a [`Stream`]), or whole with [`Body::bytes`].
///
/// # Examples
///
/// ```
/// use squall::Body;
///
/// # squall::block_on(async {
/// let body = Body::from("hello");
/// assert_eq!(body.size_hint(), Some(5));
/// assert_eq!(body.bytes().await.unwrap(), "hello");
///
/// let chunks = futures_lite::stream::iter(["a", "b"].map(|s| Ok(s.into())));
/// assert_eq!(Body::from_stream(chunks).bytes().await.unwrap(), "ab");
/// # });
/// ```
pub struct Body {
    kind: BodyKind,
}

enum BodyKind {
    Empty,
    Full(Bytes),
    /// Behind a mutex only so that a body (and the request holding it) is
    /// `Sync`: a handler's future may then borrow its request across an
    /// await. It is never locked: polling has `&mut` access.
    Stream(Mutex<Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>>),
    Incoming(Incoming),
}

/// A request body read from the connection that carried the request.
pub(crate) struct Incoming {
    link: ClientLink,
    /// The most [`Body::bytes`] collects in memory (the server's `max_buffer_size`).
    buffer_limit: u64,
}

impl Body {
    /// A body with no bytes.
    pub fn empty() -> Self {
        Body { kind: BodyKind::Empty }
    }

    /// A body produced chunk by chunk; each chunk is sent as soon as it is ready.
    pub fn from_stream<S>(stream: S) -> Self
    where
        S: Stream<Item = io::Result<Bytes>> + Send + 'static,
    {
        Body { kind: BodyKind::Stream(Mutex::new(Box::pin(stream))) }
    }

    pub(crate) fn incoming(link: ClientLink, buffer_limit: u64) -> Self {
        Body { kind: BodyKind::Incoming(Incoming { link, buffer_limit }) }
    }

    /// Sets the size limit of a request body not yet read; see
    /// [`Request::set_max_body_size`](crate::Request::set_max_body_size).
    pub(crate) fn set_limit(&mut self, limit: u64) {
        if let BodyKind::Incoming(i) = &self.kind {
            crate::rt::lock(&i.link.source).set_limit(i.link.seq, limit);
        }
    }

    /// The exact length when it is known without reading: empty and buffered bodies.
    pub fn size_hint(&self) -> Option<u64> {
        match &self.kind {
            BodyKind::Empty => Some(0),
            BodyKind::Full(b) => Some(b.len() as u64),
            BodyKind::Stream(_) | BodyKind::Incoming(_) => None,
        }
    }

    /// The whole body when it is already buffered.
    pub(crate) fn as_full(&self) -> Option<&[u8]> {
        match &self.kind {
            BodyKind::Empty => Some(&[]),
            BodyKind::Full(b) => Some(b),
            BodyKind::Stream(_) | BodyKind::Incoming(_) => None,
        }
    }

    /// The next chunk, or `None` at the end of the body.
    ///
    /// # Errors
    ///
    /// For a request body: the connection failed, or the body is malformed or
    /// too large. Converting the error into an [`HttpError`] with `?` gives
    /// the status the client should see (400, 413, ...).
    pub async fn chunk(&mut self) -> Option<io::Result<Bytes>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Reads the whole body into one buffer.
    ///
    /// # Errors
    ///
    /// As for [`Body::chunk`], already converted to an [`HttpError`].
    pub async fn bytes(mut self) -> Result<Bytes, HttpError> {
        let limit = match &self.kind {
            BodyKind::Full(b) => return Ok(b.clone()),
            BodyKind::Incoming(i) => i.buffer_limit,
            BodyKind::Empty | BodyKind::Stream(_) => u64::MAX,
        };
        let mut all = BytesMut::new();
        while let Some(chunk) = self.chunk().await {
            let chunk = chunk?;
            if (all.len() + chunk.len()) as u64 > limit {
                return Err(HttpError::new(StatusCode::PAYLOAD_TOO_LARGE)
                    .with_message("request body larger than the server buffers")
                    .with_log(format!("request body over max_buffer_size ({limit} bytes)")));
            }
            all.extend_from_slice(&chunk);
        }
        Ok(all.freeze())
    }
}

impl Stream for Body {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.kind {
            BodyKind::Empty => Poll::Ready(None),
            BodyKind::Full(_) => match std::mem::replace(&mut self.kind, BodyKind::Empty) {
                BodyKind::Full(b) if !b.is_empty() => Poll::Ready(Some(Ok(b))),
                _ => Poll::Ready(None),
            },
            BodyKind::Stream(s) => s.get_mut().unwrap_or_else(PoisonError::into_inner).as_mut().poll_next(cx),
            BodyKind::Incoming(i) => {
                let mut source = crate::rt::lock(&i.link.source);
                source.poll_chunk(cx, i.link.seq)
            }
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BodyKind::Empty => f.write_str("Body::Empty"),
            BodyKind::Full(b) => write!(f, "Body::Full({} bytes)", b.len()),
            BodyKind::Stream(_) => f.write_str("Body::Stream"),
            BodyKind::Incoming(_) => f.write_str("Body::Incoming"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body { kind: BodyKind::Full(b) }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Bytes::from(v).into()
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Bytes::from(s).into()
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Bytes::from_static(s.as_bytes()).into()
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Bytes::from_static(s).into()
    }
}
