//! [`Body`]: one type for request and response bodies, streamed in chunks.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
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
    /// Part of a file: sent with `sendfile(2)` where the connection can,
    /// else read on blocking threads as a stream.
    File(FilePart),
}

/// Part of an open file, to send as a body.
pub(crate) struct FilePart {
    pub(crate) file: std::fs::File,
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// The server's shutdown state, as a body being written may ask about it.
pub(crate) trait ServerEnding: Send + Sync {
    /// Ready once the server has begun to wind down.
    fn poll_ending(&self, cx: &Context<'_>) -> Poll<()>;
}

thread_local! {
    /// The server state of the connection polling a response body on this thread.
    static POLLED_BY: std::cell::RefCell<Option<Arc<dyn ServerEnding>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `poll`, a connection's poll of its response body, so that an
/// endless body inside it — an event stream, under any layers — can ask
/// [`poll_server_ending`] whether the server is winding down.
pub(crate) fn polled_by<T>(server: &Arc<dyn ServerEnding>, poll: impl FnOnce() -> T) -> T {
    let outer = POLLED_BY.with(|current| current.replace(Some(server.clone())));
    let polled = poll();
    POLLED_BY.with(|current| current.replace(outer));
    polled
}

/// Ready once the server has begun to wind down, for a response body a
/// connection is polling (see [`polled_by`]); pending anywhere else (a body
/// read in memory, by a test).
pub(crate) fn poll_server_ending(cx: &Context<'_>) -> Poll<()> {
    POLLED_BY.with(|current| match &*current.borrow() {
        Some(server) => server.poll_ending(cx),
        None => Poll::Pending,
    })
}

/// How much of a file one blocking read takes, when it is read as a stream.
const FILE_CHUNK: u64 = 256 * 1024;

impl FilePart {
    /// The part read on blocking threads, a chunk at a time: for a
    /// connection that cannot `sendfile` (TLS) or a layer that changes the
    /// bytes (compression).
    fn into_stream(self) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        futures_lite::stream::unfold(Some(self), |part| async move {
            let FilePart { mut file, offset, len } = part?;
            if len == 0 {
                return None;
            }
            let want = len.min(FILE_CHUNK);
            let (file, read) = blocking::unblock(move || {
                let read = read_exact_at(&mut file, offset, want);
                (file, read)
            })
            .await;
            match read {
                Ok(chunk) => Some((Ok(chunk), Some(FilePart { file, offset: offset + want, len: len - want }))),
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

/// `count` bytes of `file` from `offset`; a file that ends sooner (it
/// shrank) is an error.
pub(crate) fn read_exact_at(file: &mut std::fs::File, offset: u64, count: u64) -> io::Result<Bytes> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(usize::try_from(count).unwrap_or(usize::MAX));
    file.take(count).read_to_end(&mut buf)?;
    if (buf.len() as u64) < count {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(buf.into())
}

/// A request body read from the connection that carried the request.
pub(crate) struct Incoming {
    link: ClientLink,
    /// The most [`Body::bytes`] collects in memory (the server's `max_buffer_size`).
    buffer_limit: u64,
    /// Bytes already read (by a check ahead of the handler), given first.
    read_ahead: Option<Bytes>,
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

    /// `len` bytes of `file` from `offset`.
    pub(crate) fn file_part(file: std::fs::File, offset: u64, len: u64) -> Self {
        Body { kind: BodyKind::File(FilePart { file, offset, len }) }
    }

    /// The file part this body is, taken (the body is left empty), for a
    /// connection that sends it with `sendfile(2)`.
    pub(crate) fn take_file_part(&mut self) -> Option<FilePart> {
        match std::mem::replace(&mut self.kind, BodyKind::Empty) {
            BodyKind::File(part) => Some(part),
            other => {
                self.kind = other;
                None
            }
        }
    }

    pub(crate) fn incoming(link: ClientLink, buffer_limit: u64) -> Self {
        Body { kind: BodyKind::Incoming(Incoming { link, buffer_limit, read_ahead: None }) }
    }

    /// Puts `read` — the first bytes, read from this body — back in front of
    /// the rest. A body from the connection stays one, with its limits.
    pub(crate) fn put_back(&mut self, read: Bytes) {
        if read.is_empty() {
            return;
        }
        match &mut self.kind {
            BodyKind::Incoming(i) if i.read_ahead.is_none() => i.read_ahead = Some(read),
            _ => {
                let rest = std::mem::take(self);
                *self = Body::from_stream(futures_lite::StreamExt::chain(futures_lite::stream::once(Ok(read)), rest));
            }
        }
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
            BodyKind::File(part) => Some(part.len),
            BodyKind::Stream(_) | BodyKind::Incoming(_) => None,
        }
    }

    /// The whole body when it is already buffered.
    pub(crate) fn as_full(&self) -> Option<&[u8]> {
        match &self.kind {
            BodyKind::Empty => Some(&[]),
            BodyKind::Full(b) => Some(b),
            BodyKind::Stream(_) | BodyKind::Incoming(_) | BodyKind::File(_) => None,
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
            BodyKind::Empty | BodyKind::Stream(_) | BodyKind::File(_) => u64::MAX,
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
                if let Some(read) = i.read_ahead.take() {
                    return Poll::Ready(Some(Ok(read)));
                }
                let mut source = crate::rt::lock(&i.link.source);
                source.poll_chunk(cx, i.link.seq)
            }
            BodyKind::File(_) => {
                let Some(part) = self.take_file_part() else { return Poll::Ready(None) };
                self.kind = BodyKind::Stream(Mutex::new(Box::pin(part.into_stream())));
                self.poll_next(cx)
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
            BodyKind::File(part) => write!(f, "Body::File({} bytes)", part.len),
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
