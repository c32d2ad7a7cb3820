//! The HTTP/1.1 server: [`Server`] and its [`ServerBuilder`], listeners and
//! accept loops, over the private `http1` engine; [`process`] for sockets
//! bound early and worker processes; `tls` (feature `tls`) for HTTPS.
//!
//! What a client gets at each limit (every answer is followed by a close):
//!
//! | limit | answer |
//! |---|---|
//! | [`max_header_size`](ServerBuilder::max_header_size) | `414` (request line) or `431` |
//! | 100 header lines | `431` |
//! | [`max_body_size`](ServerBuilder::max_body_size), [`max_buffer_size`](ServerBuilder::max_buffer_size) | `413` |
//! | [`idle_connection_timeout`](ServerBuilder::idle_connection_timeout) | `408` mid-head; a quiet close when idle |
//! | [`body_timeout`](ServerBuilder::body_timeout) | `408` |
//! | [`write_timeout`](ServerBuilder::write_timeout) | a close (the client is not reading) |
//! | [`max_connections`](ServerBuilder::max_connections) | `503` |
//! | malformed or ambiguous requests | `400`, `417`, `501` |
//!
//! Starting: [`Server::listen`], [`Server::add_listener`] /
//! [`Server::add_sockets`] for sockets bound earlier, [`Server::listen_unix`],
//! and [`process::fork_processes`] for several processes. Stopping:
//! [`Server::stop`], [`Server::close_all_connections`], and the graceful
//! [`Server::shutdown`] (also on `SIGTERM`/`SIGINT` with
//! [`Server::shutdown_on_signals`]).
//!
//! What does not live here: routing (`routing`) and the request and response
//! types (`web`).

pub(crate) mod http1;
mod listener;
#[cfg(unix)]
pub mod process;
mod proxy;
#[cfg(feature = "tls")]
pub mod tls;
pub(crate) mod watch;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use proxy::TrustedRange;

use crate::routing::Target;
use crate::{Error, Result, rt};
use watch::{Ending, Registry};

/// Options shared by every connection of a server.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) no_keep_alive: bool,
    pub(crate) max_header_size: usize,
    pub(crate) max_body_size: u64,
    pub(crate) max_buffer_size: u64,
    pub(crate) chunk_size: usize,
    pub(crate) idle_connection_timeout: Option<Duration>,
    pub(crate) body_timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) max_connections: usize,
    pub(crate) decompress_request: bool,
    pub(crate) xheaders: bool,
    pub(crate) trusted_downstream: Vec<TrustedRange>,
    pub(crate) protocol: Option<&'static str>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Arc<tls::ServerConfig>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            no_keep_alive: false,
            max_header_size: 64 * 1024,
            max_body_size: 100 * 1024 * 1024,
            max_buffer_size: 100 * 1024 * 1024,
            chunk_size: 64 * 1024,
            idle_connection_timeout: Some(Duration::from_secs(60)),
            body_timeout: Some(Duration::from_secs(300)),
            write_timeout: Some(Duration::from_secs(60)),
            max_connections: 10_000,
            decompress_request: false,
            xheaders: false,
            trusted_downstream: TrustedRange::LOOPBACK.to_vec(),
            protocol: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// Builds a [`Server`] with non-default options: Tornado's `HTTPServer`
/// arguments, each with the answer a client gets when it reaches the limit.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use squall::{Router, Server};
///
/// let server = Server::builder()
///     .max_header_size(16 * 1024)
///     .max_body_size(1024 * 1024)
///     .idle_connection_timeout(Duration::from_secs(30))
///     .xheaders(true)
///     .trusted_downstream(["10.0.0.0/8"])?
///     .build(Router::new());
/// # let _ = server;
/// # Ok::<_, squall::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ServerBuilder {
    config: Config,
}

impl ServerBuilder {
    /// Closes every connection after its first response (Tornado's
    /// `no_keep_alive`). Default: `false`, connections are kept alive.
    pub fn no_keep_alive(mut self, yes: bool) -> Self {
        self.config.no_keep_alive = yes;
        self
    }

    /// The largest request head (request line and headers) accepted, in
    /// bytes; it also bounds any single line. Default: 64 KiB; at least 256.
    /// A request line that does not end within it gets `414 URI Too Long`, a
    /// larger head `431 Request Header Fields Too Large`, more than 100
    /// header lines `431` too; the connection is then closed.
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.config.max_header_size = bytes.max(256);
        self
    }

    /// The largest request body accepted, in bytes. Default: 100 MiB. A
    /// handler may change it for its own request with
    /// [`Request::set_max_body_size`](crate::Request::set_max_body_size).
    /// A `Content-Length` above it gets `413 Content Too Large` before any
    /// body byte is read (and without `100 Continue`); a chunked or inflated
    /// body gets `413` as soon as it passes the limit. The connection is
    /// then closed.
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.config.max_body_size = bytes;
        self
    }

    /// The largest request body squall collects in memory for a handler that
    /// reads it whole ([`Request::bytes`](crate::Request::bytes), `text`,
    /// `json`, `form`). Default: 100 MiB. Past it the read fails with `413`;
    /// a handler streaming the body with
    /// [`Body::chunk`](crate::Body::chunk) is bounded by `max_body_size` only.
    pub fn max_buffer_size(mut self, bytes: u64) -> Self {
        self.config.max_buffer_size = bytes;
        self
    }

    /// The largest chunk of request body handed to a handler reading it in
    /// chunks. Default: 64 KiB; at least 1.
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.config.chunk_size = bytes.max(1);
        self
    }

    /// How long a connection may sit between requests, and the *total* time
    /// a client has to send a whole request head once the connection is
    /// idle: bytes trickling in do not extend it. Default: 60 s; `None`
    /// waits forever. An idle connection is closed without a word; a
    /// half-received head gets `408 Request Timeout` and a close.
    pub fn idle_connection_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.idle_connection_timeout = timeout.into();
        self
    }

    /// The total time a request body may take to arrive, counted from the
    /// handler's first read. Default: 5 minutes; `None` waits forever. Past
    /// it the read fails and the client gets `408 Request Timeout` and a
    /// close, whatever the handler answers.
    pub fn body_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.body_timeout = timeout.into();
        self
    }

    /// How long a client may go without accepting any byte of its response
    /// before the connection is dropped. Default: 60 s; `None` waits forever.
    /// The client has stopped reading, so it gets no answer: the connection
    /// is closed and the fact logged.
    pub fn write_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.write_timeout = timeout.into();
        self
    }

    /// The most connections open at once. Default: 10 000. A connection
    /// beyond it is answered `503 Service Unavailable` with `Retry-After`
    /// and closed, without reading its request.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.config.max_connections = connections;
        self
    }

    /// Inflates `Content-Encoding: gzip` request bodies before the handler
    /// reads them (Tornado's `decompress_request`). Default: `false`. The
    /// handler sees no `Content-Encoding` or `Content-Length` but an
    /// `X-Consumed-Content-Encoding: gzip`; the inflated size counts against
    /// `max_body_size` (a zip bomb gets `413`) and a corrupt stream gets `400`.
    pub fn decompress_request(mut self, yes: bool) -> Self {
        self.config.decompress_request = yes;
        self
    }

    /// Believes the client address and scheme that a trusted proxy reports
    /// in `Forwarded` (RFC 7239), or `X-Real-Ip` / `X-Forwarded-For` and
    /// `X-Scheme` / `X-Forwarded-Proto` (Tornado's `xheaders`). Default:
    /// `false`. The headers count only when the connection comes from an
    /// address in [`trusted_downstream`](Self::trusted_downstream); invalid
    /// values are ignored. The result is what
    /// [`Request::remote_addr`](crate::Request::remote_addr) and
    /// [`Request::protocol`](crate::Request::protocol) report.
    pub fn xheaders(mut self, yes: bool) -> Self {
        self.config.xheaders = yes;
        self
    }

    /// The proxies whose forwarding headers are believed: addresses or CIDR
    /// ranges. Default: loopback (`127.0.0.0/8`, `::1`). The socket peer
    /// must be in the list, and address lists are walked from the right past
    /// the hops in it. Replaces the default list.
    ///
    /// # Errors
    ///
    /// A configuration error naming an entry that is not an address or range.
    pub fn trusted_downstream<I>(mut self, ranges: I) -> Result<Self>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.config.trusted_downstream = ranges.into_iter().map(|r| r.as_ref().parse()).collect::<Result<_>>()?;
        Ok(self)
    }

    /// Forces the scheme requests report: `"https"` behind a proxy that
    /// terminates TLS (Tornado's `protocol`). Default: the listener's own
    /// (`"https"` with TLS, else `"http"`); with `xheaders`, a trusted
    /// proxy's header still wins.
    ///
    /// # Errors
    ///
    /// A configuration error for anything but `"http"` or `"https"`.
    pub fn protocol(mut self, scheme: &str) -> Result<Self> {
        self.config.protocol = Some(match scheme {
            "http" => "http",
            "https" => "https",
            other => return Err(Error::config(format!("protocol must be http or https, not {other:?}"))),
        });
        Ok(self)
    }

    /// Builds the server for `app`.
    pub fn build(self, app: impl Target) -> Server {
        Server {
            inner: Arc::new(Inner {
                app: Arc::new(app),
                config: Arc::new(self.config),
                registry: Arc::new(Registry::default()),
                stop: rt::Signal::new(),
                drained: rt::Signal::new(),
                sweeping: AtomicBool::new(false),
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }
}

/// An HTTP/1.1 server for one app: listen on TCP addresses, Unix sockets or
/// listeners you bound yourself; stop; wait for the end.
///
/// Cloning gives another handle to the same server.
///
/// # Examples
///
/// ```no_run
/// use squall::{Router, Server};
///
/// squall::block_on(async {
///     let app = Router::new().route("/", |_req| async { "Hello, world!" });
///     let server = Server::new(app);
///     let addr = server.listen("127.0.0.1:8888")?;
///     println!("serving on http://{addr}/");
///     server.wait().await;
///     Ok::<_, squall::Error>(())
/// })?;
/// # Ok::<_, squall::Error>(())
/// ```
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    app: Arc<dyn Target>,
    config: Arc<Config>,
    registry: Arc<Registry>,
    stop: rt::Signal,
    /// Fired when a graceful shutdown has finished.
    drained: rt::Signal,
    sweeping: AtomicBool,
    /// The accept loops.
    tasks: Mutex<Vec<rt::JoinHandle<()>>>,
}

/// What every connection task of a server shares.
pub(crate) struct Shared {
    pub(crate) app: Arc<dyn Target>,
    pub(crate) config: Arc<Config>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) stop: rt::Signal,
}

impl Shared {
    /// A server's worth of state for one connection driven by hand (in memory).
    pub(crate) fn standalone(app: Arc<dyn Target>, config: Config) -> Arc<Self> {
        Arc::new(Shared { app, config: Arc::new(config), registry: Arc::default(), stop: rt::Signal::new() })
    }
}

impl Server {
    /// A server for `app` with default options.
    pub fn new(app: impl Target) -> Self {
        Self::builder().build(app)
    }

    /// A builder for a server with non-default options.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Binds a TCP address (port 0 picks a free port) and starts serving it.
    /// Returns the bound address.
    ///
    /// # Errors
    ///
    /// A configuration error when `addr` does not parse; an I/O error when it
    /// cannot be bound.
    pub fn listen(&self, addr: impl ToSocketAddrs) -> Result<SocketAddr> {
        let addrs: Vec<SocketAddr> =
            addr.to_socket_addrs().map_err(|e| Error::config(format!("invalid listen address: {e}")))?.collect();
        let listener =
            std::net::TcpListener::bind(&addrs[..]).map_err(|e| Error::io(format!("cannot bind {addrs:?}"), e))?;
        self.add_listener(listener)
    }

    /// Serves a TCP listener bound by the caller. Returns its address.
    ///
    /// # Errors
    ///
    /// An I/O error when the listener cannot be switched to non-blocking mode.
    pub fn add_listener(&self, listener: std::net::TcpListener) -> Result<SocketAddr> {
        let addr = listener.local_addr().map_err(|e| Error::io("listener has no address", e))?;
        let listener = rt::adopt_tcp(listener).map_err(|e| Error::io("cannot adopt listener", e))?;
        self.start(listener::tcp(listener, self.shared()));
        let scheme = if self.tls_enabled() { "https" } else { "http" };
        log::info!(target: "squall::server", "listening on {scheme}://{addr}");
        Ok(addr)
    }

    /// Serves sockets bound earlier, by [`process::bind_sockets`] say
    /// (Tornado's `add_sockets`). Returns their addresses.
    ///
    /// # Errors
    ///
    /// As [`Server::add_listener`].
    pub fn add_sockets(&self, listeners: impl IntoIterator<Item = std::net::TcpListener>) -> Result<Vec<SocketAddr>> {
        listeners.into_iter().map(|l| self.add_listener(l)).collect()
    }

    /// Binds a Unix domain socket at `path` and starts serving it.
    ///
    /// # Errors
    ///
    /// An I/O error when the socket cannot be bound (the path exists, say).
    #[cfg(unix)]
    pub fn listen_unix(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = path.as_ref();
        let listener = std::os::unix::net::UnixListener::bind(path)
            .map_err(|e| Error::io(format!("cannot bind {}", path.display()), e))?;
        self.add_unix_listener(listener)
    }

    /// Serves a Unix listener bound by the caller.
    ///
    /// # Errors
    ///
    /// An I/O error when the listener cannot be switched to non-blocking mode.
    #[cfg(unix)]
    pub fn add_unix_listener(&self, listener: std::os::unix::net::UnixListener) -> Result<()> {
        let listener = rt::adopt_unix(listener).map_err(|e| Error::io("cannot adopt listener", e))?;
        self.start(listener::unix(listener, self.shared()));
        Ok(())
    }

    fn shared(&self) -> Arc<Shared> {
        Arc::new(Shared {
            app: self.inner.app.clone(),
            config: self.inner.config.clone(),
            registry: self.inner.registry.clone(),
            stop: self.inner.stop.clone(),
        })
    }

    fn tls_enabled(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.inner.config.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    fn start(&self, accept_loop: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
        if !self.inner.sweeping.swap(true, Ordering::AcqRel) {
            // Detached: it ends by itself once the server is stopped and empty.
            let _detached = rt::spawn(watch::sweep(self.inner.registry.clone(), self.inner.stop.clone()));
        }
        tasks.push(rt::spawn(accept_loop));
    }

    /// How many connections are open.
    pub fn connections(&self) -> usize {
        self.inner.registry.open()
    }

    /// Stops accepting connections on every listener and closes the
    /// listening sockets. Open connections are served on.
    pub fn stop(&self) {
        self.inner.stop.fire();
    }

    /// Closes every open connection now, in-flight requests included, and
    /// waits until they are gone (Tornado's `close_all_connections`, usually
    /// after [`stop`](Server::stop)).
    pub async fn close_all_connections(&self) {
        self.inner.registry.end_all(Ending::Kill);
        self.inner.registry.wait_closed(Instant::now() + Duration::from_secs(5)).await;
    }

    /// Shuts down gracefully: stops accepting, closes idle keep-alive
    /// connections at once, lets requests in flight finish (their responses
    /// carry `Connection: close`, and a request the client had already
    /// pipelined is still answered), and cuts whatever remains after `grace`.
    /// Returns once every connection is closed; `true` when none had to be cut.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        if !self.inner.registry.start_drain() {
            self.inner.drained.wait().await;
            return true;
        }
        self.stop();
        let open = self.inner.registry.open();
        log::info!(target: "squall::server", "draining {open} connection(s), at most {grace:?}");
        let clean = self.inner.registry.wait_closed(deadline).await;
        if !clean {
            let left = self.inner.registry.open();
            log::warn!(target: "squall::server", "drain deadline passed: cutting {left} connection(s)");
            self.close_all_connections().await;
        }
        self.inner.drained.fire();
        clean
    }

    /// Shuts down gracefully ([`shutdown`](Server::shutdown) with `grace`)
    /// when the process receives `SIGTERM` or `SIGINT`; [`wait`](Server::wait)
    /// then returns once the drain is over.
    ///
    /// # Errors
    ///
    /// An I/O error when the signal handlers cannot be installed.
    #[cfg(unix)]
    pub fn shutdown_on_signals(&self, grace: Duration) -> Result<()> {
        let signal = process::termination_signal()?;
        let server = self.clone();
        // Detached: a server that stops otherwise leaves it waiting harmlessly.
        let _detached = rt::spawn(async move {
            let received = signal.wait().await;
            log::info!(target: "squall::server", "{received}: shutting down");
            server.shutdown(grace).await;
        });
        Ok(())
    }

    /// Waits until [`stop`](Server::stop) has been called and every accept
    /// loop has ended (their listening sockets are closed by then), and, when
    /// a graceful shutdown is under way, until it is over.
    pub async fn wait(&self) {
        self.inner.stop.wait().await;
        let tasks = std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            task.await;
        }
        if self.inner.registry.is_draining() {
            self.inner.drained.wait().await;
        }
    }

    /// Listens on `addr` and serves until stopped.
    ///
    /// # Errors
    ///
    /// As [`Server::listen`].
    pub async fn run(&self, addr: impl ToSocketAddrs) -> Result<()> {
        self.listen(addr)?;
        self.wait().await;
        Ok(())
    }
}
