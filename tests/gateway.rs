//! The gateway container, black-box over loopback: executor strategies
//! (the barrier test), environ rules, streaming, failures, overload.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use squall::gateway::{AppError, AppIter, Environ, Executor, GatewayContainer, StartResponse};
use squall::testing::TestServer;
use squall::{Router, get};

type AppResult = Result<AppIter, AppError>;

/// A two-party meeting point: `arrive` is true when the other party arrives
/// within the timeout.
#[derive(Default)]
struct Meeting {
    arrived: Mutex<usize>,
    cond: Condvar,
}

impl Meeting {
    fn arrive(&self, timeout: Duration) -> bool {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.cond.notify_all();
        let (mut arrived, _) = self.cond.wait_timeout_while(arrived, timeout, |n| *n < 2).unwrap();
        if *arrived < 2 {
            *arrived -= 1; // gave up: leave, so a later arrival does not count us
            return false;
        }
        true
    }
}

const MEET_TIMEOUT: Duration = Duration::from_millis(400);

fn serve(executor: Executor, app: impl squall::gateway::App) -> TestServer {
    support::init_logger();
    let container = GatewayContainer::builder(app).executor(executor).build();
    let router = Router::new().route("/native", get(|_req| async { "native" })).mount("/legacy", container);
    TestServer::start(router)
}

fn strategies() -> Vec<(&'static str, Executor)> {
    let inline = Executor::Inline;
    vec![("inline", inline), ("pool", Executor::thread_pool(4)), ("rayon", Executor::rayon(4))]
}

/// Two concurrent requests to `path`; the bodies they got.
fn two_at_once(server: &TestServer, path: &str) -> Vec<String> {
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..2).map(|_| s.spawn(|| server.get(path).text())).collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    })
}

// ANCHOR: barrier
#[test]
fn barrier_meets_only_on_pools() {
    for (name, executor) in strategies() {
        let meeting = Arc::new(Meeting::default());
        let m = meeting.clone();
        let app = move |_: &mut Environ, start: &StartResponse| -> AppResult {
            let met = m.arrive(MEET_TIMEOUT);
            start.start("200 OK", [("Content-Type", "text/plain")])?;
            Ok(AppIter::once(if met { "met" } else { "alone" }))
        };
        let server = serve(executor, app);
        let bodies = two_at_once(&server, "/legacy/meet");
        let want = if name == "inline" { ["alone", "alone"] } else { ["met", "met"] };
        assert_eq!(bodies, want, "{name}");
    }
}
// ANCHOR_END: barrier

#[test]
fn barrier_inside_a_streaming_body_meets_only_on_pools() {
    for (name, executor) in strategies() {
        let meeting = Arc::new(Meeting::default());
        let m = meeting.clone();
        let app = move |_: &mut Environ, start: &StartResponse| -> AppResult {
            start.start("200 OK", [("Content-Type", "text/plain")])?;
            let m = m.clone();
            let lazy = std::iter::once_with(move || if m.arrive(MEET_TIMEOUT) { "met" } else { "alone" });
            Ok(AppIter::from_chunks(std::iter::once("streamed:").chain(lazy)))
        };
        let server = serve(executor, app);
        let bodies = two_at_once(&server, "/legacy/meet");
        let want =
            if name == "inline" { ["streamed:alone", "streamed:alone"] } else { ["streamed:met", "streamed:met"] };
        assert_eq!(bodies, want, "{name}");
    }
}

/// Lists the environ as sorted `KEY=value` lines, the input as its byte count.
fn environ_app(environ: &mut Environ, start: &StartResponse) -> AppResult {
    let mut body = Vec::new();
    environ.input().read_to_end(&mut body)?;
    let mut lines: Vec<String> =
        environ.vars().iter().map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v))).collect();
    lines.push(format!("input={}", body.len()));
    lines.push(format!("multithread={}", environ.multithread()));
    lines.push(format!("url_scheme={}", environ.url_scheme()));
    start.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(AppIter::once(lines.join("\n")))
}

fn environ_of(body: &str) -> std::collections::HashMap<String, String> {
    body.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

#[test]
fn environ_rules_through_a_mounted_container() {
    let server = serve(Executor::thread_pool(2), environ_app);
    let mut conn = server.connect();
    let headers = [
        ("X-Multi", "a"),
        ("X-Multi", "b"),
        ("X-Dash", "real"),
        ("X_Dash", "spoofed"),
        ("Proxy", "http://evil"),
        ("Content-Type", "text/plain"),
    ];
    let resp = conn.request("POST", "/legacy/a%2Fb?x=1", &headers, b"hello").unwrap();
    let env = environ_of(&resp.text());
    assert_eq!(env["SCRIPT_NAME"], "/legacy");
    assert_eq!(env["PATH_INFO"], "/a/b");
    assert_eq!(env["REQUEST_URI"], "/legacy/a%2Fb?x=1");
    assert_eq!(env["QUERY_STRING"], "x=1");
    assert_eq!(env["REQUEST_METHOD"], "POST");
    assert_eq!(env["SERVER_PROTOCOL"], "HTTP/1.1");
    assert_eq!(env["HTTP_X_MULTI"], "a, b");
    assert_eq!(env["HTTP_X_DASH"], "real", "the underscore twin never overrides");
    assert!(!env.contains_key("HTTP_PROXY"), "httpoxy");
    assert_eq!(env["CONTENT_TYPE"], "text/plain");
    assert_eq!(env["CONTENT_LENGTH"], "5");
    assert!(!env.contains_key("HTTP_CONTENT_LENGTH"));
    assert_eq!(env["input"], "5");
    assert_eq!(env["REMOTE_ADDR"], "127.0.0.1");
    assert!(env["REMOTE_PORT"].parse::<u16>().is_ok());
    assert_eq!(env["SERVER_NAME"], "test");
    assert_eq!(env["SERVER_PORT"], "80");
    assert_eq!(env["multithread"], "true");
    assert_eq!(env["url_scheme"], "http");
}

#[test]
fn server_name_for_ipv6_hosts_and_from_the_socket_without_host() {
    let server = serve(Executor::thread_pool(2), environ_app);
    let mut conn = server.connect();
    let resp = conn.request("GET", "/legacy/", &[("Host", "[::1]:9090")], b"");
    // The client already sends `Host: test`; a second Host is a 400, so use HTTP/1.0 instead.
    assert_eq!(resp.unwrap().status, 400);
    let mut conn = server.connect();
    conn.send(b"GET /legacy/ HTTP/1.0\r\nHost: [::1]:9090\r\n\r\n").unwrap();
    let env = environ_of(&conn.read_response(false).unwrap().text());
    assert_eq!((env["SERVER_NAME"].as_str(), env["SERVER_PORT"].as_str()), ("[::1]", "9090"));
    let mut conn = server.connect();
    conn.send(b"GET /legacy/ HTTP/1.0\r\n\r\n").unwrap();
    let env = environ_of(&conn.read_response(false).unwrap().text());
    assert_eq!(env["SERVER_NAME"], "127.0.0.1");
    assert_eq!(env["SERVER_PORT"], server.addr().port().to_string());
}

#[test]
fn multithread_flag_tells_the_truth() {
    let server = serve(Executor::Inline, environ_app);
    assert_eq!(environ_of(&server.get("/legacy/").text())["multithread"], "false");
    let server = serve(Executor::rayon(2), environ_app);
    assert_eq!(environ_of(&server.get("/legacy/").text())["multithread"], "true");
}

const CHUNKED_POST: &[u8] =
    b"POST /legacy/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";

#[test]
fn a_chunked_request_body_is_read_whole_and_its_length_given() {
    for (name, executor) in strategies() {
        let server = serve(executor, environ_app);
        let mut conn = server.connect();
        conn.send(CHUNKED_POST).unwrap();
        let env = environ_of(&conn.read_response(false).unwrap().text());
        assert_eq!((env["input"].as_str(), env["CONTENT_LENGTH"].as_str()), ("7", "7"), "{name}");
        assert!(!env.contains_key("HTTP_TRANSFER_ENCODING"), "{name}: the body is no longer chunked");
    }
}

#[test]
fn chunked_request_body_streams_to_the_app() {
    let container =
        GatewayContainer::builder(environ_app).executor(Executor::thread_pool(2)).stream_request_body(true).build();
    let server = TestServer::start(Router::new().mount("/legacy", container));
    let mut conn = server.connect();
    conn.send(
        b"POST /legacy/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
    )
    .unwrap();
    let env = environ_of(&conn.read_response(false).unwrap().text());
    assert_eq!(env["input"], "7");
    assert!(!env.contains_key("CONTENT_LENGTH"));
}

#[test]
fn body_is_streamed_not_buffered() {
    // The app produces its second chunk only after the client has seen the
    // first; a buffering server would make it wait in vain.
    for (name, executor) in strategies().into_iter().skip(1) {
        let seen = Arc::new((Mutex::new(false), Condvar::new()));
        let app_seen = seen.clone();
        let app = move |_: &mut Environ, start: &StartResponse| -> AppResult {
            start.start("200 OK", [("Content-Type", "text/plain")])?;
            let seen = app_seen.clone();
            let second = std::iter::once_with(move || {
                let (flag, cond) = &*seen;
                let guard = cond.wait_timeout_while(flag.lock().unwrap(), Duration::from_secs(5), |s| !*s).unwrap();
                if *guard.0 { "|after" } else { "|timed-out" }
            });
            Ok(AppIter::from_chunks(std::iter::once("first").chain(second).chain(std::iter::once("|third"))))
        };
        let server = serve(executor, app);
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(b"GET /legacy/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut got = support::read_until_contains(&mut stream, "first");
        {
            let (flag, cond) = &*seen;
            *flag.lock().unwrap() = true;
            cond.notify_all();
        }
        stream.read_to_end(&mut got).unwrap();
        let text = String::from_utf8_lossy(&got);
        assert!(text.contains("|after") && text.contains("|third"), "{name}: {text}");
    }
}

fn app_with(
    status: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<&'static str>,
) -> impl squall::gateway::App {
    move |_: &mut Environ, start: &StartResponse| -> AppResult {
        start.start(status, headers.clone())?;
        Ok(AppIter::from_chunks(body.clone()))
    }
}

#[test]
fn app_error_or_panic_before_the_body_is_500() {
    let fails = |_: &mut Environ, _: &StartResponse| -> AppResult { Err("database is down".into()) };
    assert_eq!(serve(Executor::thread_pool(2), fails).get("/legacy/").status, 500);
    let panics = |_: &mut Environ, _: &StartResponse| -> AppResult { panic!("legacy bug") };
    for (name, executor) in strategies() {
        let server = serve(executor, panics);
        assert_eq!(server.get("/legacy/").status, 500, "{name}");
        assert_eq!(server.get("/native").status, 200, "{name}: still serving");
    }
    let body_fails = |_: &mut Environ, start: &StartResponse| -> AppResult {
        start.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok(AppIter::new([Err::<&str, AppError>("first chunk failed".into())]))
    };
    assert_eq!(serve(Executor::thread_pool(2), body_fails).get("/legacy/").status, 500);
}

#[test]
fn failure_after_the_first_byte_truncates_the_response() {
    // The app fails only once the client has received its first chunk.
    let seen = Arc::new((Mutex::new(false), Condvar::new()));
    let app_seen = seen.clone();
    let app = move |_: &mut Environ, start: &StartResponse| -> AppResult {
        start.start("200 OK", [("Content-Type", "text/plain")])?;
        let seen = app_seen.clone();
        let then_fail = std::iter::once_with(move || {
            let (flag, cond) = &*seen;
            drop(cond.wait_timeout_while(flag.lock().unwrap(), Duration::from_secs(5), |s| !*s).unwrap());
            Err::<&str, AppError>("then it broke".into())
        });
        Ok(AppIter::new(std::iter::once(Ok("partial")).chain(then_fail)))
    };
    let server = serve(Executor::thread_pool(2), app);
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET /legacy/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = support::read_until_contains(&mut stream, "partial");
    {
        let (flag, cond) = &*seen;
        *flag.lock().unwrap() = true;
        cond.notify_all();
    }
    stream.read_to_end(&mut got).unwrap();
    let raw = String::from_utf8_lossy(&got);
    assert!(raw.starts_with("HTTP/1.1 200 OK"), "{raw}");
    assert!(!raw.ends_with("0\r\n\r\n"), "no terminating chunk: the client sees it incomplete: {raw:?}");
}

#[test]
fn missing_start_response_is_500() {
    let app = |_: &mut Environ, _: &StartResponse| -> AppResult { Ok(AppIter::once("body without a head")) };
    assert_eq!(serve(Executor::thread_pool(2), app).get("/legacy/").status, 500);
}

#[test]
fn status_without_reason_gets_the_standard_phrase() {
    let server = serve(Executor::thread_pool(2), app_with("404", vec![], vec!["gone"]));
    let mut conn = server.connect();
    conn.send(b"GET /legacy/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let raw = String::from_utf8_lossy(&conn.read_to_close().unwrap()).into_owned();
    assert!(raw.starts_with("HTTP/1.1 404 Not Found\r\n"), "{raw}");
}

#[test]
fn control_characters_in_status_or_headers_are_500() {
    let server = serve(Executor::thread_pool(2), app_with("200 OK", vec![("X-A", "a\r\nSet-Cookie: x=1")], vec!["x"]));
    let resp = server.get("/legacy/");
    assert_eq!(resp.status, 500);
    assert!(resp.header("set-cookie").is_none());
    let server = serve(Executor::thread_pool(2), app_with("200 OK\r\nX: y", vec![], vec!["x"]));
    assert_eq!(server.get("/legacy/").status, 500);
}

#[test]
fn head_204_and_304_send_no_body() {
    let server =
        serve(Executor::thread_pool(2), app_with("200 OK", vec![("Content-Type", "text/plain")], vec!["body"]));
    let mut conn = server.connect();
    let resp = conn.request("HEAD", "/legacy/", &[], b"").unwrap();
    assert_eq!((resp.status.as_u16(), resp.body.len()), (200, 0));
    assert_eq!(conn.request("GET", "/legacy/", &[], b"").unwrap().text(), "body", "connection still in sync");
    for status in ["204 No Content", "304 Not Modified"] {
        let server = serve(Executor::thread_pool(2), app_with(status, vec![("Content-Length", "4")], vec!["body"]));
        let mut conn = server.connect();
        let resp = conn.request("GET", "/legacy/", &[], b"").unwrap();
        assert!(resp.body.is_empty() && resp.header("content-length").is_none(), "{status}: {resp:?}");
        assert_eq!(conn.request("GET", "/native", &[], b"").unwrap().text(), "native", "{status}: in sync");
    }
}

#[test]
fn hop_by_hop_headers_from_the_app_are_not_echoed() {
    let headers = vec![("Transfer-Encoding", "gzip"), ("Keep-Alive", "timeout=5"), ("Connection", "upgrade")];
    let server = serve(Executor::thread_pool(2), app_with("200 OK", headers, vec!["abc"]));
    let mut conn = server.connect();
    let resp = conn.request("GET", "/legacy/", &[], b"").unwrap();
    assert_eq!(resp.text(), "abc");
    assert!(resp.header("keep-alive").is_none() && resp.header("connection").is_none());
    assert_eq!(resp.header("transfer-encoding"), None, "the app's gzip coding is not echoed");
    assert_eq!(resp.header("content-length"), Some("3"), "squall frames the body itself");
    assert_eq!(conn.request("GET", "/native", &[], b"").unwrap().text(), "native");
}

#[test]
fn body_length_mismatch_closes_the_connection() {
    for body in [vec!["abc"], vec!["abcdefgh"]] {
        let server = serve(Executor::thread_pool(2), app_with("200 OK", vec![("Content-Length", "5")], body.clone()));
        let mut conn = server.connect();
        conn.send(b"GET /legacy/ HTTP/1.1\r\nHost: x\r\n\r\nGET /native HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let raw = String::from_utf8_lossy(&conn.read_to_close().unwrap()).into_owned();
        assert!(raw.starts_with("HTTP/1.1 200 OK") && raw.contains("Content-Length: 5"), "{raw}");
        assert!(!raw.contains("native"), "{body:?}: no second response after a broken one: {raw:?}");
    }
}

#[test]
fn client_disconnect_stops_the_iteration_and_runs_close() {
    let produced = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicBool::new(false));
    let (p, c) = (produced.clone(), closed.clone());
    let app = move |_: &mut Environ, start: &StartResponse| -> AppResult {
        start.start("200 OK", [("Content-Type", "text/plain")])?;
        let p = p.clone();
        let c = c.clone();
        let endless = std::iter::repeat_with(move || {
            p.fetch_add(1, Ordering::SeqCst);
            vec![b'x'; 16 * 1024]
        });
        Ok(AppIter::from_chunks(endless).on_close(move || c.store(true, Ordering::SeqCst)))
    };
    let server = serve(Executor::thread_pool(2), app);
    {
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream.write_all(b"GET /legacy/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 4096];
        stream.read_exact(&mut buf).unwrap();
    }
    for _ in 0..500 {
        if closed.load(Ordering::SeqCst) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(closed.load(Ordering::SeqCst), "close() ran after the client left");
    let after = produced.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(produced.load(Ordering::SeqCst), after, "the iteration stopped");
}

#[test]
fn close_runs_on_success_and_on_failure() {
    let closes = Arc::new(AtomicUsize::new(0));
    let c = closes.clone();
    let app = move |env: &mut Environ, start: &StartResponse| -> AppResult {
        let c = c.clone();
        let fail = env.get("PATH_INFO") == Some("/fail");
        start.start("200 OK", [("Content-Type", "text/plain")])?;
        let chunks: Vec<Result<&str, AppError>> = if fail { vec![Err("x".into())] } else { vec![Ok("ok")] };
        Ok(AppIter::new(chunks).on_close(move || {
            c.fetch_add(1, Ordering::SeqCst);
        }))
    };
    for (name, executor) in strategies() {
        closes.store(0, Ordering::SeqCst);
        let server = serve(executor, app.clone());
        assert_eq!(server.get("/legacy/ok").status, 200);
        assert_eq!(server.get("/legacy/fail").status, 500);
        let head = server.request("HEAD", "/legacy/ok", &[], b"");
        assert_eq!(head.status, 200);
        for _ in 0..250 {
            if closes.load(Ordering::SeqCst) == 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(closes.load(Ordering::SeqCst), 3, "{name}");
    }
}

#[test]
fn full_pool_answers_503_while_native_routes_answer() {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let entered = Arc::new(AtomicUsize::new(0));
    let (g, e) = (gate.clone(), entered.clone());
    let app = move |_: &mut Environ, start: &StartResponse| -> AppResult {
        e.fetch_add(1, Ordering::SeqCst);
        let (open, cond) = &*g;
        drop(cond.wait_timeout_while(open.lock().unwrap(), Duration::from_secs(10), |o| !*o).unwrap());
        start.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok(AppIter::once("done"))
    };
    let server = serve(Executor::thread_pool(1).with_queue(0), app);
    std::thread::scope(|s| {
        let busy = s.spawn(|| server.get("/legacy/slow"));
        while entered.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let refused = server.get("/legacy/other");
        assert_eq!(refused.status, 503);
        assert_eq!(refused.header("retry-after"), Some("1"));
        assert_eq!(server.get("/native").status, 200);
        let (open, cond) = &*gate;
        *open.lock().unwrap() = true;
        cond.notify_all();
        assert_eq!(busy.join().unwrap().text(), "done");
    });
    assert_eq!(server.get("/legacy/again").status, 200, "the slot was released");
}

#[test]
fn every_gateway_request_is_access_logged() {
    let server = serve(Executor::thread_pool(2), |_: &mut Environ, _: &StartResponse| -> AppResult {
        Err("logged failure".into())
    });
    server.get("/legacy/access-log-marker-31");
    let lines = support::wait_for_log("/legacy/access-log-marker-31");
    assert!(
        lines.iter().any(|(level, target, m)| *level == log::Level::Error
            && target == "squall::access"
            && m.starts_with("500 GET")),
        "{lines:?}"
    );
}

#[test]
fn container_as_the_whole_app_and_as_a_fallback() {
    support::init_logger();
    let whole = GatewayContainer::builder(environ_app).executor(Executor::thread_pool(2)).build();
    let server = TestServer::start(whole);
    let env = environ_of(&server.get("/any/path?q=2").text());
    assert_eq!((env["SCRIPT_NAME"].as_str(), env["PATH_INFO"].as_str()), ("", "/any/path"));

    let fallback = GatewayContainer::builder(environ_app).executor(Executor::thread_pool(2)).build();
    let app = Router::new().route("/native", get(|_req| async { "native" })).fallback(fallback);
    let server = TestServer::start(app);
    assert_eq!(server.get("/native").text(), "native");
    let env = environ_of(&server.get("/legacy-page").text());
    assert_eq!((env["SCRIPT_NAME"].as_str(), env["PATH_INFO"].as_str()), ("", "/legacy-page"));
}

#[test]
fn rayon_with_a_shared_pool_catches_panics_per_call() {
    let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap());
    let app = |env: &mut Environ, start: &StartResponse| -> AppResult {
        if env.get("PATH_INFO") == Some("/panic") {
            panic!("legacy bug on rayon");
        }
        start.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok(AppIter::once("fine"))
    };
    let server = serve(Executor::rayon_pool(pool.clone()), app);
    for _ in 0..3 {
        assert_eq!(server.get("/legacy/panic").status, 500);
        assert_eq!(server.get("/legacy/ok").text(), "fine");
    }
    assert_eq!(pool.current_num_threads(), 2, "the shared pool lost no thread");
}

/// An app with a bit of everything, for the round trip.
fn round_trip_app() -> Router {
    use squall::{Json, Request, Response, post};
    Router::new()
        .route("/", get(|_req| async { "home" }))
        .route("/json", get(|_req| async { Json(serde_json::json!({"ok": true, "n": 3})) }))
        .route(r"/items/(\d+)", get(|req: Request| async move { format!("item {}", req.path_arg(0).unwrap_or("")) }))
        .route("/echo", post(|mut req: Request| async move { req.bytes().await.map(Response::text) }))
        .route(
            "/who",
            get(|req: Request| async move {
                format!(
                    "{} {} {}",
                    req.header("x-name").unwrap_or("-"),
                    req.query(),
                    req.remote_ip().map(|ip| ip.to_string()).unwrap_or_default()
                )
            }),
        )
        .route("/moved", get(|_req| async { Response::redirect("/") }))
        .route(
            "/stream",
            get(|_req| async {
                let chunks = ["a", "b", "c"].map(|s| Ok(bytes::Bytes::from_static(s.as_bytes())));
                Response::stream(squall::Body::from_stream(futures_lite::stream::iter(chunks)))
            }),
        )
}

#[test]
fn a_squall_app_hosted_as_a_gateway_app_answers_like_the_native_one() {
    support::init_logger();
    let native = TestServer::start(round_trip_app());
    // ANCHOR: target_app
    let hosted = GatewayContainer::builder(squall::gateway::TargetApp::new(round_trip_app()))
        .executor(Executor::thread_pool(2))
        .build();
    // ANCHOR_END: target_app
    let hosted = TestServer::start(hosted);
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a [u8]);
    let cases: [Case<'_>; 8] = [
        ("GET", "/", &[], b""),
        ("GET", "/json", &[], b""),
        ("GET", "/items/42", &[], b""),
        ("POST", "/echo", &[("Content-Type", "text/plain")], b"round trip body"),
        ("GET", "/who?q=1", &[("X-Name", "ada")], b""),
        ("GET", "/moved", &[], b""),
        ("GET", "/stream", &[], b""),
        ("GET", "/missing", &[], b""),
    ];
    for (method, path, headers, body) in cases {
        let a = native.request(method, path, headers, body);
        let b = hosted.request(method, path, headers, body);
        assert_eq!(a.status, b.status, "{method} {path}");
        assert_eq!(a.header("content-type"), b.header("content-type"), "{method} {path}");
        assert_eq!(a.header("location"), b.header("location"), "{method} {path}");
        assert_eq!(a.text(), b.text(), "{method} {path}");
    }
}

#[test]
fn a_slot_is_free_once_its_response_is_complete_even_while_close_runs() {
    // One thread, no queue, and a `close` that takes a while: a client that
    // asks again as soon as it has its answer must not get `503`.
    let app = |_: &mut Environ, start: &StartResponse| -> AppResult {
        start.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok(AppIter::once("done").on_close(|| std::thread::sleep(Duration::from_millis(300))))
    };
    let server = serve(Executor::thread_pool(1).with_queue(0), app);
    let mut conn = server.connect();
    for _ in 0..3 {
        let resp = conn.request("GET", "/legacy/x", &[], b"").unwrap();
        assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "done"));
    }
}

#[test]
#[allow(deprecated)] // the deprecated default is what this test is about
fn the_default_executor_is_inline_and_logs_its_warning() {
    support::init_logger();
    let defaulted = GatewayContainer::new(environ_app);
    assert!(matches!(defaulted.executor(), Executor::Inline));
    let built = GatewayContainer::builder(environ_app).build();
    assert!(matches!(built.executor(), Executor::Inline));
    // The warning is logged once per process, by whichever test made the
    // first inline container; it must be there.
    let warned = support::log_lines_with("inline on the event loop");
    assert!(!warned.is_empty() && warned.iter().all(|(level, _, _)| *level == log::Level::Warn), "{warned:?}");
}

/// Counts the requests whose answer has started: the wrapped target's
/// future has been polled once, so a pooled call has passed (or been refused)
/// its admission by then, unless it is still reading the body.
struct Started<T> {
    count: Arc<AtomicUsize>,
    target: T,
}

impl<T: squall::Target> squall::Target for Started<T> {
    fn call(&self, req: squall::Request) -> squall::Dispatch<'_> {
        match self.target.call(req) {
            squall::Dispatch::Answer(answer) => {
                let count = self.count.clone();
                squall::Dispatch::answer(async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    answer.await
                })
            }
            declined => declined,
        }
    }
}

/// Twenty clients send a body's first bytes and stop, to a pool of 4
/// threads with room for 16 more calls; then twenty other requests come.
/// Returns the statuses of those twenty, and of the twenty slow ones once
/// they finish their bodies.
fn twenty_drippers_then_twenty_callers(stream_request_body: bool) -> (Vec<u16>, Vec<u16>) {
    support::init_logger();
    let container = GatewayContainer::builder(environ_app)
        .executor(Executor::thread_pool(4))
        .stream_request_body(stream_request_body)
        .build();
    let started = Arc::new(AtomicUsize::new(0));
    let target = Started { count: started.clone(), target: container };
    let server = TestServer::start(Router::new().mount("/legacy", target));
    let mut drippers: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut stream = TcpStream::connect(server.addr()).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            stream
                .write_all(b"POST /legacy/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nfirst bytes")
                .unwrap();
            stream
        })
        .collect();
    support::wait_until("every slow request has reached the container", || started.load(Ordering::SeqCst) >= 20);
    let callers: Vec<u16> = (0..20).map(|_| server.get("/legacy/hello").status.as_u16()).collect();
    // Every body is finished before any answer is awaited: in streaming mode
    // the four running calls may be any four of the twenty, each waiting
    // for its own body.
    let rest = vec![b'x'; 1000 - b"first bytes".len()];
    for stream in &mut drippers {
        stream.write_all(&rest).unwrap();
    }
    let finished: Vec<u16> = drippers
        .iter_mut()
        .map(|stream| {
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).unwrap();
            String::from_utf8_lossy(&head[9..12]).parse().unwrap()
        })
        .collect();
    (callers, finished)
}

#[test]
fn slow_request_bodies_never_hold_the_pool_that_runs_the_app() {
    // The bodies are read on the event loop before a call takes a slot: the
    // twenty callers are served while twenty bodies trickle in.
    let (callers, finished) = twenty_drippers_then_twenty_callers(false);
    assert_eq!(callers, vec![200; 20], "callers locked out by slow bodies");
    assert_eq!(finished, vec![200; 20], "the slow requests are served once their bodies are in");
}

#[test]
fn streamed_request_bodies_let_slow_clients_hold_the_pool() {
    // What the opt-in streaming mode trades away, as its documentation warns:
    // the twenty slow calls hold all 4 threads and the 16 queue places.
    let (callers, _) = twenty_drippers_then_twenty_callers(true);
    assert_eq!(callers, vec![503; 20]);
}
