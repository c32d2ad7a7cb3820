//! Response compression over real sockets: who gets gzip (q-values,
//! types, sizes), what never does (HEAD, 206, 304, encoded bodies), the
//! headers that go with it, gateway responses, and streams flushed per chunk.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use squall::app::{App, Compression};
use squall::gateway::{AppIter, Executor, GatewayContainer};
use squall::static_files::StaticFiles;
use squall::testing::{TestResponse, TestServer};
use squall::web::{Event, EventSender, EventStream};
use squall::{Response, Router, get};

const TEXT: &str = "the quick brown fox jumps over the lazy dog. ";

fn gunzip(data: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(data).read_to_string(&mut out).unwrap();
    out
}

fn dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("squall-compression-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("page.html"), TEXT.repeat(100)).unwrap();
    std::fs::write(dir.join("logo.png"), vec![0u8; 5000]).unwrap();
    dir
}

fn server(streams: Arc<Mutex<Vec<EventSender>>>) -> TestServer {
    support::init_logger();
    let legacy =
        GatewayContainer::builder(|_env: &mut squall::gateway::Environ, start: &squall::gateway::StartResponse| {
            start.start("200 OK", [("Content-Type", "text/plain")])?;
            Ok(AppIter::once(TEXT.repeat(100)))
        })
        .executor(Executor::thread_pool(2))
        .build();
    let router = Router::new()
        .route("/big", get(|_req| async { TEXT.repeat(100) }))
        .route("/small", get(|_req| async { "tiny" }))
        .route(
            "/png",
            get(|_req| async {
                Response::new(http::StatusCode::OK)
                    .with_body(vec![0u8; 5000])
                    .with_header(http::header::CONTENT_TYPE, http::HeaderValue::from_static("image/png"))
            }),
        )
        .route(
            "/raw",
            get(|_req| async {
                Response::text(TEXT.repeat(100))
                    .with_header(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-transform"))
            }),
        )
        .route(
            "/events",
            get(move |_req| {
                let streams = streams.clone();
                async move {
                    let (tx, stream) = EventStream::channel();
                    streams.lock().unwrap().push(tx);
                    stream
                }
            }),
        )
        .mount("/static", StaticFiles::new(dir()))
        .mount("/legacy", legacy);
    TestServer::start(App::new(router).layer(Compression::default()))
}

fn get_with(server: &TestServer, path: &str, accept: &str) -> TestResponse {
    server.request("GET", path, &[("Accept-Encoding", accept)], b"")
}

#[test]
fn gzip_when_accepted_compressible_and_large_enough() {
    let server = server(Arc::default());
    let resp = get_with(&server, "/big", "gzip, deflate, br");
    assert_eq!(resp.header("content-encoding"), Some("gzip"));
    assert_eq!(resp.header("vary"), Some("Accept-Encoding"));
    assert!(resp.body.len() < 200, "{} bytes", resp.body.len());
    assert_eq!(gunzip(&resp.body), TEXT.repeat(100));
    let refused = get_with(&server, "/big", "gzip;q=0, identity");
    assert_eq!((refused.header("content-encoding"), refused.text()), (None, TEXT.repeat(100)), "q=0 means no");
    assert_eq!(refused.header("vary"), Some("Accept-Encoding"), "caches must still know");
    assert_eq!(get_with(&server, "/small", "gzip").header("content-encoding"), None, "under 1,024 bytes");
    assert_eq!(get_with(&server, "/png", "gzip").header("content-encoding"), None, "not a compressible type");
    assert_eq!(get_with(&server, "/raw", "gzip").header("content-encoding"), None, "no-transform");
    let legacy = get_with(&server, "/legacy/x", "gzip");
    assert_eq!(legacy.header("content-encoding"), Some("gzip"), "gateway responses too");
    assert_eq!(gunzip(&legacy.body), TEXT.repeat(100));
    let head = server.request("HEAD", "/big", &[("Accept-Encoding", "gzip")], b"");
    assert_eq!(head.header("content-encoding"), None, "HEAD is never compressed");
}

#[test]
fn static_files_keep_ranges_and_validators_right_under_compression() {
    let server = server(Arc::default());
    let full = get_with(&server, "/static/page.html", "gzip");
    assert_eq!(full.header("content-encoding"), Some("gzip"));
    let etag = full.header("etag").unwrap().to_owned();
    assert!(etag.starts_with("W/\""), "another representation, a weak tag: {etag}");
    let plain_etag = get_with(&server, "/static/page.html", "identity").header("etag").unwrap().to_owned();
    assert_eq!(format!("W/{plain_etag}"), etag);
    let revalidated =
        server.request("GET", "/static/page.html", &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)], b"");
    assert_eq!(revalidated.status, 304, "weak comparison");
    assert!(revalidated.body.is_empty() && revalidated.header("content-encoding").is_none());
    let part = server.request("GET", "/static/page.html", &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-2")], b"");
    assert_eq!((part.status.as_u16(), part.text().as_str(), part.header("content-encoding")), (206, "the", None));
    assert_eq!(get_with(&server, "/static/logo.png", "gzip").header("content-encoding"), None);
}

#[test]
fn a_compressed_event_stream_flushes_each_event() {
    let streams: Arc<Mutex<Vec<EventSender>>> = Arc::default();
    let server = server(streams.clone());
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET /events HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n").unwrap();
    support::wait_until("the stream opens", || !streams.lock().unwrap().is_empty());
    let sender = streams.lock().unwrap()[0].clone();
    squall::block_on(sender.send(Event::data("first"))).unwrap();
    // Decompress what has arrived so far: the event is there while the stream stays open.
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).unwrap();
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_lowercase();
    assert!(head.contains("content-encoding: gzip") && head.contains("transfer-encoding: chunked"), "{head}");
    let mut body = raw[head_end..].to_vec();
    loop {
        // De-chunk what we have and feed the decoder.
        let mut data = Vec::new();
        let mut rest = &body[..];
        while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16).unwrap();
            if rest.len() < line_end + 2 + size + 2 {
                break;
            }
            data.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest = &rest[line_end + 2 + size + 2..];
        }
        let mut decoder_now = flate2::write::GzDecoder::new(Vec::new());
        let _ = decoder_now.write_all(&data);
        let _ = decoder_now.flush();
        if String::from_utf8_lossy(decoder_now.get_ref()).contains("data: first\n\n") {
            break;
        }
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the event");
        body.extend_from_slice(&buf[..n]);
    }
    let _ = decoder.flush();
}
