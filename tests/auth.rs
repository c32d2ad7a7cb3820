//! Third-party login against a real OpenID Provider: `oidc-provider` (the
//! certified Node.js implementation, pinned in `tests/oidc/package-lock.json`)
//! started by these tests on loopback ports, each instance with signing keys
//! of its own. A scripted browser (curl with a cookie jar) goes through the
//! provider's own login and consent pages.
#![cfg(feature = "auth")]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use squall::auth::{Client, LoginWith, Provider, ProviderMetadata};
use squall::web::CookieSecret;
use squall::{App, Request, Response, Router, Server, get, post};
use support::oidc::{OpenIdProvider, client_metadata, free_port, start_provider};

/// A squall app served on a listener bound before the providers start (the
/// callback URLs they register name its port); stopped when dropped.
struct App1 {
    server: Server,
    addr: SocketAddr,
}

impl Drop for App1 {
    fn drop(&mut self) {
        self.server.stop();
    }
}

impl App1 {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// What the app's hooks saw: the raw ID tokens of the last logins at
/// `/auth/other` and `/auth/b`, and what the token proxy substitutes.
#[derive(Default)]
struct Seen {
    other_app_token: Mutex<Option<String>>,
    other_keys_token: Mutex<Option<String>>,
    substitute: Mutex<Option<String>>,
}

/// The app: `/me` says who is logged in; `/auth/op` logs in through the
/// provider (ES256 ID tokens), `/auth/rs` through the same provider as a
/// client with RS256 tokens, `/auth/other` as another client (keeping its
/// ID token), `/auth/b` through a second provider with other keys (keeping
/// its token), and `/auth/sub` through the first provider with a token
/// endpoint that hands back a substituted ID token, as a compromised or
/// impersonated endpoint would.
fn app(listener: TcpListener, a: &OpenIdProvider, b: &OpenIdProvider, seen: Arc<Seen>) -> App1 {
    let addr = listener.local_addr().unwrap();
    let callback = |prefix: &str| format!("http://{addr}/auth/{prefix}/callback");
    let client = |id: &str, prefix: &str| Client::new(id, &format!("{id}-secret"), &callback(prefix));
    let op = Provider::discover("op", &a.issuer, client("squall-app", "op")).unwrap();
    let rs = Provider::discover("rs", &a.issuer, client("squall-rs", "rs")).unwrap();
    let other = Provider::discover("other", &a.issuer, client("other-app", "other")).unwrap();
    let on_b = Provider::discover("b", &b.issuer, client("squall-app", "b")).unwrap();
    let mut proxied = ProviderMetadata::discover(&a.issuer).unwrap();
    let real_token_endpoint = proxied.token_endpoint.clone();
    proxied.token_endpoint = format!("http://{addr}/proxy/token");
    let sub = Provider::openid_connect("sub", proxied, client("squall-app", "sub")).unwrap();
    // OAuth 2.0 alone, as GitHub speaks it: no ID token, the user from the
    // user API, the client's secret in the form.
    let openid = ProviderMetadata::discover(&a.issuer).unwrap();
    let plain_metadata = ProviderMetadata { client_secret_basic: false, ..openid };
    let plain = Provider::oauth2("plain", plain_metadata, client("plain-app", "plain")).scopes(&["openid", "email"]);

    let keep = |slot: fn(&Seen) -> &Mutex<Option<String>>| {
        let seen = seen.clone();
        move |_req: &Request, user: &squall::auth::ProviderUser| {
            *slot(&seen).lock().unwrap() = user.id_token.clone();
            Ok(format!("{}@{}", user.subject, user.provider))
        }
    };
    let proxy_seen = seen.clone();
    let router = Router::new()
        .route("/me", get(|req: Request| async move { req.current_user().unwrap_or("nobody").to_owned() }))
        .route(
            "/proxy/token",
            post(move |req: Request| {
                let (seen, endpoint) = (proxy_seen.clone(), real_token_endpoint.clone());
                async move { substituting_proxy(req, &endpoint, &seen).await }
            }),
        )
        .mount("/auth/op", LoginWith::new(op))
        .mount("/auth/rs", LoginWith::new(rs).state_max_age(Duration::from_secs(1)))
        .mount("/auth/other", LoginWith::new(other).on_login(keep(|s| &s.other_app_token)))
        .mount("/auth/b", LoginWith::new(on_b).on_login(keep(|s| &s.other_keys_token)))
        .mount("/auth/sub", LoginWith::new(sub))
        .mount("/auth/plain", LoginWith::new(plain));
    let app = App::new(router)
        .cookie_secret(CookieSecret::new("a secret for the login tests"))
        .current_user(|req| Box::pin(async move { req.signed_cookie("user").ok().flatten() }));
    support::init_logger();
    let server = Server::new(app);
    server.add_listener(listener).unwrap();
    App1 { server, addr }
}

/// Forwards a token request to the real endpoint, and swaps the ID token
/// in its answer for the one the test put in `seen.substitute`.
async fn substituting_proxy(mut req: Request, endpoint: &str, seen: &Seen) -> Response {
    let authorization = req.header("authorization").unwrap_or_default().to_owned();
    let body = req.bytes().await.unwrap();
    let endpoint = endpoint.to_owned();
    let mut tokens: Value = blocking::unblock(move || {
        let mut answer = ureq::post(&endpoint)
            .header("Authorization", &authorization)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(&body[..])
            .unwrap();
        serde_json::from_str::<Value>(&answer.body_mut().read_to_string().unwrap()).unwrap()
    })
    .await;
    if let Some(substitute) = seen.substitute.lock().unwrap().clone() {
        tokens["id_token"] = Value::from(substitute);
    }
    Response::json(&tokens)
}

/// A scripted browser: curl with one cookie jar, one request at a time.
struct Browser {
    jar: PathBuf,
}

/// One answer: status, `Location`, body.
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new(name: &str) -> Browser {
        let jar = std::env::temp_dir().join(format!("squall-auth-{}-{name}.jar", std::process::id()));
        let _ = std::fs::remove_file(&jar);
        Browser { jar }
    }

    fn request(&self, url: &str, form: &[(&str, &str)]) -> Answer {
        let mut curl = Command::new("curl");
        curl.args(["-s", "-S", "-i", "-c"]).arg(&self.jar).arg("-b").arg(&self.jar);
        for (name, value) in form {
            curl.arg("--data-urlencode").arg(format!("{name}={value}"));
        }
        let out = curl.arg(url).output().unwrap();
        assert!(out.status.success(), "curl {url}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let location = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("location").then(|| value.trim().to_owned())
        });
        Answer { status, location, body: body.to_owned() }
    }

    /// Follows redirects from `url` (absolute, or relative to the last
    /// origin) until an answer that is not one, or a redirect `stop` accepts,
    /// whose URL is returned in `location`.
    fn follow(&self, url: &str, form: &[(&str, &str)], stop: impl Fn(&str) -> bool) -> Answer {
        let mut answer = self.request(url, form);
        let mut origin = origin(url);
        for _ in 0..20 {
            let Some(location) = answer.location.clone() else { return answer };
            let next = if location.starts_with("http") { location } else { format!("{origin}{location}") };
            if stop(&next) {
                answer.location = Some(next);
                return answer;
            }
            origin = crate::origin(&next);
            answer = self.request(&next, &[]);
        }
        panic!("too many redirects from {url}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.jar);
    }
}

fn origin(url: &str) -> String {
    let after = url.find("://").map_or(0, |i| i + 3);
    let end = url[after..].find('/').map_or(url.len(), |i| after + i);
    url[..end].to_owned()
}

/// The `action` of the page's form, absolute.
fn form_action(page: &str, origin: &str) -> String {
    let at = page.find("action=\"").unwrap_or_else(|| panic!("no form in {page}")) + 8;
    let action = &page[at..at + page[at..].find('"').unwrap()];
    if action.starts_with("http") { action.to_owned() } else { format!("{origin}{action}") }
}

/// Logs in as `login` at the provider from `start` (squall's login URL),
/// through the login and consent pages; returns the callback URL the
/// provider sends the browser to, not yet visited.
fn through_provider(browser: &Browser, start: &str, issuer: &str, login: &str) -> String {
    let to_app = |url: &str| !url.starts_with(issuer);
    let sign_in = browser.follow(start, &[], to_app);
    assert_eq!(sign_in.status, 200, "the provider's login page: {}", sign_in.body);
    let action = form_action(&sign_in.body, issuer);
    let consent = browser.follow(&action, &[("prompt", "login"), ("login", login), ("password", "any")], to_app);
    assert_eq!(consent.status, 200, "the provider's consent page: {}", consent.body);
    let action = form_action(&consent.body, issuer);
    let back = browser.follow(&action, &[("prompt", "consent")], to_app);
    back.location.unwrap_or_else(|| panic!("the provider did not send the browser back: {}", back.body))
}

struct World {
    a: OpenIdProvider,
    b: OpenIdProvider,
    app: App1,
    seen: Arc<Seen>,
}

fn world() -> World {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let callback = |prefix: &str| vec![format!("http://{addr}/auth/{prefix}/callback")];
    let mut plain = client_metadata("plain-app", &callback("plain"), "RS256");
    plain["token_endpoint_auth_method"] = json!("client_secret_post");
    let a = start_provider(&json!([
        client_metadata("squall-app", &[callback("op"), callback("sub")].concat(), "ES256"),
        client_metadata("squall-rs", &callback("rs"), "RS256"),
        client_metadata("other-app", &callback("other"), "ES256"),
        plain,
    ]));
    let b = start_provider(&json!([client_metadata("squall-app", &callback("b"), "ES256")]));
    let seen = Arc::new(Seen::default());
    let app = app(listener, &a, &b, seen.clone());
    World { a, b, app, seen }
}

fn logged_in(browser: &Browser, app: &App1) -> String {
    browser.request(&app.url("/me"), &[]).body
}

/// The whole flow, ES256 and RS256: squall's login page sends the browser
/// to the provider, the provider's pages log "ada" in, the callback sets
/// the app's user cookie and lands on `next`.
#[test]
fn logging_in_through_the_provider_lands_on_next_logged_in() {
    let w = world();
    for prefix in ["op", "rs"] {
        let browser = Browser::new(prefix);
        assert_eq!(logged_in(&browser, &w.app), "nobody");
        let callback =
            through_provider(&browser, &w.app.url(&format!("/auth/{prefix}/login?next=/me")), &w.a.issuer, "ada");
        assert!(callback.starts_with(&w.app.url(&format!("/auth/{prefix}/callback?code="))), "{callback}");
        let landed = browser.follow(&callback, &[], |_| false);
        assert_eq!((landed.status, landed.body.as_str()), (200, "ada"), "{prefix}: lands on /me logged in");
        assert_eq!(logged_in(&browser, &w.app), "ada");
    }
    assert!(!support::log_lines_with("login with op: ada (subject ada) logged in").is_empty());
}

/// A provider that speaks only OAuth 2.0 (GitHub's kind): the code is
/// exchanged with the client's secret in the form, and the user comes from
/// the user API with the access token — the e-mail address, the only claim
/// the scopes asked for.
#[test]
fn an_oauth2_provider_without_id_tokens_logs_in_through_its_user_api() {
    let w = world();
    let browser = Browser::new("plain");
    let callback = through_provider(&browser, &w.app.url("/auth/plain/login?next=/me"), &w.a.issuer, "ada");
    assert!(!callback.contains("nonce"), "{callback}");
    let landed = browser.follow(&callback, &[], |_| false);
    assert_eq!((landed.status, landed.body.as_str()), (200, "ada@example.test"));
}

/// RFC 6749, section 4.1.2.1: the user refuses at the provider; the app
/// says so, and nobody is logged in.
#[test]
fn denied_consent_is_a_clear_page_and_logs_nobody_in() {
    let w = world();
    let browser = Browser::new("denied");
    let to_app = |url: &str| !url.starts_with(&w.a.issuer);
    let sign_in = browser.follow(&w.app.url("/auth/op/login"), &[], to_app);
    let abort = format!("{}/abort", form_action(&sign_in.body, &w.a.issuer));
    let back = browser.follow(&abort, &[], to_app).location.unwrap();
    assert!(back.contains("error=access_denied"), "{back}");
    let answer = browser.request(&back, &[]);
    assert_eq!(answer.status, 403);
    assert!(answer.body.contains("Sign-in with op was cancelled"), "{}", answer.body);
    assert_eq!(logged_in(&browser, &w.app), "nobody");
    assert!(!support::log_lines_with("login with op: the provider answered \"access_denied\"").is_empty());
}

/// What the browser brings back is logged quoted: a line break in it cannot
/// forge a log line of its own.
#[test]
fn an_error_from_the_callback_is_logged_quoted() {
    let w = world();
    let browser = Browser::new("forged-log");
    let answer =
        browser.request(&w.app.url("/auth/op/callback?error=x%0Asquall%3A%20forged&error_description=y%0D"), &[]);
    assert_eq!(answer.status, 502);
    let lines = support::log_lines_with("the provider answered");
    assert!(lines.iter().any(|(_, _, l)| l.contains(r#"answered "x\nsquall: forged": "y\r""#)), "{lines:?}");
    assert!(lines.iter().all(|(_, _, l)| !l.contains(['\n', '\r'])), "{lines:?}");
}

/// The provider's callback replayed — by the same browser, or with a copy
/// of its cookies taken before — and a callback after the state expired:
/// refused, nobody logged in by them.
#[test]
fn an_expired_or_replayed_state_is_refused() {
    let w = world();
    let browser = Browser::new("replay");
    let callback = through_provider(&browser, &w.app.url("/auth/op/login"), &w.a.issuer, "ada");
    let copy = Browser::new("replay-copy");
    std::fs::copy(&browser.jar, &copy.jar).unwrap();
    assert_eq!(browser.request(&callback, &[]).status, 302, "the first visit logs in");
    let again = browser.request(&callback, &[]);
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("has expired or was already used"), "{}", again.body);
    let replayed = copy.request(&callback, &[]);
    assert_eq!(replayed.status, 400, "with the cookies from before: {}", replayed.body);
    assert_eq!(logged_in(&copy, &w.app), "nobody");
    assert!(!support::log_lines_with("login with op: this state was used already").is_empty());

    // `/auth/rs` gives a login one second.
    let slow = Browser::new("slow");
    let late = through_provider(&slow, &w.app.url("/auth/rs/login"), &w.a.issuer, "ada");
    std::thread::sleep(Duration::from_millis(2100));
    let expired = slow.request(&late, &[]);
    assert_eq!(expired.status, 400, "{}", expired.body);
    assert_eq!(logged_in(&slow, &w.app), "nobody");
    assert!(!support::log_lines_with("login with rs: no login state in this browser").is_empty());
}

/// The provider goes away between its consent page and the callback: the
/// token exchange cannot be made; the user gets a page that says so.
#[test]
fn the_provider_down_at_the_callback_is_a_clear_page() {
    let mut w = world();
    let browser = Browser::new("down");
    let callback = through_provider(&browser, &w.app.url("/auth/op/login"), &w.a.issuer, "ada");
    w.a.child.kill().unwrap();
    w.a.child.wait().unwrap();
    let answer = browser.request(&callback, &[]);
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(answer.body.contains("op could not be reached"), "{}", answer.body);
    assert_eq!(logged_in(&browser, &w.app), "nobody");
    assert!(!support::log_lines_with("login with op: token endpoint unreachable").is_empty());
}

/// Discovery at start-up against a provider that is not there: a clear
/// error, before any request.
#[test]
fn a_provider_down_at_start_up_is_a_start_up_error() {
    let port = free_port();
    let client = Client::new("squall-app", "s", "http://127.0.0.1:1/auth/op/callback");
    let error = Provider::discover("op", &format!("http://127.0.0.1:{port}"), client).unwrap_err().to_string();
    assert!(error.contains("OpenID discovery") && error.contains("unreachable"), "{error}");
}

/// OpenID Connect Core 1.0, section 3.1.3.7, items 3 and 6: an ID token for
/// another client (a real one, issued to `other-app`), and one signed by
/// another provider's key under the same key id, both handed back by a
/// token endpoint that substitutes them: refused, nobody logged in.
#[test]
fn a_token_for_another_client_or_signed_by_another_key_is_refused() {
    let w = world();
    // Real tokens to substitute: one for other-app, one from provider b.
    let other = Browser::new("other-app");
    let callback = through_provider(&other, &w.app.url("/auth/other/login"), &w.a.issuer, "eve");
    assert_eq!(other.request(&callback, &[]).status, 302);
    let on_b = Browser::new("provider-b");
    let callback = through_provider(&on_b, &w.app.url("/auth/b/login"), &w.b.issuer, "eve");
    assert_eq!(on_b.request(&callback, &[]).status, 302);
    let for_other_app = w.seen.other_app_token.lock().unwrap().clone().unwrap();
    let other_keys = w.seen.other_keys_token.lock().unwrap().clone().unwrap();

    for (substitute, log) in [
        (for_other_app, "login with sub: ID token refused: issued for [\"other-app\"], not for this client"),
        (other_keys, "login with sub: ID token refused: the signature does not verify with the provider's key"),
    ] {
        *w.seen.substitute.lock().unwrap() = Some(substitute);
        let browser = Browser::new("substituted");
        let callback = through_provider(&browser, &w.app.url("/auth/sub/login"), &w.a.issuer, "ada");
        let answer = browser.request(&callback, &[]);
        assert_eq!(answer.status, 502, "{}", answer.body);
        assert!(answer.body.contains("could not be verified"), "{}", answer.body);
        assert_eq!(logged_in(&browser, &w.app), "nobody");
        assert!(!support::log_lines_with(log).is_empty(), "no log line {log:?}");
    }
    // With no substitution the same route logs in: the refusals were the tokens'.
    *w.seen.substitute.lock().unwrap() = None;
    let browser = Browser::new("unsubstituted");
    let callback = through_provider(&browser, &w.app.url("/auth/sub/login?next=/me"), &w.a.issuer, "ada");
    assert_eq!(browser.follow(&callback, &[], |_| false).body, "ada");
}

#[test]
fn the_login_route_keeps_next_local_and_other_paths_are_not_found() {
    let w = world();
    let browser = Browser::new("paths");
    let start = browser.request(&w.app.url("/auth/op/login?next=//evil.example/"), &[]);
    assert_eq!(start.status, 302);
    let location = start.location.unwrap();
    assert!(location.starts_with(&format!("{}/auth?", w.a.issuer)), "{location}");
    for needed in ["code_challenge_method=S256", "response_type=code", "client_id=squall-app", "nonce=", "state="] {
        assert!(location.contains(needed), "{needed} in {location}");
    }
    let callback = through_provider(&browser, &w.app.url("/auth/op/login?next=//evil.example/"), &w.a.issuer, "ada");
    let landed = browser.request(&callback, &[]);
    assert_eq!(landed.location.as_deref(), Some("/"), "an external next is not followed");
    assert_eq!(browser.request(&w.app.url("/auth/op/elsewhere"), &[]).status, 404);
    assert_eq!(browser.request(&w.app.url("/auth/op/login"), &[("x", "1")]).status, 405);
    let forged = browser.request(&w.app.url("/auth/op/callback?code=x&state=y"), &[]);
    assert_eq!(forged.status, 400, "no state in this browser: {}", forged.body);
}
