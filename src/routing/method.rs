//! [`MethodRouter`]: one target per HTTP method, `405` with `Allow` otherwise.

use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use super::{Dispatch, Target};
use crate::error::HttpError;
use crate::web::{IntoResponse, Request};

/// Dispatches on the request method. `HEAD` goes to the `GET` target when
/// none is set for it (the server sends no body). Any other method gets
/// `405 Method Not Allowed` with an `Allow` header listing the methods served.
///
/// # Examples
///
/// ```
/// use squall::{get, Request, Router};
///
/// let app = Router::new().route(
///     "/items",
///     get(|_req| async { "list" }).post(|_req| async { "created" }),
/// );
/// # squall::block_on(async {
/// let resp = squall::testing::call(&app, Request::new(http::Method::DELETE, "/items")).await;
/// assert_eq!(resp.status(), 405);
/// assert_eq!(resp.headers()["allow"], "GET, HEAD, POST");
/// # });
/// ```
#[derive(Default)]
pub struct MethodRouter {
    targets: Vec<(Method, Box<dyn Target>)>,
}

macro_rules! method_fns {
    ($($(#[$doc:meta])* $name:ident => $method:ident,)*) => {
        impl MethodRouter {
            $(
                $(#[$doc])*
                pub fn $name(self, target: impl Target) -> Self {
                    self.on(Method::$method, target)
                }
            )*
        }
        $(
            $(#[$doc])*
            pub fn $name(target: impl Target) -> MethodRouter {
                MethodRouter::default().on(Method::$method, target)
            }
        )*
    };
}

method_fns! {
    /// Serves `GET` (and `HEAD`, unless a `HEAD` target is set) with `target`.
    get => GET,
    /// Serves `POST` with `target`.
    post => POST,
    /// Serves `PUT` with `target`.
    put => PUT,
    /// Serves `DELETE` with `target`.
    delete => DELETE,
    /// Serves `PATCH` with `target`.
    patch => PATCH,
    /// Serves `HEAD` with `target`.
    head => HEAD,
    /// Serves `OPTIONS` with `target`.
    options => OPTIONS,
}

impl MethodRouter {
    /// Serves `method` with `target`, replacing an earlier target for it.
    pub fn on(mut self, method: Method, target: impl Target) -> Self {
        self.targets.retain(|(m, _)| *m != method);
        self.targets.push((method, Box::new(target)));
        self
    }

    fn find(&self, method: &Method) -> Option<&dyn Target> {
        let found = |m: &Method| self.targets.iter().find(|(t, _)| t == m).map(|(_, t)| &**t);
        found(method).or_else(|| if *method == Method::HEAD { found(&Method::GET) } else { None })
    }

    fn methods(&self) -> impl Iterator<Item = &Method> {
        self.targets.iter().map(|(m, _)| m)
    }

    fn allow(&self) -> String {
        let mut methods: Vec<&str> = self.targets.iter().map(|(m, _)| m.as_str()).collect();
        if methods.contains(&"GET") && !methods.contains(&"HEAD") {
            methods.push("HEAD");
        }
        methods.sort_unstable();
        methods.join(", ")
    }
}

impl std::fmt::Debug for MethodRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodRouter").field("methods", &self.methods().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl Target for MethodRouter {
    fn call(&self, req: Request) -> Dispatch<'_> {
        if let Some(target) = self.find(req.method()) {
            return target.call(req);
        }
        let allow = HeaderValue::try_from(self.allow()).unwrap_or_else(|_| HeaderValue::from_static(""));
        let response = HttpError::new(StatusCode::METHOD_NOT_ALLOWED).into_response().with_header(header::ALLOW, allow);
        Dispatch::answer(async move { response })
    }
}
