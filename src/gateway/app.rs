//! The app side of the gateway interface: [`App`], [`AppIter`], [`AppError`].

use std::fmt;

use bytes::Bytes;

use super::{Environ, StartResponse};

/// What a gateway app may fail with: any error, boxed.
pub type AppError = Box<dyn std::error::Error + Send + Sync>;

/// A synchronous gateway app, squall's WSGI: it gets an [`Environ`] and a
/// [`StartResponse`], and returns the body as an [`AppIter`].
///
/// Closures `Fn(&mut Environ, &StartResponse) -> Result<AppIter, AppError>`
/// implement it, and so can your own types.
///
/// # Examples
///
/// ```
/// use squall::gateway::{AppError, AppIter, Environ, StartResponse};
///
/// fn hello(environ: &mut Environ, start: &StartResponse) -> Result<AppIter, AppError> {
///     let name = environ.get("PATH_INFO").unwrap_or("/").trim_start_matches('/').to_owned();
///     start.start("200 OK", [("Content-Type", "text/plain")])?;
///     Ok(AppIter::once(format!("Hello, {name}!")))
/// }
/// # let _: &dyn squall::gateway::App = &hello;
/// ```
pub trait App: Send + Sync + 'static {
    /// Handles one request. Call `start_response` before the first body chunk
    /// is produced (inside `call`, or lazily from the iterator).
    ///
    /// # Errors
    ///
    /// An error before the first body byte gives the client a `500`.
    fn call(&self, environ: &mut Environ, start_response: &StartResponse) -> Result<AppIter, AppError>;

    /// Runs `request` — one whole request of this app: [`call`](App::call),
    /// the body's iteration and its `close` — on the executor's thread. The
    /// default runs it as it is; an app that keeps state on the thread for a
    /// request's length overrides it (the Python app keeps the interpreter's
    /// thread state, and with it the request's context variables).
    fn around_request(&self, request: &mut (dyn FnMut() + Send)) {
        request();
    }

    /// Runs `thread` — the whole life of an executor thread the container
    /// starts for this app (a pool worker), serving request after request.
    /// The default runs it as it is; the Python app keeps the thread's
    /// interpreter state for its whole life, instead of one per request.
    fn around_thread(&self, thread: &mut (dyn FnMut() + Send)) {
        thread();
    }
}

impl<F> App for F
where
    F: Fn(&mut Environ, &StartResponse) -> Result<AppIter, AppError> + Send + Sync + 'static,
{
    fn call(&self, environ: &mut Environ, start_response: &StartResponse) -> Result<AppIter, AppError> {
        self(environ, start_response)
    }
}

/// The body a gateway app returns: chunks produced one at a time, and a
/// `close` hook that always runs once, on the executor, when the response is
/// done, failed, or abandoned by the client (PEP 3333's `close()`).
///
/// # Examples
///
/// ```
/// use squall::gateway::AppIter;
///
/// let body = AppIter::from_chunks(["a", "b"]).on_close(|| println!("released"));
/// # drop(body);
/// ```
pub struct AppIter {
    chunks: Box<dyn Iterator<Item = Result<Bytes, AppError>> + Send>,
    close: Option<Box<dyn FnOnce() + Send>>,
}

impl AppIter {
    /// A body from fallible chunks; an error ends the response (a `500` when
    /// nothing was sent yet, else a cut connection).
    pub fn new<I, T>(chunks: I) -> Self
    where
        I: IntoIterator<Item = Result<T, AppError>>,
        I::IntoIter: Send + 'static,
        T: Into<Bytes>,
    {
        AppIter { chunks: Box::new(chunks.into_iter().map(|c| c.map(Into::into))), close: None }
    }

    /// A body from chunks that cannot fail.
    pub fn from_chunks<I, T>(chunks: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
        T: Into<Bytes>,
    {
        AppIter { chunks: Box::new(chunks.into_iter().map(|c| Ok(c.into()))), close: None }
    }

    /// A body of one chunk.
    pub fn once(body: impl Into<Bytes>) -> Self {
        Self::from_chunks(std::iter::once(body.into()))
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self::from_chunks(std::iter::empty::<Bytes>())
    }

    /// Runs `close` once when the body is finished with, on every path.
    pub fn on_close(mut self, close: impl FnOnce() + Send + 'static) -> Self {
        self.close = Some(Box::new(close));
        self
    }

    pub(crate) fn next_chunk(&mut self) -> Option<Result<Bytes, AppError>> {
        self.chunks.next()
    }

    /// True when the iterator says, without being advanced, that it has no
    /// more chunks (`AppIter::once`, vectors); lazy bodies never claim it.
    pub(crate) fn is_exhausted(&self) -> bool {
        self.chunks.size_hint().1 == Some(0)
    }
}

impl Drop for AppIter {
    fn drop(&mut self) {
        if let Some(close) = self.close.take() {
            close();
        }
    }
}

impl fmt::Debug for AppIter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppIter").field("has_close", &self.close.is_some()).finish()
    }
}
