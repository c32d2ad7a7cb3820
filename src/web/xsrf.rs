//! XSRF protection, Tornado's way: tokens in its version 2 format,
//! `2|<hex mask>|<hex masked token>|<timestamp>`. The 16-byte token lives in
//! the `_xsrf` cookie, and every page gets it under a fresh random mask, so
//! the token never repeats in a response body (BREACH). An unsafe request
//! must carry it — in a header, the query or the form — before a native
//! handler sees it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cookie::Cookie;
use http::{Method, StatusCode};

use super::app_context::{XsrfCookie, escape_html};
use super::multipart::{Leading, leading_field};
use super::signing::{constant_time_eq, hex, unix_now};
use super::{Body, Request};
use crate::error::HttpError;

/// The request's XSRF token, and whether the response must set its cookie.
#[derive(Debug)]
pub(crate) struct XsrfState {
    token: [u8; 16],
    timestamp: u64,
    /// The client had no valid `_xsrf` cookie: a token made up for it.
    fresh: bool,
    /// Something asked for the token, so the client must get its cookie.
    used: AtomicBool,
}

/// Set on a request whose route opted out of the XSRF check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct XsrfExempt;

impl XsrfState {
    /// The token of `req`'s `_xsrf` cookie, or a new one.
    pub(crate) fn for_request(req: &Request, cookie: &str) -> Self {
        match req.cookie(cookie).as_deref().and_then(decode_token) {
            Some((token, timestamp)) => XsrfState { token, timestamp, fresh: false, used: AtomicBool::new(false) },
            None => XsrfState { token: random(), timestamp: unix_now(), fresh: true, used: AtomicBool::new(false) },
        }
    }

    /// The cookie to set with the response, if the client needs one.
    pub(crate) fn cookie_to_set(&self, settings: &XsrfCookie) -> Option<Cookie<'static>> {
        if !(self.fresh && self.used.load(Ordering::Relaxed)) {
            return None;
        }
        let mut cookie = settings.template.clone();
        cookie.set_name(settings.name.clone());
        cookie.set_value(encode_token(&self.token, self.timestamp));
        Some(cookie)
    }

    pub(crate) fn masked(&self) -> String {
        self.used.store(true, Ordering::Relaxed);
        encode_token(&self.token, self.timestamp)
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        // No entropy source at all: refuse rather than issue guessable tokens.
        panic!("the operating system's random source failed");
    }
    bytes
}

/// A version 2 token: the 16 bytes under a fresh 4-byte mask.
fn encode_token(token: &[u8; 16], timestamp: u64) -> String {
    let mask: [u8; 4] = random();
    let masked: Vec<u8> = token.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
    format!("2|{}|{}|{timestamp}", hex(&mask), hex(&masked))
}

/// The token inside a version 2 value (cookie or form field), or inside a
/// version 1 value (the token in hex, as older Tornado wrote it).
pub(crate) fn decode_token(value: &str) -> Option<([u8; 16], u64)> {
    let value = value.trim_matches('"');
    if let Some(rest) = value.strip_prefix("2|") {
        let mut parts = rest.split('|');
        let (mask, masked, timestamp) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let mask = unhex(mask)?;
        let masked = unhex(masked)?;
        if mask.len() != 4 || masked.len() != 16 {
            return None;
        }
        let mut token = [0u8; 16];
        for (i, b) in masked.iter().enumerate() {
            token[i] = b ^ mask[i % 4];
        }
        return Some((token, timestamp.parse().ok()?));
    }
    let token: [u8; 16] = unhex(value)?.try_into().ok()?;
    Some((token, unix_now()))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Whether a native handler must check `req` first: the app has XSRF
/// protection on. One lookup in an empty map when it does not.
pub(crate) fn xsrf_guarded(req: &Request) -> bool {
    req.extensions().get::<Arc<XsrfState>>().is_some()
}

/// Checks an unsafe request against its XSRF cookie, before a native
/// handler sees it: the `X-Xsrftoken` / `X-Csrftoken` header, the query or
/// the `_xsrf` form field must carry the cookie's token. A urlencoded body
/// is read here and put back; of a multipart body, only the fields before
/// the first file are (the token must be among them, as `xsrf_form_html()`
/// at the top of the form puts it), and the handler still streams the rest. A route wrapped in
/// [`xsrf_exempt`](crate::app::xsrf_exempt) is not checked.
pub(crate) async fn check_xsrf(mut req: Request) -> Result<Request, HttpError> {
    let Some(state) = req.extensions().get::<Arc<XsrfState>>().cloned() else {
        return Ok(req);
    };
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || req.extensions().get::<XsrfExempt>().is_some()
    {
        return Ok(req);
    }
    let forbidden = |why: &str| HttpError::new(StatusCode::FORBIDDEN).with_message(why).with_log(why);
    let header = ["x-xsrftoken", "x-csrftoken"].into_iter().find_map(|h| req.header(h).map(str::to_owned));
    // Like Tornado's `get_argument`, the query and the form count too.
    let query = || req.query_arguments().get("_xsrf").map(str::to_owned);
    let boundary = req.header("content-type").and_then(super::multipart::boundary);
    let sent = match (header.or_else(query), boundary) {
        (Some(token), _) => Some(token),
        (None, Some(boundary)) => {
            // An upload form: its fields before the first file, read here
            // and put back; the files stream to the handler untouched.
            let (found, read) = leading_field(req.body_mut(), &boundary, "_xsrf", LEADING_FIELDS).await;
            req.body_mut().put_back(read);
            match found? {
                Leading::Found(token) => Some(token),
                Leading::FileFirst => {
                    return Err(forbidden(
                        "'_xsrf' argument missing before the form's first file: put xsrf_form_html() first in the form",
                    ));
                }
                Leading::Missing => None,
            }
        }
        (None, None) if is_urlencoded(&req) => {
            let body = req.take_body().bytes().await?;
            let field = super::Arguments::parse(&String::from_utf8_lossy(&body)).get("_xsrf").map(str::to_owned);
            *req.body_mut() = Body::from(body);
            field
        }
        (None, None) => None,
    };
    let Some(sent) = sent else {
        return Err(forbidden("'_xsrf' argument missing from the request"));
    };
    let Some((token, _)) = decode_token(&sent) else {
        return Err(forbidden("'_xsrf' argument has an invalid format"));
    };
    if state.fresh || !constant_time_eq(&token, &state.token) {
        return Err(forbidden("XSRF cookie does not match the request's token"));
    }
    Ok(req)
}

/// How much of a multipart form the XSRF check reads, at most, looking for
/// the token among the fields before the first file.
const LEADING_FIELDS: usize = 256 * 1024;

fn is_urlencoded(req: &Request) -> bool {
    req.header("content-type").is_some_and(|t| {
        t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    })
}

/// The XSRF token, for forms and scripts: these need the request to pass
/// through an [`App`](crate::App) with XSRF protection on.
impl Request {
    /// The XSRF token for a form or an `X-Xsrftoken` header, freshly masked
    /// on every call. When the client has no `_xsrf` cookie yet, the
    /// response sets it.
    ///
    /// # Errors
    ///
    /// `500` (with a log line) when the app does not have XSRF protection on.
    pub fn xsrf_token(&self) -> Result<String, HttpError> {
        self.extensions().get::<Arc<XsrfState>>().map(|s| s.masked()).ok_or_else(|| {
            HttpError::internal("xsrf_token needs App::xsrf_cookies, and the request to pass through that App")
        })
    }

    /// `<input type="hidden" name="_xsrf" value="…">` for a form.
    ///
    /// # Errors
    ///
    /// As for [`xsrf_token`](Self::xsrf_token).
    pub fn xsrf_form_html(&self) -> Result<String, HttpError> {
        Ok(format!(r#"<input type="hidden" name="_xsrf" value="{}">"#, escape_html(&self.xsrf_token()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_under_a_fresh_mask_each_time() {
        let token = [7u8; 16];
        let a = encode_token(&token, 1_700_000_000);
        let b = encode_token(&token, 1_700_000_000);
        assert_ne!(a, b, "a fresh mask per page");
        assert_eq!(decode_token(&a), Some((token, 1_700_000_000)));
        assert_eq!(decode_token(&b), Some((token, 1_700_000_000)));
        assert_eq!(a.split('|').count(), 4);
    }

    #[test]
    fn malformed_tokens_decode_to_nothing() {
        for bad in [
            "",
            "2|",
            "2|zz|00|1",
            "2|00000000|00|1",
            "2|0000|0000|1|x",
            "2|00000000|00000000000000000000000000000000|x",
        ] {
            assert_eq!(decode_token(bad), None, "{bad:?}");
        }
        let v1 = hex(&[9u8; 16]);
        assert_eq!(decode_token(&v1).map(|t| t.0), Some([9u8; 16]), "version 1: the token in hex");
    }
}
