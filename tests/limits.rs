//! Every server limit, hit from a raw socket: the status it promises, a
//! close, a log line, and a next connection served normally.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use futures_lite::StreamExt;
use squall::testing::{TestConnection, TestServer};
use squall::{Body, Request, Response, Router, Server, ServerBuilder, post};

fn server(builder: ServerBuilder) -> TestServer {
    support::init_logger();
    TestServer::with_builder(builder, app())
}

fn app() -> Router {
    support::app()
        .route("/stream-echo", post(|mut req: Request| async move { Response::stream(req.take_body()) }))
        .route(
            "/upload",
            post(|mut req: Request| async move {
                req.set_max_body_size(1000);
                req.bytes().await.map(|b| format!("{} bytes", b.len()))
            }),
        )
        .route(
            "/chunks",
            post(|mut req: Request| async move {
                let mut sizes = Vec::new();
                while let Some(chunk) = req.body_mut().chunk().await {
                    sizes.push(chunk?.len().to_string());
                }
                Ok::<_, squall::HttpError>(sizes.join(","))
            }),
        )
        .route(
            "/headers",
            post(|mut req: Request| async move {
                let encoding = req.header("x-consumed-content-encoding").unwrap_or("-").to_owned();
                let had_length = req.header("content-length").is_some();
                let body = req.text().await?;
                Ok::<_, squall::HttpError>(format!("{encoding} {had_length} {body}"))
            }),
        )
        .route(
            "/big",
            squall::get(|_req| async {
                let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
                let chunks = futures_lite::stream::repeat_with(move || Ok(chunk.clone())).take(2000);
                Response::stream(Body::from_stream(chunks))
            }),
        )
}

/// Sends `raw`, expects `status` with `Connection: close` and then the close;
/// then checks that a new connection is served.
fn assert_answer_then_close(server: &TestServer, raw: &[u8], status: u16) {
    let mut conn = server.connect();
    conn.send(raw).unwrap();
    let resp = conn.read_response(false).unwrap();
    assert_eq!(resp.status, status, "{}", resp.text());
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(conn.is_closed(), "connection left open after {status}");
    assert_next_connection_served(server);
}

fn assert_next_connection_served(server: &TestServer) {
    let resp = server.get("/");
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "Hello, world!"));
}

#[test]
fn request_line_over_the_head_limit_is_414() {
    let server = server(Server::builder().max_header_size(1024));
    let raw = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(2000));
    assert_answer_then_close(&server, raw.as_bytes(), 414);
}

#[test]
fn request_line_over_the_limit_is_414_before_it_ends() {
    let server = server(Server::builder().max_header_size(1024));
    let raw = format!("GET /{}", "a".repeat(2000));
    assert_answer_then_close(&server, raw.as_bytes(), 414);
}

#[test]
fn header_over_the_head_limit_is_431() {
    let server = server(Server::builder().max_header_size(1024));
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(2000));
    assert_answer_then_close(&server, raw.as_bytes(), 431);
}

#[test]
fn too_many_header_lines_is_431() {
    let server = server(Server::builder());
    let many: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    assert_answer_then_close(&server, raw.as_bytes(), 431);
}

#[test]
fn content_length_over_the_limit_is_413_without_100_continue() {
    let server = server(Server::builder().max_body_size(10));
    let raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n";
    assert_answer_then_close(&server, raw, 413);
}

#[test]
fn chunked_body_over_the_limit_is_413() {
    let server = server(Server::builder().max_body_size(10));
    let raw =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n";
    assert_answer_then_close(&server, raw, 413);
}

#[test]
fn a_handler_raises_the_body_limit_for_its_own_request_only() {
    let server = server(Server::builder().max_body_size(10));
    let mut conn = server.connect();
    let resp = conn.request("POST", "/upload", &[], &[b'u'; 500]).unwrap();
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "500 bytes"));
    // The next request on the same connection is back to the server's limit.
    let resp = conn.request("POST", "/echo", &[], &[b'e'; 11]).unwrap();
    assert_eq!(resp.status, 413);
    assert!(conn.is_closed());
    // And the raised limit is a limit too.
    let resp = server.request("POST", "/upload", &[], &[b'u'; 1001]);
    assert_eq!(resp.status, 413);
}

#[test]
fn max_buffer_size_bounds_whole_body_reads_not_streams() {
    let server = server(Server::builder().max_buffer_size(100));
    let resp = server.request("POST", "/echo", &[], &[b'b'; 200]);
    assert_eq!(resp.status, 413);
    let resp = server.request("POST", "/stream-echo", &[], &[b's'; 200]);
    assert_eq!((resp.status.as_u16(), resp.body.len()), (200, 200));
}

#[test]
fn chunk_size_bounds_the_pieces_a_handler_reads() {
    let server = server(Server::builder().chunk_size(10));
    let resp = server.request("POST", "/chunks", &[], &[b'c'; 95]);
    assert_eq!(resp.status, 200);
    let sizes: Vec<usize> = resp.text().split(',').map(|s| s.parse().unwrap()).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 95);
    assert!(sizes.iter().all(|&s| s <= 10), "{sizes:?}");
}

#[test]
fn idle_connection_is_closed_after_the_idle_timeout() {
    let server = server(Server::builder().idle_connection_timeout(Duration::from_millis(500)));
    let mut conn = server.connect();
    let resp = conn.request("GET", "/", &[], b"").unwrap();
    assert_eq!(resp.status, 200);
    let started = Instant::now();
    assert!(conn.is_closed());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(400), "closed after {waited:?}, before the timeout");
    assert!(waited < Duration::from_millis(1500), "closed after {waited:?}");
    assert_next_connection_served(&server);
}

#[test]
fn a_dripped_head_is_cut_at_the_deadline_with_408() {
    let server = server(Server::builder().idle_connection_timeout(Duration::from_secs(3)));
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    // One byte a second, forever: the deadline must not move.
    for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter().cycle() {
        if stream.write_all(&[*byte]).is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        let step = Instant::now();
        while step.elapsed() < Duration::from_secs(1) {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        if !got.is_empty() || started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    let cut = started.elapsed();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text:?}");
    assert!(cut >= Duration::from_millis(2900) && cut < Duration::from_millis(4200), "cut after {cut:?}");
    assert_next_connection_served(&server);
}

#[test]
fn a_stalled_body_gets_408() {
    let server = server(Server::builder().body_timeout(Duration::from_millis(500)));
    let mut conn = server.connect();
    conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc").unwrap();
    let started = Instant::now();
    let resp = conn.read_response(false).unwrap();
    assert_eq!(resp.status, 408);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(conn.is_closed());
    assert!(!support::wait_for_log("408 request body timed out").is_empty());
    assert_next_connection_served(&server);
}

#[test]
fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let server = server(Server::builder().write_timeout(Duration::from_millis(300)));
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // Never read: the response (128 MiB) fills the socket buffers and stalls.
    let lines = support::wait_for_log("client stopped reading");
    assert!(!lines.is_empty(), "no log line for the stalled client");
    assert_eq!(lines[0].0, log::Level::Info);
    assert_next_connection_served(&server);
    drop(stream);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_bodies_are_inflated_when_asked() {
    let server = server(Server::builder().decompress_request(true));
    let packed = gzip(b"hello, inflated world");
    let resp = server.request("POST", "/headers", &[("Content-Encoding", "gzip")], &packed);
    assert_eq!(resp.text(), "gzip false hello, inflated world");
    // Other encodings pass through untouched.
    let resp = server.request("POST", "/headers", &[("Content-Encoding", "identity")], b"plain");
    assert_eq!(resp.text(), "- true plain");

    let off = TestServer::with_builder(Server::builder(), app());
    let resp = off.request("POST", "/stream-echo", &[("Content-Encoding", "gzip")], &packed);
    assert_eq!(resp.body, packed, "without decompress_request the body is passed as sent");
}

#[test]
fn a_gzip_bomb_gets_413() {
    let server = server(Server::builder().decompress_request(true).max_body_size(1024 * 1024));
    let bomb = gzip(&vec![0; 64 * 1024 * 1024]);
    assert!(bomb.len() < 128 * 1024);
    let mut raw =
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", bomb.len())
            .into_bytes();
    raw.extend_from_slice(&bomb);
    assert_answer_then_close(&server, &raw, 413);
}

#[test]
fn a_corrupt_gzip_body_gets_400() {
    let server = server(Server::builder().decompress_request(true));
    let raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 8\r\n\r\nnot gzip";
    assert_answer_then_close(&server, raw, 400);
}

#[test]
fn connections_over_the_cap_get_503() {
    let server = server(Server::builder().max_connections(2));
    let mut open: Vec<TestConnection> = (0..2).map(|_| server.connect()).collect();
    for conn in &mut open {
        assert_eq!(conn.request("GET", "/", &[], b"").unwrap().status, 200);
    }
    let mut third = server.connect();
    let resp = third.read_response(false).unwrap();
    assert_eq!(resp.status, 503);
    // RFC 9110 §10.2.3: a 503 says when to come back, as the gateway's does.
    assert_eq!(resp.header("retry-after"), Some("1"));
    assert!(third.is_closed());
    assert!(!support::wait_for_log("over max_connections").is_empty());
    // A slot frees up: served again.
    drop(open.pop());
    support::wait_until("the dropped connection is gone", || server.server().connections() <= 1);
    assert_next_connection_served(&server);
    // The connections that were open all along still work.
    assert_eq!(open[0].request("GET", "/", &[], b"").unwrap().status, 200);
}

/// Reads into `got` until the server ends the connection: `true` for a clean
/// close (end of stream), `false` for a reset, which destroys unread data.
fn read_to_end_of_connection(stream: &mut TcpStream, got: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return true,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return false,
            Err(e) => panic!("no end of the connection: {e}"),
        }
    }
}

/// Sends `raw` at once on a plain socket and reads until the server ends the
/// connection: the response's status, and whether it ended with a clean close
/// (end of stream) rather than a reset, which would have destroyed unread data.
fn status_and_clean_close(server: &TestServer, raw: &[u8]) -> (u16, bool, String) {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(raw).unwrap();
    let mut got = Vec::new();
    let clean = read_to_end_of_connection(&mut stream, &mut got);
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, clean, text)
}

/// A handler streaming the request body back meets a bad body: the client
/// gets the body's status, never `500`, then a lingering close.
fn assert_streamed_body_answered(builder: ServerBuilder, raw: &[u8], status: u16) {
    let server = server(builder);
    let (got, clean, text) = status_and_clean_close(&server, raw);
    assert_eq!(got, status, "{text}");
    assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
    assert!(clean, "the connection was reset instead of closed: {text}");
    assert_next_connection_served(&server);
}

fn stream_echo(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!("POST /stream-echo HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes();
    raw.extend_from_slice(body);
    raw
}

#[test]
fn rfc9110_15_5_14_a_streamed_body_over_a_declared_limit_is_413() {
    let body = vec![b'a'; 2000];
    let builder = || Server::builder().max_body_size(1000);
    assert_streamed_body_answered(builder(), &stream_echo("Content-Length: 2000\r\n", &body), 413);
    // No 100 Continue goes out for a body already known to be too large.
    let raw = stream_echo("Content-Length: 2000\r\nExpect: 100-continue\r\n", b"");
    let (got, clean, text) = status_and_clean_close(&server(builder()), &raw);
    assert_eq!((got, clean), (413, true), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
}

#[test]
fn rfc9110_15_5_14_a_streamed_chunked_body_over_the_limit_is_413() {
    let mut body = format!("{:x}\r\n", 1500).into_bytes();
    body.extend(std::iter::repeat_n(b'a', 1500));
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    let raw = stream_echo("Transfer-Encoding: chunked\r\n", &body);
    assert_streamed_body_answered(Server::builder().max_body_size(1000), &raw, 413);
}

#[test]
fn rfc9110_15_5_14_a_streamed_gzip_bomb_is_413() {
    let bomb = gzip(&vec![0u8; 4 * 1024 * 1024]);
    let raw = stream_echo(&format!("Content-Encoding: gzip\r\nContent-Length: {}\r\n", bomb.len()), &bomb);
    assert_streamed_body_answered(Server::builder().decompress_request(true).max_body_size(100_000), &raw, 413);
}

#[test]
fn rfc9110_15_5_1_a_streamed_corrupt_gzip_body_is_400() {
    let raw = stream_echo("Content-Encoding: gzip\r\nContent-Length: 8\r\n", b"not gzip");
    assert_streamed_body_answered(Server::builder().decompress_request(true), &raw, 400);
}

#[test]
fn rfc9112_7_1_2_a_streamed_body_with_a_malformed_trailer_is_400() {
    // The trailer line ends in a bare LF: no limit involved.
    let raw = stream_echo("Transfer-Encoding: chunked\r\n", b"0\r\nX: y\n\r\n");
    assert_streamed_body_answered(Server::builder(), &raw, 400);
}

#[test]
fn a_streamed_body_that_stalls_cuts_the_response_that_began_and_logs_408() {
    // The echo sends its head as soon as it waits for the body, so the stall
    // is found after the head went out: the response is cut, never completed.
    let server = server(Server::builder().body_timeout(Duration::from_millis(300)));
    let (status, clean, text) = status_and_clean_close(&server, &stream_echo("Content-Length: 100\r\n", b"part"));
    assert_eq!(status, 200, "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "a cut response must not end with the last chunk: {text}");
    assert!(clean, "reset instead of a clean close: {text}");
    assert!(!support::wait_for_log("408 request body timed out, while streaming").is_empty());
    assert_next_connection_served(&server);
}

#[test]
fn a_body_failing_after_the_response_began_cuts_it_and_closes_cleanly() {
    let server = server(Server::builder().max_body_size(100_000));
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
        .write_all(b"POST /stream-echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        .unwrap();
    // Wait for the echoed head and first chunk: the response has begun.
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("hello") {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }
    stream.write_all(b"zz\r\n").unwrap(); // not a chunk size
    let clean = read_to_end_of_connection(&mut stream, &mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "a cut response must not end with the last chunk: {text}");
    assert!(clean, "reset instead of a clean close: {text}");
    assert!(!support::wait_for_log("invalid chunk size, while streaming").is_empty());
}
