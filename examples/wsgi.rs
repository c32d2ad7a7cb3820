//! A Python WSGI app (Flask, Django, …) mounted beside a native route:
//!
//! ```text
//! wsgi [ADDR] --app MODULE:CALLABLE [--path DIR]... [--mount PREFIX]
//!      [--executor inline|pool|rayon] [--threads N] [--workers N]
//! ```
//!
//! ADDR defaults to `127.0.0.1:8888`; the app is mounted at PREFIX (default
//! `/`), and `/squall/hello` answers `Hello from squall` natively. `--path`
//! entries and `PYTHONPATH` go on `sys.path`; an active virtualenv
//! (`VIRTUAL_ENV`) is honoured. `--workers N` runs N processes, each with its
//! own interpreter. Needs the `python` feature:
//! `cargo run --release --features python --example wsgi -- --app app:app`.

use std::time::Duration;

use squall::gateway::{Executor, GatewayContainer};
use squall::python::WsgiApp;
use squall::server::process;
use squall::{Router, Server, get};

const USAGE: &str = "usage: wsgi [ADDR] --app MODULE:CALLABLE [--path DIR]... [--mount PREFIX] \
                     [--executor inline|pool|rayon] [--threads N] [--workers N]";

#[derive(Debug)]
struct Options {
    addr: String,
    app: String,
    paths: Vec<String>,
    mount: String,
    executor: Executor,
    workers: Option<usize>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let (mut addr, mut app, mut paths, mut mount) = (None, None, Vec::new(), "/".to_owned());
    let (mut executor, mut threads, mut workers) = ("pool".to_owned(), 16, None);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--app" => app = Some(value()?),
            "--path" => paths.push(value()?),
            "--mount" => mount = value()?,
            "--executor" => executor = value()?,
            "--threads" => threads = value()?.parse().map_err(|_| "--threads takes a number")?,
            "--workers" => workers = Some(value()?.parse().map_err(|_| "--workers takes a number")?),
            "--help" | "-h" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ if addr.is_none() => addr = Some(arg),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    Ok(Options {
        addr: addr.unwrap_or_else(|| "127.0.0.1:8888".to_owned()),
        app: app.ok_or("--app MODULE:CALLABLE is required")?,
        paths,
        mount,
        executor: Executor::by_name(&executor, threads).map_err(|e| e.to_string())?,
        workers,
    })
}

// ANCHOR: wsgi
fn main() -> squall::Result<()> {
    // Warnings and the access log unless RUST_LOG says otherwise.
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("warn,squall::access=info,squall::python=info"),
    )
    .init();
    let options = parse(std::env::args().skip(1)).unwrap_or_else(|e| {
        eprintln!("{}{USAGE}", if e.is_empty() { String::new() } else { format!("wsgi: {e}\n\n") });
        std::process::exit(2);
    });
    let sockets = process::bind_sockets(options.addr.as_str(), false)?;
    if let Some(n) = options.workers {
        if process::fork_processes(&sockets, n, 100)?.is_none() {
            return Ok(()); // the supervisor: every worker has ended
        }
    }
    // Each process loads the app into its own interpreter.
    let mut python = WsgiApp::builder(options.app.as_str());
    for dir in &options.paths {
        python = python.path(dir);
    }
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        python = python.virtualenv(venv);
    }
    let legacy = GatewayContainer::builder(python.load()?).executor(options.executor).build();
    let app =
        Router::new().route("/squall/hello", get(|_req| async { "Hello from squall" })).mount(&options.mount, legacy);
    squall::block_on(async {
        let server = Server::new(app);
        let bound = server.add_sockets(sockets)?;
        if process::task_id().unwrap_or(0) == 0 {
            for addr in bound {
                println!("serving {} on http://{addr}{}", options.app, options.mount);
            }
        }
        server.shutdown_on_signals(Duration::from_secs(10))?;
        server.wait().await;
        Ok(())
    })
}
// ANCHOR_END: wsgi
