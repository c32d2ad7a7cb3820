//! [`TargetApp`]: a squall app as a gateway app (Tornado's `WSGIApplication`).

use std::io::Read;
use std::net::SocketAddr;

use bytes::Bytes;
use futures_lite::future::block_on;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri, Version};

use super::{App, AppError, AppIter, Environ, StartResponse};
use crate::routing::{Target, answer};
use crate::web::{Body, Origin, PathArgs, Request, StatusLine, encode_path_bytes};

/// A squall app — a [`Router`](crate::Router), a handler, any [`Target`] —
/// as a gateway [`App`], so it runs inside any gateway host: squall's own
/// [`GatewayContainer`](super::GatewayContainer), or a CGI server through
/// `cgi::serve` (feature `cgi`).
///
/// Each call rebuilds the request from the environ, reads the body from the
/// input stream, and runs the app to completion on the calling thread (async
/// handlers included).
///
/// # Examples
///
/// ```
/// use squall::gateway::{Executor, GatewayContainer, TargetApp};
/// use squall::{get, Request, Router};
///
/// let app = Router::new().route("/hello", get(|_req| async { "hi" }));
/// let hosted = GatewayContainer::builder(TargetApp::new(app)).executor(Executor::thread_pool(2)).build();
/// # squall::block_on(async {
/// let resp = squall::testing::call(&hosted, Request::get("/hello")).await;
/// assert_eq!(resp.into_body().bytes().await.unwrap(), "hi");
/// # });
/// ```
pub struct TargetApp<T> {
    target: T,
}

impl<T> std::fmt::Debug for TargetApp<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetApp").field("target", &std::any::type_name::<T>()).finish()
    }
}

impl<T: Target> TargetApp<T> {
    /// Wraps `target`.
    pub fn new(target: T) -> Self {
        TargetApp { target }
    }
}

impl<T: Target> App for TargetApp<T> {
    fn call(&self, environ: &mut Environ, start: &StartResponse) -> Result<AppIter, AppError> {
        let req = match request_from(environ) {
            Ok(req) => req,
            Err(why) => {
                log::warn!(target: "squall::gateway", "cannot rebuild the request: {why}");
                start.start("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")])?;
                return Ok(AppIter::once(format!("{why}\n")));
            }
        };
        let response = block_on(answer(&self.target, req));
        let (status, headers, mut body) = response.into_parts();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        start.start(&StatusLine(status).to_string(), headers)?;
        Ok(AppIter::new(std::iter::from_fn(move || block_on(body.chunk()).map(|c| c.map_err(Into::into)))))
    }
}

/// The request a gateway host described in `environ`.
fn request_from(environ: &mut Environ) -> Result<Request, String> {
    let method = Method::from_bytes(environ.get("REQUEST_METHOD").unwrap_or("GET").as_bytes())
        .map_err(|_| "invalid REQUEST_METHOD".to_owned())?;
    let script_name = environ.get("SCRIPT_NAME").unwrap_or("").to_owned();
    let target = match environ.get("REQUEST_URI").filter(|u| u.starts_with('/')) {
        Some(raw) => raw.to_owned(),
        None => {
            let mut raw = script_name.as_bytes().to_vec();
            raw.extend_from_slice(environ.get_bytes("PATH_INFO").unwrap_or_default());
            let path = encode_path_bytes(&raw);
            let path = if path.is_empty() { "/".to_owned() } else { path };
            match environ.get("QUERY_STRING").filter(|q| !q.is_empty()) {
                Some(query) => format!("{path}?{query}"),
                None => path,
            }
        }
    };
    let uri = Uri::try_from(target.as_str()).map_err(|_| format!("invalid request target {target:?}"))?;
    let version = match environ.get("SERVER_PROTOCOL") {
        Some("HTTP/1.0") => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut headers = HeaderMap::new();
    for (key, value) in environ.vars() {
        let name = match key.as_ref() {
            "CONTENT_TYPE" => "content-type".to_owned(),
            "CONTENT_LENGTH" => "content-length".to_owned(),
            k => match k.strip_prefix("HTTP_") {
                Some(rest) => rest.to_ascii_lowercase().replace('_', "-"),
                None => continue,
            },
        };
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }
    let length = environ.get("CONTENT_LENGTH").and_then(|l| l.parse::<u64>().ok());
    let peer = match (environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT")) {
        (Some(addr), Some(port)) => {
            format!("{addr}:{port}").parse::<SocketAddr>().ok().or_else(|| format!("[{addr}]:{port}").parse().ok())
        }
        _ => None,
    };
    let https = environ.url_scheme() == "https";
    let mut body = Vec::new();
    let mut input = environ.take_input();
    match length {
        Some(n) => (&mut input).take(n).read_to_end(&mut body),
        None => input.read_to_end(&mut body),
    }
    .map_err(|e| format!("reading the request body: {e}"))?;

    let origin = Origin { peer, local: None, scheme: if https { "https" } else { "http" } };
    let mut req = Request::arrived(method, uri, version, headers, Body::from(Bytes::from(body)), origin, None);
    if req.path().starts_with(&script_name) {
        // Mounted for good: nothing routes it back out.
        let _mounted = req.enter_rule(PathArgs::default(), script_name.len());
    }
    Ok(req)
}
