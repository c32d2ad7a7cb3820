//! Multipart uploads (RFC 7578) over real sockets: fields and files,
//! spooling and cleanup, limits (413), malformed bodies (400), part-by-part
//! streaming; and the webapp example's `/upload`, with a 100 MB file whose
//! passage leaves the server's resident memory flat.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use squall::testing::TestServer;
use squall::{HttpError, Request, Response, Router, post};

const BOUNDARY: &str = "XyZzY-boundary";

/// A multipart body: (name, filename, content) parts.
fn form(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, content) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

fn spooled_files() -> usize {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter(|e| {
            e.as_ref().is_ok_and(|e| {
                e.file_name().to_string_lossy().starts_with(&format!("squall-body-{}-", std::process::id()))
            })
        })
        .count()
}

fn app() -> Router {
    Router::new()
        .route(
            "/form",
            post(|mut req: Request| async move {
                let form = req.multipart_form().await?;
                let mut lines: Vec<String> = form.fields.iter().map(|(k, v)| format!("field {k}={v}")).collect();
                for file in &form.files {
                    let bytes = file.bytes().map_err(|e| HttpError::internal(e.to_string()))?;
                    lines.push(format!(
                        "file {} {} {} bytes spooled={} first={:?}",
                        file.field,
                        file.filename,
                        file.size,
                        file.is_spooled(),
                        bytes.first()
                    ));
                    assert_eq!(bytes.len() as u64, file.size);
                }
                Ok::<_, HttpError>(Response::text(lines.join("\n")))
            }),
        )
        .route(
            "/arguments",
            post(|mut req: Request| async move {
                let args = req.arguments().await?;
                Ok::<_, HttpError>(format!("{} {}", args.get("q").unwrap_or("-"), args.get("title").unwrap_or("-")))
            }),
        )
        .route(
            "/parts",
            post(|mut req: Request| async move {
                let mut parts = req.multipart()?;
                let mut seen = Vec::new();
                while let Some(mut part) = parts.next_part().await? {
                    let mut size = 0;
                    while let Some(chunk) = part.chunk().await? {
                        size += chunk.len();
                    }
                    seen.push(format!("{}:{size}", part.name().unwrap_or("?")));
                }
                Ok::<_, HttpError>(seen.join(","))
            }),
        )
}

#[test]
fn rfc7578_fields_become_arguments_and_files_are_kept_or_spooled() {
    support::init_logger();
    let server = TestServer::start(app());
    let big = vec![7u8; 3 << 20];
    let body = form(&[("title", None, b"hello"), ("small", Some("a.txt"), b"abc"), ("big", Some("b.bin"), &big)]);
    let resp = server.request("POST", "/form", &[("Content-Type", &content_type())], &body);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let text = resp.text();
    assert!(text.contains("field title=hello"), "{text}");
    assert!(text.contains("file small a.txt 3 bytes spooled=false first=Some(97)"), "{text}");
    assert!(text.contains("file big b.bin 3145728 bytes spooled=true first=Some(7)"), "{text}");
    assert_eq!(spooled_files(), 0, "nothing left on disk");
    let streamed = server.request("POST", "/parts", &[("Content-Type", &content_type())], &body);
    assert_eq!(streamed.text(), "title:5,small:3,big:3145728");
    // Fields are arguments, as a urlencoded form's are (Tornado's get_argument).
    let args = server.request("POST", "/arguments?q=query", &[("Content-Type", &content_type())], &body);
    assert_eq!(args.text(), "query hello");
}

#[test]
fn limits_are_413_and_malformed_bodies_400() {
    support::init_logger();
    let server = TestServer::start(app());
    let many: Vec<(String, Option<&str>, &[u8])> = (0..1001).map(|i| (format!("f{i}"), None, &b"x"[..])).collect();
    let many: Vec<(&str, Option<&str>, &[u8])> = many.iter().map(|(n, f, c)| (n.as_str(), *f, *c)).collect();
    let resp = server.request("POST", "/parts", &[("Content-Type", &content_type())], &form(&many));
    assert_eq!(resp.status, 413, "more than 1,000 parts");
    let long_field = vec![b'a'; 65 * 1024];
    let resp =
        server.request("POST", "/form", &[("Content-Type", &content_type())], &form(&[("note", None, &long_field)]));
    assert_eq!(resp.status, 413, "a field over 64 KiB");
    let truncated = &form(&[("a", None, b"1")])[..30];
    assert_eq!(server.request("POST", "/form", &[("Content-Type", &content_type())], truncated).status, 400);
    assert_eq!(
        server.request("POST", "/form", &[("Content-Type", "multipart/form-data")], b"x").status,
        400,
        "no boundary"
    );
    assert_eq!(server.request("POST", "/form", &[("Content-Type", "text/plain")], b"x").status, 400);
    assert_eq!(spooled_files(), 0);
}

#[cfg(feature = "templates")]
mod webapp {
    use super::*;
    use squall::testing::TestConnection;

    /// Logs in; the cookies and a token for the upload.
    fn login(addr: std::net::SocketAddr) -> (String, String) {
        let page = TestConnection::open(addr).unwrap().request("GET", "/login", &[], b"").unwrap();
        let xsrf = page.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
        let html = page.text();
        let start = html.find(r#"name="_xsrf" value=""#).unwrap() + 20;
        let token = html[start..].split('"').next().unwrap().replace('|', "%7C");
        let form = [("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", xsrf.as_str())];
        let login = TestConnection::open(addr)
            .unwrap()
            .request("POST", "/login", &form, format!("username=ada&_xsrf={token}").as_bytes())
            .unwrap();
        let user = login.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
        (format!("{xsrf}; {user}"), token)
    }

    #[test]
    fn a_100_mb_upload_is_hashed_as_it_streams_and_memory_stays_flat() {
        use sha2::Digest;
        use std::io::Write;
        support::init_logger();
        let webapp = support::example("webapp", "templates", &["--cookie-secret", "upload test secret"]);
        let (cookies, token) = login(webapp.addr);
        // Refused without the token, and without the login.
        let small = form(&[("file", Some("x.bin"), b"abc")]);
        let ct = content_type();
        let no_token = TestConnection::open(webapp.addr)
            .unwrap()
            .request("POST", "/upload", &[("Content-Type", &ct), ("Cookie", &cookies)], &small)
            .unwrap();
        assert_eq!(no_token.status, 403);
        let path = format!("/upload?_xsrf={token}");
        let no_login = TestConnection::open(webapp.addr)
            .unwrap()
            .request("POST", &path, &[("Content-Type", &ct)], &small)
            .unwrap();
        assert_eq!(no_login.status, 403);

        // The token in the query works too (Tornado's get_argument reads it there).
        let with_query = TestConnection::open(webapp.addr)
            .unwrap()
            .request("POST", &path, &[("Content-Type", &ct), ("Cookie", &cookies)], &small)
            .unwrap();
        assert_eq!(with_query.status, 200, "{}", with_query.text());
        // A token after the file is refused, saying where it belongs.
        let raw_token = token.replace("%7C", "|");
        let late = form(&[("file", Some("x.bin"), b"abc"), ("_xsrf", None, raw_token.as_bytes())]);
        let late = TestConnection::open(webapp.addr)
            .unwrap()
            .request("POST", "/upload", &[("Content-Type", &ct), ("Cookie", &cookies)], &late)
            .unwrap();
        assert_eq!(late.status, 403);
        assert!(late.text().contains("put xsrf_form_html() first"), "{}", late.text());

        // Tornado's upload form: the token is the form's first field.
        let before = support::memory_kb(webapp.child.id(), "VmRSS");
        let size: usize = 100_000_000;
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"_xsrf\"\r\n\r\n{raw_token}\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n"
        );
        let tail = format!("\r\n--{BOUNDARY}--\r\n");
        let mut stream = std::net::TcpStream::connect(webapp.addr).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
        write!(
            stream,
            "POST /upload HTTP/1.1\r\nHost: t\r\nCookie: {cookies}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{head}",
            head.len() + size + tail.len()
        )
        .unwrap();
        let mut hasher = sha2::Sha256::new();
        let chunk: Vec<u8> = (0..1 << 20).map(|i| (i * 7 % 256) as u8).collect();
        let mut sent = 0;
        let mut peak = before;
        while sent < size {
            let n = chunk.len().min(size - sent);
            stream.write_all(&chunk[..n]).unwrap();
            hasher.update(&chunk[..n]);
            sent += n;
            if sent % (10 << 20) == 0 {
                peak = peak.max(support::memory_kb(webapp.child.id(), "VmRSS"));
            }
        }
        stream.write_all(tail.as_bytes()).unwrap();
        let resp = support::read_until_contains(&mut stream, "}");
        let text = String::from_utf8_lossy(&resp);
        let expected: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.contains("application/json"), "{text}");
        assert!(text.contains(&format!("\"sha256\":\"{expected}\"")) && text.contains("\"size\":100000000"), "{text}");
        assert!(text.contains("\"name\":\"big.bin\""), "{text}");
        let grew = peak.saturating_sub(before);
        println!("resident memory: {before} kB before, {peak} kB at the peak of a 100 MB upload");
        // Holding the upload would take 100 MB; streaming it costs buffers
        // and allocator slack, a fraction of that whatever the file's size.
        assert!(grew < 32 * 1024, "resident memory grew by {grew} kB during a 100 MB upload");
    }

    /// What a client can make grow without end in a multipart body — a
    /// part's headers — is refused at its limit, before the handler and
    /// while the XSRF check looks for the token: four uploads at once, each
    /// sending a 95 MB header line, leave the process under 64 MB at its peak.
    #[test]
    fn four_uploads_with_95_mb_part_headers_are_refused_and_memory_stays_bounded() {
        use std::io::Write;
        support::init_logger();
        let webapp = support::example("webapp", "templates", &["--cookie-secret", "header bomb secret"]);
        let (cookies, _) = login(webapp.addr);
        let ct = content_type();
        let size: usize = 95_000_000;
        let uploads: Vec<_> = (0..4)
            .map(|_| {
                let (addr, cookies, ct) = (webapp.addr, cookies.clone(), ct.clone());
                std::thread::spawn(move || {
                    let mut stream = std::net::TcpStream::connect(addr).unwrap();
                    stream.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
                    let head = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"_xsrf\"\r\nX-Bomb: ");
                    write!(
                        stream,
                        "POST /upload HTTP/1.1\r\nHost: t\r\nCookie: {cookies}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{head}",
                        head.len() + size
                    )
                    .unwrap();
                    let chunk = vec![b'a'; 1 << 20];
                    // The server answers and stops reading long before the end.
                    for _ in 0..size / chunk.len() {
                        if stream.write_all(&chunk).is_err() {
                            break;
                        }
                    }
                    let mut answer = Vec::new();
                    let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
                    String::from_utf8_lossy(&answer).into_owned()
                })
            })
            .collect();
        for upload in uploads {
            let answer = upload.join().unwrap();
            assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
            assert!(answer.contains("multipart part headers longer than"), "{answer}");
        }
        let peak = support::memory_kb(webapp.child.id(), "VmHWM");
        println!("peak resident memory: {peak} kB");
        assert!(peak < 64 * 1024, "peak resident memory {peak} kB");
    }
}
