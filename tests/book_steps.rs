//! The book's steps, run as written: a chapter's `sh` blocks, in order, up
//! to the last that starts an example and then uses it, in one scratch
//! directory that stands in for the checkout (its `examples` and `tests`
//! are the repository's); a listing whose first line is a comment naming a file
//! under `/tmp/` is saved there, as the reader would. A `curl` whose line
//! ends in a comment must print that comment (up to a `…` or a
//! parenthesis): the book shows what a reader will see. Three rewrites make
//! the steps runnable beside the other tests, and nothing else changes:
//! `/tmp` is the scratch directory's `tmp`, port 8888 a free port, and
//! `cargo run --example` the example this test built. `sudo apt-get
//! install` and `npm ci` lines are not run; `.ci/run` must install what
//! they name. A program started in the background gets a second to start
//! before the next line, as a reader would give it.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fenced block of a chapter: its language and its logical lines
/// (backslash continuations joined).
struct Block {
    language: String,
    lines: Vec<String>,
}

fn blocks(chapter: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(root().join("book/src").join(chapter)).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    let mut pending = String::new();
    for line in text.lines() {
        if let Some(language) = line.trim_start().strip_prefix("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(Block { language: language.to_owned(), lines: Vec::new() }),
            }
            continue;
        }
        let Some(block) = current.as_mut() else { continue };
        match line.strip_suffix('\\') {
            Some(head) if block.language == "sh" => pending.push_str(head),
            _ => {
                pending.push_str(line);
                block.lines.push(std::mem::take(&mut pending));
            }
        }
    }
    blocks
}

/// `text` with `/tmp` (as a whole path component) moved into `scratch`.
fn in_scratch(text: &str, scratch: &Path) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("/tmp") {
        let whole = !rest[at + 4..].starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-');
        out.push_str(&rest[..at]);
        out.push_str(&if whole { format!("{}/tmp", scratch.display()) } else { "/tmp".to_owned() });
        rest = &rest[at + 4..];
    }
    out + rest
}

/// `line` split at its comment: a `#` at the start or after white space,
/// outside quotes.
fn split_comment(line: &str) -> (&str, &str) {
    let mut quote = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            (None, '#') if previous.is_whitespace() => return (line[..at].trim_end(), line[at + 1..].trim()),
            _ => {}
        }
        previous = c;
    }
    (line.trim_end(), "")
}

/// What a comment promises the command prints: up to a `…` or `(`.
fn promised_output(comment: &str) -> &str {
    comment.split(['…', '(']).next().unwrap_or("").trim()
}

fn single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Reads `cargo run [flags] --example NAME [flags] [-- ARGS]`: the example,
/// its features and the arguments it is given.
fn cargo_run(command: &str) -> (String, String, String) {
    let (cargo, args) = command.split_once(" -- ").unwrap_or((command, ""));
    let words: Vec<&str> = cargo.split_whitespace().collect();
    let after =
        |flag: &str| words.iter().position(|w| *w == flag).and_then(|i| words.get(i + 1)).map(|w| (*w).to_owned());
    let name = after("--example").expect("cargo run names an --example");
    (name, after("--features").unwrap_or_default(), args.trim().to_owned())
}

/// A chapter's step, as bash: a `sh` block in a subshell of its own that
/// stops what it started, or a listing whose first line is a comment
/// naming a file under `/tmp/` (the reader saves it there); and whether it
/// starts an example and then uses it.
fn step(block: &Block, scratch: &Path, port: u16, ci_run: &str) -> Option<(String, bool)> {
    if block.language != "sh" {
        let first = block.lines.first()?;
        let path = first.strip_prefix("# ").or_else(|| first.strip_prefix("// "))?.trim();
        if !path.starts_with("/tmp/") || path.contains(' ') {
            return None;
        }
        let path = in_scratch(path, scratch);
        let body = block.lines[1..].join("\n");
        return Some((
            format!("mkdir -p \"$(dirname {path})\"\ncat >{path} <<'BOOK_LISTING'\n{body}\nBOOK_LISTING"),
            false,
        ));
    }
    let address = format!("127.0.0.1:{port}");
    let mut lines = vec!["(".to_owned(), "started=()".to_owned(), STOP_STARTED.to_owned()];
    let mut serving = false;
    let mut acts_after = false;
    for line in &block.lines {
        let line = in_scratch(line, scratch).replace("127.0.0.1:8888", &address);
        let (command, comment) = split_comment(&line);
        let command = command.trim();
        if command.is_empty() {
            continue;
        }
        if let Some(install) = command.strip_prefix("sudo apt-get install") {
            for package in install.split_whitespace().filter(|w| !w.starts_with('-')) {
                assert!(ci_run.contains(package), "the book installs {package}, which .ci/run does not");
            }
            continue;
        }
        if command.contains("npm ci") {
            assert!(ci_run.contains("npm ci"), "the book runs npm ci, which .ci/run does not");
            continue;
        }
        acts_after |= serving;
        if let Some(at) = command.find("cargo run") {
            let env = &command[..at];
            let (name, features, mut args) = cargo_run(command[at..].trim_end_matches('&').trim());
            if !args.contains(&address) {
                args = format!("{args} {address}");
            }
            let binary = support::example_binary(&name, &features);
            lines.push(format!("{env}serve {} {args}", binary.display()));
            serving = true;
        } else if let Some(rest) = command.strip_prefix("curl ") {
            let promised = promised_output(comment);
            let refused = promised.starts_with('4') || promised.starts_with('5') || rest.contains("-I ");
            let fail = if refused { "" } else { "--fail-with-body " };
            let check =
                if promised.is_empty() { String::new() } else { format!(" | expect {}", single_quoted(promised)) };
            lines.push(format!("curl -sS {fail}--retry 10 --retry-connrefused --retry-delay 1 {rest}{check}"));
        } else if let Some(background) = command.strip_suffix('&') {
            // A reader starts the next command a moment later.
            lines.push(format!("{background}&\nstarted+=($!)\nsleep 1"));
        } else {
            lines.push(command.to_owned());
        }
    }
    lines.push(")".to_owned());
    Some((lines.join("\n"), serving && acts_after))
}

/// Stops, by their ids, the processes a step started in the background.
const STOP_STARTED: &str =
    r#"trap 'if [ ${#started[@]} -gt 0 ]; then kill "${started[@]}" 2>/dev/null || true; fi' EXIT"#;

/// Functions the steps use: `serve PROGRAM ARGS...` starts an example and
/// waits for the address it announces; `expect TEXT` checks that standard
/// input contains TEXT.
const PRELUDE: &str = r#"set -euo pipefail
serve() {
    out=$(mktemp -p .)
    "$@" >"$out" &
    started+=($!)
    for _ in $(seq 600); do
        grep -q http:// "$out" && return 0
        kill -0 $! 2>/dev/null || { echo "$1 exited" >&2; return 1; }
        sleep 0.05
    done
    echo "$1 announced no address" >&2
    return 1
}
expect() {
    got=$(cat)
    case "$got" in *"$1"*) ;; *) echo "expected \"$1\", got \"$got\"" >&2; return 1 ;; esac
}
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Follows `chapter` in a scratch directory: its steps in order, up to the
/// last that starts an example and uses it (what comes after — a
/// benchmark, say — is not a step to follow). Returns how many steps used
/// an example.
fn follow(chapter: &str) -> usize {
    let ci_run = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let scratch = std::env::temp_dir().join(format!("squall-book-{}-{chapter}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(scratch.join("tmp")).unwrap();
    for dir in ["examples", "tests"] {
        std::os::unix::fs::symlink(root().join(dir), scratch.join(dir)).unwrap();
    }
    let port = free_port();
    let steps: Vec<(String, bool)> = blocks(chapter).iter().filter_map(|b| step(b, &scratch, port, &ci_run)).collect();
    let Some(last) = steps.iter().rposition(|(_, uses)| *uses) else { return 0 };
    let script =
        PRELUDE.to_owned() + &steps[..=last].iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join("\n") + "\n";
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&scratch)
        .env("RUST_LOG", "off")
        // The pinned versions the rest of the suite tests, for `pip install flask`.
        .env("PIP_CONSTRAINT", root().join("tests/python/requirements.txt"))
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        // A commit needs an author; a fresh machine's git has none.
        .envs([("GIT_AUTHOR_NAME", "squall"), ("GIT_COMMITTER_NAME", "squall")])
        .envs([("GIT_AUTHOR_EMAIL", "squall@localhost"), ("GIT_COMMITTER_EMAIL", "squall@localhost")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{chapter}, as run:\n{script}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&scratch).unwrap();
    steps[..=last].iter().filter(|(_, uses)| *uses).count()
}

#[test]
#[cfg(feature = "cgi")]
fn the_cgi_chapter_runs_as_written_git_push_and_php_cgi() {
    assert_eq!(follow("cgi.md"), 2, "cgi.md: the git and the php-cgi steps");
}

#[test]
#[cfg(feature = "fastcgi")]
fn the_fastcgi_chapter_runs_as_written_with_its_php_fpm_pool() {
    assert_eq!(follow("fastcgi.md"), 1, "fastcgi.md: php-fpm with the repository's pool file");
}

#[test]
#[cfg(feature = "python")]
fn the_python_chapter_runs_as_written_flask_then_django() {
    assert_eq!(follow("python.md"), 2, "python.md: the Flask and the Django steps");
}

#[test]
#[cfg(all(feature = "templates", feature = "locale"))]
fn the_translations_chapter_runs_as_written() {
    assert_eq!(follow("translations.md"), 1, "translations.md: the page in French, English, and by cookie");
}

#[test]
#[cfg(all(feature = "templates", feature = "auth"))]
fn the_third_party_login_chapter_runs_as_written() {
    assert_eq!(follow("auth.md"), 1, "auth.md: the webapp sends the browser to a local OpenID provider");
}

#[test]
fn the_step_reader_splits_comments_and_promises() {
    assert_eq!(
        split_comment("curl -s x | grep -o '<t>#x</t>'   # <t>a</t>"),
        ("curl -s x | grep -o '<t>#x</t>'", "<t>a</t>")
    );
    assert_eq!(split_comment("# in another terminal:"), ("", "in another terminal:"));
    assert_eq!(promised_output("Hello from PHP 8.2.…"), "Hello from PHP 8.2.");
    let scratch = Path::new("/s");
    assert_eq!(in_scratch("(cd /tmp && x /tmp/a) /tmpfs", scratch), "(cd /s/tmp && x /s/tmp/a) /tmpfs");
    assert_eq!(promised_output("Hello from squall  (a native route)"), "Hello from squall");
    let (name, features, args) = cargo_run("cargo run --release --features python --example wsgi -- --app a:b");
    assert_eq!((name.as_str(), features.as_str(), args.as_str()), ("wsgi", "python", "--app a:b"));
    let blocks = blocks("python.md");
    assert!(
        blocks.iter().flat_map(|b| &b.lines).any(|l| l.contains("cargo run") && l.contains("--app hello:app")),
        "continuations join"
    );
}
