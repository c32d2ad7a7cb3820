//! Long polling and server-sent events over real sockets: a waiting handler
//! learns that its client left, pipelined requests survive the wait, and an
//! event stream carries events as they happen and ends when its client goes.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::FutureExt;
use squall::testing::TestServer;
use squall::web::{Event, EventSender, EventStream};
use squall::{Request, Response, Router, get, post};

/// What a waiting handler reports to the test.
#[derive(Debug, PartialEq)]
enum Seen {
    Waiting,
    ClientLeft,
    Finished,
}

fn long_poll_app(report: mpsc::Sender<Seen>) -> Router {
    let report = Arc::new(Mutex::new(report));
    let for_wait = report.clone();
    Router::new()
        .route(
            "/wait",
            get(move |req: Request| {
                let report = for_wait.clone();
                async move {
                    let ms: u64 = req.query_argument_as("ms").unwrap_or(30_000);
                    let _ = report.lock().unwrap().send(Seen::Waiting);
                    let slept = async {
                        squall::sleep(Duration::from_millis(ms)).await;
                        true
                    };
                    // The owned future, not a borrow of `req` (a request
                    // is not `Sync`, and the handler's future must be `Send`).
                    let disconnected = req.disconnected();
                    let gone = async {
                        disconnected.await;
                        false
                    };
                    let finished = slept.or(gone).await;
                    let _ = report.lock().unwrap().send(if finished { Seen::Finished } else { Seen::ClientLeft });
                    Response::text(format!("waited {ms} ms"))
                }
            }),
        )
        .route("/hello", get(|_req| async { "hello" }))
        .route(
            "/echo-or-leave",
            post(|mut req: Request| async move {
                let gone = req.disconnected();
                let body = req.take_body();
                let read = async { Some(body.bytes().await) };
                // The watch first: it reads the body's bytes before the read does.
                let gone = async {
                    gone.await;
                    None
                };
                match gone.or(read).await {
                    Some(Ok(bytes)) => Response::text(bytes),
                    Some(Err(e)) => squall::IntoResponse::into_response(e),
                    None => Response::text("gone"),
                }
            }),
        )
}

#[test]
fn a_long_poll_learns_within_a_second_that_its_client_left() {
    support::init_logger();
    let (tx, rx) = mpsc::channel();
    let server = TestServer::start(long_poll_app(tx));
    let mut conn = server.connect();
    conn.send_request("GET", "/wait", &[], b"").unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), Seen::Waiting);
    drop(conn);
    assert_eq!(rx.recv_timeout(Duration::from_secs(1)).expect("the handler is told within a second"), Seen::ClientLeft);
}

#[test]
fn waiting_for_the_client_does_not_eat_the_next_pipelined_request() {
    support::init_logger();
    let (tx, rx) = mpsc::channel();
    let server = TestServer::start(long_poll_app(tx));
    let mut conn = server.connect();
    // Both requests in one write: the second sits in the read-ahead while
    // the first handler waits, and must be answered next, intact.
    conn.send(b"GET /wait?ms=300 HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let first = conn.read_response(false).unwrap();
    assert_eq!((first.status.as_u16(), first.text()), (200, "waited 300 ms".to_owned()));
    let second = conn.read_response(false).unwrap();
    assert_eq!((second.status.as_u16(), second.text()), (200, "hello".to_owned()));
    assert_eq!(rx.recv().unwrap(), Seen::Waiting);
    assert_eq!(rx.recv().unwrap(), Seen::Finished, "a client that stays is not taken for gone");
    // Keep-alive still works after a wait.
    let third = conn.request("GET", "/wait?ms=10", &[], b"").unwrap();
    assert_eq!(third.text(), "waited 10 ms");
}

#[test]
fn a_body_read_beside_the_watch_gets_every_byte() {
    // The watch reads ahead into the buffer the body is read from; bytes it
    // takes must wake the body read, whichever future is polled first.
    support::init_logger();
    let (tx, _rx) = mpsc::channel();
    let server = TestServer::start(long_poll_app(tx));
    let mut conn = server.connect();
    conn.send(b"POST /echo-or-leave HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    conn.send(b" you!").unwrap();
    let resp = conn.read_response(false).unwrap();
    assert_eq!(resp.text(), "hello you!");
}

/// Event streams that register their senders for the test to feed.
fn sse_app(streams: Arc<Mutex<Vec<EventSender>>>) -> Router {
    Router::new().route(
        "/events",
        get(move |req: Request| {
            let streams = streams.clone();
            async move {
                let (tx, stream) = EventStream::channel();
                if let Some(last) = req.last_event_id() {
                    let _ = tx.try_send(Event::comment(format!("resuming after {last}")));
                }
                streams.lock().unwrap().push(tx);
                stream.keep_alive(Some(Duration::from_millis(200)))
            }
        }),
    )
}

fn wait_for_stream(streams: &Mutex<Vec<EventSender>>) -> EventSender {
    support::wait_until("the event stream to open", || !streams.lock().unwrap().is_empty());
    streams.lock().unwrap().pop().unwrap()
}

#[test]
fn an_event_stream_carries_events_as_they_happen() {
    support::init_logger();
    let streams = Arc::new(Mutex::new(Vec::new()));
    let server = TestServer::start(sse_app(streams.clone()));
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET /events HTTP/1.1\r\nHost: t\r\nLast-Event-ID: 41\r\n\r\n").unwrap();
    let head = support::read_until_contains(&mut stream, "\r\n\r\n");
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(head.contains("content-type: text/event-stream\r\n"), "{head}");
    assert!(head.contains("cache-control: no-cache\r\n"), "{head}");
    assert!(head.contains("transfer-encoding: chunked\r\n"), "{head}");
    let sender = wait_for_stream(&streams);
    // The event arrives on its own, before the stream ends.
    squall::block_on(sender.send(Event::data("first").id("42").event("news"))).unwrap();
    let mut got = String::from_utf8_lossy(&support::read_until_contains(&mut stream, "data: first\n\n")).into_owned();
    got.insert_str(0, &head);
    assert!(got.contains(": resuming after 41\n\n"), "Last-Event-ID reached the handler: {got}");
    assert!(got.contains("event: news\nid: 42\ndata: first\n\n"), "{got}");
    // Silence is filled with keep-alive comments.
    support::read_until_contains(&mut stream, ": keep-alive\n\n");
}

#[test]
fn an_event_stream_ends_when_its_client_leaves() {
    support::init_logger();
    let streams = Arc::new(Mutex::new(Vec::new()));
    let server = TestServer::start(sse_app(streams.clone()));
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let sender = wait_for_stream(&streams);
    squall::block_on(sender.send(Event::data("one"))).unwrap();
    support::read_until_contains(&mut stream, "data: one\n\n");
    drop(stream);
    // No event needs to be sent for the server to notice: the stream is
    // dropped while it waits, and the sender sees it closed.
    support::wait_until("the stream to close", || sender.is_closed());
    assert!(squall::block_on(sender.send(Event::data("two"))).is_err());
    assert_eq!(server.server().connections(), 0);
}

#[test]
fn a_finished_event_stream_ends_its_chunked_body() {
    support::init_logger();
    let app = Router::new().route(
        "/three",
        get(|_req| async {
            EventStream::from_stream(futures_lite::stream::iter((1..=3).map(|n| Event::data(n.to_string()))))
        }),
    );
    let server = TestServer::start(app);
    let mut conn = server.connect();
    let resp = conn.request("GET", "/three", &[], b"").unwrap();
    assert_eq!(resp.text(), "data: 1\n\ndata: 2\n\ndata: 3\n\n");
    let again = conn.request("GET", "/three", &[], b"").unwrap();
    assert_eq!(again.status, 200, "the connection is reusable after a finished stream");
    let mut raw = std::net::TcpStream::connect(server.addr()).unwrap();
    raw.write_all(b"GET /three HTTP/1.0\r\n\r\n").unwrap();
    let mut all = String::new();
    raw.read_to_string(&mut all).unwrap();
    assert!(all.ends_with("\r\n\r\ndata: 1\n\ndata: 2\n\ndata: 3\n\n"), "HTTP/1.0: the close ends it: {all}");
}

/// A graceful drain ends what would otherwise wait for the deadline: an
/// event stream gets its last chunk (a gzip one its whole gzip trailer, as
/// the stream ends at its source) and a long poll its answer, at once, so
/// that clients reconnect to another instance; nothing is cut.
#[test]
fn a_graceful_drain_ends_event_streams_and_answers_long_polls_at_once() {
    support::init_logger();
    let streams = Arc::new(Mutex::new(Vec::new()));
    let router = sse_app(streams.clone()).route(
        "/poll",
        get(|req: Request| async move {
            let shutdown = req.shutdown_begun();
            let news = async {
                squall::sleep(Duration::from_secs(30)).await;
                "news"
            };
            news.or(async {
                shutdown.await;
                "[]"
            })
            .await
        }),
    );
    let server =
        TestServer::start(squall::app::App::new(router).layer(squall::app::Compression::default().min_size(0)));
    let open = |head: &[u8]| {
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(head).unwrap();
        stream
    };
    let mut plain = open(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n");
    let _ = wait_for_stream(&streams);
    let mut gzipped = open(b"GET /events HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n");
    let sender = wait_for_stream(&streams);
    squall::block_on(sender.send(Event::data("before the drain"))).unwrap();
    let mut poll = server.connect();
    poll.send(b"GET /poll HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    support::wait_until("three connections", || server.server().connections() == 3);

    let started = std::time::Instant::now();
    let drained = {
        let server = server.server().clone();
        std::thread::spawn(move || squall::block_on(server.shutdown(Duration::from_secs(10))))
    };
    let mut all = Vec::new();
    plain.read_to_end(&mut all).unwrap();
    assert!(all.ends_with(b"\r\n0\r\n\r\n"), "the last chunk: {:?}", String::from_utf8_lossy(&all));
    let mut all = Vec::new();
    gzipped.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all).into_owned();
    assert!(all.ends_with(b"\r\n0\r\n\r\n") && text.contains("content-encoding: gzip"), "{text}");
    let body = dechunk(&all);
    let mut events = String::new();
    flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut events).expect("a whole gzip stream");
    assert!(events.contains("data: before the drain\n\n"), "{events}");
    let answered = poll.read_response(false).unwrap();
    assert_eq!((answered.status.as_u16(), answered.text().as_str()), (200, "[]"));
    assert!(drained.join().unwrap(), "nothing was cut at the deadline");
    assert!(started.elapsed() < Duration::from_secs(5), "drained in {:?}", started.elapsed());
}

/// Event streams whose clients left are let go without any event sent:
/// the connections close and the senders hold no queue.
#[test]
fn event_streams_whose_clients_left_are_released_without_an_event() {
    support::init_logger();
    let streams = Arc::new(Mutex::new(Vec::new()));
    let server = TestServer::start(sse_app(streams.clone()));
    let clients: Vec<_> = (0..200)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
            stream.write_all(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            stream
        })
        .collect();
    support::wait_until("200 streams open", || streams.lock().unwrap().len() == 200);
    drop(clients);
    let left = std::time::Instant::now();
    support::wait_until("every stream closed", || streams.lock().unwrap().iter().all(EventSender::is_closed));
    support::wait_until("every connection closed", || server.server().connections() == 0);
    assert!(left.elapsed() < Duration::from_secs(1), "released after {:?}", left.elapsed());
}

/// The body of a raw chunked response.
fn dechunk(raw: &[u8]) -> Vec<u8> {
    let start = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (mut rest, mut body) = (&raw[start..], Vec::new());
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
        rest = &rest[line_end + 4 + size..];
    }
}
