//! [`GatewayContainer`]: a gateway app as a route target.

use std::collections::VecDeque;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

use bytes::Bytes;
use futures_lite::StreamExt;
use http::StatusCode;
use http::header::{self, HeaderValue};

use super::environ::{self, Input};
use super::start::Head;
use super::{App, Environ, Executor, StartResponse};
use crate::error::panic_message;
use crate::routing::{Dispatch, Target};
use crate::web::{Body, IntoResponse, Request, Response};
use crate::{HttpError, rt};

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
/// concurrently.
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
    inner: Arc<Inner>,
}

struct Inner {
    app: Arc<dyn App>,
    executor: Executor,
    /// `None` runs the app inline.
    pool: Option<Pool>,
    /// Calls allowed to run or wait for a thread (pools only).
    bound: super::executor::Bound,
    /// Calls running or waiting for a thread.
    admitted: AtomicUsize,
    /// `Inline` runs one call at a time.
    inline_turn: async_lock::Mutex<()>,
}

enum Pool {
    Blocking(Workers),
    Rayon(Arc<rayon::ThreadPool>),
}

type Job = Box<dyn FnOnce() + Send>;

/// Up to `threads` worker loops hosted on the `blocking` pool, started as
/// needed and fed through a lock-free queue. One `blocking` task per call
/// would take the pool's mutex and condvar for every request.
struct Workers {
    jobs: async_channel::Sender<Job>,
    queue: async_channel::Receiver<Job>,
    started: AtomicUsize,
    /// Idle workers minus queued jobs: a job submitted when it is not
    /// positive has no worker to take it at once.
    free: Arc<AtomicIsize>,
    spinning: Arc<AtomicUsize>,
    threads: usize,
}

/// Rounds an idle worker yields, polling the queue, before it parks: under
/// load the next job usually arrives within them, and parking and waking a
/// thread costs two context switches and a futex call.
const SPIN_ROUNDS: usize = 64;
/// Workers that may spin at once; the others park at once, so a large idle
/// pool does not crowd the event loop off the CPU.
const MAX_SPINNING: usize = 16;

fn next_job(queue: &async_channel::Receiver<Job>, spinning: &AtomicUsize) -> Result<Job, async_channel::RecvError> {
    if spinning.fetch_add(1, Ordering::AcqRel) < MAX_SPINNING {
        for _ in 0..SPIN_ROUNDS {
            match queue.try_recv() {
                Ok(job) => {
                    spinning.fetch_sub(1, Ordering::AcqRel);
                    return Ok(job);
                }
                Err(async_channel::TryRecvError::Closed) => break,
                Err(async_channel::TryRecvError::Empty) => std::thread::yield_now(),
            }
        }
    }
    spinning.fetch_sub(1, Ordering::AcqRel);
    queue.recv_blocking()
}

impl Workers {
    fn new(threads: usize) -> Self {
        let (jobs, queue) = async_channel::unbounded();
        Workers {
            jobs,
            queue,
            started: AtomicUsize::new(0),
            free: Arc::new(AtomicIsize::new(0)),
            spinning: Arc::new(AtomicUsize::new(0)),
            threads,
        }
    }

    fn run(&self, job: Job) {
        let start_one =
            || self.started.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.threads).then_some(n + 1));
        if self.free.fetch_sub(1, Ordering::AcqRel) <= 0 && start_one().is_ok() {
            let (queue, free, spinning) = (self.queue.clone(), self.free.clone(), self.spinning.clone());
            blocking::unblock(move || {
                loop {
                    free.fetch_add(1, Ordering::AcqRel);
                    match next_job(&queue, &spinning) {
                        Ok(job) => job(),
                        Err(_) => return, // the container is gone
                    }
                }
            })
            .detach();
        }
        // The queue is unbounded and never closed while `self` lives; admission
        // already bounds what waits in it.
        let _ = self.jobs.try_send(job);
    }
}

/// Builds a [`GatewayContainer`].
pub struct GatewayBuilder {
    app: Arc<dyn App>,
    executor: Executor,
}

impl GatewayBuilder {
    /// Chooses the executor. Default: `Inline` (deprecated; see [`Executor`]).
    pub fn executor(mut self, executor: Executor) -> Self {
        self.executor = executor;
        self
    }

    /// Builds the container.
    ///
    /// # Panics
    ///
    /// If the executor is a rayon pool the container creates and the
    /// operating system refuses its threads.
    pub fn build(self) -> GatewayContainer {
        let pool = match &self.executor {
            Executor::ThreadPool(bound) => Some(Pool::Blocking(Workers::new(bound.threads))),
            Executor::Rayon(_, Some(pool)) => Some(Pool::Rayon(pool.clone())),
            Executor::Rayon(bound, None) => Some(Pool::Rayon(Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(bound.threads)
                    .thread_name(|i| format!("squall-gateway-{i}"))
                    .panic_handler(
                        |p| log::error!(target: "squall::gateway", "rayon job panicked: {}", panic_message(&p)),
                    )
                    .build()
                    .unwrap_or_else(|e| panic!("cannot start the gateway's rayon pool: {e}")),
            ))),
            #[allow(deprecated)]
            Executor::Inline => {
                static WARNED: AtomicBool = AtomicBool::new(false);
                if !WARNED.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        target: "squall::gateway",
                        "a GatewayContainer runs its app inline on the event loop (the deprecated default): \
                         one slow call stalls the server; use Executor::thread_pool"
                    );
                }
                None
            }
        };
        let bound = self.executor.bound().unwrap_or(super::executor::Bound { threads: 1, queue: 0 });
        GatewayContainer {
            inner: Arc::new(Inner {
                app: self.app,
                executor: self.executor,
                pool,
                bound,
                admitted: AtomicUsize::new(0),
                inline_turn: async_lock::Mutex::new(()),
            }),
        }
    }
}

impl GatewayContainer {
    /// A container for `app` on the default executor (`Inline`, deprecated).
    pub fn new(app: impl App) -> Self {
        Self::builder(app).build()
    }

    /// A builder for a container of `app`.
    pub fn builder(app: impl App) -> GatewayBuilder {
        GatewayBuilder { app: Arc::new(app), executor: Executor::default() }
    }

    /// The environ the app would receive for `req` (Tornado's
    /// `WSGIContainer.environ`), with an empty input stream.
    pub fn environ(&self, req: &Request) -> Environ {
        environ::build(req, self.inner.pool.is_some())
    }

    /// The executor the app runs on.
    pub fn executor(&self) -> &Executor {
        &self.inner.executor
    }
}

impl Target for GatewayContainer {
    fn call(&self, req: Request) -> Dispatch<'_> {
        let inner = self.inner.clone();
        Ok(Box::pin(async move {
            match &inner.pool {
                None => inner.serve_inline(req).await,
                Some(pool) => inner.serve_pooled(pool, req).await,
            }
        }))
    }
}

/// What the app's thread tells the connection.
pub(crate) enum Msg {
    /// The head, with the first body chunk when there is one.
    Head(Head, Option<Bytes>),
    /// The head and the whole body, known complete without blocking.
    Whole(Head, Bytes),
    Chunk(Bytes),
    Fail,
}

/// Releases an admission when a pooled call ends, however it ends.
struct Admission(Arc<Inner>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Inner {
    async fn serve_inline(&self, mut req: Request) -> Response {
        let body = match req.bytes().await {
            Ok(body) => body,
            Err(e) => return e.into_response(),
        };
        let mut environ = environ::build(&req, false);
        environ.set_input(Input::buffered(body));
        let _turn = self.inline_turn.lock().await;
        let mut messages = Vec::new();
        run_app(&*self.app, environ, |m| {
            messages.push(m);
            true
        });
        assemble(futures_lite::stream::iter(messages)).await
    }

    async fn serve_pooled(self: &Arc<Self>, pool: &Pool, mut req: Request) -> Response {
        let bound = self.bound;
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= bound.threads + bound.queue {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            log::warn!(target: "squall::gateway", "{} calls running or queued: answering 503", bound.threads + bound.queue);
            return busy();
        }
        let admission = Admission(Arc::clone(self));

        let mut environ = environ::build(&req, true);
        let body = req.take_body();
        if body.size_hint() != Some(0) {
            let (to_app, from_conn) = async_channel::bounded(CHANNEL_BOUND);
            environ.set_input(Input::stream(from_conn));
            drop(rt::spawn(pump(body, to_app)));
        }
        let (to_conn, from_app) = async_channel::bounded(CHANNEL_BOUND);
        let app = self.app.clone();
        let job = move || {
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
        };
        match pool {
            Pool::Rayon(pool) => pool.spawn(job),
            Pool::Blocking(workers) => workers.run(Box::new(job)),
        }
        assemble(from_app).await
    }
}

fn declared_length(head: &Head) -> Option<u64> {
    head.headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
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

/// Turns the app's messages into a response: a `500` when it failed before
/// its head, else its status and headers with the chunks streamed behind.
async fn assemble(messages: impl futures_lite::Stream<Item = Msg> + Send + 'static) -> Response {
    let mut messages = Box::pin(messages);
    let (head, first) = match messages.next().await {
        Some(Msg::Head(head, first)) => (head, first),
        Some(Msg::Whole(head, body)) if declared_length(&head).is_none_or(|n| n == body.len() as u64) => {
            let mut response = Response::new(head.status).with_body(body);
            *response.headers_mut() = head.headers;
            return response;
        }
        // A declared length that does not match: stream it, so the connection closes.
        Some(Msg::Whole(head, body)) => (head, Some(body)),
        _ => return HttpError::new(StatusCode::INTERNAL_SERVER_ERROR).into_response(),
    };
    let rest = messages.map(|m| match m {
        Msg::Chunk(bytes) => Ok(bytes),
        Msg::Head(..) | Msg::Whole(..) | Msg::Fail => Err(io::Error::other("the gateway app failed mid-body")),
    });
    let chunks = futures_lite::stream::iter(first.map(Ok)).chain(rest);
    let mut response = Response::stream(Body::from_stream(chunks)).with_status(head.status);
    *response.headers_mut() = head.headers;
    response
}

/// Calls the app and iterates its body on the current thread, sending the
/// head with the first body chunk. `send` returns false once nobody listens
/// (client gone, HEAD): iteration stops. The body is closed here, always.
pub(crate) fn run_app(app: &dyn App, mut environ: Environ, mut send: impl FnMut(Msg) -> bool) {
    let start = StartResponse::new();
    let mut body = match catch_unwind(AssertUnwindSafe(|| app.call(&mut environ, &start))) {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return fail(&mut send, format!("the app failed: {e}")),
        Err(panic) => return fail(&mut send, format!("the app panicked: {}", panic_message(&panic))),
    };
    let mut pending: VecDeque<Bytes> = VecDeque::new();
    let mut head_sent = false;
    loop {
        pending.extend(start.take_written());
        let next = match pending.pop_front() {
            Some(written) => Some(Ok(written)),
            None => match catch_unwind(AssertUnwindSafe(|| body.next_chunk())) {
                Ok(next) => next,
                Err(panic) => Some(Err(format!("panicked: {}", panic_message(&panic)).into())),
            },
        };
        let chunk = match next {
            Some(Ok(bytes)) if bytes.is_empty() => continue,
            Some(Ok(bytes)) => Some(bytes),
            None => {
                // `write` may have been called during the last iteration.
                let late = start.take_written();
                if !late.is_empty() {
                    pending.extend(late);
                    continue;
                }
                None
            }
            Some(Err(e)) => {
                fail(&mut send, format!("the app's body failed: {e}"));
                break;
            }
        };
        let message = if head_sent {
            match chunk {
                Some(bytes) => Msg::Chunk(bytes),
                None => break,
            }
        } else {
            let complete = body.is_exhausted() && pending.is_empty() && !start.has_written();
            match start.commit() {
                Ok(head) => match chunk {
                    Some(bytes) if complete => Msg::Whole(head, bytes),
                    chunk => Msg::Head(head, chunk),
                },
                Err(why) => {
                    fail(&mut send, why);
                    break;
                }
            }
        };
        let last = matches!(message, Msg::Head(_, None) | Msg::Whole(..));
        if !send(message) || last {
            break;
        }
        head_sent = true;
    }
    if catch_unwind(AssertUnwindSafe(move || drop(body))).is_err() {
        log::error!(target: "squall::gateway", "the app's close() panicked");
    }
}

fn fail(send: &mut impl FnMut(Msg) -> bool, why: String) {
    log::error!(target: "squall::gateway", "{why}");
    send(Msg::Fail);
}
