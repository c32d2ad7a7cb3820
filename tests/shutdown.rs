//! Stopping: `stop`, `close_all_connections`, and the graceful drain, with
//! in-flight, idle and freshly arriving connections over real sockets.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use squall::testing::{TestConnection, TestServer};
use squall::{HttpError, Request, Router, Server, get};
use support::wait_until;

fn app() -> Router {
    Router::new().route("/", get(|_req| async { "Hello, world!" })).route(
        "/slow",
        get(|req: Request| async move {
            let ms: u64 = req.query_argument("ms")?.parse().map_err(|_| HttpError::bad_request("ms"))?;
            squall::sleep(Duration::from_millis(ms)).await;
            Ok::<_, HttpError>(format!("slept {ms}"))
        }),
    )
}

fn start() -> TestServer {
    support::init_logger();
    TestServer::start(app())
}

/// Starts `shutdown(grace)` on another thread; the handle returns its result
/// and how long it took.
fn shutdown_in_background(server: &Server, grace: Duration) -> std::thread::JoinHandle<(bool, Duration)> {
    let server = server.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        let clean = squall::block_on(server.shutdown(grace));
        (clean, started.elapsed())
    })
}

/// An idle keep-alive connection (one request served) and a busy one (a
/// request to `/slow?ms={ms}` in flight), both counted by the server.
fn idle_and_busy(server: &TestServer, ms: u64) -> (TestConnection, TestConnection) {
    let mut idle = server.connect();
    assert_eq!(idle.request("GET", "/", &[], b"").unwrap().status, 200);
    let mut busy = server.connect();
    busy.send(format!("GET /slow?ms={ms} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    wait_until("both connections are open", || server.server().connections() == 2);
    (idle, busy)
}

fn refused(server: &TestServer) -> bool {
    matches!(TcpStream::connect(server.addr()), Err(e) if e.kind() == ErrorKind::ConnectionRefused)
}

#[test]
fn stop_refuses_new_connections_and_serves_open_ones() {
    let server = start();
    let mut open = server.connect();
    assert_eq!(open.request("GET", "/", &[], b"").unwrap().status, 200);
    server.server().stop();
    squall::block_on(server.server().wait());
    assert!(refused(&server));
    assert_eq!(open.request("GET", "/", &[], b"").unwrap().status, 200, "open connections are served on");
}

#[test]
fn close_all_connections_cuts_in_flight_and_idle_ones() {
    let server = start();
    let (mut idle, mut busy) = idle_and_busy(&server, 10_000);
    let started = Instant::now();
    server.server().stop();
    squall::block_on(server.server().close_all_connections());
    assert_eq!(server.server().connections(), 0);
    assert!(busy.is_closed() && idle.is_closed());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn graceful_drain_finishes_in_flight_closes_idle_and_refuses_new() {
    let server = start();
    let (mut idle, mut busy) = idle_and_busy(&server, 800);
    std::thread::sleep(Duration::from_millis(50));

    let drain = shutdown_in_background(server.server(), Duration::from_secs(10));
    let closing = Instant::now();
    assert!(idle.is_closed(), "the idle connection is closed");
    assert!(
        closing.elapsed() < Duration::from_millis(700),
        "idle connection closed only after {:?}",
        closing.elapsed()
    );
    wait_until("new connections are refused", || refused(&server));

    let resp = busy.read_response(false).unwrap();
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "slept 800"));
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(busy.is_closed());
    let (clean, took) = drain.join().unwrap();
    assert!(clean, "nothing had to be cut");
    assert!(took < Duration::from_secs(5), "drain took {took:?}");
    assert_eq!(server.server().connections(), 0);
}

#[test]
fn the_drain_deadline_cuts_what_remains() {
    let server = start();
    let mut busy = server.connect();
    busy.send(b"GET /slow?ms=30000 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    wait_until("the slow request is in flight", || server.server().connections() == 1);
    std::thread::sleep(Duration::from_millis(50));
    let (clean, took) = shutdown_in_background(server.server(), Duration::from_millis(300)).join().unwrap();
    assert!(!clean);
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "took {took:?}");
    assert!(busy.is_closed());
    assert!(!support::wait_for_log("drain deadline passed: cutting 1 connection").is_empty());
}

#[test]
fn a_request_pipelined_before_the_drain_is_still_answered() {
    let server = start();
    let mut conn = server.connect();
    conn.send(b"GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    wait_until("the request is in flight", || server.server().connections() == 1);
    std::thread::sleep(Duration::from_millis(50));
    let drain = shutdown_in_background(server.server(), Duration::from_secs(5));
    let first = conn.read_response(false).unwrap();
    assert_eq!((first.status.as_u16(), first.header("connection")), (200, None));
    let second = conn.read_response(false).unwrap();
    assert_eq!((second.text().as_str(), second.header("connection")), ("Hello, world!", Some("close")));
    assert!(conn.is_closed());
    assert!(drain.join().unwrap().0);
}

/// A connection accepted just before the drain whose first request has not
/// arrived yet is not idle: a client opening a connection and then sending
/// has done nothing a server may drop (a restart on a socket the parent
/// holds would refuse it). It is answered, with `Connection: close`.
#[test]
fn a_connection_accepted_before_the_drain_is_answered_when_its_first_request_comes() {
    let server = start();
    let mut fresh = server.connect();
    wait_until("the connection is accepted", || server.server().connections() == 1);
    let drain = shutdown_in_background(server.server(), Duration::from_secs(5));
    wait_until("new connections are refused", || refused(&server));
    let resp = fresh.request("GET", "/", &[], b"").unwrap();
    assert_eq!((resp.status.as_u16(), resp.header("connection")), (200, Some("close")));
    assert!(fresh.is_closed());
    assert!(drain.join().unwrap().0, "nothing had to be cut");
}

/// What one keep-alive client saw.
#[derive(Default, Debug)]
struct Seen {
    answered: usize,
    /// The server closed the connection cleanly before the request reached
    /// it (FIN before any response byte); HTTP lets the client retry.
    closed_before_request: usize,
    /// Reset, truncated or otherwise broken: must never happen.
    broken: Vec<String>,
    saw_close_header: bool,
}

fn keep_alive_client(addr: std::net::SocketAddr, id: usize, start: Arc<Barrier>) -> Seen {
    let mut seen = Seen::default();
    let mut conn = TestConnection::open(addr).unwrap();
    start.wait();
    for i in 0.. {
        let ms = (id + i) % 7 * 5;
        let request = format!("GET /slow?ms={ms}&client={id} HTTP/1.1\r\nHost: x\r\n\r\n");
        if conn.send(request.as_bytes()).is_err() {
            seen.closed_before_request += 1;
            break;
        }
        match conn.read_response(false) {
            Ok(resp) if resp.status == 200 && resp.text() == format!("slept {ms}") => {
                seen.answered += 1;
                if resp.header("connection") == Some("close") {
                    seen.saw_close_header = true;
                    break;
                }
            }
            Ok(resp) => {
                seen.broken.push(format!("unexpected {} {:?}", resp.status, resp.text()));
                break;
            }
            Err(e) if e.kind() == ErrorKind::UnexpectedEof && conn.is_closed() => {
                seen.closed_before_request += 1;
                break;
            }
            Err(e) => {
                seen.broken.push(format!("request {i}: {e}"));
                break;
            }
        }
    }
    seen
}

#[test]
fn fifty_keep_alive_clients_during_a_drain_lose_no_request() {
    let server = start();
    let clients = 50;
    let start = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|id| {
            let (addr, start) = (server.addr(), start.clone());
            std::thread::spawn(move || keep_alive_client(addr, id, start))
        })
        .collect();
    start.wait();
    std::thread::sleep(Duration::from_millis(300));
    let (clean, _) = shutdown_in_background(server.server(), Duration::from_secs(10)).join().unwrap();
    assert!(clean);

    let seen: Vec<Seen> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let broken: Vec<&String> = seen.iter().flat_map(|s| &s.broken).collect();
    assert!(broken.is_empty(), "{broken:?}");
    let answered: usize = seen.iter().map(|s| s.answered).sum();
    assert!(seen.iter().all(|s| s.answered > 0), "every client was served before the drain");
    assert!(seen.iter().any(|s| s.saw_close_header), "some request was in flight at the drain");
    // Every request the server read was answered: its access log lines for
    // these clients match the responses the clients received.
    let logged = support::logs()
        .into_iter()
        .filter(|(_, target, m)| target == "squall::access" && m.contains("GET /slow?ms=") && m.contains("&client="))
        .count();
    assert_eq!(logged, answered, "requests read by the server vs responses received");
    let before: usize = seen.iter().map(|s| s.closed_before_request).sum();
    eprintln!("{answered} answered, {before} closed before the request reached the server");
    assert_eq!(server.server().connections(), 0);
}

#[test]
fn raw_client_reads_a_clean_eof_from_a_drained_idle_connection() {
    let server = start();
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let _ = support::read_until_contains(&mut stream, "Hello, world!");
    let drain = shutdown_in_background(server.server(), Duration::from_secs(5));
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    assert!(drain.join().unwrap().0);
}
