//! Python WSGI apps in the embedded interpreter, over loopback: PEP 3333
//! checked by the stdlib's validator, bytes as Latin-1 text, lazy
//! `start_response`, `write`, `exc_info`, `close`, bad app output, and the
//! barrier test for the executors.
#![cfg(feature = "python")]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::path::PathBuf;

use squall::gateway::{Executor, GatewayContainer};
use squall::python::WsgiApp;
use squall::testing::TestServer;
use squall::{Router, get};

fn apps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("python")
}

/// `target` on the test apps' path, in the framework virtualenv: a process
/// has one interpreter, so every app of this test process names the same.
fn builder(target: &str) -> squall::python::WsgiAppBuilder {
    WsgiApp::builder(target).path(apps_dir()).virtualenv(framework_venv())
}

fn load(callable: &str) -> WsgiApp {
    builder(&format!("apps:{callable}")).load().unwrap()
}

/// `apps:callable` mounted at `/py` beside a native route, on `executor`.
fn serve_on(callable: &str, executor: Executor) -> TestServer {
    support::init_logger();
    let container = GatewayContainer::builder(load(callable)).executor(executor).build();
    let router = Router::new().route("/native", get(|_req| async { "native" })).mount("/py", container);
    TestServer::start(router)
}

fn serve(callable: &str) -> TestServer {
    serve_on(callable, Executor::thread_pool(4))
}

fn environ_of(text: &str) -> std::collections::HashMap<String, String> {
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

#[test]
fn a_validated_app_answers_beside_a_native_route() {
    let server = serve("validated");
    let resp = server.get("/py/");
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "Hello, world!"));
    assert_eq!(server.get("/native").text(), "native");
    let resp = server.request("POST", "/py/echo", &[], b"posted body");
    assert_eq!(resp.text(), "posted body");
}

#[test]
fn pep3333_environ_values_are_latin1_text_of_the_request_bytes() {
    let server = serve("validated");
    let mut conn = server.connect();
    conn.send(b"GET /py/environ?q=%EF HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9\r\nX-Utf8: caf\xc3\xa9\r\n\r\n").unwrap();
    let resp = conn.read_response(false).unwrap();
    // The app answers its environ encoded as Latin-1: each byte as it came.
    let env = environ_of(&resp.body.iter().map(|&b| char::from(b)).collect::<String>());
    assert_eq!(env["SCRIPT_NAME"], "/py");
    assert_eq!(env["PATH_INFO"], "/environ");
    assert_eq!(env["QUERY_STRING"], "q=%EF");
    assert_eq!(env["HTTP_X_NAME"], "caf\u{e9}");
    assert_eq!(env["HTTP_X_UTF8"], "caf\u{c3}\u{a9}", "UTF-8 bytes arrive as two Latin-1 characters");
    assert_eq!(env["wsgi.url_scheme"], "http");

    let raw = server.get("/py/environ/na%EFve");
    let env = environ_of(&raw.body.iter().map(|&b| char::from(b)).collect::<String>());
    assert_eq!(env["PATH_INFO"], "/environ/na\u{ef}ve", "%EF is the byte 0xEF, never U+FFFD");
}

#[test]
fn wsgi_input_reads_lines_and_chunked_bodies_to_their_end() {
    let server = serve("validated");
    let mut conn = server.connect();
    conn.send(b"POST /py/lines HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\none\n\r\n8\r\ntwo\nthre\r\n2\r\ne\n\r\n0\r\n\r\n")
        .unwrap();
    assert_eq!(conn.read_response(false).unwrap().text(), "one\n|two\n|three\n");
    let big = vec![b'z'; 300_000]; // past the in-memory part: read back from a file
    let resp = server.request("POST", "/py/echo", &[], &big);
    assert_eq!(resp.body.len(), big.len());
    assert!(resp.body.iter().all(|&b| b == b'z'));
}

#[test]
fn wsgi_errors_lines_reach_the_log_at_info_under_the_apps_name() {
    assert_eq!(serve("validated").get("/py/errors").text(), "logged");
    let lines = support::wait_for_log("python-error-marker-7731");
    let (level, target, _) = lines.first().expect("the line is logged");
    assert_eq!((*level, target.as_str()), (log::Level::Info, "apps:validated"), "an app's news, not a warning");
}

#[test]
fn start_response_may_be_called_in_the_first_iteration() {
    let resp = serve("lazy").get("/py/");
    assert_eq!((resp.status.as_u16(), resp.header("x-lazy"), resp.text().as_str()), (200, Some("yes"), "lazy body"));
}

#[test]
fn the_write_callable_sends_before_the_returned_body() {
    assert_eq!(serve("legacy_write").get("/py/").text(), "written then returned");
}

#[test]
fn header_values_are_sent_as_latin1_bytes() {
    let server = serve("latin1_header");
    let mut conn = server.connect();
    conn.send(b"GET /py/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let resp = conn.read_response(false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers["x-name"].as_bytes(), b"caf\xe9");
}

#[test]
fn exc_info_before_the_first_byte_replaces_the_status() {
    let resp = serve("exc_info_before_body").get("/py/");
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (503, "replaced by the error page"));
}

#[test]
fn close_is_called_on_every_path() {
    let server = serve("closing");
    assert_eq!(server.get("/py/done?done-tag").text(), "complete");
    // Failing mid-body: the response is cut, and close still runs.
    let mut conn = server.connect();
    conn.send(b"GET /py/fails?failed-tag HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let _ = conn.read_to_close();
    let closed = load("closed");
    let check = GatewayContainer::builder(closed).executor(Executor::thread_pool(1)).build();
    let checker = TestServer::start(Router::new().mount("/", check));
    support::wait_until("both results were closed", || {
        let text = checker.get("/").text();
        text.contains("done-tag") && text.contains("failed-tag")
    });
}

#[test]
fn bad_app_output_is_a_500_with_a_log_line_never_a_panic() {
    let server = serve("broken");
    for (path, needle) in [
        ("/py/str-body", "yielded str, not bytes"),
        ("/py/bytes-status", "status must be str"),
        ("/py/crlf-header", "holds CR, LF or NUL"),
        ("/py/non-latin1-header", "is not Latin-1"),
        ("/py/raises", "python-raise-marker-4410"),
        ("/py/no-start", "never called start_response"),
    ] {
        let resp = server.get(path);
        assert_eq!(resp.status, 500, "{path}: {}", resp.text());
        assert!(!support::wait_for_log(needle).is_empty(), "{path}: no log line with {needle:?}");
    }
    assert_eq!(server.get("/native").text(), "native", "the server lives on");
}

#[test]
fn an_import_error_is_a_clear_startup_error_with_the_traceback() {
    let err = builder("no_such_module_xyz:app").load().unwrap_err();
    assert!(err.is_config());
    let text = err.to_string();
    assert!(text.contains("ModuleNotFoundError") && text.contains("no_such_module_xyz"), "{text}");
    let err = builder("apps:missing_callable").load().unwrap_err();
    assert!(err.to_string().contains("AttributeError"), "{err}");
    // The traceback reads as Python prints it, lines and all, also as
    // `main` prints an error (`{:?}`).
    let err = format!("{:?}", builder("broken_import:app").load().unwrap_err());
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines.contains(&"Traceback (most recent call last):"), "{err}");
    assert!(lines.iter().any(|l| l.trim_start().starts_with("File \"") && l.contains("broken_import.py")), "{err}");
    assert!(lines.last().is_some_and(|l| l.contains("No module named 'no_such_dependency_xyz'")), "{err}");
}

#[test]
fn barrier_python_calls_meet_on_pools_never_inline() {
    // Two concurrent calls wait for each other at a 2-party barrier: they
    // can only meet if the executor really runs them at once.
    for (name, executor, expected) in [
        ("inline", Executor::Inline, "alone"),
        ("pool", Executor::thread_pool(4), "met"),
        ("rayon", Executor::rayon(4), "met"),
    ] {
        let server = serve_on("barrier", executor);
        let addr = server.addr();
        let calls: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut conn = squall::testing::TestConnection::open(addr).unwrap();
                    conn.request("GET", "/py/", &[], b"").unwrap().text()
                })
            })
            .collect();
        let bodies: Vec<String> = calls.into_iter().map(|c| c.join().unwrap()).collect();
        assert_eq!(bodies, [expected, expected], "{name}");
    }
}

fn framework_venv() -> PathBuf {
    support::framework_venv()
}

fn load_framework(target: &str) -> WsgiApp {
    builder(target).load().unwrap()
}

/// A Flask app at `/flask` and a native route at `/native`, on one server.
fn flask_server() -> TestServer {
    support::init_logger();
    let flask = GatewayContainer::builder(load_framework("flask_app:app")).executor(Executor::thread_pool(4)).build();
    TestServer::start(Router::new().route("/native", get(|_req| async { "native" })).mount("/flask", flask))
}

#[test]
fn flask_json_form_and_urls_under_the_mount() {
    let server = flask_server();
    let resp = server.get("/flask/json");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(json, serde_json::json!({"framework": "flask", "script_name": "/flask", "path": "/json"}));
    let form =
        server.request("POST", "/flask/form", &[("Content-Type", "application/x-www-form-urlencoded")], b"name=ada");
    assert_eq!(form.text(), "hello ada");
    let mut conn = server.connect();
    conn.send(b"GET /flask/url HTTP/1.1\r\nHost: example.org:8080\r\n\r\n").unwrap();
    assert_eq!(conn.read_response(false).unwrap().text(), "http://example.org:8080/flask/json");
    assert_eq!(server.get("/native").text(), "native");
}

#[test]
fn flask_multipart_upload_and_a_chunked_request_stream() {
    let server = flask_server();
    let file = vec![b'q'; 100_000];
    let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"data.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        .to_vec();
    body.extend_from_slice(&file);
    body.extend_from_slice(b"\r\n--XyZ--\r\n");
    let resp = server.request("POST", "/flask/upload", &[("Content-Type", "multipart/form-data; boundary=XyZ")], &body);
    assert_eq!(resp.text(), "data.bin 100000 hi");

    // A chunked body reaches request.stream whole, with the length squall measured.
    let mut conn = server.connect();
    conn.send(b"POST /flask/stream-in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        .unwrap();
    assert_eq!(conn.read_response(false).unwrap().text(), "11 11");
}

#[test]
fn flask_streaming_response_chunks_arrive_before_it_ends() {
    use std::io::{Read, Write};
    let server = flask_server();
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET /flask/generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    // The generator waits after its first chunk until told to go on: the
    // first chunk must reach the client before the response ends.
    let mut got = support::read_until_contains(&mut stream, "first\n");
    assert_eq!(server.get("/flask/release").text(), "released");
    stream.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got);
    let at = |part: &str| text.find(part).unwrap_or_else(|| panic!("no {part:?} in {text:?}"));
    let (first, second, third) = (at("first"), at("second"), at("third"));
    assert!(first < second && second < third, "{text}");
}

#[test]
fn flask_404_405_and_500_are_flask_s_own() {
    let server = flask_server();
    assert_eq!(server.get("/flask/nowhere").status, 404);
    let resp = server.get("/flask/only-post");
    assert_eq!((resp.status.as_u16(), resp.header("allow").is_some()), (405, true));
    assert_eq!(server.get("/flask/boom").status, 500);
    assert!(!support::wait_for_log("flask-boom-marker-2291").is_empty(), "Flask logs its exception to wsgi.errors");
}

/// The cookie `name` a response sets, as `name=value`.
fn set_cookie(resp: &squall::testing::TestResponse, name: &str) -> String {
    resp.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(';').next().filter(|pair| pair.starts_with(&format!("{name}="))))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", resp.headers))
        .to_owned()
}

/// A Django project (admin, sessions, CSRF, SQLite) at `/django`, beside a native route.
fn django_server() -> TestServer {
    static DATABASE: std::sync::Once = std::sync::Once::new();
    support::init_logger();
    let venv = framework_venv();
    DATABASE.call_once(|| {
        let setup = apps_dir().join("django_site").join("setup_db.py");
        let status = std::process::Command::new(venv.join("bin").join("python")).arg(setup).status().unwrap();
        assert!(status.success(), "the Django test database could not be made");
    });
    let django = GatewayContainer::builder(load_framework("django_site.wsgi:application"))
        .executor(Executor::thread_pool(4))
        .build();
    TestServer::start(Router::new().route("/native", get(|_req| async { "native" })).mount("/django", django))
}

#[test]
fn django_sees_its_mount_and_streams() {
    let server = django_server();
    let mut conn = server.connect();
    conn.send(b"GET /django/where/ HTTP/1.1\r\nHost: example.org\r\n\r\n").unwrap();
    assert_eq!(conn.read_response(false).unwrap().text(), "/django /where/ http://example.org/django/where/");
    assert_eq!(server.get("/django/stream/").text(), "part 0\npart 1\npart 2\n");
    assert_eq!(server.get("/native").text(), "native");
}

#[test]
fn django_admin_login_with_its_csrf_token() {
    let server = django_server();
    let page = server.get("/django/admin/login/?next=/django/admin/");
    assert_eq!(page.status, 200);
    let csrf_cookie = set_cookie(&page, "csrftoken");
    let html = page.text();
    let marker = "name=\"csrfmiddlewaretoken\" value=\"";
    let start = html.find(marker).expect("a CSRF field in the form") + marker.len();
    let token = &html[start..start + html[start..].find('"').unwrap()];

    let form = format!("csrfmiddlewaretoken={token}&username=admin&password=squall-test-pw&next=/django/admin/");
    let headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", csrf_cookie.as_str())];
    let login = server.request("POST", "/django/admin/login/?next=/django/admin/", &headers, form.as_bytes());
    assert_eq!(login.status, 302, "{}", login.text());
    assert_eq!(login.header("location"), Some("/django/admin/"));
    let session = set_cookie(&login, "sessionid");

    let admin = server.request("GET", "/django/admin/", &[("Cookie", session.as_str())], b"");
    assert_eq!(admin.status, 200);
    assert!(admin.text().contains("Site administration"), "{}", admin.text());

    // Without the token, Django's CSRF check refuses the same form.
    let forged = "username=admin&password=squall-test-pw";
    let refused = server.request("POST", "/django/admin/login/", &headers, forged.as_bytes());
    assert_eq!(refused.status, 403);
}

#[test]
fn exc_info_after_the_first_byte_raises_again_and_cuts_the_response() {
    let server = serve("exc_info_after_body");
    let mut conn = server.connect();
    conn.send(b"GET /py/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let got = String::from_utf8_lossy(&conn.read_to_close().unwrap()).into_owned();
    // Had start_response not raised, the app would go on to "never sent".
    assert!(!got.contains("never sent"), "{got}");
    if got.starts_with("HTTP/1.1 200 OK\r\n") {
        // The head went out: the response is cut, never completed.
        assert!(got.contains("first part") && !got.ends_with("0\r\n\r\n"), "the response must be cut: {got}");
    } else {
        // The server had not written the head yet: a complete 500 instead.
        assert!(got.starts_with("HTTP/1.1 500 "), "{got}");
    }
    assert!(!support::wait_for_log("python-late-error-5150").is_empty());
}

/// Starts `examples/wsgi.rs` on a free port with `args`; its address.
#[cfg(unix)]
fn wsgi_process(args: &[&str]) -> (std::process::Child, std::net::SocketAddr) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(support::example_binary("wsgi", "python"))
        .arg("127.0.0.1:0")
        .args(["--path", apps_dir().to_str().unwrap(), "--access-log", "off"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (child, support::announced_address(&line).expect("the address it serves"))
}

#[cfg(unix)]
#[test]
fn sigterm_lets_the_python_call_in_flight_finish_then_exits() {
    use rustix::process::{Pid, Signal, kill_process};
    let (mut child, addr) = wsgi_process(&["--app", "apps:sleepy"]);
    let mut busy = squall::testing::TestConnection::open(addr).unwrap();
    busy.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150)); // let the call start
    kill_process(Pid::from_raw(child.id() as i32).unwrap(), Signal::TERM).unwrap();
    let resp = busy.read_response(false).unwrap();
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "multiprocess=False"));
    assert_eq!(resp.header("connection"), Some("close"));
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[cfg(unix)]
#[test]
fn worker_processes_each_run_an_interpreter_and_say_so() {
    let (mut child, addr) = wsgi_process(&["--app", "apps:sleepy", "--workers", "2"]);
    let resp = squall::testing::TestConnection::open(addr).unwrap().request("GET", "/", &[], b"").unwrap();
    assert_eq!(resp.text(), "multiprocess=True");
    let supervisor = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(supervisor, rustix::process::Signal::TERM).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn flask_reads_a_streamed_chunked_body_to_its_end() {
    // With streaming on, a chunked body has no CONTENT_LENGTH: Werkzeug reads
    // it because wsgi.input says it ends at the body's end.
    support::init_logger();
    let flask = GatewayContainer::builder(load_framework("flask_app:app"))
        .executor(Executor::thread_pool(2))
        .stream_request_body(true)
        .build();
    let server = TestServer::start(Router::new().mount("/flask", flask));
    let mut conn = server.connect();
    conn.send(b"POST /flask/stream-in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        .unwrap();
    assert_eq!(conn.read_response(false).unwrap().text(), "11 None");
}

/// `examples/wsgi --app apps:interpreter` with `VIRTUAL_ENV=venv`: what the
/// app reports of its interpreter, or how start-up failed (exit status and
/// standard error).
fn interpreter_in(venv: &std::path::Path) -> Result<serde_json::Value, (Option<i32>, String)> {
    use std::io::{BufRead, Read};
    let mut child = std::process::Command::new(support::example_binary("wsgi", "python"))
        .args(["127.0.0.1:0", "--app", "apps:interpreter", "--path", apps_dir().to_str().unwrap()])
        .env("VIRTUAL_ENV", venv)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let Some(addr) = support::announced_address(&line) else {
        let status = child.wait().unwrap();
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        return Err((status.code(), text));
    };
    let resp = squall::testing::TestConnection::open(addr).unwrap().request("GET", "/", &[], b"").unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut log = String::new();
    stderr.read_to_string(&mut log).unwrap();
    assert!(log.contains("squall::python] Python 3."), "the interpreter is named at start-up: {log}");
    Ok(serde_json::from_slice(&resp.body).unwrap())
}

/// What the virtualenv's own `python` reports of itself.
fn own_python(venv: &std::path::Path) -> serde_json::Value {
    let script = "import json, sys\ntry:\n import six; v = six.__version__\nexcept ImportError: v = None\n\
                  print(json.dumps({'prefix': sys.prefix, 'executable': sys.executable, 'path': sys.path[1:], 'six': v}))";
    let out = std::process::Command::new(venv.join("bin").join("python")).args(["-c", script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A virtualenv of the system interpreter without pip (quick to make).
fn bare_venv(name: &str, system_site_packages: bool) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("squall-venv-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut make = std::process::Command::new("/usr/bin/python3");
    make.args(["-m", "venv", "--without-pip"]);
    if system_site_packages {
        make.arg("--system-site-packages");
    }
    assert!(make.arg(&dir).status().unwrap().success(), "python3 -m venv {}", dir.display());
    dir
}

/// Debian's six (python3-six, installed by .ci/run) is older than the one
/// pinned in the framework virtualenv.
fn system_six() -> String {
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import six; print(six.__version__)"])
        .output()
        .unwrap();
    assert!(out.status.success(), "the system's six (python3-six) is installed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The app's report without its own directory at the front of `sys.path`.
fn as_its_own_python_sees_it(mut app: serde_json::Value) -> serde_json::Value {
    let path = app["path"].as_array_mut().unwrap();
    assert_eq!(path[0], apps_dir().to_str().unwrap(), "--path comes first");
    path.remove(0);
    app.as_object_mut().unwrap().remove("exec_prefix");
    app
}

#[test]
fn a_virtualenv_wins_over_the_system_packages_as_its_own_python() {
    let venv = framework_venv();
    let app = interpreter_in(&venv).unwrap();
    assert_eq!(app["six"], "1.17.0", "the virtualenv's six, not the system's {}", system_six());
    assert_eq!((app["prefix"].as_str(), app["exec_prefix"].as_str()), (venv.to_str(), venv.to_str()));
    assert_eq!(app["executable"].as_str(), venv.join("bin").join("python").to_str());
    assert_eq!(as_its_own_python_sees_it(app), own_python(&venv), "prefix, executable, sys.path and six alike");
}

#[test]
fn system_site_packages_are_seen_only_when_the_virtualenv_says_so() {
    let shared = bare_venv("shared", true);
    let app = interpreter_in(&shared).unwrap();
    assert_eq!(app["six"].as_str(), Some(system_six().as_str()), "include-system-site-packages = true");
    assert_eq!(as_its_own_python_sees_it(app), own_python(&shared));
    let isolated = bare_venv("isolated", false);
    let app = interpreter_in(&isolated).unwrap();
    assert_eq!(app["six"], serde_json::Value::Null, "the system's packages are hidden");
    assert_eq!(as_its_own_python_sees_it(app), own_python(&isolated));
    let _ = (std::fs::remove_dir_all(shared), std::fs::remove_dir_all(isolated));
}

#[test]
fn a_missing_virtualenv_or_one_of_another_python_stops_start_up_with_a_clear_error() {
    let missing = std::env::temp_dir().join("squall-no-such-venv");
    let (code, stderr) = interpreter_in(&missing).unwrap_err();
    assert_eq!(code, Some(1));
    assert!(stderr.contains(&format!("virtualenv {}: no such directory", missing.display())), "{stderr}");
    let other = bare_venv("other-python", false);
    let cfg = std::fs::read_to_string(other.join("pyvenv.cfg")).unwrap();
    let cfg: String = cfg
        .lines()
        .map(|l| if l.starts_with("version") { "version = 3.99.1\n".into() } else { format!("{l}\n") })
        .collect();
    std::fs::write(other.join("pyvenv.cfg"), cfg).unwrap();
    let (code, stderr) = interpreter_in(&other).unwrap_err();
    assert_eq!(code, Some(1));
    assert!(stderr.contains("made by Python 3.99.1") && stderr.contains("embeds Python 3."), "both versions: {stderr}");
    let _ = std::fs::remove_dir_all(other);
}
