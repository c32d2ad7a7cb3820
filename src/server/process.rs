//! Sockets bound before serving, and several worker processes sharing them
//! (Tornado's `bind_sockets` and `fork_processes`), plus termination signals.
//!
//! A Rust process must not `fork` once threads exist, and the runtime starts
//! threads early. So workers are not forked: the supervisor starts the same
//! program again (`current_exe` with the same arguments), marks it as worker
//! *n* in its environment, and hands it the listening sockets over a Unix
//! socket on its standard input. The worker runs `main` from the top; its
//! calls to [`bind_sockets`] return the inherited sockets for the same
//! addresses instead of binding, and [`fork_processes`] returns its task id
//! at once. The program reads as in
//! Tornado:
//!
//! ```no_run
//! use squall::server::process;
//! use squall::{Router, Server};
//!
//! fn main() -> squall::Result<()> {
//!     let sockets = process::bind_sockets("127.0.0.1:8888", false)?;
//!     // The supervisor returns `None` here once every worker has ended.
//!     let Some(task_id) = process::fork_processes(&sockets, 4, 100)? else { return Ok(()) };
//!     let app = Router::new().route("/", move |_req| async move { format!("worker {task_id}") });
//!     squall::block_on(async {
//!         let server = Server::new(app);
//!         server.add_sockets(sockets)?;
//!         server.shutdown_on_signals(std::time::Duration::from_secs(10))?;
//!         server.wait().await;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! A worker that dies (killed, or exiting with a failure) is started again
//! with the same task id, up to `max_restarts` times in all; one that exits
//! with success is not. `SIGTERM` or `SIGINT` to the supervisor is passed on
//! to every worker as `SIGTERM`, and the supervisor waits for them to end.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags, SocketFlags, SocketType, sockopt,
};
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::error::{Error, Result};
use crate::rt::{self, lock};

/// Set in a worker's environment to its task id.
const WORKER_ENV: &str = "SQUALL_WORKER_ID";

/// Sockets handed to workers, at most.
const MAX_SOCKETS: usize = 16;

/// The listen backlog of sockets squall binds.
const BACKLOG: i32 = 1024;

/// How often the supervisor looks at its workers.
const SUPERVISE_TICK: Duration = Duration::from_millis(50);

/// In a worker: the sockets received from the supervisor and not yet taken.
static INHERITED: Mutex<Option<Vec<TcpListener>>> = Mutex::new(None);

/// This process's task id when it is a worker.
pub fn task_id() -> Option<usize> {
    std::env::var(WORKER_ENV).ok()?.parse().ok()
}

/// Binds listening TCP sockets for every address `addr` resolves to (both
/// IPv4 and IPv6 for `localhost`, say; with port 0, they share the port
/// picked for the first), with `SO_REUSEADDR`, and `SO_REUSEPORT` when
/// `reuse_port` is set (several processes may then bind the same port and the
/// kernel spreads connections among them). Serve them with
/// [`Server::add_sockets`](crate::Server::add_sockets).
///
/// In a worker started by [`fork_processes`], returns the inherited sockets
/// bound to these addresses instead (any port, for port 0); in a process
/// handed listening sockets by the one that started it (systemd, `systemfd`:
/// [`activation`](super::activation)), returns those.
///
/// # Errors
///
/// A configuration error when `addr` does not resolve; an I/O error when a
/// socket cannot be created or bound.
pub fn bind_sockets(addr: impl ToSocketAddrs, reuse_port: bool) -> Result<Vec<TcpListener>> {
    let addrs: Vec<SocketAddr> =
        addr.to_socket_addrs().map_err(|e| Error::config(format!("invalid listen address: {e}")))?.collect();
    if task_id().is_some() {
        return inherited(&addrs);
    }
    if let Some(handed) = super::activation::handed_sockets()? {
        return Ok(handed);
    }
    let mut sockets: Vec<TcpListener> = Vec::new();
    let mut port = None;
    for mut addr in addrs {
        if addr.port() == 0
            && let Some(p) = port
        {
            addr.set_port(p);
        }
        let socket = bind_one(addr, reuse_port).map_err(|e| Error::io(format!("cannot bind {addr}"), e))?;
        port = port.or(socket.local_addr().ok().map(|a| a.port()));
        sockets.push(socket);
    }
    Ok(sockets)
}

fn bind_one(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let family = if addr.is_ipv4() { AddressFamily::INET } else { AddressFamily::INET6 };
    let socket = rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    sockopt::set_socket_reuseaddr(&socket, true)?;
    if reuse_port {
        sockopt::set_socket_reuseport(&socket, true)?;
    }
    if addr.is_ipv6() {
        sockopt::set_ipv6_v6only(&socket, true)?;
    }
    rustix::net::bind(&socket, &addr)?;
    rustix::net::listen(&socket, BACKLOG)?;
    Ok(TcpListener::from(socket))
}

/// The inherited sockets bound to `addrs` (the first time, received from the
/// supervisor).
fn inherited(addrs: &[SocketAddr]) -> Result<Vec<TcpListener>> {
    let mut inherited = lock(&INHERITED);
    if inherited.is_none() {
        *inherited = Some(receive_sockets().map_err(|e| Error::io("cannot receive sockets from the supervisor", e))?);
    }
    let pool = inherited.get_or_insert_with(Vec::new);
    let mut taken = Vec::new();
    for addr in addrs {
        let matches = |l: &TcpListener| {
            l.local_addr().is_ok_and(|a| a.ip() == addr.ip() && (addr.port() == 0 || a.port() == addr.port()))
        };
        if let Some(i) = pool.iter().position(matches) {
            taken.push(pool.swap_remove(i));
        }
    }
    if taken.is_empty() {
        return Err(Error::config(format!("worker: no inherited socket for {addrs:?}")));
    }
    Ok(taken)
}

fn receive_sockets() -> std::io::Result<Vec<TcpListener>> {
    let channel = std::io::stdin().as_fd().try_clone_to_owned()?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_SOCKETS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut count = [0u8; 1];
    let received =
        rustix::net::recvmsg(&channel, &mut [IoSliceMut::new(&mut count)], &mut control, RecvFlags::CMSG_CLOEXEC)?;
    let mut sockets = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            sockets.extend(fds.map(TcpListener::from));
        }
    }
    if received.bytes != 1 || sockets.len() != usize::from(count[0]) {
        return Err(std::io::Error::other("the supervisor sent no sockets"));
    }
    Ok(sockets)
}

/// Sends `sockets` to a new worker over `channel`.
fn send_sockets(channel: &OwnedFd, sockets: &[TcpListener]) -> std::io::Result<()> {
    let fds: Vec<_> = sockets.iter().map(AsFd::as_fd).collect();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_SOCKETS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if fds.len() > MAX_SOCKETS || !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other(format!("at most {MAX_SOCKETS} sockets can be shared with workers")));
    }
    rustix::net::sendmsg(channel, &[IoSlice::new(&[fds.len() as u8])], &mut control, SendFlags::empty())?;
    Ok(())
}

/// Runs `workers` copies of this program, each handed `sockets` (from
/// [`bind_sockets`]; Tornado's `fork_processes`; 0 workers means one per
/// CPU). Returns `Some(task_id)` (0-based) in a worker and, in the
/// supervisor, `None` once every worker has ended. See the
/// [module docs](self) for the whole pattern.
///
/// # Errors
///
/// An I/O error when a worker cannot be started; in the supervisor, an error
/// once workers have died more than `max_restarts` times (the others are
/// then stopped).
pub fn fork_processes(sockets: &[TcpListener], workers: usize, max_restarts: u32) -> Result<Option<usize>> {
    if let Some(id) = task_id() {
        return Ok(Some(id));
    }
    let workers = if workers == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { workers };
    let terminate = Arc::new(AtomicBool::new(false));
    for signal in [SIGTERM, SIGINT] {
        signal_hook::flag::register(signal, terminate.clone())
            .map_err(|e| Error::io("cannot install signal handlers", e))?;
    }
    let mut children: Vec<Option<Child>> = Vec::with_capacity(workers);
    for id in 0..workers {
        children.push(Some(spawn_worker(id, sockets)?));
    }
    log::info!(target: "squall::process", "started {workers} worker process(es)");
    let mut restarts = 0;
    let mut stopping = false;
    while children.iter().any(Option::is_some) {
        if terminate.load(Ordering::Relaxed) && !stopping {
            stopping = true;
            log::info!(target: "squall::process", "stopping workers");
            signal_all(&children);
        }
        for (id, slot) in children.iter_mut().enumerate() {
            let Some(child) = slot else { continue };
            let Ok(Some(status)) = child.try_wait() else { continue };
            let pid = child.id();
            *slot = None;
            if status.success() || stopping {
                log::info!(target: "squall::process", "worker {id} (pid {pid}) exited: {status}");
                continue;
            }
            log::warn!(target: "squall::process", "worker {id} (pid {pid}) died: {status}");
            restarts += 1;
            if restarts > max_restarts {
                log::error!(target: "squall::process", "too many worker restarts; stopping the others");
                signal_all(&children);
                wait_all(&mut children);
                return Err(Error::config(format!("workers died {restarts} times (max_restarts {max_restarts})")));
            }
            *slot = Some(spawn_worker(id, sockets)?);
        }
        std::thread::sleep(SUPERVISE_TICK);
    }
    Ok(None)
}

fn spawn_worker(id: usize, sockets: &[TcpListener]) -> Result<Child> {
    let exe = std::env::current_exe().map_err(|e| Error::io("cannot find the program to run as a worker", e))?;
    let (ours, theirs) = rustix::net::socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None)
        .map_err(|e| Error::io("cannot create a socket pair", e.into()))?;
    let child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(WORKER_ENV, id.to_string())
        // The handed sockets come over the channel; the variables that
        // named them name nothing in the worker.
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .stdin(Stdio::from(theirs))
        .spawn()
        .map_err(|e| Error::io("cannot start a worker", e))?;
    send_sockets(&ours, sockets).map_err(|e| Error::io("cannot send sockets to a worker", e))?;
    log::debug!(target: "squall::process", "worker {id} is pid {}", child.id());
    Ok(child)
}

fn signal_all(children: &[Option<Child>]) {
    for child in children.iter().flatten() {
        if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}

fn wait_all(children: &mut [Option<Child>]) {
    for child in children.iter_mut().flatten() {
        let _ = child.wait();
    }
}

/// `SIGTERM` or `SIGINT`, once received.
pub(crate) struct Termination {
    fired: rt::Signal,
    which: Arc<AtomicI32>,
}

impl Termination {
    /// Waits for the signal; returns its name.
    pub(crate) async fn wait(&self) -> &'static str {
        self.fired.wait().await;
        if self.which.load(Ordering::Acquire) == SIGINT { "SIGINT" } else { "SIGTERM" }
    }
}

/// Starts listening for `SIGTERM` and `SIGINT` (on a thread of its own).
pub(crate) fn termination_signal() -> Result<Termination> {
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .map_err(|e| Error::io("cannot install signal handlers", e))?;
    let fired = rt::Signal::new();
    let which = Arc::new(AtomicI32::new(0));
    let termination = Termination { fired: fired.clone(), which: which.clone() };
    std::thread::Builder::new()
        .name("squall-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                which.store(signal, Ordering::Release);
                fired.fire();
            }
        })
        .map_err(|e| Error::io("cannot start the signal thread", e))?;
    Ok(termination)
}
