//! Shared by the integration tests: a capturing logger and a test app.
#![allow(dead_code)]

#[cfg(all(feature = "websocket", feature = "templates"))]
pub(crate) mod browser;
#[cfg(feature = "auth")]
pub(crate) mod oidc;
#[cfg(feature = "redis")]
pub(crate) mod redis;

use std::sync::{Mutex, OnceLock};

use http::StatusCode;
use squall::{Body, HttpError, Request, Response, Router, get, post};

/// Every log record of the test process: (level, target, message).
pub(crate) fn logs() -> Vec<(log::Level, String, String)> {
    init_logger();
    LOGGER.records.lock().unwrap().clone()
}

/// Log lines whose message contains `needle`.
pub(crate) fn log_lines_with(needle: &str) -> Vec<(log::Level, String, String)> {
    logs().into_iter().filter(|(_, _, m)| m.contains(needle)).collect()
}

/// Log lines containing `needle`, waiting (up to 5 s) for at least one: the
/// access log is written after the response has gone out.
pub(crate) fn wait_for_log(needle: &str) -> Vec<(log::Level, String, String)> {
    for _ in 0..250 {
        let lines = log_lines_with(needle);
        if !lines.is_empty() {
            return lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Vec::new()
}

struct Capture {
    records: Mutex<Vec<(log::Level, String, String)>>,
}

static LOGGER: Capture = Capture { records: Mutex::new(Vec::new()) };

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = (record.level(), record.target().to_owned(), record.args().to_string());
        self.records.lock().unwrap().push(line);
    }

    fn flush(&self) {}
}

pub(crate) fn init_logger() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        log::set_logger(&LOGGER).expect("no other logger in tests");
        log::set_max_level(log::LevelFilter::Debug);
    });
}

/// The app most server tests talk to.
pub(crate) fn app() -> Router {
    Router::new()
        .route("/", get(|_req| async { "Hello, world!" }))
        .route("/path/.*", get(|req: Request| async move { req.path().to_owned() }))
        .route("/echo", post(|mut req: Request| async move { req.bytes().await.map(Response::text) }))
        .route("/reject", post(|_req| async { HttpError::new(StatusCode::UNAUTHORIZED).with_message("no") }))
        .route("/ignore-body", post(|_req| async { "ignored" }))
        .route(
            "/header",
            get(|req: Request| async move {
                let value = req.headers().get("x-name").map(|v| v.as_bytes().to_vec()).unwrap_or_default();
                String::from_utf8_lossy(&value).into_owned()
            }),
        )
        .route("/panic", get(|_req| async { panic!("handler blew up on purpose") as &'static str }))
        .route(
            "/stream",
            get(|_req| async {
                let chunks = ["one,", "two,", "three"].map(|s| Ok(bytes::Bytes::from_static(s.as_bytes())));
                Response::stream(Body::from_stream(futures_lite::stream::iter(chunks)))
            }),
        )
}

/// Reads from `stream` until the bytes received contain `needle`; returns them.
pub(crate) fn read_until_contains(stream: &mut std::net::TcpStream, needle: &str) -> Vec<u8> {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains(needle) {
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "closed before {needle:?} arrived");
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// An example's binary, built (or found up to date) with the features this
/// test was built with plus `features`.
pub(crate) fn example_binary(name: &str, features: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap().to_path_buf();
    let mut wanted: Vec<&str> = features.split(',').filter(|f| !f.is_empty()).collect();
    wanted.extend(cfg!(feature = "cgi").then_some("cgi"));
    wanted.extend(cfg!(feature = "tls").then_some("tls"));
    wanted.sort_unstable();
    wanted.dedup();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let release = profile_dir.ends_with("release").then_some("--release");
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "--quiet", "--example", name, "--features", &wanted.join(",")]).args(release);
    // The variables `cargo test` sets for this test would make build scripts
    // (ring's, through cc) see a changed environment and rebuild every time.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
            build.env_remove(&*key);
        }
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building examples/{name}.rs failed");
    profile_dir.join("examples").join(name)
}

/// Polls `done` until it holds; fails the test after 10 s, naming `what`.
pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A running example, killed when dropped.
pub(crate) struct Example {
    pub(crate) child: std::process::Child,
    pub(crate) addr: std::net::SocketAddr,
}

/// The `production` example, started by [`production`].
pub(crate) type Production = Example;

impl Drop for Example {
    /// SIGTERM first, so that a supervisor stops its worker processes with
    /// it; SIGKILL for what has not ended within three seconds.
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
            while std::time::Instant::now() < deadline {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the `production` example on a free loopback port with `args`.
pub(crate) fn production(args: &[&str]) -> Production {
    example("production", "tls", args)
}

/// The address an example's first line of output names: in its first URL
/// (`http://ADDR/…`), else after ` on ` (`serving DIR on ADDR …`).
pub(crate) fn announced_address(line: &str) -> Option<std::net::SocketAddr> {
    let address = match line.split_once("://") {
        Some((_, url)) => url.split('/').next()?,
        None => line.split(" on ").nth(1)?.split([' ', ';']).next()?,
    };
    address.trim().parse().ok()
}

/// Starts example `name` (built with `features`) on a free loopback port,
/// then `args`; its first line of output names its address.
pub(crate) fn example(name: &str, features: &str, args: &[&str]) -> Example {
    example_at(name, features, "127.0.0.1:0", args)
}

/// Starts example `name` listening on `addr` with `args`, once it has
/// announced the address it serves.
pub(crate) fn example_at(name: &str, features: &str, addr: &str, args: &[&str]) -> Example {
    use std::io::BufRead;
    let binary = example_binary(name, features);
    // Quiet unless a test asks for the access log.
    let quiet = (!args.contains(&"--access-log")).then_some(["--access-log", "off"]);
    let mut child = std::process::Command::new(binary)
        .arg(addr)
        .args(quiet.iter().flatten())
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = announced_address(&line).unwrap_or_else(|| panic!("no address in {line:?}"));
    Example { child, addr }
}

/// The virtualenv with the pinned Python packages (`tests/python/requirements.txt`):
/// `target/python-venv`, made by `.ci/run`, or here when it is missing.
pub(crate) fn framework_venv() -> std::path::PathBuf {
    use std::path::PathBuf;
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let venv = root.join("target").join("python-venv");
        let requirements = root.join("tests").join("python").join("requirements.txt");
        let marker = venv.join("installed-requirements.txt");
        let wanted = std::fs::read_to_string(&requirements).unwrap();
        if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
            let run = |program: &std::path::Path, args: &[&str]| {
                let status = std::process::Command::new(program).args(args).status().unwrap();
                assert!(status.success(), "{} {args:?} failed", program.display());
            };
            run("/usr/bin/python3".as_ref(), &["-m", "venv", venv.to_str().unwrap()]);
            let pip = venv.join("bin").join("pip");
            run(&pip, &["install", "--quiet", "--disable-pip-version-check", "-r", requirements.to_str().unwrap()]);
            std::fs::write(&marker, wanted).unwrap();
        }
        venv
    })
    .clone()
}

/// A memory figure of process `pid` from `/proc/PID/status`, in kB:
/// `VmRSS` (resident now) or `VmHWM` (its peak).
pub(crate) fn memory_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')).unwrap();
    line.trim().trim_end_matches("kB").trim().parse().unwrap()
}
