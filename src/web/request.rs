//! [`Request`]: what a handler receives.

use std::any::Any;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Extensions, Method, Uri, Version};

use super::Body;
use super::arguments::PathArgs;
use super::client::ClientLink;
use crate::error::HttpError;

/// An HTTP request: head, streamed body, path arguments from routing, and
/// what the connection knows (peer address, scheme).
///
/// # Examples
///
/// A request made in memory, as [`squall::testing`](crate::testing) does:
///
/// ```
/// use squall::Request;
///
/// let req = Request::get("/search?q=squall&page=2").with_header("x-token", "abc");
/// assert_eq!(req.path(), "/search");
/// assert_eq!(req.query_argument("q").unwrap(), "squall");
/// assert_eq!(req.query_argument("missing").unwrap_err().status(), 400);
/// assert_eq!(req.header("x-token"), Some("abc"));
/// ```
#[derive(Debug)]
pub struct Request {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    body: Body,
    path_args: PathArgs,
    /// Length of the path prefix the request is mounted under.
    mount: usize,
    origin: Origin,
    state: Option<AppState>,
    extensions: Extensions,
    /// The connection, when the request came over one of squall's own.
    client: Option<ClientLink>,
}

/// The application state a router gives the requests it routes; see
/// [`Router::with_state`](crate::Router::with_state).
pub(crate) type AppState = Arc<dyn Any + Send + Sync>;

/// Where a request came from, as the connection (or a gateway host) knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    /// The client: the socket peer, or what a trusted proxy reported.
    pub(crate) peer: Option<SocketAddr>,
    /// The socket the request arrived on.
    pub(crate) local: Option<SocketAddr>,
    /// `"http"` or `"https"`.
    pub(crate) scheme: &'static str,
}

impl Origin {
    /// Nothing known: an in-memory request.
    pub(crate) const LOCAL: Origin = Origin { peer: None, local: None, scheme: "http" };
}

/// What a matched rule changed in a request, to undo when its target declines.
#[derive(Debug)]
pub(crate) struct RuleEntry {
    path_args: Option<PathArgs>,
    mount: usize,
}

impl Request {
    /// A request for `uri` with `method`, no headers and an empty body.
    ///
    /// # Panics
    ///
    /// If `uri` is not a valid request target; use [`Request::from_parts`] for
    /// input you do not control.
    pub fn new(method: Method, uri: &str) -> Self {
        let uri = Uri::try_from(uri).unwrap_or_else(|e| panic!("invalid request target {uri:?}: {e}"));
        Self::from_parts(method, uri, Version::HTTP_11, HeaderMap::new(), Body::empty())
    }

    /// A `GET` request for `uri` (see [`Request::new`]).
    pub fn get(uri: &str) -> Self {
        Self::new(Method::GET, uri)
    }

    /// A `POST` request for `uri` carrying `body` (see [`Request::new`]).
    pub fn post(uri: &str, body: impl Into<Body>) -> Self {
        Self::new(Method::POST, uri).with_body(body)
    }

    /// A request from its parts.
    pub fn from_parts(method: Method, uri: Uri, version: Version, headers: HeaderMap, body: Body) -> Self {
        Self::arrived(method, uri, version, headers, body, Origin::LOCAL, None)
    }

    /// A request as it arrived from `origin`.
    pub(crate) fn arrived(
        method: Method,
        uri: Uri,
        version: Version,
        headers: HeaderMap,
        body: Body,
        origin: Origin,
        client: Option<ClientLink>,
    ) -> Self {
        Request {
            method,
            uri,
            version,
            headers,
            body,
            path_args: PathArgs::default(),
            mount: 0,
            origin,
            state: None,
            extensions: Extensions::new(),
            client,
        }
    }

    /// Routing: a rule matched, capturing `args` (none keeps the arguments of
    /// an enclosing rule) and mounting its target `prefix` bytes further down
    /// the path. Returns what [`leave_rule`](Self::leave_rule) restores.
    pub(crate) fn enter_rule(&mut self, args: PathArgs, prefix: usize) -> RuleEntry {
        let path_args = (args != PathArgs::default()).then(|| std::mem::replace(&mut self.path_args, args));
        let entry = RuleEntry { path_args, mount: self.mount };
        self.mount += prefix;
        entry
    }

    /// Routing: a router with application state takes the request; returns
    /// the state it had, to put back if that router declines it.
    pub(crate) fn swap_state(&mut self, state: Option<AppState>) -> Option<AppState> {
        std::mem::replace(&mut self.state, state)
    }

    /// Routing: the rule's target declined; the request is as before the rule.
    pub(crate) fn leave_rule(&mut self, entry: RuleEntry) {
        self.mount = entry.mount;
        if let Some(args) = entry.path_args {
            self.path_args = args;
        }
    }

    /// Adds a header (builder style, for tests and in-memory requests).
    ///
    /// # Panics
    ///
    /// If the name or value is not valid in a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::try_from(name).unwrap_or_else(|e| panic!("invalid header name {name:?}: {e}"));
        let value = HeaderValue::try_from(value).unwrap_or_else(|e| panic!("invalid header value {value:?}: {e}"));
        self.headers.append(name, value);
        self
    }

    /// Replaces the body (builder style).
    pub fn with_body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the peer address (builder style), as the server does from the socket.
    pub fn with_peer(mut self, peer: SocketAddr) -> Self {
        self.origin.peer = Some(peer);
        self
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request target as sent.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// `HTTP/1.0` or `HTTP/1.1`.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The request headers, mutable (for middleware-like handlers).
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// One header's value as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The path, raw (not percent-decoded), without the query.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The raw path prefix this request's target is mounted under (empty at
    /// the root): a gateway app's `SCRIPT_NAME`. See [`Router::mount`](crate::Router::mount).
    pub fn script_name(&self) -> &str {
        self.path().get(..self.mount).unwrap_or("")
    }

    /// The raw path below [`script_name`](Request::script_name): a gateway
    /// app's `PATH_INFO` before decoding.
    pub fn path_info(&self) -> &str {
        self.path().get(self.mount..).unwrap_or("")
    }

    /// The query string without `?`, or `""`.
    pub fn query(&self) -> &str {
        self.uri.query().unwrap_or("")
    }

    /// The arguments the route's pattern captured.
    pub fn path_args(&self) -> &PathArgs {
        &self.path_args
    }

    /// The `index`-th unnamed group of the route's pattern, percent-decoded.
    pub fn path_arg(&self, index: usize) -> Option<&str> {
        self.path_args.get(index)
    }

    /// The group named `name` in the route's pattern, percent-decoded.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.path_args.named(name)
    }

    /// The application state of type `T` that the router routing this
    /// request was made with ([`Router::with_state`](crate::Router::with_state));
    /// nested routers without state of their own pass it on.
    ///
    /// # Errors
    ///
    /// `500 Internal Server Error`, with a log line naming the type, when no
    /// router on the way has state of type `T`: a mistake in the app, not
    /// the client's.
    ///
    /// See [`Router::with_state`](crate::Router::with_state) for an example.
    pub fn state<T: Send + Sync + 'static>(&self) -> Result<&T, HttpError> {
        self.state.as_deref().and_then(|state| state.downcast_ref::<T>()).ok_or_else(|| {
            HttpError::internal(format!(
                "no application state of type {} for {}: give it with Router::with_state",
                std::any::type_name::<T>(),
                self.path()
            ))
        })
    }

    /// The peer's socket address (`None` for Unix sockets and in-memory requests).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.origin.peer
    }

    /// The peer's IP address (Tornado's `remote_ip`).
    pub fn remote_ip(&self) -> Option<IpAddr> {
        self.origin.peer.map(|a| a.ip())
    }

    /// The address of the socket the request arrived on, when known.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.origin.local
    }

    /// `"http"` or `"https"` (Tornado's `protocol`).
    pub fn protocol(&self) -> &str {
        self.origin.scheme
    }

    /// The host the client asked for, with its port if it gave one: the
    /// authority of an absolute target, else the `Host` header, else the
    /// local address.
    pub fn host(&self) -> String {
        if let Some(a) = self.uri.authority() {
            return a.as_str().to_owned();
        }
        match (self.header(header::HOST.as_str()), self.origin.local) {
            (Some(h), _) if !h.is_empty() => h.to_owned(),
            (_, Some(local)) => local.to_string(),
            _ => String::new(),
        }
    }

    /// The host without its port, lowercased (Tornado's `host_name`).
    pub fn host_name(&self) -> String {
        split_host_port(&self.host()).0.to_ascii_lowercase()
    }

    /// `scheme://host/path?query`, as the client addressed it.
    pub fn full_url(&self) -> String {
        let pq = self.uri.path_and_query().map_or("/", |pq| pq.as_str());
        format!("{}://{}{}", self.origin.scheme, self.host(), pq)
    }

    /// Typed extra data, for handlers and wrappers to pass along.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Typed extra data, mutable.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// The body, to read in chunks.
    pub fn body_mut(&mut self) -> &mut Body {
        &mut self.body
    }

    /// Changes the largest body this request may carry, for this request only
    /// (the next request on the connection starts from the server's
    /// `max_body_size` again). Call it before reading the body: an upload
    /// route may allow more than the server default, another route less.
    /// Once reading has begun the limit no longer changes.
    ///
    /// A body over the limit makes reads fail with `413`, which the client
    /// receives whatever the handler answers; a `Content-Length` over it
    /// fails the first read before any body byte (or `100 Continue`) is sent.
    pub fn set_max_body_size(&mut self, bytes: u64) {
        self.body.set_limit(bytes);
    }

    /// The connection this request arrived on, when it did.
    pub(crate) fn client_link(&self) -> Option<&ClientLink> {
        self.client.as_ref()
    }

    /// Takes the body out, leaving an empty one (to stream it elsewhere).
    pub fn take_body(&mut self) -> Body {
        std::mem::take(&mut self.body)
    }
}

/// Splits `host[:port]` at its port, keeping an IPv6 literal (`[::1]:80`)
/// whole: `("[::1]", Some("80"))`, `("example.com", None)`.
pub(crate) fn split_host_port(host: &str) -> (&str, Option<&str>) {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => (&host[..i], Some(&host[i + 1..])),
        _ => (host, None),
    }
}

// A handler's future may borrow its request across an await only if the
// request is `Sync`; keep it so.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<Request>();
};
