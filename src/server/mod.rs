//! The HTTP/1.1 server: [`Server`] and its [`ServerBuilder`], listeners and
//! accept loops, over the private `http1` engine.
//!
//! What does not live here: routing (`routing`) and the request and response
//! types (`web`).

pub(crate) mod http1;
mod listener;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};

use crate::routing::Target;
use crate::{Error, Result, rt};

/// Options shared by every connection of a server.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) no_keep_alive: bool,
    pub(crate) max_header_size: usize,
    pub(crate) max_body_size: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config { no_keep_alive: false, max_header_size: 64 * 1024, max_body_size: 100 * 1024 * 1024 }
    }
}

/// Builds a [`Server`] with non-default options.
///
/// # Examples
///
/// ```
/// use squall::{Router, Server};
///
/// let server = Server::builder()
///     .max_header_size(16 * 1024)
///     .max_body_size(1024 * 1024)
///     .build(Router::new());
/// # let _ = server;
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

    /// The largest request head (request line and headers) accepted, in bytes.
    /// Default: 64 KiB. A larger head gets `431 Request Header Fields Too Large`
    /// and the connection is closed.
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.config.max_header_size = bytes.max(256);
        self
    }

    /// The largest request body accepted, in bytes. Default: 100 MiB. A
    /// `Content-Length` above it gets `413 Content Too Large` before any body
    /// byte is read; a chunked body gets `413` as soon as it passes the limit.
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.config.max_body_size = bytes;
        self
    }

    /// Builds the server for `app`.
    pub fn build(self, app: impl Target) -> Server {
        Server {
            inner: Arc::new(Inner {
                app: Arc::new(app),
                config: Arc::new(self.config),
                stop: rt::Signal::new(),
                accept_loops: Mutex::new(Vec::new()),
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
    stop: rt::Signal,
    accept_loops: Mutex<Vec<rt::JoinHandle<()>>>,
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

    /// Serves a TCP listener bound by the caller (Tornado's `add_sockets`).
    /// Returns its address.
    ///
    /// # Errors
    ///
    /// An I/O error when the listener cannot be switched to non-blocking mode.
    pub fn add_listener(&self, listener: std::net::TcpListener) -> Result<SocketAddr> {
        let addr = listener.local_addr().map_err(|e| Error::io("listener has no address", e))?;
        let listener = rt::adopt_tcp(listener).map_err(|e| Error::io("cannot adopt listener", e))?;
        self.start(listener::tcp(listener, self.inner.app.clone(), self.inner.config.clone(), self.inner.stop.clone()));
        log::info!(target: "squall::server", "listening on http://{addr}");
        Ok(addr)
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
        self.start(listener::unix(
            listener,
            self.inner.app.clone(),
            self.inner.config.clone(),
            self.inner.stop.clone(),
        ));
        Ok(())
    }

    fn start(&self, accept_loop: impl std::future::Future<Output = ()> + Send + 'static) {
        let task = rt::spawn(accept_loop);
        self.inner.accept_loops.lock().unwrap_or_else(|e| e.into_inner()).push(task);
    }

    /// Stops accepting connections on every listener. Connections already
    /// open are served to their end.
    pub fn stop(&self) {
        self.inner.stop.fire();
    }

    /// Waits until [`stop`](Server::stop) has been called and every accept
    /// loop has ended (their listening sockets are closed by then).
    pub async fn wait(&self) {
        self.inner.stop.wait().await;
        let loops = std::mem::take(&mut *self.inner.accept_loops.lock().unwrap_or_else(|e| e.into_inner()));
        for accept_loop in loops {
            accept_loop.await;
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
