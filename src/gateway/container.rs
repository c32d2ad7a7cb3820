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
        GatewayBuilder { app: self.app, executor, chosen: PhantomData }
    }
}

impl GatewayBuilder<DefaultExecutor> {
    /// Builds the container on the default executor, `Inline`.
    #[deprecated = "runs the app inline on the event loop; choose an executor first, e.g. \
                    .executor(Executor::thread_pool(16))"]
    pub fn build(self) -> GatewayContainer {
        GatewayContainer::start(self.app, self.executor)
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
        GatewayContainer::start(self.app, self.executor)
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
        Self::start(Arc::new(app), Executor::default())
    }

    /// A builder for a container of `app`.
    pub fn builder(app: impl App) -> GatewayBuilder {
        GatewayBuilder { app: Arc::new(app), executor: Executor::default(), chosen: PhantomData }
    }

    fn start(app: Arc<dyn App>, executor: Executor) -> Self {
        let pool = Pool::for_executor(&executor);
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
    /// The environ for `req`, its body as the app's input: read whole first
    /// when the app runs inline, streamed to the app's thread otherwise.
    async fn environ_for(&self, mut req: Request) -> Result<Environ, Response> {
        let mut environ = environ::build(&req, self.pool.is_some());
        if self.pool.is_none() {
            let body = req.bytes().await.map_err(IntoResponse::into_response)?;
            environ.set_input(Input::buffered(body));
            return Ok(environ);
        }
        let body = req.take_body();
        if body.size_hint() != Some(0) {
            let (to_app, from_conn) = async_channel::bounded(CHANNEL_BOUND);
            environ.set_input(Input::stream(from_conn));
            drop(rt::spawn(pump(body, to_app)));
        }
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
        let bound = self.bound;
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= bound.threads + bound.queue {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            log::warn!(target: "squall::gateway", "{} calls running or queued: answering 503", bound.threads + bound.queue);
            return busy();
        }
        let admission = Admission(Arc::clone(self));
        let environ = match self.environ_for(req).await {
            Ok(environ) => environ,
            Err(response) => return response,
        };
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

fn busy() -> Response {
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
