//! The book's integrity: every `{{#include}}` names a file this crate compiles
//! and an anchor that exists in it, every chapter is in `SUMMARY.md`, and
//! every relative link leads to a chapter (and heading) that exists.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn book_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("book").join("src")
}

fn chapters() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(book_src())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    found.sort();
    found
}

/// `{{#include path}}` / `{{#include path:anchor}}` directives in `text`.
fn includes(text: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{#") {
        let after = &rest[start + 3..];
        let end = after.find("}}").expect("an unclosed {{# directive");
        let directive = after[..end].trim();
        let (kind, arg) = directive.split_once(char::is_whitespace).unwrap_or((directive, ""));
        assert!(
            matches!(kind, "include" | "rustdoc_include"),
            "unknown directive {{{{#{kind}}}}}: only include and rustdoc_include are used"
        );
        let arg = arg.trim();
        match arg.split_once(':') {
            Some((path, anchor)) if !anchor.chars().all(|c| c.is_ascii_digit() || c == ':') => {
                found.push((path.to_owned(), Some(anchor.to_owned())))
            }
            _ => found.push((arg.split(':').next().unwrap_or(arg).to_owned(), None)),
        }
        rest = &after[end + 2..];
    }
    found
}

/// Files `cargo test` compiles (the library, examples, tests and benches),
/// or renders: an example's templates, which its tests drive; or a file a
/// test embeds with `include_str!` and runs (the php-fpm pool).
fn is_compiled(path: &Path) -> bool {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).canonicalize().unwrap();
    let rel = path.strip_prefix(&root).unwrap_or(path);
    let template = rel.starts_with("examples") && rel.components().any(|c| c.as_os_str() == "templates");
    let embedded = || {
        let needle = format!("include_str!(\"../{}\")", rel.display());
        std::fs::read_dir(root.join("tests"))
            .unwrap()
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
            .any(|test| test.contains(&needle))
    };
    (path.extension().is_some_and(|e| e == "rs")
        && ["src", "examples", "tests", "benches"].iter().any(|dir| rel.starts_with(dir)))
        || (template && path.extension().is_some_and(|e| e == "html"))
        || embedded()
}

#[test]
fn every_include_names_a_compiled_file_and_an_existing_anchor() {
    let mut checked = 0;
    for chapter in chapters() {
        let text = std::fs::read_to_string(&chapter).unwrap();
        for (path, anchor) in includes(&text) {
            let target = chapter.parent().unwrap().join(&path);
            let target = target
                .canonicalize()
                .unwrap_or_else(|_| panic!("{}: includes {path}, which does not exist", chapter.display()));
            assert!(is_compiled(&target), "{}: {path} is not a file cargo test compiles", chapter.display());
            if let Some(anchor) = anchor {
                let source = std::fs::read_to_string(&target).unwrap();
                let has = |marker: &str| {
                    source
                        .lines()
                        .any(|l| l.trim().strip_prefix("//").map(str::trim) == Some(&format!("{marker}: {anchor}")))
                };
                assert!(has("ANCHOR"), "{}: no `ANCHOR: {anchor}` in {path}", chapter.display());
                assert!(has("ANCHOR_END"), "{}: no `ANCHOR_END: {anchor}` in {path}", chapter.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} listings: the book's code should come from compiled files");
}

/// A reader of the raw Markdown on a code host sees `{{#include}}` where
/// mdBook shows code: after each listing's closing fence, a `Source:` line
/// links the file (relative, so it also works from the built book opened
/// from disk) and names the anchor that delimits the listing.
#[test]
fn every_include_is_followed_by_a_link_to_its_source_and_anchor() {
    let mut checked = 0;
    for chapter in chapters() {
        let text = std::fs::read_to_string(&chapter).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (at, line) in lines.iter().enumerate().filter(|(_, l)| l.contains("{{#")) {
            let (path, anchor) = includes(line).pop().unwrap();
            let close = at + lines[at..].iter().position(|l| l.trim() == "```").expect("a listing's closing fence");
            let caption = lines.get(close + 2).copied().unwrap_or("");
            let name = path.trim_start_matches("../../");
            let mut wanted = format!("Source: [`{name}`]({path})");
            if let Some(anchor) = anchor {
                wanted.push_str(&format!(", between `ANCHOR: {anchor}` and `ANCHOR_END: {anchor}`"));
            }
            assert!(
                lines.get(close + 1) == Some(&"") && caption.starts_with(&wanted),
                "{}:{}: the listing of {path} should be followed by a blank line and `{wanted}.`, not {caption:?}",
                chapter.display(),
                at + 1
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} listings found");
}

fn summary_links() -> BTreeSet<String> {
    let summary = std::fs::read_to_string(book_src().join("SUMMARY.md")).unwrap();
    links(&summary).into_iter().map(|l| l.split('#').next().unwrap().to_owned()).collect()
}

/// Targets of `[text](target)` links in `text`, outside code.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    found
}

/// The anchor mdBook gives a heading.
fn slug(heading: &str) -> String {
    let mut slug = String::new();
    for c in heading.trim().chars() {
        if c.is_alphanumeric() || c == '_' || c == '-' {
            slug.extend(c.to_lowercase());
        } else if c == ' ' {
            slug.push('-');
        }
    }
    slug
}

fn headings(text: &str) -> BTreeSet<String> {
    let mut in_fence = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence && line.starts_with('#') {
            found.insert(slug(line.trim_start_matches('#')));
        }
    }
    found
}

#[test]
fn every_chapter_is_in_the_summary_and_no_chapter_is_a_stub() {
    let listed = summary_links();
    for chapter in chapters() {
        let name = chapter.file_name().unwrap().to_string_lossy().into_owned();
        if name == "SUMMARY.md" {
            continue;
        }
        assert!(listed.contains(&name), "{name} is not in SUMMARY.md");
        let text = std::fs::read_to_string(&chapter).unwrap();
        let words = text.split_whitespace().count();
        assert!(words >= 150, "{name} has only {words} words");
    }
    for link in &listed {
        assert!(book_src().join(link).exists(), "SUMMARY.md links to {link}, which does not exist");
    }
}

#[test]
fn relative_links_lead_to_chapters_and_headings_that_exist() {
    for chapter in chapters() {
        let text = std::fs::read_to_string(&chapter).unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() { chapter.clone() } else { chapter.parent().unwrap().join(file) };
            assert!(target.exists(), "{}: link to {link}: no such file", chapter.display());
            if !fragment.is_empty() && target.extension().is_some_and(|e| e == "md") {
                let target_text = std::fs::read_to_string(&target).unwrap();
                assert!(
                    headings(&target_text).contains(fragment),
                    "{}: link to {link}: no such heading",
                    chapter.display()
                );
            }
        }
    }
}

#[test]
fn the_include_parser_reads_paths_and_anchors() {
    let found = includes("a {{#include ../../examples/hello.rs:hello}} b {{#include x.rs}} {{#include y.rs:2:5}}");
    assert_eq!(
        found,
        vec![
            ("../../examples/hello.rs".to_owned(), Some("hello".to_owned())),
            ("x.rs".to_owned(), None),
            ("y.rs".to_owned(), None),
        ]
    );
    assert_eq!(slug("Executor strategies & caveats"), "executor-strategies--caveats");
}

/// The lines of the fenced `sh` blocks in `text`.
fn shell_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut in_sh = false;
    for line in text.lines() {
        let fence = line.trim_start();
        if fence.starts_with("```") {
            in_sh = !in_sh && matches!(fence.trim_start_matches('`'), "sh" | "bash" | "console");
            continue;
        }
        if in_sh {
            lines.push(line);
        }
    }
    lines
}

/// What a quoted command needs from the repository: a file it runs or names.
fn needed_files(line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split_whitespace().take_while(|w| !w.starts_with('#')).collect();
    let mut needed = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let next = words.get(i + 1).map(|w| w.trim_matches(['"', '\'']));
        match (*word, next) {
            ("--example", Some(name)) => needed.push(format!("examples/{name}.rs")),
            ("--bench", Some(name)) | ("--test", Some(name)) if !name.starts_with('-') => {
                let dir = if *word == "--bench" { "benches" } else { "tests" };
                needed.push(format!("{dir}/{name}.rs"))
            }
            (w, _) if ["benches/", "examples/", "tests/", ".ci/"].iter().any(|dir| w.starts_with(dir)) => {
                needed.push(w.to_owned())
            }
            _ => {}
        }
    }
    needed
}

#[test]
fn quoted_commands_name_only_files_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut documents = chapters();
    documents.push(root.join("README.md"));
    documents.push(root.join("benches/compare/README.md"));
    let mut checked = 0;
    for document in documents {
        let text = std::fs::read_to_string(&document).unwrap();
        for line in shell_lines(&text) {
            for file in needed_files(line) {
                assert!(
                    root.join(&file).exists(),
                    "{}: `{line}` needs {file}, which is not in the repository",
                    document.display()
                );
                checked += 1;
            }
        }
        // Outside include directives, nothing points out of the repository.
        let without_includes: String =
            text.split("{{#").map(|part| part.split_once("}}").map_or(part, |(_, rest)| rest)).collect();
        assert!(!without_includes.contains("../shared"), "{} names a path outside the repository", document.display());
    }
    assert!(checked >= 10, "only {checked} command arguments found: is the parser broken?");
}

#[test]
fn the_command_parser_finds_examples_benches_and_scripts() {
    assert_eq!(needed_files("cargo run --release --example mixed -- --executor pool"), ["examples/mixed.rs"]);
    assert_eq!(needed_files("SECS=3 cargo bench --bench load"), ["benches/load.rs"]);
    assert_eq!(needed_files("ONLY='a|b' benches/compare/run.sh  # a subset"), ["benches/compare/run.sh"]);
    assert_eq!(needed_files("cargo test --all-features   # every test"), Vec::<String>::new());
    assert_eq!(shell_lines("x\n```sh\ncargo test\n```\n```rust\nfn f() {}\n```\n"), ["cargo test"]);
}
