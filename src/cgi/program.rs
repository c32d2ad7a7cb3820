//! [`CgiProgram`]: one process per request.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::gateway::{App, AppError, AppIter, Environ, StartResponse};

/// Longest header block accepted from a program, in bytes.
const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// Body bytes read from the program at a time.
const CHUNK: usize = 16 * 1024;
/// Bytes that always fit in a fresh pipe's buffer (Linux gives 64 KiB).
const PIPE_SAFE: usize = 16 * 1024;

/// A CGI/1.1 program (RFC 3875) as a gateway app: one process per request.
///
/// The process gets a clean environment: the CGI meta-variables, the extra
/// variables you set with [`env`](Self::env), and parent variables you name
/// with [`pass_env`](Self::pass_env) — nothing else. `Proxy` never reaches it
/// (httpoxy); `Authorization` only with [`pass_authorization`](Self::pass_authorization).
///
/// A program that cannot start gives `500`; one that exits or writes a
/// malformed header block before its headers are complete gives `502`; one
/// that outlives its [`timeout`](Self::timeout) gives `504` (or a cut
/// response once the body started), and its whole process group is killed.
/// The child is always reaped.
///
/// # Examples
///
/// ```no_run
/// use squall::cgi::CgiProgram;
/// use squall::gateway::{Executor, GatewayContainer};
/// use squall::Router;
///
/// let git = CgiProgram::new("git")
///     .arg("http-backend")
///     .env("GIT_PROJECT_ROOT", "/srv/git")
///     .env("GIT_HTTP_EXPORT_ALL", "1")
///     .pass_env("PATH");
/// let app = Router::new().mount("/git", GatewayContainer::builder(git).executor(Executor::thread_pool(8)).build());
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct CgiProgram {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    pass_env: Vec<String>,
    dir: Option<PathBuf>,
    document_root: Option<PathBuf>,
    timeout: Duration,
    pass_authorization: bool,
    max_spool: u64,
}

impl CgiProgram {
    /// A program to run per request (looked up in `PATH` when not a path).
    pub fn new(program: impl Into<PathBuf>) -> Self {
        CgiProgram {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            pass_env: Vec::new(),
            dir: None,
            document_root: None,
            timeout: Duration::from_secs(60),
            pass_authorization: false,
            max_spool: 100 * 1024 * 1024,
        }
    }

    /// Adds a command-line argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets an extra environment variable (`GIT_PROJECT_ROOT`, say).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Passes this variable of squall's own environment through (`PATH`, say).
    pub fn pass_env(mut self, key: impl Into<String>) -> Self {
        self.pass_env.push(key.into());
        self
    }

    /// The working directory of the program. Default: squall's.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// A document root: sets `PATH_TRANSLATED` to it joined with `PATH_INFO`.
    pub fn document_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.document_root = Some(dir.into());
        self
    }

    /// How long a program may run. Default: 60 s. Past it the process group is
    /// killed; the client gets `504` when no header was read yet.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Passes `Authorization` as `HTTP_AUTHORIZATION`. Default: `false`, as
    /// RFC 3875 advises.
    pub fn pass_authorization(mut self, yes: bool) -> Self {
        self.pass_authorization = yes;
        self
    }

    /// The most a body without `Content-Length` (chunked) is buffered to learn
    /// its length, which CGI programs need. Default: 100 MiB; past it, `413`.
    pub fn max_spool(mut self, bytes: u64) -> Self {
        self.max_spool = bytes;
        self
    }

    fn name(&self) -> String {
        self.program
            .file_name()
            .map_or_else(|| self.program.display().to_string(), |n| n.to_string_lossy().into_owned())
    }

    fn command(&self, environ: &Environ) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).env_clear();
        for key in &self.pass_env {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        for (key, value) in environ.vars() {
            if key == "HTTP_PROXY" || (key == "HTTP_AUTHORIZATION" && !self.pass_authorization) {
                continue;
            }
            cmd.env(key.as_ref(), value);
        }
        if let (Some(root), Some(path_info)) = (&self.document_root, environ.get("PATH_INFO")) {
            cmd.env("PATH_TRANSLATED", root.join(path_info.trim_start_matches('/')));
        }
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        // Its own process group, so a timeout kills everything it started.
        cmd.process_group(0).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }
}

impl App for CgiProgram {
    fn call(&self, environ: &mut Environ, start: &StartResponse) -> Result<AppIter, AppError> {
        let mut input = environ.take_input();
        // CGI programs read CONTENT_LENGTH bytes, and nothing without it.
        let mut stdin = if environ.get("CONTENT_LENGTH").is_none() {
            match spool(&mut input, self.max_spool)? {
                Some((stdin, length)) => {
                    environ.set("CONTENT_LENGTH", length.to_string());
                    stdin
                }
                None => return answer(start, "413 Content Too Large", "request body too large for a CGI program\n"),
            }
        } else {
            Stdin::Stream(input)
        };
        for _ in 0..=MAX_LOCAL_REDIRECTS {
            let body = std::mem::replace(&mut stdin, Stdin::Spooled(Vec::new()));
            match self.run(environ, body, start)? {
                Outcome::Response(body) => return Ok(body),
                Outcome::LocalRedirect(location) if redirect_within(environ, &location) => {}
                Outcome::LocalRedirect(location) => {
                    // Outside this program: only the client can follow it.
                    log::warn!(target: "squall::cgi", "{}: local redirect to {location} sent to the client", self.name());
                    start.start("302 Found", [("Location", location)])?;
                    return Ok(AppIter::empty());
                }
            }
        }
        log::error!(target: "squall::cgi", "{}: more than {MAX_LOCAL_REDIRECTS} local redirects", self.name());
        answer(start, "502 Bad Gateway", "the CGI program redirected in a loop\n")
    }
}

/// What the program's standard input gets.
enum Stdin {
    Spooled(Vec<u8>),
    /// A spooled body past `SPOOL_MEMORY`, in an unlinked temporary file.
    File(std::fs::File),
    Stream(crate::gateway::Input),
}

/// Spooled bodies up to this size stay in memory; larger ones go to a file.
const SPOOL_MEMORY: usize = 1024 * 1024;

/// Reads a body of unknown length (chunked) to learn it: memory first, a
/// temporary file past `SPOOL_MEMORY`. `None` when it exceeds `max`.
fn spool(input: &mut crate::gateway::Input, max: u64) -> io::Result<Option<(Stdin, u64)>> {
    let mut memory = Vec::new();
    input.take(SPOOL_MEMORY as u64 + 1).read_to_end(&mut memory)?;
    if memory.len() <= SPOOL_MEMORY {
        let length = memory.len() as u64;
        return Ok((length <= max).then_some((Stdin::Spooled(memory), length)));
    }
    let mut file = temp_file()?;
    file.write_all(&memory)?;
    let rest = io::copy(&mut input.take((max + 1).saturating_sub(memory.len() as u64)), &mut file)?;
    let length = memory.len() as u64 + rest;
    if length > max {
        return Ok(None);
    }
    io::Seek::rewind(&mut file)?;
    Ok(Some((Stdin::File(file), length)))
}

/// A new file in the temporary directory, already unlinked: it vanishes
/// with its last descriptor, whatever happens to the request.
fn temp_file() -> io::Result<std::fs::File> {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("squall-cgi-spool-{}-{n}", std::process::id()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// What one run of the program produced.
enum Outcome {
    Response(AppIter),
    /// A local redirect (RFC 3875 §6.2.2): the response is that of this path.
    LocalRedirect(String),
}

/// Local redirects followed for one request before giving up with 502.
const MAX_LOCAL_REDIRECTS: usize = 5;

/// Rewrites the environ for a local redirect to `location` when it stays
/// under this program's `SCRIPT_NAME`: a new GET without a body.
fn redirect_within(environ: &mut Environ, location: &str) -> bool {
    let (path, query) = location.split_once('?').unwrap_or((location, ""));
    let script = environ.get("SCRIPT_NAME").unwrap_or("").to_owned();
    let Some(rest) = path.strip_prefix(script.as_str()).filter(|r| r.is_empty() || r.starts_with('/')) else {
        return false;
    };
    let path_info = crate::web::decode_path_arg(rest);
    environ.set("PATH_INFO", path_info);
    environ.set("QUERY_STRING", query.to_owned());
    environ.set("REQUEST_URI", location.to_owned());
    environ.set("REQUEST_METHOD", "GET");
    environ.remove("CONTENT_LENGTH");
    environ.remove("CONTENT_TYPE");
    true
}

impl CgiProgram {
    fn run(&self, environ: &Environ, stdin: Stdin, start: &StartResponse) -> Result<Outcome, AppError> {
        let name = self.name();
        let mut command = self.command(environ);
        let stdin = match stdin {
            Stdin::File(file) => {
                command.stdin(Stdio::from(file));
                Stdin::Spooled(Vec::new())
            }
            other => other,
        };
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => return Err(format!("cannot start CGI program {name}: {e}").into()),
        };
        let (pipe, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        match (pipe, stdin) {
            // Fits in the pipe's buffer: written at once, no thread. A program
            // that stops reading early closes the pipe: not an error.
            (Some(mut pipe), Stdin::Spooled(body)) if body.len() <= PIPE_SAFE => drop(pipe.write_all(&body)),
            (Some(mut pipe), Stdin::Spooled(body)) => drop(std::thread::spawn(move || pipe.write_all(&body))),
            (Some(mut pipe), Stdin::Stream(mut input)) => {
                drop(std::thread::spawn(move || io::copy(&mut input, &mut pipe)))
            }
            (Some(_), Stdin::File(_)) | (None, _) => {}
        }
        if let Some(stderr) = stderr {
            let name = name.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    log::warn!(target: "squall::cgi", "{name}: {line}");
                }
            });
        }
        let process = Process::start(child, self.timeout, name.clone());
        let Some(stdout) = stdout else {
            return Err(format!("CGI program {name} has no standard output").into());
        };
        let mut stdout = BufReader::with_capacity(CHUNK, stdout);
        let head = match read_header_block(&mut stdout) {
            Ok(head) => head,
            Err(why) => {
                return if process.finish() == Ending::TimedOut {
                    log::error!(target: "squall::cgi", "{name}: timed out before its headers");
                    answer(start, "504 Gateway Timeout", "the CGI program timed out\n").map(Outcome::Response)
                } else {
                    log::error!(target: "squall::cgi", "{name}: {why}");
                    answer(start, "502 Bad Gateway", "the CGI program failed\n").map(Outcome::Response)
                };
            }
        };
        if let Some(location) = head.local_redirect {
            process.finish();
            return Ok(Outcome::LocalRedirect(location));
        }
        start.start(&head.status, head.headers)?;
        let process = Arc::new(Mutex::new(Some(process)));
        let closer = process.clone();
        let body = Body { stdout, process, done: false };
        Ok(Outcome::Response(AppIter::new(body).on_close(move || {
            // Client gone or response done: stop the program if it still runs, and reap it.
            if let Some(process) = closer.lock().unwrap_or_else(|e| e.into_inner()).take() {
                process.kill();
                process.finish();
            }
        })))
    }
}

fn answer(start: &StartResponse, status: &str, text: &'static str) -> Result<AppIter, AppError> {
    start.start(status, [("Content-Type", "text/plain; charset=utf-8")])?;
    Ok(AppIter::once(text))
}

/// The parsed CGI header block.
struct HeadBlock {
    status: String,
    headers: Vec<(String, String)>,
    /// A lone local `Location` (RFC 3875 §6.2.2).
    local_redirect: Option<String>,
}

/// Reads `Name: value` lines up to the blank line (RFC 3875 §6.3).
fn read_header_block(stdout: &mut impl BufRead) -> Result<HeadBlock, String> {
    let mut status = None;
    let mut location = false;
    let mut headers = Vec::new();
    let mut total = 0;
    loop {
        let mut line = Vec::new();
        let n = stdout.read_until(b'\n', &mut line).map_err(|e| format!("reading its output: {e}"))?;
        total += n;
        if n == 0 {
            return Err("exited before the end of its header block".into());
        }
        if total > MAX_HEADER_BLOCK {
            return Err("header block too large".into());
        }
        let line = String::from_utf8(line).map_err(|_| "header line is not UTF-8".to_owned())?;
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| format!("malformed header line {line:?}"))?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("malformed header line {line:?}"));
        }
        if name.eq_ignore_ascii_case("status") {
            status = Some(value.to_owned());
        } else {
            location |= name.eq_ignore_ascii_case("location");
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    if headers.is_empty() && status.is_none() {
        return Err("empty header block".into());
    }
    let local_redirect = match (&status, headers.as_slice()) {
        (None, [(name, value)]) if name.eq_ignore_ascii_case("location") && value.starts_with('/') => {
            Some(value.clone())
        }
        _ => None,
    };
    // Any other Location without Status is a client redirect (RFC 3875 §6.2.3-4).
    let status = status.unwrap_or_else(|| if location { "302 Found".into() } else { "200 OK".into() });
    Ok(HeadBlock { status, headers, local_redirect })
}

/// How a program ended. A non-zero exit status alone is not a failure: some
/// programs exit non-zero after writing a complete error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Exited,
    Killed,
    TimedOut,
}

/// The running child; the watchdog kills its group at its deadline.
struct Process {
    child: Child,
    deadline: Arc<Deadline>,
    name: String,
}

/// A program's deadline, as the watchdog sees it.
struct Deadline {
    pid: u32,
    timed_out: AtomicBool,
    /// Reaped: its pid may be reused, so it must not be killed any more.
    done: AtomicBool,
}

type Deadlines = mpsc::Sender<(Instant, Arc<Deadline>)>;

/// One thread keeps every program's deadline (a thread per request would
/// cost more than many CGI programs take to run).
fn watchdog() -> Deadlines {
    static WATCHDOG: OnceLock<Mutex<Deadlines>> = OnceLock::new();
    let sender = WATCHDOG.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<(Instant, Arc<Deadline>)>();
        let spawned = std::thread::Builder::new().name("squall-cgi-watchdog".into()).spawn(move || {
            let mut pending: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
            let mut deadlines = std::collections::HashMap::new();
            let mut next_id = 0u64;
            loop {
                let received = match pending.peek() {
                    Some(Reverse((at, _))) => receiver.recv_timeout(at.saturating_duration_since(Instant::now())),
                    None => receiver.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                };
                match received {
                    Ok((at, deadline)) => {
                        next_id += 1;
                        deadlines.insert(next_id, deadline);
                        pending.push(Reverse((at, next_id)));
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                while let Some(&Reverse((at, id))) = pending.peek() {
                    if at > Instant::now() {
                        break;
                    }
                    pending.pop();
                    if let Some(deadline) = deadlines.remove(&id) {
                        if !deadline.done.load(Ordering::SeqCst) {
                            deadline.timed_out.store(true, Ordering::SeqCst);
                            kill_group(deadline.pid);
                        }
                    }
                }
            }
        });
        if let Err(e) = spawned {
            log::error!(target: "squall::cgi", "cannot start the timeout watchdog: {e}");
        }
        Mutex::new(sender)
    });
    sender.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

impl Process {
    fn start(child: Child, timeout: Duration, name: String) -> Self {
        let deadline =
            Arc::new(Deadline { pid: child.id(), timed_out: AtomicBool::new(false), done: AtomicBool::new(false) });
        let _ = watchdog().send((Instant::now() + timeout, deadline.clone()));
        Process { child, deadline, name }
    }

    fn kill(&self) {
        kill_group(self.child.id());
    }

    /// Reaps the child and says how it ended.
    fn finish(mut self) -> Ending {
        let waited = self.child.wait();
        self.deadline.done.store(true, Ordering::SeqCst);
        let killed = match waited {
            Ok(status) if status.signal().is_some() => {
                log::error!(target: "squall::cgi", "{} was killed: {status}", self.name);
                true
            }
            Ok(status) if !status.success() => {
                log::warn!(target: "squall::cgi", "{} ended with {status}", self.name);
                false
            }
            Ok(_) => false,
            Err(e) => {
                log::error!(target: "squall::cgi", "{}: cannot reap: {e}", self.name);
                false
            }
        };
        match (self.deadline.timed_out.load(Ordering::SeqCst), killed) {
            (true, _) => Ending::TimedOut,
            (false, true) => Ending::Killed,
            (false, false) => Ending::Exited,
        }
    }
}

fn kill_group(pid: u32) {
    let pid = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// The program's output after its headers, chunk by chunk.
struct Body {
    stdout: BufReader<ChildStdout>,
    process: Arc<Mutex<Option<Process>>>,
    done: bool,
}

impl Iterator for Body {
    type Item = Result<Bytes, AppError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut buf = vec![0; CHUNK];
        match self.stdout.read(&mut buf) {
            Ok(0) => {
                self.done = true;
                // End of output: a program killed on the way gives a cut response.
                let process = self.process.lock().unwrap_or_else(|e| e.into_inner()).take();
                match process.map(Process::finish) {
                    Some(Ending::TimedOut) => Some(Err("the CGI program timed out mid-body".into())),
                    Some(Ending::Killed) => Some(Err("the CGI program was killed mid-body".into())),
                    _ => None,
                }
            }
            Ok(n) => {
                buf.truncate(n);
                Some(Ok(Bytes::from(buf)))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e.into()))
            }
        }
    }
}
