//! A squall app running as a CGI program under any CGI server (lighttpd's
//! `mod_cgi`, Apache's `mod_cgi`, …): build it with
//! `cargo build --release --example as_cgi --features cgi` and point the
//! server at `target/release/examples/as_cgi`.
//!
//! Routes, relative to where the server mounts the program:
//! `/` → a greeting; `/echo` (POST) → the request body back;
//! `/whoami` → what squall rebuilt from the CGI environment.

use squall::gateway::TargetApp;
use squall::{HttpError, Request, Response, Router, get, post};

/// Answers `--help` when run by hand; under a CGI server (which sets
/// `GATEWAY_INTERFACE`) arguments are left alone: some servers pass a query
/// without `=` as arguments (RFC 3875 §4.4).
fn by_hand() {
    use std::io::Write;
    if std::env::var_os("GATEWAY_INTERFACE").is_none() {
        let usage = "usage: as_cgi   (a CGI program: run it from a CGI server, which sets GATEWAY_INTERFACE)";
        match std::env::args().nth(1).as_deref() {
            Some("-h" | "--help") => {
                let _ = writeln!(std::io::stdout(), "{usage}");
                std::process::exit(0)
            }
            Some(other) => {
                eprintln!("as_cgi: unexpected argument {other}\n\n{usage}");
                std::process::exit(2)
            }
            None => {}
        }
    }
}

// ANCHOR: as_cgi
fn main() -> std::io::Result<()> {
    by_hand();
    let app = Router::new()
        .route("/?", get(|_req| async { "Hello from a squall app under CGI\n" }))
        .route("/echo", post(|mut req: Request| async move { req.bytes().await.map(Response::text) }))
        .route(
            "/whoami",
            get(|req: Request| async move {
                Ok::<_, HttpError>(format!(
                    "method={} script_name={} path_info={} query={} peer={}\n",
                    req.method(),
                    req.script_name(),
                    req.path_info(),
                    req.query(),
                    req.remote_ip().map(|ip| ip.to_string()).unwrap_or_default()
                ))
            }),
        );
    squall::cgi::serve(TargetApp::new(app))
}
// ANCHOR_END: as_cgi
