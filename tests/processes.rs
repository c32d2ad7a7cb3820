//! The production example as a real process: graceful drain on SIGTERM, and
//! worker processes sharing a port, restarted when they die.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing
#![cfg(unix)]

mod support;

use std::net::SocketAddr;
use std::process::Child;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use squall::testing::TestConnection;
use support::{production, wait_until};

fn signal(pid: u32, signal: Signal) {
    kill_process(Pid::from_raw(pid as i32).unwrap(), signal).unwrap();
}

fn whoami(addr: SocketAddr) -> serde_json::Value {
    let resp = TestConnection::open(addr).unwrap().request("GET", "/whoami", &[], b"").unwrap();
    assert_eq!(resp.status, 200);
    serde_json::from_slice(&resp.body).unwrap()
}

/// The supervisor's live children (Linux: /proc/PID/task/PID/children).
fn children(pid: u32) -> Vec<u32> {
    let list = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    list.split_whitespace().filter_map(|p| p.parse().ok()).collect()
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the process did not exit within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_drains_the_in_flight_request_then_exits() {
    let mut server = production(&["--drain-timeout", "5"]);
    let mut idle = TestConnection::open(server.addr).unwrap();
    assert_eq!(idle.request("GET", "/", &[], b"").unwrap().status, 200);
    let mut busy = TestConnection::open(server.addr).unwrap();
    busy.send(b"GET /slow?ms=700 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(150));
    signal(server.child.id(), Signal::TERM);

    assert!(idle.is_closed(), "idle keep-alive connection closed");
    let resp = busy.read_response(false).unwrap();
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "slept 700 ms\n"));
    assert_eq!(resp.header("connection"), Some("close"));
    let status = wait_exit(&mut server.child, Duration::from_secs(5));
    assert!(status.success(), "{status}");
}

#[test]
fn two_workers_share_the_port_and_a_killed_one_is_restarted() {
    let mut server = production(&["--workers", "2"]);
    let supervisor = server.child.id();
    wait_until("two workers run", || children(supervisor).len() == 2);
    let answer = whoami(server.addr);
    assert!(answer["worker"] == 0 || answer["worker"] == 1, "{answer}");

    let workers = children(supervisor);
    let victim = workers[0];
    signal(victim, Signal::KILL);
    // The other worker answers meanwhile.
    for _ in 0..20 {
        let answer = whoami(server.addr);
        assert_ne!(answer["pid"], victim, "{answer}");
    }
    wait_until("the dead worker is replaced", || {
        let now = children(supervisor);
        now.len() == 2 && !now.contains(&victim)
    });
    let replacement = *children(supervisor).iter().find(|p| !workers.contains(p)).unwrap();
    wait_until("the replacement answers", || (0..20).any(|_| whoami(server.addr)["pid"] == replacement));

    signal(supervisor, Signal::TERM);
    let status = wait_exit(&mut server.child, Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert!(children(supervisor).is_empty());
}

#[test]
fn bind_sockets_shares_a_port_only_with_reuse_port() {
    use squall::server::process::bind_sockets;
    let first = bind_sockets("127.0.0.1:0", true).unwrap();
    let port = first[0].local_addr().unwrap().port();
    let second = bind_sockets(("127.0.0.1", port), true).expect("SO_REUSEPORT lets a second socket bind");
    assert_eq!(second[0].local_addr().unwrap().port(), port);
    let plain = bind_sockets("127.0.0.1:0", false).unwrap();
    let taken = plain[0].local_addr().unwrap().port();
    let err = bind_sockets(("127.0.0.1", taken), false).unwrap_err();
    assert!(err.is_io(), "{err}");

    // Served through add_sockets, the shared port answers (once the first
    // socket, which nobody accepts on, is gone: the kernel would share
    // connections between the two).
    drop(first);
    let server = squall::Server::new(squall::Router::new().route("/", |_req| async { "Hello, world!" }));
    let addrs = server.add_sockets(second).unwrap();
    let resp = TestConnection::open(addrs[0]).unwrap().request("GET", "/", &[], b"").unwrap();
    assert_eq!(resp.text(), "Hello, world!");
}

#[test]
fn the_buffered_access_log_loses_no_line_on_sigterm() {
    // The lines of a written access log wait in a buffer (up to a second):
    // a SIGTERM drain writes them out before the process ends.
    let path = std::env::temp_dir().join(format!("squall-access-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut server = production(&["--access-log", path.to_str().unwrap()]);
    let mut conn = TestConnection::open(server.addr).unwrap();
    for i in 0..250 {
        assert_eq!(conn.request("GET", &format!("/?n={i}"), &[], b"").unwrap().status, 200);
    }
    signal(server.child.id(), Signal::TERM);
    assert!(wait_exit(&mut server.child, Duration::from_secs(5)).success());
    let log = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 250, "a line per request, none lost");
    for (i, line) in lines.iter().enumerate() {
        assert!(line.contains(&format!(" 200 GET /?n={i} (127.0.0.1) ")), "in order, whole: {line}");
    }
    let _ = std::fs::remove_file(&path);
}
