//! Routing in Tornado's shape: an ordered list of rules, each a [`Matcher`]
//! and a [`Target`].
//!
//! A target is anything that can answer a request: a handler (an async
//! closure, a [`RequestHandler`](crate::RequestHandler) type, a
//! [`MethodRouter`]), a nested [`Router`], or a type of your own. A target may
//! decline a request it was given (a nested router whose rules all miss), and
//! the router then tries the next rule.
//!
//! What lives here: the trait, the router, matchers and method dispatch. What
//! does not: request and response types (`web`), the server (`server`).

mod matcher;
mod method;
mod router;

use std::future::Future;
use std::pin::Pin;

pub use matcher::{AnyMatches, HostMatches, Matcher, PathMatches, PathPrefix};
pub use method::{MethodRouter, delete, get, head, options, patch, post, put};
pub(crate) use router::answer;
pub use router::{Router, Rule};

use crate::web::{IntoResponse, Request, Response};

/// A boxed, sendable future: what a [`Target`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A target's answer to a request: the future of its response, or the request
/// handed back so that the router tries the next rule.
pub type Dispatch<'a> = Result<BoxFuture<'a, Response>, Request>;

/// Something a rule routes to.
///
/// Implemented for async functions and closures taking a [`Request`] and
/// returning anything [`IntoResponse`], and for [`Router`], [`MethodRouter`]
/// and [`request_handler`](crate::request_handler). Implement it for your
/// own types to make new kinds of targets.
///
/// # Examples
///
/// A target that serves only requests carrying an API key, and declines the
/// rest so the next rule can answer them:
///
/// ```
/// use squall::{Dispatch, Request, Response, Router, Target};
///
/// struct KeyedOnly;
///
/// impl Target for KeyedOnly {
///     fn call(&self, req: Request) -> Dispatch<'_> {
///         if req.header("x-api-key").is_none() {
///             return Err(req);
///         }
///         Ok(Box::pin(async { Response::text("secret") }))
///     }
/// }
///
/// let app = Router::new()
///     .route("/data", KeyedOnly)
///     .route("/data", |_req| async { "public" });
/// # let _ = app;
/// ```
pub trait Target: Send + Sync + 'static {
    /// Answers `req`, or hands it back to decline it.
    // The declined request goes back by value so the next rule can take it;
    // boxing it would cost an allocation on every declined rule.
    #[allow(clippy::result_large_err)]
    fn call(&self, req: Request) -> Dispatch<'_>;

    /// Builds the URL of the rule named `name` inside this target, if it has one.
    fn reverse_url(&self, name: &str, args: &[&str]) -> Option<String> {
        let _ = (name, args);
        None
    }
}

impl<F, Fut> Target for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoResponse,
{
    fn call(&self, req: Request) -> Dispatch<'_> {
        let future = self(req);
        Ok(Box::pin(async move { future.await.into_response() }))
    }
}
