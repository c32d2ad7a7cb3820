//! [`AccessLog`]: one line per request, in Tornado's format
//! (`200 GET /path?q=1 (127.0.0.1) 1.23ms`), through the `log` crate or
//! written by squall itself through a buffer.

use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode, Uri};

use crate::error::{Error, Result};
use crate::rt::lock;

/// Where a server's access log goes: a line per request, in Tornado's
/// format — status, method, target, client, time taken.
///
/// - [`AccessLog::log`] (the default) hands each line to the `log` crate,
///   target `squall::access`: INFO below 400, WARN below 500, ERROR from
///   500. The program's logger decides the rest, and pays for it: a typical
///   logger formats and writes every line on its own.
/// - [`AccessLog::stderr`], [`stdout`](AccessLog::stdout) and
///   [`file`](AccessLog::file) have squall write the lines itself, each
///   prefixed by the UTC time (`2026-12-06T14:21:01Z 200 GET / (127.0.0.1)
///   0.29ms`): formatted into a shared buffer without allocating, and
///   written out by a thread of their own in blocks of whole lines — when
///   4 KiB have gathered, at least every second, and when the server's
///   [`wait`](super::Server::wait) returns after a stop or a drain (so a
///   `SIGTERM` loses no line). Blocks stay under the size a pipe writes
///   whole, so worker processes sharing a terminal never split a line.
/// - [`AccessLog::off`] logs nothing.
///
/// # Examples
///
/// ```
/// use squall::server::AccessLog;
/// use squall::{Router, Server};
///
/// let server = Server::builder().access_log(AccessLog::stderr()).build(Router::new());
/// # let _ = server;
/// ```
#[derive(Clone)]
pub struct AccessLog {
    sink: Sink,
}

#[derive(Clone)]
enum Sink {
    Log,
    Off,
    Written(Arc<Buffered>),
}

impl AccessLog {
    /// Through the `log` crate, target `squall::access` (the default).
    pub fn log() -> Self {
        AccessLog { sink: Sink::Log }
    }

    /// No access log.
    pub fn off() -> Self {
        AccessLog { sink: Sink::Off }
    }

    /// Written by squall to standard error, buffered.
    pub fn stderr() -> Self {
        Self::written(Box::new(std::io::stderr()))
    }

    /// Written by squall to standard output, buffered.
    pub fn stdout() -> Self {
        Self::written(Box::new(std::io::stdout()))
    }

    /// Written by squall to the end of the file at `path` (created if
    /// missing), buffered.
    ///
    /// # Errors
    ///
    /// An I/O error when the file cannot be opened for appending.
    pub fn file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(format!("cannot open the access log {}", path.display()), e))?;
        Ok(Self::written(Box::new(file)))
    }

    /// The access log a command-line flag names: `log`, `off`, `stderr`,
    /// `stdout`, or a file's path.
    ///
    /// # Errors
    ///
    /// As [`AccessLog::file`].
    pub fn by_name(name: &str) -> Result<Self> {
        match name {
            "log" => Ok(Self::log()),
            "off" => Ok(Self::off()),
            "stderr" | "-" => Ok(Self::stderr()),
            "stdout" => Ok(Self::stdout()),
            path => Self::file(path),
        }
    }

    fn written(out: Box<dyn Write + Send>) -> Self {
        AccessLog { sink: Sink::Written(Buffered::start(out)) }
    }

    /// Logs one finished request.
    pub(crate) fn request(&self, status: StatusCode, method: &Method, uri: &Uri, ip: Option<IpAddr>, started: Instant) {
        match &self.sink {
            Sink::Off => {}
            Sink::Log => to_log(status, method, uri, ip, started),
            Sink::Written(buffered) => buffered.line(|line| format_line(line, status, method, uri, ip, started)),
        }
    }

    /// Writes out every line gathered so far, and waits until they are written.
    pub(crate) fn flush(&self) {
        if let Sink::Written(buffered) = &self.sink {
            buffered.flush();
        }
    }
}

impl Default for AccessLog {
    fn default() -> Self {
        Self::log()
    }
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.sink {
            Sink::Log => "AccessLog::log",
            Sink::Off => "AccessLog::off",
            Sink::Written(_) => "AccessLog::written",
        })
    }
}

/// The line through the `log` crate, at a level by status.
fn to_log(status: StatusCode, method: &Method, uri: &Uri, ip: Option<IpAddr>, started: Instant) {
    let level = match status.as_u16() {
        0..=399 => log::Level::Info,
        400..=499 => log::Level::Warn,
        _ => log::Level::Error,
    };
    if log::log_enabled!(target: "squall::access", level) {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let ip = ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
        log::log!(target: "squall::access", level, "{} {} {} ({}) {:.2}ms", status.as_u16(), method, uri, ip, ms);
    }
}

/// `2026-12-06T14:21:01Z 200 GET /path?q=1 (127.0.0.1) 1.23ms` and a newline.
fn format_line(
    line: &mut Vec<u8>,
    status: StatusCode,
    method: &Method,
    uri: &Uri,
    ip: Option<IpAddr>,
    started: Instant,
) {
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let mut digits = [0u8; 20];
    with_timestamp(|stamp| line.extend_from_slice(stamp));
    line.push(b' ');
    line.extend_from_slice(status.as_str().as_bytes());
    line.push(b' ');
    line.extend_from_slice(method.as_str().as_bytes());
    line.push(b' ');
    match uri.path_and_query() {
        Some(target) => line.extend_from_slice(target.as_str().as_bytes()),
        None => {
            let _ = write!(line, "{uri}");
        }
    }
    line.extend_from_slice(b" (");
    match ip {
        Some(ip) => {
            let _ = write!(line, "{ip}");
        }
        None => line.push(b'-'),
    }
    line.extend_from_slice(b") ");
    line.extend_from_slice(crate::web::decimal(micros / 1000, &mut digits));
    let hundredths = (micros % 1000) / 10;
    line.extend_from_slice(&[b'.', b'0' + (hundredths / 10) as u8, b'0' + (hundredths % 10) as u8]);
    line.extend_from_slice(b"ms\n");
}

std::thread_local! {
    /// The current second as `2026-12-06T14:21:01Z`, per thread.
    static STAMP: std::cell::RefCell<(u64, [u8; 20])> = const { std::cell::RefCell::new((u64::MAX, [0; 20])) };
}

fn with_timestamp(f: impl FnOnce(&[u8])) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    STAMP.with_borrow_mut(|cached| {
        if cached.0 != now {
            *cached = (now, iso8601(now));
        }
        f(&cached.1);
    });
}

/// Seconds since the Unix epoch as `YYYY-MM-DDThh:mm:ssZ`.
fn iso8601(secs: u64) -> [u8; 20] {
    let (year, month, day) = super::http1::civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let mut out = *b"1970-01-01T00:00:00Z";
    let two = |v: u64| [b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8];
    out[..2].copy_from_slice(&two(year / 100));
    out[2..4].copy_from_slice(&two(year % 100));
    out[5..7].copy_from_slice(&two(month));
    out[8..10].copy_from_slice(&two(day));
    out[11..13].copy_from_slice(&two(rem / 3600));
    out[14..16].copy_from_slice(&two(rem / 60 % 60));
    out[17..19].copy_from_slice(&two(rem % 60));
    out
}

/// A block is written out once it holds this much: under `PIPE_BUF`, so a
/// pipe shared by worker processes never interleaves two blocks mid-line.
const BLOCK: usize = 4000;
/// Lines wait at most this long before they are written.
const AT_MOST: Duration = Duration::from_secs(1);

/// Lines gathered in memory and written out by a thread of their own.
struct Buffered {
    state: Mutex<Gathered>,
    /// Wakes the writer: a block is full, or a flush is asked for.
    more: Condvar,
    /// Wakes a flush: what it asked for is written.
    written: Condvar,
    out: Mutex<Box<dyn Write + Send>>,
}

#[derive(Default)]
struct Gathered {
    /// The block being filled.
    current: Vec<u8>,
    /// Full blocks, waiting for the writer.
    full: VecDeque<Vec<u8>>,
    /// Emptied blocks, to be filled again without allocating.
    spare: Vec<Vec<u8>>,
    /// Blocks handed to the writer so far, and written so far.
    queued: u64,
    done: u64,
}

impl Buffered {
    /// The buffer, and its writer thread (which ends with the buffer).
    fn start(out: Box<dyn Write + Send>) -> Arc<Buffered> {
        let buffered = Arc::new(Buffered {
            state: Mutex::new(Gathered::default()),
            more: Condvar::new(),
            written: Condvar::new(),
            out: Mutex::new(out),
        });
        let weak = Arc::downgrade(&buffered);
        let started = std::thread::Builder::new().name("squall-access-log".into()).spawn(move || write_out(&weak));
        if let Err(e) = started {
            log::error!(target: "squall::server", "cannot start the access log's writer: {e}; lines are written at once");
        }
        buffered
    }

    /// Adds the line `format` writes; a full block goes to the writer.
    fn line(&self, format: impl FnOnce(&mut Vec<u8>)) {
        let mut state = lock(&self.state);
        format(&mut state.current);
        if state.current.len() >= BLOCK {
            state.hand_over();
            drop(state);
            self.more.notify_one();
        }
    }

    /// Hands the block being filled to the writer and waits until it and
    /// every block before it are written.
    fn flush(&self) {
        let mut state = lock(&self.state);
        state.hand_over();
        let wanted = state.queued;
        self.more.notify_one();
        let deadline = Instant::now() + Duration::from_secs(5);
        while state.done < wanted {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // No writer thread (it could not start), or a stuck output:
                // write here rather than lose the lines.
                let blocks: Vec<Vec<u8>> = state.full.drain(..).collect();
                state.done = state.queued;
                drop(state);
                let mut out = lock(&self.out);
                for block in blocks {
                    let _ = out.write_all(&block);
                }
                let _ = out.flush();
                return;
            }
            state = self.written.wait_timeout(state, left).map_or_else(|e| e.into_inner().0, |(s, _)| s);
        }
    }
}

impl Gathered {
    fn hand_over(&mut self) {
        if !self.current.is_empty() {
            let fresh = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(BLOCK + 512));
            let block = std::mem::replace(&mut self.current, fresh);
            self.full.push_back(block);
            self.queued += 1;
        }
    }
}

/// The writer: full blocks as they come, the rest at least every second,
/// until the buffer is gone.
fn write_out(buffered: &Weak<Buffered>) {
    loop {
        let Some(buffered) = buffered.upgrade() else { return };
        let mut state = lock(&buffered.state);
        if state.full.is_empty() {
            state = buffered.more.wait_timeout(state, AT_MOST).map_or_else(|e| e.into_inner().0, |(s, _)| s);
            if state.full.is_empty() {
                state.hand_over();
            }
        }
        let blocks: Vec<Vec<u8>> = state.full.drain(..).collect();
        drop(state);
        if blocks.is_empty() {
            continue;
        }
        let count = blocks.len() as u64;
        {
            let mut out = lock(&buffered.out);
            for block in &blocks {
                if let Err(e) = out.write_all(block) {
                    log::error!(target: "squall::server", "writing the access log: {e}");
                    break;
                }
            }
            let _ = out.flush();
        }
        let mut state = lock(&buffered.state);
        state.done += count;
        for mut block in blocks {
            block.clear();
            if state.spare.len() < 4 {
                state.spare.push(block);
            }
        }
        drop(state);
        buffered.written.notify_all();
    }
}

impl Drop for Buffered {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.hand_over();
        let out = self.out.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        for block in state.full.drain(..) {
            let _ = out.write_all(&block);
        }
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that keeps what it is given, shared with the test.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<u8>>>);

    impl Write for Kept {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_reads_as_tornados_with_the_time_in_front() {
        let mut line = Vec::new();
        let uri: Uri = "/a/b?q=1".parse().unwrap();
        let ip = Some("127.0.0.1".parse().unwrap());
        format_line(&mut line, StatusCode::NOT_FOUND, &Method::GET, &uri, ip, Instant::now());
        let text = String::from_utf8(line).unwrap();
        let (stamp, rest) = text.split_once(' ').unwrap();
        assert_eq!((stamp.len(), &stamp[4..5], &stamp[10..11], &stamp[19..]), (20, "-", "T", "Z"), "{stamp}");
        assert!(rest.starts_with("404 GET /a/b?q=1 (127.0.0.1) 0.0") && rest.ends_with("ms\n"), "{rest}");
        assert_eq!(&iso8601(0), b"1970-01-01T00:00:00Z");
        assert_eq!(&iso8601(1_796_052_061), b"2026-11-30T15:21:01Z");
    }

    #[test]
    fn lines_are_written_in_whole_blocks_and_none_is_lost_on_flush() {
        let kept = Kept::default();
        let log = AccessLog::written(Box::new(kept.clone()));
        let uri: Uri = "/x".parse().unwrap();
        for _ in 0..1000 {
            log.request(StatusCode::OK, &Method::GET, &uri, None, Instant::now());
        }
        log.flush();
        let text = String::from_utf8(lock(&kept.0).clone()).unwrap();
        assert_eq!(text.lines().count(), 1000, "every line, after the flush");
        assert!(text.lines().all(|l| l.ends_with("ms") && l.contains(" 200 GET /x (-) ")), "whole lines");
    }

    #[test]
    fn a_quiet_log_is_written_within_a_second_or_two() {
        let kept = Kept::default();
        let log = AccessLog::written(Box::new(kept.clone()));
        log.request(StatusCode::OK, &Method::GET, &"/one".parse().unwrap(), None, Instant::now());
        let deadline = Instant::now() + Duration::from_secs(5);
        while lock(&kept.0).is_empty() {
            assert!(Instant::now() < deadline, "the line was never written");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
