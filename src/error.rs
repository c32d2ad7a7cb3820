//! The two error layers: [`Error`] for server and I/O faults, [`HttpError`]
//! for a handler that wants to answer with an error status.

use std::fmt;
use std::io;

use http::StatusCode;

/// A `Result` whose error is squall's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A server-side fault: binding a socket, reading a request, a bad option.
///
/// The kind is private; ask with the `is_*` predicates.
///
/// # Examples
///
/// ```
/// let server = squall::Server::new(squall::Router::new());
/// let err = server.listen("not an address").unwrap_err();
/// assert!(err.is_config());
/// ```
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    Io,
    Config,
    Route,
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error { kind: ErrorKind::Io, message: context.into(), source: Some(Box::new(source)) }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Config, message: message.into(), source: None }
    }

    pub(crate) fn route(message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Route, message: message.into(), source: None }
    }

    /// True for an operating-system I/O failure (bind, accept, read, write).
    pub fn is_io(&self) -> bool {
        self.kind == ErrorKind::Io
    }

    /// True for an invalid option or argument (an unparsable address, say).
    pub fn is_config(&self) -> bool {
        self.kind == ErrorKind::Config
    }

    /// True for a routing fault: a bad pattern, or `reverse_url` that cannot be built.
    pub fn is_route(&self) -> bool {
        self.kind == ErrorKind::Route
    }
}

/// The sentence with its causes, as a person reads it (`cannot bind
/// 127.0.0.1:8888: address already in use`): what `main` prints when it
/// returns this error. `{:#?}` shows the fields.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return fmt::Display::fmt(self, f);
        }
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

/// The message, then each cause in turn after `": "`; an operating-system
/// error reads as its description (`address already in use`), without the
/// `(os error 98)` the standard library adds.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut cause = self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static));
        while let Some(error) = cause {
            f.write_str(": ")?;
            match error.downcast_ref::<io::Error>().and_then(io::Error::raw_os_error) {
                Some(code) => write_os_error(f, &error.to_string(), code)?,
                None => write!(f, "{error}")?,
            }
            cause = error.source();
        }
        Ok(())
    }
}

/// `Address already in use (os error 98)` as `address already in use`.
fn write_os_error(f: &mut fmt::Formatter<'_>, text: &str, code: i32) -> fmt::Result {
    let text = text.strip_suffix(&format!(" (os error {code})")).unwrap_or(text);
    let mut chars = text.chars();
    match chars.next() {
        // Lower-case a capital that begins a word, not an acronym ("EOF").
        Some(first) if first.is_uppercase() && chars.clone().next().is_none_or(char::is_lowercase) => {
            write!(f, "{}{}", first.to_lowercase(), chars.as_str())
        }
        _ => f.write_str(text),
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// An HTTP error a handler returns to answer with an error status.
///
/// It carries the status, an optional public message (the response body) and an
/// optional log message (written to the log, never sent). Like Tornado's
/// `HTTPError`, it is the normal way out of a handler: return it with `?`.
///
/// # Examples
///
/// ```
/// use squall::{HttpError, Request};
///
/// async fn item(req: Request) -> Result<String, HttpError> {
///     let id: u32 = req
///         .path_arg(0)
///         .and_then(|s| s.parse().ok())
///         .ok_or_else(|| HttpError::bad_request("item id must be a number"))?;
///     if id > 100 {
///         return Err(HttpError::not_found().with_log(format!("no item {id}")));
///     }
///     Ok(format!("item {id}"))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct HttpError {
    status: StatusCode,
    message: Option<String>,
    log_message: Option<String>,
}

impl HttpError {
    /// An error with this status; the body is the status's reason phrase.
    pub fn new(status: StatusCode) -> Self {
        HttpError { status, message: None, log_message: None }
    }

    /// `400 Bad Request` with a public message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST).with_message(message)
    }

    /// `404 Not Found`.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND)
    }

    /// `500 Internal Server Error` whose cause goes to the log only.
    pub fn internal(log_message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR).with_log(log_message)
    }

    /// Sets the message sent to the client as the response body.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Sets a message written to the log and never sent to the client.
    pub fn with_log(mut self, log_message: impl Into<String>) -> Self {
        self.log_message = Some(log_message.into());
        self
    }

    /// The status the client will see.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The public message, if one was set.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The log-only message, if one was set.
    pub fn log_message(&self) -> Option<&str> {
        self.log_message.as_deref()
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        if let Some(m) = &self.log_message {
            write!(f, " ({m})")?;
        }
        Ok(())
    }
}

impl std::error::Error for HttpError {}

impl From<StatusCode> for HttpError {
    fn from(status: StatusCode) -> Self {
        HttpError::new(status)
    }
}

/// A request body fault keeps its status (400 malformed, 413 too large);
/// any other I/O error inside a handler is the server's fault: `500`, cause logged.
impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        match e.get_ref().and_then(|inner| inner.downcast_ref::<BodyError>()) {
            Some(body) => HttpError::new(body.status).with_message(body.reason).with_log(e.to_string()),
            None => HttpError::internal(e.to_string()),
        }
    }
}

/// Whether the one line for a process without a logger has been written.
static TOLD_WITHOUT_LOGGER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Logs a failure the operator must see — a handler's `500`, a panic — at
/// error level. In a process that installed no logger (the `log` facade is
/// off), where it would vanish, the first one is written to standard error
/// instead, once, with how to see them all.
pub(crate) fn log_failure(target: &str, message: fmt::Arguments<'_>) {
    use std::sync::atomic::Ordering;
    if log::max_level() != log::LevelFilter::Off {
        log::error!(target: target, "{message}");
    } else if !TOLD_WITHOUT_LOGGER.swap(true, Ordering::Relaxed) {
        eprintln!("squall: {message}\nsquall: install a logger, e.g. env_logger, and set RUST_LOG to see every error");
    }
}

/// The message of a caught panic, when it carried one.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// A request body fault, carried inside an `io::Error` so that `?` on a body
/// read turns into the right status through `From<io::Error> for HttpError`.
#[derive(Debug)]
pub(crate) struct BodyError {
    pub(crate) status: StatusCode,
    pub(crate) reason: &'static str,
}

impl BodyError {
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request body: {}", self.reason)
    }
}

impl std::error::Error for BodyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_reads_as_a_sentence_with_its_causes() {
        let taken = io::Error::from_raw_os_error(98); // EADDRINUSE on Linux
        let err = Error::io("cannot bind 127.0.0.1:8888", taken);
        if cfg!(target_os = "linux") {
            assert_eq!(err.to_string(), "cannot bind 127.0.0.1:8888: address already in use");
        }
        assert_eq!(format!("{err:?}"), err.to_string(), "what `main` prints");
        assert!(format!("{err:#?}").contains("kind: Io"), "the fields on request");
        let inner = Error::config("no such file");
        let outer =
            Error { kind: ErrorKind::Config, message: "loading settings".into(), source: Some(Box::new(inner)) };
        assert_eq!(outer.to_string(), "loading settings: no such file");
        let custom = Error::io("reading", io::Error::other("EOF came early"));
        assert_eq!(custom.to_string(), "reading: EOF came early", "no OS error: as it is");
    }
}
