//! PHP through Debian's real `php-cgi` (installed by `.ci/run`), started per
//! request by `PhpCgi`: superglobals, headers, status codes, uploads, a
//! chunked body on `php://input`, failures and timeouts, and the path rules
//! that keep anything but a `.php` file under the root from running.
#![cfg(all(unix, feature = "cgi"))]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::path::PathBuf;
use std::time::Duration;

use squall::Router;
use squall::cgi::PhpCgi;
use squall::gateway::{Executor, GatewayContainer};
use squall::static_files::StaticFiles;
use squall::testing::TestServer;

fn site() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("squall-php-{}", std::process::id()));
    if dir.exists() {
        return dir;
    }
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write(
        "index.php",
        r#"<?php
echo "get=", $_GET["a"] ?? "-", " post=", $_POST["b"] ?? "-", " cookie=", $_COOKIE["c"] ?? "-",
     " path_info=", $_SERVER["PATH_INFO"] ?? "-", " script=", $_SERVER["SCRIPT_NAME"], "\n";"#,
    );
    write("cookie.php", r#"<?php setcookie("flavour", "oat", ["path" => "/", "httponly" => true]); echo "set";"#);
    write("go.php", r#"<?php header("Location: /index.php?a=moved"); "#);
    write("missing.php", r#"<?php http_response_code(404); echo "not here";"#);
    write(
        "input.php",
        r#"<?php echo strlen(file_get_contents("php://input")), ":", file_get_contents("php://input");"#,
    );
    write(
        "upload.php",
        r#"<?php $f = $_FILES["file"]; echo $f["name"], " ", $f["size"], " ", md5_file($f["tmp_name"]);"#,
    );
    write("fatal.php", r#"<?php undefined_function_here();"#);
    write("slow.php", r#"<?php sleep(5); echo "late";"#);
    write("big.php", r#"<?php echo str_repeat("0123456789", 500000);"#);
    write("evil.txt", r#"<?php echo "evil ran";"#);
    write("sub/index.php", r#"<?php echo "sub index";"#);
    dir
}

fn server() -> TestServer {
    support::init_logger();
    let root = site();
    let php = PhpCgi::new(&root).index("index.php").timeout(Duration::from_secs(1));
    let php = GatewayContainer::builder(php).executor(Executor::thread_pool(8)).build();
    TestServer::start(Router::new().route(r"/(?:.*\.php(?:/.*)?|(?:.*/)?)", php).mount("/", StaticFiles::new(root)))
}

#[test]
fn superglobals_cookies_redirects_and_status_codes() {
    let server = server();
    let resp = server.request(
        "POST",
        "/index.php/extra/path?a=1",
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", "c=3")],
        b"b=2",
    );
    assert_eq!(resp.text(), "get=1 post=2 cookie=3 path_info=/extra/path script=/index.php\n");
    assert_eq!(server.get("/?a=x").text(), "get=x post=- cookie=- path_info= script=/index.php\n", "the index");
    assert_eq!(server.get("/sub/").text(), "sub index");
    let moved = server.get("/sub?a=1");
    assert_eq!(
        (moved.status.as_u16(), moved.header("location")),
        (301, Some("/sub/?a=1")),
        "a directory, to its slash"
    );
    // The same from PHP mounted alone, with no static files beside it.
    let alone = GatewayContainer::builder(PhpCgi::new(site()).index("index.php")).executor(Executor::thread_pool(2));
    let alone = TestServer::start(Router::new().mount("/php", alone.build()));
    let moved = alone.get("/php/sub?a=1");
    assert_eq!((moved.status.as_u16(), moved.header("location")), (301, Some("/php/sub/?a=1")));
    assert_eq!(alone.get("/php/nothing").status, 404);
    let cookie = server.get("/cookie.php");
    assert!(cookie.header("set-cookie").unwrap().starts_with("flavour=oat; path=/; HttpOnly"), "{:?}", cookie.headers);
    let go = server.get("/go.php");
    assert_eq!((go.status.as_u16(), go.header("location")), (302, Some("/index.php?a=moved")));
    let missing = server.get("/missing.php");
    assert_eq!((missing.status.as_u16(), missing.text().as_str()), (404, "not here"));
    let big = server.get("/big.php");
    assert_eq!(big.body.len(), 5_000_000, "a 5 MB answer arrives whole");
}

#[test]
fn a_chunked_body_reaches_php_input_and_an_upload_reaches_files() {
    let server = server();
    let mut conn = server.connect();
    conn.send(b"POST /input.php HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").unwrap();
    assert_eq!(conn.read_response(false).unwrap().text(), "11:hello world");
    let content = vec![b'z'; 100_000];
    let mut body = b"--BOUND\r\nContent-Disposition: form-data; name=\"file\"; filename=\"z.bin\"\r\n\r\n".to_vec();
    body.extend_from_slice(&content);
    body.extend_from_slice(b"\r\n--BOUND--\r\n");
    let resp = server.request("POST", "/upload.php", &[("Content-Type", "multipart/form-data; boundary=BOUND")], &body);
    let md5 = std::process::Command::new("md5sum")
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        md5.stdin.as_ref().unwrap().write_all(&content).unwrap();
    }
    let digest = String::from_utf8(md5.wait_with_output().unwrap().stdout).unwrap();
    assert_eq!(resp.text(), format!("z.bin 100000 {}", &digest[..32]));
}

#[test]
fn failures_and_timeouts() {
    let server = server();
    assert_eq!(server.get("/fatal.php").status, 500, "a fatal error");
    let slow = server.get("/slow.php");
    assert_eq!(slow.status, 504, "killed at the timeout");
}

#[test]
fn only_php_files_under_the_root_ever_run() {
    let server = server();
    let resp = server.get("/index.php/evil.txt");
    assert!(resp.text().contains("path_info=/evil.txt"), "x.php runs with PATH_INFO: {}", resp.text());
    for path in ["/evil.txt/index.php", "/evil.txt/x.php", "/%2e%2e/index.php", "/sub/../../x.php"] {
        let mut conn = server.connect();
        conn.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
        let resp = conn.read_response(false).unwrap();
        assert!(!resp.text().contains("evil ran"), "{path} ran evil.txt");
        assert!(matches!(resp.status.as_u16(), 400 | 404), "{path}: {}", resp.status);
    }
    assert_eq!(server.get("/evil.txt").text(), "<?php echo \"evil ran\";", "served as a file, never run");
}
