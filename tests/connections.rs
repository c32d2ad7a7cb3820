//! Ten thousand idle keep-alive connections against one server process: it
//! keeps them all and still answers a fresh request. Prints the server's
//! resident memory per idle connection.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing
#![cfg(target_os = "linux")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use squall::testing::TestConnection;

const IDLE: usize = 10_000;

/// The server's resident set, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn ten_thousand_idle_connections_and_a_fresh_request() {
    // Room for every connection, in this process and in the server (which inherits the limit).
    let limit = getrlimit(Resource::Nofile);
    let wanted = (IDLE + 1024) as u64;
    let hard = limit.maximum.unwrap_or(u64::MAX);
    assert!(hard >= wanted, "the hard descriptor limit ({hard}) is too low for this test");
    setrlimit(Resource::Nofile, Rlimit { current: Some(wanted), maximum: limit.maximum }).unwrap();

    let server = support::production(&["--max-connections", "20000", "--idle-timeout", "120"]);
    let addr = server.addr;

    // Warm up: the first connections pay for thread stacks and buffers.
    for _ in 0..8 {
        assert_eq!(TestConnection::open(addr).unwrap().request("GET", "/", &[], b"").unwrap().status, 200);
    }
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_kib(server.child.id());

    let mut idle = Vec::with_capacity(IDLE);
    let mut buf = [0u8; 512];
    for _ in 0..IDLE {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let n = stream.read(&mut buf).unwrap();
        assert!(buf[..n].ends_with(b"Hello, world!"), "{:?}", String::from_utf8_lossy(&buf[..n]));
        idle.push(stream);
    }
    // Long enough for every connection to count as quiet and give back its read buffer.
    std::thread::sleep(Duration::from_millis(1500));
    let after = rss_kib(server.child.id());

    let fresh = TestConnection::open(addr).unwrap().request("GET", "/", &[], b"").unwrap();
    assert_eq!((fresh.status.as_u16(), fresh.text().as_str()), (200, "Hello, world!"));
    // The idle ones are all still served.
    for stream in idle.iter_mut().step_by(997) {
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let n = stream.read(&mut buf).unwrap();
        assert!(buf[..n].ends_with(b"Hello, world!"));
    }
    let per_connection = (after.saturating_sub(before) * 1024) / IDLE as u64;
    eprintln!("server RSS {before} KiB -> {after} KiB with {IDLE} idle connections: {per_connection} bytes each");
    assert!(per_connection < 16 * 1024, "{per_connection} bytes per idle connection");
}
