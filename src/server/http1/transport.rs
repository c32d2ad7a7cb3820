//! The connection's byte stream and read buffer, shared by the request loop
//! and the request body.
//!
//! A [`Transport`] sits behind a mutex that is never held across an await:
//! the loop in `conn` reads heads and writes responses through it, and the
//! request's [`Body`](crate::Body) reads the body through it, so a handler
//! streams its body straight from the socket and `100 Continue` goes out
//! only when it starts reading.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::FutureExt;
use http::StatusCode;

use super::decode::{self, Reject, RequestFraming, RequestHead};
use super::request_body::{RequestBody, Settled};
use crate::rt::{self, Io};
use crate::server::watch::{Ending, Watch};
use crate::web::body::BodySource;

/// How long, and how much, a closing connection reads and discards so that the
/// client receives the final response instead of a reset.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

/// The read buffer's size to begin with; it grows for larger heads.
pub(super) const INITIAL_BUFFER: usize = 8 * 1024;

/// A connection idle this long gives its read buffer back.
const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// The per-connection limits the transport enforces itself.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) body_timeout: Option<Duration>,
    pub(super) write_timeout: Option<Duration>,
    pub(super) chunk_size: usize,
}

/// The connection: its socket and the current request's body.
pub(super) struct Transport<S> {
    socket: Socket<S>,
    body: RequestBody,
}

/// The byte stream, its read buffer and its deadlines.
pub(super) struct Socket<S> {
    io: S,
    watch: Arc<Watch>,
    write_timeout: Option<Duration>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Where the search for the end of a head resumes.
    scanned: usize,
    /// The last read returned less than it could: the socket is likely empty.
    drained: bool,
}

/// The transport as the connection loop and the request body share it.
pub(super) type SharedTransport<S> = Arc<Mutex<Transport<S>>>;

pub(super) fn lock<S>(shared: &SharedTransport<S>) -> MutexGuard<'_, Transport<S>> {
    rt::lock(shared)
}

impl<S: Io> Transport<S> {
    pub(super) fn new(io: S, watch: Arc<Watch>, limits: Limits) -> Self {
        let socket = Socket {
            io,
            watch,
            write_timeout: limits.write_timeout,
            buf: vec![0; INITIAL_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            scanned: 0,
            drained: false,
        };
        Transport { socket, body: RequestBody::new(limits.chunk_size, limits.body_timeout) }
    }

    /// Starts the body of request `seq`.
    pub(super) fn start_body(
        &mut self,
        seq: u64,
        framing: RequestFraming,
        expect_continue: bool,
        limit: u64,
        gzip: bool,
    ) {
        self.body.start(seq, framing, expect_continue, limit, gzip);
    }

    /// Whether the body of the current request has been read to its end.
    pub(super) fn body_done(&self) -> bool {
        self.body.is_done()
    }

    /// The handler has answered: what the request body leaves for the connection.
    pub(super) fn settle_body(&mut self) -> Settled {
        self.body.settle()
    }

    /// The server is winding down and the client has not already sent its
    /// next request: the response in hand is the connection's last.
    pub(super) fn is_last_request(&self) -> bool {
        self.socket.watch.ending() != Ending::No && !self.socket.has_head()
    }
}

impl<S: Io> BodySource for Transport<S> {
    fn set_limit(&mut self, seq: u64, limit: u64) {
        self.body.set_limit(seq, limit);
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>, seq: u64) -> Poll<Option<io::Result<Bytes>>> {
        self.body.poll_chunk(&mut self.socket, cx, seq)
    }
}

impl<S: Io> Socket<S> {
    pub(super) fn watch(&self) -> &Watch {
        &self.watch
    }

    /// The read buffer's current size.
    pub(super) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The bytes read and not yet consumed.
    pub(super) fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(super) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        self.scanned = self.start;
    }

    /// Reads more bytes into the buffer, growing it up to `max` when full.
    /// `Ok(0)` means end of stream, or a full buffer at `max`. A released
    /// buffer is allocated again only once the socket has bytes to give.
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<usize>> {
        loop {
            if self.drained {
                match self.io.poll_read_ready(cx) {
                    Poll::Ready(ready) => ready?,
                    Poll::Pending => return self.read_pending(cx),
                }
                self.drained = false;
            }
            if self.end == self.buf.len() && !self.make_room(max) {
                return Poll::Ready(Ok(0));
            }
            let end = self.end;
            let n = match self.io.try_read(cx, &mut self.buf[end..]) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.drained = true;
                    continue;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return self.read_pending(cx),
            };
            self.end += n;
            self.drained = n > 0 && self.end < self.buf.len();
            return Poll::Ready(Ok(n));
        }
    }

    /// Makes room at the end of a full buffer: moves the unread bytes to the
    /// front, or grows it (up to `max`). `false` when it is full at `max`.
    fn make_room(&mut self, max: usize) -> bool {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.scanned -= self.start;
            self.end -= self.start;
            self.start = 0;
            true
        } else if self.buf.len() < max {
            let mut bigger = vec![0; (self.buf.len() * 2).clamp(INITIAL_BUFFER, max.max(INITIAL_BUFFER))];
            bigger[..self.end].copy_from_slice(&self.buf[..self.end]);
            self.buf = bigger.into_boxed_slice();
            true
        } else {
            false
        }
    }

    /// Frees the read buffer of a connection that has gone quiet, when it
    /// holds nothing: idle keep-alive connections then cost a few hundred bytes.
    fn release_buffer(&mut self) {
        if self.start == self.end {
            self.buf = Box::default();
            (self.start, self.end, self.scanned) = (0, 0, 0);
        }
    }

    /// A read must wait: fails it when its deadline has passed.
    fn read_pending<T>(&self, cx: &Context<'_>) -> Poll<io::Result<T>> {
        if self.watch.read_expired(cx) {
            return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
        }
        Poll::Pending
    }

    /// Writes all of `data`. A client that takes no byte for the write timeout fails it.
    pub(super) fn poll_write_all(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
        written: &mut usize,
    ) -> Poll<io::Result<()>> {
        while *written < data.len() {
            match Pin::new(&mut self.io).poll_write(cx, &data[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    *written += n;
                    if self.watch.write_deadline_set() {
                        self.watch.write_within(None);
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    if !self.watch.write_deadline_set() {
                        self.watch.write_within(self.write_timeout);
                    }
                    if self.watch.write_expired(cx) {
                        return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                    }
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Whether a complete request head is already buffered.
    fn has_head(&self) -> bool {
        find_head_end(self.buffered(), 0).is_some()
    }
}

/// Why no request head could be read.
pub(super) enum HeadError {
    /// The head is invalid: answer with this status and close.
    Reject(Reject),
    /// No request began: the connection stayed idle past its timeout, or the
    /// server is draining. Close quietly.
    Idle,
    /// The connection failed or the peer left mid-head: nothing to answer.
    Gone,
}

/// Reads and parses the next request head; `Ok(None)` on a clean close
/// between requests. The whole head must arrive within `timeout` from now,
/// however it trickles in.
pub(super) async fn read_head<S: Io>(
    shared: &SharedTransport<S>,
    max: usize,
    timeout: Option<Duration>,
) -> Result<Option<RequestHead>, HeadError> {
    // The first deadline only marks the connection as quiet, to free its buffer.
    let mut release = timeout.is_none_or(|t| t > RELEASE_AFTER);
    lock(shared).socket.watch.read_within(if release { Some(RELEASE_AFTER) } else { timeout });
    poll_fn(|cx| {
        let mut guard = lock(shared);
        let t = &mut guard.socket;
        loop {
            if let Some(end) = find_head_end(&t.buf[..t.end], t.scanned.max(t.start)) {
                if end - t.start > max {
                    return Poll::Ready(Err(HeadError::Reject(too_large(&t.buf[t.start..end], max))));
                }
                match decode::parse(&t.buf[t.start..end]) {
                    Ok(Some((head, n))) => {
                        let start = t.start;
                        t.consume(n);
                        debug_assert_eq!(start + n, end);
                        return Poll::Ready(Ok(Some(head)));
                    }
                    // Blank lines before the request: keep looking after them.
                    Ok(None) => t.scanned = end,
                    Err(reject) => return Poll::Ready(Err(HeadError::Reject(reject))),
                }
                continue;
            }
            t.scanned = t.end.saturating_sub(3).max(t.start);
            if t.end - t.start >= max {
                return Poll::Ready(Err(HeadError::Reject(too_large(t.buffered(), max))));
            }
            let polled = t.poll_fill(cx, max);
            if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
                continue;
            }
            // Nothing new: whether a request has begun decides what to do.
            let started = !t.buffered().iter().all(|b| b.is_ascii_whitespace());
            match polled {
                Poll::Pending if !started && t.watch.ending() != Ending::No => {
                    return Poll::Ready(Err(HeadError::Idle));
                }
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) if !started => return Poll::Ready(Ok(None)),
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(HeadError::Reject(Reject {
                        status: StatusCode::BAD_REQUEST,
                        reason: "request head cut short",
                    })));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::TimedOut && release => {
                    release = false;
                    t.release_buffer();
                    t.watch.read_within(timeout.map(|d| d - RELEASE_AFTER));
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::TimedOut && !started => {
                    return Poll::Ready(Err(HeadError::Idle));
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::TimedOut => {
                    return Poll::Ready(Err(HeadError::Reject(Reject {
                        status: StatusCode::REQUEST_TIMEOUT,
                        reason: "request head not received in time",
                    })));
                }
                Poll::Ready(Err(_)) => return Poll::Ready(Err(HeadError::Gone)),
            }
        }
    })
    .await
}

/// The answer to a head over the size limit: `414` when the request line
/// alone reaches the limit, `431` otherwise.
fn too_large(head: &[u8], max: usize) -> Reject {
    let blank = head.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let request_line = head[blank..].iter().position(|&b| b == b'\n').unwrap_or(head.len() - blank);
    if request_line < max {
        Reject { status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, reason: "request head larger than the limit" }
    } else {
        Reject { status: StatusCode::URI_TOO_LONG, reason: "request line longer than the head limit" }
    }
}

/// The index just past the blank line ending a head in `buf`, searching from `from`.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let lf = i + off;
        match buf.get(lf + 1) {
            Some(b'\n') => return Some(lf + 2),
            Some(b'\r') if buf.get(lf + 2) == Some(&b'\n') => return Some(lf + 3),
            _ => i = lf + 1,
        }
    }
    None
}

pub(super) async fn write_all<S: Io>(shared: &SharedTransport<S>, data: &[u8]) -> io::Result<()> {
    let mut written = 0;
    poll_fn(|cx| lock(shared).socket.poll_write_all(cx, data, &mut written)).await
}

pub(super) async fn flush<S: Io>(shared: &SharedTransport<S>) -> io::Result<()> {
    poll_fn(|cx| Pin::new(&mut lock(shared).socket.io).poll_flush(cx)).await
}

/// Closes the connection gracefully: shuts down writing, then reads and
/// discards what the client still sends (bounded in bytes and time), so the
/// kernel does not answer unread input with a reset that destroys the response.
pub(super) async fn linger_close<S: Io>(shared: &SharedTransport<S>) {
    // `poll_close` ends a TLS session properly (close_notify); it can stall
    // on a client that reads nothing, hence the bound.
    let close = poll_fn(|cx| Pin::new(&mut lock(shared).socket.io).poll_close(cx));
    let _ = rt::timeout(LINGER, close).await;
    let _ = lock(shared).socket.io.shutdown_write();
    let discard = async {
        let mut left = LINGER_BYTES;
        let mut sink = vec![0u8; 4096]; // on the heap: it would make every connection task larger
        while left > 0 {
            match poll_fn(|cx| Pin::new(&mut lock(shared).socket.io).poll_read(cx, &mut sink)).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    discard.or(rt::sleep(LINGER)).await;
}

#[cfg(test)]
mod tests {
    use super::{find_head_end, too_large};

    #[test]
    fn oversized_heads_are_414_when_the_request_line_is_to_blame() {
        assert_eq!(too_large(b"GET /aaaaaaaaaa", 10).status, 414);
        assert_eq!(too_large(b"\r\nGET /aaaaaaaaaa HTTP/1.1\r\n\r\n", 10).status, 414);
        assert_eq!(too_large(b"GET / HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaa", 20).status, 431);
    }

    #[test]
    fn head_end_with_crlf_and_bare_lf() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nX", 0), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nX", 0), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
        assert_eq!(find_head_end(b"\r\n\r\nGET", 0), Some(4));
    }
}
