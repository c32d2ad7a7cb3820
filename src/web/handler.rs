//! [`RequestHandler`]: Tornado-style handler types with one async method per
//! HTTP method, and [`request_handler`] to route to them.

use std::future::Future;

use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use super::{Dispatch, IntoResponse, Request, Response, Target};
use crate::error::HttpError;

/// The future a handler method returns.
pub trait HandlerFuture: Future<Output = Result<Response, HttpError>> + Send {}
impl<F: Future<Output = Result<Response, HttpError>> + Send> HandlerFuture for F {}

/// A Tornado-style handler: a new value per request (made by the factory
/// given to [`request_handler`]), with `prepare`, one async method per HTTP
/// method, and `on_finish`.
///
/// A method you do not implement answers `405 Method Not Allowed`; set
/// [`SUPPORTED_METHODS`](RequestHandler::SUPPORTED_METHODS) to the methods
/// you implement so that the `Allow` header is exact. `head` calls `get` by
/// default (the server sends no body).
///
/// # Examples
///
/// ```
/// use http::Method;
/// use squall::{request_handler, HttpError, Request, RequestHandler, Response, Router};
///
/// struct Greeter {
///     greeting: &'static str,
///     user: Option<String>,
/// }
///
/// impl RequestHandler for Greeter {
///     const SUPPORTED_METHODS: &'static [Method] = &[Method::GET, Method::HEAD];
///
///     async fn prepare(&mut self, req: &mut Request) -> Result<(), HttpError> {
///         self.user = Some(req.query_argument("name")?);
///         Ok(())
///     }
///
///     async fn get(&mut self, _req: Request) -> Result<Response, HttpError> {
///         Ok(Response::text(format!("{}, {}!", self.greeting, self.user.as_deref().unwrap_or("?"))))
///     }
/// }
///
/// let app = Router::new().route("/greet", request_handler(|| Greeter { greeting: "Hello", user: None }));
/// # squall::block_on(async {
/// let resp = squall::testing::call(&app, Request::get("/greet?name=Ada")).await;
/// assert_eq!(resp.into_body().bytes().await.unwrap(), "Hello, Ada!");
/// let resp = squall::testing::call(&app, Request::get("/greet")).await;
/// assert_eq!(resp.status(), 400);
/// let resp = squall::testing::call(&app, Request::post("/greet", "x")).await;
/// assert_eq!(resp.status(), 405);
/// assert_eq!(resp.headers()["allow"], "GET, HEAD");
/// # });
/// ```
pub trait RequestHandler: Send + 'static {
    /// Methods this handler answers; others get `405` with these in `Allow`.
    /// The default is Tornado's list.
    const SUPPORTED_METHODS: &'static [Method] =
        &[Method::GET, Method::HEAD, Method::POST, Method::DELETE, Method::PATCH, Method::PUT, Method::OPTIONS];

    /// Runs before the method; an error answers the request instead of it.
    fn prepare(&mut self, req: &mut Request) -> impl Future<Output = Result<(), HttpError>> + Send {
        let _ = req;
        async { Ok(()) }
    }

    /// Answers `GET`.
    fn get(&mut self, req: Request) -> impl HandlerFuture {
        unimplemented(req)
    }

    /// Answers `HEAD`; calls [`get`](RequestHandler::get) by default.
    fn head(&mut self, req: Request) -> impl HandlerFuture {
        self.get(req)
    }

    /// Answers `POST`.
    fn post(&mut self, req: Request) -> impl HandlerFuture {
        unimplemented(req)
    }

    /// Answers `PUT`.
    fn put(&mut self, req: Request) -> impl HandlerFuture {
        unimplemented(req)
    }

    /// Answers `DELETE`.
    fn delete(&mut self, req: Request) -> impl HandlerFuture {
        unimplemented(req)
    }

    /// Answers `PATCH`.
    fn patch(&mut self, req: Request) -> impl HandlerFuture {
        unimplemented(req)
    }

    /// Answers `OPTIONS`.
    fn options(&mut self, req: Request) -> impl HandlerFuture {
        unimplemented(req)
    }

    /// Runs after the response is decided, with the status it carries.
    fn on_finish(&mut self, status: StatusCode) {
        let _ = status;
    }
}

fn unimplemented(_req: Request) -> impl HandlerFuture {
    async { Err(HttpError::new(StatusCode::METHOD_NOT_ALLOWED)) }
}

/// Routes to a [`RequestHandler`], building a new one per request with `factory`
/// (where Tornado passes `initialize` arguments, capture them in the closure).
pub fn request_handler<H, F>(factory: F) -> impl Target
where
    H: RequestHandler,
    F: Fn() -> H + Send + Sync + 'static,
{
    PerRequest(factory)
}

struct PerRequest<F>(F);

impl<H, F> Target for PerRequest<F>
where
    H: RequestHandler,
    F: Fn() -> H + Send + Sync + 'static,
{
    fn call(&self, req: Request) -> Dispatch<'_> {
        let handler = (self.0)();
        Dispatch::answer(run(handler, req))
    }
}

async fn run<H: RequestHandler>(mut handler: H, req: Request) -> Response {
    let mut req = if super::xsrf::xsrf_guarded(&req) {
        match super::xsrf::check_xsrf(req).await {
            Ok(req) => req,
            Err(refused) => return refused.into_response(),
        }
    } else {
        req
    };
    let method = req.method().clone();
    let result = if !H::SUPPORTED_METHODS.contains(&method) {
        Err(HttpError::new(StatusCode::METHOD_NOT_ALLOWED))
    } else {
        match handler.prepare(&mut req).await {
            Err(e) => Err(e),
            Ok(()) => match method {
                Method::GET => handler.get(req).await,
                Method::HEAD => handler.head(req).await,
                Method::POST => handler.post(req).await,
                Method::PUT => handler.put(req).await,
                Method::DELETE => handler.delete(req).await,
                Method::PATCH => handler.patch(req).await,
                Method::OPTIONS => handler.options(req).await,
                _ => Err(HttpError::new(StatusCode::METHOD_NOT_ALLOWED)),
            },
        }
    };
    let mut response = result.into_response();
    if response.status() == StatusCode::METHOD_NOT_ALLOWED && !response.headers().contains_key(header::ALLOW) {
        let allow: Vec<&str> = H::SUPPORTED_METHODS.iter().map(Method::as_str).collect();
        if let Ok(value) = HeaderValue::try_from(allow.join(", ")) {
            response.headers_mut().insert(header::ALLOW, value);
        }
    }
    handler.on_finish(response.status());
    response
}
