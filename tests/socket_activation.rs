//! Listening sockets handed over by a parent process (`LISTEN_FDS`, as
//! systemd's socket activation and `systemfd` hand them): the test holds
//! the socket, as they do, and starts the tutorial example on it.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// While a child is being started with the socket open across `exec`, no
/// other test of this file starts one (it would inherit the socket too).
static SPAWNING: Mutex<()> = Mutex::new(());

/// Starts the tutorial with `listener` as descriptor 3, `LISTEN_FDS=1` and
/// the extra `env`, asked to listen on `addr`; returns it and the address
/// it announces.
fn tutorial_on(listener: &TcpListener, addr: &str, env: &[(&str, &str)]) -> (Child, SocketAddr) {
    example_on("tutorial", listener, &[addr], env)
}

/// Starts example `name` with `listener` as descriptor 3, `LISTEN_FDS=1`
/// and the extra `env`, with `args`.
fn example_on(name: &str, listener: &TcpListener, args: &[&str], env: &[(&str, &str)]) -> (Child, SocketAddr) {
    let binary = support::example_binary(name, "");
    let fd = listener.as_raw_fd();
    // Descriptor `fd` becomes 3 in the program (`sh` moves it), as systemd
    // passes its sockets.
    let exec = if fd == 3 { "exec \"$0\" \"$@\"".to_owned() } else { format!("exec \"$0\" \"$@\" 3<&{fd} {fd}<&-") };
    let child = {
        let _one = SPAWNING.lock().unwrap_or_else(|e| e.into_inner());
        rustix::io::fcntl_setfd(listener, rustix::io::FdFlags::empty()).unwrap();
        let child = Command::new("sh")
            .args(["-c", &exec])
            .arg(binary)
            .args(args)
            .env("LISTEN_FDS", "1")
            .env_remove("LISTEN_PID")
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        rustix::io::fcntl_setfd(listener, rustix::io::FdFlags::CLOEXEC).unwrap();
        child
    };
    announced(child)
}

fn announced(mut child: Child) -> (Child, SocketAddr) {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = support::announced_address(&line).unwrap_or_else(|| panic!("no address in {line:?}"));
    (child, addr)
}

fn get(addr: SocketAddr, path: &str) -> u16 {
    let mut conn = squall::testing::TestConnection::open(addr).unwrap();
    conn.request("GET", path, &[("Connection", "close")], b"").unwrap().status.as_u16()
}

fn terminate(child: &Child) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
}

#[test]
fn the_tutorial_serves_the_socket_it_is_handed_instead_of_binding_its_address() {
    let handed = TcpListener::bind("127.0.0.1:0").unwrap();
    // Its own address is taken: binding it would fail.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut child, announced) = tutorial_on(&handed, &taken.local_addr().unwrap().to_string(), &[]);
    assert_eq!(announced, handed.local_addr().unwrap(), "it announces the handed socket");
    assert_eq!(get(announced, "/notes"), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `--workers`: the supervisor takes the handed socket and shares it with
/// its workers, which answer on it.
#[test]
fn worker_processes_serve_the_socket_their_supervisor_is_handed() {
    let handed = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut supervisor, announced) = example_on("mixed", &handed, &["127.0.0.1:0", "--workers", "2"], &[]);
    assert_eq!(announced, handed.local_addr().unwrap());
    for _ in 0..20 {
        assert_eq!(get(announced, "/legacy/hello"), 200);
    }
    terminate(&supervisor);
    assert!(supervisor.wait().unwrap().success());
}

#[test]
fn variables_meant_for_another_process_are_ignored() {
    let handed = TcpListener::bind("127.0.0.1:0").unwrap();
    // LISTEN_PID names the parent: the tutorial binds its own address.
    let parent = std::process::id().to_string();
    let (mut child, announced) = tutorial_on(&handed, "127.0.0.1:0", &[("LISTEN_PID", &parent)]);
    assert_ne!(announced, handed.local_addr().unwrap());
    assert_eq!(get(announced, "/notes"), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_handed_descriptor_that_is_not_a_listening_socket_stops_start_up_with_one_line() {
    let binary = support::example_binary("tutorial", "");
    // Descriptor 3 is a plain file here.
    let out = Command::new("sh")
        .args(["-c", "exec \"$0\" 127.0.0.1:0 3</dev/null"])
        .arg(binary)
        .env("LISTEN_FDS", "1")
        .env_remove("LISTEN_PID")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("LISTEN_FDS: descriptor 3 is not a socket"), "{stderr}");
}

/// A restart as `systemfd` + `cargo watch`, or systemd, does it: the parent
/// holds the socket; the running program gets SIGTERM, drains and exits;
/// for a while nobody accepts (a rebuild); the next program starts on the
/// same socket. Clients sending all along get every answer, and a request
/// sent in the gap is answered by the next program: its connection waits in
/// the socket's queue.
#[test]
fn a_restart_on_a_held_socket_refuses_no_request() {
    let handed = TcpListener::bind("127.0.0.1:0").unwrap();
    let (first, addr) = tutorial_on(&handed, "127.0.0.1:0", &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (stop, answered) = (stop.clone(), answered.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                while !stop.load(Ordering::Acquire) {
                    match squall::testing::TestConnection::open(addr)
                        .and_then(|mut c| c.request("GET", "/notes", &[("Connection", "close")], b""))
                    {
                        Ok(resp) if resp.status == 200 => {
                            answered.fetch_add(1, Ordering::AcqRel);
                        }
                        Ok(resp) => failures.push(format!("status {}", resp.status)),
                        Err(e) => failures.push(e.to_string()),
                    }
                }
                failures
            })
        })
        .collect();
    let wait_for_answers = |n: usize| {
        let target = answered.load(Ordering::Acquire) + n;
        support::wait_until("clients to be answered", || answered.load(Ordering::Acquire) >= target);
    };
    wait_for_answers(50);
    let mut first = first;
    terminate(&first);
    let status = first.wait().unwrap();
    assert!(status.success(), "the first program drains and exits cleanly: {status}");
    // The rebuild: nobody accepts; connections queue on the socket, this
    // one's request with them.
    let mut in_gap = std::net::TcpStream::connect(addr).unwrap();
    in_gap.write_all(b"GET /notes/0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (mut second, second_addr) = tutorial_on(&handed, "127.0.0.1:0", &[]);
    assert_eq!(second_addr, addr);
    let mut answer = String::new();
    in_gap.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 404 "), "the request sent in the gap is answered (no note 0): {answer:?}");
    wait_for_answers(50);
    stop.store(true, Ordering::Release);
    let failures: Vec<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    terminate(&second);
    assert!(second.wait().unwrap().success());
    assert!(failures.is_empty(), "requests lost across the restart: {failures:?}");
}
