//! Cookies (RFC 6265) on requests and responses, parsed and formatted by
//! the `cookie` crate (re-exported as [`squall::cookie`](crate::cookie)).

use cookie::Cookie;
use http::header::{self, HeaderValue};

use super::{Request, Response};

impl Request {
    /// The value of cookie `name`: the first one, across every `Cookie`
    /// header, with surrounding double quotes removed. Pairs that are not
    /// `name=value` are skipped.
    ///
    /// # Examples
    ///
    /// ```
    /// use squall::Request;
    ///
    /// let req = Request::get("/")
    ///     .with_header("cookie", "theme=dark; lang=\"en\"")
    ///     .with_header("cookie", "junk; theme=light");
    /// assert_eq!(req.cookie("theme").as_deref(), Some("dark"));
    /// assert_eq!(req.cookie("lang").as_deref(), Some("en"));
    /// assert_eq!(req.cookie("junk"), None);
    /// assert_eq!(req.cookies().len(), 3);
    /// ```
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookie_pairs().find(|c| c.name() == name).map(|c| c.value_trimmed().to_owned())
    }

    /// Every cookie the client sent, in order.
    pub fn cookies(&self) -> Vec<Cookie<'static>> {
        self.cookie_pairs().map(Cookie::into_owned).collect()
    }

    fn cookie_pairs(&self) -> impl Iterator<Item = Cookie<'_>> {
        self.headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
    }
}

impl Response {
    /// Adds a `Set-Cookie` header; a response may set several cookies.
    ///
    /// # Examples
    ///
    /// ```
    /// use squall::cookie::{Cookie, SameSite};
    /// use squall::Response;
    ///
    /// let mut resp = Response::text("hi");
    /// resp.set_cookie(Cookie::build(("theme", "dark")).path("/").http_only(true).same_site(SameSite::Lax).build());
    /// resp.clear_cookie("session", "/");
    /// let set: Vec<_> = resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    /// assert_eq!(set[0], "theme=dark; HttpOnly; SameSite=Lax; Path=/");
    /// assert!(set[1].starts_with("session=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970"));
    /// ```
    pub fn set_cookie(&mut self, cookie: Cookie<'_>) {
        match HeaderValue::try_from(cookie.to_string()) {
            Ok(value) => {
                self.headers_mut().append(header::SET_COOKIE, value);
            }
            Err(_) => {
                log::error!(target: "squall::web", "cookie {:?} is not a valid header value; not set", cookie.name())
            }
        }
    }

    /// [`set_cookie`](Self::set_cookie), by value.
    pub fn with_cookie(mut self, cookie: Cookie<'_>) -> Self {
        self.set_cookie(cookie);
        self
    }

    /// Tells the browser to forget cookie `name` set for `path`: an empty
    /// value, `Max-Age=0` and an `Expires` in the past.
    pub fn clear_cookie(&mut self, name: &str, path: &str) {
        let cookie = Cookie::build((name.to_owned(), String::new()))
            .path(path.to_owned())
            .max_age(cookie::time::Duration::ZERO)
            .expires(cookie::time::OffsetDateTime::UNIX_EPOCH);
        self.set_cookie(cookie.build());
    }
}
