//! Helpers for testing squall apps: answer a [`Request`] in memory
//! ([`call`]), feed raw bytes through a whole HTTP/1.1 connection in memory
//! ([`serve_bytes`]), or serve the app on an ephemeral loopback port and talk
//! to it with a small blocking client ([`TestServer`]), as Tornado's
//! `AsyncHTTPTestCase` does.
//!
//! # Examples
//!
//! ```
//! use squall::testing::TestServer;
//! use squall::Router;
//!
//! let app = Router::new().route("/", |_req| async { "Hello, world!" });
//! let server = TestServer::start(app);
//! let resp = server.get("/");
//! assert_eq!(resp.status, 200);
//! assert_eq!(resp.text(), "Hello, world!");
//! ```

mod client;
pub(crate) mod memory;

use std::net::SocketAddr;

pub use client::{TestConnection, TestResponse};

use crate::routing::{Target, answer};
use crate::server::{Server, ServerBuilder};
use crate::web::{Request, Response};

/// Answers `req` with `app` in memory: no socket, no HTTP/1.1 framing. A
/// request no rule takes gets the server's `404`.
///
/// # Examples
///
/// ```
/// use squall::{testing, Request, Router};
///
/// # squall::block_on(async {
/// let app = Router::new().route(r"/hello/(\w+)", |req: Request| async move {
///     format!("Hello, {}!", req.path_arg(0).unwrap_or_default())
/// });
/// let resp = testing::call(&app, Request::get("/hello/ada")).await;
/// assert_eq!(resp.into_body().bytes().await.unwrap(), "Hello, ada!");
/// # });
/// ```
pub async fn call<T: Target + ?Sized>(app: &T, req: Request) -> Response {
    answer(app, req).await
}

/// Feeds `input` to a full HTTP/1.1 connection in memory and returns every
/// byte the server wrote, until the input ends or the server closes.
///
/// # Examples
///
/// ```
/// use squall::{testing, Router};
///
/// # squall::block_on(async {
/// let app = Router::new().route("/", |_req| async { "hi" });
/// let out = testing::serve_bytes(app, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
/// assert!(text.ends_with("\r\n\r\nhi"));
/// # });
/// ```
pub async fn serve_bytes(app: impl Target, input: &[u8]) -> Vec<u8> {
    memory::serve(app, input).await
}

/// An app served on `127.0.0.1` at a free port, stopped when dropped.
///
/// Its client methods block the calling thread (the server runs on the
/// runtime's own threads), with a 10 s read timeout so that a broken server
/// fails the test instead of hanging it.
#[derive(Debug)]
pub struct TestServer {
    server: Server,
    addr: SocketAddr,
}

impl TestServer {
    /// Serves `app` with default options.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub fn start(app: impl Target) -> Self {
        Self::with_builder(Server::builder(), app)
    }

    /// Serves `app` with the options in `builder`.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub fn with_builder(builder: ServerBuilder, app: impl Target) -> Self {
        let server = builder.build(app);
        let addr = server.listen("127.0.0.1:0").unwrap_or_else(|e| panic!("test server cannot listen: {e}"));
        TestServer { server, addr }
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The server, to stop it or wait on it.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// A new keep-alive connection to the server.
    ///
    /// # Panics
    ///
    /// If the connection cannot be made.
    pub fn connect(&self) -> TestConnection {
        TestConnection::open(self.addr).unwrap_or_else(|e| panic!("cannot connect to test server: {e}"))
    }

    /// `GET path` on a new connection.
    ///
    /// # Panics
    ///
    /// If the exchange fails (no connection, no complete response in time).
    pub fn get(&self, path: &str) -> TestResponse {
        self.request("GET", path, &[], b"")
    }

    /// One request on a new connection, with `Content-Length` set when `body`
    /// is not empty.
    ///
    /// # Panics
    ///
    /// If the exchange fails.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> TestResponse {
        let mut conn = self.connect();
        conn.request(method, path, headers, body).unwrap_or_else(|e| panic!("{method} {path} failed: {e}"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.stop();
    }
}
