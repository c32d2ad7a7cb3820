//! Static files over real sockets, rule by rule: validators (RFC 9110 §8.8),
//! conditional requests (§13), ranges (§14), HEAD (§9.3.2), precompressed
//! siblings, caching of versioned URLs, and traversal in every spelling.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::path::PathBuf;

use squall::Router;
use squall::static_files::StaticFiles;
use squall::testing::{TestResponse, TestServer};

/// A directory of files for one test, removed when dropped.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn files(name: &str) -> Dir {
    let root = std::env::temp_dir().join(format!("squall-static-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join("public");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello, world\n").unwrap();
    std::fs::write(dir.join("app.css"), "body { color: black }\n").unwrap();
    std::fs::write(dir.join("app.css.br"), "BROTLI BYTES").unwrap();
    std::fs::write(dir.join("app.css.gz"), "GZIP BYTES").unwrap();
    std::fs::write(dir.join("sub").join("index.html"), "<p>index</p>").unwrap();
    std::fs::write(dir.join("caf\u{e9}.txt"), "accented").unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), big).unwrap();
    std::fs::write(root.join("secret.txt"), "outside the root").unwrap();
    std::os::unix::fs::symlink(root.join("secret.txt"), dir.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink("hello.txt", dir.join("alias.txt")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", dir.join("sub").join("up.txt")).unwrap();
    Dir(root)
}

fn serve(dir: &Dir, files: impl FnOnce(StaticFiles) -> StaticFiles) -> TestServer {
    support::init_logger();
    TestServer::start(Router::new().mount("/static", files(StaticFiles::new(dir.0.join("public")))))
}

fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> TestResponse {
    server.request("GET", path, headers, b"")
}

#[test]
fn rfc9110_8_8_a_file_has_its_type_validators_and_length() {
    let dir = files("plain");
    let server = serve(&dir, |f| f);
    let resp = get(&server, "/static/hello.txt", &[]);
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "hello, world\n"));
    assert_eq!(resp.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(resp.header("content-length"), Some("13"));
    assert_eq!(resp.header("accept-ranges"), Some("bytes"));
    assert_eq!(resp.header("cache-control"), Some("no-cache"));
    let etag = resp.header("etag").unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"), "strong: {etag}");
    assert!(resp.header("last-modified").unwrap().ends_with(" GMT"));
    assert_eq!(get(&server, "/static/app.css", &[]).header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(get(&server, "/static/caf%C3%A9.txt", &[]).text(), "accented");
    assert_eq!(get(&server, "/static/missing.txt", &[]).status, 404);
    assert_eq!(server.request("POST", "/static/hello.txt", &[], b"x").status, 405);
    let versioned = get(&server, "/static/hello.txt?v=abc", &[]);
    assert_eq!(versioned.header("cache-control"), Some("public, max-age=31536000, immutable"));
}

#[test]
fn rfc9110_9_3_2_head_gives_gets_headers_and_no_body() {
    let dir = files("head");
    let server = serve(&dir, |f| f);
    let get_resp = get(&server, "/static/big.bin", &[]);
    let mut conn = server.connect();
    let head = conn.request("HEAD", "/static/big.bin", &[], b"").unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for name in ["content-length", "content-type", "etag", "last-modified", "accept-ranges"] {
        assert_eq!(head.header(name), get_resp.header(name), "{name}");
    }
    assert_eq!(head.header("content-length"), Some("300000"));
    // The connection is still in step: the next response is intact.
    assert_eq!(conn.request("GET", "/static/hello.txt", &[], b"").unwrap().text(), "hello, world\n");
    // §14.2: Range is ignored on HEAD.
    let ranged = conn.request("HEAD", "/static/big.bin", &[("Range", "bytes=0-9")], b"").unwrap();
    assert_eq!(ranged.status, 200);
}

#[test]
fn rfc9110_13_1_2_if_none_match_gives_304_with_weak_comparison_lists_and_star() {
    let dir = files("inm");
    let server = serve(&dir, |f| f);
    let etag = get(&server, "/static/hello.txt", &[]).header("etag").unwrap().to_owned();
    for value in [etag.clone(), format!("W/{etag}"), format!("\"nope\", {etag}"), "*".to_owned()] {
        let resp = get(&server, "/static/hello.txt", &[("If-None-Match", &value)]);
        assert_eq!(resp.status, 304, "{value}");
        assert!(resp.body.is_empty());
        assert_eq!(resp.header("etag"), Some(etag.as_str()), "a 304 carries the validator");
    }
    assert_eq!(get(&server, "/static/hello.txt", &[("If-None-Match", "\"nope\"")]).status, 200);
}

#[test]
fn rfc9110_13_1_3_if_modified_since_only_without_if_none_match() {
    let dir = files("ims");
    let server = serve(&dir, |f| f);
    let last = get(&server, "/static/hello.txt", &[]).header("last-modified").unwrap().to_owned();
    assert_eq!(get(&server, "/static/hello.txt", &[("If-Modified-Since", &last)]).status, 304);
    let past = "Mon, 01 Jan 2001 00:00:00 GMT";
    assert_eq!(get(&server, "/static/hello.txt", &[("If-Modified-Since", past)]).status, 200);
    let both = [("If-Modified-Since", last.as_str()), ("If-None-Match", "\"nope\"")];
    assert_eq!(get(&server, "/static/hello.txt", &both).status, 200, "§13.2.2: If-None-Match decides");
}

#[test]
fn rfc9110_13_1_1_and_13_1_4_failed_preconditions_are_412() {
    let dir = files("412");
    let server = serve(&dir, |f| f);
    let etag = get(&server, "/static/hello.txt", &[]).header("etag").unwrap().to_owned();
    assert_eq!(get(&server, "/static/hello.txt", &[("If-Match", &etag)]).status, 200);
    assert_eq!(get(&server, "/static/hello.txt", &[("If-Match", "\"other\"")]).status, 412);
    let past = "Mon, 01 Jan 2001 00:00:00 GMT";
    assert_eq!(get(&server, "/static/hello.txt", &[("If-Unmodified-Since", past)]).status, 412);
}

#[test]
fn rfc9110_14_ranges_give_206_416_or_the_whole_file() {
    let dir = files("range");
    let server = serve(&dir, |f| f);
    let part = get(&server, "/static/hello.txt", &[("Range", "bytes=0-4")]);
    assert_eq!((part.status.as_u16(), part.text().as_str()), (206, "hello"));
    assert_eq!(part.header("content-range"), Some("bytes 0-4/13"));
    assert_eq!(part.header("content-length"), Some("5"));
    assert_eq!(get(&server, "/static/hello.txt", &[("Range", "bytes=-6")]).text(), "world\n");
    assert_eq!(get(&server, "/static/hello.txt", &[("Range", "bytes=7-")]).text(), "world\n");
    let beyond = get(&server, "/static/hello.txt", &[("Range", "bytes=13-")]);
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.header("content-range"), Some("bytes */13"));
    assert_eq!(beyond.header("content-type"), Some("text/plain; charset=utf-8"), "the error's type, not the file's");
    let several = get(&server, "/static/hello.txt", &[("Range", "bytes=0-1,3-4")]);
    assert_eq!((several.status.as_u16(), several.text().as_str()), (200, "hello, world\n"));
    assert_eq!(get(&server, "/static/hello.txt", &[("Range", "bytes=5-2")]).status, 200, "invalid: ignored");
    // §13.1.5: If-Range with the current ETag applies the range; an old one gets the whole file.
    let etag = part.header("etag").unwrap().to_owned();
    assert_eq!(get(&server, "/static/hello.txt", &[("Range", "bytes=0-4"), ("If-Range", &etag)]).status, 206);
    assert_eq!(get(&server, "/static/hello.txt", &[("Range", "bytes=0-4"), ("If-Range", "\"old\"")]).status, 200);
    // A range deep inside a streamed file.
    let big = get(&server, "/static/big.bin", &[("Range", "bytes=200000-200009")]);
    let expected: Vec<u8> = (200_000..200_010u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(big.body, expected);
}

#[test]
fn a_large_file_streams_whole_and_intact() {
    let dir = files("large");
    let server = serve(&dir, |f| f);
    let resp = get(&server, "/static/big.bin", &[]);
    assert_eq!(resp.header("content-length"), Some("300000"));
    let expected: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    assert!(resp.body == expected, "300,000 bytes, in order");
    let tail = get(&server, "/static/big.bin", &[("Range", "bytes=100000-")]);
    assert!(tail.status == 206 && tail.body == expected[100_000..]);
}

#[test]
fn precompressed_siblings_go_to_clients_that_accept_them() {
    let dir = files("precompressed");
    let server = serve(&dir, |f| f.precompressed(true));
    let br = get(&server, "/static/app.css", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(br.text(), "BROTLI BYTES");
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(br.header("content-type"), Some("text/css; charset=utf-8"), "the original's type");
    assert_eq!(br.header("vary"), Some("Accept-Encoding"));
    let gz = get(&server, "/static/app.css", &[("Accept-Encoding", "gzip, br;q=0")]);
    assert_eq!((gz.text().as_str(), gz.header("content-encoding")), ("GZIP BYTES", Some("gzip")));
    let plain = get(&server, "/static/app.css", &[("Accept-Encoding", "gzip;q=0")]);
    assert_eq!((plain.text().as_str(), plain.header("content-encoding")), ("body { color: black }\n", None));
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"), "it could have varied");
    let etags = [br.header("etag"), gz.header("etag"), plain.header("etag")];
    assert!(
        etags[0] != etags[1] && etags[1] != etags[2] && etags[0] != etags[2],
        "an ETag per representation: {etags:?}"
    );
    let off = serve(&dir, |f| f);
    let plain = get(&off, "/static/app.css", &[("Accept-Encoding", "br")]);
    assert_eq!((plain.header("content-encoding"), plain.header("vary")), (None, None), "off by default");
}

#[test]
fn directories_are_404_unless_an_index_file_is_set_and_redirected_to_their_slash() {
    let dir = files("index");
    let server = serve(&dir, |f| f);
    assert_eq!(get(&server, "/static/sub/", &[]).status, 404);
    let redirect = get(&server, "/static/sub?x=1", &[]);
    assert_eq!((redirect.status.as_u16(), redirect.header("location")), (301, Some("/static/sub/?x=1")), "as nginx");
    let indexed = serve(&dir, |f| f.index_file("index.html"));
    let redirect = get(&indexed, "/static/sub", &[]);
    assert_eq!((redirect.status.as_u16(), redirect.header("location")), (301, Some("/static/sub/")));
    assert_eq!(get(&indexed, "/static/sub/", &[]).text(), "<p>index</p>");
    // Mounted at the root, the root directory has its index too.
    std::fs::write(dir.0.join("public").join("index.html"), "<p>root</p>").unwrap();
    let at_root =
        TestServer::start(Router::new().mount("/", StaticFiles::new(dir.0.join("public")).index_file("index.html")));
    assert_eq!(get(&at_root, "/", &[]).text(), "<p>root</p>");
    let moved = get(&indexed, "/static", &[]);
    assert_eq!((moved.status.as_u16(), moved.header("location")), (301, Some("/static/")));
}

#[test]
fn a_file_with_a_trailing_slash_is_404_as_nginx_answers() {
    let dir = files("file-slash");
    let server = serve(&dir, |f| f.index_file("index.html"));
    assert_eq!(get(&server, "/static/hello.txt", &[]).status, 200);
    for path in ["/static/hello.txt/", "/static/sub/index.html/", "/static/hello.txt//"] {
        assert_eq!(get(&server, path, &[]).status, 404, "{path}");
    }
}

#[test]
fn no_byte_outside_the_root_in_any_spelling() {
    let dir = files("traversal");
    let server = serve(&dir, |f| f);
    for path in [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E%2Fsecret.txt",
        "/static/sub%2f..%2f..%2fsecret.txt",
        "/static/..%5csecret.txt",
        "/static/sub\\..\\..\\secret.txt",
        "/static/hello.txt%00.css",
        "/static//etc/passwd",
        "/static/leak.txt",
        "/static/sub/up.txt",
    ] {
        let mut conn = server.connect();
        conn.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).unwrap();
        let resp = conn.read_response(false).unwrap();
        assert!(matches!(resp.status.as_u16(), 400 | 403 | 404), "{path}: {}", resp.status);
        assert!(!resp.text().contains("outside the root") && !resp.text().contains("root:"), "{path}");
    }
    assert_eq!(get(&server, "/static/alias.txt", &[]).text(), "hello, world\n", "a relative symlink inside is fine");
    let trusting = serve(&dir, |f| f.follow_symlinks(true));
    assert_eq!(get(&trusting, "/static/leak.txt", &[]).text(), "outside the root", "only when allowed");
}
