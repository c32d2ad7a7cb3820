//! The connection's byte stream and read buffer: reading into the buffer
//! (growing it for large heads, giving it back when the connection is
//! quiet), writing under the write deadline, and finding and parsing the
//! next request head.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::StatusCode;

use super::decode::{self, Reject, RequestHead};
use crate::rt::Io;
use crate::server::watch::{Ending, Watch};

/// The read buffer's size to begin with; it grows for larger heads.
pub(super) const INITIAL_BUFFER: usize = 8 * 1024;

/// A connection idle this long gives its read buffer back.
pub(super) const RELEASE_AFTER: Duration = Duration::from_secs(1);

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
    /// A request head has been read: the connection is no longer fresh.
    served: bool,
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

impl<S: Io> Socket<S> {
    pub(super) fn new(io: S, watch: Arc<Watch>, write_timeout: Option<Duration>) -> Self {
        Socket {
            io,
            watch,
            write_timeout,
            buf: vec![0; INITIAL_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            scanned: 0,
            drained: false,
            served: false,
        }
    }

    /// Reads what is buffered past the last request head, then from the
    /// stream itself: an upgraded connection's reads.
    pub(super) fn poll_read_through(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let buffered = self.buffered();
        if !buffered.is_empty() {
            let n = buffered.len().min(buf.len());
            buf[..n].copy_from_slice(&buffered[..n]);
            self.consume(n);
            return Poll::Ready(Ok(n));
        }
        if !self.buf.is_empty() {
            // Everything buffered has been handed over: the protocol reads
            // into its own buffers from here on.
            self.release_buffer();
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }

    /// Writes some of `buf` under the write deadline: an upgraded
    /// connection's writes, held to the same timeout as responses.
    pub(super) fn poll_write_some(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        self.within_write_timeout(cx, written)
    }

    /// Sends part of `file` with `sendfile(2)`, under the same write
    /// deadline as [`poll_write_some`](Self::poll_write_some).
    #[cfg(target_os = "linux")]
    pub(super) fn poll_sendfile_some(
        &mut self,
        cx: &mut Context<'_>,
        file: &std::fs::File,
        offset: &mut u64,
        count: usize,
    ) -> Poll<io::Result<usize>> {
        let sent = self.io.poll_sendfile(cx, file, offset, count);
        self.within_write_timeout(cx, sent)
    }

    /// A write that could not go on starts the write deadline; one that
    /// went through clears it.
    fn within_write_timeout(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match result {
            Poll::Ready(result) => {
                if self.watch.write_deadline_set() {
                    self.watch.write_within(None);
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                if !self.watch.write_deadline_set() {
                    self.watch.write_within(self.write_timeout);
                }
                if self.watch.write_expired(cx) {
                    return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                }
                Poll::Pending
            }
        }
    }

    /// Ready once the peer has closed the connection (or it failed), found
    /// by reading ahead into the buffer while a handler works: whatever
    /// arrives meanwhile (the rest of a body, a pipelined request) stays
    /// buffered for the reads that want it. Pending without a waker when the
    /// buffer is full: a client that sent that much is still there.
    pub(super) fn poll_gone(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.io.ends_when_peer_leaves() {
            return Poll::Pending;
        }
        let mut woke = false;
        loop {
            if self.end == self.buf.len() && !self.make_room(self.buf.len().max(INITIAL_BUFFER)) {
                return Poll::Pending;
            }
            let end = self.end;
            match Pin::new(&mut self.io).poll_read(cx, &mut self.buf[end..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(()),
                Poll::Ready(Ok(n)) => {
                    self.end += n;
                    self.drained = false;
                    if !woke {
                        // Another future of this task may be waiting for
                        // these bytes (a body read): let it look again.
                        cx.waker().wake_by_ref();
                        woke = true;
                    }
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The stream itself, for flushing, closing and lingering.
    pub(super) fn io(&mut self) -> &mut S {
        &mut self.io
    }

    pub(super) fn watch(&self) -> &Arc<Watch> {
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
            match self.poll_write_some(cx, &data[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Whether a complete request head is already buffered.
    pub(super) fn has_head(&self) -> bool {
        find_head_end(self.buffered(), 0).is_some()
    }

    /// Looks for the next request head in the buffer, reading more as
    /// needed; `Ok(None)` on a clean close between requests. `release` is
    /// set while the first, short deadline only marks the connection quiet
    /// (its buffer is then given back and the rest of `timeout` applies).
    pub(super) fn poll_head(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        timeout: Option<Duration>,
        release: &mut bool,
    ) -> Poll<Result<Option<RequestHead>, HeadError>> {
        loop {
            if let Some(end) = find_head_end(&self.buf[..self.end], self.scanned.max(self.start)) {
                if end - self.start > max {
                    return Poll::Ready(Err(HeadError::Reject(too_large(&self.buf[self.start..end], max))));
                }
                match decode::parse(&self.buf[self.start..end]) {
                    Ok(Some((head, n))) => {
                        self.served = true;
                        let start = self.start;
                        self.consume(n);
                        debug_assert_eq!(start + n, end);
                        return Poll::Ready(Ok(Some(head)));
                    }
                    // Blank lines before the request: keep looking after them.
                    Ok(None) => self.scanned = end,
                    Err(reject) => return Poll::Ready(Err(HeadError::Reject(reject))),
                }
                continue;
            }
            self.scanned = self.end.saturating_sub(3).max(self.start);
            if self.end - self.start >= max {
                return Poll::Ready(Err(HeadError::Reject(too_large(self.buffered(), max))));
            }
            let polled = self.poll_fill(cx, max);
            if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
                continue;
            }
            // Nothing new: whether a request has begun decides what to do.
            let started = !self.buffered().iter().all(|b| b.is_ascii_whitespace());
            match polled {
                // A draining server closes connections between requests, but
                // not one just accepted whose first request is on its way: a
                // restart would refuse it (it waits for its head as usual).
                Poll::Pending if !started && self.served && self.watch.ending() != Ending::No => {
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
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::TimedOut && *release => {
                    *release = false;
                    self.release_buffer();
                    self.watch.read_within(timeout.map(|d| d - RELEASE_AFTER));
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
    }
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
