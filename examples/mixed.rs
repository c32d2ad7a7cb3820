//! Native async routes beside a synchronous legacy app:
//! `cargo run --release --example mixed -- [ADDR] [--executor inline|pool|rayon] [--threads N]`,
//! plus the server options (`--help` lists them).
//!
//! - `/` — a native route: `Hello, world!`
//! - `/legacy/hello` — the legacy app: `Hello, world!` at once
//! - `/legacy/slow` — the legacy app after sleeping 50 ms (a blocking call)
//! - `/legacy/environ/…` — the environ the legacy app received, as sorted
//!   `KEY=value` lines (the input stream as its byte count)
//!
//! Warnings (the inline executor's deprecation among them) and the access log go to
//! standard error unless `RUST_LOG` says otherwise.

use std::io::Read;
use std::time::Duration;

use squall::gateway::{AppError, AppIter, Environ, Executor, GatewayContainer, StartResponse};
use squall::{Router, get};

#[path = "support/cli.rs"]
mod cli;
use cli::Cli;

// ANCHOR: legacy_app
/// A synchronous app written to squall's gateway interface.
fn legacy_app(environ: &mut Environ, start: &StartResponse) -> Result<AppIter, AppError> {
    let path = environ.get("PATH_INFO").unwrap_or("/").to_owned();
    let text = [("Content-Type", "text/plain")];
    match path.as_str() {
        "/hello" => {
            start.start("200 OK", text)?;
            Ok(AppIter::once("Hello, world!"))
        }
        "/slow" => {
            std::thread::sleep(Duration::from_millis(50)); // a blocking call, as legacy code makes
            start.start("200 OK", text)?;
            Ok(AppIter::once("Hello, world!"))
        }
        p if p.starts_with("/environ") => {
            let mut input = Vec::new();
            environ.input().read_to_end(&mut input)?;
            let mut lines: Vec<String> =
                environ.vars().iter().map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v))).collect();
            lines.push(format!("input={} bytes", input.len()));
            start.start("200 OK", text)?;
            Ok(AppIter::once(lines.join("\n") + "\n"))
        }
        _ => {
            start.start("404 Not Found", text)?;
            Ok(AppIter::once("no such legacy page\n"))
        }
    }
}
// ANCHOR_END: legacy_app

const USAGE: &str = "\
usage: mixed [ADDR] [--executor inline|pool|rayon] [--threads N] [server options]
(ADDR defaults to 127.0.0.1:8888)
";

fn main() {
    // Warnings and the access log unless RUST_LOG says otherwise.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let mut cli = Cli::new("mixed", USAGE);
    let (mut executor, mut threads) = ("pool".to_owned(), 16);
    while let Some(flag) = cli.next() {
        match flag.as_str() {
            "--executor" => executor = cli.value(&flag),
            "--threads" => threads = cli.parse(&flag),
            _ => cli.unknown(&flag),
        }
    }
    let executor = cli.executor(&executor, threads);

    let described = format!("{executor:?}");
    cli.serve(
        |_worker| Ok(app(executor)),
        |scheme, addr| {
            format!("serving on {scheme}://{addr}/ (the legacy app at {scheme}://{addr}/legacy/hello, on {described})")
        },
    )
}

fn app(executor: Executor) -> Router {
    // ANCHOR: mount
    let legacy = GatewayContainer::builder(legacy_app).executor(executor).build();
    let app = Router::new().route("/", get(|_req| async { "Hello, world!" })).mount("/legacy", legacy);
    // ANCHOR_END: mount
    app
}
