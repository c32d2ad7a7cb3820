//! Every example as a person meets it: `--help` prints the usage on
//! standard output and exits 0; an unknown flag prints it on standard error
//! and exits 2; a port already taken is one readable line and exit status
//! 1; every URL an example prints answers 200.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// An example: its name, the features it is built with (as the other tests
/// build it), and the arguments it needs to start.
struct Example {
    name: &'static str,
    features: &'static str,
    args: Vec<String>,
}

/// A directory with an index page, for `files`, and an empty one (no PHP
/// index) for `fastcgi`.
fn www() -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("squall-examples-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("site")).unwrap();
    std::fs::create_dir_all(dir.join("php")).unwrap();
    std::fs::write(dir.join("site").join("index.html"), "<p>index</p>").unwrap();
    (dir.join("site"), dir.join("php"))
}

fn examples() -> Vec<Example> {
    let (site, php) = www();
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("python");
    let to_strings = |args: &[&str]| args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let mut all = vec![
        ("hello", "", vec![]),
        ("routing", "", vec![]),
        ("tutorial", "", vec![]),
        ("mixed", "", vec![]),
        ("files", "", to_strings(&["--dir", site.to_str().unwrap(), "--index"])),
    ];
    if cfg!(feature = "tls") {
        all.push(("production", "tls", vec![]));
    }
    if cfg!(feature = "websocket") {
        all.push(("chat", "websocket", vec![]));
    }
    if cfg!(feature = "templates") {
        all.push(("webapp", "templates", to_strings(&["--cookie-secret", "a secret for the examples test"])));
    }
    if cfg!(all(feature = "templates", feature = "locale")) {
        all.push(("translations", "templates,locale", vec![]));
    }
    if cfg!(feature = "cgi") {
        all.push(("cgi", "cgi", vec![]));
    }
    if cfg!(feature = "fastcgi") {
        let root = php.to_str().unwrap();
        all.push(("fastcgi", "fastcgi", to_strings(&["--socket", "/nonexistent/fpm.sock", "--root", root])));
    }
    if cfg!(feature = "python") {
        all.push(("wsgi", "python", to_strings(&["--app", "apps:validated", "--path", python.to_str().unwrap()])));
    }
    all.into_iter().map(|(name, features, args)| Example { name, features, args }).collect()
}

fn run(example: &Example, args: &[&str]) -> Output {
    Command::new(support::example_binary(example.name, example.features))
        .args(args)
        .env("RUST_LOG", "off")
        .env_remove("GATEWAY_INTERFACE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn every_example_answers_help_and_refuses_an_unknown_flag_with_its_usage() {
    let mut all = examples();
    if cfg!(feature = "cgi") {
        all.push(Example { name: "as_cgi", features: "cgi", args: vec![] });
    }
    for example in &all {
        let name = example.name;
        for help in ["--help", "-h"] {
            let out = run(example, &[help]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{name} {help}");
            assert!(stdout.starts_with(&format!("usage: {name}")), "{name} {help}: {stdout}");
        }
        let out = run(example, &["--no-such-flag"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name} --no-such-flag: {stderr}");
        assert!(out.stdout.is_empty(), "{name}: the usage goes to standard error");
        assert!(stderr.contains("--no-such-flag") && stderr.contains(&format!("usage: {name}")), "{name}: {stderr}");
    }
}

#[test]
fn a_port_already_taken_is_one_readable_line_and_exit_status_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for example in examples() {
        let mut args = vec![addr.as_str()];
        args.extend(example.args.iter().map(String::as_str));
        let out = run(&example, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", example.name);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{}: one line, not {stderr:?}", example.name);
        assert!(
            lines[0].ends_with(&format!("cannot bind {addr}: address already in use")),
            "{}: {stderr}",
            example.name
        );
    }
}

#[test]
fn every_url_an_example_prints_answers_200() {
    use std::io::BufRead;
    for example in examples() {
        let mut child = Command::new(support::example_binary(example.name, example.features))
            .arg("127.0.0.1:0")
            .args(&example.args)
            .env("RUST_LOG", "off")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let urls: Vec<&str> =
            line.split_whitespace().filter_map(|word| word.find("http://").map(|at| &word[at..])).collect();
        assert!(!urls.is_empty(), "{}: no URL in {line:?}", example.name);
        for url in urls {
            let url = url.trim_end_matches([',', ';', ')']);
            let (addr, path) = url["http://".len()..].split_once('/').unwrap();
            let mut conn = squall::testing::TestConnection::open(addr.parse().unwrap()).unwrap();
            let resp = conn.request("GET", &format!("/{path}"), &[], b"").unwrap();
            assert_eq!(resp.status, 200, "{}: {url} (printed as {line:?})", example.name);
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// One `curl` line of a chapter: method, path, form body, and the status
/// its comment names (`# 404 …`, `(201)`), or 200.
fn book_requests(chapter: &str) -> Vec<(String, String, String, u16)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("book/src").join(chapter);
    let text = std::fs::read_to_string(path).unwrap();
    let mut found = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("curl ") && l.contains("http://127.0.0.1:8888")) {
        let (command, comment) = line.split_once(" #").unwrap_or((line, ""));
        let words: Vec<&str> = command.split_whitespace().collect();
        let (mut method, mut body, mut url) = ("GET".to_owned(), String::new(), String::new());
        let mut i = 1;
        while i < words.len() {
            match words[i] {
                "-d" => {
                    method = "POST".into();
                    body = words[i + 1].to_owned();
                    i += 1;
                }
                "-X" => {
                    method = words[i + 1].to_owned();
                    i += 1;
                }
                "-I" => method = "HEAD".into(),
                word if word.trim_matches('\'').starts_with("http://") => url = word.trim_matches('\'').to_owned(),
                _ => {}
            }
            i += 1;
        }
        let path = url.trim_start_matches("http://127.0.0.1:8888").to_owned();
        let status = comment
            .split(|c: char| !c.is_ascii_digit())
            .find(|n| n.len() == 3 && matches!(n.as_bytes()[0], b'2' | b'4' | b'5'))
            .map_or(200, |n| n.parse().unwrap());
        found.push((method, path, body, status));
    }
    found
}

/// The tutorial's and the files chapter's `curl` commands, sent to their
/// examples: each answers the status the book's comment shows.
#[test]
fn the_tutorial_and_files_chapters_curl_commands_answer_as_the_book_says() {
    let static_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/webapp/static");
    for (chapter, name, args) in [("tutorial.md", "tutorial", vec![]), ("files.md", "files", vec!["--dir", static_dir])]
    {
        let requests = book_requests(chapter);
        assert!(!requests.is_empty(), "{chapter} shows no curl command");
        let mut child = Command::new(support::example_binary(name, ""))
            .arg("127.0.0.1:0")
            .args(&args)
            .env("RUST_LOG", "off")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let addr = support::announced_address(&line).unwrap_or_else(|| panic!("{name}: no address in {line:?}"));
        // Stopped when dropped, whether the checks pass or not.
        let _example = support::Example { child, addr };
        for (method, path, body, status) in requests {
            let mut headers = vec![];
            if !body.is_empty() {
                headers.push(("Content-Type", "application/x-www-form-urlencoded"));
            }
            let mut conn = squall::testing::TestConnection::open(addr).unwrap();
            let got = conn.request(&method, &path, &headers, body.as_bytes()).unwrap();
            assert_eq!(got.status.as_u16(), status, "{chapter}: {method} {path}: {}", got.text());
        }
    }
}
