//! One connection's life: read a head, hand the request to the app, write the
//! response, repeat while keep-alive allows.
//!
//! The socket and its read buffer live in a [`Transport`] shared (behind a
//! mutex that is never held across an await) between this loop and the
//! request's [`Body`], so the handler streams the body straight from the
//! connection, and `100 Continue` goes out only when it starts reading.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{FutureExt, future};
use http::header::{self, HeaderMap};
use http::{Method, StatusCode, Version};

use super::body::Decoder;
use super::decode::{self, Framing, Head, Reject};
use super::encode;
use crate::routing::Target;
use crate::server::Config;
use crate::web::body::{BodyError, Source};
use crate::web::{Body, IntoResponse, Request, Response, log as access_log};
use crate::{HttpError, rt};

/// Responses whose body is at most this long go out in the same write as the head.
const COALESCE: usize = 16 * 1024;
/// Unread request body bytes drained to keep a connection alive; more means close.
const DRAIN_LIMIT: u64 = 64 * 1024;
/// How long, and how much, a closing connection reads and discards so that the
/// client receives the final response instead of a reset.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

/// A byte stream a connection runs over.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Half-closes the stream: the peer reads end of stream, and reading
    /// still works (`poll_close` only flushes on some streams).
    fn shutdown_write(&self) -> io::Result<()>;

    /// Waits until a read may find data. Called instead of a read that would
    /// only report `WouldBlock` after a short read drained the socket.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }

    /// Reads what is there now; may answer `WouldBlock` (then the caller waits
    /// on [`poll_read_ready`](Io::poll_read_ready)). Streams without a
    /// readiness API read as usual.
    fn try_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(self).poll_read(cx, buf)
    }
}

/// What the server knows about a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnInfo {
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) scheme: &'static str,
}

/// The socket, its read buffer, and the state of the current request's body.
struct Transport<S> {
    io: S,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Where the search for the end of a head resumes.
    scanned: usize,
    /// The last read returned less than it could: the socket is likely empty.
    drained: bool,
    seq: u64,
    decoder: Decoder,
    body_received: u64,
    body_limit: u64,
    /// Bytes of `100 Continue` still to write before the body can be read.
    continue_pending: Option<usize>,
    continue_sent: bool,
    failure: Option<(StatusCode, &'static str)>,
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

type Shared<S> = Arc<Mutex<Transport<S>>>;

fn lock<S>(shared: &Shared<S>) -> MutexGuard<'_, Transport<S>> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<S: Io> Transport<S> {
    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        self.scanned = self.start;
    }

    /// Reads more bytes into the buffer, growing it up to `max` when full.
    /// `Ok(0)` means end of stream, or a full buffer at `max`.
    fn poll_fill(&mut self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<usize>> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.scanned -= self.start;
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < max {
                let mut bigger = vec![0; (self.buf.len() * 2).min(max)].into_boxed_slice();
                bigger[..self.end].copy_from_slice(&self.buf[..self.end]);
                self.buf = bigger;
            } else {
                return Poll::Ready(Ok(0));
            }
        }
        loop {
            if self.drained {
                std::task::ready!(self.io.poll_read_ready(cx))?;
                self.drained = false;
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
                Poll::Pending => return Poll::Pending,
            };
            self.end += n;
            self.drained = n > 0 && self.end < self.buf.len();
            return Poll::Ready(Ok(n));
        }
    }

    fn poll_write_all(&mut self, cx: &mut Context<'_>, data: &[u8], written: &mut usize) -> Poll<io::Result<()>> {
        while *written < data.len() {
            match std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &data[*written..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *written += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Starts the body of request `seq`.
    fn start_body(&mut self, seq: u64, framing: Framing, expect_continue: bool, limit: u64) {
        self.seq = seq;
        self.decoder = Decoder::new(framing);
        self.body_received = 0;
        self.body_limit = limit;
        self.continue_pending = expect_continue.then_some(0);
        self.continue_sent = false;
        self.failure = None;
    }

    fn fail(&mut self, status: StatusCode, reason: &'static str) -> io::Error {
        self.failure = Some((status, reason));
        BodyError { status, reason }.into_io()
    }
}

impl<S: Io> Source for Transport<S> {
    fn poll_chunk(&mut self, cx: &mut Context<'_>, seq: u64) -> Poll<Option<io::Result<Bytes>>> {
        if seq != self.seq {
            let e =
                BodyError { status: StatusCode::INTERNAL_SERVER_ERROR, reason: "body read after its request ended" };
            return Poll::Ready(Some(Err(e.into_io())));
        }
        if let Some((status, reason)) = self.failure {
            return Poll::Ready(Some(Err(BodyError { status, reason }.into_io())));
        }
        if self.decoder.is_done() {
            return Poll::Ready(None);
        }
        if let Some(mut written) = self.continue_pending {
            let polled = self.poll_write_all(cx, CONTINUE, &mut written);
            self.continue_pending = Some(written);
            match polled {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Ok(())) => {
                    self.continue_pending = None;
                    self.continue_sent = true;
                }
            }
        }
        loop {
            if self.start < self.end {
                let (start, end) = (self.start, self.end);
                let step = match self.decoder.decode(&self.buf[start..end]) {
                    Ok(step) => step,
                    Err(malformed) => return Poll::Ready(Some(Err(self.fail(StatusCode::BAD_REQUEST, malformed.0)))),
                };
                let data = (!step.data.is_empty()).then(|| Bytes::copy_from_slice(&self.buffered()[step.data.clone()]));
                self.consume(step.consumed);
                if let Some(data) = data {
                    self.body_received += data.len() as u64;
                    if self.body_received > self.body_limit {
                        let e = self.fail(StatusCode::PAYLOAD_TOO_LARGE, "request body larger than the limit");
                        return Poll::Ready(Some(Err(e)));
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                if self.decoder.is_done() {
                    return Poll::Ready(None);
                }
            }
            let max = self.buf.len();
            match std::task::ready!(self.poll_fill(cx, max)) {
                Ok(0) => return Poll::Ready(Some(Err(self.fail(StatusCode::BAD_REQUEST, "request body cut short")))),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

/// Why no request head could be read.
enum HeadError {
    /// The head is invalid: answer with this status and close.
    Reject(Reject),
    /// The connection failed or the peer left mid-head: nothing to answer.
    Gone,
}

/// Serves one connection until it closes.
pub(crate) async fn serve<S>(io: S, app: Arc<dyn Target>, config: Arc<Config>, info: ConnInfo)
where
    S: Io,
{
    let shared: Shared<S> = Arc::new(Mutex::new(Transport {
        io,
        buf: vec![0; 8 * 1024].into_boxed_slice(),
        start: 0,
        end: 0,
        scanned: 0,
        drained: false,
        seq: 0,
        decoder: Decoder::Done,
        body_received: 0,
        body_limit: 0,
        continue_pending: None,
        continue_sent: false,
        failure: None,
    }));
    let mut out = Vec::with_capacity(1024);
    let mut seq = 0;
    loop {
        let head = match read_head(&shared, config.max_header_size).await {
            Ok(Some(head)) => head,
            Ok(None) | Err(HeadError::Gone) => return,
            Err(HeadError::Reject(reject)) => {
                log::warn!(target: "squall::server", "{}: {} {}", peer(&info), reject.status.as_u16(), reject.reason);
                let _ = write_reject(&shared, &mut out, reject).await;
                linger_close(&shared).await;
                return;
            }
        };
        if let Framing::Length(n) = head.framing {
            if n > config.max_body_size {
                let reject =
                    Reject { status: StatusCode::PAYLOAD_TOO_LARGE, reason: "request body larger than the limit" };
                log::warn!(target: "squall::server", "{}: 413 Content-Length {n} over {}", peer(&info), config.max_body_size);
                let _ = write_reject(&shared, &mut out, reject).await;
                linger_close(&shared).await;
                return;
            }
        }
        seq += 1;
        match exchange(&shared, &mut out, &*app, &config, info, head, seq).await {
            Ok(true) => {}
            Ok(false) => {
                linger_close(&shared).await;
                return;
            }
            Err(e) => {
                log::debug!(target: "squall::server", "{}: connection lost: {e}", peer(&info));
                return;
            }
        }
    }
}

/// One request and its response. `Ok(true)` when the connection may carry another.
async fn exchange<S>(
    shared: &Shared<S>,
    out: &mut Vec<u8>,
    app: &dyn Target,
    config: &Config,
    info: ConnInfo,
    head: Head,
    seq: u64,
) -> io::Result<bool>
where
    S: Io,
{
    let started = Instant::now();
    let Head { method, uri, version, headers, framing, keep_alive, expect_continue } = head;
    let mut keep_alive = keep_alive && !config.no_keep_alive;
    lock(shared).start_body(seq, framing, expect_continue, config.max_body_size);
    let body = match framing {
        Framing::None => Body::empty(),
        _ => Body::incoming(shared.clone(), seq),
    };
    let (log_method, log_uri) = (method.clone(), uri.clone());
    let mut req = Request::from_parts(method, uri, version, headers, body);
    req.peer = info.peer;
    req.local = info.local;
    req.scheme = info.scheme;

    let mut response = respond(app, req, &info).await;

    {
        let mut t = lock(shared);
        if let Some((status, reason)) = t.failure {
            // The body was malformed or too large: whatever the handler said,
            // the client gets the error, and the framing is lost.
            response = HttpError::new(status).with_message(reason).into_response();
            keep_alive = false;
        } else if !t.decoder.is_done() {
            // The handler left body bytes unread.
            let small = matches!(t.decoder, Decoder::Length { remaining } if remaining <= DRAIN_LIMIT);
            if t.continue_pending.is_some() || !small {
                keep_alive = false;
            }
            t.continue_pending = None;
        }
    }
    let status = response.status();
    let head_only = log_method == Method::HEAD;
    let result = write_response(shared, out, response, head_only, version, &mut keep_alive).await;
    access_log::access(status, &log_method, &log_uri, info.peer.map(|p| p.ip()), started);
    result?;
    if keep_alive && !drain(shared, seq).await {
        return Ok(false);
    }
    Ok(keep_alive)
}

/// Calls the app, turning a declined request into `404` and a panic into `500`.
async fn respond(app: &dyn Target, req: Request, info: &ConnInfo) -> Response {
    let call = AssertUnwindSafe(async move {
        match app.call(req) {
            Ok(answer) => answer.await,
            Err(_) => crate::routing::not_found(),
        }
    });
    match call.catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            log::error!(target: "squall::server", "{}: handler panicked: {what}", peer(info));
            HttpError::new(StatusCode::INTERNAL_SERVER_ERROR).into_response()
        }
    }
}

/// Reads the rest of an unread request body so the next request can follow.
async fn drain<S: Io>(shared: &Shared<S>, seq: u64) -> bool {
    if lock(shared).decoder.is_done() {
        return true;
    }
    loop {
        match poll_fn(|cx| lock(shared).poll_chunk(cx, seq)).await {
            None => return true,
            Some(Ok(_)) => {}
            Some(Err(_)) => return false,
        }
    }
}

fn peer(info: &ConnInfo) -> String {
    info.peer.map_or_else(|| "local".to_owned(), |p| p.to_string())
}

/// Reads and parses the next request head; `Ok(None)` on a clean close
/// between requests.
async fn read_head<S: Io>(shared: &Shared<S>, max: usize) -> Result<Option<Head>, HeadError> {
    poll_fn(|cx| {
        let mut t = lock(shared);
        loop {
            if let Some(end) = find_head_end(&t.buf[..t.end], t.scanned.max(t.start)) {
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
                return Poll::Ready(Err(HeadError::Reject(Reject {
                    status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    reason: "request head larger than the limit",
                })));
            }
            match std::task::ready!(t.poll_fill(cx, max)) {
                Ok(0) if t.start == t.end || t.buffered().iter().all(|b| b.is_ascii_whitespace()) => {
                    return Poll::Ready(Ok(None));
                }
                Ok(0) => {
                    return Poll::Ready(Err(HeadError::Reject(Reject {
                        status: StatusCode::BAD_REQUEST,
                        reason: "request head cut short",
                    })));
                }
                Ok(_) => {}
                Err(_) => return Poll::Ready(Err(HeadError::Gone)),
            }
        }
    })
    .await
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

async fn write_all<S: Io>(shared: &Shared<S>, data: &[u8]) -> io::Result<()> {
    let mut written = 0;
    poll_fn(|cx| lock(shared).poll_write_all(cx, data, &mut written)).await
}

async fn flush<S: Io>(shared: &Shared<S>) -> io::Result<()> {
    poll_fn(|cx| Pin::new(&mut lock(shared).io).poll_flush(cx)).await
}

async fn write_reject<S: Io>(shared: &Shared<S>, out: &mut Vec<u8>, reject: Reject) -> io::Result<()> {
    let body = format!("{}\n", reject.reason);
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    out.clear();
    encode::head(out, reject.status, &headers, encode::Framing::Length(body.len() as u64), Some("close"));
    out.extend_from_slice(body.as_bytes());
    write_all(shared, out).await?;
    flush(shared).await
}

/// Writes a response. Clears `keep_alive` when the response ends the connection.
async fn write_response<S>(
    shared: &Shared<S>,
    out: &mut Vec<u8>,
    response: Response,
    head_only: bool,
    version: Version,
    keep_alive: &mut bool,
) -> io::Result<()>
where
    S: Io,
{
    let (status, headers, mut body) = response.into_parts();
    if headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| decode::list_items(v.as_bytes()).any(|t| t.eq_ignore_ascii_case(b"close")))
    {
        *keep_alive = false;
    }
    let framing = if encode::forbids_body(status) {
        encode::Framing::NoBody
    } else if let Some(n) = body.size_hint() {
        encode::Framing::Length(n)
    } else if let Some(n) = declared_length(&headers) {
        encode::Framing::Length(n)
    } else if version == Version::HTTP_11 {
        encode::Framing::Chunked
    } else if head_only {
        encode::Framing::NoBody
    } else {
        *keep_alive = false;
        encode::Framing::Close
    };
    let connection = match (*keep_alive, version) {
        (false, _) => Some("close"),
        (true, Version::HTTP_10) => Some("keep-alive"),
        (true, _) => None,
    };
    out.clear();
    encode::head(out, status, &headers, framing, connection);

    if head_only || framing == encode::Framing::NoBody {
        write_all(shared, out).await?;
        return flush(shared).await;
    }
    if let Some(full) = body.as_full() {
        if full.len() <= COALESCE {
            out.extend_from_slice(full);
            write_all(shared, out).await?;
        } else {
            write_all(shared, out).await?;
            write_all(shared, full).await?;
        }
        return flush(shared).await;
    }
    write_stream(shared, out, status, &mut body, framing).await
}

/// A `Content-Length` the handler set for a streamed body.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(header::CONTENT_LENGTH)?.to_str().ok()?;
    value.trim().parse().ok()
}

/// Streams a body: each chunk goes out as soon as the stream has no more ready.
/// A failure before anything was sent becomes a `500`; after that, the
/// connection is closed so the client sees a truncated response.
async fn write_stream<S>(
    shared: &Shared<S>,
    out: &mut Vec<u8>,
    status: StatusCode,
    body: &mut Body,
    framing: encode::Framing,
) -> io::Result<()>
where
    S: Io,
{
    let mut sent_any = false;
    let mut remaining = match framing {
        encode::Framing::Length(n) => n,
        _ => u64::MAX,
    };
    loop {
        let next = match future::poll_once(body.chunk()).await {
            Some(next) => next,
            None => {
                if !out.is_empty() {
                    write_all(shared, out).await?;
                    flush(shared).await?;
                    out.clear();
                    sent_any = true;
                }
                body.chunk().await
            }
        };
        let data = match next {
            None => break,
            Some(Ok(data)) => data,
            Some(Err(e)) => {
                log::error!(target: "squall::server", "response body failed after status {status}: {e}");
                if !sent_any {
                    let reject = Reject { status: StatusCode::INTERNAL_SERVER_ERROR, reason: "response body failed" };
                    write_reject(shared, out, reject).await?;
                }
                return Err(io::Error::other("response body failed"));
            }
        };
        if data.is_empty() {
            continue;
        }
        match framing {
            encode::Framing::Chunked => encode::chunk(out, &data),
            _ if data.len() as u64 > remaining => {
                log::error!(target: "squall::server", "response body longer than its Content-Length");
                out.extend_from_slice(&data[..remaining as usize]);
                write_all(shared, out).await?;
                return Err(io::Error::other("response body longer than its Content-Length"));
            }
            _ => {
                remaining -= data.len() as u64;
                out.extend_from_slice(&data);
            }
        }
        if out.len() >= COALESCE {
            write_all(shared, out).await?;
            out.clear();
            sent_any = true;
        }
    }
    match framing {
        encode::Framing::Chunked => out.extend_from_slice(encode::LAST_CHUNK),
        encode::Framing::Length(_) if remaining > 0 => {
            write_all(shared, out).await?;
            log::error!(target: "squall::server", "response body shorter than its Content-Length");
            return Err(io::Error::other("response body shorter than its Content-Length"));
        }
        _ => {}
    }
    write_all(shared, out).await?;
    out.clear();
    flush(shared).await
}

/// Closes the connection gracefully: shuts down writing, then reads and
/// discards what the client still sends (bounded in bytes and time), so the
/// kernel does not answer unread input with a reset that destroys the response.
async fn linger_close<S: Io>(shared: &Shared<S>) {
    let _ = flush(shared).await;
    let _ = lock(shared).io.shutdown_write();
    let discard = async {
        let mut left = LINGER_BYTES;
        let mut sink = [0u8; 4096];
        while left > 0 {
            match poll_fn(|cx| Pin::new(&mut lock(shared).io).poll_read(cx, &mut sink)).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    discard.or(rt::sleep(LINGER)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Router;

    /// Input given up front; records every write call separately.
    struct Recorder {
        input: Vec<u8>,
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl AsyncRead for Recorder {
        fn poll_read(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.input.len());
            buf[..n].copy_from_slice(&self.input[..n]);
            self.input.drain(..n);
            Poll::Ready(Ok(n))
        }
    }

    impl AsyncWrite for Recorder {
        fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            self.writes.lock().unwrap().push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl Io for Recorder {
        fn shutdown_write(&self) -> io::Result<()> {
            Ok(())
        }
    }

    fn writes_for(app: Router, input: &[u8]) -> Vec<Vec<u8>> {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let io = Recorder { input: input.to_vec(), writes: writes.clone() };
        let info = ConnInfo { peer: None, local: None, scheme: "http" };
        rt::block_on(serve(io, Arc::new(app), Arc::new(Config::default()), info));
        writes.lock().unwrap().clone()
    }

    #[test]
    fn small_response_goes_out_in_one_write() {
        let app = Router::new().route("/", |_req| async { "Hello, world!" });
        let writes = writes_for(app, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(writes.len(), 1, "{writes:?}");
        assert!(writes[0].starts_with(b"HTTP/1.1 200 OK\r\n") && writes[0].ends_with(b"\r\n\r\nHello, world!"));
    }

    #[test]
    fn each_streamed_chunk_is_written_when_produced() {
        let app = Router::new().route("/", |_req| async {
            let (tx, rx) = async_channel_like();
            rt::spawn(async move {
                for part in ["a", "b"] {
                    tx.send(part).await;
                }
            });
            Response::stream(Body::from_stream(rx))
        });
        let writes = writes_for(app, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let all: Vec<u8> = writes.concat();
        assert!(all.ends_with(b"1\r\na\r\n1\r\nb\r\n0\r\n\r\n"), "{:?}", String::from_utf8_lossy(&all));
        let first = writes.iter().position(|w| w.windows(6).any(|x| x == b"1\r\na\r\n")).expect("chunk a written");
        assert!(!writes[first].windows(6).any(|x| x == b"1\r\nb\r\n"), "chunk a was held back until b: {writes:?}");
    }

    /// A tiny single-slot channel over a mutex, enough for the test above.
    fn async_channel_like() -> (Sender, impl futures_lite::Stream<Item = io::Result<Bytes>> + Send + 'static) {
        let slot: Slot = Arc::new(Mutex::new((Vec::new(), false, None)));
        let rx_slot = slot.clone();
        let stream = futures_lite::stream::poll_fn(move |cx| {
            let mut s = rx_slot.lock().unwrap();
            if !s.0.is_empty() {
                return Poll::Ready(Some(Ok(Bytes::from_static(s.0.remove(0).as_bytes()))));
            }
            if s.1 {
                return Poll::Ready(None);
            }
            s.2 = Some(cx.waker().clone());
            Poll::Pending
        });
        (Sender(slot), stream)
    }

    /// Queued parts, closed flag, waiting reader.
    type Slot = Arc<Mutex<(Vec<&'static str>, bool, Option<std::task::Waker>)>>;

    struct Sender(Slot);

    impl Sender {
        async fn send(&self, part: &'static str) {
            rt::sleep(Duration::from_millis(5)).await;
            let mut s = self.0.lock().unwrap();
            s.0.push(part);
            if let Some(w) = s.2.take() {
                w.wake();
            }
        }
    }

    impl Drop for Sender {
        fn drop(&mut self) {
            let mut s = self.0.lock().unwrap();
            s.1 = true;
            if let Some(w) = s.2.take() {
                w.wake();
            }
        }
    }

    #[test]
    fn head_end_with_crlf_and_bare_lf() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nX", 0), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nX", 0), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
        assert_eq!(find_head_end(b"\r\n\r\nGET", 0), Some(4));
    }
}
