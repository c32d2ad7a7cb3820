//! Byte compatibility with Tornado, proven against a real Tornado app
//! (`tests/python/tornado_interop.py`, Tornado from the pinned virtualenv):
//! signed cookies and XSRF tokens made by either side are accepted by the
//! other, with one secret and with rotated key versions.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};

use squall::app::App;
use squall::testing::{TestConnection, TestResponse, TestServer};
use squall::web::CookieSecret;
use squall::{HttpError, Request, Response, Router, get, post};

/// A running Tornado app, killed when dropped.
struct Tornado {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Tornado {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tornado(secret_args: &[&str]) -> Tornado {
    use std::io::BufRead;
    let python = support::framework_venv().join("bin").join("python");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/tornado_interop.py");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .args(secret_args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "listening", "Tornado did not start");
    Tornado { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) }
}

/// The same four routes as the Tornado app, served by squall.
fn squall_app(secret: CookieSecret) -> App {
    let router = Router::new()
        .route("/form", get(|req: Request| async move { Ok::<_, HttpError>(Response::html(req.xsrf_form_html()?)) }))
        .route("/post", post(|_req| async { "accepted" }))
        .route(
            "/set",
            get(|req: Request| async move {
                let cookie = req.signed_cookie_for("user", &req.query_argument("value")?)?;
                Ok::<_, HttpError>(Response::text("set").with_cookie(cookie))
            }),
        )
        .route(
            "/get",
            get(|req: Request| async move {
                Ok::<_, HttpError>(req.signed_cookie("user")?.unwrap_or_else(|| "none".to_owned()))
            }),
        );
    App::new(router).cookie_secret(secret).xsrf_cookies(true)
}

fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> TestResponse {
    TestConnection::open(addr).unwrap().request(method, path, headers, body).unwrap()
}

/// `name=value` of the `Set-Cookie` header for cookie `name`.
fn set_cookie(resp: &TestResponse, name: &str) -> String {
    let prefix = format!("{name}=");
    let header = resp
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} cookie set: {:?}", resp.headers));
    header.split(';').next().unwrap().to_owned()
}

/// The `value` of the `_xsrf` hidden field in a page.
fn form_token(page: &str) -> String {
    let start = page.find("value=\"").expect("a value attribute") + 7;
    page[start..].split('"').next().unwrap().to_owned()
}

#[test]
fn a_cookie_tornado_signed_is_read_by_squall_and_the_other_way_round() {
    support::init_logger();
    let tornado = tornado(&["a shared secret"]);
    let squall = TestServer::start(squall_app(CookieSecret::new("a shared secret")));

    let from_tornado = set_cookie(&request(tornado.addr, "GET", "/set?value=ada", &[], b""), "user");
    println!("Tornado signed: {from_tornado}");
    let read = request(squall.addr(), "GET", "/get", &[("Cookie", &from_tornado)], b"");
    assert_eq!(read.text(), "ada", "squall reads Tornado's cookie");

    let from_squall = set_cookie(&request(squall.addr(), "GET", "/set?value=grace", &[], b""), "user");
    println!("squall signed: {from_squall}");
    let read = request(tornado.addr, "GET", "/get", &[("Cookie", &from_squall)], b"");
    assert_eq!(read.text(), "grace", "Tornado reads squall's cookie");

    // A secret that differs refuses both.
    let stranger = TestServer::start(squall_app(CookieSecret::new("another secret")));
    assert_eq!(request(stranger.addr(), "GET", "/get", &[("Cookie", &from_tornado)], b"").text(), "none");
    let tampered = from_squall.replacen("Z3JhY2U=", "Z3JhY2V=", 1); // "grace" → "grach"
    assert_ne!(tampered, from_squall);
    assert_eq!(request(tornado.addr, "GET", "/get", &[("Cookie", &tampered)], b"").text(), "none");
}

#[test]
fn rotated_key_versions_agree_with_tornados_dict_secret() {
    support::init_logger();
    let tornado = tornado(&["1=old secret,2=new secret", "2"]);
    let both = TestServer::start(squall_app(CookieSecret::rotating([(1, "old secret"), (2, "new secret")], 2)));
    let old_only = TestServer::start(squall_app(CookieSecret::rotating([(1, "old secret")], 1)));

    let from_tornado = set_cookie(&request(tornado.addr, "GET", "/set?value=ada", &[], b""), "user");
    assert!(from_tornado.starts_with("user=\"2|1:2|") || from_tornado.starts_with("user=2|1:2|"), "{from_tornado}");
    assert_eq!(request(both.addr(), "GET", "/get", &[("Cookie", &from_tornado)], b"").text(), "ada");
    assert_eq!(request(old_only.addr(), "GET", "/get", &[("Cookie", &from_tornado)], b"").text(), "none");

    // squall signing with version 1 (the old key): Tornado still accepts it.
    let from_squall = set_cookie(&request(old_only.addr(), "GET", "/set?value=grace", &[], b""), "user");
    assert_eq!(request(tornado.addr, "GET", "/get", &[("Cookie", &from_squall)], b"").text(), "grace");
}

#[test]
fn xsrf_tokens_from_either_side_pass_the_others_check() {
    support::init_logger();
    let tornado = tornado(&["a shared secret"]);
    let squall = TestServer::start(squall_app(CookieSecret::new("a shared secret")));
    let form = [("Content-Type", "application/x-www-form-urlencoded")];

    // Tornado's cookie and form token, posted to squall.
    let page = request(tornado.addr, "GET", "/form", &[], b"");
    let (cookie, token) = (set_cookie(&page, "_xsrf"), form_token(&page.text()));
    println!("Tornado's _xsrf cookie: {cookie}\nTornado's form token: {token}");
    let body = format!("_xsrf={}", token.replace('|', "%7C"));
    let resp = request(squall.addr(), "POST", "/post", &[form[0], ("Cookie", &cookie)], body.as_bytes());
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "accepted"));
    let resp = request(squall.addr(), "POST", "/post", &[("X-Xsrftoken", &token), ("Cookie", &cookie)], b"");
    assert_eq!(resp.status, 200, "the header form");

    // squall's cookie and form token, posted to Tornado.
    let page = request(squall.addr(), "GET", "/form", &[], b"");
    let (cookie, token) = (set_cookie(&page, "_xsrf"), form_token(&page.text()));
    println!("squall's _xsrf cookie: {cookie}\nsquall's form token: {token}");
    let body = format!("_xsrf={}", token.replace('|', "%7C"));
    let resp = request(tornado.addr, "POST", "/post", &[form[0], ("Cookie", &cookie)], body.as_bytes());
    assert_eq!((resp.status.as_u16(), resp.text().as_str()), (200, "accepted"));
    let resp = request(tornado.addr, "POST", "/post", &[("X-Csrftoken", &token), ("Cookie", &cookie)], b"");
    assert_eq!(resp.status, 200, "the header form");

    // Each side refuses a token of another cookie.
    let other = request(squall.addr(), "GET", "/form", &[], b"");
    let other_token = form_token(&other.text());
    let resp = request(tornado.addr, "POST", "/post", &[("X-Xsrftoken", &other_token), ("Cookie", &cookie)], b"");
    assert_eq!(resp.status, 403);
    let resp = request(squall.addr(), "POST", "/post", &[("X-Xsrftoken", &other_token), ("Cookie", &cookie)], b"");
    assert_eq!(resp.status, 403);
}
