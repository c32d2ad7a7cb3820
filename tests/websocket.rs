//! WebSocket over real sockets: the opening handshake (RFC 6455 §4), frames
//! written byte by byte in the test (§5), every protocol violation answered
//! with the right Close code (§7.4.1) and then the TCP close, limits,
//! keep-alive pings, broadcast, the graceful drain's `1001`, and a real
//! client library's echo.
#![cfg(feature = "websocket")]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use squall::testing::TestServer;
use squall::websocket::{CloseCode, Message, WebSocket, WebSocketHandler, websocket, websocket_fn};
use squall::{Request, Router};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// What the handlers of the test app saw, in order.
type Journal = Arc<Mutex<Vec<String>>>;

/// A chat room: every message to every member, the sender included.
#[derive(Default)]
struct Room {
    members: Mutex<Vec<WebSocket>>,
}

struct Member {
    room: Arc<Room>,
    journal: Journal,
}

impl WebSocketHandler for Member {
    fn select_subprotocol(&mut self, offered: &[String]) -> Option<String> {
        offered.iter().find(|p| *p == "chat.v2").cloned()
    }

    async fn open(&mut self, socket: &WebSocket) {
        self.room.members.lock().unwrap().push(socket.clone());
        self.journal.lock().unwrap().push(format!("open {:?}", socket.subprotocol()));
    }

    async fn on_message(&mut self, socket: &WebSocket, message: Message) {
        if message.as_text() == Some("close please") {
            let _ = socket.close(4000, "as you wish").await;
            return;
        }
        let members = self.room.members.lock().unwrap().clone();
        for member in members {
            let _ = member.send(message.clone()).await;
        }
    }

    fn on_ping(&mut self, _socket: &WebSocket, payload: &[u8]) {
        self.journal.lock().unwrap().push(format!("ping {}", String::from_utf8_lossy(payload)));
    }

    fn on_close(&mut self, code: Option<u16>, reason: &str) {
        self.room.members.lock().unwrap().retain(|m| !m.is_closed());
        self.journal.lock().unwrap().push(format!("close {code:?} {reason}"));
    }
}

fn app(journal: Journal) -> Router {
    let room = Arc::new(Room::default());
    let echo = |socket: WebSocket, message: Message| async move {
        let _ = socket.send(message).await;
    };
    Router::new()
        .route("/echo", websocket_fn(echo))
        .route("/small", websocket_fn(echo).max_message_size(1024))
        .route(
            "/pinged",
            websocket_fn(echo).ping_interval(Duration::from_millis(100)).ping_timeout(Duration::from_millis(300)),
        )
        .route("/room", websocket(move |_req: &Request| Member { room: room.clone(), journal: journal.clone() }))
}

fn start() -> (TestServer, Journal) {
    support::init_logger();
    let journal = Journal::default();
    (TestServer::start(app(journal.clone())), journal)
}

/// Sends `head` and returns the response head (through the blank line),
/// leaving the stream at the first byte after it.
fn handshake_raw(server: &TestServer, head: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed mid-head: {:?}", String::from_utf8_lossy(&got));
        got.push(byte[0]);
    }
    (stream, String::from_utf8(got).unwrap())
}

fn opening(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
    )
}

/// An open WebSocket, spoken to frame by frame.
fn open(server: &TestServer, path: &str) -> TcpStream {
    let (stream, head) = handshake_raw(server, &opening(path, ""));
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    stream
}

/// A client frame: masked (unless `masked` is false), FIN and RSV bits as given.
fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=65535 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

const FIN: u8 = 0x80;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Reads one server frame: (first byte, payload). Asserts what RFC 6455
/// §5.1 and §5.2 ask of a server: unmasked, the shortest length encoding.
fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(head[1] & 0x80, 0, "§5.1: a server never masks");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b).unwrap();
            let n = u16::from_be_bytes(b) as usize;
            assert!(n >= 126, "§5.2: minimal length encoding, got 16-bit {n}");
            n
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b).unwrap();
            let n = u64::from_be_bytes(b) as usize;
            assert!(n > 65535, "§5.2: minimal length encoding, got 64-bit {n}");
            n
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).unwrap();
    (head[0], payload)
}

/// Reads frames up to a Close; returns its code.
fn read_close(stream: &mut TcpStream) -> u16 {
    loop {
        let (first, payload) = read_frame(stream);
        if first & 0x0f == CLOSE {
            assert_eq!(first & 0x80, FIN);
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

/// The server closes the TCP connection: end of stream (or a reset).
fn assert_tcp_closed(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "bytes after the Close: {rest:?}"),
        Err(e) => assert!(matches!(e.kind(), ErrorKind::ConnectionReset), "{e}"),
    }
}

#[test]
fn rfc6455_4_2_2_the_handshake_answers_101_with_the_accept_key() {
    let (server, journal) = start();
    let extra = "Origin: http://t\r\nSec-WebSocket-Protocol: chat.v1, chat.v2\r\n";
    let (_stream, head) =
        handshake_raw(&server, &opening("/room", extra).replace("Upgrade\r\n", "keep-alive, Upgrade\r\n"));
    let lower = head.to_ascii_lowercase();
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{head}");
    assert!(lower.contains("\r\nupgrade: websocket\r\n") && lower.contains("\r\nconnection: upgrade\r\n"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "§1.3's example key: {head}");
    assert!(lower.contains("\r\nsec-websocket-protocol: chat.v2\r\n"), "{head}");
    support::wait_until("open is called", || journal.lock().unwrap().contains(&"open Some(\"chat.v2\")".to_owned()));
}

#[test]
fn rfc6455_4_2_1_bad_handshakes_are_refused_with_a_status() {
    let (server, _) = start();
    let status = |head: &str| {
        let (stream, got) = handshake_raw(&server, head);
        let _ = stream.shutdown(std::net::Shutdown::Both);
        got
    };
    let no_key = opening("/echo", "").replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), "");
    assert!(status(&no_key).starts_with("HTTP/1.1 400 "));
    let bad_key = opening("/echo", "").replace(KEY, "not-base64-at-all");
    assert!(status(&bad_key).starts_with("HTTP/1.1 400 "));
    let v8 = status(&opening("/echo", "").replace("Version: 13", "Version: 8"));
    assert!(v8.starts_with("HTTP/1.1 426 ") && v8.to_lowercase().contains("sec-websocket-version: 13\r\n"), "{v8}");
    let plain = status("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(plain.starts_with("HTTP/1.1 426 "), "a plain GET: {plain}");
    let post = status(&opening("/echo", "Content-Length: 0\r\n").replace("GET", "POST"));
    assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    let cross = status(&opening("/echo", "Origin: http://evil.example\r\n"));
    assert!(cross.starts_with("HTTP/1.1 403 "), "{cross}");
    let http10 = status(&opening("/echo", "").replace("HTTP/1.1", "HTTP/1.0"));
    assert!(http10.starts_with("HTTP/1.1 400 "), "{http10}");
}

/// RFC 6455 §10.2 and RFC 6454 §7: the Origin check fails closed on an
/// Origin it cannot read as one serialized origin (Tornado answers `403`).
#[test]
fn rfc6454_an_origin_the_check_cannot_read_is_refused() {
    let (server, _) = start();
    let status = |extra: &[u8]| {
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = opening("/echo", "");
        let (start, end) = head.split_at(head.len() - 2);
        stream.write_all(&[start.as_bytes(), extra, end.as_bytes()].concat()).unwrap();
        let mut got = [0u8; 12];
        stream.read_exact(&mut got).unwrap();
        String::from_utf8_lossy(&got).into_owned()
    };
    assert_eq!(status(b"Origin: http://t\r\n"), "HTTP/1.1 101", "the page's own origin");
    for (what, origin) in [
        ("obs-text", &b"Origin: http://t\xe4\r\n"[..]),
        ("userinfo", b"Origin: http://evil@t\r\n"),
        ("a backslash", b"Origin: http://t\\@evil.example\r\n"),
        ("a path", b"Origin: http://t/page\r\n"),
        ("two Origin headers", b"Origin: http://t\r\nOrigin: http://evil.example\r\n"),
    ] {
        assert_eq!(status(origin), "HTTP/1.1 403", "{what}");
    }
}

#[test]
fn rfc6455_5_messages_echo_with_minimal_unmasked_frames() {
    let (server, _) = start();
    let mut ws = open(&server, "/echo");
    for len in [0, 125, 126, 65535, 65536, 200_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        ws.write_all(&frame(FIN | BINARY, &payload, true)).unwrap();
        let (first, got) = read_frame(&mut ws);
        assert_eq!(first, FIN | BINARY);
        assert_eq!(got.len(), len);
        assert!(got == payload, "payload of {len} bytes differs");
    }
    ws.write_all(&frame(FIN | TEXT, "héllo".as_bytes(), true)).unwrap();
    assert_eq!(read_frame(&mut ws), (FIN | TEXT, "héllo".as_bytes().to_vec()));
    // §5.5.1: the client closes; the server answers with the same code and closes TCP.
    ws.write_all(&frame(FIN | CLOSE, &[0x03, 0xe8], true)).unwrap();
    assert_eq!(read_close(&mut ws), 1000);
    assert_tcp_closed(&mut ws);
}

#[test]
fn rfc6455_5_4_fragments_with_pings_between_byte_by_byte_and_many_per_segment() {
    let (server, _) = start();
    let mut ws = open(&server, "/echo");
    // §5.4: control frames may be injected between the fragments of a message.
    let mut bytes = frame(TEXT, b"frag", true);
    bytes.extend(frame(FIN | PING, b"p1", true));
    bytes.extend(frame(0, b"men", true));
    bytes.extend(frame(FIN, b"ted", true));
    // One byte per write.
    for b in &bytes {
        ws.write_all(std::slice::from_ref(b)).unwrap();
        ws.flush().unwrap();
    }
    assert_eq!(read_frame(&mut ws), (FIN | PONG, b"p1".to_vec()), "§5.5.3: the pong carries the ping's payload");
    assert_eq!(read_frame(&mut ws), (FIN | TEXT, b"fragmented".to_vec()));
    // Many frames in one segment.
    let mut burst = Vec::new();
    for i in 0..50 {
        burst.extend(frame(FIN | TEXT, format!("m{i}").as_bytes(), true));
    }
    ws.write_all(&burst).unwrap();
    for i in 0..50 {
        assert_eq!(read_frame(&mut ws), (FIN | TEXT, format!("m{i}").into_bytes()));
    }
}

/// Each violation, on a fresh socket: the Close code the server must send
/// before it closes the TCP connection.
#[test]
fn rfc6455_7_4_1_every_violation_gets_a_close_with_its_code_then_the_tcp_close() {
    let (server, _) = start();
    let bad_utf8: &[u8] = &[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80];
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("§5.1 an unmasked client frame", frame(FIN | TEXT, b"hi", false), 1002),
        ("§5.2 RSV1 without an extension", frame(FIN | 0x40 | TEXT, b"hi", true), 1002),
        ("§5.2 RSV3 without an extension", frame(FIN | 0x10 | BINARY, b"hi", true), 1002),
        ("§5.2 reserved data opcode 3", frame(FIN | 0x3, b"", true), 1002),
        ("§5.2 reserved control opcode 0xB", frame(FIN | 0xB, b"", true), 1002),
        ("§5.4 a continuation without a start", frame(FIN, b"orphan", true), 1002),
        (
            "§5.4 a new message inside a fragmented one",
            [frame(TEXT, b"a", true), frame(FIN | TEXT, b"b", true)].concat(),
            1002,
        ),
        ("§5.5 a control frame over 125 bytes", frame(FIN | PING, &[b'x'; 126], true), 1002),
        ("§5.5 a fragmented control frame", frame(PING, b"p", true), 1002),
        ("§5.5.1 a close payload of one byte", frame(FIN | CLOSE, &[0x03], true), 1002),
        ("§7.4.1 close code 1005 sent on the wire", frame(FIN | CLOSE, &1005u16.to_be_bytes(), true), 1002),
        ("§7.4.2 close code 999", frame(FIN | CLOSE, &999u16.to_be_bytes(), true), 1002),
        ("§8.1 invalid UTF-8 in a text message", frame(FIN | TEXT, bad_utf8, true), 1007),
        (
            "§8.1 invalid UTF-8 split across fragments",
            [frame(TEXT, &bad_utf8[..12], true), frame(FIN, &bad_utf8[12..], true)].concat(),
            1007,
        ),
        ("§5.5.1 a close reason that is not UTF-8", frame(FIN | CLOSE, &[0x03, 0xe8, 0xff, 0xfe], true), 1007),
        (
            "§5.2 a 64-bit length with its most significant bit set",
            [&[FIN | BINARY, 0x80 | 127][..], &(1u64 << 63 | 5).to_be_bytes(), &[1, 2, 3, 4], b"hello"].concat(),
            1002,
        ),
    ];
    for (what, bytes, code) in cases {
        let mut ws = open(&server, "/echo");
        ws.write_all(&bytes).unwrap();
        assert_eq!(read_close(&mut ws), code, "{what}");
        assert_tcp_closed(&mut ws);
    }
    // §10.4: a message over the limit.
    let mut ws = open(&server, "/small");
    ws.write_all(&frame(FIN | BINARY, &[0u8; 1025], true)).unwrap();
    assert_eq!(read_close(&mut ws), 1009);
    assert_tcp_closed(&mut ws);
    // ... also when only the joined fragments are over it.
    let mut ws = open(&server, "/small");
    ws.write_all(&[frame(BINARY, &[0u8; 1000], true), frame(FIN, &[0u8; 100], true)].concat()).unwrap();
    assert_eq!(read_close(&mut ws), 1009);
    assert_tcp_closed(&mut ws);
    // The server is none the worse.
    let mut ws = open(&server, "/small");
    ws.write_all(&frame(FIN | TEXT, b"still here", true)).unwrap();
    assert_eq!(read_frame(&mut ws), (FIN | TEXT, b"still here".to_vec()));
}

#[test]
fn a_real_client_library_echoes_through_squall() {
    let (server, _) = start();
    let url = format!("ws://{}/echo", server.addr());
    let (mut client, response) = tungstenite::connect(url.as_str()).unwrap();
    assert_eq!(response.status(), 101);
    for text in ["one", "two", "ünïcödé"] {
        client.send(tungstenite::Message::text(text)).unwrap();
        assert_eq!(client.read().unwrap(), tungstenite::Message::text(text));
    }
    client.send(tungstenite::Message::binary(vec![0u8, 1, 2, 255])).unwrap();
    assert_eq!(client.read().unwrap(), tungstenite::Message::binary(vec![0u8, 1, 2, 255]));
    client.close(None).unwrap();
    loop {
        match client.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn two_hundred_sockets_echo_at_once() {
    let (server, _) = start();
    let url = format!("ws://{}/echo", server.addr());
    // All open before any speaks: each is served while the others wait.
    let mut clients: Vec<_> = (0..200).map(|_| tungstenite::connect(url.as_str()).unwrap().0).collect();
    assert_eq!(server.server().connections(), 200);
    for (i, client) in clients.iter_mut().enumerate() {
        client.send(tungstenite::Message::text(format!("socket {i}"))).unwrap();
    }
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(client.read().unwrap(), tungstenite::Message::text(format!("socket {i}")));
    }
}

#[test]
fn a_message_is_broadcast_to_every_member_of_the_room() {
    let (server, journal) = start();
    let url = format!("ws://{}/room", server.addr());
    let mut members: Vec<_> = (0..3).map(|_| tungstenite::connect(url.as_str()).unwrap().0).collect();
    support::wait_until("three members", || {
        journal.lock().unwrap().iter().filter(|l| l.starts_with("open")).count() == 3
    });
    members[1].send(tungstenite::Message::text("hello, room")).unwrap();
    for member in &mut members {
        assert_eq!(member.read().unwrap(), tungstenite::Message::text("hello, room"), "the sender included");
    }
    // A member that leaves is told with its code, and the room forgets it.
    members[0].close(Some(tungstenite::protocol::CloseFrame { code: 1000.into(), reason: "bye".into() })).unwrap();
    support::wait_until("on_close", || journal.lock().unwrap().contains(&"close Some(1000) bye".to_owned()));
    members[2].send(tungstenite::Message::text("still two")).unwrap();
    assert_eq!(members[1].read().unwrap(), tungstenite::Message::text("still two"));
    // The server closes on request, with the handler's code.
    members[1].send(tungstenite::Message::text("close please")).unwrap();
    match members[1].read().unwrap() {
        tungstenite::Message::Close(Some(frame)) => {
            assert_eq!((u16::from(frame.code), frame.reason.as_str()), (4000, "as you wish"))
        }
        other => panic!("expected a Close, got {other:?}"),
    }
}

#[test]
fn pings_go_out_on_the_interval_and_a_silent_client_is_closed() {
    let (server, _) = start();
    let mut ws = open(&server, "/pinged");
    // Answer the first ping: the connection stays.
    let (first, payload) = read_frame(&mut ws);
    assert_eq!(first, FIN | PING);
    ws.write_all(&frame(FIN | PONG, &payload, true)).unwrap();
    // Answer nothing more: the next ping goes unanswered, and the server
    // closes within the ping timeout.
    assert_eq!(read_frame(&mut ws).0, FIN | PING);
    assert_eq!(read_close(&mut ws), CloseCode::GOING_AWAY);
    assert_tcp_closed(&mut ws);
    assert!(!support::wait_for_log("no pong within the ping timeout").is_empty());
}

#[test]
fn a_graceful_drain_closes_sockets_with_1001_and_waits_for_the_answer() {
    let (server, journal) = start();
    let url = format!("ws://{}/room", server.addr());
    let (mut client, _) = tungstenite::connect(url.as_str()).unwrap();
    support::wait_until("open", || !journal.lock().unwrap().is_empty());
    let handle = server.server().clone();
    let drain = std::thread::spawn(move || squall::block_on(handle.shutdown(Duration::from_secs(10))));
    match client.read().unwrap() {
        tungstenite::Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected Close 1001, got {other:?}"),
    }
    // The client library answers the Close as it reads it; then the server ends.
    assert!(matches!(client.read(), Err(tungstenite::Error::ConnectionClosed)));
    assert!(drain.join().unwrap(), "the drain finished before its deadline: nothing was cut");
    assert!(journal.lock().unwrap().iter().any(|l| l.starts_with("close Some(1001)")), "{journal:?}");
}

#[test]
fn a_ping_from_the_client_reaches_the_handler() {
    let (server, journal) = start();
    let mut ws = open(&server, "/room");
    ws.write_all(&frame(FIN | PING, b"are you there", true)).unwrap();
    assert_eq!(read_frame(&mut ws), (FIN | PONG, b"are you there".to_vec()));
    support::wait_until("on_ping", || journal.lock().unwrap().contains(&"ping are you there".to_owned()));
}

/// A raw HTTP/1.1 exchange with the chat example: (status, body).
fn http(addr: std::net::SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut all = String::new();
    stream.read_to_string(&mut all).unwrap();
    let status = all[9..12].parse().unwrap();
    let body = all.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn post_message(addr: std::net::SocketAddr, body: &str) {
    let form = format!("body={body}");
    let request = format!(
        "POST /message HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    assert_eq!(http(addr, &request).0, 204);
}

/// The chat's event stream, open, and a long poll waiting on another thread.
fn stream_and_poll(addr: std::net::SocketAddr) -> (TcpStream, std::thread::JoinHandle<(u16, String)>) {
    let mut events = TcpStream::connect(addr).unwrap();
    events.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    events.write_all(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    support::read_until_contains(&mut events, "text/event-stream");
    let poller =
        std::thread::spawn(move || http(addr, "GET /poll?cursor=0 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    std::thread::sleep(Duration::from_millis(300));
    (events, poller)
}

#[test]
fn the_chat_example_reaches_sockets_pollers_and_streams_alike() {
    support::init_logger();
    let chat = support::example("chat", "websocket", &["--max-message", "64"]);
    let (status, page) = http(chat.addr, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 200);
    assert!(page.contains("new WebSocket(") && page.contains("/chatsocket"), "{page}");

    let url = format!("ws://{}/chatsocket", chat.addr);
    let (mut alice, _) = tungstenite::connect(url.as_str()).unwrap();
    let (mut bob, _) = tungstenite::connect(url.as_str()).unwrap();
    let (mut events, poller) = stream_and_poll(chat.addr);

    // A socket's message: every socket (the sender too), the poll, the stream.
    alice.send(tungstenite::Message::text("hi from alice")).unwrap();
    assert_eq!(alice.read().unwrap(), tungstenite::Message::text("hi from alice"));
    assert_eq!(bob.read().unwrap(), tungstenite::Message::text("hi from alice"));
    let (status, json) = poller.join().unwrap();
    assert_eq!((status, json.as_str()), (200, r#"[{"id":1,"body":"hi from alice"}]"#));
    support::read_until_contains(&mut events, "id: 1\ndata: hi from alice\n\n");

    // A posted message: numbered 2, everywhere.
    post_message(chat.addr, "posted+by+form");
    assert_eq!(bob.read().unwrap(), tungstenite::Message::text("posted by form"));
    support::read_until_contains(&mut events, "id: 2\ndata: posted by form\n\n");
    let (_, json) = http(chat.addr, "GET /poll?cursor=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(json, r#"[{"id":2,"body":"posted by form"}]"#, "only what is above the cursor, at once");
    // A reconnecting stream gets what it missed after its Last-Event-ID.
    let mut again = TcpStream::connect(chat.addr).unwrap();
    again.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    again.write_all(b"GET /events HTTP/1.1\r\nHost: t\r\nLast-Event-ID: 1\r\n\r\n").unwrap();
    let missed = String::from_utf8(support::read_until_contains(&mut again, "data: posted by form")).unwrap();
    assert!(!missed.contains("hi from alice"), "{missed}");

    // /echo keeps the type; --max-message is the socket's limit.
    let (mut echo, _) = tungstenite::connect(format!("ws://{}/echo", chat.addr).as_str()).unwrap();
    echo.send(tungstenite::Message::binary(vec![1u8, 2, 3])).unwrap();
    assert_eq!(echo.read().unwrap(), tungstenite::Message::binary(vec![1u8, 2, 3]));
    echo.send(tungstenite::Message::text("x".repeat(65))).unwrap();
    match echo.read().unwrap() {
        tungstenite::Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected Close 1009, got {other:?}"),
    }
    // ... and the posted message's too: 64 bytes pass, 65 are 413, and
    // a body far over it is refused without being read whole.
    post_message(chat.addr, &"y".repeat(64));
    assert_eq!(bob.read().unwrap(), tungstenite::Message::text("y".repeat(64)));
    let over = |form: String| {
        let request = format!(
            "POST /message HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        );
        http(chat.addr, &request).0
    };
    assert_eq!(over(format!("body={}", "y".repeat(65))), 413);
    assert_eq!(over(format!("body={}", "%41".repeat(65))), 413, "counted decoded");
    assert_eq!(over(format!("body={}", "y".repeat(10_000))), 413);
}

#[test]
fn idle_timeout_spares_sockets_and_write_timeout_cuts_a_client_that_stopped_reading() {
    support::init_logger();
    let flooded = Journal::default();
    let journal = flooded.clone();
    let flood = websocket_fn(move |socket: WebSocket, _message: Message| {
        let journal = journal.clone();
        async move {
            // Sends until the connection gives up on the client.
            let chunk = bytes::Bytes::from(vec![0u8; 64 * 1024]);
            let mut sent = 0usize;
            while socket.send(Message::Binary(chunk.clone())).await.is_ok() {
                sent += 1;
            }
            journal.lock().unwrap().push(format!("stopped after {sent} messages"));
        }
    });
    let app = app(Journal::default()).route("/flood", flood);
    let builder = squall::Server::builder()
        .idle_connection_timeout(Duration::from_millis(200))
        .write_timeout(Duration::from_millis(500));
    let server = TestServer::with_builder(builder, app);
    // An idle socket outlives the idle timeout: a WebSocket is meant to wait.
    let mut ws = open(&server, "/echo");
    std::thread::sleep(Duration::from_millis(600));
    ws.write_all(&frame(FIN | TEXT, b"still open", true)).unwrap();
    assert_eq!(read_frame(&mut ws), (FIN | TEXT, b"still open".to_vec()));
    // A client that reads nothing: the write timeout ends the connection.
    let mut reader = open(&server, "/flood");
    reader.write_all(&frame(FIN | TEXT, b"go", true)).unwrap();
    support::wait_until("the flood stops", || !flooded.lock().unwrap().is_empty());
    support::wait_until("the connection is gone", || server.server().connections() == 1);
}

/// A handler whose handshake takes a while: time for the server to start draining.
struct SlowHandshake;

impl WebSocketHandler for SlowHandshake {
    async fn prepare(&mut self, _req: &mut Request) -> Result<(), squall::HttpError> {
        squall::sleep(Duration::from_millis(300)).await;
        Ok(())
    }

    async fn on_message(&mut self, _socket: &WebSocket, _message: Message) {}
}

#[test]
fn a_handshake_answered_while_the_server_drains_is_503() {
    support::init_logger();
    let server = TestServer::start(Router::new().route("/slow", websocket(|_req: &Request| SlowHandshake)));
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(opening("/slow", "").as_bytes()).unwrap();
    support::wait_until("the handshake is in flight", || server.server().connections() == 1);
    let handle = server.server().clone();
    let drain = std::thread::spawn(move || squall::block_on(handle.shutdown(Duration::from_secs(10))));
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("Retry-After: 1\r\n") || answer.contains("retry-after: 1\r\n"), "{answer}");
    assert!(drain.join().unwrap());
}

/// SIGTERM to the chat example with an event stream and a long poll open:
/// both end cleanly at once (the stream with its last chunk, the poll with
/// an answer), long before the drain deadline, and the process exits.
#[test]
fn sigterm_ends_the_chat_examples_event_streams_and_polls_cleanly() {
    support::init_logger();
    let mut chat = support::example("chat", "websocket", &[]);
    let (mut events, poller) = stream_and_poll(chat.addr);
    let started = Instant::now();
    let term = std::process::Command::new("kill").arg("-TERM").arg(chat.child.id().to_string()).status().unwrap();
    assert!(term.success());
    let mut rest = Vec::new();
    events.read_to_end(&mut rest).unwrap();
    assert!(rest.ends_with(b"0\r\n\r\n"), "the stream's last chunk: {:?}", String::from_utf8_lossy(&rest));
    assert_eq!(poller.join().unwrap(), (200, "[]".to_owned()));
    let exited = loop {
        if let Some(status) = chat.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "still running after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exited.success(), "{exited}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

/// Event streams whose clients left are let go within a second with no
/// message posted: the chat's connections close, and round after round of
/// 1,000 abandoned streams leaves its memory where it was once the
/// allocator has found its size. Each round kept would be about 9 MB of
/// queues more, 27 MB from the second round to the fifth; the allocator
/// may take one step of its own on the way (10 MB once, seen in one run).
#[test]
fn the_chat_releases_abandoned_event_streams_without_a_message() {
    support::init_logger();
    let chat = support::example("chat", "websocket", &[]);
    let mut after = Vec::new();
    for _ in 0..5 {
        let streams: Vec<_> = (0..1000)
            .map(|_| {
                let mut stream = TcpStream::connect(chat.addr).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                stream.write_all(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
                stream
            })
            .collect();
        for mut stream in streams {
            support::read_until_contains(&mut stream, "text/event-stream");
        }
        let left = Instant::now();
        // Every connection closed by the server: a new one is served at once,
        // and the process holds no socket of the departed beyond a second.
        std::thread::sleep(Duration::from_millis(1000));
        let open = std::fs::read_dir(format!("/proc/{}/fd", chat.child.id())).unwrap().count();
        assert!(open < 100, "{open} descriptors open a second after 1,000 clients left");
        assert!(left.elapsed() < Duration::from_secs(3));
        after.push(support::memory_kb(chat.child.id(), "VmRSS"));
    }
    println!("resident memory after each round: {after:?} kB");
    assert!(after[4] < after[1] + 16 * 1024, "memory grew round after round: {after:?} kB");
}
