//! [`ServerBuilder`] and the options it sets: Tornado's `HTTPServer`
//! arguments, each with its default and the answer a client gets at the limit.

use std::sync::Arc;
use std::time::Duration;

use super::{Server, TrustedRange};
use crate::error::{Error, Result};
use crate::routing::Target;

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
    pub(crate) access_log: super::AccessLog,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Arc<super::tls::ServerConfig>>,
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
            access_log: super::AccessLog::log(),
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
    pub(super) config: Config,
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

    /// Where the access log goes (a line per request). Default:
    /// [`AccessLog::log`](super::AccessLog::log), the `log` crate's target
    /// `squall::access`; [`AccessLog::stderr`](super::AccessLog::stderr)
    /// and its kind write the lines through a buffer, at a fraction of the
    /// cost.
    pub fn access_log(mut self, log: super::AccessLog) -> Self {
        self.config.access_log = log;
        self
    }

    /// Builds the server for `app`.
    pub fn build(self, app: impl Target) -> Server {
        Server::with_config(Arc::new(app), self.config)
    }
}
