//! One connection to the FastCGI server: records read off a buffer with
//! deadlines but no timers, the request body sent from its file, and the
//! rest of a streamed response, after which the connection goes back.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_lock::SemaphoreGuardArc;
use bytes::{Bytes, BytesMut};
use futures_lite::AsyncReadExt;
use futures_lite::io::AsyncWrite;

use super::record::{self, Header};
use super::{bad_gateway, gateway_timeout};
use crate::error::HttpError;
use crate::rt::Io;
use crate::server::watch::Entry;
use crate::web::Body;

/// A connection to the server, with what was read past the last record.
pub(super) struct Conn {
    pub(super) stream: Box<dyn Io>,
    /// Bytes read and not yet parsed; records are split off without a copy.
    buf: BytesMut,
    /// The read deadline, which the target's sweeper looks at: no timer is
    /// set per read.
    entry: Entry,
    /// Read before waiting for readiness: a request was just sent (on a
    /// shared CPU the answer is often there already) or the last read
    /// filled the buffer. After a read that found nothing, wait first: the
    /// next read after a wake-up finds data.
    pub(super) more: bool,
}

/// What a read asks the socket for at least.
const READ_SIZE: usize = 8 * 1024;

impl Conn {
    pub(super) fn new(stream: Box<dyn Io>, entry: Entry) -> Self {
        Conn { stream, buf: BytesMut::new(), entry, more: false }
    }

    /// Reads what the socket has (at least `want` bytes of room) onto the
    /// buffer. Silence past the deadline its watch was given is `TimedOut`;
    /// the end of the stream is `UnexpectedEof`.
    async fn fill(&mut self, want: usize) -> io::Result<()> {
        let start = self.buf.len();
        self.buf.resize(start + want.max(READ_SIZE), 0);
        let read = std::future::poll_fn(|cx| self.poll_fill(cx, start)).await;
        self.buf.truncate(start + *read.as_ref().unwrap_or(&0));
        match read? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>, start: usize) -> Poll<io::Result<usize>> {
        loop {
            if !self.more {
                match self.stream.poll_read_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return self.poll_deadline(cx),
                }
            }
            let space = &mut self.buf[start..];
            let room = space.len();
            match self.stream.try_read(cx, space) {
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => self.more = false,
                Poll::Ready(read) => {
                    self.more = matches!(read, Ok(n) if n == room);
                    return Poll::Ready(read);
                }
                Poll::Pending => return self.poll_deadline(cx),
            }
        }
    }

    /// Writes all of `bytes`. A write that cannot go on for `timeout` (the
    /// server stopped reading: nginx's `fastcgi_send_timeout`) is `TimedOut`;
    /// each write that goes through moves the deadline.
    pub(super) async fn send(&mut self, bytes: &[u8], timeout: Duration) -> io::Result<()> {
        let Conn { stream, entry, .. } = self;
        let mut sent = 0;
        while sent < bytes.len() {
            entry.watch.write_within(Some(timeout));
            let wrote =
                std::future::poll_fn(|cx| match std::pin::Pin::new(&mut *stream).poll_write(cx, &bytes[sent..]) {
                    Poll::Pending if entry.watch.write_expired(cx) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
                    other => other,
                })
                .await?;
            if wrote == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            sent += wrote;
        }
        Ok(())
    }

    /// Whether an idle kept connection can take a request: the server has
    /// not closed it (php-fpm closes a worker's connection when it recycles
    /// the worker: `pm.max_requests`, `ondemand`'s idle timeout) nor sent
    /// anything unasked. One read that finds nothing says so, with no wait.
    pub(super) fn is_open(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.stream.try_read(&mut cx, &mut probe) {
            Poll::Ready(Err(e)) => e.kind() == io::ErrorKind::WouldBlock,
            Poll::Ready(Ok(_)) => false,
            Poll::Pending => true,
        }
    }

    /// Waits for the first bytes of the answer to the request just sent.
    /// Silence past `timeout` is `504`; the end of the stream or a reset
    /// before any byte is [`Attempt::Unanswered`]: the server never took the
    /// request. On a fresh connection (`kept` given), a request still
    /// unanswered after [`STUCK_AFTER`] may sit in the server's accept queue
    /// while idle kept connections hold its workers: they are closed.
    pub(super) async fn answer_begins(&mut self, timeout: Duration, mut kept: Option<&Kept>) -> Result<(), Attempt> {
        let sent = Instant::now();
        loop {
            let first_wait = kept.map(|_| STUCK_AFTER.min(timeout));
            self.entry.watch.read_within(Some(first_wait.unwrap_or(timeout.saturating_sub(sent.elapsed()))));
            match self.fill(Header::LEN).await {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => match kept.take() {
                    Some(kept) if sent.elapsed() < timeout => kept.close_idle(),
                    _ => return Err(Attempt::Failed(gateway_timeout("no response within the read timeout".into()))),
                },
                Err(e) => return Err(Attempt::Unanswered("reading the response", e)),
            }
        }
    }

    /// Called by a read about to wait.
    fn poll_deadline(&self, cx: &Context<'_>) -> Poll<io::Result<usize>> {
        if self.entry.watch.read_expired(cx) { Poll::Ready(Err(io::ErrorKind::TimedOut.into())) } else { Poll::Pending }
    }

    /// The next record that matters, when the whole of it is already in the
    /// buffer (else `Ok(None)` and how many bytes are missing); `FCGI_STDERR`
    /// lines go to the log on the way.
    pub(super) fn buffered_record(&mut self) -> Result<Result<Record, usize>, HttpError> {
        loop {
            let Some(head) = self.buf.first_chunk::<{ Header::LEN }>() else {
                return Ok(Err(Header::LEN - self.buf.len()));
            };
            let header =
                Header::parse(head).ok_or_else(|| bad_gateway("the response is not FastCGI version 1".into()))?;
            let content_end = Header::LEN + usize::from(header.content_length);
            let total = content_end + usize::from(header.padding_length);
            if self.buf.len() < total {
                return Ok(Err(total - self.buf.len()));
            }
            let content = self.buf.split_to(total).freeze().slice(Header::LEN..content_end);
            if header.request_id != record::REQUEST_ID {
                continue;
            }
            match header.kind {
                record::STDOUT if !content.is_empty() => return Ok(Ok(Record::Stdout(content))),
                record::STDERR => {
                    for line in String::from_utf8_lossy(&content).lines().filter(|l| !l.trim().is_empty()) {
                        log::warn!(target: "squall::fastcgi", "{line}");
                    }
                }
                record::END_REQUEST => {
                    if let Some((app, protocol)) = record::parse_end(&content)
                        && protocol != 0
                    {
                        return Err(bad_gateway(format!(
                            "the server refused the request (protocol status {protocol}, app status {app})"
                        )));
                    }
                    return Ok(Ok(Record::End));
                }
                _ => {}
            }
        }
    }
}

/// What the server sent next that matters.
pub(super) enum Record {
    Stdout(Bytes),
    End,
}

/// Reads records until STDOUT data or the end of the request. Silence
/// between two reads past `timeout` is `504`, a broken stream `502`.
pub(super) async fn next_record(conn: &mut Conn, timeout: Duration) -> Result<Record, HttpError> {
    loop {
        let missing = match conn.buffered_record()? {
            Ok(record) => return Ok(record),
            Err(missing) => missing,
        };
        conn.entry.watch.read_within(Some(timeout));
        match conn.fill(missing).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(gateway_timeout("no response within the read timeout".into()));
            }
            Err(e) => return Err(bad_gateway(format!("reading the response: {e}"))),
        }
    }
}

/// How sending a request went wrong.
#[derive(Debug)]
pub(super) enum Attempt {
    /// The connection failed before any byte of an answer came back (what
    /// failed, and how): on a kept connection the server had closed it, and
    /// the request may go again on a fresh one.
    Unanswered(&'static str, io::Error),
    /// The answer to give the client.
    Failed(HttpError),
}

impl Attempt {
    /// The answer when the request cannot go again: `502`.
    pub(super) fn into_error(self) -> HttpError {
        match self {
            Attempt::Unanswered(during, e) => bad_gateway(format!("{during}: {e}")),
            Attempt::Failed(error) => error,
        }
    }
}

/// Sends a body kept in a temporary file as STDIN records, from its start,
/// then the empty STDIN record that ends it; the file is read on a
/// blocking thread, through a descriptor of its own, so it can be sent
/// again.
pub(super) async fn send_stdin(conn: &mut Conn, file: &std::fs::File, timeout: Duration) -> io::Result<()> {
    use std::io::Seek;
    let mut file = file.try_clone()?;
    file.rewind()?;
    let mut reader = blocking::Unblock::new(file);
    let mut buf = vec![0u8; record::MAX_CONTENT];
    let mut out = Vec::with_capacity(record::MAX_CONTENT + 16);
    loop {
        let n = reader.read(&mut buf).await?;
        out.clear();
        record::push_record(&mut out, record::STDIN, &buf[..n]);
        conn.send(&out, timeout).await?;
        if n == 0 {
            return Ok(());
        }
    }
}

/// The connections kept for the next request.
#[derive(Default)]
pub(super) struct Kept {
    idle: Mutex<Vec<Conn>>,
    /// Requests sent on fresh connections and not answered yet: an id each,
    /// and when it was sent.
    waiting: Mutex<Vec<(u64, Instant)>>,
    next_id: AtomicU64,
}

/// How long a request on a fresh connection may go unanswered before it
/// counts as stuck in the server's accept queue (see [`Kept::give_back`],
/// [`Conn::answer_begins`]).
/// A script that merely runs longer costs one connection made anew.
const STUCK_AFTER: Duration = Duration::from_millis(250);

impl Kept {
    /// An idle connection the server has not closed, if there is one.
    pub(super) fn take(&self) -> Option<Conn> {
        loop {
            let mut conn = crate::rt::lock(&self.idle).pop()?;
            if conn.is_open() {
                return Some(conn);
            }
            log::debug!(target: "squall::fastcgi", "the server closed an idle connection");
        }
    }

    /// Keeps a connection whose request ended cleanly — unless a request
    /// seems stuck on a fresh connection: sent a while ago and unanswered,
    /// it may sit in the server's accept queue. php-fpm counts a worker
    /// holding a kept connection as idle, so under `pm = ondemand` it starts
    /// no worker for its queue, and a worker never leaves the connection it
    /// holds. Closing this one frees its worker to accept the stuck request.
    pub(super) fn give_back(&self, conn: Conn) {
        let stuck = crate::rt::lock(&self.waiting).iter().any(|(_, sent)| sent.elapsed() > STUCK_AFTER);
        if stuck {
            log::debug!(target: "squall::fastcgi", "a request waits for a worker: closing a connection to free one");
        } else {
            crate::rt::lock(&self.idle).push(conn);
        }
    }

    /// Closes every idle connection, freeing the server workers they hold.
    pub(super) fn close_idle(&self) {
        let closed = std::mem::take(&mut *crate::rt::lock(&self.idle));
        if !closed.is_empty() {
            log::debug!(target: "squall::fastcgi", "a request waits for a worker: closing {} idle connection(s)", closed.len());
        }
    }

    /// Counts a request waiting on a fresh connection until dropped.
    pub(super) fn waiting(&self) -> Waiting<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        crate::rt::lock(&self.waiting).push((id, Instant::now()));
        Waiting { kept: self, id }
    }
}

/// A request on a fresh connection, not answered yet; see [`Kept::give_back`].
pub(super) struct Waiting<'a> {
    kept: &'a Kept,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        crate::rt::lock(&self.kept.waiting).retain(|(id, _)| *id != self.id);
    }
}

/// The rest of a response: STDOUT records until the end of the request,
/// then the connection goes back to the pool. Dropped early (the client
/// left), the connection is closed instead: its state is unknown.
pub(super) struct Rest {
    pub(super) stream: Conn,
    /// Held while the response streams: the connection is busy until then.
    pub(super) _permit: SemaphoreGuardArc,
    /// Where the connection goes back, if kept alive.
    pub(super) kept: Option<Arc<Kept>>,
    pub(super) read_timeout: Duration,
}

impl Rest {
    /// The body: `first` (what already came), then the records that follow.
    pub(super) fn into_body(self, first: Vec<Bytes>) -> Body {
        let mut first = first;
        first.retain(|chunk| !chunk.is_empty());
        first.reverse();
        let state = (Some(self), first);
        let chunks = futures_lite::stream::unfold(state, |(rest, mut first)| async move {
            if let Some(chunk) = first.pop() {
                return Some((Ok(chunk), (rest, first)));
            }
            let mut rest = rest?;
            match next_record(&mut rest.stream, rest.read_timeout).await {
                Ok(Record::Stdout(data)) => Some((Ok(data), (Some(rest), first))),
                Ok(Record::End) => {
                    if let Some(kept) = &rest.kept {
                        kept.give_back(rest.stream);
                    }
                    None
                }
                Err(e) => {
                    log::error!(target: "squall::fastcgi", "the response broke off: {}", e.log_message().unwrap_or_default());
                    Some((Err(io::Error::other("the FastCGI response broke off")), (None, first)))
                }
            }
        });
        Body::from_stream(chunks)
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;

    use futures_lite::io::AsyncRead;

    use super::*;
    use crate::server::watch::Registry;

    /// Hands its bytes out `step` at a time, then end of stream.
    struct Trickle {
        bytes: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.step).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Poll::Ready(Ok(n))
        }
    }

    impl AsyncWrite for Trickle {
        fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl Io for Trickle {
        fn shutdown_write(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn end_request(protocol_status: u8) -> Vec<u8> {
        let mut out = Vec::new();
        record::push_record(&mut out, record::END_REQUEST, &[0, 0, 0, 0, protocol_status, 0, 0, 0]);
        out
    }

    /// What `next_record` makes of `bytes` arriving `step` at a time: the
    /// STDOUT data in order, then how the request ended.
    fn records(bytes: &[u8], step: usize) -> (Vec<u8>, Result<(), u16>) {
        let registry = std::sync::Arc::new(Registry::default());
        let stream = Trickle { bytes: bytes.to_vec(), at: 0, step };
        let mut conn = Conn::new(Box::new(stream), registry.register());
        let mut stdout = Vec::new();
        crate::rt::block_on(async {
            loop {
                match next_record(&mut conn, Duration::from_secs(5)).await {
                    Ok(Record::Stdout(data)) => stdout.extend_from_slice(&data),
                    Ok(Record::End) => return (stdout, Ok(())),
                    Err(e) => return (stdout, Err(e.status().as_u16())),
                }
            }
        })
    }

    #[test]
    fn records_split_anywhere_come_out_whole_and_only_ours_count() {
        let mut response = Vec::new();
        record::push_record(&mut response, record::STDERR, b"PHP Notice: x\n");
        record::push_record(&mut response, record::STDOUT, b"Content-Type: text/plain\r\n\r\nhel");
        // Another request's record, and an unknown type: skipped.
        response.extend_from_slice(&[1, record::STDOUT, 0, 2, 0, 3, 5, 0, b'b', b'a', b'd', 0, 0, 0, 0, 0]);
        response.extend_from_slice(&[1, 11, 0, 1, 0, 0, 0, 0]);
        record::push_record(&mut response, record::STDOUT, b"lo");
        record::push_record(&mut response, record::STDOUT, b"");
        response.extend_from_slice(&end_request(0));
        for step in [1, 3, 7, 8, 9, 64, 1 << 20] {
            let (stdout, end) = records(&response, step);
            assert_eq!(stdout, b"Content-Type: text/plain\r\n\r\nhello", "{step} bytes per read");
            assert_eq!(end, Ok(()), "{step} bytes per read");
        }
    }

    #[cfg(unix)]
    #[test]
    fn an_idle_connection_the_server_closed_or_wrote_to_is_not_reused() {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("squall-fcgi-idle-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let registry = std::sync::Arc::new(Registry::default());
        let connect = || {
            let stream = crate::rt::block_on(crate::rt::connect_unix(&path)).unwrap();
            (Conn::new(stream, registry.register()), listener.accept().unwrap().0)
        };
        let (mut quiet, _server) = connect();
        assert!(quiet.is_open(), "nothing to read: open");
        assert!(quiet.is_open(), "asking again changes nothing");
        let (mut closed, server) = connect();
        drop(server);
        assert!(!closed.is_open(), "end of stream: the server closed it");
        let (mut chatty, mut server) = connect();
        server.write_all(b"unasked").unwrap();
        assert!(!chatty.is_open(), "bytes nobody asked for: its state is unknown");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_broken_or_refused_response_is_a_502() {
        let mut refused = Vec::new();
        record::push_record(&mut refused, record::STDOUT, b"Status: 200\r\n\r\n");
        refused.extend_from_slice(&end_request(1)); // FCGI_CANT_MPX_CONN
        assert_eq!(records(&refused, 5).1, Err(502), "a protocol status other than complete");
        assert_eq!(records(&[2, 6, 0, 1, 0, 0, 0, 0], 8).1, Err(502), "not version 1");
        let mut cut = Vec::new();
        record::push_record(&mut cut, record::STDOUT, b"Status: 200\r\n\r\nbody");
        cut.truncate(cut.len() - 6);
        assert_eq!(records(&cut, 4), (Vec::new(), Err(502)), "the stream ends inside a record");
        assert_eq!(records(&[], 4).1, Err(502), "the stream ends before any record");
    }
}
