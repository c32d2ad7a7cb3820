//! Native async routes beside a synchronous legacy app:
//! `cargo run --release --example mixed [ADDR] [--executor inline|pool|rayon] [--threads N]`.
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
use squall::{Router, Server, get};

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

fn executor(args: &[String]) -> Result<Executor, String> {
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
    let threads = match value("--threads") {
        Some(n) => n.parse().map_err(|_| format!("--threads takes a number, not {n:?}"))?,
        None => 16,
    };
    Executor::by_name(value("--executor").map_or("pool", String::as_str), threads).map_err(|e| e.to_string())
}

fn main() -> squall::Result<()> {
    // Warnings and the access log unless RUST_LOG says otherwise.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().filter(|a| !a.starts_with("--")).cloned().unwrap_or_else(|| "127.0.0.1:8888".to_owned());
    let executor = executor(&args).unwrap_or_else(|e| {
        eprintln!("mixed: {e}");
        std::process::exit(2);
    });

    let described = format!("{executor:?}");
    // ANCHOR: mount
    let legacy = GatewayContainer::builder(legacy_app).executor(executor).build();
    let app = Router::new().route("/", get(|_req| async { "Hello, world!" })).mount("/legacy", legacy);
    // ANCHOR_END: mount

    squall::block_on(async {
        let server = Server::new(app);
        let bound = server.listen(addr.as_str())?;
        println!("serving on http://{bound}/ (legacy app at /legacy/ on {described})");
        server.wait().await;
        Ok(())
    })
}
