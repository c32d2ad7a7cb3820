//! [`StartResponse`]: how a gateway app sets its status and headers.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::AppError;
use crate::rt::lock;

/// The `start_response` callable: records the status and headers, which are
/// sent with the first body byte. Cloneable, so a lazy body can call it from
/// its iterator.
///
/// It may be called again only through
/// [`start_after_error`](StartResponse::start_after_error), and only before
/// the first body byte is sent. [`write`](StartResponse::write) is the legacy
/// `write` callable.
#[derive(Debug, Clone, Default)]
pub struct StartResponse {
    state: Arc<Mutex<State>>,
}

/// Header names and their values' bytes, as the app gave them.
type Headers = Vec<(String, Vec<u8>)>;

#[derive(Debug, Default)]
struct State {
    head: Option<(String, Headers)>,
    committed: bool,
    written: Vec<Bytes>,
}

/// The validated status and headers of a gateway response (or of a
/// FastCGI responder's header block).
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: StatusCode,
    /// The app's own reason phrase, when it is not the standard one.
    pub(crate) reason: Option<String>,
    pub(crate) headers: HeaderMap,
}

impl ResponseHead {
    /// Validates a status line (`"200 OK"`, `"200"`) and header pairs.
    pub(crate) fn parse(status: &str, headers: &[(String, Vec<u8>)]) -> Result<ResponseHead, String> {
        let reason = status.split_once(' ').map(|(_, r)| r.trim()).filter(|r| !r.is_empty()).map(str::to_owned);
        let status = parse_status(status)?;
        let reason = reason.filter(|r| Some(r.as_str()) != status.canonical_reason());
        let mut map = HeaderMap::with_capacity(headers.len());
        for (name, value) in headers {
            let name = HeaderName::try_from(name.as_str()).map_err(|_| format!("invalid header name {name:?}"))?;
            let value = HeaderValue::from_bytes(value).map_err(|_| format!("invalid value for header {name}"))?;
            map.append(name, value);
        }
        Ok(ResponseHead { status, reason, headers: map })
    }

    /// A response with this head and `body`.
    pub(crate) fn into_response(self, body: crate::web::Body) -> crate::web::Response {
        let mut response = crate::web::Response::new(self.status).with_body(body);
        if let Some(reason) = &self.reason {
            response = response.with_reason(reason);
        }
        *response.headers_mut() = self.headers;
        response
    }

    /// A response with this head and a body known whole. When the head
    /// declares another length, the body is streamed instead, so the
    /// connection enforces the declared one: a shorter body ends with the
    /// connection closed, a longer one is cut (RFC 9112 §6.3, §8); both are
    /// logged. A client never sees a complete-looking truncated response.
    pub(crate) fn into_whole_response(self, body: Bytes) -> crate::web::Response {
        match crate::web::declared_length(&self.headers) {
            Some(n) if n != body.len() as u64 => {
                self.into_response(crate::web::Body::from_stream(futures_lite::stream::once(Ok(body))))
            }
            _ => self.into_response(body.into()),
        }
    }
}

impl StartResponse {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Sets the status (`"200 OK"`, or just `"200"`: the standard reason
    /// phrase is used) and the headers.
    ///
    /// # Errors
    ///
    /// When called a second time: use [`start_after_error`](Self::start_after_error).
    pub fn start<I, K, V>(&self, status: &str, headers: I) -> Result<(), AppError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let headers = headers.into_iter().map(|(k, v)| (k.into(), v.into().into_bytes())).collect();
        self.start_raw(status.to_owned(), headers, None)
    }

    /// Replaces the status and headers after an error (PEP 3333's `exc_info`).
    ///
    /// # Errors
    ///
    /// Returns `error` back when the first body byte was already sent: the
    /// response can no longer change, and the app should give up.
    pub fn start_after_error<I, K, V>(&self, status: &str, headers: I, error: AppError) -> Result<(), AppError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let headers = headers.into_iter().map(|(k, v)| (k.into(), v.into().into_bytes())).collect();
        self.start_raw(status.to_owned(), headers, Some(error))
    }

    /// `start` with header values as bytes (a Python app's Latin-1 text);
    /// with `error`, `start_after_error`.
    pub(crate) fn start_raw(&self, status: String, headers: Headers, error: Option<AppError>) -> Result<(), AppError> {
        let mut state = self.state();
        match error {
            Some(error) if state.committed => return Err(error),
            Some(_) => {}
            None if state.head.is_some() => {
                return Err("start_response called twice without error information".into());
            }
            None => {}
        }
        state.head = Some((status, headers));
        Ok(())
    }

    /// The legacy `write` callable: `data` is sent before the chunks of the
    /// returned body.
    ///
    /// # Errors
    ///
    /// When called before [`start`](Self::start).
    pub fn write(&self, data: impl Into<Bytes>) -> Result<(), AppError> {
        let mut state = self.state();
        if state.head.is_none() {
            return Err("write called before start_response".into());
        }
        state.written.push(data.into());
        Ok(())
    }

    /// True when `write` left bytes to send.
    pub(crate) fn has_written(&self) -> bool {
        !self.state().written.is_empty()
    }

    /// Bytes given to `write` and not yet sent.
    pub(crate) fn take_written(&self) -> Vec<Bytes> {
        std::mem::take(&mut self.state().written)
    }

    /// Freezes the head for sending: after this, `start_after_error` fails.
    pub(crate) fn commit(&self) -> Result<ResponseHead, String> {
        let mut state = self.state();
        state.committed = true;
        let (status, headers) = state.head.as_ref().ok_or("the app never called start_response")?;
        ResponseHead::parse(status, headers)
    }
}

/// `"200 OK"` or `"200"`; the reason phrase may be anything without control
/// characters, and is sent as given.
fn parse_status(status: &str) -> Result<StatusCode, String> {
    let (code, reason) = status.split_once(' ').unwrap_or((status, ""));
    if reason.chars().any(char::is_control) {
        return Err(format!("status {status:?} holds a control character"));
    }
    match code.parse::<u16>().ok().and_then(|c| StatusCode::from_u16(c).ok()) {
        Some(code) if code.as_u16() >= 200 => Ok(code),
        _ => Err(format!("invalid status {status:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(parse_status("200 OK"), Ok(StatusCode::OK));
        assert_eq!(parse_status("404"), Ok(StatusCode::NOT_FOUND));
        assert_eq!(parse_status("299 Custom Thing"), Ok(StatusCode::from_u16(299).unwrap()));
        for bad in ["OK", "20", "2000 x", "200 OK\r\nX: y", "200 a\0b", "100 Continue", ""] {
            assert!(parse_status(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn start_twice_needs_error_info_and_is_refused_after_commit() {
        let s = StartResponse::new();
        s.start("200 OK", [("A", "1")]).unwrap();
        assert!(s.start("500 Oops", Vec::<(String, String)>::new()).is_err());
        s.start_after_error("500 Oops", [("B", "2")], "boom".into()).unwrap();
        assert_eq!(s.commit().unwrap().status, 500);
        assert!(s.start_after_error("502 Late", [("C", "3")], "late".into()).is_err());
    }

    #[test]
    fn header_injection_is_refused() {
        let s = StartResponse::new();
        s.start("200 OK", [("X-A", "ok\r\nSet-Cookie: evil=1")]).unwrap();
        assert!(s.commit().is_err());
        let s = StartResponse::new();
        s.start("200 OK", [("X A", "v")]).unwrap();
        assert!(s.commit().is_err());
    }
}
