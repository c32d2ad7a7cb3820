//! A Python WSGI app (Flask, Django, …) mounted beside a native route:
//!
//! ```text
//! wsgi [ADDR] --app MODULE:CALLABLE [--path DIR]... [--mount PREFIX]
//!      [--executor inline|pool|rayon] [--threads N] [server options]
//! ```
//!
//! ADDR defaults to `127.0.0.1:8888`; the app is mounted at PREFIX (default
//! `/`), and `/squall/hello` answers `Hello from squall` natively. `--path`
//! entries and `PYTHONPATH` go on `sys.path`; the virtualenv `VIRTUAL_ENV`
//! names (an activated one) is run in as its own `python` would. The server
//! options are the ones `--help` lists; `--workers N` runs N processes, each
//! with its own interpreter. Needs the `python` feature:
//! `cargo run --release --features python --example wsgi -- --app app:app`.

use squall::gateway::GatewayContainer;
use squall::python::WsgiApp;
use squall::{Router, get};

#[path = "support/cli.rs"]
mod cli;
use cli::Cli;

const USAGE: &str = "\
usage: wsgi [ADDR] --app MODULE:CALLABLE [--path DIR]... [--mount PREFIX]
            [--executor inline|pool|rayon] [--threads N] [server options]
(ADDR defaults to 127.0.0.1:8888; VIRTUAL_ENV names a virtualenv to run in)
";

// ANCHOR: wsgi
fn main() {
    // Warnings, the access log and the interpreter it loads, unless RUST_LOG says otherwise.
    let log = "warn,squall::access=info,squall::python=info";
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(log)).init();
    let mut cli = Cli::new("wsgi", USAGE);
    let (mut target, mut paths, mut mount) = (None, Vec::new(), "/".to_owned());
    let (mut executor, mut threads) = ("pool".to_owned(), 16);
    while let Some(flag) = cli.next() {
        match flag.as_str() {
            "--app" => target = Some(cli.value(&flag)),
            "--path" => paths.push(cli.value(&flag)),
            "--mount" => mount = cli.value(&flag),
            "--executor" => executor = cli.value(&flag),
            "--threads" => threads = cli.parse(&flag),
            _ => cli.unknown(&flag),
        }
    }
    let Some(target) = target else { cli.fail("--app MODULE:CALLABLE is required") };
    let executor = cli.executor(&executor, threads);
    let virtualenv = std::env::var_os("VIRTUAL_ENV");
    cli.serve(
        // Each worker process loads the app into its own interpreter.
        |_worker| {
            let mut python = WsgiApp::builder(target.as_str());
            for dir in &paths {
                python = python.path(dir);
            }
            if let Some(venv) = virtualenv {
                python = python.virtualenv(venv);
            }
            let legacy = GatewayContainer::builder(python.load()?).executor(executor).build();
            Ok(Router::new().route("/squall/hello", get(|_req| async { "Hello from squall" })).mount(&mount, legacy))
        },
        |scheme, addr| {
            format!("serving {target} under {mount} on {addr}; squall's own page: {scheme}://{addr}/squall/hello")
        },
    )
}
// ANCHOR_END: wsgi
