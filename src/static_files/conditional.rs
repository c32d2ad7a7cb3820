//! Validators, preconditions and ranges (RFC 9110 §8.8, §13, §14) for a
//! file's representation: pure functions over header values, so each rule
//! is tested here without a socket.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A representation's validators.
#[derive(Debug, Clone)]
pub(super) struct Validators {
    /// A strong entity tag, quotes included.
    pub(super) etag: String,
    /// The modification time, to the second (what `Last-Modified` can say).
    pub(super) modified: SystemTime,
}

impl Validators {
    pub(super) fn of(modified: SystemTime, len: u64) -> Self {
        let since = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        let etag = format!("\"{:x}-{:x}-{len:x}\"", since.as_secs(), since.subsec_nanos());
        Validators { etag, modified: UNIX_EPOCH + Duration::from_secs(since.as_secs()) }
    }

    pub(super) fn last_modified(&self) -> String {
        httpdate::fmt_http_date(self.modified)
    }
}

/// What the preconditions decide (§13.2.2, evaluated in its order).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Precondition {
    /// Go on to the range, or the whole representation.
    Proceed,
    /// `304 Not Modified` (GET or HEAD).
    NotModified,
    /// `412 Precondition Failed`.
    Failed,
}

/// The request headers that take part.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Conditions<'a> {
    pub(super) if_match: Option<&'a str>,
    pub(super) if_unmodified_since: Option<&'a str>,
    pub(super) if_none_match: Option<&'a str>,
    pub(super) if_modified_since: Option<&'a str>,
}

/// §13.2.2: If-Match, else If-Unmodified-Since; then If-None-Match, else
/// If-Modified-Since (for GET and HEAD only).
pub(super) fn evaluate(c: Conditions<'_>, v: &Validators, get_or_head: bool) -> Precondition {
    if let Some(list) = c.if_match {
        // §13.1.1: strong comparison; `*` matches any current representation.
        if !list_matches(list, &v.etag, true) {
            return Precondition::Failed;
        }
    } else if let Some(date) = c.if_unmodified_since.and_then(parse_date)
        && v.modified > date
    {
        return Precondition::Failed;
    }
    if let Some(list) = c.if_none_match {
        // §13.1.2: weak comparison.
        if list_matches(list, &v.etag, false) {
            return if get_or_head { Precondition::NotModified } else { Precondition::Failed };
        }
    } else if get_or_head
        && let Some(date) = c.if_modified_since.and_then(parse_date)
        && v.modified <= date
    {
        return Precondition::NotModified;
    }
    Precondition::Proceed
}

fn parse_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// Whether `list` (an If-Match / If-None-Match value) names `etag`, or is `*`.
fn list_matches(list: &str, etag: &str, strong: bool) -> bool {
    if list.trim() == "*" {
        return true;
    }
    let ours = etag.strip_prefix("W/").unwrap_or(etag);
    list.split(',').map(str::trim).any(|theirs| {
        let weak = theirs.starts_with("W/");
        let opaque = theirs.strip_prefix("W/").unwrap_or(theirs);
        opaque == ours && !(strong && (weak || etag.starts_with("W/")))
    })
}

/// What a `Range` header asks of a representation of `len` bytes (§14.2).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RangeAnswer {
    /// No range, an invalid one, or several: the whole representation (200).
    Whole,
    /// One satisfiable range, inclusive bounds: 206.
    Part(u64, u64),
    /// No byte of it exists: 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Parses `Range`. Several ranges are answered with the whole file, which
/// §14.2 allows; an invalid header is ignored, as it requires.
pub(super) fn range(header: Option<&str>, len: u64) -> RangeAnswer {
    let Some(header) = header else {
        return RangeAnswer::Whole;
    };
    let Some(spec) = header.trim().strip_prefix("bytes=").or_else(|| {
        let h = header.trim();
        h.get(..6).filter(|p| p.eq_ignore_ascii_case("bytes=")).map(|_| &h[6..])
    }) else {
        return RangeAnswer::Whole; // another unit
    };
    let ranges: Vec<&str> = spec.split(',').map(str::trim).filter(|r| !r.is_empty()).collect();
    let [one] = ranges.as_slice() else {
        return RangeAnswer::Whole;
    };
    let Some((first, last)) = one.split_once('-') else {
        return RangeAnswer::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) { None } else { s.parse().ok() }
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            None => RangeAnswer::Whole,
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(_) if len == 0 => RangeAnswer::Unsatisfiable,
            Some(n) => RangeAnswer::Part(len.saturating_sub(n), len - 1),
        },
        (first, last) => {
            let Some(first) = number(first) else {
                return RangeAnswer::Whole;
            };
            let last = if last.is_empty() {
                u64::MAX
            } else {
                match number(last) {
                    Some(l) if l >= first => l,
                    _ => return RangeAnswer::Whole, // §14.1.1: invalid
                }
            };
            if first >= len { RangeAnswer::Unsatisfiable } else { RangeAnswer::Part(first, last.min(len - 1)) }
        }
    }
}

/// §13.1.5: whether `If-Range` lets the range apply: a strong ETag equal to
/// ours, or a date equal to our Last-Modified.
pub(super) fn if_range_holds(if_range: Option<&str>, v: &Validators) -> bool {
    let Some(value) = if_range.map(str::trim) else {
        return true;
    };
    if value.starts_with('"') || value.starts_with("W/") {
        return !value.starts_with("W/") && value == v.etag;
    }
    parse_date(value).is_some_and(|date| date == v.modified)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Validators {
        Validators::of(UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(5), 4096)
    }

    fn when(c: Conditions<'_>) -> Precondition {
        evaluate(c, &v(), true)
    }

    const AT: &str = "Tue, 14 Nov 2023 22:13:20 GMT"; // the file's time
    const BEFORE: &str = "Tue, 14 Nov 2023 22:13:19 GMT";

    #[test]
    fn rfc9110_8_8_validators() {
        assert_eq!(v().etag, "\"6553f100-4c4b40-1000\"");
        assert_eq!(v().last_modified(), AT);
    }

    #[test]
    fn rfc9110_13_1_1_if_match_is_strong_and_fails_with_412() {
        let etag = v().etag;
        assert_eq!(when(Conditions { if_match: Some(&etag), ..Default::default() }), Precondition::Proceed);
        assert_eq!(when(Conditions { if_match: Some("*"), ..Default::default() }), Precondition::Proceed);
        assert_eq!(when(Conditions { if_match: Some("\"other\""), ..Default::default() }), Precondition::Failed);
        let weak = format!("W/{etag}");
        assert_eq!(when(Conditions { if_match: Some(&weak), ..Default::default() }), Precondition::Failed);
    }

    #[test]
    fn rfc9110_13_1_2_if_none_match_is_weak_lists_and_star() {
        let etag = v().etag;
        let list = format!("\"a\", W/{etag}");
        assert_eq!(when(Conditions { if_none_match: Some(&list), ..Default::default() }), Precondition::NotModified);
        assert_eq!(when(Conditions { if_none_match: Some("*"), ..Default::default() }), Precondition::NotModified);
        assert_eq!(when(Conditions { if_none_match: Some("\"a\""), ..Default::default() }), Precondition::Proceed);
        let put = evaluate(Conditions { if_none_match: Some("*"), ..Default::default() }, &v(), false);
        assert_eq!(put, Precondition::Failed, "not GET/HEAD: 412");
    }

    #[test]
    fn rfc9110_13_2_2_if_none_match_takes_precedence_over_if_modified_since() {
        let c = Conditions { if_none_match: Some("\"a\""), if_modified_since: Some(AT), ..Default::default() };
        assert_eq!(when(c), Precondition::Proceed, "If-Modified-Since is ignored when If-None-Match is present");
        assert_eq!(when(Conditions { if_modified_since: Some(AT), ..Default::default() }), Precondition::NotModified);
        assert_eq!(when(Conditions { if_modified_since: Some(BEFORE), ..Default::default() }), Precondition::Proceed);
        assert_eq!(
            when(Conditions { if_modified_since: Some("not a date"), ..Default::default() }),
            Precondition::Proceed
        );
    }

    #[test]
    fn rfc9110_13_1_4_if_unmodified_since() {
        assert_eq!(when(Conditions { if_unmodified_since: Some(AT), ..Default::default() }), Precondition::Proceed);
        assert_eq!(when(Conditions { if_unmodified_since: Some(BEFORE), ..Default::default() }), Precondition::Failed);
        let c = Conditions { if_match: Some("*"), if_unmodified_since: Some(BEFORE), ..Default::default() };
        assert_eq!(when(c), Precondition::Proceed, "ignored when If-Match is present");
    }

    #[test]
    fn rfc9110_14_1_2_byte_ranges() {
        assert_eq!(range(None, 100), RangeAnswer::Whole);
        assert_eq!(range(Some("bytes=0-9"), 100), RangeAnswer::Part(0, 9));
        assert_eq!(range(Some("bytes=90-"), 100), RangeAnswer::Part(90, 99));
        assert_eq!(range(Some("bytes=-10"), 100), RangeAnswer::Part(90, 99));
        assert_eq!(range(Some("bytes=-500"), 100), RangeAnswer::Part(0, 99));
        assert_eq!(range(Some("bytes=50-500"), 100), RangeAnswer::Part(50, 99));
        assert_eq!(range(Some("Bytes=1-1"), 100), RangeAnswer::Part(1, 1));
        assert_eq!(range(Some("bytes=100-"), 100), RangeAnswer::Unsatisfiable);
        assert_eq!(range(Some("bytes=-0"), 100), RangeAnswer::Unsatisfiable);
        assert_eq!(range(Some("bytes=0-"), 0), RangeAnswer::Unsatisfiable);
        for invalid in ["bytes=9-1", "bytes=a-b", "bytes=", "items=0-1", "bytes=1", "bytes=--1", "bytes=+1-2"] {
            assert_eq!(range(Some(invalid), 100), RangeAnswer::Whole, "{invalid}");
        }
        assert_eq!(range(Some("bytes=0-1,5-6"), 100), RangeAnswer::Whole, "several ranges: the whole file");
    }

    #[test]
    fn rfc9110_13_1_5_if_range() {
        let v = v();
        assert!(if_range_holds(None, &v));
        assert!(if_range_holds(Some(&v.etag), &v));
        assert!(!if_range_holds(Some("\"other\""), &v));
        assert!(!if_range_holds(Some(&format!("W/{}", v.etag)), &v), "a weak tag never holds");
        assert!(if_range_holds(Some(AT), &v));
        assert!(!if_range_holds(Some(BEFORE), &v));
    }
}
