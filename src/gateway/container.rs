//! [`GatewayContainer`]: a gateway app as a route target, and its
//! admission: how many calls may run or wait before a request gets `503`.
//!
//! The pools live in `pool`, the code that runs the app and assembles its
//! response in `driver`.

use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderValue};

use super::buffer;
use super::driver::{Msg, assemble, run_app};
use super::environ::{self, Input};
use super::executor::Bound;
use super::pool::Pool;
use super::{App, Environ, Executor};
use crate::error::HttpError;
use crate::rt;
use crate::web::{Body, Dispatch, IntoResponse, Request, Response, Target};

/// Chunks in flight between the app's thread and the connection, each way.
const CHANNEL_BOUND: usize = 4;

/// Request bodies up to this size are buffered in memory, larger ones in a file.
const IN_MEMORY: usize = 64 * 1024;

/// How the request body reaches the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyMode {
    /// Read whole first (memory, then a temporary file): the default.
    Buffered { in_memory: usize },
    /// Streamed into the app's reader as it arrives (pools only).
    Streamed,
}
/// Mounts a synchronous [`App`] as a route target, running it on an
/// [`Executor`] (squall's `WSGIContainer`).
///
/// It is an ordinary [`Target`]: mount it under a prefix with
/// [`Router::mount`](crate::Router::mount) (the app sees the prefix as
/// `SCRIPT_NAME`), use it as a fallback, or serve it as the whole app.
///
/// # Warning
///
/// The default executor is `Inline`, deprecated: the app then runs on the
/// event loop, one call at a time, and a slow call stalls the server. Choose
/// [`Executor::thread_pool`] (blocking I/O) or [`Executor::rayon`] (CPU work).
/// With a pool the app must be thread-safe (`Send + Sync`), and its calls run
/// concurrently. Taking the default ([`GatewayContainer::new`], or a builder
/// built without [`executor`](GatewayBuilder::executor)) is deprecated and
/// warns at compile time; naming an executor, `Inline` included, does not.
///
/// # Examples
///
/// ```
/// use squall::gateway::{AppIter, Environ, Executor, GatewayContainer, StartResponse};
/// use squall::{get, Request, Router};
///
/// fn legacy(environ: &mut Environ, start: &StartResponse) -> Result<AppIter, squall::gateway::AppError> {
///     start.start("200 OK", [("Content-Type", "text/plain")])?;
///     Ok(AppIter::once(format!("legacy sees {}", environ.get("PATH_INFO").unwrap_or(""))))
/// }
///
/// let app = Router::new()
///     .route("/", get(|_req| async { "native" }))
///     .mount("/legacy", GatewayContainer::builder(legacy).executor(Executor::thread_pool(8)).build());
///
/// # squall::block_on(async {
/// let resp = squall::testing::call(&app, Request::get("/legacy/page")).await;
/// assert_eq!(resp.into_body().bytes().await.unwrap(), "legacy sees /page");
/// # });
/// ```
#[derive(Clone)]
pub struct GatewayContainer {
    state: Arc<ContainerState>,
}

impl std::fmt::Debug for GatewayContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayContainer")
            .field("executor", &self.state.executor)
            .field("admitted", &self.state.admitted.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

struct ContainerState {
    app: Arc<dyn App>,
    executor: Executor,
    body: BodyMode,
    /// `None` runs the app inline.
    pool: Option<Pool>,
    /// Calls allowed to run or wait for a thread (pools only).
    bound: Bound,
    /// Calls running or waiting for a thread.
    admitted: AtomicUsize,
    /// `Inline` runs one call at a time.
    inline_turn: async_lock::Mutex<()>,
}

/// A [`GatewayBuilder`] whose executor has not been chosen: building it
/// takes the deprecated default, `Inline`.
#[derive(Debug)]
pub struct DefaultExecutor;

/// A [`GatewayBuilder`] whose executor was chosen.
#[derive(Debug)]
pub struct ChosenExecutor;

/// Builds a [`GatewayContainer`]; [`executor`](GatewayBuilder::executor)
/// chooses where the app runs.
///
/// # Examples
///
/// ```
/// use squall::gateway::{AppIter, Environ, Executor, GatewayContainer, StartResponse};
///
/// let container = GatewayContainer::builder(|_: &mut Environ, start: &StartResponse| {
///     start.start("204 No Content", Vec::<(String, String)>::new())?;
///     Ok(AppIter::empty())
/// })
/// .executor(Executor::thread_pool(8))
/// .build();
/// assert!(matches!(container.executor(), Executor::ThreadPool(_)));
/// ```
pub struct GatewayBuilder<E = DefaultExecutor> {
    app: Arc<dyn App>,
    executor: Executor,
    body: BodyMode,
    chosen: PhantomData<E>,
}

impl<E> std::fmt::Debug for GatewayBuilder<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayBuilder").field("executor", &self.executor).finish_non_exhaustive()
    }
}

impl<E> GatewayBuilder<E> {
    /// Chooses the executor; see [`Executor`].
    pub fn executor(self, executor: Executor) -> GatewayBuilder<ChosenExecutor> {
        GatewayBuilder { app: self.app, executor, body: self.body, chosen: PhantomData }
    }

    /// How much of a request body is buffered in memory before the rest goes
    /// to a temporary file. Default: 64 KiB.
    ///
    /// By default the container reads every request body whole, on the
    /// event loop, before it admits the call to the executor: a client that
    /// sends its body slowly then costs a buffer, never one of the app's
    /// threads, and the app always finds `CONTENT_LENGTH` set (a chunked body
    /// loses its `HTTP_TRANSFER_ENCODING`). The server's `max_body_size` bounds
    /// it (`413`), and its `body_timeout` (`408`).
    pub fn buffer_in_memory(mut self, bytes: usize) -> Self {
        self.body = BodyMode::Buffered { in_memory: bytes };
        self
    }

    /// Streams each request body into the app as it arrives, instead of
    /// reading it whole first. Default: `false`. Pools only: `Inline` always
    /// reads the body first.
    ///
    /// # Warning
    ///
    /// The app's thread is taken as soon as the request head arrives and is
    /// held while the client sends its body: a handful of clients sending
    /// one byte a second (a slow-body attack) then hold every thread of the
    /// pool, and every other caller gets `503`, until the body timeout. Turn
    /// it on only for an app that must see the body as it comes (uploads
    /// larger than the disk, say), behind a proxy that buffers bodies.
    pub fn stream_request_body(mut self, yes: bool) -> Self {
        self.body = if yes { BodyMode::Streamed } else { BodyMode::Buffered { in_memory: IN_MEMORY } };
        self
    }
}

impl GatewayBuilder<DefaultExecutor> {
    /// Builds the container on the default executor, `Inline`.
    #[deprecated = "runs the app inline on the event loop; choose an executor first, e.g. \
                    .executor(Executor::thread_pool(16))"]
    pub fn build(self) -> GatewayContainer {
        GatewayContainer::start(self.app, self.executor, self.body)
    }
}

impl GatewayBuilder<ChosenExecutor> {
    /// Builds the container.
    ///
    /// # Panics
    ///
    /// If the executor is a rayon pool the container creates and the
    /// operating system refuses its threads.
    pub fn build(self) -> GatewayContainer {
        GatewayContainer::start(self.app, self.executor, self.body)
    }
}

impl GatewayContainer {
    /// A container for `app` on the default executor (`Inline`).
    ///
    /// # Warning
    ///
    /// Deprecated: the app would run on the event loop. Taking the default
    /// warns at compile time, naming an executor does not:
    ///
    /// ```compile_fail
    /// #![deny(deprecated)]
    /// use squall::gateway::{AppIter, Environ, GatewayContainer, StartResponse};
    ///
    /// let app = |_: &mut Environ, _: &StartResponse| Ok(AppIter::empty());
    /// let container = GatewayContainer::new(app); // error: use of deprecated function
    /// ```
    ///
    /// ```
    /// #![deny(deprecated)]
    /// use squall::gateway::{AppIter, Environ, Executor, GatewayContainer, StartResponse};
    ///
    /// let app = |_: &mut Environ, _: &StartResponse| Ok(AppIter::empty());
    /// let pooled = GatewayContainer::builder(app).executor(Executor::thread_pool(16)).build();
    /// let inline = GatewayContainer::builder(app).executor(Executor::Inline).build(); // deliberate: no warning
    /// # let _ = (pooled, inline);
    /// ```
    #[deprecated = "runs the app inline on the event loop; use \
                    GatewayContainer::builder(app).executor(Executor::thread_pool(16)).build()"]
    pub fn new(app: impl App) -> Self {
        let builder = Self::builder(app);
        Self::start(builder.app, builder.executor, builder.body)
    }

    /// A builder for a container of `app`.
    pub fn builder(app: impl App) -> GatewayBuilder {
        let body = BodyMode::Buffered { in_memory: IN_MEMORY };
        GatewayBuilder { app: Arc::new(app), executor: Executor::default(), body, chosen: PhantomData }
    }

    fn start(app: Arc<dyn App>, executor: Executor, body: BodyMode) -> Self {
        let pool = Pool::for_executor(&executor, &app);
        if pool.is_none() {
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                log::warn!(
                    target: "squall::gateway",
                    "a GatewayContainer runs its app inline on the event loop (deprecated): \
                     one slow call stalls the server; use Executor::thread_pool"
                );
            }
        }
        let bound = executor.bound().unwrap_or(Bound { threads: 1, queue: 0 });
        let state = ContainerState {
            app,
            executor,
            body,
            pool,
            bound,
            admitted: AtomicUsize::new(0),
            inline_turn: Default::default(),
        };
        GatewayContainer { state: Arc::new(state) }
    }

    /// The environ the app would receive for `req` (Tornado's
    /// `WSGIContainer.environ`), with an empty input stream.
    pub fn environ(&self, req: &Request) -> Environ {
        environ::build(req, self.state.pool.is_some())
    }

    /// The executor the app runs on.
    pub fn executor(&self) -> &Executor {
        &self.state.executor
    }
}

impl Target for GatewayContainer {
    fn call(&self, req: Request) -> Dispatch<'_> {
        let state = self.state.clone();
        Dispatch::answer(async move {
            match &state.pool {
                None => state.serve_inline(req).await,
                Some(pool) => state.serve_pooled(pool, req).await,
            }
        })
    }
}

/// Releases an admission when a pooled call ends, however it ends.
struct Admission(Arc<ContainerState>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ContainerState {
    /// Takes a slot for a pooled call, if one of the bound's is free.
    fn admit(self: &Arc<Self>) -> Option<Admission> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.bound.threads + self.bound.queue {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Admission(Arc::clone(self)))
    }

    /// The environ for `req`, its body as the app's input: read whole first
    /// (see [`GatewayBuilder::buffer_in_memory`]), or streamed to the app's
    /// thread as it arrives when the container was built to (pools only).
    async fn environ_for(&self, mut req: Request) -> Result<Environ, Response> {
        let mut environ = environ::build(&req, self.pool.is_some());
        let body = req.take_body();
        if body.size_hint() == Some(0) {
            return Ok(environ);
        }
        let in_memory = match self.body {
            BodyMode::Streamed if self.pool.is_some() => {
                let (to_app, from_conn) = async_channel::bounded(CHANNEL_BOUND);
                environ.set_input(Input::stream(from_conn));
                drop(rt::spawn(pump(body, to_app)));
                return Ok(environ);
            }
            BodyMode::Streamed => IN_MEMORY,
            BodyMode::Buffered { in_memory } => in_memory,
        };
        let (input, length) = buffer::read_whole(body, in_memory).await.map_err(IntoResponse::into_response)?;
        environ.set_input(input);
        // The length is known now, and the body no longer chunked.
        environ.set("CONTENT_LENGTH", length.to_string());
        environ.remove("HTTP_TRANSFER_ENCODING");
        Ok(environ)
    }

    async fn serve_inline(&self, req: Request) -> Response {
        let environ = match self.environ_for(req).await {
            Ok(environ) => environ,
            Err(response) => return response,
        };
        let _turn = self.inline_turn.lock().await;
        let mut messages = Vec::new();
        run_app(&*self.app, environ, |m| {
            messages.push(m);
            true
        });
        assemble(futures_lite::stream::iter(messages)).await
    }

    async fn serve_pooled(self: &Arc<Self>, pool: &Pool, req: Request) -> Response {
        let limit = self.bound.threads + self.bound.queue;
        // Full already: answer at once, without reading the body.
        if self.admitted.load(Ordering::Acquire) >= limit {
            return busy(limit);
        }
        // A streamed body needs the thread from the start; a buffered one is
        // read before the call takes a slot, so a slow client holds a buffer
        // here, never a thread.
        let early = match self.body {
            BodyMode::Streamed => match self.admit() {
                Some(admission) => Some(admission),
                None => return busy(limit),
            },
            BodyMode::Buffered { .. } => None,
        };
        let environ = match self.environ_for(req).await {
            Ok(environ) => environ,
            Err(response) => return response,
        };
        let Some(admission) = early.or_else(|| self.admit()) else { return busy(limit) };
        let (to_conn, from_app) = async_channel::bounded(CHANNEL_BOUND);
        let app = self.app.clone();
        pool.run(Box::new(move || {
            // The slot is given back before the message that completes the
            // response, so a client that sends its next request as soon as it
            // has this answer finds the slot free (the thread may still be
            // finishing the body's `close`).
            let mut admission = Some(admission);
            run_app(&*app, environ, |m| {
                if matches!(m, Msg::Whole(..) | Msg::Fail) {
                    admission = None;
                }
                to_conn.send_blocking(m).is_ok()
            });
            drop(admission);
            drop(to_conn);
        }));
        assemble(from_app).await
    }
}

/// The answer when `limit` calls are already running or queued.
fn busy(limit: usize) -> Response {
    log::warn!(target: "squall::gateway", "{limit} calls running or queued: answering 503");
    HttpError::new(StatusCode::SERVICE_UNAVAILABLE)
        .with_message("the legacy app is busy; retry shortly")
        .into_response()
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
}

/// Feeds the request body to the app's blocking reader.
async fn pump(mut body: Body, to_app: async_channel::Sender<io::Result<Bytes>>) {
    while let Some(chunk) = body.chunk().await {
        let failed = chunk.is_err();
        if to_app.send(chunk).await.is_err() || failed {
            return;
        }
    }
}
