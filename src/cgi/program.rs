//! [`CgiProgram`]: the builder, the process environment a request becomes,
//! and one run of the program per request, with local redirects.
//!
//! The header block is parsed in `header_block`, bodies of unknown length
//! are spooled in `spool`, and the running process is watched in `process`.

use std::ffi::OsString;
use std::io::{self, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::process::{CHUNK, Exit, Output, Process};
use super::spool::{Stdin, spool};
use crate::gateway::header_block::read_header_block;
use crate::gateway::{App, AppError, AppIter, Environ, StartResponse};
use crate::rt::lock;

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
    /// A program to run per request. A bare name (no `/`) is looked up in
    /// the `PATH` the program gets (from [`env`](Self::env) or
    /// [`pass_env`](Self::pass_env); `/bin:/usr/bin` without one).
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

    /// The program's path. A bare name is looked up here, in the `PATH` the
    /// program gets, as `execvp` would in the child: given a path, the
    /// standard library starts the process with `posix_spawn` instead of a
    /// `fork` that copies squall's whole address space (a name with a
    /// changed environment forces the fork).
    fn program_path(&self) -> PathBuf {
        if self.program.as_os_str().as_bytes().contains(&b'/') {
            return self.program.clone();
        }
        let own = || self.pass_env.iter().any(|k| k == "PATH").then(|| std::env::var_os("PATH")).flatten();
        let search = match self.env.iter().rev().find(|(k, _)| k == "PATH") {
            Some((_, path)) => OsString::from(path),
            None => own().unwrap_or_else(|| "/bin:/usr/bin".into()),
        };
        let executable = |path: &PathBuf| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        };
        std::env::split_paths(&search)
            .map(|dir| dir.join(&self.program))
            .find(executable)
            .unwrap_or_else(|| self.program.clone())
    }

    fn command(&self, environ: &Environ) -> Command {
        let program = self.program_path();
        let mut cmd = Command::new(&program);
        cmd.args(&self.args).env_clear();
        for key in &self.pass_env {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        for (key, value) in environ.vars() {
            // The body reaches the program whole, with CONTENT_LENGTH: a
            // chunked request's framing header would make it read nothing.
            let framing = key == "HTTP_TRANSFER_ENCODING" || key == "HTTP_CONTENT_LENGTH";
            if framing || key == "HTTP_PROXY" || (key == "HTTP_AUTHORIZATION" && !self.pass_authorization) {
                continue;
            }
            // Bytes as they are: a path with `%EF` reaches the program as the byte 0xEF.
            cmd.env(key.as_ref(), std::ffi::OsStr::from_bytes(value));
        }
        if let (Some(root), Some(path_info)) = (&self.document_root, environ.get_bytes("PATH_INFO")) {
            let relative = path_info.strip_prefix(b"/").unwrap_or(path_info);
            cmd.env("PATH_TRANSLATED", root.join(std::ffi::OsStr::from_bytes(relative)));
        }
        if let Some(root) = &self.document_root {
            cmd.env("DOCUMENT_ROOT", root);
        }
        // What lighttpd and Apache tell a program about itself and the scheme:
        // Flask, CGI.pm and hgweb build their links from these.
        cmd.env("SCRIPT_FILENAME", std::path::absolute(&program).unwrap_or(program));
        cmd.env("REQUEST_SCHEME", environ.url_scheme());
        if environ.url_scheme() == "https" {
            cmd.env("HTTPS", "on");
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
    let path_info = crate::web::percent_decode(rest.as_bytes(), false).into_owned();
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
        let process = Process::start(child, stderr, self.timeout, name.clone());
        let Some(stdout) = stdout else {
            return Err(format!("CGI program {name} has no standard output").into());
        };
        let mut stdout = BufReader::with_capacity(CHUNK, stdout);
        let head = match read_header_block(&mut stdout) {
            Ok(head) => head,
            Err(why) => {
                return if process.finish() == Exit::TimedOut {
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
        start.start_raw(head.status, head.headers, None)?;
        let process = Arc::new(Mutex::new(Some(process)));
        let closer = process.clone();
        let body = Output { stdout, process, done: false };
        Ok(Outcome::Response(AppIter::new(body).on_close(move || {
            // Client gone or response done: stop the program if it still runs, and reap it.
            if let Some(process) = lock(&closer).take() {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn a_bare_name_is_found_in_the_path_the_program_gets() {
        let in_own_path = CgiProgram::new("sh").pass_env("PATH").program_path();
        assert!(in_own_path.is_absolute() && in_own_path.ends_with("sh"), "{}", in_own_path.display());
        let default = CgiProgram::new("sh").program_path();
        assert!(default == Path::new("/bin/sh") || default == Path::new("/usr/bin/sh"), "{}", default.display());
        let nowhere = CgiProgram::new("sh").env("PATH", "/nonexistent").program_path();
        assert_eq!(nowhere, Path::new("sh"), "not found: left to fail as it would have");
        assert_eq!(CgiProgram::new("./x.cgi").program_path(), Path::new("./x.cgi"), "a path stays as given");
    }
}
