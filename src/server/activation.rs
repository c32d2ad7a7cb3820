//! Listening sockets handed over by the process that started this one: the
//! `LISTEN_FDS` protocol of systemd's socket activation, which `systemfd`
//! speaks too. The parent binds the socket and keeps it open; each program
//! it starts serves it from file descriptor 3 on. A restart then refuses no
//! connection: while one process drains and the next starts, connections
//! wait in the socket's queue, which the parent holds open throughout.
//!
//! [`Server::listen`](crate::Server::listen) (and so `Server::run`) and
//! [`bind_sockets`](super::process::bind_sockets) take the handed sockets
//! when there are any, in place of binding the address they were given:
//! the same program runs under `systemfd`, under a systemd socket unit, or
//! on its own.

use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::net::{AddressFamily, SocketType, sockopt};

use crate::error::{Error, Result};

/// The first handed descriptor (`SD_LISTEN_FDS_START`).
const FIRST_FD: RawFd = 3;

/// At most this many handed sockets are believed: a larger `LISTEN_FDS` is
/// a mistake, not sockets.
const MAX_HANDED: usize = 64;

/// Whether this process has taken its handed sockets already.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The listening TCP sockets handed to this process through `LISTEN_FDS`
/// (descriptors 3, 4, …), the first time it is called; `None` when none were
/// handed, when `LISTEN_PID` names another process (the variables were
/// inherited from a parent they were meant for), or when they were taken
/// already. `LISTEN_PID` may be absent, as `systemfd --no-pid` leaves it.
/// The sockets are made close-on-exec, so programs squall starts (CGI, say)
/// do not inherit them.
///
/// # Errors
///
/// A configuration error when `LISTEN_FDS` is not a number, or a handed
/// descriptor is not open or not a listening TCP socket (a Unix socket is
/// refused with a message saying how to serve it).
pub fn handed_sockets() -> Result<Option<Vec<TcpListener>>> {
    let Ok(count) = std::env::var("LISTEN_FDS") else { return Ok(None) };
    if let Ok(pid) = std::env::var("LISTEN_PID")
        && pid.trim().parse::<u32>().ok() != Some(std::process::id())
    {
        return Ok(None);
    }
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Ok(None);
    }
    let count: usize = count
        .trim()
        .parse()
        .ok()
        .filter(|n| *n <= MAX_HANDED)
        .ok_or_else(|| Error::config(format!("LISTEN_FDS={count:?} is not a number of sockets")))?;
    let sockets = (FIRST_FD..).take(count).map(adopt).collect::<Result<Vec<_>>>()?;
    if sockets.is_empty() {
        return Ok(None);
    }
    let addrs: Vec<String> = sockets.iter().filter_map(|s| s.local_addr().ok()).map(|a| a.to_string()).collect();
    log::info!(target: "squall::server", "serving {} socket(s) handed over by LISTEN_FDS: {}", addrs.len(), addrs.join(", "));
    Ok(Some(sockets))
}

/// Takes descriptor `fd` as a listening TCP socket.
fn adopt(fd: RawFd) -> Result<TcpListener> {
    let refuse = |why: &str| Error::config(format!("LISTEN_FDS: descriptor {fd} {why}"));
    // Read through /proc without touching the descriptor: it must be open
    // and a socket before this process claims it.
    match std::fs::read_link(format!("/proc/self/fd/{fd}")) {
        Ok(target) if !target.to_string_lossy().starts_with("socket:") => return Err(refuse("is not a socket")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(refuse("is not open")),
        _ => {}
    }
    #[allow(unsafe_code)]
    // SAFETY: the LISTEN_FDS protocol hands this process descriptors 3 to
    // 3 + LISTEN_FDS - 1, open (checked above where /proc is mounted) and
    // used by nothing else in it; `TAKEN` lets this happen once per process.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC).map_err(|_| refuse("cannot be made close-on-exec"))?;
    let listening = sockopt::socket_type(&fd).is_ok_and(|t| t == SocketType::STREAM)
        && sockopt::socket_acceptconn(&fd).unwrap_or(false);
    if !listening {
        return Err(refuse("is not a listening stream socket"));
    }
    let family = rustix::net::getsockname(&fd).map(|addr| addr.address_family());
    match family {
        Ok(AddressFamily::INET | AddressFamily::INET6) => Ok(TcpListener::from(fd)),
        Ok(AddressFamily::UNIX) => Err(refuse(
            "is a Unix socket: squall takes TCP sockets this way; serve a Unix socket with Server::add_unix_listener",
        )),
        _ => Err(refuse("is not a TCP socket")),
    }
}
