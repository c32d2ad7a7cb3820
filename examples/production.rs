//! A production setup: `cargo run --release --example production -- [ADDR] [OPTIONS]`.
//!
//! Every server option is a flag (`squall::server::Flags`; `--help` lists
//! them); `SIGTERM` or `SIGINT` drains gracefully. Routes: `/` says hello, `/echo` streams the request
//! body back, `/whoami` tells the client address and scheme the server
//! decided on (as JSON), `/slow?ms=N` answers after N milliseconds.
//! Add `--features tls` for `--tls-cert` and `--tls-key`.

use std::time::Duration;

use squall::{HttpError, Json, Request, Response, Router, get, post};

#[path = "support/cli.rs"]
mod cli;
use cli::Cli;

const USAGE: &str = "\
usage: production [ADDR] [server options]
(ADDR defaults to 127.0.0.1:8888)
";

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut cli = Cli::new("production", USAGE);
    if let Some(flag) = cli.next() {
        cli.unknown(&flag);
    }
    // Every worker process builds its app: `/whoami` tells which one answered.
    cli.serve(|worker| Ok(app(worker)), |scheme, addr| format!("serving on {scheme}://{addr}/"))
}

// ANCHOR: app
fn app(worker: Option<usize>) -> Router {
    Router::new()
        .route("/", get(|_req| async { "Hello, world!" }))
        .route("/echo", post(|mut req: Request| async move { Response::stream(req.take_body()) }))
        .route("/whoami", get(move |req: Request| async move { whoami(&req, worker) }))
        .route("/slow", get(slow))
}
// ANCHOR_END: app

fn whoami(req: &Request, worker: Option<usize>) -> Json<serde_json::Value> {
    let addr = req.remote_addr();
    Json(serde_json::json!({
        "ip": addr.map(|a| a.ip().to_string()),
        "port": addr.map(|a| a.port()).filter(|&p| p != 0),
        "protocol": req.protocol(),
        "worker": worker,
        "pid": std::process::id(),
    }))
}

async fn slow(req: Request) -> Result<String, HttpError> {
    let ms: u64 = req.query_argument("ms")?.parse().map_err(|_| HttpError::bad_request("ms must be a number"))?;
    squall::sleep(Duration::from_millis(ms.min(60_000))).await;
    Ok(format!("slept {ms} ms\n"))
}
