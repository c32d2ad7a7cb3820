//! FastCGI responders (cargo feature `fastcgi`): nginx's `fastcgi_pass` as
//! a route target. [`FastCgi`] runs the `*.php` script a path names on a
//! FastCGI server (php-fpm) over a Unix or TCP socket, with async I/O end to
//! end: no thread is held per request.
//!
//! The request body is received whole first (in memory, then in a temporary
//! file), as nginx buffers it, so a slow client never holds one of the
//! server's scarce workers and `CONTENT_LENGTH` is always known. Upstream
//! connections are kept alive (`FCGI_KEEP_CONN`) in a bounded pool, one
//! request at a time each (php-fpm does not multiplex). The response streams
//! back as it comes; `FCGI_STDERR` goes to the log.
//!
//! php-fpm closes kept connections when it recycles a worker
//! (`pm.max_requests`, `pm = ondemand`'s idle timeout): an idle connection
//! the server closed is noticed before it is used, and a request whose kept
//! connection fails before any byte of the answer goes again, once, on a
//! fresh connection (its body is still kept), as nginx retries a cached
//! connection. A response whose length differs from its `Content-Length`
//! keeps the declared length: a short one ends with the connection closed,
//! a long one is cut.
//!
//! Failures are answered as nginx answers them: upstream refused, reset,
//! gone mid-header or with a bad header block → `502`; no connection or no
//! data within the timeouts → `504`; no free connection in the pool → `503`
//! with `Retry-After`.

mod conn;
mod record;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::Duration;

use async_lock::{Semaphore, SemaphoreGuardArc};
use bytes::Bytes;
use futures_lite::AsyncWriteExt;
use http::StatusCode;
use http::header::HeaderValue;

use crate::dir::{Dir, LazyDir, RecentFiles};
use crate::error::HttpError;
use crate::gateway::buffer::keep_whole;
use crate::gateway::environ::each_var;
use crate::gateway::header_block::read_header_block;
use crate::gateway::php_path::{PhpScript, find_php_script};
use crate::gateway::start::ResponseHead;
use crate::rt;
use crate::server::watch::{Entry, Registry, sweep};
use crate::web::{Body, Dispatch, IntoResponse, Request, Response, Spooled, Target};
use conn::{Attempt, Conn, Kept, Record, Rest, next_record, send_stdin};

/// Where the FastCGI server listens.
#[derive(Debug, Clone)]
pub enum Address {
    /// A Unix socket (php-fpm's usual `listen = /run/php/php-fpm.sock`).
    Unix(PathBuf),
    /// A TCP address.
    Tcp(std::net::SocketAddr),
}

/// Bodies up to this size are kept in memory; larger ones in a temporary file.
const IN_MEMORY: usize = 1 << 20;

/// A directory of PHP scripts run by a FastCGI server; see the [module](self).
///
/// Only a `*.php` file under the root runs: the path is split after its
/// first `.php` segment (`/x.php/extra` → `x.php`, `PATH_INFO=/extra`), and
/// `/evil.txt/x.php` never runs `evil.txt`. A path that names no script is
/// declined, so the router's next rule (static files) answers it.
///
/// ```no_run
/// use squall::fastcgi::{Address, FastCgi};
/// use squall::static_files::StaticFiles;
/// use squall::Router;
///
/// let php = FastCgi::new(Address::Unix("/run/php/php-fpm.sock".into()), "/srv/www").index("index.php");
/// let app = Router::new().mount("/", php).mount("/", StaticFiles::new("/srv/www"));
/// # let _ = app;
/// ```
pub struct FastCgi {
    address: Address,
    root: LazyDir,
    recent: RecentFiles,
    index: Option<String>,
    connect_timeout: Duration,
    read_timeout: Duration,
    send_timeout: Duration,
    queue_timeout: Duration,
    permits: Arc<Semaphore>,
    pool_size: usize,
    kept: Arc<Kept>,
    keep_alive: bool,
    env: Vec<(String, String)>,
    /// The deadlines of connections and of requests waiting for one.
    deadlines: Arc<Registry>,
    /// Stops the sweeper that wakes them, started with the first request.
    sweeper: OnceLock<rt::Signal>,
}

impl FastCgi {
    /// Scripts under `root`, run by the FastCGI server at `address`; a pool
    /// of 16 connections, timeouts of 5 s to connect and 60 s between reads
    /// or writes.
    pub fn new(address: Address, root: impl Into<PathBuf>) -> Self {
        FastCgi {
            address,
            root: LazyDir::new(root.into()),
            recent: RecentFiles::default(),
            index: None,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            queue_timeout: Duration::from_secs(1),
            permits: Arc::new(Semaphore::new(16)),
            pool_size: 16,
            kept: Arc::default(),
            keep_alive: true,
            env: Vec::new(),
            deadlines: Arc::default(),
            sweeper: OnceLock::new(),
        }
    }

    /// The script for a path ending in `/` (say `index.php`).
    pub fn index(mut self, name: &str) -> Self {
        self.index = Some(name.to_owned());
        self
    }

    /// Connections to the server at most (match php-fpm's `pm.max_children`).
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(1);
        self.permits = Arc::new(Semaphore::new(self.pool_size));
        self
    }

    /// Whether connections are kept for the next request (`FCGI_KEEP_CONN`,
    /// on by default). Off, each request connects anew and the server closes
    /// after it: the pool then bounds requests in flight, not connections
    /// kept, and a pool larger than the server's workers queues the extra
    /// requests in its accept backlog, where a worker takes them the moment
    /// it is free.
    pub fn keep_alive(mut self, on: bool) -> Self {
        self.keep_alive = on;
        self
    }

    /// How long connecting may take before `504`.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long the server may stay silent before `504` (nginx's `fastcgi_read_timeout`).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// How long the server may take none of the request before `504`
    /// (nginx's `fastcgi_send_timeout`): a server that stopped reading
    /// cannot hold a connection and its client for ever.
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// How long a request waits for a free connection before `503`.
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = timeout;
        self
    }

    /// An extra parameter for every request (`fastcgi_param`).
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// A deadline watched by the sweeper (started on first use).
    fn deadline(&self) -> Entry {
        self.sweeper.get_or_init(|| {
            let stop = rt::Signal::new();
            let _detached = rt::spawn(sweep(self.deadlines.clone(), stop.clone()));
            stop
        });
        self.deadlines.register()
    }

    /// A permit for one connection, waiting at most the queue timeout.
    async fn permit(&self) -> Option<SemaphoreGuardArc> {
        if let Some(permit) = self.permits.try_acquire_arc() {
            return Some(permit);
        }
        let entry = self.deadline();
        entry.watch.read_within(Some(self.queue_timeout));
        let mut acquire = std::pin::pin!(self.permits.acquire_arc());
        std::future::poll_fn(|cx| match acquire.as_mut().poll(cx) {
            Poll::Ready(permit) => Poll::Ready(Some(permit)),
            Poll::Pending if entry.watch.read_expired(cx) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await
    }

    async fn connect(&self) -> Result<Conn, HttpError> {
        let connect = async {
            match &self.address {
                Address::Tcp(addr) => rt::connect_tcp(*addr).await,
                #[cfg(unix)]
                Address::Unix(path) => rt::connect_unix(path).await,
                #[cfg(not(unix))]
                Address::Unix(_) => Err(std::io::ErrorKind::Unsupported.into()),
            }
        };
        match rt::timeout(self.connect_timeout, connect).await {
            Some(Ok(stream)) => Ok(Conn::new(stream, self.deadline())),
            Some(Err(e)) => Err(bad_gateway(format!("connecting to {:?}: {e}", self.address))),
            None => Err(gateway_timeout(format!("connecting to {:?}", self.address))),
        }
    }

    /// The request's parameters, as nginx's `fastcgi_params` give them,
    /// encoded as they are made.
    fn params(&self, req: &Request, script: &PhpScript, root: &Dir, length: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        each_var(req, |key, value| {
            // The script's own variables follow; the body's framing is squall's business.
            let key = key.as_str();
            if !matches!(key, "SCRIPT_NAME" | "PATH_INFO" | "CONTENT_LENGTH" | "HTTP_TRANSFER_ENCODING") {
                record::push_param(&mut out, key.as_bytes(), value);
            }
        });
        let mut add = |key: &str, value: &[u8]| record::push_param(&mut out, key.as_bytes(), value);
        let prefix = req.script_name().trim_end_matches('/');
        let script_name = format!("{prefix}{}", script.url);
        add("SCRIPT_FILENAME", script.file.as_os_str().as_encoded_bytes());
        add("SCRIPT_NAME", script_name.as_bytes());
        add("DOCUMENT_URI", script_name.as_bytes());
        add("PATH_INFO", script.path_info.as_bytes());
        add("DOCUMENT_ROOT", root.path().as_os_str().as_encoded_bytes());
        add("CONTENT_LENGTH", length.to_string().as_bytes());
        add("REQUEST_SCHEME", req.protocol().as_bytes());
        add("REDIRECT_STATUS", b"200");
        if req.protocol() == "https" {
            add("HTTPS", b"on");
        }
        for (key, value) in &self.env {
            add(key, value.as_bytes());
        }
        out
    }

    async fn serve(&self, req: Request, script: PhpScript, root: Arc<Dir>) -> Response {
        match self.exchange(req, script, &root).await {
            Ok(response) => response,
            Err(e) => e.into_response(),
        }
    }

    async fn exchange(&self, mut req: Request, script: PhpScript, root: &Dir) -> Result<Response, HttpError> {
        // The body first, whole: a slow client must not hold a worker. It is
        // kept until the answer begins, so the request can go twice.
        let (body, length) = keep_whole(req.take_body(), IN_MEMORY).await?;
        let params = self.params(&req, &script, root, length);
        let permit = match self.permit().await {
            Some(permit) => permit,
            None => {
                log::warn!(target: "squall::fastcgi", "all {} connections busy: 503", self.pool_size);
                let busy = HttpError::new(StatusCode::SERVICE_UNAVAILABLE)
                    .with_message("the application server is busy; retry later")
                    .into_response()
                    .with_header(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
                return Ok(busy);
            }
        };
        let mut head = Vec::new();
        record::push_begin(&mut head, self.keep_alive);
        record::push_stream(&mut head, record::PARAMS, &params);
        record::push_record(&mut head, record::PARAMS, b"");
        // A body in memory goes out with the head, usually in one write; one
        // in a file follows it.
        let file = match &body {
            Spooled::Memory(bytes) => {
                record::push_stream(&mut head, record::STDIN, bytes);
                record::push_record(&mut head, record::STDIN, b"");
                None
            }
            Spooled::File(file) => Some(file),
        };
        let mut stream = self.begin(&head, file).await?;
        drop(body);
        // Records up to the end of the header block.
        let mut stdout = Vec::new();
        let (block, body_start) = loop {
            match next_record(&mut stream, self.read_timeout).await? {
                Record::Stdout(data) => {
                    stdout.extend_from_slice(&data);
                    if let Some(end) = head_end(&stdout) {
                        break (
                            read_header_block(&mut &stdout[..end])
                                .map_err(|why| bad_gateway(format!("the application's header block: {why}")))?,
                            end,
                        );
                    }
                    if stdout.len() > 64 * 1024 {
                        return Err(bad_gateway("a header block over 64 KiB".into()));
                    }
                }
                Record::End => return Err(bad_gateway("the request ended before its header block".into())),
            }
        };
        let head = ResponseHead::parse(&block.status, &block.headers)
            .map_err(|why| bad_gateway(format!("the application's header block: {why}")))?;
        let mut chunks = vec![Bytes::copy_from_slice(&stdout[body_start..])];
        // A small page usually came whole with its header block: then the
        // connection goes back at once and the response has a length.
        loop {
            match stream.buffered_record()? {
                Ok(Record::Stdout(data)) => chunks.push(data),
                Ok(Record::End) => {
                    self.give_back(stream);
                    if req.method() == http::Method::HEAD {
                        // What GET would send, as far as it is known: the
                        // application's own Content-Length, else no length.
                        return Ok(head.into_response(Body::from_stream(futures_lite::stream::empty())));
                    }
                    return Ok(head.into_whole_response(concat(chunks)));
                }
                Err(_) => break,
            }
        }
        let kept = self.keep_alive.then(|| self.kept.clone());
        let rest = Rest { stream, _permit: permit, kept, read_timeout: self.read_timeout };
        Ok(head.into_response(rest.into_body(chunks)))
    }

    /// Sends the request and waits for the first bytes of its answer, on a
    /// kept connection when there is one. A kept connection the server
    /// closed since fails before any answer: the request goes again, once,
    /// on a fresh connection, as nginx retries a cached one. A fresh
    /// connection's failure is the answer (`502`, or `504` for silence).
    async fn begin(&self, head: &[u8], file: Option<&std::fs::File>) -> Result<Conn, HttpError> {
        if let Some(mut kept) = self.keep_alive.then(|| self.kept.take()).flatten() {
            match self.send(&mut kept, head, file, None).await {
                Ok(()) => return Ok(kept),
                Err(Attempt::Unanswered(during, e)) => {
                    log::debug!(target: "squall::fastcgi", "a kept connection failed {during} ({e}): sending again on a fresh one");
                }
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        let _waiting = self.kept.waiting();
        let mut fresh = self.connect().await?;
        self.send(&mut fresh, head, file, Some(&self.kept)).await.map_err(Attempt::into_error)?;
        Ok(fresh)
    }

    /// Sends the head and the body from its file, if it is in one, and
    /// waits for the answer to begin (`fresh`: see [`Conn::answer_begins`]).
    async fn send(
        &self,
        conn: &mut Conn,
        head: &[u8],
        file: Option<&std::fs::File>,
        fresh: Option<&Kept>,
    ) -> Result<(), Attempt> {
        let sent = async {
            conn.send(head, self.send_timeout).await?;
            if let Some(file) = file {
                send_stdin(conn, file, self.send_timeout).await?;
            }
            conn.stream.flush().await
        };
        match sent.await {
            Ok(()) => {}
            // Stalled, not closed: a fresh connection would stall too.
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(Attempt::Failed(send_failed(e))),
            Err(e) => return Err(Attempt::Unanswered("sending the request", e)),
        }
        conn.more = true; // the answer may be there already
        conn.answer_begins(self.read_timeout, fresh).await
    }

    /// A connection whose request ended cleanly, back to the pool if kept.
    fn give_back(&self, conn: Conn) {
        if self.keep_alive {
            self.kept.give_back(conn);
        }
    }
}

/// The chunks of a body as one.
fn concat(mut chunks: Vec<Bytes>) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => Bytes::from(chunks.concat()),
    }
}

/// The index just past the blank line ending a header block.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn bad_gateway(why: String) -> HttpError {
    HttpError::new(StatusCode::BAD_GATEWAY).with_log(format!("FastCGI: {why}"))
}

/// A failed send: `504` when the server stopped taking the request, else `502`.
fn send_failed(e: std::io::Error) -> HttpError {
    match e.kind() {
        std::io::ErrorKind::TimedOut => {
            gateway_timeout("the server took none of the request within the send timeout".into())
        }
        _ => bad_gateway(format!("sending the request: {e}")),
    }
}

fn gateway_timeout(why: String) -> HttpError {
    HttpError::new(StatusCode::GATEWAY_TIMEOUT).with_log(format!("FastCGI: {why}"))
}

impl Drop for FastCgi {
    fn drop(&mut self) {
        if let Some(stop) = self.sweeper.get() {
            stop.fire();
        }
    }
}

impl fmt::Debug for FastCgi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastCgi")
            .field("address", &self.address)
            .field("root", &self.root.given())
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

impl Target for FastCgi {
    fn call(&self, req: Request) -> Dispatch<'_> {
        let path = crate::web::percent_decode(req.path_info().as_bytes(), false).into_owned();
        let Some(root) = self.root.get("squall::fastcgi") else {
            return Dispatch::Decline(req);
        };
        let is_file = |root: &Dir, relative: &str| self.recent.has_file(root, relative);
        // A path that names no script (a static file, a directory without
        // its slash) is the next rule's: static files answer it, and
        // redirect a directory to its slash, as nginx's static module does.
        match find_php_script(&root, &path, self.index.as_deref(), is_file) {
            Some(script) => Dispatch::answer(self.serve(req, script, root)),
            None => Dispatch::Decline(req),
        }
    }
}
