//! The HTTP/1.1 server, black-box over real loopback sockets.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use squall::testing::{TestConnection, TestServer};
use squall::{Router, Server};

fn server() -> TestServer {
    support::init_logger();
    TestServer::start(support::app())
}

/// Sends `raw` on a fresh connection and returns everything until the server closes.
fn raw_until_close(server: &TestServer, raw: &[u8]) -> String {
    let mut conn = server.connect();
    conn.send(raw).unwrap();
    String::from_utf8_lossy(&conn.read_to_close().expect("server closes")).into_owned()
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("")
}

#[test]
fn two_keep_alive_requests_on_one_connection() {
    let server = server();
    let mut conn = server.connect();
    for _ in 0..2 {
        let resp = conn.request("GET", "/", &[], b"").unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), "Hello, world!");
        assert_eq!(resp.header("connection"), None);
    }
}

#[test]
fn responses_carry_date_server_and_length() {
    let resp = server().get("/");
    assert_eq!(resp.header("server"), Some("squall"));
    assert!(resp.header("date").is_some_and(|d| d.ends_with(" GMT") && d.len() == 29), "{:?}", resp.header("date"));
    assert_eq!(resp.header("content-length"), Some("13"));
}

#[test]
fn connection_close_is_answered_with_close_then_eof() {
    let server = server();
    let mut conn = server.connect();
    let resp = conn.request("GET", "/", &[("Connection", "close")], b"").unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(conn.is_closed());
}

#[test]
fn http10_is_answered_then_closed() {
    let out = raw_until_close(&server(), b"GET / HTTP/1.0\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nHello, world!"), "{out}");
}

#[test]
fn http10_keep_alive_is_echoed_and_reused() {
    let server = server();
    let mut conn = server.connect();
    for _ in 0..2 {
        conn.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        let resp = conn.read_response(false).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("connection"), Some("keep-alive"));
        assert_eq!(resp.text(), "Hello, world!");
    }
}

#[test]
fn http10_streamed_body_is_close_delimited() {
    let out = raw_until_close(&server(), b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert!(!out.contains("chunked"), "{out}");
    assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\none,two,three"), "{out}");
}

#[test]
fn pipelined_requests_get_ordered_responses() {
    let server = server();
    let mut conn = server.connect();
    conn.send(b"GET /path/first HTTP/1.1\r\nHost: x\r\n\r\nGET /path/second HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(conn.read_response(false).unwrap().text(), "/path/first");
    assert_eq!(conn.read_response(false).unwrap().text(), "/path/second");
}

#[test]
fn stray_crlf_between_requests_is_tolerated() {
    let server = server();
    let mut conn = server.connect();
    conn.send(b"GET /path/a HTTP/1.1\r\nHost: x\r\n\r\n\r\n\r\nGET /path/b HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(conn.read_response(false).unwrap().text(), "/path/a");
    assert_eq!(conn.read_response(false).unwrap().text(), "/path/b");
}

#[test]
fn expect_100_continue_sends_interim_then_final() {
    let server = server();
    let mut conn = server.connect();
    conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").unwrap();
    let interim = conn.read_response(false).unwrap();
    assert_eq!(interim.status, 100);
    conn.send(b"hello").unwrap();
    let resp = conn.read_response(false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello");
}

#[test]
fn rejecting_handler_sends_no_100() {
    let server = server();
    let mut conn = server.connect();
    conn.send(b"POST /reject HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").unwrap();
    let resp = conn.read_response(false).unwrap();
    assert_eq!(resp.status, 401, "the first response is the final one, no 100 before it");
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(conn.is_closed());
}

#[test]
fn bare_lf_request_is_answered() {
    let server = server();
    let mut conn = server.connect();
    conn.send(b"GET / HTTP/1.1\nHost: x\n\n").unwrap();
    assert_eq!(conn.read_response(false).unwrap().text(), "Hello, world!");
}

/// Each case gets a complete response with this status, then a close.
fn assert_rejected(raw: &str, statuses: &[u16]) {
    let out = raw_until_close(&server(), raw.as_bytes());
    let status: u16 = status_line(&out).split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    assert!(statuses.contains(&status), "{raw:?} got {out:?}");
    assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
    let (head, body) = out.split_once("\r\n\r\n").expect("complete head");
    let length: usize = head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).unwrap().parse().unwrap();
    assert_eq!(body.len(), length, "complete body in {out:?}");
}

#[test]
fn garbage_is_400() {
    assert_rejected("asdf\r\n\r\n", &[400]);
}

#[test]
fn header_without_colon_is_400() {
    assert_rejected("GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", &[400]);
}

#[test]
fn whitespace_before_colon_is_400() {
    assert_rejected("GET / HTTP/1.1\r\nHost : x\r\n\r\n", &[400]);
}

#[test]
fn control_character_in_value_is_400() {
    assert_rejected("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x07b\r\n\r\n", &[400]);
}

#[test]
fn missing_and_duplicate_host_are_400() {
    assert_rejected("GET / HTTP/1.1\r\n\r\n", &[400]);
    assert_rejected("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &[400]);
    assert_rejected("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", &[400]);
}

#[test]
fn bad_version_is_400() {
    // HTTP/1.7 is served as 1.1 now (RFC 9110 §2.5); another major version is not.
    assert_rejected("GET / HTTP/3.7\r\nHost: x\r\n\r\n", &[400]);
    assert_rejected("GET / FTP/1.1\r\nHost: x\r\n\r\n", &[400]);
}

#[test]
fn content_length_with_transfer_encoding_is_400() {
    assert_rejected(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        &[400],
    );
}

#[test]
fn non_digit_content_lengths_are_400() {
    for cl in ["+10", "foo", "1_0", "-1", "0x10", ""] {
        assert_rejected(&format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {cl}\r\n\r\n"), &[400]);
    }
}

#[test]
fn conflicting_content_lengths_are_400() {
    assert_rejected("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde", &[400]);
}

#[test]
fn two_transfer_encoding_headers_are_400() {
    assert_rejected(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        &[400],
    );
}

#[test]
fn gzip_chunked_is_refused() {
    assert_rejected("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", &[400, 501]);
}

#[test]
fn transfer_encoding_not_ending_in_chunked_is_400() {
    assert_rejected("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", &[400]);
}

#[test]
fn transfer_encoding_on_http10_is_400() {
    assert_rejected("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", &[400]);
}

#[test]
fn bad_chunk_size_is_400() {
    assert_rejected(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1_a\r\nx\r\n0\r\n\r\n",
        &[400],
    );
}

#[test]
fn bad_chunk_size_is_400_even_when_the_handler_swallows_the_error() {
    let app = Router::new().route("/swallow", |mut req: squall::Request| async move {
        let _ = req.bytes().await;
        "fine"
    });
    let server = TestServer::start(app);
    let mut conn = server.connect();
    conn.send(b"POST /swallow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").unwrap();
    let out = String::from_utf8_lossy(&conn.read_to_close().unwrap()).into_owned();
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
}

#[test]
fn chunked_body_is_decoded() {
    let server = server();
    let mut conn = server.connect();
    conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: t\r\n\r\n").unwrap();
    assert_eq!(conn.read_response(false).unwrap().text(), "hello, world");
    // the connection is still in sync
    assert_eq!(conn.request("GET", "/", &[], b"").unwrap().text(), "Hello, world!");
}

#[test]
fn non_ascii_header_value_is_served() {
    let server = server();
    let mut conn = server.connect();
    conn.send("GET /header HTTP/1.1\r\nHost: x\r\nX-Name: café\r\n\r\n".as_bytes()).unwrap();
    let resp = conn.read_response(false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "café");
}

#[test]
fn head_gets_headers_without_body() {
    let server = server();
    let mut conn = server.connect();
    let resp = conn.request("HEAD", "/", &[], b"").unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-length"), Some("13"));
    assert!(resp.body.is_empty());
    // nothing stray follows: the next response parses cleanly
    assert_eq!(conn.request("GET", "/", &[], b"").unwrap().text(), "Hello, world!");
}

#[test]
fn handler_panic_is_500_and_the_server_keeps_serving() {
    let server = server();
    let resp = server.get("/panic");
    assert_eq!(resp.status, 500);
    assert_eq!(server.get("/").status, 200, "a new connection is served");
    let mut conn = server.connect();
    assert_eq!(conn.request("GET", "/panic", &[], b"").unwrap().status, 500);
    assert_eq!(conn.request("GET", "/", &[], b"").unwrap().status, 200, "and the same connection too");
}

#[test]
fn unread_body_is_drained_not_parsed_as_a_request() {
    let server = server();
    let mut conn = server.connect();
    let smuggled = "GET /path/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let raw = format!("POST /ignore-body HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{smuggled}", smuggled.len());
    conn.send(raw.as_bytes()).unwrap();
    assert_eq!(conn.read_response(false).unwrap().text(), "ignored");
    let next = conn.request("GET", "/path/next", &[], b"").unwrap();
    assert_eq!(next.text(), "/path/next", "the body was not served as a request");
}

#[test]
fn large_unread_chunked_body_closes_the_connection() {
    let server = server();
    let mut conn = server.connect();
    conn.send(b"POST /ignore-body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n").unwrap();
    let resp = conn.read_response(false).unwrap();
    assert_eq!(resp.text(), "ignored");
    assert_eq!(resp.header("connection"), Some("close"));
}

#[test]
fn streamed_response_is_chunked() {
    let server = server();
    let mut conn = server.connect();
    let resp = conn.request("GET", "/stream", &[], b"").unwrap();
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert_eq!(resp.text(), "one,two,three");
    assert_eq!(conn.request("GET", "/", &[], b"").unwrap().status, 200);
}

#[test]
fn oversized_head_is_431() {
    let big = "a".repeat(70 * 1024);
    assert_rejected(&format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n"), &[431]);
}

#[test]
fn content_length_over_the_limit_is_413_before_the_body() {
    let server = TestServer::with_builder(Server::builder().max_body_size(10), support::app());
    let mut conn = server.connect();
    conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n").unwrap();
    let resp = conn.read_response(false).unwrap();
    assert_eq!(resp.status, 413);
    assert!(conn.is_closed());
}

#[test]
fn chunked_body_over_the_limit_is_413() {
    let server = TestServer::with_builder(Server::builder().max_body_size(10), support::app());
    let mut conn = server.connect();
    conn.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(conn.read_response(false).unwrap().status, 413);
}

#[test]
fn no_keep_alive_closes_after_each_response() {
    let server = TestServer::with_builder(Server::builder().no_keep_alive(true), support::app());
    let mut conn = server.connect();
    let resp = conn.request("GET", "/", &[], b"").unwrap();
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(conn.is_closed());
}

#[test]
fn every_request_gets_an_access_log_line() {
    let server = server();
    server.get("/path/logged?q=1");
    server.get("/path/missing-route/../x");
    server.get("/panic?logged");
    let lines = support::wait_for_log("/path/logged?q=1");
    let (level, target, message) = lines.first().expect("an access line");
    assert_eq!(target, "squall::access");
    assert_eq!(*level, log::Level::Info);
    assert!(message.starts_with("200 GET /path/logged?q=1 (127.0.0.1) "), "{message}");
    assert!(message.ends_with("ms"), "{message}");
    let panics = support::wait_for_log("GET /panic?logged");
    assert_eq!(panics.first().map(|l| l.0), Some(log::Level::Error), "{panics:?}");
}

#[test]
fn stop_ends_accepting_and_wait_returns() {
    let server = Server::new(support::app());
    let addr = server.listen("127.0.0.1:0").unwrap();
    assert!(TestConnection::open(addr).is_ok());
    server.stop();
    squall::block_on(server.wait());
    assert!(TestConnection::open(addr).is_err(), "the listening socket is closed");
}

#[test]
fn serves_a_listener_the_caller_bound() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = Server::new(support::app());
    let addr = server.add_listener(listener).unwrap();
    let mut conn = TestConnection::open(addr).unwrap();
    assert_eq!(conn.request("GET", "/", &[], b"").unwrap().text(), "Hello, world!");
    server.stop();
}

#[cfg(unix)]
#[test]
fn serves_a_unix_socket() {
    use std::io::{Read, Write};
    let dir = std::env::temp_dir().join(format!("squall-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("server.sock");
    let _ = std::fs::remove_file(&path);
    let server = Server::new(support::app());
    server.listen_unix(&path).unwrap();
    let mut stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("Hello, world!"), "{out}");
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn handler_connection_close_is_honoured() {
    let app = Router::new().route("/bye", |_req| async {
        squall::Response::text("bye").with_header(http::header::CONNECTION, http::HeaderValue::from_static("close"))
    });
    let server = TestServer::start(app);
    let mut conn = server.connect();
    let resp = conn.request("GET", "/bye", &[], b"").unwrap();
    assert_eq!((resp.text().as_str(), resp.header("connection")), ("bye", Some("close")));
    assert!(conn.is_closed());
}

#[test]
fn rfc9110_4_2_4_userinfo_in_the_target_is_400_and_never_reaches_the_app() {
    assert_rejected("GET http://u:p@evil.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n", &[400]);
}

#[test]
fn rfc9110_4_2_1_a_port_outside_1_to_65535_is_400() {
    assert_rejected("GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", &[400]);
    assert_rejected("GET http://a:0/ HTTP/1.1\r\nHost: a\r\n\r\n", &[400]);
}

#[test]
fn rfc3986_3_1_an_upper_case_scheme_is_served() {
    let out = raw_until_close(&server(), b"GET HTTP://a/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("Hello, world!"), "{out}");
}

#[test]
fn rfc9112_2_3_http_1_2_is_served_as_1_1() {
    let server = server();
    let mut conn = server.connect();
    conn.send(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n").unwrap();
    let resp = conn.read_response(false).unwrap();
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "Hello, world!"));
    // Kept alive as a 1.1 connection: a second request on it is served.
    assert_eq!(conn.request("GET", "/", &[], b"").unwrap().status, 200);
}

#[test]
fn rfc9112_3_2_a_fragment_in_the_target_is_400() {
    assert_rejected("GET /t#frag HTTP/1.1\r\nHost: a\r\n\r\n", &[400]);
}

#[test]
fn rfc9112_7_1_2_a_trailer_line_without_a_colon_is_400() {
    let raw = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nNoColon\r\n\r\n";
    assert_rejected(raw, &[400]);
}

#[test]
fn rfc9112_5_2_obs_fold_in_a_trailer_is_400() {
    let raw = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n folded\r\n\r\n";
    assert_rejected(raw, &[400]);
}

#[test]
fn rfc9110_8_6_content_length_values_that_differ_as_text_are_400() {
    assert_rejected("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 0005\r\n\r\nhello", &[400]);
}

/// A toy protocol for the upgrade tests: after `101`, every line is sent
/// back upper-cased until `bye`.
fn upgrading_app() -> squall::Router {
    use futures_lite::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    squall::Router::new().route(
        "/shout",
        squall::get(|req: squall::Request| async move {
            if !req.header("upgrade").is_some_and(|p| p.eq_ignore_ascii_case("shout")) {
                return squall::Response::text("send Upgrade: shout\n").with_status(http::StatusCode::UPGRADE_REQUIRED);
            }
            squall::Response::upgrade("shout", |io| async move {
                let mut io = BufReader::new(io);
                let mut line = String::new();
                while matches!(io.read_line(&mut line).await, Ok(1..)) {
                    if line.trim() == "bye" {
                        break;
                    }
                    let reply = line.to_uppercase();
                    if io.get_mut().write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                    line.clear();
                }
            })
        }),
    )
}

#[test]
fn rfc9110_7_8_an_upgraded_connection_carries_the_new_protocol_from_the_first_byte() {
    use std::io::{Read, Write};
    support::init_logger();
    let server = TestServer::start(upgrading_app());
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    // Bytes of the new protocol right behind the head must not be lost.
    stream
        .write_all(
            b"GET /shout HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: shout\r\n\r\nhello\n",
        )
        .unwrap();
    let got = support::read_until_contains(&mut stream, "HELLO\n");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{text}");
    assert!(text.contains("\r\nConnection: Upgrade\r\n") && text.contains("\r\nupgrade: shout\r\n"), "{text}");
    assert!(!text.contains("Content-Length") && !text.contains("Transfer-Encoding"), "{text}");
    stream.write_all(b"again\n").unwrap();
    support::read_until_contains(&mut stream, "AGAIN\n");
    stream.write_all(b"bye\n").unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap(); // the server closes when the protocol ends
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    // The handler said no: a normal response, and the connection stays HTTP.
    let resp = server.get("/shout");
    assert_eq!(resp.status, 426);
}

#[test]
fn rfc9110_7_8_only_an_http11_request_without_a_body_is_upgraded() {
    support::init_logger();
    let server = TestServer::start(upgrading_app());
    for raw in [
        &b"GET /shout HTTP/1.0\r\nHost: x\r\nUpgrade: shout\r\nConnection: upgrade\r\n\r\n"[..],
        b"GET /shout HTTP/1.1\r\nHost: x\r\nUpgrade: shout\r\nConnection: upgrade\r\nContent-Length: 3\r\n\r\nabc",
    ] {
        let out = raw_until_close(&server, raw);
        assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
    }
}

#[test]
fn closing_all_connections_cuts_an_upgraded_one() {
    use std::io::{Read, Write};
    support::init_logger();
    let server = TestServer::start(upgrading_app());
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET /shout HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\nping\n").unwrap();
    support::read_until_contains(&mut stream, "PING\n");
    squall::block_on(server.server().close_all_connections());
    let mut rest = [0u8; 64];
    // The end of the connection, not a read timeout: an upgraded connection
    // is still the server's to cut.
    match stream.read(&mut rest) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the upgraded connection was left open: {other:?}"),
    }
}
