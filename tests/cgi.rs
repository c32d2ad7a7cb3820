//! CGI/1.1 programs through the gateway container, over loopback.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing
#![cfg(all(unix, feature = "cgi"))]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use squall::Router;
use squall::cgi::CgiProgram;
use squall::gateway::{Executor, GatewayContainer};
use squall::testing::TestServer;

/// Writes an executable `/bin/sh` script into a fresh directory.
fn script(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("squall-cgi-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn serve(program: CgiProgram) -> TestServer {
    support::init_logger();
    let container = GatewayContainer::builder(program).executor(Executor::thread_pool(4)).build();
    TestServer::start(Router::new().mount("/cgi-bin/app.cgi", container))
}

#[test]
fn output_headers_and_body_reach_the_client() {
    let s =
        script("hello", r#"printf 'Content-Type: text/plain\r\nX-Custom: yes\r\n\r\n'; echo "hello $QUERY_STRING""#);
    let server = serve(CgiProgram::new(s).pass_env("PATH"));
    let resp = server.get("/cgi-bin/app.cgi?who=ada");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-custom"), Some("yes"));
    assert_eq!(resp.text(), "hello who=ada\n");
}

#[test]
fn status_and_location_headers() {
    let s = script("status", r#"printf 'Status: 404 Not Found\nContent-Type: text/plain\n\nnope'"#);
    let resp = serve(CgiProgram::new(s)).get("/cgi-bin/app.cgi");
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (404, "nope"));
    let s = script("redirect", r#"printf 'Location: https://example.com/\n\n'"#);
    let resp = serve(CgiProgram::new(s)).get("/cgi-bin/app.cgi");
    assert_eq!((resp.status.as_u16(), resp.header("location")), (302, Some("https://example.com/")));
}

#[test]
fn environment_is_the_cgi_variables_and_nothing_leaks() {
    let s = script("env", r#"printf 'Content-Type: text/plain\n\n'; /usr/bin/env | /usr/bin/sort"#);
    let server = serve(CgiProgram::new(s).env("GIT_PROJECT_ROOT", "/srv/git").document_root("/var/www"));
    let resp = server.request(
        "GET",
        "/cgi-bin/app.cgi/extra/path?a=1",
        &[("Authorization", "Basic c2VjcmV0"), ("Proxy", "x")],
        b"",
    );
    let env = resp.text();
    for want in [
        "GATEWAY_INTERFACE=CGI/1.1",
        "SCRIPT_NAME=/cgi-bin/app.cgi",
        "PATH_INFO=/extra/path",
        "PATH_TRANSLATED=/var/www/extra/path",
        "QUERY_STRING=a=1",
        "REQUEST_METHOD=GET",
        "SERVER_PROTOCOL=HTTP/1.1",
        "REMOTE_ADDR=127.0.0.1",
        "GIT_PROJECT_ROOT=/srv/git",
    ] {
        assert!(env.lines().any(|l| l == want), "{want} missing from:\n{env}");
    }
    assert!(!env.contains("HTTP_AUTHORIZATION"), "Authorization only on opt-in:\n{env}");
    assert!(!env.contains("HTTP_PROXY"), "httpoxy:\n{env}");
    assert!(!env.lines().any(|l| l.starts_with("HOME=")), "the parent's environment does not leak:\n{env}");
    let server = serve(
        CgiProgram::new(script("env2", r#"printf 'Content-Type: text/plain\n\n'; /usr/bin/env"#))
            .pass_authorization(true),
    );
    let resp = server.request("GET", "/cgi-bin/app.cgi", &[("Authorization", "Basic c2VjcmV0")], b"");
    assert!(resp.text().lines().any(|l| l == "HTTP_AUTHORIZATION=Basic c2VjcmV0"), "{}", resp.text());
}

#[test]
fn request_body_goes_to_stdin_with_content_length() {
    let s = script("echo", r#"printf 'Content-Type: text/plain\n\n'; echo "length=$CONTENT_LENGTH"; /bin/cat"#);
    let server = serve(CgiProgram::new(s));
    let resp = server.request("POST", "/cgi-bin/app.cgi", &[], b"hello body");
    assert_eq!(resp.text(), "length=10\nhello body");
    let mut conn = server.connect();
    conn.send(b"POST /cgi-bin/app.cgi HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n chunk\r\n0\r\n\r\n").unwrap();
    assert_eq!(
        conn.read_response(false).unwrap().text(),
        "length=11\nhello chunk",
        "chunked bodies are spooled to learn their length"
    );
}

#[test]
fn bad_programs_get_502_and_missing_ones_500() {
    for (name, body) in [
        ("silent", "exit 0"),
        ("fails", "echo 'oops' >&2; exit 1"),
        ("garbage", "echo 'this is not a header'"),
        ("dies", "printf 'Content-Type: text/plain\\n'; exit 3"),
    ] {
        let resp = serve(CgiProgram::new(script(name, body))).get("/cgi-bin/app.cgi");
        assert_eq!(resp.status, 502, "{name}");
    }
    let resp = serve(CgiProgram::new("/nonexistent/program")).get("/cgi-bin/app.cgi");
    assert_eq!(resp.status, 500);
}

#[test]
fn timeout_is_504_and_kills_the_whole_process_group() {
    let dir = std::env::temp_dir().join(format!("squall-cgi-{}-pidfile", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("child.pid");
    let body = format!("/bin/sleep 30 &\necho $! > {}\nwait", pidfile.display());
    let server = serve(CgiProgram::new(script("slow", &body)).timeout(Duration::from_millis(300)));
    let resp = server.get("/cgi-bin/app.cgi");
    assert_eq!(resp.status, 504);
    let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
            .unwrap_or(false)
    };
    for _ in 0..250 {
        if !alive() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(), "the program's own child {pid} was killed too");
}

#[test]
fn stderr_lines_are_logged_with_the_program_name() {
    let s = script("noisy", "echo 'stderr-marker-5521' >&2; printf 'Content-Type: text/plain\\n\\nok'");
    assert_eq!(serve(CgiProgram::new(s)).get("/cgi-bin/app.cgi").text(), "ok");
    let lines = support::wait_for_log("stderr-marker-5521");
    assert!(lines.iter().any(|(_, target, m)| target == "squall::cgi" && m.starts_with("noisy: ")), "{lines:?}");
}

/// Runs `git` with `args` in `dir`; panics with its output on failure.
fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn git_http_backend_clone_push_and_ls_remote() {
    support::init_logger();
    let root = std::env::temp_dir().join(format!("squall-git-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (repos, work) = (root.join("repos"), root.join("work"));
    std::fs::create_dir_all(&repos).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    git(&repos, &["init", "--bare", "-b", "main", "project.git"]);
    git(&repos.join("project.git"), &["config", "http.receivepack", "true"]);
    // Seed the repository with one commit.
    let seed = work.join("seed");
    git(&work, &["init", "-b", "main", "seed"]);
    std::fs::write(seed.join("README"), "hello\n").unwrap();
    git(&seed, &["add", "README"]);
    git(&seed, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-m", "seed"]);
    git(&seed, &["push", repos.join("project.git").to_str().unwrap(), "main"]);

    let backend = CgiProgram::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", repos.to_str().unwrap())
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .pass_env("PATH");
    let container = GatewayContainer::builder(backend).executor(Executor::thread_pool(4)).build();
    let server = TestServer::start(Router::new().mount("/git", container));
    let url = server.url("/git/project.git");

    git(&work, &["clone", &url, "clone"]);
    let clone = work.join("clone");
    assert_eq!(std::fs::read_to_string(clone.join("README")).unwrap(), "hello\n");

    std::fs::write(clone.join("small.txt"), "a small change\n").unwrap();
    git(&clone, &["add", "small.txt"]);
    git(&clone, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-m", "small"]);
    git(&clone, &["push", "origin", "main"]);

    // ~3 MB of incompressible bytes: git sends the pack with a chunked body.
    let mut state = 0x2545_f491_u32;
    let random: Vec<u8> = (0..3_000_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    std::fs::write(clone.join("big.bin"), random).unwrap();
    git(&clone, &["add", "big.bin"]);
    git(&clone, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-m", "big"]);
    git(&clone, &["-c", "http.postBuffer=65536", "push", "origin", "main"]);

    let local_head = git(&clone, &["rev-parse", "HEAD"]);
    let server_head = git(&repos.join("project.git"), &["rev-parse", "main"]);
    assert_eq!(local_head, server_head, "the server's refs match after the pushes");
    let remote = git(&work, &["ls-remote", &url]);
    assert!(remote.contains(local_head.trim()) && remote.contains("refs/heads/main"), "{remote}");

    let missing = server.get("/git/nope.git/info/refs?service=git-upload-pack");
    assert_eq!(missing.status, 404, "a repository that does not exist is a real 404");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn python_wsgi_app_under_wsgiref_cgi_handler() {
    // The WSGI app lives in its own file: the CGI script's stdin is the request body.
    let program = r#"
from wsgiref.handlers import CGIHandler

def app(environ, start_response):
    if environ.get("PATH_INFO") != "/echo":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such page\n"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "text/plain")])
    lines = [
        "length=%d" % len(body),
        "SCRIPT_NAME=" + environ["SCRIPT_NAME"],
        "PATH_INFO=" + environ["PATH_INFO"],
        "QUERY_STRING=" + environ["QUERY_STRING"],
    ]
    return [("\n".join(lines) + "\n").encode()]

CGIHandler().run(app)
"#;
    let launcher = script("app.cgi", "");
    let py = launcher.with_file_name("app.py");
    std::fs::write(&py, program).unwrap();
    std::fs::write(&launcher, format!("#!/bin/sh\nexec python3 {}\n", py.display())).unwrap();
    let app = launcher;
    support::init_logger();
    let container =
        GatewayContainer::builder(CgiProgram::new(app).pass_env("PATH")).executor(Executor::thread_pool(4)).build();
    let server = TestServer::start(Router::new().mount("/app.cgi", container));
    let mut conn = server.connect();
    conn.send(b"POST /app.cgi/echo?a=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwsgi\r\n5\r\n body\r\n0\r\n\r\n").unwrap();
    let resp = conn.read_response(false).unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.text(), "length=9\nSCRIPT_NAME=/app.cgi\nPATH_INFO=/echo\nQUERY_STRING=a=1\n");
    let missing = server.get("/app.cgi/elsewhere");
    assert_eq!((missing.status.as_u16(), missing.text().as_str()), (404, "no such page\n"));
}

#[test]
fn status_201_and_headers_as_the_environ_rules_say() {
    let s = script(
        "created",
        r#"printf 'Status: 201 Created\nContent-Type: text/plain\n\n'; echo "multi=$HTTP_X_MULTI dash=$HTTP_X_DASH""#,
    );
    let server = serve(CgiProgram::new(s));
    let headers = [("X-Multi", "a"), ("X-Multi", "b"), ("X-Dash", "real"), ("X_Dash", "spoofed")];
    let resp = server.request("GET", "/cgi-bin/app.cgi", &headers, b"");
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (201, "multi=a, b dash=real\n"));
}

#[test]
fn program_dying_mid_body_truncates_the_response() {
    use std::io::{Read, Write};
    // The program dies only once the client has its first bytes: before
    // that, nothing reached the client and a clean 500 is the answer.
    let flag = std::env::temp_dir().join(format!("squall-cgi-{}-crash.flag", std::process::id()));
    let _ = std::fs::remove_file(&flag);
    let body = format!(
        "printf 'Content-Type: text/plain\\n\\npartial output'\nwhile [ ! -e {} ]; do /bin/sleep 0.05; done\nkill -9 $$",
        flag.display()
    );
    let server = serve(CgiProgram::new(script("crash", &body)));
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET /cgi-bin/app.cgi HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = support::read_until_contains(&mut stream, "partial output");
    std::fs::write(&flag, "").unwrap();
    stream.read_to_end(&mut got).unwrap();
    let raw = String::from_utf8_lossy(&got);
    assert!(raw.starts_with("HTTP/1.1 200 OK"), "{raw}");
    assert!(!raw.ends_with("0\r\n\r\n"), "no terminating chunk, so the client sees the cut: {raw:?}");
    let _ = std::fs::remove_file(&flag);
}

/// The `as_cgi` example's binary.
fn as_cgi_binary() -> PathBuf {
    support::example_binary("as_cgi", "cgi")
}

/// A lighttpd process, stopped when dropped.
struct Lighttpd(std::process::Child);

impl Drop for Lighttpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_squall_app_runs_under_lighttpd_mod_cgi() {
    let root = std::env::temp_dir().join(format!("squall-lighttpd-{}", std::process::id()));
    let www = root.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let program = www.join("app.cgi");
    std::fs::copy(as_cgi_binary(), &program).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = root.join("lighttpd.conf");
    std::fs::write(
        &conf,
        format!(
            "server.document-root = \"{}\"\nserver.bind = \"127.0.0.1\"\nserver.port = {port}\n\
             server.modules = ( \"mod_cgi\" )\nserver.errorlog = \"{}\"\ncgi.assign = ( \".cgi\" => \"\" )\n",
            www.display(),
            root.join("error.log").display()
        ),
    )
    .unwrap();
    let lighttpd = ["/usr/sbin/lighttpd", "lighttpd"]
        .into_iter()
        .find(|p| std::process::Command::new(p).arg("-v").output().is_ok());
    let lighttpd = lighttpd.expect("lighttpd is installed (.ci/run installs it)");
    let _server = Lighttpd(std::process::Command::new(lighttpd).arg("-D").arg("-f").arg(&conf).spawn().unwrap());
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut conn = None;
    for _ in 0..250 {
        if let Ok(c) = squall::testing::TestConnection::open(addr) {
            conn = Some(c);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut conn = conn.expect("lighttpd listens");

    let resp = conn.request("GET", "/app.cgi/whoami?x=1", &[], b"").unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.text(), "method=GET script_name=/app.cgi path_info=/whoami query=x=1 peer=127.0.0.1\n");

    let mut conn = squall::testing::TestConnection::open(addr).unwrap();
    let resp =
        conn.request("POST", "/app.cgi/echo", &[("Content-Type", "text/plain")], b"posted through lighttpd").unwrap();
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "posted through lighttpd"));

    let resp =
        squall::testing::TestConnection::open(addr).unwrap().request("GET", "/app.cgi/nowhere", &[], b"").unwrap();
    assert_eq!(resp.status, 404);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn local_redirects_are_followed_inside_the_program() {
    let body = r#"case "$PATH_INFO" in
  /old) printf 'Location: /cgi-bin/app.cgi/new?x=2\n\n' ;;
  /loop) printf 'Location: /cgi-bin/app.cgi/loop\n\n' ;;
  /away) printf 'Location: /elsewhere\n\n' ;;
  *) printf 'Content-Type: text/plain\n\n'; echo "path=$PATH_INFO query=$QUERY_STRING method=$REQUEST_METHOD" ;;
esac"#;
    let server = serve(CgiProgram::new(script("redirects", body)));
    let resp = server.request("POST", "/cgi-bin/app.cgi/old", &[], b"ignored");
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "path=/new query=x=2 method=GET\n"));
    assert_eq!(server.get("/cgi-bin/app.cgi/loop").status, 502, "a redirect loop ends");
    let away = server.get("/cgi-bin/app.cgi/away");
    assert_eq!((away.status.as_u16(), away.header("location")), (302, Some("/elsewhere")));
}

/// A chunked request of `total` bytes in 64 KiB chunks.
fn chunked_post(path: &str, total: usize) -> Vec<u8> {
    let mut raw = format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
    let mut left = total;
    while left > 0 {
        let n = left.min(64 * 1024);
        raw.extend_from_slice(format!("{n:X}\r\n").as_bytes());
        raw.extend(std::iter::repeat_n(b'z', n));
        raw.extend_from_slice(b"\r\n");
        left -= n;
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    raw
}

#[test]
fn large_chunked_bodies_spool_to_a_file_within_the_limit() {
    let s = script(
        "count",
        r#"printf 'Content-Type: text/plain\n\n'; echo "length=$CONTENT_LENGTH read=$(/usr/bin/wc -c | /usr/bin/tr -d ' ')""#,
    );
    let server = serve(CgiProgram::new(s.clone()));
    let mut conn = server.connect();
    conn.send(&chunked_post("/cgi-bin/app.cgi", 2_000_000)).unwrap();
    assert_eq!(conn.read_response(false).unwrap().text(), "length=2000000 read=2000000\n");

    // The container reads bodies whole and gives their length; a container
    // that streams them leaves the program to spool, up to its own limit.
    let streamed = GatewayContainer::builder(CgiProgram::new(s).max_spool(1_500_000))
        .executor(Executor::thread_pool(4))
        .stream_request_body(true)
        .build();
    let server = TestServer::start(Router::new().mount("/cgi-bin/app.cgi", streamed));
    let mut conn = server.connect();
    conn.send(&chunked_post("/cgi-bin/app.cgi", 2_000_000)).unwrap();
    assert_eq!(conn.read_response(false).unwrap().status, 413);
}

/// Open descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Children of this process that exited and were never reaped.
fn zombie_children() -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str())
        })
        .collect()
}

#[test]
fn no_zombies_and_no_leaked_descriptors() {
    let s = script("quick", r#"printf 'Content-Type: text/plain\n\nok'"#);
    let slow = script("slowpoke", "/bin/sleep 5");
    let server = serve(CgiProgram::new(s));
    let slow_server = serve(CgiProgram::new(slow).timeout(Duration::from_millis(200)));
    assert_eq!(server.get("/cgi-bin/app.cgi").text(), "ok"); // warm up threads and the watchdog
    let before = open_fds();
    for _ in 0..20 {
        assert_eq!(server.request("POST", "/cgi-bin/app.cgi", &[], b"body").text(), "ok");
        assert_eq!(server.request("HEAD", "/cgi-bin/app.cgi", &[], b"").status, 200);
    }
    assert_eq!(slow_server.get("/cgi-bin/app.cgi").status, 504);
    // Other tests run in parallel: allow their transient descriptors, but
    // 60 requests leaking even one pipe each would show.
    let mut after = open_fds();
    for _ in 0..100 {
        if after <= before + 8 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        after = open_fds();
    }
    assert!(after <= before + 8, "descriptors: {before} before, {after} after");
    let mut zombies = zombie_children();
    for _ in 0..100 {
        if zombies.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        zombies = zombie_children();
    }
    assert!(zombies.is_empty(), "unreaped children: {zombies:?}");
}

#[test]
fn a_program_sees_the_raw_bytes_of_the_path_and_of_header_values() {
    // `%EF` is the byte 0xEF, not U+FFFD; a Latin-1 header value its own bytes.
    let s = script(
        "bytes",
        r#"printf 'Content-Type: text/plain\n\n'; printf '%s|%s' "$PATH_INFO" "$HTTP_X_NAME" | /usr/bin/od -An -tx1"#,
    );
    let server = serve(CgiProgram::new(s));
    let mut conn = server.connect();
    conn.send(b"GET /cgi-bin/app.cgi/na%EFve.txt HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9\r\n\r\n").unwrap();
    let text = conn.read_response(false).unwrap().text();
    let hex: Vec<&str> = text.split_whitespace().collect();
    // "/na" 0xEF "ve.txt" "|" "caf" 0xE9
    let expected = "2f 6e 61 ef 76 65 2e 74 78 74 7c 63 61 66 e9";
    assert_eq!(hex.join(" "), expected);
}

#[test]
fn flask_under_wsgiref_cgi_handler_reads_a_chunked_body() {
    // Werkzeug reads nothing when HTTP_TRANSFER_ENCODING says chunked: the
    // body reaches the program whole, with CONTENT_LENGTH, and no such header.
    let program = r#"
from wsgiref.handlers import CGIHandler
from flask import Flask, request

app = Flask(__name__)

@app.post("/echo")
def echo():
    return "length=%d body=%s" % (len(request.get_data()), request.get_data().decode())

CGIHandler().run(app)
"#;
    let launcher = script("flask.cgi", "");
    let py = launcher.with_file_name("flask_app.py");
    std::fs::write(&py, program).unwrap();
    let python = support::framework_venv().join("bin").join("python");
    std::fs::write(&launcher, format!("#!/bin/sh\nexec {} {}\n", python.display(), py.display())).unwrap();
    let server = serve(CgiProgram::new(launcher).pass_env("PATH"));
    let mut conn = server.connect();
    conn.send(b"POST /cgi-bin/app.cgi/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwsgi\r\n5\r\n body\r\n0\r\n\r\n").unwrap();
    let resp = conn.read_response(false).unwrap();
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "length=9 body=wsgi body"));
}

#[test]
fn the_program_learns_scheme_addresses_and_paths_as_lighttpd_tells_them() {
    let s = script("vars", r#"printf 'Content-Type: text/plain\n\n'; /usr/bin/env | /usr/bin/sort"#);
    let program = || CgiProgram::new(s.clone()).document_root("/var/www");
    let plain = serve(program());
    let mut conn = plain.connect();
    conn.send(b"POST /cgi-bin/app.cgi HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
        .unwrap();
    let env = conn.read_response(false).unwrap().text();
    let env = env.lines().collect::<Vec<_>>();
    let has = |line: &str| env.contains(&line);
    assert!(has("REQUEST_SCHEME=http") && !env.iter().any(|l| l.starts_with("HTTPS=")), "{env:?}");
    assert!(has("SERVER_ADDR=127.0.0.1") && has("DOCUMENT_ROOT=/var/www"), "{env:?}");
    assert!(has(&format!("SCRIPT_FILENAME={}", s.display())), "{env:?}");
    assert!(
        !env.iter().any(|l| l.starts_with("HTTP_TRANSFER_ENCODING") || l.starts_with("HTTP_CONTENT_LENGTH")),
        "{env:?}"
    );
    // A trusted proxy said https: the program hears it.
    support::init_logger();
    let container = GatewayContainer::builder(program()).executor(Executor::thread_pool(2)).build();
    let proxied = TestServer::with_builder(
        squall::Server::builder().xheaders(true),
        Router::new().mount("/cgi-bin/app.cgi", container),
    );
    let env = proxied.request("GET", "/cgi-bin/app.cgi", &[("X-Forwarded-Proto", "https")], b"").text();
    assert!(env.lines().any(|l| l == "HTTPS=on") && env.lines().any(|l| l == "REQUEST_SCHEME=https"), "{env}");
}

#[test]
fn program_headers_are_bytes_folded_lines_join_and_its_connection_headers_stay_its_own() {
    let s = script(
        "heads",
        r#"printf 'Content-Type: text/plain\nContent-Disposition: attachment; filename="caf\351.txt"\nX-Folded: one\n  two\nConnection: close\nKeep-Alive: timeout=1\n\nbody'"#,
    );
    let server = serve(CgiProgram::new(s));
    let mut conn = server.connect();
    let resp = conn.request("GET", "/cgi-bin/app.cgi", &[], b"").unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers["content-disposition"].as_bytes(), b"attachment; filename=\"caf\xe9.txt\"", "Latin-1 kept");
    assert_eq!(resp.header("x-folded"), Some("one two"));
    assert_eq!(resp.header("keep-alive"), None);
    assert_eq!(resp.header("connection"), None, "the program's Connection: close is not the client's");
    assert_eq!(conn.request("GET", "/cgi-bin/app.cgi", &[], b"").unwrap().status, 200, "still open");
    let bad = script("badstatus", r#"printf 'Status: OK\nContent-Type: text/plain\n\nx'"#);
    assert_eq!(
        serve(CgiProgram::new(bad)).get("/cgi-bin/app.cgi").status,
        502,
        "a malformed Status is the program's failure"
    );
}

#[test]
fn the_programs_own_reason_phrase_is_kept() {
    use std::io::{Read, Write};
    let s = script("reason", r#"printf 'Status: 299 Fine Thanks\nContent-Type: text/plain\n\nok'"#);
    let server = serve(CgiProgram::new(s));
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.write_all(b"GET /cgi-bin/app.cgi HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 299 Fine Thanks\r\n"), "{raw}");
    let standard = script("standard", r#"printf 'Status: 404\nContent-Type: text/plain\n\nno'"#);
    let server = serve(CgiProgram::new(standard));
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.write_all(b"GET /cgi-bin/app.cgi HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 404 Not Found\r\n"), "no reason given: the standard one: {raw}");
}
