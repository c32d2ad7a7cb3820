//! [`Middleware`]: code around every request of an [`App`](super::App),
//! native and gateway targets alike, and [`Next`], the rest of the chain.

use std::future::Future;
use std::sync::Arc;

use crate::routing::answer;
use crate::web::{BoxFuture, Request, Response, Target};

/// A layer around every request: run code before the rest of the chain
/// (and answer early, without calling it), and after it (and change the
/// response).
///
/// Layers run in the order they are added to the [`App`](super::App): the
/// first added sees the request first and the response last. See
/// [`App`](super::App) for where the built-in parts sit.
///
/// # Examples
///
/// A layer that stamps every response with the time it took:
///
/// ```
/// use std::time::Instant;
/// use squall::app::{Middleware, Next};
/// use squall::{BoxFuture, Request, Response};
///
/// struct Timing;
///
/// impl Middleware for Timing {
///     fn call<'a>(&'a self, req: Request, next: Next) -> BoxFuture<'a, Response> {
///         Box::pin(async move {
///             let started = Instant::now();
///             let mut resp = next.run(req).await;
///             let took = format!("app;dur={:.3}", started.elapsed().as_secs_f64() * 1000.0);
///             resp.headers_mut().insert("server-timing", took.parse().unwrap());
///             resp
///         })
///     }
/// }
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Handles `req`, calling [`next.run(req)`](Next::run) for the rest of
    /// the chain, or not.
    fn call<'a>(&'a self, req: Request, next: Next) -> BoxFuture<'a, Response>;
}

/// The layers after this one, and the app's target at the end.
#[must_use = "the rest of the chain runs only when `run` is awaited"]
pub struct Next {
    chain: Arc<Chain>,
    index: usize,
}

/// User layers and the target they wrap.
pub(super) struct Chain {
    pub(super) layers: Vec<Box<dyn Middleware>>,
    pub(super) target: Box<dyn Target>,
}

impl Next {
    pub(super) fn start(chain: Arc<Chain>) -> Self {
        Next { chain, index: 0 }
    }

    /// Runs the rest of the chain. A request no route takes is answered
    /// `404` here, so that the layers before see (and may change) it.
    pub async fn run(self, req: Request) -> Response {
        let chain = self.chain;
        match chain.layers.get(self.index) {
            Some(layer) => layer.call(req, Next { chain: chain.clone(), index: self.index + 1 }).await,
            None => answer(&*chain.target, req).await,
        }
    }
}

impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next").field("layers_left", &(self.chain.layers.len() - self.index)).finish()
    }
}

/// A layer from an async closure: `middleware_fn(|req, next| async move { … next.run(req).await … })`.
///
/// # Examples
///
/// ```
/// use squall::app::{middleware_fn, App};
/// use squall::{Router, get};
///
/// let request_ids = middleware_fn(|req, next| async move {
///     let id = req.header("x-request-id").unwrap_or("none").to_owned();
///     let mut resp = next.run(req).await;
///     resp.headers_mut().insert("x-request-id", id.parse().unwrap());
///     resp
/// });
/// let app = App::new(Router::new().route("/", get(|_req| async { "hi" }))).layer(request_ids);
/// # let _ = app;
/// ```
pub fn middleware_fn<F, Fut>(f: F) -> FnMiddleware<F>
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    FnMiddleware(f)
}

/// The layer [`middleware_fn`] makes.
#[derive(Debug, Clone)]
pub struct FnMiddleware<F>(F);

impl<F, Fut> Middleware for FnMiddleware<F>
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    fn call<'a>(&'a self, req: Request, next: Next) -> BoxFuture<'a, Response> {
        Box::pin((self.0)(req, next))
    }
}
