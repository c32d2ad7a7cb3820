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
//! [`Flags`] gives every option as a command-line flag.
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

mod access_log;
#[cfg(unix)]
pub mod activation;
mod builder;
mod flags;
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

pub use access_log::AccessLog;
pub(crate) use builder::Config;
pub use builder::ServerBuilder;
pub use flags::Flags;
pub use proxy::TrustedRange;

use crate::error::{Error, Result};
use crate::routing::Target;
use crate::rt;
use watch::{Ending, Registry};

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
    state: Arc<ServerState>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.state.core.config)
            .field("connections", &self.connections())
            .field("stopped", &self.state.core.stop.is_fired())
            .finish_non_exhaustive()
    }
}

struct ServerState {
    core: Arc<Core>,
    /// Fired when a graceful shutdown has finished.
    drained: rt::Signal,
    sweeping: AtomicBool,
    /// The accept loops.
    tasks: Mutex<Vec<rt::JoinHandle<()>>>,
}

/// What every connection of a server shares: the app, the options, the
/// registry of open connections, and the stop signal.
pub(crate) struct Core {
    pub(crate) app: Arc<dyn Target>,
    pub(crate) config: Config,
    pub(crate) registry: Arc<Registry>,
    pub(crate) stop: rt::Signal,
}

impl Core {
    /// A server's worth of state for one connection driven by hand (in memory).
    pub(crate) fn standalone(app: Arc<dyn Target>, config: Config) -> Arc<Self> {
        Arc::new(Core { app, config, registry: Arc::default(), stop: rt::Signal::new() })
    }
}

impl Server {
    fn with_config(app: Arc<dyn Target>, config: Config) -> Self {
        let core = Arc::new(Core { app, config, registry: Arc::default(), stop: rt::Signal::new() });
        let state = ServerState {
            core,
            drained: rt::Signal::new(),
            sweeping: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
        };
        Server { state: Arc::new(state) }
    }

    /// A server for `app` with default options.
    pub fn new(app: impl Target) -> Self {
        Self::builder().build(app)
    }

    /// A builder for a server with non-default options.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Binds a TCP address (port 0 picks a free port) and starts serving it.
    /// Returns the bound address. When the process that started this one
    /// handed it listening sockets ([`activation`]: systemd, `systemfd`),
    /// serves those instead of binding `addr`, and returns the first one's.
    ///
    /// # Errors
    ///
    /// A configuration error when `addr` does not parse; an I/O error when it
    /// cannot be bound.
    pub fn listen(&self, addr: impl ToSocketAddrs) -> Result<SocketAddr> {
        #[cfg(unix)]
        if let Some(handed) = activation::handed_sockets()? {
            let bound = self.add_sockets(handed)?;
            return bound.first().copied().ok_or_else(|| Error::config("LISTEN_FDS handed over no socket"));
        }
        let addrs: Vec<SocketAddr> =
            addr.to_socket_addrs().map_err(|e| Error::config(format!("invalid listen address: {e}")))?.collect();
        let listener = std::net::TcpListener::bind(&addrs[..]).map_err(|e| {
            let addrs: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
            Error::io(format!("cannot bind {}", addrs.join(", ")), e)
        })?;
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
        self.start(listener::tcp(listener, self.state.core.clone()));
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
        self.start(listener::unix(listener, self.state.core.clone()));
        Ok(())
    }

    fn tls_enabled(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.state.core.config.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    fn start(&self, accept_loop: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = rt::lock(&self.state.tasks);
        if !self.state.sweeping.swap(true, Ordering::AcqRel) {
            // Detached: it ends by itself once the server is stopped and empty.
            let _detached = rt::spawn(watch::sweep(self.state.core.registry.clone(), self.state.core.stop.clone()));
        }
        tasks.push(rt::spawn(accept_loop));
    }

    /// How many connections are open.
    pub fn connections(&self) -> usize {
        self.state.core.registry.open()
    }

    /// Stops accepting connections on every listener and closes the
    /// listening sockets. Open connections are served on.
    pub fn stop(&self) {
        self.state.core.stop.fire();
    }

    /// Closes every open connection now, in-flight requests included, and
    /// waits until they are gone (Tornado's `close_all_connections`, usually
    /// after [`stop`](Server::stop)).
    pub async fn close_all_connections(&self) {
        self.state.core.registry.end_all(Ending::Kill);
        self.state.core.registry.wait_closed(Instant::now() + Duration::from_secs(5)).await;
    }

    /// Shuts down gracefully: stops accepting, closes idle keep-alive
    /// connections at once, lets requests in flight finish (their responses
    /// carry `Connection: close`, and a request the client had already
    /// pipelined is still answered), and cuts whatever remains after `grace`.
    /// Returns once every connection is closed; `true` when none had to be cut.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        if !self.state.core.registry.start_drain() {
            self.state.drained.wait().await;
            return true;
        }
        self.stop();
        let open = self.state.core.registry.open();
        log::info!(target: "squall::server", "draining {open} connection(s), at most {grace:?}");
        let clean = self.state.core.registry.wait_closed(deadline).await;
        if !clean {
            let left = self.state.core.registry.open();
            log::warn!(target: "squall::server", "drain deadline passed: cutting {left} connection(s)");
            self.close_all_connections().await;
        }
        self.state.drained.fire();
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
        self.state.core.stop.wait().await;
        let tasks = std::mem::take(&mut *rt::lock(&self.state.tasks));
        for task in tasks {
            task.await;
        }
        if self.state.core.registry.is_draining() {
            self.state.drained.wait().await;
        }
        // What the access log gathered goes out before the program ends.
        self.state.core.config.access_log.flush();
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
