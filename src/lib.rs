//! squall is a web framework and HTTP/1.1 server in the spirit of Python's
//! Tornado, built on async-std: ordered routing rules, native async handlers,
//! a server that answers hostile input with real status codes, and testing
//! helpers.
//!
//! # Examples
//!
//! ```no_run
//! use squall::{get, Request, Router, Server};
//!
//! async fn hello(req: Request) -> String {
//!     format!("Hello, {}!", req.path_arg(0).unwrap_or("world"))
//! }
//!
//! fn main() -> squall::Result<()> {
//!     let app = Router::new()
//!         .route("/", get(hello))
//!         .route(r"/hello/(\w+)", get(hello));
//!     squall::block_on(Server::new(app).run("127.0.0.1:8888"))
//! }
//! ```
//!
//! # Modules
//!
//! | module | what lives there |
//! |---|---|
//! | [`web`] | [`Request`], [`Response`], [`Body`], [`Arguments`], the [`Target`] contract, [`RequestHandler`], server-sent events ([`EventStream`](web::EventStream)) |
//! | [`routing`] | [`Router`] (with application state), [`Rule`], matchers, method dispatch |
//! | [`app`] | [`App`]: cookie secret, XSRF, login, error pages, middleware, compression, templates (feature `templates`) |
//! | `static_files` | `StaticFiles`: a directory by RFC 9110's rules (Unix) |
//! | [`server`] | [`Server`] and [`ServerBuilder`] over squall's own HTTP/1.1 engine |
//! | [`gateway`] | [`GatewayContainer`](gateway::GatewayContainer): synchronous legacy apps on an executor |
//! | [`testing`] | in-memory calls and a loopback test server with a client |
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `cgi` | `cgi::CgiProgram`: CGI/1.1 programs as gateway apps (Unix) |
//! | `tls` | HTTPS with rustls: `ServerBuilder::tls`, `ServerBuilder::tls_pem_files` |
//! | `fastcgi` | `fastcgi::FastCgi`: PHP (or any responder) through php-fpm, nginx's `fastcgi_pass` as a route (Unix) |
//! | `templates` | `app::Templates`: Jinja-style templates (minijinja) with the app's helpers |
//! | `websocket` | `websocket`: RFC 6455 handlers, Tornado's `WebSocketHandler` |
//! | `python` | `python`: Python WSGI apps (Flask, Django) in an embedded interpreter |
//! | `locale` | `locale`: translations from Tornado's CSV files or gettext catalogs, `Request::locale` |
//! | `auth` | `auth`: third-party login, OAuth 2.0 with PKCE and OpenID Connect (Google, GitHub, any issuer) |
//! | `redis` | `broadcast::Broadcast::redis`: real-time broadcast shared through Redis by processes and machines |
//!
//! The server, routing, the gateway container and the testing helpers are
//! always built. [`http`] is the `http` crate squall's types come from.
//!
//! # Layers
//!
//! Each module imports only from those below it: `rt` (the runtime),
//! `error`, `locale` and [`broadcast`], then [`web`], then [`routing`], `websocket` and `static_files`, then [`app`],
//! [`server`] and [`gateway`], then [`testing`], `auth`, `cgi` and `python`.
//!
//! # Runtime
//!
//! squall runs on async-std's executor by default, or on smol's with the
//! `smol` feature (async-std's development has stopped; the book's Cargo
//! features chapter says more). Start it from `main` with [`block_on`];
//! handlers may use any runtime-agnostic async library.

// On docs.rs (every feature), each feature-gated item says which feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod app;
#[cfg(feature = "auth")]
pub mod auth;
pub mod broadcast;
#[cfg(all(unix, feature = "cgi"))]
pub mod cgi;
#[cfg(any(unix, feature = "fastcgi"))]
pub(crate) mod dir;
mod error;
#[cfg(feature = "fastcgi")]
pub mod fastcgi;
pub mod gateway;
#[cfg(feature = "locale")]
pub mod locale;
#[cfg(feature = "python")]
pub mod python;
pub mod routing;
mod rt;
pub mod server;
#[cfg(unix)]
pub mod static_files;
pub mod testing;
pub mod web;
#[cfg(feature = "websocket")]
pub mod websocket;

pub use app::App;
/// The `cookie` crate squall parses and formats cookies with
/// ([`Request::cookie`], [`Response::set_cookie`]), re-exported.
pub use cookie;
pub use error::{Error, HttpError, Result};
/// The `http` crate squall's types come from (`Method`, `StatusCode`,
/// `HeaderName`, …), re-exported so that apps need not depend on it.
pub use http;
pub use routing::{
    AnyMatches, BoxFuture, Dispatch, HostMatches, Matcher, MethodRouter, PathMatches, PathPrefix, Router, Rule, Target,
    delete, get, head, options, patch, post, put,
};
pub use rt::{block_on, sleep};
pub use server::{Server, ServerBuilder};
pub use web::{
    Arguments, Body, HandlerFuture, IntoResponse, Json, PathArgs, Request, RequestHandler, Response, request_handler,
};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[doc(hidden)]
#[path = "internals.rs"]
pub mod __private;
