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
/// request's `Host`, compared without regard to case.
pub(super) fn same_origin(origin: &str, req: &Request) -> bool {
    let Some((_scheme, rest)) = origin.split_once("://") else {
        return false; // "null", or not a URL at all
    };
    let netloc = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let netloc = netloc.rsplit_once('@').map_or(netloc, |(_, host)| host);
    !netloc.is_empty() && netloc.eq_ignore_ascii_case(&req.host())
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
        assert!(same_origin("https://EXAMPLE.com:8888/", &req));
        assert!(!same_origin("http://example.com", &req), "another port is another origin");
        assert!(!same_origin("http://evil.example:8888", &req));
        assert!(!same_origin("http://example.com:8888@evil.example", &req));
        assert!(!same_origin("null", &req));
    }
}
