//! Login: [`authenticated`] guards a route (and [`RequireLogin`] a whole
//! app) with Tornado's rule, and [`local_path`] keeps `next` from becoming
//! an open redirect.

use http::{Method, StatusCode};

use super::middleware::{Middleware, Next};
use crate::error::HttpError;
use crate::web::{BoxFuture, Dispatch, IntoResponse, Request, Response, Target};

/// Guards `target`: without a [current user](crate::Request::current_user),
/// `GET` and `HEAD` are redirected (`302`) to the app's login URL with
/// `next` set to the request's URI, and other methods get `403` (a redirect
/// would lose their body).
///
/// # Examples
///
/// ```
/// use squall::app::{authenticated, App};
/// use squall::{Request, Router, get};
///
/// let app = App::new(Router::new().route(
///     "/account",
///     authenticated(get(|req: Request| async move { format!("hello {}", req.current_user().unwrap_or("?")) })),
/// ))
/// .current_user(|req| Box::pin(async move { req.cookie("demo-user") }));
/// # squall::block_on(async {
/// let resp = squall::testing::call(&app, Request::get("/account?tab=2")).await;
/// assert_eq!(resp.status(), 302);
/// assert_eq!(resp.headers()["location"], "/login?next=%2Faccount%3Ftab%3D2");
/// let resp = squall::testing::call(&app, Request::get("/account").with_header("cookie", "demo-user=ada")).await;
/// assert_eq!(resp.into_body().bytes().await.unwrap(), "hello ada");
/// # });
/// ```
pub fn authenticated<T: Target>(target: T) -> Authenticated<T> {
    Authenticated(target)
}

/// The target [`authenticated`] makes.
#[derive(Debug)]
pub struct Authenticated<T>(T);

impl<T: Target> Target for Authenticated<T> {
    fn call(&self, req: Request) -> Dispatch<'_> {
        if req.current_user().is_some() {
            return self.0.call(req);
        }
        Dispatch::answer(async move { refuse(&req) })
    }

    fn reverse_url(&self, name: &str, args: &[&str]) -> Option<String> {
        self.0.reverse_url(name, args)
    }
}

/// Guards every request of an app but those to its login URL, by
/// [`authenticated`]'s rule: the same check as a layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequireLogin;

impl Middleware for RequireLogin {
    fn call<'a>(&'a self, req: Request, next: Next) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let login_path = req.login_url().split('?').next().unwrap_or_default().to_owned();
            if req.current_user().is_some() || req.path() == login_path { next.run(req).await } else { refuse(&req) }
        })
    }
}

/// Tornado's answer to a request without a user.
fn refuse(req: &Request) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        let uri = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let login = req.login_url();
        let joiner = if login.contains('?') { '&' } else { '?' };
        Response::redirect(&format!("{login}{joiner}next={}", encode_next(uri)))
    } else {
        HttpError::new(StatusCode::FORBIDDEN).with_message("login required").into_response()
    }
}

/// `next` for the login URL: everything but RFC 3986's unreserved
/// characters percent-encoded, as Tornado's `urlencode` writes it.
fn encode_next(next: &str) -> String {
    crate::web::percent_encode(next.as_bytes(), b"", "%20")
}

/// `candidate` if it is a path on this site, else `None`: what a login page
/// may redirect to after success. A `next` of `https://evil.example/`,
/// `//evil.example`, `/\evil.example` (browsers read `\` as `/`), or one
/// with control characters is refused: the open-redirect hole.
///
/// # Examples
///
/// ```
/// use squall::app::local_path;
///
/// assert_eq!(local_path("/notes?page=2"), Some("/notes?page=2"));
/// assert_eq!(local_path("https://evil.example/"), None);
/// assert_eq!(local_path("//evil.example"), None);
/// assert_eq!(local_path("/\\evil.example"), None);
/// assert_eq!(local_path(""), None);
/// ```
pub fn local_path(candidate: &str) -> Option<&str> {
    let ok = candidate.starts_with('/')
        && !candidate.starts_with("//")
        && !candidate.contains('\\')
        && !candidate.chars().any(char::is_control);
    ok.then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_encoded_like_tornados_urlencode() {
        assert_eq!(encode_next("/"), "%2F");
        assert_eq!(encode_next("/a b?x=1&y=é"), "%2Fa%20b%3Fx%3D1%26y%3D%C3%A9");
    }

    #[test]
    fn only_local_paths_are_followed() {
        for bad in ["http://x", "//x", "/\\x", "\\\\x", "/x\r\nLocation: http://y", "x", " /x", "javascript:alert(1)"] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
        assert_eq!(local_path("/"), Some("/"));
    }
}
