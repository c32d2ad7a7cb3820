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
}

/// RFC 9110 §9.3.2: HEAD answers the headers GET would — here the gzip
/// variant's, with no length (only compressing would tell it).
#[test]
fn rfc9110_9_3_2_head_announces_what_get_would_send() {
    let server = server(Arc::default());
    for path in ["/big", "/static/page.html"] {
        let get = get_with(&server, path, "gzip");
        let head = server.request("HEAD", path, &[("Accept-Encoding", "gzip")], b"");
        assert!(head.body.is_empty(), "{path}");
        for name in ["content-encoding", "vary", "etag", "content-type"] {
            assert_eq!(head.header(name), get.header(name), "{path}: {name}");
        }
        assert_eq!(head.header("content-length"), None, "{path}: the identity length would be wrong");
        let plain = server.request("HEAD", path, &[], b"");
        assert_eq!(plain.header("content-encoding"), None, "{path}");
        assert_eq!(plain.header("vary"), Some("Accept-Encoding"), "{path}");
        assert_eq!(plain.header("content-length"), Some(TEXT.repeat(100).len().to_string().as_str()), "{path}");
    }
}

/// RFC 9110 §15.3.7 (a 206 carries the Vary a 200 would) and §15.4.5 (so
/// does a 304, with the ETag of the variant validated).
#[test]
fn rfc9110_15_3_7_and_15_4_5_ranges_and_not_modified_carry_vary_and_the_right_tag() {
    let server = server(Arc::default());
    let page = "/static/page.html";
    let strong = get_with(&server, page, "identity").header("etag").unwrap().to_owned();
    let weak = get_with(&server, page, "gzip").header("etag").unwrap().to_owned();
    assert_eq!(weak, format!("W/{strong}"));
    let part = server.request("GET", page, &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-2")], b"");
    assert_eq!((part.status.as_u16(), part.header("vary")), (206, Some("Accept-Encoding")));
    assert_eq!(part.header("etag"), Some(strong.as_str()), "a range of the identity bytes");
    // The gzip variant revalidated: its own (weak) tag comes back.
    let gz = server.request("GET", page, &[("Accept-Encoding", "gzip"), ("If-None-Match", &weak)], b"");
    assert_eq!((gz.status.as_u16(), gz.header("vary")), (304, Some("Accept-Encoding")));
    assert_eq!(gz.header("etag"), Some(weak.as_str()));
    // The identity variant revalidated: the strong tag, whatever the client accepts.
    for accept in ["identity", "gzip"] {
        let id = server.request("GET", page, &[("Accept-Encoding", accept), ("If-None-Match", &strong)], b"");
        assert_eq!((id.status.as_u16(), id.header("vary")), (304, Some("Accept-Encoding")), "{accept}");
        assert_eq!(id.header("etag"), Some(strong.as_str()), "{accept}");
    }
    // A type the layer never compresses gets no Vary from it.
    let png = server.request("GET", "/static/logo.png", &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-1")], b"");
    assert_eq!((png.status.as_u16(), png.header("vary")), (206, None));
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

/// httplint, the checker behind REDbot, judges what static files answer
/// through the compression layer — plain, precompressed and compressed
/// files, each by GET, HEAD, a range and a revalidation, with and without
/// `Accept-Encoding` — and finds nothing to warn about.
#[test]
fn httplint_finds_no_warning_in_static_precompressed_and_compressed_responses() {
    support::init_logger();
    let dir = std::env::temp_dir().join(format!("squall-httplint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("page.html"), format!("<!DOCTYPE html>\n<p>{}</p>\n", TEXT.repeat(100))).unwrap();
    std::fs::write(dir.join("app.css"), "body { color: black; }\n".repeat(200)).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all("body { color: black; }\n".repeat(200).as_bytes()).unwrap();
    std::fs::write(dir.join("app.css.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(dir.join("note.txt"), "short").unwrap();
    let png = [&b"\x89PNG\r\n\x1a\n"[..], &[0u8; 2000]].concat();
    std::fs::write(dir.join("logo.png"), png).unwrap();
    let router = Router::new().mount("/static", StaticFiles::new(dir).precompressed(true));
    let server = TestServer::start(App::new(router).layer(Compression::default()));
    let exchange = |head: String| {
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        let sent = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        stream.write_all(head.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        (head, response, sent)
    };
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut lines = String::new();
    for path in ["page.html", "app.css", "logo.png", "note.txt"] {
        for accept in ["", "Accept-Encoding: gzip\r\n", "Accept-Encoding: gzip, deflate, br\r\n"] {
            let request = |method: &str, extra: &str| {
                format!("{method} /static/{path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{accept}{extra}\r\n")
            };
            let (head, got, sent) = exchange(request("GET", ""));
            let text = String::from_utf8_lossy(&got).into_owned();
            assert!(text.starts_with("HTTP/1.1 200 "), "{head}{text}");
            let etag = text.lines().find_map(|l| l.strip_prefix("etag: ")).unwrap().to_owned();
            let mut all = vec![(head, got, sent)];
            all.push(exchange(request("HEAD", "")));
            all.push(exchange(request("GET", "Range: bytes=0-9\r\n")));
            all.push(exchange(request("GET", &format!("If-None-Match: {etag}\r\n"))));
            for (head, response, sent) in all {
                lines.push_str(&format!("{sent} {} {}\n", hex(head.as_bytes()), hex(&response)));
            }
        }
    }
    let python = support::framework_venv().join("bin").join("python");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/lint_http.py");
    let mut lint = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    lint.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    let out = lint.wait_with_output().unwrap();
    assert!(out.status.success(), "the linter failed");
    let notes = String::from_utf8_lossy(&out.stdout);
    assert!(notes.trim().is_empty(), "httplint warns:\n{notes}");
}
