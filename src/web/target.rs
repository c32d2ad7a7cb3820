//! [`Target`]: the contract between a router and whatever answers a
//! request — a handler, a nested router, a gateway container, a type of
//! your own — and [`Dispatch`], a target's answer.
//!
//! It lives beside the request rather than in `routing` so that handler
//! types here and routers there both build on it without a cycle.

use std::future::Future;
use std::pin::Pin;

use super::{IntoResponse, Request, Response};

/// A boxed, sendable future: what a [`Target`] answers with.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A target's answer to a request.
///
/// # Examples
///
/// ```
/// use squall::{Dispatch, Response};
///
/// let answer = Dispatch::answer(async { Response::text("hi") });
/// assert!(matches!(answer, Dispatch::Answer(_)));
/// ```
// `Decline` carries the request by value so that the next rule can take it;
// boxing it would cost an allocation on every declined rule.
#[allow(clippy::large_enum_variant)]
pub enum Dispatch<'a> {
    /// The target answers: the future of its response.
    Answer(BoxFuture<'a, Response>),
    /// The target declines: the request goes back so that the router tries
    /// the next rule (at the top, the server answers `404`).
    Decline(Request),
}

impl<'a> Dispatch<'a> {
    /// Answers with `response`, boxing the future.
    pub fn answer(response: impl Future<Output = Response> + Send + 'a) -> Self {
        Dispatch::Answer(Box::pin(response))
    }
}

impl std::fmt::Debug for Dispatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dispatch::Answer(_) => f.write_str("Answer(..)"),
            Dispatch::Decline(req) => f.debug_tuple("Decline").field(req).finish(),
        }
    }
}

/// Something a rule routes to.
///
/// Implemented for async functions and closures taking a [`Request`] and
/// returning anything [`IntoResponse`], and for [`Router`](crate::Router), [`MethodRouter`](crate::MethodRouter)
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
///             return Dispatch::Decline(req);
///         }
///         Dispatch::answer(async { Response::text("secret") })
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
        if super::xsrf::xsrf_guarded(&req) {
            return Dispatch::answer(async move {
                match super::xsrf::check_xsrf(req).await {
                    Ok(req) => self(req).await.into_response(),
                    Err(refused) => refused.into_response(),
                }
            });
        }
        let future = self(req);
        Dispatch::answer(async move { future.await.into_response() })
    }
}
