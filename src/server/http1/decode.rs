//! Request heads: bytes in, a validated [`RequestHead`] (or the status to answer) out.
//!
//! `httparse` tokenizes the request line and header lines; this module decides
//! what they mean for framing (RFC 9112 §6) and rejects anything ambiguous:
//! such a request is answered with a complete error response and a close, so
//! no two parties can disagree about where it ends.

use std::mem::MaybeUninit;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

/// How many header lines a request head may carry; more is answered with 431.
pub(crate) const MAX_HEADERS: usize = 100;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestFraming {
    /// No body at all.
    None,
    /// Exactly this many bytes (never zero: zero is `None`).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed and validated request head.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) framing: RequestFraming,
    /// The client allows the connection to stay open after this exchange.
    pub(crate) keep_alive: bool,
    /// The client sent `Expect: 100-continue` and waits before sending the body.
    pub(crate) expect_continue: bool,
}

/// Why a head was refused: the status to answer with, and a reason for the log
/// (also used as the response body: it names the rule, never echoes input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reject {
    pub(crate) status: StatusCode,
    pub(crate) reason: &'static str,
}

const fn bad(reason: &'static str) -> Reject {
    Reject { status: StatusCode::BAD_REQUEST, reason }
}

/// Parses one request head from the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, or the head and how many
/// bytes of `buf` it took (leading blank lines included).
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, Reject> {
    // Uninitialized slots: zero-filling 100 headers would cost more than parsing.
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let consumed = match req.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::Version) => return parse_later_minor_version(buf),
        Err(e) => return Err(reject_parse_error(e)),
    };
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let method = req.method.and_then(|m| Method::from_bytes(m.as_bytes()).ok()).ok_or(bad("invalid method"))?;
    let uri = parse_target(&method, req.path.unwrap_or(""))?;
    let head = validate(method, uri, version, req.headers)?;
    Ok(Some((head, consumed)))
}

/// A request line ending in `HTTP/1.x` with `x` above 1 is served as
/// HTTP/1.1 (RFC 9110 §2.5, RFC 9112 §2.3): the head is parsed again from a
/// copy that says `HTTP/1.1`. Any other version stays a `400`.
#[cold]
fn parse_later_minor_version(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, Reject> {
    const INVALID: Reject = bad("invalid HTTP version");
    let blank = buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
    let line_end = buf[blank..].iter().position(|&b| b == b'\n').ok_or(INVALID)? + blank;
    let line = &buf[blank..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let version_at = line.iter().rposition(|&b| b == b' ').ok_or(INVALID)? + 1;
    let minor = line[version_at..].strip_prefix(b"HTTP/1.").ok_or(INVALID)?;
    // HTTP-version is exactly one digit, a dot, one digit (RFC 9112 §2.3).
    if !matches!(minor, [b'2'..=b'9']) {
        return Err(INVALID);
    }
    let mut copy = buf.to_vec();
    copy[blank + version_at + 7] = b'1';
    parse(&copy)
}

fn reject_parse_error(e: httparse::Error) -> Reject {
    match e {
        httparse::Error::TooManyHeaders => {
            Reject { status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, reason: "too many header fields" }
        }
        httparse::Error::Version => bad("invalid HTTP version"),
        httparse::Error::HeaderName => bad("invalid header name"),
        httparse::Error::HeaderValue => bad("invalid header value"),
        httparse::Error::Token | httparse::Error::NewLine | httparse::Error::Status => {
            bad("malformed request line or header line")
        }
    }
}

fn parse_target(method: &Method, target: &str) -> Result<Uri, Reject> {
    if method == Method::CONNECT {
        return Err(Reject { status: StatusCode::NOT_IMPLEMENTED, reason: "CONNECT is not supported" });
    }
    const INVALID: Reject = bad("invalid request target");
    // A fragment is never sent (RFC 9112 §3.2): refuse it rather than drop it.
    if target.contains('#') {
        return Err(bad("fragment in the request target"));
    }
    match target.as_bytes().first() {
        Some(b'/') => {}
        Some(b'*') if target == "*" && method == Method::OPTIONS => {}
        // absolute-form, which servers must accept (RFC 9112 §3.2.2); the
        // scheme is case-insensitive (RFC 3986 §3.1).
        Some(_) => {
            let scheme_end = target.find("://").ok_or(INVALID)?;
            let scheme = &target[..scheme_end];
            if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                return Err(INVALID);
            }
            let rest = &target[scheme_end + 3..];
            let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
            // The same rules as Host, so the two ways of naming the host agree:
            // no userinfo (RFC 9110 §4.2.4), a port in range; and never empty (§4.2.1).
            if authority.is_empty() || validate_host(authority.as_bytes()).is_err() {
                return Err(INVALID);
            }
        }
        None => return Err(INVALID),
    }
    Uri::try_from(target).map_err(|_| INVALID)
}

/// Applies RFC 9112's framing rules to the header lines and builds the map.
fn validate(method: Method, uri: Uri, version: Version, lines: &[httparse::Header<'_>]) -> Result<RequestHead, Reject> {
    let mut headers = HeaderMap::with_capacity(lines.len());
    let mut content_length: Option<u64> = None;
    let mut content_length_text: Option<&[u8]> = None;
    let mut transfer_encodings = 0;
    let mut hosts = 0;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;

    for line in lines {
        let name = HeaderName::from_bytes(line.name.as_bytes()).map_err(|_| bad("invalid header name"))?;
        let value = HeaderValue::from_bytes(line.value).map_err(|_| bad("invalid header value"))?;
        if name == header::CONTENT_LENGTH {
            let (n, text) = parse_content_length(line.value)?;
            if content_length_text.is_some_and(|prev| prev != text) {
                return Err(bad("conflicting Content-Length"));
            }
            content_length = Some(n);
            content_length_text = Some(text);
        } else if name == header::TRANSFER_ENCODING {
            transfer_encodings += 1;
            parse_transfer_encoding(line.value)?;
        } else if name == header::HOST {
            hosts += 1;
            validate_host(line.value)?;
        } else if name == header::CONNECTION {
            for token in list_items(line.value) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name == header::EXPECT && version == Version::HTTP_11 {
            if !line.value.eq_ignore_ascii_case(b"100-continue") {
                return Err(Reject { status: StatusCode::EXPECTATION_FAILED, reason: "unsupported expectation" });
            }
            expect_continue = true;
        }
        headers.append(name, value);
    }

    if version == Version::HTTP_11 && hosts == 0 {
        return Err(bad("missing Host header"));
    }
    if hosts > 1 {
        return Err(bad("more than one Host header"));
    }
    let framing = match (content_length, transfer_encodings) {
        (Some(_), n) if n > 0 => return Err(bad("both Content-Length and Transfer-Encoding")),
        (_, n) if n > 1 => return Err(bad("more than one Transfer-Encoding header")),
        (_, 1) if version == Version::HTTP_10 => return Err(bad("Transfer-Encoding in an HTTP/1.0 request")),
        (_, 1) => RequestFraming::Chunked,
        (Some(0) | None, _) => RequestFraming::None,
        (Some(n), _) => RequestFraming::Length(n),
    };
    let keep_alive = !close && (version == Version::HTTP_11 || keep_alive_token);
    Ok(RequestHead {
        method,
        uri,
        version,
        headers,
        framing,
        keep_alive,
        expect_continue: expect_continue && framing != RequestFraming::None,
    })
}

/// The elements of a comma-separated header list, trimmed, empties skipped.
pub(crate) fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(|item| item.trim_ascii()).filter(|item| !item.is_empty())
}

/// `1*DIGIT`, possibly repeated as a list of identical values (`5, 5`, RFC
/// 9110 §8.6): identical as text, so `5, 05` is refused. Anything else is a
/// 400. Returns the length and its text.
fn parse_content_length(value: &[u8]) -> Result<(u64, &[u8]), Reject> {
    let mut result: Option<&[u8]> = None;
    for item in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
        if item.is_empty() || item.len() > 18 || !item.iter().all(u8::is_ascii_digit) {
            return Err(bad("invalid Content-Length"));
        }
        if result.is_some_and(|prev| prev != item) {
            return Err(bad("conflicting Content-Length"));
        }
        result = Some(item);
    }
    let text = result.ok_or(bad("invalid Content-Length"))?;
    Ok((text.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')), text))
}

/// Accepts exactly `chunked`. A list whose last coding is not chunked cannot be
/// framed (400); other codings before it are not supported (501).
fn parse_transfer_encoding(value: &[u8]) -> Result<(), Reject> {
    let codings: Vec<&[u8]> = list_items(value).collect();
    let is_chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
    match codings.split_last() {
        None => Err(bad("empty Transfer-Encoding")),
        Some((last, _)) if !is_chunked(last) => Err(bad("Transfer-Encoding does not end in chunked")),
        Some((_, rest)) if rest.iter().any(is_chunked) => Err(bad("chunked applied more than once")),
        Some((_, [])) => Ok(()),
        Some(_) => Err(Reject { status: StatusCode::NOT_IMPLEMENTED, reason: "unsupported transfer coding" }),
    }
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2); an empty
/// value is allowed (RFC 9112 §3.2). Checked byte by byte, without allocating.
fn validate_host(value: &[u8]) -> Result<(), Reject> {
    const INVALID: Reject = bad("invalid Host header");
    if value.is_empty() {
        return Ok(());
    }
    let (host_ok, rest) = match value.strip_prefix(b"[") {
        Some(literal) => {
            let close = literal.iter().position(|&b| b == b']').ok_or(INVALID)?;
            let inner = &literal[..close];
            let ok = !inner.is_empty() && inner.iter().all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            (ok, &literal[close + 1..])
        }
        None => {
            let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
            let name = &value[..end];
            let ok = !name.is_empty() && name.iter().all(|&b| is_reg_name_byte(b));
            (ok, &value[end..])
        }
    };
    // A port, when given, is a number from 1 to 65535: 0 or more than 16 bits
    // names no TCP port. An empty port is the default (RFC 3986 §3.2.3).
    let port_ok = match rest.strip_prefix(b":") {
        Some([]) => true,
        Some(port) => {
            port.len() <= 5
                && port.iter().all(u8::is_ascii_digit)
                && (1..=65535).contains(&port.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
        }
        None => rest.is_empty(),
    };
    if host_ok && port_ok { Ok(()) } else { Err(INVALID) }
}

/// unreserved / sub-delims / pct-encoded, as a byte.
fn is_reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> RequestHead {
        parse(raw.as_bytes()).expect("accepted").expect("complete").0
    }

    fn status(raw: &str) -> StatusCode {
        parse(raw.as_bytes()).expect_err("rejected").status
    }

    #[test]
    fn simple_get_has_no_body_and_keeps_alive() {
        let h = head("GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(h.method, Method::GET);
        assert_eq!(h.uri.path(), "/a");
        assert_eq!(h.uri.query(), Some("b=c"));
        assert_eq!(h.framing, RequestFraming::None);
        assert!(h.keep_alive);
    }

    #[test]
    fn partial_head_asks_for_more() {
        assert!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
    }

    #[test]
    fn leading_blank_lines_are_skipped_and_counted() {
        let raw = b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nrest";
        let (_, n) = parse(raw).unwrap().unwrap();
        assert_eq!(&raw[n..], b"rest");
    }

    #[test]
    fn bare_lf_line_endings_are_accepted() {
        assert_eq!(head("GET / HTTP/1.1\nHost: x\n\n").method, Method::GET);
    }

    #[test]
    fn http10_closes_unless_asked() {
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n").keep_alive);
    }

    #[test]
    fn content_length_and_chunked_framing() {
        assert_eq!(
            head("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n").framing,
            RequestFraming::Length(12)
        );
        assert_eq!(head("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").framing, RequestFraming::None);
        assert_eq!(
            head("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n").framing,
            RequestFraming::Length(5)
        );
        assert_eq!(
            head("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n").framing,
            RequestFraming::Chunked
        );
    }

    #[test]
    fn malformed_lines_are_400() {
        for raw in [
            "asdf\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nName : v\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n",
            "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
            "GET nope HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert_eq!(status(raw), StatusCode::BAD_REQUEST, "{raw:?}");
        }
    }

    #[test]
    fn host_rules() {
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: u@h\r\n\r\n"), StatusCode::BAD_REQUEST);
        for bad_host in ["a/b", "a:b", "a:123456", "[::1", "[]", "[::1]x", ":80", "a b", "[fe80::1%eth0]"] {
            let raw = format!("GET / HTTP/1.1\r\nHost: {bad_host}\r\n\r\n");
            assert_eq!(status(&raw), StatusCode::BAD_REQUEST, "{bad_host}");
        }
        for good_host in [
            "example.com",
            "EXAMPLE.com:80",
            "127.0.0.1:8080",
            "[::1]",
            "[2001:db8::1]:443",
            "host:",
            "xn--caf-dma.example",
        ] {
            head(&format!("GET / HTTP/1.1\r\nHost: {good_host}\r\n\r\n"));
        }
        head("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
        head("GET / HTTP/1.1\r\nHost:\r\n\r\n");
        head("GET / HTTP/1.0\r\n\r\n");
    }

    #[test]
    fn rfc9110_4_2_4_userinfo_in_an_absolute_target_is_400() {
        for target in ["http://u:p@evil.example/", "http://u@h/x", "HTTP://u@h"] {
            let raw = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_eq!(status(&raw), StatusCode::BAD_REQUEST, "{target}");
        }
        // An empty host is invalid in an http URI (RFC 9110 §4.2.1).
        assert_eq!(status("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n"), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn rfc9110_4_2_1_ports_outside_1_to_65535_are_400() {
        for port in ["0", "65536", "99999"] {
            let in_host = format!("GET / HTTP/1.1\r\nHost: a:{port}\r\n\r\n");
            assert_eq!(status(&in_host), StatusCode::BAD_REQUEST, "Host port {port}");
            let in_target = format!("GET http://a:{port}/ HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(status(&in_target), StatusCode::BAD_REQUEST, "target port {port}");
        }
        head("GET / HTTP/1.1\r\nHost: a:65535\r\n\r\n");
        head("GET http://a:1/ HTTP/1.1\r\nHost: a\r\n\r\n");
    }

    #[test]
    fn rfc3986_3_1_the_scheme_of_an_absolute_target_is_case_insensitive() {
        let h = head("GET HTTP://a/x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((h.uri.host(), h.uri.path()), (Some("a"), "/x"));
        head("GET HttpS://a/x?q HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(status("GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n"), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn rfc9112_2_3_a_later_http_1_minor_version_is_served_as_1_1() {
        let raw = b"\r\nGET /x HTTP/1.2\r\nHost: a\r\n\r\nNEXT";
        let (h, used) = parse(raw).unwrap().unwrap();
        assert_eq!((h.version, h.uri.path(), h.keep_alive), (Version::HTTP_11, "/x", true));
        assert_eq!(&raw[used..], b"NEXT");
        assert!(parse(b"GET / HTTP/1.2\r\nHost: a\r\n").unwrap().is_none(), "partial heads still wait");
        for version in ["HTTP/2.0", "HTTP/1.x", "HTTP/1.23", "HTTP/1.10", "HTTP/0.9"] {
            let raw = format!("GET / {version}\r\nHost: a\r\n\r\n");
            assert_eq!(status(&raw), StatusCode::BAD_REQUEST, "{version}");
        }
    }

    #[test]
    fn rfc9112_3_2_a_fragment_in_the_target_is_400() {
        assert_eq!(status("GET /t#frag HTTP/1.1\r\nHost: a\r\n\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(status("GET http://a/t#f HTTP/1.1\r\nHost: a\r\n\r\n"), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn rfc9110_8_6_content_length_values_must_be_identical_text() {
        for raw in [
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 0005\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 05\r\n\r\n",
        ] {
            assert_eq!(status(raw), StatusCode::BAD_REQUEST, "{raw:?}");
        }
        let same = head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0005\r\nContent-Length: 0005\r\n\r\n");
        assert_eq!(same.framing, RequestFraming::Length(5));
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let cases = [
            ("Content-Length: 3\r\nTransfer-Encoding: chunked", StatusCode::BAD_REQUEST),
            ("Content-Length: +10", StatusCode::BAD_REQUEST),
            ("Content-Length: foo", StatusCode::BAD_REQUEST),
            ("Content-Length: 1_0", StatusCode::BAD_REQUEST),
            ("Content-Length: -1", StatusCode::BAD_REQUEST),
            ("Content-Length: 99999999999999999999", StatusCode::BAD_REQUEST),
            ("Content-Length: 3\r\nContent-Length: 5", StatusCode::BAD_REQUEST),
            ("Content-Length: 3, 5", StatusCode::BAD_REQUEST),
            ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", StatusCode::BAD_REQUEST),
            ("Transfer-Encoding: chunked, gzip", StatusCode::BAD_REQUEST),
            ("Transfer-Encoding: chunked, chunked", StatusCode::BAD_REQUEST),
            ("Transfer-Encoding: gzip", StatusCode::BAD_REQUEST),
            ("Transfer-Encoding: gzip, chunked", StatusCode::NOT_IMPLEMENTED),
            ("Expect: 200-ok", StatusCode::EXPECTATION_FAILED),
        ];
        for (lines, want) in cases {
            let raw = format!("POST / HTTP/1.1\r\nHost: x\r\n{lines}\r\n\r\n");
            assert_eq!(status(&raw), want, "{lines:?}");
        }
        assert_eq!(status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn non_ascii_value_is_kept() {
        let h = head("GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf\u{e9}\r\n\r\n");
        assert_eq!(h.headers["x-name"].as_bytes(), "caf\u{e9}".as_bytes());
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut raw = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
        for i in 0..MAX_HEADERS {
            raw.push_str(&format!("X-{i}: v\r\n"));
        }
        raw.push_str("\r\n");
        assert_eq!(status(&raw), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }

    #[test]
    fn expect_continue_only_with_a_body() {
        assert!(
            head("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").expect_continue
        );
        assert!(!head("GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n").expect_continue);
    }

    #[test]
    fn absolute_form_and_asterisk_targets() {
        assert_eq!(head("GET http://h/p HTTP/1.1\r\nHost: h\r\n\r\n").uri.path(), "/p");
        assert_eq!(head("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").uri, "*");
        assert_eq!(status("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n"), StatusCode::NOT_IMPLEMENTED);
    }
}
