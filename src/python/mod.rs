//! Python WSGI apps (PEP 3333) in an embedded CPython: a Flask or Django app
//! becomes an ordinary gateway [`App`](crate::gateway::App), mounted through a
//! [`GatewayContainer`](crate::gateway::GatewayContainer) and run on its
//! executor.
//!
//! [`WsgiApp`] imports `module:callable` once and calls it per request with
//! a PEP 3333 environ: native `str` values holding the request's bytes as
//! Latin-1 ("bytes as str"), `wsgi.input` over the request body,
//! `wsgi.errors` to the log, `wsgi.file_wrapper`, and flags that tell the
//! truth about the executor. `start_response` returns a working `write`,
//! follows `exc_info`, and may be called lazily during the first iteration.
//!
//! # The GIL
//!
//! One interpreter serves the process. A pool thread holds the GIL only
//! while Python runs: it lets go while it waits for request bytes, and the
//! event loop never takes it (except under the deprecated `Inline`, which
//! runs the app on the event loop). Worker processes
//! ([`fork_processes`](crate::server::process::fork_processes)) each run
//! their own interpreter: that is how Python uses every core.
//!
//! Behind the `python` feature; building it needs the Python development
//! files (`python3-dev` on Debian).

mod app;
mod interpreter;
mod streams;

pub use app::{WsgiApp, WsgiAppBuilder};
