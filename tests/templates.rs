//! Templates over real sockets: autoescaping, the helpers every template
//! gets, reload on change in debug only; and the webapp example's login
//! contract, black-box.
#![cfg(feature = "templates")]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::path::PathBuf;

use squall::app::{App, Templates, context, render};
use squall::testing::{TestConnection, TestServer};
use squall::web::CookieSecret;
use squall::{Request, Router, get};

/// A directory of its own for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("squall-templates-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::create_dir_all(dir.join("static")).unwrap();
        Scratch(dir)
    }

    fn write(&self, path: &str, text: &str) {
        std::fs::write(self.0.join(path), text).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn app(scratch: &Scratch, debug: bool) -> App {
    let page = |req: Request| async move {
        let name = req.query_argument("name").unwrap_or_default();
        render(&req, "page.html", context! { name, trusted => "<em>ok</em>" })
    };
    let text = |req: Request| async move { render(&req, "plain.txt", context! { name => "<b>" }) };
    let missing = |req: Request| async move { render(&req, "missing.html", context! {}) };
    let router = Router::new()
        .route("/page", get(page))
        .route("/text", get(text))
        .route("/missing", get(missing))
        .named_route("item", r"/items/(\d+)", get(|_req| async { "item" }));
    App::new(router)
        .cookie_secret(CookieSecret::new("secret"))
        .xsrf_cookies(true)
        .current_user(|req| Box::pin(async move { req.cookie("demo-user") }))
        .static_path(scratch.0.join("static"))
        .templates(Templates::new(scratch.0.join("templates")))
        .debug(debug)
}

#[test]
fn html_is_escaped_and_every_helper_is_there() {
    support::init_logger();
    let scratch = Scratch::new("helpers");
    scratch.write(
        "templates/page.html",
        "{{ name }}|{{ trusted|safe }}|{{ current_user }}|{{ static_url('app.css') }}|{{ reverse_url('item', 7) }}|{{ request.path }}\n{{ xsrf_form_html() }}",
    );
    scratch.write("templates/plain.txt", "{{ name }}");
    scratch.write("static/app.css", "body { color: black }");
    let server = TestServer::start(app(&scratch, false));

    let resp = server.request("GET", "/page?name=%3Cscript%3Ex%3C%2Fscript%3E", &[("Cookie", "demo-user=ada")], b"");
    assert_eq!(resp.header("content-type"), Some("text/html; charset=utf-8"));
    let text = resp.text();
    let (line, form) = text.split_once('\n').unwrap();
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields[0], "&lt;script&gt;x&lt;&#x2f;script&gt;", "autoescaped");
    assert_eq!(fields[1], "<em>ok</em>", "|safe is not escaped");
    assert_eq!(fields[2], "ada");
    // URLs are escaped too (minijinja writes `/` as `&#x2f;`, which a browser reads back).
    assert!(fields[3].starts_with("&#x2f;static&#x2f;app.css?v="), "{}", fields[3]);
    assert_eq!(fields[4], "&#x2f;items&#x2f;7");
    assert_eq!(fields[5], "&#x2f;page");
    assert!(form.starts_with(r#"<input type="hidden" name="_xsrf" value="2|"#), "{form}");
    assert!(resp.headers.get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("_xsrf=2|")));
    assert_eq!(server.get("/text").text(), "<b>", "a .txt template is not HTML-escaped");

    // The version follows the file's content.
    let before = server.get("/page").text();
    scratch.write("static/app.css", "body { color: red }");
    let after = server.get("/page").text();
    let version = |t: &str| t.split("v=").nth(1).unwrap().split('|').next().unwrap().to_owned();
    assert_ne!(version(&before), version(&after));
}

#[test]
fn templates_reload_in_debug_only_and_errors_are_500() {
    support::init_logger();
    for debug in [false, true] {
        let scratch = Scratch::new(if debug { "debug" } else { "prod" });
        scratch.write("templates/page.html", "first");
        let server = TestServer::start(app(&scratch, debug));
        assert_eq!(server.get("/page").text(), "first");
        std::thread::sleep(std::time::Duration::from_millis(20));
        scratch.write("templates/page.html", "second, longer");
        let expected = if debug { "second, longer" } else { "first" };
        assert_eq!(server.get("/page").text(), expected, "debug={debug}");
        let missing = server.get("/missing");
        assert_eq!(missing.status, 500);
        assert_eq!(missing.text().contains("missing.html"), debug, "the template error only in debug");
    }
}

#[test]
fn render_outside_an_app_with_templates_is_a_500_not_a_panic() {
    support::init_logger();
    let router = Router::new().route("/", get(|req: Request| async move { render(&req, "x.html", context! {}) }));
    let server = TestServer::start(router);
    assert_eq!(server.get("/").status, 500);
}

#[test]
fn the_webapp_example_keeps_its_login_contract() {
    support::init_logger();
    let secret = "the webapp test's secret";
    let webapp = support::example("webapp", "templates", &["--cookie-secret", secret]);
    let request = |method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]| {
        TestConnection::open(webapp.addr).unwrap().request(method, path, headers, body).unwrap()
    };
    let home = request("GET", "/", &[], b"");
    assert_eq!((home.status.as_u16(), home.header("location")), (302, Some("/login?next=%2F")));

    let page = request("GET", "/login?next=%2F", &[], b"");
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains(r#"name="username""#) && html.contains(r#"name="_xsrf""#), "{html}");
    let cookie = page.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    assert!(cookie.starts_with("_xsrf=2|"), "{cookie}");
    let start = html.find(r#"name="_xsrf" value=""#).unwrap() + 20;
    let token = html[start..].split('"').next().unwrap().replace('|', "%7C");

    let form = [("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", cookie.as_str())];
    let refused = request("POST", "/login", &form, b"username=ada&next=%2F");
    assert_eq!(refused.status, 403, "no token");
    let body = format!("username=ada&next=%2F&_xsrf={token}");
    let login = request("POST", "/login", &form, body.as_bytes());
    assert_eq!((login.status.as_u16(), login.header("location")), (302, Some("/")));
    let user = login.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    let signed = user.strip_prefix("user=").unwrap();
    assert_eq!(CookieSecret::new(secret).verify("user", signed, 31.0), Some(b"ada".to_vec()), "signed with the secret");

    let greeted = request("GET", "/", &[("Cookie", &user)], b"");
    assert_eq!(greeted.status, 200);
    assert!(greeted.text().contains(r#"Hello, <span id="user">ada</span>!"#), "{}", greeted.text());
    assert_eq!(greeted.header("x-frame-options"), Some("DENY"), "the example's layer");
    let away = request(
        "POST",
        "/login",
        &form,
        format!("username=ada&next=https%3A%2F%2Fevil.example&_xsrf={token}").as_bytes(),
    );
    assert_eq!(away.header("location"), Some("/"), "no open redirect");
}
