//! The opening handshake (RFC 6455 §4.2): what a request must carry to
//! become a WebSocket, and the answer when it does not.

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use crate::web::{Request, Response};

/// What a valid upgrade request gives the handshake's answer.
#[derive(Debug)]
pub(super) struct Opening {
    /// `Sec-WebSocket-Accept`.
    pub(super) accept: String,
    /// The subprotocols the client offered, in its order.
    pub(super) protocols: Vec<String>,
}

/// Why a request cannot open a WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// §4.1: the handshake is a GET; nothing else ever upgrades.
    Method,
    /// No `Upgrade: websocket`: a plain GET (a browser tab, a crawler).
    NotWebSocket,
    NoConnectionUpgrade,
    /// §4.4: a version other than 13.
    Version,
    Key,
}

impl Refusal {
    pub(super) fn into_response(self) -> Response {
        let (status, reason) = match self {
            Refusal::Method => (StatusCode::METHOD_NOT_ALLOWED, "a WebSocket opens with GET"),
            Refusal::NotWebSocket => (StatusCode::UPGRADE_REQUIRED, "this URL speaks WebSocket only"),
            Refusal::NoConnectionUpgrade => {
                (StatusCode::BAD_REQUEST, "a WebSocket handshake needs Connection: Upgrade")
            }
            Refusal::Version => (StatusCode::UPGRADE_REQUIRED, "unsupported WebSocket version; this server speaks 13"),
            Refusal::Key => (StatusCode::BAD_REQUEST, "missing or malformed Sec-WebSocket-Key"),
        };
        let mut response = Response::text(format!("{reason}\n")).with_status(status);
        let headers = response.headers_mut();
        match self {
            Refusal::Method => {
                headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
            }
            Refusal::NotWebSocket => {
                headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
                headers.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            }
            Refusal::Version => {
                headers.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            }
            Refusal::NoConnectionUpgrade | Refusal::Key => {}
        }
        response
    }
}

/// The comma-separated tokens of every `name` field.
fn tokens<'r>(req: &'r Request, name: &HeaderName) -> impl Iterator<Item = &'r str> {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn has_token(req: &Request, name: &HeaderName, token: &str) -> bool {
    tokens(req, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// A key is the base64 of 16 bytes: 22 characters, the last of which may
/// carry only 2 bits, then `==`.
fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    let b64 = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    b.len() == 24 && b[..22].iter().all(b64) && b"AQgw".contains(&b[21]) && &b[22..] == b"=="
}

/// Checks `req` as an opening handshake.
pub(super) fn check(req: &Request) -> Result<Opening, Refusal> {
    if req.method() != Method::GET {
        return Err(Refusal::Method);
    }
    if !has_token(req, &header::UPGRADE, "websocket") {
        return Err(Refusal::NotWebSocket);
    }
    if !has_token(req, &header::CONNECTION, "upgrade") {
        return Err(Refusal::NoConnectionUpgrade);
    }
    if !tokens(req, &header::SEC_WEBSOCKET_VERSION).eq(["13"]) {
        return Err(Refusal::Version);
    }
    let mut keys = req.headers().get_all(header::SEC_WEBSOCKET_KEY).iter();
    let key = match (keys.next().map(HeaderValue::to_str), keys.next()) {
        (Some(Ok(key)), None) if valid_key(key.trim()) => key.trim(),
        _ => return Err(Refusal::Key),
    };
    let protocols = tokens(req, &header::SEC_WEBSOCKET_PROTOCOL).map(str::to_owned).collect();
    Ok(Opening { accept: tungstenite::handshake::derive_accept_key(key.as_bytes()), protocols })
}

/// Tornado's `check_origin`: the host (and port) of `origin` is the
/// request's `Host`, compared without regard to case. Only a serialized
/// origin (RFC 6454 §6.2: `scheme://host[:port]`) can match: userinfo, a
/// path, a backslash or any other character a browser never sends there
/// fails closed, as `null` does.
pub(super) fn same_origin(origin: &str, req: &Request) -> bool {
    serialized_host(origin).is_some_and(|host| host.eq_ignore_ascii_case(&req.host()))
}

/// The `host[:port]` of a serialized origin, or `None` for anything else.
fn serialized_host(origin: &str) -> Option<&str> {
    let (scheme, host) = origin.split_once("://")?;
    let scheme_ok = scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    // Letters, digits, `-._~`, `:` before a port and `[]` around an IPv6
    // literal: what a host and port are made of, nothing that ends one.
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':' | b'[' | b']'));
    (scheme_ok && host_ok).then_some(host)
}

/// The page origin a handshake carries, for the Origin check: `Ok(None)`
/// without the header (not from a browser); `Err` for one the check cannot
/// read — not visible ASCII, or sent more than once — which is refused.
pub(super) fn origin(req: &Request) -> Result<Option<&str>, ()> {
    let mut values = req.headers().get_all(header::ORIGIN).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => value.to_str().map(Some).map_err(drop),
        (Some(_), Some(_)) => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(extra: &[(&str, &str)]) -> Request {
        let mut req = Request::get("/ws")
            .with_header("host", "example.com:8888")
            .with_header("upgrade", "websocket")
            .with_header("connection", "Upgrade")
            .with_header("sec-websocket-version", "13")
            .with_header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        for (name, value) in extra {
            let name = HeaderName::try_from(*name).unwrap();
            req.headers_mut().insert(name, HeaderValue::try_from(*value).unwrap());
        }
        req
    }

    #[test]
    fn rfc6455_1_3_the_accept_key_of_the_rfc_example() {
        let opening = check(&handshake(&[])).unwrap();
        assert_eq!(opening.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn rfc6455_4_2_1_header_tokens_are_lists_without_case() {
        let req = handshake(&[("connection", "keep-alive, UPGRADE"), ("upgrade", "WebSocket")]);
        assert!(check(&req).is_ok());
        let req = handshake(&[("sec-websocket-protocol", "chat, superchat")]);
        assert_eq!(check(&req).unwrap().protocols, ["chat", "superchat"]);
    }

    #[test]
    fn rfc6455_4_2_1_what_is_refused_and_how() {
        let status = |req: &Request| check(req).unwrap_err().into_response().status().as_u16();
        assert_eq!(status(&Request::post("/ws", "")), 405);
        assert_eq!(status(&Request::get("/ws")), 426, "a plain GET");
        assert_eq!(status(&handshake(&[("connection", "keep-alive")])), 400);
        assert_eq!(status(&handshake(&[("sec-websocket-key", "short")])), 400);
        assert_eq!(status(&handshake(&[("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZR==")])), 400, "17th byte bits");
        assert_eq!(status(&handshake(&[("sec-websocket-key", "dGhlIHNhbXBsZSBub25j*Q==")])), 400);
        let mut no_key = handshake(&[]);
        no_key.headers_mut().remove("sec-websocket-key");
        assert_eq!(status(&no_key), 400);
        let old = check(&handshake(&[("sec-websocket-version", "8")])).unwrap_err().into_response();
        assert_eq!(old.status(), 426);
        assert_eq!(old.headers()["sec-websocket-version"], "13", "§4.4 names the version spoken");
    }

    #[test]
    fn origins_match_the_host_with_its_port() {
        let req = handshake(&[]);
        assert!(same_origin("http://example.com:8888", &req));
        assert!(same_origin("https://EXAMPLE.com:8888", &req));
        assert!(!same_origin("http://example.com", &req), "another port is another origin");
        assert!(!same_origin("http://evil.example:8888", &req));
        assert!(!same_origin("null", &req));
    }

    #[test]
    fn rfc6454_6_2_only_a_serialized_origin_can_match() {
        let req = handshake(&[]);
        for origin in [
            "http://example.com:8888@evil.example",
            "http://evil@example.com:8888",
            "http://example.com:8888\\@evil.example",
            "http://example.com:8888\\",
            "http://example.com:8888/",
            "http://example.com:8888/page",
            "http://example.com:8888?q",
            "http://example.com:8888#f",
            "http:// example.com:8888",
            "://example.com:8888",
            "1http://example.com:8888",
            "example.com:8888",
        ] {
            assert!(!same_origin(origin, &req), "{origin:?} let through");
        }
    }

    #[test]
    fn an_origin_header_that_cannot_be_read_is_refused() {
        assert_eq!(origin(&handshake(&[])), Ok(None));
        assert_eq!(origin(&handshake(&[("origin", "http://example.com:8888")])), Ok(Some("http://example.com:8888")));
        let mut obs_text = handshake(&[]);
        obs_text.headers_mut().insert(header::ORIGIN, HeaderValue::from_bytes(b"http://ex\xe4mple.com:8888").unwrap());
        assert_eq!(origin(&obs_text), Err(()));
        let mut twice = handshake(&[("origin", "http://example.com:8888")]);
        twice.headers_mut().append(header::ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert_eq!(origin(&twice), Err(()), "two Origin headers");
    }
}
