//! [`Response`] and [`IntoResponse`]: what a handler returns.

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

use super::Body;
use super::upgrade::{OnUpgrade, Upgraded};
use crate::error::HttpError;

/// An HTTP response: status, headers and a [`Body`].
///
/// The connection adds `Date`, `Server`, `Content-Length` or chunked framing,
/// and `Connection`; a handler's own values for the framing headers are not
/// echoed.
///
/// # Examples
///
/// ```
/// use squall::Response;
/// use http::{header, StatusCode};
///
/// let r = Response::text("created").with_status(StatusCode::CREATED);
/// assert_eq!(r.status(), 201);
/// assert_eq!(r.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
///
/// let r = Response::redirect("/login");
/// assert_eq!(r.status(), 302);
/// assert_eq!(r.headers()[header::LOCATION], "/login");
///
/// let r = Response::json(&serde_json::json!({"ok": true}));
/// assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
/// ```
#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
    upgrade: Option<OnUpgrade>,
    /// Set when the response answers an error ([`HttpError`], a panic, no
    /// route): what an app's error page may show.
    error: Option<Box<ErrorNote>>,
    /// A reason phrase other than the standard one for the status.
    reason: Option<Box<str>>,
}

/// What an error response says beyond its status.
#[derive(Debug, Clone, Default)]
pub(crate) struct ErrorNote {
    /// For the client ([`HttpError::with_message`]).
    pub(crate) message: Option<String>,
    /// For the log, and for the page only in debug.
    pub(crate) detail: Option<String>,
}

impl Response {
    /// An empty response with this status.
    pub fn new(status: StatusCode) -> Self {
        Response { status, headers: HeaderMap::new(), body: Body::empty(), upgrade: None, error: None, reason: None }
    }

    /// `200 OK` with a `text/plain; charset=utf-8` body.
    pub fn text(body: impl Into<Body>) -> Self {
        Self::with_type("text/plain; charset=utf-8", body)
    }

    /// `200 OK` with a `text/html; charset=utf-8` body.
    pub fn html(body: impl Into<Body>) -> Self {
        Self::with_type("text/html; charset=utf-8", body)
    }

    /// `200 OK` with `value` serialized as an `application/json` body. A value
    /// that cannot be serialized (a map with non-string keys) gives a logged `500`.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(bytes) => Self::with_type("application/json", bytes),
            Err(e) => HttpError::internal(format!("cannot serialize JSON response: {e}")).into_response(),
        }
    }

    /// `200 OK` whose body is produced chunk by chunk (see [`Body::from_stream`]).
    pub fn stream(body: Body) -> Self {
        Response { status: StatusCode::OK, headers: HeaderMap::new(), body, upgrade: None, error: None, reason: None }
    }

    /// `302 Found` to `location`.
    pub fn redirect(location: &str) -> Self {
        Self::redirect_with(StatusCode::FOUND, location)
    }

    /// `301 Moved Permanently` to `location`.
    pub fn redirect_permanent(location: &str) -> Self {
        Self::redirect_with(StatusCode::MOVED_PERMANENTLY, location)
    }

    fn redirect_with(status: StatusCode, location: &str) -> Self {
        match HeaderValue::try_from(location) {
            Ok(value) => Response::new(status).with_header(header::LOCATION, value),
            Err(_) => {
                HttpError::internal(format!("redirect location is not a valid header: {location:?}")).into_response()
            }
        }
    }

    fn with_type(content_type: &'static str, body: impl Into<Body>) -> Self {
        Response::new(StatusCode::OK)
            .with_header(header::CONTENT_TYPE, HeaderValue::from_static(content_type))
            .with_body(body)
    }

    /// Sets the status (builder style).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Sets a header, replacing earlier values (builder style).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Replaces the body (builder style).
    pub fn with_body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The status, mutable.
    pub fn status_mut(&mut self) -> &mut StatusCode {
        &mut self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers, mutable.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The body, mutable.
    pub fn body_mut(&mut self) -> &mut Body {
        &mut self.body
    }

    /// `101 Switching Protocols` to `protocol` (the `Upgrade` header's
    /// token); once it is written, the connection runs `on_upgrade` with the
    /// [`Upgraded`] stream, and closes when it returns. The handler checks
    /// the request's `Upgrade` header and answers otherwise when it does not
    /// apply. The connection upgrades only an HTTP/1.1 request without a
    /// body; for another it answers `400` instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
    /// use squall::{get, Request, Response, Router};
    ///
    /// // A toy protocol: the server echoes what it reads until the client leaves.
    /// let app = Router::new().route(
    ///     "/echo",
    ///     get(|req: Request| async move {
    ///         if !req.header("upgrade").is_some_and(|p| p.eq_ignore_ascii_case("echo")) {
    ///             return Response::text("send Upgrade: echo\n").with_status(http::StatusCode::UPGRADE_REQUIRED);
    ///         }
    ///         Response::upgrade("echo", |mut io| async move {
    ///             let mut buf = [0u8; 1024];
    ///             while let Ok(n @ 1..) = io.read(&mut buf).await {
    ///                 if io.write_all(&buf[..n]).await.is_err() {
    ///                     break;
    ///                 }
    ///             }
    ///         })
    ///     }),
    /// );
    /// # let _ = app;
    /// ```
    pub fn upgrade<F, Fut>(protocol: &str, on_upgrade: F) -> Self
    where
        F: FnOnce(Upgraded) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut response = Response::new(StatusCode::SWITCHING_PROTOCOLS);
        if let Ok(protocol) = HeaderValue::try_from(protocol) {
            response.headers.insert(header::UPGRADE, protocol);
        }
        response.upgrade = Some(OnUpgrade(Box::new(move |io| Box::pin(on_upgrade(io)))));
        response
    }

    /// Sends `reason` as the status line's reason phrase instead of the
    /// standard one (Tornado's `set_status(code, reason)`; a CGI program's
    /// `Status: 299 Fine`). One with control characters is ignored.
    pub fn with_reason(mut self, reason: &str) -> Self {
        if !reason.chars().any(char::is_control) {
            self.reason = Some(reason.into());
        }
        self
    }

    /// The reason phrase set with [`with_reason`](Self::with_reason), if any.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Marks the response as the answer to an error.
    pub(crate) fn with_error_note(mut self, note: ErrorNote) -> Self {
        self.error = Some(Box::new(note));
        self
    }

    /// What the error this response answers said, taken out.
    pub(crate) fn take_error_note(&mut self) -> Option<ErrorNote> {
        self.error.take().map(|b| *b)
    }

    /// The function to run on the upgraded connection, taken out.
    pub(crate) fn take_upgrade(&mut self) -> Option<OnUpgrade> {
        self.upgrade.take()
    }

    /// Splits into status, headers and body.
    pub fn into_parts(self) -> (StatusCode, HeaderMap, Body) {
        (self.status, self.headers, self.body)
    }

    /// Takes the body, leaving an empty one.
    pub fn into_body(self) -> Body {
        self.body
    }
}

/// Anything a handler may return.
///
/// Implemented for [`Response`], text and bytes (`200`, with a content type
/// for text), [`StatusCode`] (an empty response), `(StatusCode, T)`,
/// [`HttpError`], [`Json`], and `Result<T, E>` of any two of them.
///
/// # Examples
///
/// ```
/// use squall::{HttpError, IntoResponse};
/// use http::StatusCode;
///
/// assert_eq!("hi".into_response().status(), 200);
/// assert_eq!((StatusCode::CREATED, "made").into_response().status(), 201);
/// let failed: Result<String, HttpError> = Err(HttpError::not_found());
/// assert_eq!(failed.into_response().status(), 404);
/// ```
pub trait IntoResponse {
    /// Converts into a response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        Response::new(StatusCode::OK)
            .with_header(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))
            .with_body(self)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Bytes::from(self).into_response()
    }
}

impl IntoResponse for Body {
    fn into_response(self) -> Response {
        Response::stream(self)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(StatusCode::OK)
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        self.1.into_response().with_status(self.0)
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(ok) => ok.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// Answers with the status and the public message (or the reason phrase) as a
/// text body; the log message, if any, is logged (warn below 500, error from 500).
impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self.log_message() {
            Some(log) if status.is_server_error() => {
                crate::error::log_failure("squall::web", format_args!("{status}: {log}"))
            }
            Some(log) => log::warn!(target: "squall::web", "{status}: {log}"),
            None => {}
        }
        let body = match self.message() {
            Some(m) => m.to_owned(),
            None => status.canonical_reason().unwrap_or("Error").to_owned(),
        };
        let note =
            ErrorNote { message: self.message().map(str::to_owned), detail: self.log_message().map(str::to_owned) };
        Response::text(body).with_status(status).with_error_note(note)
    }
}

/// A value serialized as a JSON response body.
///
/// # Examples
///
/// ```
/// use squall::{Json, Request};
///
/// async fn status(_req: Request) -> Json<serde_json::Value> {
///     Json(serde_json::json!({"status": "ok"}))
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        Response::json(&self.0)
    }
}

/// The reason phrase squall writes after `status` in every status line (the
/// HTTP/1.1 head, a gateway app's status, a CGI `Status:` header):
/// the registered one, or `Unknown`.
pub(crate) fn reason_phrase(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Unknown")
}

/// A status as code and reason phrase, `404 Not Found`.
pub(crate) struct StatusLine(pub(crate) StatusCode);

impl std::fmt::Display for StatusLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0.as_str(), reason_phrase(self.0))
    }
}

/// The `Content-Length` a response declares, when it is a valid number.
/// A number's decimal digits, written into the end of `buf` (enough for any `u64`).
pub(crate) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// `301 Moved Permanently` to `path` with a trailing slash, keeping the
/// query: a directory asked for without its slash, as nginx answers it, so
/// that relative links inside it resolve.
pub(crate) fn slash_redirect(path: &str, query: &str) -> Response {
    match query {
        "" => Response::redirect_permanent(&format!("{path}/")),
        query => Response::redirect_permanent(&format!("{path}/?{query}")),
    }
}

pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}
