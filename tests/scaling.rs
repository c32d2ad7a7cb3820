//! The chat example scaled out through a real Redis (each test starts its
//! own redis-server): chat processes on different ports, and one with
//! `--workers 2`, share one room — WebSocket, SSE and long-poll clients on
//! every one of them see every message with the same ids; a client that
//! reconnects to another process with `Last-Event-ID` gets exactly what it
//! missed; Redis killed and restarted under them loses nothing it took.
#![cfg(all(feature = "redis", feature = "websocket"))]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::redis::RedisServer;

fn chat(redis: &RedisServer, extra: &[&str]) -> support::Example {
    let url = redis.url();
    let mut args = vec!["--redis", url.as_str()];
    args.extend_from_slice(extra);
    support::example("chat", "websocket,redis", &args)
}

/// One HTTP/1.1 exchange: (status, headers and body).
fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut all = String::new();
    stream.read_to_string(&mut all).unwrap();
    (all[9..12].parse().unwrap(), all)
}

fn post(addr: SocketAddr, body: &str) -> (u16, String) {
    let form = format!("body={body}");
    http(
        addr,
        &format!(
            "POST /message HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    )
}

fn poll(addr: SocketAddr, cursor: u64) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let (status, all) =
            http(addr, &format!("GET /poll?cursor={cursor} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
        assert_eq!(status, 200, "{all}");
        all.split_once("\r\n\r\n").unwrap().1.to_owned()
    })
}

fn events(addr: SocketAddr, last_event_id: Option<u64>) -> TcpStream {
    events_and_first_bytes(addr, last_event_id).0
}

/// An event stream, and what arrived with its response head.
fn events_and_first_bytes(addr: SocketAddr, last_event_id: Option<u64>) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let last = last_event_id.map(|id| format!("Last-Event-ID: {id}\r\n")).unwrap_or_default();
    stream.write_all(format!("GET /events HTTP/1.1\r\nHost: t\r\n{last}\r\n").as_bytes()).unwrap();
    let first = support::read_until_contains(&mut stream, "text/event-stream");
    (stream, String::from_utf8_lossy(&first).into_owned())
}

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

fn socket(addr: SocketAddr) -> Socket {
    let (socket, _) = tungstenite::connect(format!("ws://{addr}/chatsocket").as_str()).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = socket.get_ref() {
        tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    }
    socket
}

fn text(socket: &mut Socket) -> String {
    match socket.read().unwrap() {
        tungstenite::Message::Text(text) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Every client on every process — two single processes and the two
/// workers of a third — sees each message, posted to any of them, with one
/// id sequence.
#[test]
fn chats_sharing_a_redis_are_one_room_on_every_transport() {
    let redis = RedisServer::start("one-room");
    let (a, b, c) = (chat(&redis, &[]), chat(&redis, &[]), chat(&redis, &["--workers", "2"]));
    let addrs = [a.addr, b.addr, c.addr];
    // Sockets and streams on each; four of each on the workers' port, which
    // the two workers share between them.
    let mut sockets: Vec<Socket> = Vec::new();
    let mut streams: Vec<TcpStream> = Vec::new();
    for (i, &addr) in addrs.iter().enumerate() {
        for _ in 0..if i == 2 { 4 } else { 1 } {
            sockets.push(socket(addr));
            streams.push(events(addr, None));
        }
    }
    let polls: Vec<_> = addrs.iter().map(|&addr| poll(addr, 0)).collect();
    std::thread::sleep(Duration::from_millis(300));

    for (n, &addr) in addrs.iter().enumerate() {
        assert_eq!(post(addr, &format!("from+{n}")).0, 204);
        let id = n + 1;
        for socket in &mut sockets {
            assert_eq!(text(socket), format!("from {n}"));
        }
        for stream in &mut streams {
            support::read_until_contains(stream, &format!("id: {id}\ndata: from {n}\n\n"));
        }
    }
    for polled in polls {
        assert_eq!(
            polled.join().unwrap(),
            r#"[{"id":1,"body":"from 0"}]"#,
            "the first message, numbered 1, everywhere"
        );
    }
    // A socket's own message goes the same way.
    sockets[0].send(tungstenite::Message::text("from a socket")).unwrap();
    for stream in &mut streams {
        support::read_until_contains(stream, "id: 4\ndata: from a socket\n\n");
    }
}

/// A browser's event stream on one process, then a reconnect to another
/// with `Last-Event-ID`: exactly the messages it missed, then the new ones.
#[test]
fn an_event_stream_reconnecting_to_another_process_replays_what_it_missed() {
    let redis = RedisServer::start("reconnect");
    let (a, b) = (chat(&redis, &[]), chat(&redis, &[]));
    let mut stream = events(a.addr, None);
    for body in ["one", "two"] {
        assert_eq!(post(a.addr, body).0, 204);
    }
    support::read_until_contains(&mut stream, "id: 2\ndata: two\n\n");
    drop(stream); // the browser loses its connection...
    for body in ["three", "four"] {
        assert_eq!(post(a.addr, body).0, 204);
    }
    // ... and reconnects to the other process.
    let (mut again, first) = events_and_first_bytes(b.addr, Some(2));
    assert_eq!(post(b.addr, "five").0, 204);
    let seen = first + &String::from_utf8(support::read_until_contains(&mut again, "data: five")).unwrap();
    let ids: Vec<&str> = seen.lines().filter_map(|l| l.strip_prefix("id: ")).collect();
    assert_eq!(ids, ["3", "4", "5"], "{seen}");
    // A long poll on b from cursor 3 sees 4 and 5, posted through both.
    assert_eq!(poll(b.addr, 3).join().unwrap(), r#"[{"id":4,"body":"four"},{"id":5,"body":"five"}]"#);
}

/// Redis killed with clients connected: posts are refused at once with
/// 503 and Retry-After; when Redis is back, the clients go on with the
/// next id — nothing posted before the kill lost, nothing twice. The
/// timeline is printed (`--nocapture` shows it).
#[test]
fn redis_killed_and_restarted_under_two_chats() {
    let mut redis = RedisServer::start("failover");
    let (a, b) = (chat(&redis, &[]), chat(&redis, &[]));
    let mut on_a = socket(a.addr);
    let mut on_b = events(b.addr, None);
    assert_eq!(post(a.addr, "before+the+kill").0, 204);
    assert_eq!(text(&mut on_a), "before the kill");
    support::read_until_contains(&mut on_b, "id: 1\ndata: before the kill\n\n");

    let start = Instant::now();
    let at = || format!("{:>6.0} ms", start.elapsed().as_secs_f64() * 1000.0);
    let mut timeline = vec![format!("{} redis-server killed (SIGKILL)", at())];
    redis.kill();
    let mut refused = 0;
    for _ in 0..3 {
        let asked = Instant::now();
        let (status, all) = post(a.addr, "while+down");
        assert_eq!(status, 503, "{all}");
        assert!(all.to_ascii_lowercase().contains("retry-after: 1"), "{all}");
        assert!(asked.elapsed() < Duration::from_secs(5), "refused at once, not after a long wait");
        refused += 1;
    }
    timeline.push(format!("{} {refused} posts answered 503 with Retry-After: 1", at()));
    std::thread::sleep(Duration::from_millis(500));
    redis.restart();
    timeline.push(format!("{} redis-server restarted (same append-only file)", at()));
    let first_accepted = loop {
        match post(b.addr, "after+the+restart").0 {
            204 => break at(),
            503 => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("status {other}"),
        }
    };
    timeline.push(format!("{first_accepted} a post is taken again"));
    assert_eq!(text(&mut on_a), "after the restart");
    timeline.push(format!("{} the socket on the other process has it", at()));
    support::read_until_contains(&mut on_b, "id: 2\ndata: after the restart\n\n");
    timeline.push(format!("{} the event stream has it, as id 2", at()));
    let history = poll(a.addr, 0).join().unwrap();
    assert_eq!(history, r#"[{"id":1,"body":"before the kill"},{"id":2,"body":"after the restart"}]"#);
    eprintln!("failover timeline:\n  {}", timeline.join("\n  "));
}

/// A socket that reads nothing while thousands of messages go by: its queue
/// drops what does not fit, for it alone; every post is taken and every
/// other client gets every message, in order.
#[test]
fn a_slow_consumer_does_not_slow_the_others() {
    let redis = RedisServer::start("slow");
    let a = chat(&redis, &[]);
    let slow = socket(a.addr); // never read
    let mut fast = socket(a.addr);
    let mut stream = events(a.addr, None);
    let count = 2000;
    for i in 1..=count {
        assert_eq!(post(a.addr, &format!("m{i}")).0, 204);
    }
    for i in 1..=count {
        assert_eq!(text(&mut fast), format!("m{i}"));
    }
    support::read_until_contains(&mut stream, &format!("id: {count}\ndata: m{count}\n\n"));
    drop(slow);
}
