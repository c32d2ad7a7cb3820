//! A browser for the tests: Debian's chromedriver on a free loopback port,
//! and headless Chromium sessions driven over the W3C WebDriver protocol.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver of the test's own, on a free loopback port; killed when dropped.
pub(crate) struct Driver {
    child: Child,
    addr: SocketAddr,
    profile: std::path::PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Driver {
    pub(crate) fn start() -> Driver {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(program).exists(),
                "{program} is missing: install Debian's chromium and chromium-driver (.ci/run does)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = std::env::temp_dir().join(format!("squall-browser-{}-{port}", std::process::id()));
        let driver = Driver { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), profile };
        let deadline = Instant::now() + Duration::from_secs(20);
        while driver.call("GET", "/status", None).pointer("/value/ready") != Some(&Value::Bool(true)) {
            assert!(Instant::now() < deadline, "chromedriver did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    /// One WebDriver command: an HTTP request with a JSON body; the JSON answer
    /// (`Null` while the driver is not listening yet).
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let Ok(mut stream) = TcpStream::connect(self.addr) else {
            return Value::Null;
        };
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        // The driver may keep the connection open: read by Content-Length.
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&response);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .and_then(|v| v.parse::<usize>().ok());
                if length.is_some_and(|n| body.len() >= n) {
                    return serde_json::from_str(body).unwrap_or(Value::Null);
                }
            }
            match stream.read(&mut buf).unwrap() {
                0 => break,
                n => response.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&response);
        serde_json::from_str(text.split_once("\r\n\r\n").map_or("", |(_, b)| b)).unwrap_or(Value::Null)
    }
}

/// A browser session.
pub(crate) struct Browser<'d> {
    driver: &'d Driver,
    session: String,
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        self.driver.call("DELETE", &format!("/session/{}", self.session), None);
    }
}

impl<'d> Browser<'d> {
    pub(crate) fn open(driver: &'d Driver) -> Browser<'d> {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", driver.profile.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let answer = driver.call("POST", "/session", Some(capabilities));
        let session = answer.pointer("/value/sessionId").and_then(Value::as_str);
        let session = session.unwrap_or_else(|| panic!("no browser session: {answer}")).to_owned();
        Browser { driver, session }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = self.driver.call(method, &format!("/session/{}{path}", self.session), body);
        assert!(answer.pointer("/value/error").is_none(), "{method} {path}: {answer}");
        answer["value"].clone()
    }

    pub(crate) fn go(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url})));
    }

    pub(crate) fn url(&self) -> String {
        self.command("GET", "/url", None).as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` in the page; its return value.
    pub(crate) fn eval(&self, script: &str) -> Value {
        self.command("POST", "/execute/sync", Some(json!({"script": script, "args": []})))
    }

    pub(crate) fn refresh(&self) {
        self.command("POST", "/refresh", Some(json!({})));
    }

    pub(crate) fn new_tab(&self) -> String {
        let tab = self.command("POST", "/window/new", Some(json!({"type": "tab"})));
        tab["handle"].as_str().unwrap().to_owned()
    }

    pub(crate) fn current_tab(&self) -> String {
        self.command("GET", "/window", None).as_str().unwrap().to_owned()
    }

    pub(crate) fn switch_to(&self, tab: &str) {
        self.command("POST", "/window", Some(json!({"handle": tab})));
    }

    pub(crate) fn element(&self, css: &str) -> String {
        let found = self.command("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        let id = found.as_object().and_then(|o| o.values().next()).and_then(Value::as_str);
        id.unwrap_or_else(|| panic!("no element {css}: {found}")).to_owned()
    }

    pub(crate) fn text(&self, css: &str) -> String {
        let id = self.element(css);
        self.command("GET", &format!("/element/{id}/text"), None).as_str().unwrap_or_default().to_owned()
    }

    pub(crate) fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.command("POST", &format!("/element/{id}/value"), Some(json!({"text": text})));
    }

    pub(crate) fn click(&self, css: &str) {
        let id = self.element(css);
        self.command("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// The text of `css`, or `None` while there is no such element.
    fn try_text(&self, css: &str) -> Option<String> {
        let session = format!("/session/{}", self.session);
        let found = self.driver.call(
            "POST",
            &format!("{session}/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        if found["value"].get("error").is_some() {
            return None;
        }
        let id = found["value"].as_object()?.values().next()?.as_str()?.to_owned();
        let text = self.driver.call("GET", &format!("{session}/element/{id}/text"), None);
        text["value"].as_str().map(str::to_owned)
    }

    /// Waits (up to 10 s) until the text of `css` contains `needle`.
    pub(crate) fn wait_for_text(&self, css: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // While a new page loads, the element may not exist yet: look again.
            let text = self.try_text(css).unwrap_or_default();
            if text.contains(needle) {
                return;
            }
            assert!(Instant::now() < deadline, "{css} never showed {needle:?}; it shows {text:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
