//! What a browser sees: headless Chromium, driven over the W3C WebDriver
//! protocol by Debian's chromedriver. The chat example's page in two tabs
//! (a message typed in one appears in the other, carried by squall's
//! WebSocket), and the webapp example's login (a redirect to the form, the
//! XSRF-protected post, the signed cookie that keeps the user logged in).
//! `.ci/run` installs `chromium` and `chromium-driver`.
#![cfg(all(feature = "websocket", feature = "templates"))]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use support::browser::{Browser, Driver};

#[test]
fn a_message_typed_in_one_tab_appears_in_the_other() {
    support::init_logger();
    let chat = support::example("chat", "websocket", &[]);
    let url = format!("http://{}/", chat.addr);
    let driver = Driver::start();
    let browser = Browser::open(&driver);

    let first = browser.current_tab();
    browser.go(&url);
    browser.wait_for_text("#status", "connected");
    let second = browser.new_tab();
    browser.switch_to(&second);
    browser.go(&url);
    browser.wait_for_text("#status", "connected");

    browser.type_into("#body", "hello from the second tab");
    browser.click("#form button");
    browser.wait_for_text("#messages", "hello from the second tab"); // the sender sees its own message

    browser.switch_to(&first);
    browser.wait_for_text("#messages", "hello from the second tab");
    assert_eq!(browser.text("#status"), "connected");
}

#[test]
fn logging_in_lands_on_the_greeting_and_a_reload_stays_logged_in() {
    support::init_logger();
    let webapp = support::example("webapp", "templates", &["--cookie-secret", "a secret for the browser test"]);
    let driver = Driver::start();
    let browser = Browser::open(&driver);

    browser.go(&format!("http://{}/", webapp.addr));
    assert!(browser.url().ends_with("/login?next=%2F"), "sent to the login page: {}", browser.url());
    browser.type_into("input[name=username]", "Ada Lovelace");
    browser.click("#login");
    browser.wait_for_text("#user", "Ada Lovelace");
    assert!(browser.url().ends_with(&format!("{}/", webapp.addr)), "back on /: {}", browser.url());

    browser.type_into("input[name=text]", "<b>not bold</b>");
    browser.click("form button");
    browser.wait_for_text("#notes", "<b>not bold</b>"); // escaped: shown as text

    browser.refresh();
    browser.wait_for_text("#user", "Ada Lovelace");
    browser.click("#logout");
    browser.wait_for_text("h1", "Log in");
}

#[test]
fn an_upload_form_with_its_stylesheet_sends_the_file_and_shows_the_json() {
    use sha2::Digest;
    support::init_logger();
    let static_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/webapp/static");
    let webapp = support::example(
        "webapp",
        "templates",
        &["--cookie-secret", "a secret for the upload test", "--static-dir", static_dir],
    );
    let driver = Driver::start();
    let browser = Browser::open(&driver);
    browser.go(&format!("http://{}/login?next=%2Fupload", webapp.addr));
    browser.type_into("input[name=username]", "ada");
    browser.click("#login");
    browser.wait_for_text("h1", "Upload a file");
    // The stylesheet came through static_url and was applied.
    let color = browser.eval("return getComputedStyle(document.querySelector('h1')).color");
    assert_eq!(color, "rgb(40, 80, 160)", "the page's stylesheet is applied");
    let file = std::env::temp_dir().join(format!("squall-browser-upload-{}.bin", std::process::id()));
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&file, &content).unwrap();
    browser.type_into("input[type=file]", file.to_str().unwrap());
    browser.click("#send");
    let expected: String = sha2::Sha256::digest(&content).iter().map(|b| format!("{b:02x}")).collect();
    browser.wait_for_text("body", &expected);
    let shown = browser.text("body");
    assert!(
        shown.contains("\"size\":200000")
            && shown.contains(&format!("\"name\":\"{}\"", file.file_name().unwrap().to_str().unwrap())),
        "{shown}"
    );
    let _ = std::fs::remove_file(&file);
}

/// The webapp example with an OpenID provider configured: the login page's
/// link leads to the provider (oidc-provider, started by the test), whose
/// own sign-in and consent pages the browser goes through, and back to the
/// webapp, logged in by the provider's account.
#[test]
#[cfg(feature = "auth")]
fn logging_in_through_an_openid_provider_lands_on_the_greeting() {
    use support::oidc::{client_metadata, free_port, start_provider};
    support::init_logger();
    let addr = format!("127.0.0.1:{}", free_port());
    let callback = format!("http://{addr}/auth/oidc/callback");
    let provider = start_provider(&serde_json::json!([client_metadata("webapp", &[callback], "RS256")]));
    let args = [
        "--cookie-secret",
        "a secret for the browser test",
        "--oidc-issuer",
        &provider.issuer,
        "--oidc-client-id",
        "webapp",
        "--oidc-client-secret",
        "webapp-secret",
    ];
    let webapp = support::example_at("webapp", "templates,auth", &addr, &args);
    let driver = Driver::start();
    let browser = Browser::open(&driver);

    browser.go(&format!("http://{}/", webapp.addr));
    browser.wait_for_text("#openid", "identity provider");
    browser.click("#openid");
    browser.wait_for_text("button[type=submit]", "Sign-in");
    assert!(browser.url().starts_with(&provider.issuer), "on the provider's page: {}", browser.url());
    browser.type_into("input[name=login]", "ada");
    browser.type_into("input[name=password]", "any password");
    browser.click("button[type=submit]");
    browser.wait_for_text("button[type=submit]", "Continue");
    browser.click("button[type=submit]");
    browser.wait_for_text("#user", "ada");
    assert_eq!(browser.url(), format!("http://{}/", webapp.addr), "back on the webapp's home page");
    browser.refresh();
    browser.wait_for_text("#user", "ada");
}

/// Two chat processes sharing one Redis: a tab on each, and a message typed
/// in one appears in the other — carried by the other process's socket.
#[test]
#[cfg(feature = "redis")]
fn a_message_typed_in_a_tab_on_one_chat_process_appears_in_a_tab_on_another() {
    support::init_logger();
    let redis = support::redis::RedisServer::start("browser");
    let url = redis.url();
    let first = support::example("chat", "websocket,redis", &["--redis", &url]);
    let second = support::example("chat", "websocket,redis", &["--redis", &url]);
    let driver = Driver::start();
    let browser = Browser::open(&driver);

    let on_first = browser.current_tab();
    browser.go(&format!("http://{}/", first.addr));
    browser.wait_for_text("#status", "connected");
    let on_second = browser.new_tab();
    browser.switch_to(&on_second);
    browser.go(&format!("http://{}/", second.addr));
    browser.wait_for_text("#status", "connected");

    browser.type_into("#body", "typed on the second process");
    browser.click("#form button");
    browser.wait_for_text("#messages", "typed on the second process");
    browser.switch_to(&on_first);
    browser.wait_for_text("#messages", "typed on the second process");
}
