//! Translations against Tornado's own `tornado.locale`: the CSV file and
//! the gettext catalog Tornado's test suite uses for its locale tests (read
//! from the Tornado in the pinned virtualenv), and what real Tornado writes
//! for the same dates, counts, numbers and lists
//! (`tests/python/tornado_locale.py`).
#![cfg(feature = "locale")]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use squall::locale::{DateFormat, Locale, Translations, timestamp};

/// Tornado's test directory in the pinned virtualenv.
fn tornado_tests() -> PathBuf {
    let lib = support::framework_venv().join("lib");
    let python = std::fs::read_dir(&lib).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap();
    python.join("site-packages/tornado/test")
}

fn translations(load: &str) -> Translations {
    match load {
        "csv" => Translations::csv_dir(tornado_tests().join("csv_translations")).unwrap(),
        "gettext" => Translations::gettext_dir(tornado_tests().join("gettext_translations"), "tornado_test").unwrap(),
        _ => Translations::none(),
    }
}

/// What real Tornado answers to `cases` with the clock at `now`.
fn tornado_answers(now: i64, cases: &[Value]) -> Vec<Value> {
    let python = support::framework_venv().join("bin/python");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/tornado_locale.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(now.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(Value::from(cases.to_vec()).to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "tornado_locale.py failed");
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// What squall answers to one case.
fn squall_answer(locale: &Locale, now: i64, call: &str, args: &[Value]) -> Value {
    let int = |i: usize| args[i].as_i64().unwrap();
    let flag = |i: usize| args[i].as_bool().unwrap();
    let text = |i: usize| args[i].as_str().unwrap();
    let answer = match call {
        "format_date" => {
            let format = DateFormat { gmt_offset: int(1), relative: flag(2), shorter: flag(3), full_format: flag(4) };
            locale.format_date_at(timestamp(int(0)), timestamp(now), &format)
        }
        "format_day" => locale.format_day(timestamp(int(0)), int(1), flag(2)),
        "friendly_number" => locale.friendly_number(int(0)),
        "list" => {
            let parts: Vec<&str> = args[0].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
            locale.list(&parts)
        }
        "translate" if args.len() == 1 => locale.translate(text(0)).to_owned(),
        "translate" => locale.translate_plural(text(0), text(1), int(2) as u64).to_owned(),
        "pgettext" if args.len() == 2 => locale.pgettext(text(0), text(1), None).to_owned(),
        "pgettext" => locale.pgettext(text(0), text(1), Some((text(2), int(3) as u64))).to_owned(),
        other => panic!("no such call {other}"),
    };
    Value::from(answer)
}

/// Runs `cases` on both sides and lists every difference.
fn compare(now: i64, cases: Vec<Value>) {
    let expected = tornado_answers(now, &cases);
    assert_eq!(expected.len(), cases.len(), "Tornado answered every case");
    let mut differences = Vec::new();
    for (case, tornado) in cases.iter().zip(&expected) {
        let all = translations(case["load"].as_str().unwrap());
        let locale = all.closest([case["locale"].as_str().unwrap()]);
        let args = case["args"].as_array().unwrap();
        let squall = squall_answer(locale, now, case["call"].as_str().unwrap(), args);
        if &squall != tornado {
            differences.push(format!("{case}: Tornado {tornado}, squall {squall}"));
        }
    }
    assert!(differences.is_empty(), "{} of {} differ:\n{}", differences.len(), cases.len(), differences.join("\n"));
}

const LOADS: [(&str, &str); 3] = [("none", "en_US"), ("csv", "fr_FR"), ("gettext", "fr_FR")];

/// Every branch of `format_date`: seconds, minutes and hours ago (with
/// Python's rounding of halves to even), yesterday across midnight in the
/// reader's zone, weekdays, month and day, the year, a date a little and a
/// lot ahead; relative or not, shorter or not, full or not; four offsets.
#[test]
fn format_date_writes_what_tornado_writes() {
    let ago = [
        0, 1, 49, 50, 89, 90, 150, 210, 2999, 3000, 5399, 5400, 9000, 86_399, 86_400, 90_000, 172_800, 345_600,
        431_999, 432_000, 2_592_000, 28_857_600, 28_944_000, 69_120_000, -30, -59, -61, -7200,
    ];
    // 00:30 and 15:45 UTC: "yesterday" falls on either side of midnight.
    for now in [1_796_517_000_i64, 1_796_571_900] {
        let mut cases = Vec::new();
        for (load, code) in LOADS {
            for seconds in ago {
                for gmt_offset in [0, 300, -60, -330] {
                    for (relative, shorter, full) in [
                        (true, false, false),
                        (true, true, false),
                        (false, false, false),
                        (false, true, false),
                        (true, false, true),
                    ] {
                        cases.push(json!({"load": load, "locale": code, "call": "format_date",
                            "args": [now - seconds, gmt_offset, relative, shorter, full]}));
                    }
                }
            }
        }
        compare(now, cases);
    }
}

#[test]
fn days_numbers_and_lists_are_written_as_tornado_writes_them() {
    let mut cases = Vec::new();
    for (load, code) in LOADS {
        for date in [1_367_174_100_i64, 951_782_400, 0, 1_796_517_000] {
            for (gmt_offset, dow) in [(0, true), (0, false), (300, true), (-600, true)] {
                cases
                    .push(json!({"load": load, "locale": code, "call": "format_day", "args": [date, gmt_offset, dow]}));
            }
        }
        for value in [0, 7, 999, 1000, 123_456, 1_000_000, 9_876_543_210_i64] {
            cases.push(json!({"load": load, "locale": code, "call": "friendly_number", "args": [value]}));
        }
        for parts in [vec![], vec!["A"], vec!["A", "B"], vec!["A", "B", "C"]] {
            cases.push(json!({"load": load, "locale": code, "call": "list", "args": [parts]}));
        }
    }
    compare(1_796_517_000, cases);
}

/// Tornado's test CSV and catalog: "school" is "école" in both; the
/// catalog's contexts and its French plural rule (0 and 1 singular) pick
/// "le club" or "les clubs", "le bâton" or "les bâtons".
#[test]
fn translations_and_plural_forms_match_tornado() {
    let mut cases = Vec::new();
    for (load, code) in LOADS {
        cases.push(json!({"load": load, "locale": code, "call": "translate", "args": ["school"]}));
        cases.push(json!({"load": load, "locale": code, "call": "translate", "args": ["not translated"]}));
        for count in [0, 1, 2, 5] {
            cases.push(json!({"load": load, "locale": code, "call": "translate", "args": ["club", "clubs", count]}));
            for context in ["organization", "stick", "nowhere"] {
                cases.push(json!({"load": load, "locale": code, "call": "pgettext",
                    "args": [context, "club", "clubs", count]}));
            }
        }
        for context in ["law", "good", "nowhere"] {
            cases.push(json!({"load": load, "locale": code, "call": "pgettext", "args": [context, "right"]}));
        }
    }
    compare(1_796_517_000, cases);
    // And what the comparison stands on, spelled out.
    let gettext = translations("gettext");
    let french = gettext.closest(["fr_FR"]);
    assert_eq!(french.translate("school"), "école");
    assert_eq!(french.pgettext("law", "right", None), "le droit");
    assert_eq!(french.pgettext("stick", "club", Some(("clubs", 0))), "le bâton", "French: 0 is singular");
    assert_eq!(french.pgettext("stick", "club", Some(("clubs", 2))), "les bâtons");
    assert_eq!(translations("csv").closest(["fr-fr"]).translate("school"), "école");
}

/// The same catalog from its `.po` source, read by polib, where no `.mo`
/// was compiled.
#[test]
fn a_po_catalog_without_its_mo_translates_the_same() {
    let dir = std::env::temp_dir().join(format!("squall-po-{}", std::process::id()));
    let messages = dir.join("fr_FR/LC_MESSAGES");
    std::fs::create_dir_all(&messages).unwrap();
    let source = tornado_tests().join("gettext_translations/fr_FR/LC_MESSAGES/tornado_test.po");
    std::fs::copy(source, messages.join("tornado_test.po")).unwrap();
    let translations = Translations::gettext_dir(&dir, "tornado_test").unwrap();
    let french = translations.closest(["fr-FR"]);
    assert_eq!(french.translate("school"), "école");
    assert_eq!(french.pgettext("good", "right", None), "le bien");
    assert_eq!(french.pgettext("organization", "club", Some(("clubs", 1))), "le club");
    assert_eq!(french.pgettext("organization", "club", Some(("clubs", 3))), "les clubs");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The translations example's page, as browsers ask for it: `fr` finds
/// `fr_FR.csv`, q-values rank, the reader's cookie wins over the header,
/// and an unsupported language gets English.
#[test]
#[cfg(feature = "templates")]
fn a_page_renders_in_the_language_the_reader_asks_for() {
    use squall::testing::TestConnection;
    // Stopped when dropped, at the end of the test.
    let example = support::example("translations", "templates,locale", &[]);
    let addr = example.addr;
    let page = |headers: &[(&str, &str)], path: &str| {
        let resp = TestConnection::open(addr).unwrap().request("GET", path, headers, b"").unwrap();
        assert_eq!(resp.status, 200, "{}", resp.text());
        resp.text()
    };
    let french = page(&[("Accept-Language", "fr")], "/");
    for text in
        ["<html lang=\"fr-FR\">", "Bonjour, Ada !", "Vous avez 3 notes", "anglais et français", "Démarré il y a"]
    {
        assert!(french.contains(text), "{text} in {french}");
    }
    let ranked = page(&[("Accept-Language", "de;q=0.9, fr-CA;q=0.8, en;q=0.1")], "/?notes=1");
    assert!(ranked.contains("Vous avez 1 note<"), "fr-CA outranks en; de is not supported: {ranked}");
    let english = page(&[("Accept-Language", "de, es")], "/?notes=1");
    assert!(english.contains("Hello, Ada!") && english.contains("You have 1 note<"), "{english}");
    let chosen = page(&[("Accept-Language", "fr"), ("Cookie", "lang=en_US")], "/");
    assert!(chosen.contains("You have 3 notes"), "the reader's setting wins: {chosen}");
    let escaped = page(&[("Accept-Language", "fr")], "/?name=%3Cb%3E");
    assert!(escaped.contains("Bonjour, &lt;b&gt; !"), "interpolated values are escaped: {escaped}");
}

/// The table of the book's translations chapter, English and the example's
/// French, at 2013-04-28 18:35 UTC (a Sunday).
#[test]
fn the_books_table_of_dates_numbers_and_lists_holds() {
    let csv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/translations/csv");
    let translations = Translations::csv_dir(csv).unwrap();
    let now = 1_367_174_100;
    let yesterday_at_1701 = now - (18 * 3600 + 35 * 60) - 86_400 + 17 * 3600 + 60;
    for (code, expected) in [
        (
            "en_US",
            [
                "5 minutes ago",
                "yesterday at 5:01 pm",
                "Thursday",
                "April 28, 2013 at 6:35 pm",
                "Sunday, April 28",
                "1,000,000",
                "A, B and C",
            ],
        ),
        (
            "fr_FR",
            [
                "il y a 5 minutes",
                "hier à 17:01",
                "jeudi",
                "le 28 avril 2013 à 18:35",
                "dimanche, avril 28",
                "1000000",
                "A, B et C",
            ],
        ),
    ] {
        let locale = translations.closest([code]);
        let at = |date: i64, format: DateFormat| locale.format_date_at(timestamp(date), timestamp(now), &format);
        let got = [
            at(now - 300, DateFormat::default()),
            at(yesterday_at_1701, DateFormat::default()),
            at(now - 3 * 86_400, DateFormat { shorter: true, ..DateFormat::default() }),
            at(now, DateFormat { full_format: true, ..DateFormat::default() }),
            locale.format_day(timestamp(now), 0, true),
            locale.friendly_number(1_000_000),
            locale.list(&["A", "B", "C"]),
        ];
        assert_eq!(got, expected, "{code}");
    }
}
