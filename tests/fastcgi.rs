//! FastCGI against Debian's real php-fpm (installed by `.ci/run`), started by
//! each test on a private socket — never the system service: superglobals,
//! headers, a 5 MB answer, a chunked body, an upload, failures mapped as
//! nginx maps them, restarts, and the path rules.
#![cfg(all(unix, feature = "fastcgi"))]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use squall::Router;
use squall::fastcgi::{Address, FastCgi};
use squall::static_files::StaticFiles;
use squall::testing::TestServer;

/// A php-fpm of the test's own, stopped when dropped.
struct Fpm {
    child: Child,
    dir: PathBuf,
}

impl Drop for Fpm {
    fn drop(&mut self) {
        // A worker a test stopped must run again to hear its master.
        self.signal_workers("CONT");
        // SIGTERM: the master stops its workers too (SIGKILL would orphan them).
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn php_fpm() -> PathBuf {
    let found = std::fs::read_dir("/usr/sbin")
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("php-fpm")));
    found.expect("php-fpm is installed (.ci/run installs php-fpm)")
}

impl Fpm {
    fn start(dir: &Path, children: usize) -> Fpm {
        Fpm::with_pool(dir, &format!("pm = static\npm.max_children = {children}"))
    }

    /// A php-fpm on a private socket whose pool has the `pm` settings given.
    fn with_pool(dir: &Path, pm: &str) -> Fpm {
        let socket = dir.join("fpm.sock");
        Fpm::listening(dir, pm, &socket.display().to_string(), || socket.exists())
    }

    /// A php-fpm on a loopback TCP port.
    fn start_tcp(dir: &Path, port: u16) -> Fpm {
        let addr = format!("127.0.0.1:{port}");
        let pm = "pm = static\npm.max_children = 2";
        Fpm::listening(dir, pm, &addr, || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
    }

    fn listening(dir: &Path, pm: &str, listen: &str, ready: impl FnMut() -> bool) -> Fpm {
        std::fs::create_dir_all(dir).unwrap();
        let _ = std::fs::remove_file(dir.join("fpm.sock"));
        // The book's pool file, with this test's pool settings after it (the
        // last value of a setting wins; no recycling unless the test asks).
        let book = include_str!("../examples/fastcgi/php-fpm.conf");
        let conf = dir.join("fpm.conf");
        std::fs::write(&conf, format!("{book}\npm.max_requests = 0\n{pm}\n")).unwrap();
        let child = Command::new(php_fpm())
            .args(["-R", "-n", "-d", "display_errors=0", "-y"])
            .arg(&conf)
            .env("FPM_SOCKET", listen)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("php-fpm starts");
        support::wait_until("php-fpm listens", ready);
        Fpm { child, dir: dir.to_owned() }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("fpm.sock")
    }

    /// Sends `signal` to every worker (the master's children).
    fn signal_workers(&self, signal: &str) {
        let master = self.child.id().to_string();
        for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let ppid = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().nth(1));
            if ppid == Some(master.as_str()) {
                let pid = entry.file_name().to_string_lossy().into_owned();
                let _ = Command::new("kill").arg(format!("-{signal}")).arg(pid).status();
            }
        }
    }
}

fn site(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("squall-fastcgi-{name}-{}", std::process::id()));
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let write = |file: &str, text: &str| std::fs::write(www.join(file), text).unwrap();
    write(
        "index.php",
        r#"<?php
echo "get=", $_GET["a"] ?? "-", " post=", $_POST["b"] ?? "-", " cookie=", $_COOKIE["c"] ?? "-",
     " path_info=", $_SERVER["PATH_INFO"] ?? "-", " host=", $_SERVER["HTTP_HOST"], " script=", $_SERVER["SCRIPT_NAME"], "\n";"#,
    );
    write("cookie.php", r#"<?php setcookie("flavour", "oat"); header("Location: /index.php?a=moved"); "#);
    write("missing.php", r#"<?php http_response_code(404); echo "not here";"#);
    write(
        "input.php",
        r#"<?php echo strlen(file_get_contents("php://input")), ":", file_get_contents("php://input");"#,
    );
    write("upload.php", r#"<?php $f = $_FILES["file"]; echo $f["name"], " ", $f["size"];"#);
    write("fatal.php", r#"<?php undefined_function_here();"#);
    write("slow.php", r#"<?php sleep(2); echo "late";"#);
    write("big.php", r#"<?php echo str_repeat("0123456789", 500000);"#);
    write("short.php", r#"<?php header("Content-Length: 1000"); echo "0123456789";"#);
    write("long.php", r#"<?php header("Content-Length: 5"); echo "0123456789";"#);
    write("sized.php", r#"<?php header("Content-Length: 5"); echo "hello";"#);
    std::fs::create_dir_all(www.join("sub")).unwrap();
    write("sub/index.php", r#"<?php echo "sub index";"#);
    write("digest.php", r#"<?php $in = file_get_contents("php://input"); echo strlen($in), " ", hash("sha256", $in);"#);
    write("evil.txt", r#"<?php echo "evil ran";"#);
    dir
}

fn server(fpm: &Fpm, root: &Path, pool: usize) -> TestServer {
    support::init_logger();
    let php = FastCgi::new(Address::Unix(fpm.socket()), root)
        .index("index.php")
        .pool_size(pool)
        .read_timeout(Duration::from_secs(1))
        .queue_timeout(Duration::from_millis(300));
    TestServer::start(Router::new().mount("/", php).mount("/", StaticFiles::new(root)))
}

#[test]
fn php_fpm_answers_with_superglobals_headers_and_whole_bodies() {
    let dir = site("basics");
    let fpm = Fpm::start(&dir.join("fpm"), 4);
    let server = server(&fpm, &dir.join("www"), 4);
    let resp = server.request(
        "POST",
        "/index.php/extra?a=1",
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", "c=3")],
        b"b=2",
    );
    let port = server.addr().port();
    assert_eq!(resp.text(), format!("get=1 post=2 cookie=3 path_info=/extra host=test script=/index.php\n"));
    let mut conn = server.connect();
    conn.send(format!("GET /?a=i HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes()).unwrap();
    let index = conn.read_response(false).unwrap().text();
    assert!(index.contains(&format!("host=127.0.0.1:{port} ")), "HTTP_HOST keeps its port: {index}");
    let go = server.get("/cookie.php");
    assert_eq!((go.status.as_u16(), go.header("location")), (302, Some("/index.php?a=moved")));
    assert!(go.header("set-cookie").unwrap().starts_with("flavour=oat"));
    let missing = server.get("/missing.php");
    assert_eq!((missing.status.as_u16(), missing.text().as_str()), (404, "not here"));
    let big = server.get("/big.php");
    assert_eq!(big.body.len(), 5_000_000, "5 MB, streamed whole");
    assert_eq!(big.header("transfer-encoding"), Some("chunked"), "a large page streams as it comes");
    let small = server.get("/missing.php");
    assert_eq!(small.header("content-length"), Some("8"), "a page that came whole has its length");
    conn.send(b"HEAD /missing.php HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let head = conn.read_response(true).unwrap();
    assert_eq!((head.status.as_u16(), head.body.len(), head.header("content-length")), (404, 0, None));
    conn.send(b"POST /input.php HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").unwrap();
    assert_eq!(conn.read_response(false).unwrap().text(), "11:hello world", "a chunked body arrives with its length");
    let mut body = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"u.bin\"\r\n\r\n".to_vec();
    body.extend_from_slice(&vec![b'u'; 2 << 20]);
    body.extend_from_slice(b"\r\n--B--\r\n");
    let upload = server.request("POST", "/upload.php", &[("Content-Type", "multipart/form-data; boundary=B")], &body);
    assert_eq!(upload.text(), "u.bin 2097152", "a 2 MB upload, spooled before the worker is taken");
}

#[test]
fn failures_map_as_nginx_maps_them_and_a_restart_is_survived() {
    let dir = site("failures");
    let mut fpm = Fpm::start(&dir.join("fpm"), 2);
    let server = server(&fpm, &dir.join("www"), 2);
    assert_eq!(server.get("/fatal.php").status, 500, "PHP's own 500");
    assert_eq!(server.get("/slow.php").status, 504, "silent past the read timeout");
    // Both workers busy: the third request waits, then 503 with Retry-After.
    let addr = server.addr();
    let busy: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                squall::testing::TestConnection::open(addr)
                    .unwrap()
                    .request("GET", "/slow.php", &[], b"")
                    .unwrap()
                    .status
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    let refused = server.get("/index.php");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    for b in busy {
        assert_eq!(b.join().unwrap(), 504);
    }
    // The workers finish their sleep; new connections replace the timed-out ones.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(server.get("/index.php").status, 200, "served again once the workers are free");
    drop(std::mem::replace(&mut fpm, Fpm { child: Command::new("true").spawn().unwrap(), dir: dir.join("fpm") }));
    let _ = std::fs::remove_file(dir.join("fpm").join("fpm.sock"));
    assert_eq!(server.get("/index.php").status, 502, "php-fpm stopped: 502 at once");
    let _fpm = Fpm::start(&dir.join("fpm"), 2);
    assert_eq!(server.get("/index.php").status, 200, "php-fpm restarted: served again");
    assert_eq!(server.get("/index.php").status, 200);
}

#[test]
fn rfc9112_6_3_a_body_unlike_its_declared_length_is_never_passed_off_as_complete() {
    let dir = site("framing");
    let fpm = Fpm::start(&dir.join("fpm"), 2);
    let server = server(&fpm, &dir.join("www"), 2);
    // Shorter than declared: the declared length stays, the connection
    // closes after what came, and the client can tell (RFC 9112 §8).
    let mut conn = server.connect();
    conn.send(b"GET /short.php HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let raw = String::from_utf8(conn.read_to_close().unwrap()).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.to_ascii_lowercase().contains("content-length: 1000"), "{head}");
    assert_eq!(body, "0123456789", "what came, then the close");
    assert!(!support::wait_for_log("shorter than its Content-Length").is_empty());
    // Longer than declared: cut at the declared length, logged.
    let mut conn = server.connect();
    conn.send(b"GET /long.php HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let raw = String::from_utf8(conn.read_to_close().unwrap()).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.to_ascii_lowercase().contains("content-length: 5"), "{head}");
    assert_eq!(body, "01234");
    assert!(!support::wait_for_log("longer than its Content-Length").is_empty());
    // A declared length that holds: kept, and the connection with it.
    let mut conn = server.connect();
    let sized = conn.request("GET", "/sized.php", &[], b"").unwrap();
    assert_eq!((sized.header("content-length"), sized.text().as_str()), (Some("5"), "hello"));
    assert_eq!(conn.request("GET", "/sized.php", &[], b"").unwrap().text(), "hello", "the same connection");
}

#[test]
fn rfc9110_9_3_2_head_has_gets_framing_headers_as_far_as_they_are_known() {
    let dir = site("head");
    let fpm = Fpm::start(&dir.join("fpm"), 2);
    let server = server(&fpm, &dir.join("www"), 2);
    let mut conn = server.connect();
    let get = conn.request("GET", "/index.php", &[], b"").unwrap();
    assert!(get.header("content-length").is_some(), "a small page has its length");
    // PHP sends no length of its own: HEAD cannot know GET's, and says
    // nothing of framing rather than `chunked`.
    conn.send_request("HEAD", "/index.php", &[], b"").unwrap();
    let head = conn.read_response(true).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!((head.header("transfer-encoding"), head.header("content-length")), (None, None));
    conn.send_request("HEAD", "/sized.php", &[], b"").unwrap();
    let head = conn.read_response(true).unwrap();
    assert_eq!(head.header("content-length"), Some("5"), "the application's own length");
    conn.send_request("HEAD", "/big.php", &[], b"").unwrap();
    assert_eq!(conn.read_response(true).unwrap().header("transfer-encoding"), None);
    assert_eq!(conn.request("GET", "/sized.php", &[], b"").unwrap().text(), "hello", "the connection is usable");
}

#[test]
fn a_directory_without_its_slash_is_redirected_to_it() {
    let dir = site("slash");
    let fpm = Fpm::start(&dir.join("fpm"), 2);
    let server = server(&fpm, &dir.join("www"), 2);
    let moved = server.get("/sub?a=1");
    assert_eq!((moved.status.as_u16(), moved.header("location")), (301, Some("/sub/?a=1")));
    assert_eq!(server.get("/sub/").text(), "sub index");
    assert_eq!(server.get("/nothing").status, 404, "no such directory: static files answer");
}

#[test]
fn a_server_that_stops_reading_is_a_504_and_never_a_hang() {
    let dir = site("stalled");
    let fpm = Fpm::start(&dir.join("fpm"), 1);
    support::init_logger();
    let php = FastCgi::new(Address::Unix(fpm.socket()), dir.join("www"))
        .index("index.php")
        .pool_size(1)
        .send_timeout(Duration::from_millis(500));
    let server = TestServer::start(Router::new().mount("/", php));
    assert_eq!(server.get("/index.php").status, 200, "a kept connection to the one worker");
    fpm.signal_workers("STOP");
    // Neither a body sent with the request's head (in memory) nor one sent
    // from its file after it fits in the socket's buffers.
    for size in [900 << 10, 8 << 20] {
        let body = vec![b'b'; size];
        let resp = server.request("POST", "/index.php", &[("Content-Type", "application/octet-stream")], &body);
        assert_eq!(resp.status, 504, "{size} bytes to a worker that reads nothing");
    }
    fpm.signal_workers("CONT");
    support::wait_until("the worker serves again", || server.get("/index.php").status == 200);
}

#[test]
fn a_deploy_that_switches_the_root_symlink_is_followed() {
    // releases/one and releases/two, and `current` pointing at one: the
    // layout of an atomic deploy.
    let dir = site("deploy");
    let base = dir.join("releases");
    for (release, text) in [("one", "first"), ("two", "second")] {
        std::fs::create_dir_all(base.join(release)).unwrap();
        std::fs::write(base.join(release).join("v.php"), format!("<?php echo '{text}';")).unwrap();
        std::fs::write(base.join(release).join("v.txt"), text).unwrap();
    }
    std::os::unix::fs::symlink("releases/one", dir.join("current")).unwrap();
    let fpm = Fpm::start(&dir.join("fpm"), 2);
    support::init_logger();
    let php = FastCgi::new(Address::Unix(fpm.socket()), dir.join("current"));
    let app = Router::new().mount("/", php).mount("/", StaticFiles::new(dir.join("current")));
    let server = TestServer::start(app);
    assert_eq!((server.get("/v.php").text(), server.get("/v.txt").text()), ("first".into(), "first".into()));
    std::os::unix::fs::symlink("releases/two", dir.join("next")).unwrap();
    std::fs::rename(dir.join("next"), dir.join("current")).unwrap();
    support::wait_until("PHP from the new release", || server.get("/v.php").text() == "second");
    support::wait_until("static files from the new release", || server.get("/v.txt").text() == "second");
}

#[test]
fn only_php_files_under_the_root_run() {
    let dir = site("paths");
    let fpm = Fpm::start(&dir.join("fpm"), 2);
    let server = server(&fpm, &dir.join("www"), 2);
    assert!(server.get("/index.php/evil.txt").text().contains("path_info=/evil.txt"));
    for path in ["/evil.txt/index.php", "/evil.txt/x.php", "/%2e%2e/index.php"] {
        let mut conn = server.connect();
        conn.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
        let resp = conn.read_response(false).unwrap();
        assert!(!resp.text().contains("evil ran") && matches!(resp.status.as_u16(), 400 | 404), "{path}");
    }
    assert_eq!(server.get("/evil.txt").text(), r#"<?php echo "evil ran";"#, "a file, never run");
}

#[test]
fn php_fpm_on_a_tcp_port_serves_too() {
    support::init_logger();
    let dir = site("tcp");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _fpm = Fpm::start_tcp(&dir.join("fpm"), port);
    let php = FastCgi::new(Address::Tcp(([127, 0, 0, 1], port).into()), dir.join("www")).index("index.php");
    let server = TestServer::start(Router::new().mount("/", php));
    assert!(server.get("/?a=tcp").text().starts_with("get=tcp "));
}

/// A copy of Debian's DokuWiki (installed by `.ci/run`) with its own
/// configuration and data: nothing of the system's installation is written.
fn dokuwiki(dir: &Path) -> PathBuf {
    let copy = |from: &str, to: &Path| {
        let status = Command::new("cp").arg("-rL").arg(from).arg(to).status().unwrap();
        assert!(status.success(), "copying {from} (is Debian's dokuwiki installed? .ci/run installs it)");
    };
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    copy("/usr/share/dokuwiki", &dir.join("www"));
    copy("/etc/dokuwiki", &dir.join("conf"));
    copy("/var/lib/dokuwiki/data", &dir.join("data"));
    std::fs::write(
        dir.join("www/inc/preload.php"),
        format!("<?php\nif(!defined('DOKU_CONF')) define('DOKU_CONF', '{}/');\n", dir.join("conf").display()),
    )
    .unwrap();
    std::fs::write(
        dir.join("conf/local.php"),
        format!(
            "<?php\n$conf['savedir'] = '{}';\n$conf['useacl'] = 0;\n$conf['title'] = 'squall test wiki';\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    dir.join("www")
}

#[test]
fn a_real_php_application_renders_and_saves_a_page() {
    support::init_logger();
    let dir = std::env::temp_dir().join(format!("squall-dokuwiki-{}", std::process::id()));
    let www = dokuwiki(&dir.join("wiki"));
    // As production pools run: workers recycled every few requests, here
    // in the middle of the edit and save flow.
    let fpm = Fpm::with_pool(&dir.join("fpm"), "pm = static\npm.max_children = 2\npm.max_requests = 3");
    let php = FastCgi::new(Address::Unix(fpm.socket()), &www).index("doku.php");
    let server = TestServer::start(Router::new().mount("/", php).mount("/", StaticFiles::new(&www)));

    let start = server.get("/doku.php?id=start");
    assert_eq!(start.status, 200);
    assert!(start.text().contains("<title>start [squall test wiki]</title>"), "DokuWiki renders its start page");
    let css = server.get("/lib/exe/css.php");
    assert_eq!(css.status, 200, "its stylesheet, built by PHP");
    assert!(server.get("/lib/images/license/button/cc-by-sa.png").status == 200, "and a static image");

    // Edit a page through its form, save it, and find it again.
    let form = server.get("/doku.php?id=squall_test&do=edit").text();
    let field = |name: &str| {
        let key = format!(r#"name="{name}" value=""#);
        form.split(&key).nth(1).map(|rest| rest.split('"').next().unwrap_or_default().to_owned()).unwrap_or_default()
    };
    let body = format!(
        "sectok={}&id=squall_test&date={}&changecheck={}&wikitext=Served+by+squall+over+FastCGI&summary=test&do%5Bsave%5D=Save",
        field("sectok"),
        field("date"),
        field("changecheck")
    );
    let saved = server.request(
        "POST",
        "/doku.php?id=squall_test",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(saved.status, 302, "{}", saved.text());
    assert!(server.get("/doku.php?id=squall_test").text().contains("Served by squall over FastCGI"));
    let stored = std::fs::read_to_string(dir.join("wiki/data/pages/squall_test.txt")).unwrap();
    assert_eq!(stored.trim(), "Served by squall over FastCGI", "persisted in the wiki's own data directory");
    drop(fpm);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_keep_alive_each_request_has_a_connection_of_its_own() {
    support::init_logger();
    let dir = site("no-keep-alive");
    let fpm = Fpm::start(&dir.join("fpm"), 2);
    let php = FastCgi::new(Address::Unix(fpm.socket()), dir.join("www")).index("index.php").keep_alive(false);
    let server = TestServer::start(Router::new().mount("/", php));
    for i in 0..5 {
        assert!(server.get(&format!("/?a={i}")).text().starts_with(&format!("get={i} ")));
    }
}

/// Request `i` of a mix: GETs, urlencoded POSTs, and now and then a 2 MiB
/// POST that is kept in a file before it is sent. `None` when the answer
/// came whole and right; else what went wrong.
fn mixed_request(server: &TestServer, big: &[u8], big_digest: &str, i: usize) -> Option<String> {
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let octets = [("Content-Type", "application/octet-stream")];
    let body = format!("b={i}");
    let query = format!("/index.php?a={i}");
    let (method, path, headers, body, expected): (_, _, &[_], &[u8], _) = match i % 25 {
        0 => ("POST", "/digest.php", &octets, big, format!("{} {big_digest}", big.len())),
        n if n % 2 == 0 => ("GET", query.as_str(), &[], b"", format!("get={i} post=- ")),
        _ => ("POST", "/index.php", &form, body.as_bytes(), format!("get=- post={i} ")),
    };
    let resp = match server.connect().request(method, path, headers, body) {
        Ok(resp) => resp,
        Err(e) => return Some(format!("request {i}: {method} {path}: {e}")),
    };
    let text = resp.text();
    (resp.status != 200 || !text.starts_with(&expected)).then(|| format!("request {i}: {} {text:?}", resp.status))
}

/// 500 requests one after another, then 500 more 16 at a time; the failures.
fn sequential_then_concurrent(server: &TestServer, pause: impl Fn(usize)) -> Vec<String> {
    use sha2::Digest;
    let big: Vec<u8> = (0..2usize << 20).map(|i| (i * 7 % 251) as u8).collect();
    let digest: String = sha2::Sha256::digest(&big).iter().map(|b| format!("{b:02x}")).collect();
    let mut failures: Vec<String> = Vec::new();
    for i in 0..500 {
        pause(i);
        failures.extend(mixed_request(server, &big, &digest, i));
    }
    let next = std::sync::atomic::AtomicUsize::new(500);
    let (big, digest, next) = (&big, &digest, &next);
    std::thread::scope(|s| {
        let clients: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(move || {
                    let mut failures = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= 1000 {
                            return failures;
                        }
                        failures.extend(mixed_request(server, big, digest, i));
                    }
                })
            })
            .collect();
        for client in clients {
            failures.extend(client.join().unwrap());
        }
    });
    failures
}

/// A FastCGI target for a recycling pool of `children` workers: as many
/// connections as workers, as a deployment sets it.
fn recycled_server(fpm: &Fpm, root: &Path, children: usize) -> TestServer {
    support::init_logger();
    let php = FastCgi::new(Address::Unix(fpm.socket()), root)
        .index("index.php")
        .pool_size(children)
        .queue_timeout(Duration::from_secs(10));
    TestServer::start(Router::new().mount("/", php))
}

#[test]
fn workers_recycled_after_max_requests_never_cost_a_request() {
    // php-fpm ends a worker after pm.max_requests requests and closes its
    // kept connection: squall notices, or sends the request again on a
    // fresh connection, as nginx does with a cached one.
    let failures: Vec<(usize, Vec<String>)> = [1, 2]
        .into_iter()
        .map(|max_requests| {
            let dir = site(&format!("recycle-{max_requests}"));
            let pm = format!("pm = static\npm.max_children = 4\npm.max_requests = {max_requests}");
            let fpm = Fpm::with_pool(&dir.join("fpm"), &pm);
            let server = recycled_server(&fpm, &dir.join("www"), 4);
            (max_requests, sequential_then_concurrent(&server, |_| {}))
        })
        .collect();
    let counts: Vec<_> = failures.iter().map(|(max, failed)| format!("{max}: {} of 1000", failed.len())).collect();
    assert!(failures.iter().all(|(_, f)| f.is_empty()), "failed, by pm.max_requests: {counts:?}\n{failures:#?}");
}

#[test]
fn workers_ended_by_ondemand_idle_timeout_never_cost_a_request() {
    // pm = ondemand ends workers idle for pm.process_idle_timeout (1 s, the
    // shortest it takes): the pauses let it end every kept connection's
    // worker, twice, while squall holds them.
    let dir = site("ondemand");
    let pm = "pm = ondemand\npm.max_children = 4\npm.process_idle_timeout = 1s";
    let fpm = Fpm::with_pool(&dir.join("fpm"), pm);
    let server = recycled_server(&fpm, &dir.join("www"), 4);
    let failures = sequential_then_concurrent(&server, |i| {
        if i == 250 || i == 499 {
            std::thread::sleep(Duration::from_millis(2500));
        }
    });
    assert!(failures.is_empty(), "pm = ondemand: {} failed: {failures:#?}", failures.len());
}

#[test]
fn the_fastcgi_example_behind_a_pool_that_recycles_every_two_requests_answers_all_1000() {
    // As a person tries it: php-fpm with pm.max_requests = 2, the example
    // pointed at it, and the URL it prints asked 1,000 times.
    let dir = site("example");
    let fpm = Fpm::with_pool(&dir.join("fpm"), "pm = static\npm.max_children = 4\npm.max_requests = 2");
    let (socket, root) = (fpm.socket(), dir.join("www"));
    let args = ["--socket", socket.to_str().unwrap(), "--root", root.to_str().unwrap(), "--pool", "4"];
    let example = support::example("fastcgi", "fastcgi", &args);
    let mut conn = squall::testing::TestConnection::open(example.addr).unwrap();
    let mut failed = Vec::new();
    for i in 0..1000 {
        let resp = conn.request("GET", &format!("/?a={i}"), &[], b"").unwrap();
        if resp.status != 200 || !resp.text().starts_with(&format!("get={i} ")) {
            failed.push((i, resp.status.as_u16()));
        }
    }
    assert_eq!(failed, [], "every request answered by PHP, on one client connection");
    let moved = conn.request("GET", "/sub", &[], b"").unwrap();
    assert_eq!((moved.status.as_u16(), moved.header("location")), (301, Some("/sub/")), "as nginx");
}
