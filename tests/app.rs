//! An `App` over real sockets: cookies (RFC 6265) in and out, signed
//! cookies refused when they should be, XSRF on every unsafe method, login
//! redirects, middleware order and early answers, error pages in debug and
//! production.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::sync::{Arc, Mutex};

use http::StatusCode;
use squall::app::{App, Next, RequireLogin, authenticated, local_path, middleware_fn, xsrf_exempt};
use squall::cookie::{Cookie, SameSite};
use squall::gateway::{AppIter, Executor, GatewayContainer};
use squall::testing::{TestResponse, TestServer};
use squall::web::CookieSecret;
use squall::{HttpError, Request, Response, Router, get, post};

const SECRET: &str = "a test secret of some length";

fn router() -> Router {
    Router::new()
        .route("/", get(|req: Request| async move { format!("hello {}", req.current_user().unwrap_or("nobody")) }))
        .route(
            "/cookies",
            get(|req: Request| async move {
                let seen: Vec<String> =
                    req.cookies().iter().map(|c| format!("{}={}", c.name(), c.value_trimmed())).collect();
                let mut resp = Response::text(seen.join(","));
                resp.set_cookie(
                    Cookie::build(("prefs", "dark"))
                        .path("/app")
                        .domain("example.com")
                        .max_age(squall::cookie::time::Duration::hours(1))
                        .secure(true)
                        .http_only(true)
                        .same_site(SameSite::Strict)
                        .build(),
                );
                resp.set_cookie(Cookie::new("second", "2"));
                resp.clear_cookie("old", "/");
                resp
            }),
        )
        .route(
            "/login",
            get(|req: Request| async move { Ok::<_, HttpError>(Response::html(req.xsrf_form_html()?)) }).post(
                |mut req: Request| async move {
                    let form = req.form().await?;
                    let name = form.require("username")?.to_owned();
                    let next = form.get("next").and_then(local_path).unwrap_or("/").to_owned();
                    let cookie = req.signed_cookie_for("user", &name)?;
                    Ok::<_, HttpError>(Response::redirect(&next).with_cookie(cookie))
                },
            ),
        )
        .route(
            "/change",
            post(|_req| async { "changed" })
                .put(|_req| async { "changed" })
                .patch(|_req| async { "changed" })
                .delete(|_req| async { "changed" }),
        )
        .route("/hook", xsrf_exempt(post(|_req| async { "hooked" })))
        .route("/private", authenticated(get(|_req| async { "secret" }).post(|_req| async { "secret" })))
        .route(
            "/fail",
            get(|_req| async { Err::<String, _>(HttpError::bad_request("bad <input>").with_log("the field x was 7")) }),
        )
        .route(
            "/panic",
            get(|req: Request| async move {
                assert!(req.header("x-never").is_some(), "the handler fell over");
                "unreachable"
            }),
        )
        .route("/teapot", get(|_req| async { Response::text("short and stout").with_status(StatusCode::IM_A_TEAPOT) }))
        .mount(
            "/legacy",
            GatewayContainer::builder(
                |_environ: &mut squall::gateway::Environ, start: &squall::gateway::StartResponse| {
                    start.start("200 OK", [("Content-Type", "text/plain")])?;
                    Ok(AppIter::once("legacy took it"))
                },
            )
            .executor(Executor::thread_pool(2))
            .build(),
        )
}

fn app() -> App {
    App::new(router())
        .cookie_secret(CookieSecret::new(SECRET))
        .xsrf_cookies(true)
        .current_user(|req| Box::pin(async move { req.signed_cookie("user").ok().flatten() }))
}

fn start(app: App) -> TestServer {
    support::init_logger();
    TestServer::start(app)
}

fn set_cookies(resp: &TestResponse) -> Vec<String> {
    resp.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// A fresh `_xsrf` cookie (as `name=value`) and a form token for it.
fn xsrf(server: &TestServer) -> (String, String) {
    let page = server.get("/login");
    let cookie = set_cookies(&page).into_iter().find(|c| c.starts_with("_xsrf=")).expect("the _xsrf cookie is set");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let html = page.text();
    let start = html.find("value=\"").unwrap() + 7;
    (cookie, html[start..].split('"').next().unwrap().to_owned())
}

#[test]
fn rfc6265_cookies_are_parsed_from_every_header_and_set_with_every_attribute() {
    let server = start(app());
    let mut conn = server.connect();
    conn.send(b"GET /cookies HTTP/1.1\r\nHost: t\r\nCookie: a=1; b=\"quoted\"\r\nCookie: novalue; c=3=3\r\n\r\n")
        .unwrap();
    let resp = conn.read_response(false).unwrap();
    assert_eq!(resp.text(), "a=1,b=quoted,c=3=3", "§5.4: several headers; quotes stripped; a pair without = skipped");
    let set = set_cookies(&resp);
    assert_eq!(set.len(), 3, "{set:?}");
    let prefs = &set[0];
    for attribute in
        ["prefs=dark", "Path=/app", "Domain=example.com", "Max-Age=3600", "Secure", "HttpOnly", "SameSite=Strict"]
    {
        assert!(prefs.split("; ").any(|a| a == attribute), "{attribute} missing from {prefs}");
    }
    assert_eq!(set[1], "second=2");
    assert!(set[2].starts_with("old=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"), "{}", set[2]);
}

#[test]
fn a_signed_cookie_that_was_tampered_with_or_signed_elsewhere_is_no_user() {
    let server = start(app());
    let (xsrf_cookie, token) = xsrf(&server);
    let body = format!("username=ada&_xsrf={}", token.replace('|', "%7C"));
    let form = [("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", xsrf_cookie.as_str())];
    let login = server.request("POST", "/login", &form, body.as_bytes());
    assert_eq!(login.status, 302);
    let user = set_cookies(&login).into_iter().find(|c| c.starts_with("user=")).unwrap();
    assert!(user.contains("; HttpOnly") && user.contains("; Path=/") && user.contains("; Expires="), "{user}");
    let user = user.split(';').next().unwrap().to_owned();
    assert_eq!(server.request("GET", "/", &[("Cookie", &user)], b"").text(), "hello ada");

    let tampered = user.replace("4:YWRh", "4:ZXZl"); // "ada" → "eve", same length
    assert_ne!(tampered, user);
    assert_eq!(server.request("GET", "/", &[("Cookie", &tampered)], b"").text(), "hello nobody");
    let truncated = &user[..user.len() - 10];
    assert_eq!(server.request("GET", "/", &[("Cookie", truncated)], b"").text(), "hello nobody");
    let foreign = format!("user={}", CookieSecret::new("another secret").sign("user", b"ada"));
    assert_eq!(server.request("GET", "/", &[("Cookie", &foreign)], b"").text(), "hello nobody");
    let renamed = format!("user={}", CookieSecret::new(SECRET).sign("session", b"ada"));
    assert_eq!(server.request("GET", "/", &[("Cookie", &renamed)], b"").text(), "hello nobody", "bound to its name");
    let expired = format!("user={}", CookieSecret::new(SECRET).sign_at("user", b"ada", 1_000_000_000));
    assert_eq!(server.request("GET", "/", &[("Cookie", &expired)], b"").text(), "hello nobody");
}

#[test]
fn xsrf_guards_every_unsafe_method_and_accepts_field_and_headers() {
    let server = start(app());
    let (cookie, token) = xsrf(&server);
    let field = format!("_xsrf={}", token.replace('|', "%7C"));
    let urlencoded = ("Content-Type", "application/x-www-form-urlencoded");
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let none = server.request(method, "/change", &[("Cookie", &cookie)], b"");
        assert_eq!(none.status, 403, "{method} without a token");
        let by_field = server.request(method, "/change", &[urlencoded, ("Cookie", &cookie)], field.as_bytes());
        assert_eq!((by_field.status.as_u16(), by_field.text()), (200, "changed".to_owned()), "{method} with _xsrf");
        for header in ["X-Xsrftoken", "X-Csrftoken"] {
            let by_header = server.request(method, "/change", &[(header, &token), ("Cookie", &cookie)], b"");
            assert_eq!(by_header.status, 200, "{method} with {header}");
        }
    }
    // Mismatches: another cookie's token, no cookie at all, garbage.
    let (_, other_token) = xsrf(&server);
    let resp = server.request("POST", "/change", &[("X-Xsrftoken", &other_token), ("Cookie", &cookie)], b"");
    assert_eq!(resp.status, 403);
    let resp = server.request("POST", "/change", &[("X-Xsrftoken", &token)], b"");
    assert_eq!(resp.status, 403, "no _xsrf cookie");
    let resp = server.request("POST", "/change", &[("X-Xsrftoken", "2|zz|zz|1"), ("Cookie", &cookie)], b"");
    assert_eq!(resp.status, 403);
    // Each page's token is masked afresh, and still matches the one cookie.
    let page = server.request("GET", "/login", &[("Cookie", &cookie)], b"");
    assert!(set_cookies(&page).is_empty(), "a client with a cookie is not sent another");
    assert!(!page.text().contains(&token), "BREACH: the token never repeats");
    // Not checked: safe methods, an exempt route, a gateway app.
    assert_eq!(server.get("/").status, 200);
    assert_eq!(server.request("POST", "/hook", &[], b"").text(), "hooked");
    assert_eq!(server.request("POST", "/legacy/x", &[], b"x").text(), "legacy took it");
}

#[test]
fn login_redirects_get_refuses_other_methods_and_next_stays_local() {
    let server = start(app().login_url("/login"));
    let resp = server.get("/private?tab=a%20b");
    assert_eq!(resp.status, 302);
    assert_eq!(resp.header("location"), Some("/login?next=%2Fprivate%3Ftab%3Da%2520b"));
    let (cookie, token) = xsrf(&server);
    let resp = server.request("POST", "/private", &[("X-Xsrftoken", &token), ("Cookie", &cookie)], b"");
    assert_eq!(resp.status, 403, "a POST is refused, not redirected");
    // Login follows a local next, never another site.
    let form = [("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", cookie.as_str())];
    let xsrf_field = token.replace('|', "%7C");
    for (next, expected) in [
        ("%2Fprivate%3Ftab%3D1", "/private?tab=1"),
        ("https%3A%2F%2Fevil.example%2F", "/"),
        ("%2F%2Fevil.example", "/"),
        ("%2F%5Cevil.example", "/"),
    ] {
        let body = format!("username=ada&next={next}&_xsrf={xsrf_field}");
        let resp = server.request("POST", "/login", &form, body.as_bytes());
        assert_eq!(resp.header("location"), Some(expected), "next={next}");
    }
    // RequireLogin guards the whole app but its login page.
    let guarded = start(app().layer(RequireLogin));
    assert_eq!(guarded.get("/").status, 302);
    assert_eq!(guarded.get("/login").status, 200);
}

#[test]
fn layers_run_in_the_order_added_and_may_answer_early() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let layer = |name: &'static str, order: Arc<Mutex<Vec<String>>>| {
        middleware_fn(move |req: Request, next: Next| {
            let order = order.clone();
            async move {
                order.lock().unwrap().push(format!("{name} before"));
                if name == "auth" && req.header("x-deny").is_some() {
                    return Response::text("denied early").with_status(StatusCode::UNAUTHORIZED);
                }
                let mut resp = next.run(req).await;
                order.lock().unwrap().push(format!("{name} after"));
                resp.headers_mut().append("x-layers", name.parse().unwrap());
                resp
            }
        })
    };
    let server = start(app().layer(layer("outer", order.clone())).layer(layer("auth", order.clone())));
    let resp = server.get("/");
    assert_eq!(resp.text(), "hello nobody");
    assert_eq!(*order.lock().unwrap(), ["outer before", "auth before", "auth after", "outer after"]);
    let layers: Vec<_> = resp.headers.get_all("x-layers").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(layers, ["auth", "outer"], "the first added changes the response last");
    order.lock().unwrap().clear();
    let resp = server.request("GET", "/", &[("X-Deny", "1")], b"");
    assert_eq!((resp.status.as_u16(), resp.text()), (401, "denied early".to_owned()));
    assert_eq!(*order.lock().unwrap(), ["outer before", "auth before", "outer after"], "the handler never ran");
    // Layers wrap gateway apps and 404s too.
    assert_eq!(server.get("/legacy/x").header("x-layers"), Some("auth"));
    assert_eq!(server.get("/nowhere").status, 404);
}

#[test]
fn error_pages_follow_accept_and_show_details_only_in_debug() {
    for debug in [false, true] {
        let server = start(app().debug(debug));
        let html = server.get("/fail");
        assert_eq!(html.status, 400);
        assert_eq!(html.header("content-type"), Some("text/html; charset=utf-8"));
        let text = html.text();
        assert!(text.contains("<h1>400 Bad Request</h1>") && text.contains("<p>bad &lt;input&gt;</p>"), "{text}");
        assert_eq!(text.contains("the field x was 7"), debug, "detail only in debug: {text}");

        let json = server.request("GET", "/fail", &[("Accept", "application/json")], b"");
        assert_eq!(json.header("content-type"), Some("application/json"));
        let value: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
        assert_eq!(value["status"], 400);
        assert_eq!(value["message"], "bad <input>");
        assert_eq!(value.get("detail").is_some(), debug);

        let panic = server.get("/panic");
        assert_eq!(panic.status, 500);
        assert_eq!(panic.text().contains("the handler fell over"), debug, "{}", panic.text());
        let missing = server.get("/nowhere");
        assert!(missing.status == 404 && missing.text().contains("<h1>404 Not Found</h1>"));
        let not_allowed = server.request("PUT", "/", &[], b"");
        assert_eq!(not_allowed.status, 405);
        assert!(not_allowed.header("allow").is_some(), "the error's own headers are kept");
        // A handler's own non-2xx response is its own business.
        assert_eq!(server.get("/teapot").text(), "short and stout");
    }
    let custom = start(app().error_page(|page| Response::text(format!("custom {}", page.status.as_u16()))));
    assert_eq!(custom.get("/nowhere").text(), "custom 404");
}
