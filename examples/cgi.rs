//! Legacy CGI programs beside a native route:
//! `cargo run --release --example cgi --features cgi -- [ADDR] [--scripts DIR] [--git-root DIR] [--php DIR]
//! [--env KEY=VALUE]... [--pass-env KEY]... [--timeout SECS] [--document-root DIR] [--executor inline|pool|rayon] [--threads N]`
//! and the server options (`--help` lists them)
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
use squall::{Router, get};

#[path = "support/cli.rs"]
mod cli;
use cli::Cli;

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

const USAGE: &str = "\
usage: cgi [ADDR] [--scripts DIR] [--git-root DIR] [--php DIR] [--env KEY=VALUE]...
           [--pass-env KEY]... [--timeout SECS] [--document-root DIR]
           [--executor inline|pool|rayon] [--threads N] [server options]
(ADDR defaults to 127.0.0.1:8888)
";

/// What the command line asks for.
#[derive(Default)]
struct Options {
    scripts: Option<String>,
    git_root: Option<String>,
    php: Option<String>,
    setup: Setup,
}

fn main() {
    // Warnings and the access log unless RUST_LOG says otherwise.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let mut cli = Cli::new("cgi", USAGE);
    let mut options = Options::default();
    let (mut executor, mut threads) = ("pool".to_owned(), 16);
    while let Some(flag) = cli.next() {
        match flag.as_str() {
            "--scripts" => options.scripts = Some(cli.value(&flag)),
            "--git-root" => options.git_root = Some(cli.value(&flag)),
            "--php" => options.php = Some(cli.value(&flag)),
            "--env" => {
                let pair = cli.value(&flag);
                let Some((key, value)) = pair.split_once('=') else {
                    cli.fail(format!("--env takes KEY=VALUE, not {pair:?}"))
                };
                options.setup.env.push((key.to_owned(), value.to_owned()));
            }
            "--pass-env" => options.setup.pass_env.push(cli.value(&flag)),
            "--timeout" => options.setup.timeout = Some(std::time::Duration::from_secs(cli.parse(&flag))),
            "--document-root" => options.setup.document_root = Some(cli.value(&flag).into()),
            "--executor" => executor = cli.value(&flag),
            "--threads" => threads = cli.parse(&flag),
            _ => cli.unknown(&flag),
        }
    }
    let executor = cli.executor(&executor, threads);
    // `/` answers when PHP has an index there, or natively without PHP.
    let root = match &options.php {
        Some(dir) if !std::path::Path::new(dir).join("index.php").is_file() => "squall/hello",
        _ => "",
    };
    cli.serve(
        |_worker| Ok(app(&options, &executor)),
        |scheme, addr| format!("serving on {scheme}://{addr}/{root} ({executor:?})"),
    )
}

fn app(options: &Options, executor: &Executor) -> Router {
    let setup = &options.setup;
    let hello = || get(|_req| async { "Hello from the native side\n" });
    let mut app = Router::new().route("/squall/hello", hello());
    if options.php.is_none() {
        app = app.route("/", hello());
    }
    if let Some(dir) = &options.scripts {
        let scripts = ScriptDir { dir: dir.into(), setup: setup.clone() };
        app = app.mount("/cgi-bin", GatewayContainer::builder(scripts).executor(executor.clone()).build());
    }
    // ANCHOR: git
    if let Some(root) = &options.git_root {
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
    if let Some(dir) = &options.php {
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

    app
}
