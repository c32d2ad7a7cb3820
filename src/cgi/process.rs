//! A running CGI program: its deadline, kept by one watchdog thread for all
//! programs; its standard error, logged line by line from the reactor; its
//! output after the header block, read as the response body; and how it
//! ended, once reaped.

use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStderr, ChildStdout};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::io::{AsyncBufReadExt, AsyncReadExt, BufReader as AsyncBufReader};

use crate::gateway::AppError;
use crate::rt::{self, lock};

/// Body bytes read from the program at a time.
pub(super) const CHUNK: usize = 16 * 1024;

/// The longest standard error line logged whole; longer ones are logged in pieces.
const MAX_LOG_LINE: u64 = 8 * 1024;

/// How a program ended. A non-zero exit status alone is not a failure: some
/// programs exit non-zero after writing a complete error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Exit {
    Exited,
    Killed,
    TimedOut,
}

/// The running child; the watchdog kills its group at its deadline.
#[derive(Debug)]
pub(super) struct Process {
    child: Child,
    deadline: Arc<Deadline>,
    /// The deadline's key in the watchdog's table, to forget it once reaped.
    key: (Instant, u64),
    name: String,
}

/// A program's deadline, as the watchdog sees it.
#[derive(Debug)]
struct Deadline {
    pid: u32,
    timed_out: AtomicBool,
}

/// The deadlines of every running program, earliest first, and the condition
/// the watchdog waits on.
#[derive(Default)]
struct Watchdog {
    deadlines: Mutex<BTreeMap<(Instant, u64), Arc<Deadline>>>,
    changed: Condvar,
}

impl Watchdog {
    /// The one watchdog, its thread started on first use (a thread per
    /// request would cost more than many CGI programs take to run).
    fn get() -> &'static Watchdog {
        static WATCHDOG: OnceLock<Watchdog> = OnceLock::new();
        static STARTED: AtomicBool = AtomicBool::new(false);
        let watchdog = WATCHDOG.get_or_init(Watchdog::default);
        if !STARTED.swap(true, Ordering::AcqRel) {
            let spawned = std::thread::Builder::new().name("squall-cgi-watchdog".into()).spawn(move || watchdog.run());
            if let Err(e) = spawned {
                log::error!(target: "squall::cgi", "cannot start the timeout watchdog: {e}");
            }
        }
        watchdog
    }

    fn watch(&self, key: (Instant, u64), deadline: Arc<Deadline>) {
        let mut deadlines = lock(&self.deadlines);
        let earliest = deadlines.first_key_value().is_none_or(|(first, _)| key < *first);
        deadlines.insert(key, deadline);
        if earliest {
            self.changed.notify_one();
        }
    }

    /// Forgets a deadline: its program was reaped, and its pid may be reused.
    fn forget(&self, key: (Instant, u64)) {
        lock(&self.deadlines).remove(&key);
    }

    /// Kills each program's group at its deadline, for ever.
    fn run(&self) {
        let mut deadlines = lock(&self.deadlines);
        loop {
            let now = Instant::now();
            while let Some(entry) = deadlines.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let deadline = entry.remove();
                deadline.timed_out.store(true, Ordering::SeqCst);
                kill_group(deadline.pid);
            }
            deadlines = match deadlines.first_key_value().map(|((at, _), _)| at.saturating_duration_since(now)) {
                Some(wait) => self.changed.wait_timeout(deadlines, wait).map_or_else(|e| e.into_inner().0, |(d, _)| d),
                None => self.changed.wait(deadlines).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}

impl Process {
    /// Takes charge of `child`: its deadline is `timeout` from now, and its
    /// standard error goes to the log under `name`.
    pub(super) fn start(child: Child, stderr: Option<ChildStderr>, timeout: Duration, name: String) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        if let Some(stderr) = stderr {
            log_lines(stderr, name.clone());
        }
        let deadline = Arc::new(Deadline { pid: child.id(), timed_out: AtomicBool::new(false) });
        let key = (Instant::now() + timeout, NEXT.fetch_add(1, Ordering::Relaxed));
        Watchdog::get().watch(key, deadline.clone());
        Process { child, deadline, key, name }
    }

    /// Kills the program's whole process group.
    pub(super) fn kill(&self) {
        kill_group(self.child.id());
    }

    /// Reaps the child and says how it ended.
    pub(super) fn finish(mut self) -> Exit {
        let waited = self.child.wait();
        // Reaped (or beyond reaping): the watchdog must not kill its pid any more.
        Watchdog::get().forget(self.key);
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
            (true, _) => Exit::TimedOut,
            (false, true) => Exit::Killed,
            (false, false) => Exit::Exited,
        }
    }
}

fn kill_group(pid: u32) {
    let pid = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Logs a program's standard error a line at a time, at warn, from a task
/// on the reactor: no thread waits on the pipe.
fn log_lines(stderr: ChildStderr, name: String) {
    let pipe = match rt::child_pipe(stderr) {
        Ok(pipe) => pipe,
        Err(e) => return log::error!(target: "squall::cgi", "{name}: cannot read its standard error: {e}"),
    };
    // Detached: it ends at the end of the pipe, when the program and
    // whatever it started have exited.
    drop(rt::spawn(async move {
        let mut reader = AsyncBufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut reader).take(MAX_LOG_LINE).read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    log::warn!(target: "squall::cgi", "{name}: {}", text.trim_end_matches(['\r', '\n']));
                }
            }
        }
    }));
}

/// The program's output after its headers, chunk by chunk; at its end the
/// program is reaped, and one that was killed on the way cuts the response.
pub(super) struct Output {
    pub(super) stdout: BufReader<ChildStdout>,
    pub(super) process: Arc<Mutex<Option<Process>>>,
    pub(super) done: bool,
}

impl Iterator for Output {
    type Item = Result<Bytes, AppError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut buf = vec![0; CHUNK];
        match self.stdout.read(&mut buf) {
            Ok(0) => {
                self.done = true;
                let process = lock(&self.process).take();
                match process.map(Process::finish) {
                    Some(Exit::TimedOut) => Some(Err("the CGI program timed out mid-body".into())),
                    Some(Exit::Killed) => Some(Err("the CGI program was killed mid-body".into())),
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

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    use super::*;

    fn sh(script: &str) -> Child {
        Command::new("sh").args(["-c", script]).process_group(0).stdout(Stdio::null()).spawn().unwrap()
    }

    #[test]
    fn a_reaped_program_leaves_no_deadline_behind() {
        let processes: Vec<Process> =
            (0..20).map(|_| Process::start(sh("exit 0"), None, Duration::from_secs(3600), "true".into())).collect();
        let keys: Vec<_> = processes.iter().map(|p| p.key).collect();
        let watched = |key| lock(&Watchdog::get().deadlines).contains_key(key);
        assert!(keys.iter().all(watched));
        for process in processes {
            assert_eq!(process.finish(), Exit::Exited);
        }
        // An hour-long deadline would otherwise stay in the table for an hour.
        assert!(!keys.iter().any(watched));
    }

    #[test]
    fn a_program_past_its_deadline_is_killed_and_reported_as_timed_out() {
        let process = Process::start(sh("sleep 30"), None, Duration::from_millis(100), "sleep".into());
        let started = Instant::now();
        assert_eq!(process.finish(), Exit::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
