//! [`Environ`]: the CGI meta-variables and streams a gateway app receives,
//! built from a [`Request`] by the rules that fix Tornado's faults.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use bytes::{Buf, Bytes};
use http::header;

use crate::web::{Request, decimal, percent_decode, split_host_port};

/// What a gateway app receives: CGI meta-variables (`REQUEST_METHOD`,
/// `SCRIPT_NAME`, `PATH_INFO`, `HTTP_*`, …), the request body as a blocking
/// reader, an error stream to the log, and flags that tell the truth about
/// the executor.
///
/// Values are bytes where HTTP carries bytes: a path with `%EF` gives a
/// `PATH_INFO` holding the byte `0xEF`, a header value its bytes as sent.
/// [`get`](Self::get) answers the values that are UTF-8 (nearly all are);
/// [`get_bytes`](Self::get_bytes) answers every value as it is.
///
/// # Examples
///
/// ```
/// use squall::gateway::{Executor, GatewayContainer};
/// use squall::{Request, Router};
///
/// let container = GatewayContainer::builder(|_: &mut squall::gateway::Environ, _: &squall::gateway::StartResponse| {
///     Ok(squall::gateway::AppIter::empty())
/// })
/// .executor(Executor::thread_pool(4))
/// .build();
/// let req = Request::get("/a%20b?x=1").with_header("host", "[::1]:8080").with_header("x-tag", "a");
/// let environ = container.environ(&req);
/// assert_eq!(environ.get("PATH_INFO"), Some("/a b"));
/// assert_eq!(environ.get("QUERY_STRING"), Some("x=1"));
/// assert_eq!(environ.get("SERVER_NAME"), Some("[::1]"));
/// assert_eq!(environ.get("SERVER_PORT"), Some("8080"));
/// assert_eq!(environ.get("HTTP_X_TAG"), Some("a"));
/// assert!(environ.multithread());
///
/// let raw = container.environ(&Request::get("/na%EFve.txt"));
/// assert_eq!(raw.get_bytes("PATH_INFO"), Some(&b"/na\xefve.txt"[..]));
/// assert_eq!(raw.get("PATH_INFO"), None); // not UTF-8
/// ```
#[derive(Debug)]
pub struct Environ {
    vars: BTreeMap<Cow<'static, str>, Vec<u8>>,
    input: Input,
    url_scheme: String,
    multithread: bool,
    multiprocess: bool,
    run_once: bool,
}

impl Environ {
    /// One meta-variable as text, when it is present and UTF-8.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// One meta-variable's bytes, as they came.
    pub fn get_bytes(&self, key: &str) -> Option<&[u8]> {
        self.vars.get(key).map(Vec::as_slice)
    }

    /// Sets a meta-variable (to override what squall computed): text or bytes.
    pub fn set(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Vec<u8>>) {
        self.vars.insert(key.into(), value.into());
    }

    /// Removes a meta-variable, returning its bytes.
    pub fn remove(&mut self, key: &str) -> Option<Vec<u8>> {
        self.vars.remove(key)
    }

    /// Every meta-variable and its bytes, sorted by name.
    pub fn vars(&self) -> &BTreeMap<Cow<'static, str>, Vec<u8>> {
        &self.vars
    }

    /// The request body: a blocking reader that streams it (PEP 3333's
    /// `wsgi.input`). It ends at the end of the body, also for chunked
    /// requests that carry no `CONTENT_LENGTH`.
    pub fn input(&mut self) -> &mut Input {
        &mut self.input
    }

    /// The error stream (`wsgi.errors`): each line written goes to the log.
    pub fn errors(&self) -> ErrorStream {
        ErrorStream::named("squall::gateway".into())
    }

    /// `"http"` or `"https"` (`wsgi.url_scheme`).
    pub fn url_scheme(&self) -> &str {
        &self.url_scheme
    }

    /// True when other calls of the app may run at the same time on other
    /// threads (`wsgi.multithread`): false only for `Executor::Inline`.
    pub fn multithread(&self) -> bool {
        self.multithread
    }

    /// True when other processes serve the same app (`wsgi.multiprocess`).
    pub fn multiprocess(&self) -> bool {
        self.multiprocess
    }

    /// True when the app is called once per process (`wsgi.run_once`); never for squall.
    pub fn run_once(&self) -> bool {
        self.run_once
    }

    /// Takes the input stream out (to hand it to another thread), leaving an
    /// empty one.
    pub fn take_input(&mut self) -> Input {
        std::mem::replace(&mut self.input, Input::empty())
    }

    pub(crate) fn set_input(&mut self, input: Input) {
        self.input = input;
    }
}

/// An environ from meta-variables a CGI server set, and the body on `input`
/// (one process per request: multiprocess and run-once).
#[cfg(all(unix, feature = "cgi"))]
pub(crate) fn from_cgi(vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>, input: Input) -> Environ {
    use std::os::unix::ffi::OsStringExt;
    // Names are ASCII by CGI's rules; a variable whose name is not is not one of them.
    let vars: BTreeMap<Cow<'static, str>, Vec<u8>> =
        vars.filter_map(|(k, v)| Some((Cow::Owned(k.into_string().ok()?), v.into_vec()))).collect();
    let https = vars.get("HTTPS").is_some_and(|v| v.eq_ignore_ascii_case(b"on") || v == b"1");
    Environ {
        vars,
        input,
        url_scheme: if https { "https" } else { "http" }.to_owned(),
        multithread: false,
        multiprocess: true,
        run_once: true,
    }
}

/// Builds the environ for `req`; `multithread` describes the executor.
pub(crate) fn build(req: &Request, multithread: bool) -> Environ {
    let mut vars = BTreeMap::new();
    each_var(req, |key, value| {
        let key = match key {
            Key::Fixed(key) => Cow::Borrowed(key),
            Key::Header(key) => Cow::Owned(key.to_owned()),
        };
        vars.insert(key, value.to_vec());
    });
    Environ {
        vars,
        input: Input::empty(),
        url_scheme: req.protocol().to_owned(),
        multithread,
        multiprocess: false,
        run_once: false,
    }
}

/// A meta-variable's name: one of CGI's, or `HTTP_*` from a header.
pub(crate) enum Key<'a> {
    Fixed(&'static str),
    Header(&'a str),
}

impl Key<'_> {
    #[cfg(feature = "fastcgi")]
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Key::Fixed(key) => key,
            Key::Header(key) => key,
        }
    }
}

/// Hands each meta-variable of `req` to `var` once, in no set order:
/// [`build`] collects them, the FastCGI target encodes them as they come
/// (without a map or a copy of each value).
pub(crate) fn each_var(req: &Request, mut var: impl FnMut(Key<'_>, &[u8])) {
    let mut fixed = |key: &'static str, value: &[u8]| var(Key::Fixed(key), value);
    fixed("GATEWAY_INTERFACE", b"CGI/1.1");
    fixed("SERVER_SOFTWARE", b"squall");
    fixed("REQUEST_METHOD", req.method().as_str().as_bytes());
    fixed("SCRIPT_NAME", &percent_decode(req.script_name().as_bytes(), false));
    fixed("PATH_INFO", &percent_decode(req.path_info().as_bytes(), false));
    fixed("QUERY_STRING", req.query().as_bytes());
    let raw_target = req.uri().path_and_query().map_or(req.path(), |pq| pq.as_str());
    fixed("REQUEST_URI", raw_target.as_bytes());
    let protocol = match req.version() {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        other => &format!("{other:?}"),
    };
    fixed("SERVER_PROTOCOL", protocol.as_bytes());
    let (name, port) = server_name_and_port(req);
    fixed("SERVER_NAME", name.as_bytes());
    fixed("SERVER_PORT", port.as_bytes());
    let mut text = [0u8; 15];
    if let Some(peer) = req.remote_addr() {
        fixed("REMOTE_ADDR", &ip_text(peer.ip(), &mut text));
        // Port 0: a proxy reported the client's address without its port.
        if peer.port() != 0 {
            fixed("REMOTE_PORT", decimal(u64::from(peer.port()), &mut [0; 20]));
        }
    }
    if let Some(local) = req.local_addr() {
        fixed("SERVER_ADDR", &ip_text(local.ip(), &mut text));
    }
    // An auth layer's verdict (the app's current user), as RFC 3875 §4.1.11 says.
    if let Some(user) = req.current_user() {
        fixed("REMOTE_USER", user.as_bytes());
        let scheme = req.header("authorization").and_then(|a| a.split_whitespace().next()).unwrap_or("Cookie");
        fixed("AUTH_TYPE", scheme.as_bytes());
    }
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        fixed("CONTENT_TYPE", ct.as_bytes());
    }
    if let Some(cl) = req.headers().get(header::CONTENT_LENGTH) {
        fixed("CONTENT_LENGTH", cl.as_bytes());
    }
    let mut key = String::with_capacity(64);
    for name in req.headers().keys() {
        let name = name.as_str();
        // `_` would collide with the `-` twin after mapping (spoofing);
        // Proxy is httpoxy; the content headers have their own variables.
        if name.contains('_') || name == "proxy" || name == "content-type" || name == "content-length" {
            continue;
        }
        key.clear();
        key.push_str("HTTP_");
        key.extend(name.chars().map(|c| if c == '-' { '_' } else { c.to_ascii_uppercase() }));
        let mut values = req.headers().get_all(name).iter();
        let Some(first) = values.next() else { continue };
        match values.next() {
            None => var(Key::Header(&key), first.as_bytes()),
            Some(second) => {
                let mut joined = [first.as_bytes(), second.as_bytes()].join(&b", "[..]);
                for more in values {
                    joined.extend_from_slice(b", ");
                    joined.extend_from_slice(more.as_bytes());
                }
                var(Key::Header(&key), &joined);
            }
        }
    }
}

/// An address as text; IPv4 (the usual case) by hand, without the
/// formatting machinery that showed in profiles of every request.
fn ip_text(ip: std::net::IpAddr, buf: &mut [u8; 15]) -> Cow<'_, [u8]> {
    let std::net::IpAddr::V4(v4) = ip else {
        return Cow::Owned(ip.to_string().into_bytes());
    };
    let mut n = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        let mut digits = [0u8; 20];
        let digits = decimal(u64::from(octet), &mut digits);
        buf[n..n + digits.len()].copy_from_slice(digits);
        n += digits.len();
    }
    Cow::Borrowed(&buf[..n])
}

/// `SERVER_NAME` and `SERVER_PORT` from the Host the client asked for (IPv6
/// literals kept whole), else from the socket the request arrived on.
fn server_name_and_port(req: &Request) -> (String, String) {
    let default_port = if req.protocol() == "https" { "443" } else { "80" };
    let host = req.uri().authority().map(|a| a.as_str()).or_else(|| req.header("host")).filter(|h| !h.is_empty());
    match host {
        Some(host) => {
            let (name, port) = split_host_port(host);
            (name.to_ascii_lowercase(), port.unwrap_or(default_port).to_owned())
        }
        None => match req.local_addr() {
            Some(local) if local.is_ipv6() => (format!("[{}]", local.ip()), local.port().to_string()),
            Some(local) => (local.ip().to_string(), local.port().to_string()),
            None => ("localhost".to_owned(), default_port.to_owned()),
        },
    }
}

/// The request body as a blocking reader (`wsgi.input`).
#[derive(Debug)]
pub struct Input {
    source: InputSource,
    current: Bytes,
    /// Body bytes read so far.
    read: u64,
}

enum InputSource {
    /// Everything is in `current`.
    Buffered,
    /// Chunks arrive from the connection through a bounded channel.
    Stream(async_channel::Receiver<io::Result<Bytes>>),
    /// A blocking reader (a CGI program's standard input).
    #[cfg_attr(not(feature = "cgi"), allow(dead_code))]
    Reader(Box<dyn Read + Send>),
}

impl std::fmt::Debug for InputSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InputSource::Buffered => "Buffered",
            InputSource::Stream(_) => "Stream",
            InputSource::Reader(_) => "Reader",
        })
    }
}

impl Input {
    pub(crate) fn empty() -> Self {
        Self::buffered(Bytes::new())
    }

    pub(crate) fn buffered(body: Bytes) -> Self {
        Input { source: InputSource::Buffered, current: body, read: 0 }
    }

    #[cfg_attr(not(feature = "cgi"), allow(dead_code))]
    pub(crate) fn reader(reader: Box<dyn Read + Send>) -> Self {
        Input { source: InputSource::Reader(reader), current: Bytes::new(), read: 0 }
    }

    pub(crate) fn stream(chunks: async_channel::Receiver<io::Result<Bytes>>) -> Self {
        Input { source: InputSource::Stream(chunks), current: Bytes::new(), read: 0 }
    }

    /// How many body bytes the app has read.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let InputSource::Reader(reader) = &mut self.source {
            let n = reader.read(buf)?;
            self.read += n as u64;
            return Ok(n);
        }
        while self.current.is_empty() {
            match &self.source {
                InputSource::Buffered | InputSource::Reader(_) => return Ok(0),
                // Blocks this executor thread until the connection delivers a chunk.
                InputSource::Stream(chunks) => match chunks.recv_blocking() {
                    Ok(chunk) => self.current = chunk?,
                    Err(_) => return Ok(0),
                },
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        self.read += n as u64;
        Ok(n)
    }
}

/// The error stream (`wsgi.errors`): writes go to the log at INFO, a line
/// at a time, under the target `squall::gateway` (a Python app's under its
/// own name, `module:callable`). Apps write their own news there (Radicale
/// its requests, Django its warnings); an app that fails is logged by the
/// container, at ERROR.
#[derive(Debug)]
pub struct ErrorStream {
    line: Vec<u8>,
    target: std::sync::Arc<str>,
}

impl ErrorStream {
    /// A stream whose lines are logged under `target`.
    pub(crate) fn named(target: std::sync::Arc<str>) -> Self {
        ErrorStream { line: Vec::new(), target }
    }
}

impl Write for ErrorStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &b in buf {
            if b == b'\n' {
                self.flush()?;
            } else {
                self.line.push(b);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.line.is_empty() {
            log::info!(target: &self.target, "{}", String::from_utf8_lossy(&self.line));
            self.line.clear();
        }
        Ok(())
    }
}

impl Drop for ErrorStream {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_ports_as_text() {
        let mut buf = [0u8; 15];
        for ip in ["0.0.0.0", "127.0.0.1", "10.20.100.255", "255.255.255.255"] {
            assert_eq!(&ip_text(ip.parse().unwrap(), &mut buf)[..], ip.as_bytes());
        }
        assert_eq!(&ip_text("::1".parse().unwrap(), &mut buf)[..], b"::1");
        for port in [0u16, 7, 80, 65535] {
            assert_eq!(decimal(u64::from(port), &mut [0; 20]), port.to_string().as_bytes());
        }
    }
}
