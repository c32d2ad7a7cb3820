//! The gateway container: synchronous legacy apps as route targets.
//!
//! A gateway app ([`App`]) is squall's WSGI: it receives an [`Environ`] (CGI
//! meta-variables, the body as a blocking reader, an error stream) and a
//! [`StartResponse`], and returns its body as an [`AppIter`]. A
//! [`GatewayContainer`] mounts it like any other target and runs it on an
//! [`Executor`]: inline on the event loop (deprecated), on a thread pool, or
//! on rayon.
//!
//! [`TargetApp`] goes the other way: a squall app as a gateway app.
//!
//! What does not live here: CGI programs (`cgi`), the HTTP/1.1 server.

mod app;
pub(crate) mod buffer;
mod container;
pub(crate) mod driver;
pub(crate) mod environ;
mod executor;
#[cfg(any(all(unix, feature = "cgi"), feature = "fastcgi"))]
pub(crate) mod header_block;
#[cfg(any(all(unix, feature = "cgi"), feature = "fastcgi"))]
pub(crate) mod php_path;
mod pool;
pub(crate) mod start;
mod target_app;

pub use app::{App, AppError, AppIter};
pub use container::{ChosenExecutor, DefaultExecutor, GatewayBuilder, GatewayContainer};
pub use environ::{Environ, ErrorStream, Input};
pub use executor::{Bound, Executor};
pub use start::StartResponse;
pub use target_app::TargetApp;
