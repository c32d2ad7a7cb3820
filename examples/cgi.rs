//! Legacy CGI programs beside a native route:
//! `cargo run --release --example cgi --features cgi -- [ADDR] [--scripts DIR] [--git-root DIR] [--executor inline|pool|rayon] [--threads N]`
//!
//! - `/` — a native route
//! - `/cgi-bin/NAME/…` — the executable `NAME` in `--scripts DIR`, run as a
//!   CGI program (`SCRIPT_NAME=/cgi-bin/NAME`, `PATH_INFO` the rest)
//! - `/git/…` — with `--git-root DIR`: `git http-backend` over the
//!   repositories in DIR, push enabled (`git clone http://ADDR/git/REPO.git`)

use std::path::PathBuf;

use squall::cgi::CgiProgram;
use squall::gateway::{App, AppError, AppIter, Environ, Executor, GatewayContainer, StartResponse};
use squall::{Router, Server, get};

// ANCHOR: script_dir
/// Runs the program `DIR/NAME` for `…/NAME/…`: one gateway app for a whole
/// directory of CGI scripts.
struct ScriptDir(PathBuf);

impl App for ScriptDir {
    fn call(&self, environ: &mut Environ, start: &StartResponse) -> Result<AppIter, AppError> {
        let path_info = environ.get("PATH_INFO").unwrap_or("").to_owned();
        let (name, rest) = path_info
            .trim_start_matches('/')
            .split_once('/')
            .map_or((path_info.trim_start_matches('/').to_owned(), String::new()), |(n, r)| {
                (n.to_owned(), format!("/{r}"))
            });
        let program = self.0.join(&name);
        if name.is_empty() || name.starts_with('.') || !program.is_file() {
            start.start("404 Not Found", [("Content-Type", "text/plain")])?;
            return Ok(AppIter::once("no such script\n"));
        }
        let script_name = format!("{}/{name}", environ.get("SCRIPT_NAME").unwrap_or(""));
        environ.set("SCRIPT_NAME", script_name);
        environ.set("PATH_INFO", rest);
        CgiProgram::new(program).pass_env("PATH").call(environ, start)
    }
}
// ANCHOR_END: script_dir

fn value<'a>(args: &'a [String], flag: &str) -> Option<&'a String> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1))
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
    let executor = executor(&args).unwrap_or_else(|e| {
        eprintln!("cgi: {e}");
        std::process::exit(2);
    });

    let mut app = Router::new().route("/", get(|_req| async { "Hello from the native side\n" }));
    if let Some(dir) = value(&args, "--scripts") {
        let scripts = GatewayContainer::builder(ScriptDir(dir.into())).executor(executor.clone()).build();
        app = app.mount("/cgi-bin", scripts);
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

    squall::block_on(async {
        let server = Server::new(app);
        let bound = server.listen(addr.as_str())?;
        println!("serving on http://{bound}/ ({executor:?})");
        server.wait().await;
        Ok(())
    })
}
