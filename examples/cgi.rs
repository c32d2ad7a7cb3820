//! Legacy CGI programs beside a native route:
//! `cargo run --release --example cgi --features cgi -- [ADDR] [--scripts DIR] [--git-root DIR] [--php DIR]
//! [--env KEY=VALUE]... [--pass-env KEY]... [--timeout SECS] [--document-root DIR] [--executor inline|pool|rayon] [--threads N]`
//!
//! - `/squall/hello` — a native route (and `/` too, without `--php`)
//! - `/cgi-bin/NAME/…` — the executable `NAME` in `--scripts DIR`, run as a
//!   CGI program (`SCRIPT_NAME=/cgi-bin/NAME`, `PATH_INFO` the rest)
//! - `/git/…` — with `--git-root DIR`: `git http-backend` over the
//!   repositories in DIR, push enabled (`git clone http://ADDR/git/REPO.git`)
//! - `/…` — with `--php DIR`: `*.php` under DIR run by `php-cgi`
//!   (`index.php` for directories), every other file of DIR served as a
//!   static file
//!
//! `--env`, `--pass-env`, `--timeout` and `--document-root` apply to the
//! programs of `--scripts` (gitweb's or cgit's configuration variables, say),
//! `--env` and `--timeout` to PHP too.

use std::path::PathBuf;

use squall::cgi::{CgiProgram, PhpCgi};
use squall::gateway::{App, AppError, AppIter, Environ, Executor, GatewayContainer, StartResponse};
use squall::static_files::StaticFiles;
use squall::{Router, Server, get};

// ANCHOR: script_dir
/// Runs the program `DIR/NAME` for `…/NAME/…`: one gateway app for a whole
/// directory of CGI scripts.
struct ScriptDir {
    dir: PathBuf,
    /// How each program is set up: `--env`, `--pass-env`, `--timeout`, `--document-root`.
    setup: Setup,
}

/// What the command line says about the programs' environment.
#[derive(Clone, Default)]
struct Setup {
    env: Vec<(String, String)>,
    pass_env: Vec<String>,
    timeout: Option<std::time::Duration>,
    document_root: Option<PathBuf>,
}

impl Setup {
    fn apply(&self, mut program: CgiProgram) -> CgiProgram {
        program = program.pass_env("PATH");
        for (key, value) in &self.env {
            program = program.env(key.as_str(), value.as_str());
        }
        for key in &self.pass_env {
            program = program.pass_env(key.as_str());
        }
        if let Some(timeout) = self.timeout {
            program = program.timeout(timeout);
        }
        if let Some(root) = &self.document_root {
            program = program.document_root(root);
        }
        program
    }
}

impl App for ScriptDir {
    fn call(&self, environ: &mut Environ, start: &StartResponse) -> Result<AppIter, AppError> {
        let path_info = environ.get("PATH_INFO").unwrap_or("").to_owned();
        let (name, rest) = path_info
            .trim_start_matches('/')
            .split_once('/')
            .map_or((path_info.trim_start_matches('/').to_owned(), String::new()), |(n, r)| {
                (n.to_owned(), format!("/{r}"))
            });
        let program = self.dir.join(&name);
        if name.is_empty() || name.starts_with('.') || !program.is_file() {
            start.start("404 Not Found", [("Content-Type", "text/plain")])?;
            return Ok(AppIter::once("no such script\n"));
        }
        let script_name = format!("{}/{name}", environ.get("SCRIPT_NAME").unwrap_or(""));
        environ.set("SCRIPT_NAME", script_name);
        environ.set("PATH_INFO", rest);
        self.setup.apply(CgiProgram::new(program)).call(environ, start)
    }
}
// ANCHOR_END: script_dir

fn value<'a>(args: &'a [String], flag: &str) -> Option<&'a String> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1))
}

/// Every value of a repeatable flag.
fn values<'a>(args: &'a [String], flag: &'a str) -> impl Iterator<Item = &'a String> + 'a {
    args.windows(2).filter(move |w| w[0] == flag).map(|w| &w[1])
}

fn setup(args: &[String]) -> Result<Setup, String> {
    let mut setup = Setup::default();
    for pair in values(args, "--env") {
        let (key, value) = pair.split_once('=').ok_or_else(|| format!("--env takes KEY=VALUE, not {pair:?}"))?;
        setup.env.push((key.to_owned(), value.to_owned()));
    }
    setup.pass_env = values(args, "--pass-env").cloned().collect();
    if let Some(secs) = value(args, "--timeout") {
        let secs: u64 = secs.parse().map_err(|_| format!("--timeout takes seconds, not {secs:?}"))?;
        setup.timeout = Some(std::time::Duration::from_secs(secs));
    }
    setup.document_root = value(args, "--document-root").map(PathBuf::from);
    Ok(setup)
}

fn executor(args: &[String]) -> Result<Executor, String> {
    let threads = match value(args, "--threads") {
        Some(n) => n.parse().map_err(|_| format!("--threads takes a number, not {n:?}"))?,
        None => 16,
    };
    Executor::by_name(value(args, "--executor").map_or("pool", String::as_str), threads).map_err(|e| e.to_string())
}

fn main() -> squall::Result<()> {
    // Warnings and the access log unless RUST_LOG says otherwise.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().filter(|a| !a.starts_with("--")).cloned().unwrap_or_else(|| "127.0.0.1:8888".to_owned());
    let (executor, setup) = match (executor(&args), setup(&args)) {
        (Ok(executor), Ok(setup)) => (executor, setup),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("cgi: {e}");
            std::process::exit(2);
        }
    };

    let hello = || get(|_req| async { "Hello from the native side\n" });
    let mut app = Router::new().route("/squall/hello", hello());
    if value(&args, "--php").is_none() {
        app = app.route("/", hello());
    }
    if let Some(dir) = value(&args, "--scripts") {
        let scripts = ScriptDir { dir: dir.into(), setup: setup.clone() };
        app = app.mount("/cgi-bin", GatewayContainer::builder(scripts).executor(executor.clone()).build());
    }
    // ANCHOR: git
    if let Some(root) = value(&args, "--git-root") {
        let backend = CgiProgram::new("git")
            .arg("http-backend")
            .env("GIT_PROJECT_ROOT", root.as_str())
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.receivepack")
            .env("GIT_CONFIG_VALUE_0", "true")
            .pass_env("PATH");
        app = app.mount("/git", GatewayContainer::builder(backend).executor(executor.clone()).build());
    }
    // ANCHOR_END: git
    // ANCHOR: php
    if let Some(dir) = value(&args, "--php") {
        let mut php = PhpCgi::new(dir).index("index.php");
        for (key, value) in &setup.env {
            php = php.env(key.as_str(), value.as_str());
        }
        if let Some(timeout) = setup.timeout {
            php = php.timeout(timeout);
        }
        let scripts = GatewayContainer::builder(php).executor(executor.clone()).build();
        // Paths with a `.php` segment (or a directory, for its index.php) go
        // to PHP; every other file is static.
        app = app.route(r"/(?:.*\.php(?:/.*)?|(?:.*/)?)", scripts).mount("/", StaticFiles::new(dir));
    }
    // ANCHOR_END: php

    squall::block_on(async {
        let server = Server::new(app);
        let bound = server.listen(addr.as_str())?;
        println!("serving on http://{bound}/ ({executor:?})");
        server.wait().await;
        Ok(())
    })
}
