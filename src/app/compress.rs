//! [`Compression`]: gzip for responses that gain from it (Tornado's
//! `compress_response`), native and gateway alike, streamed bodies included.

use std::io::Write;

use bytes::Bytes;
use flate2::Compression as Level;
use flate2::write::GzEncoder;
use futures_lite::StreamExt;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use super::middleware::{Middleware, Next};
use crate::web::{Body, BoxFuture, Request, Response, coding_accepted};

/// A layer that gzips responses when the client accepts gzip (`gzip;q=0`
/// is a refusal), the type is compressible (text, JSON, JavaScript, XML,
/// SVG, …) and the body is at least [`min_size`](Self::min_size) bytes
/// (1,024 by default, as Tornado's) or of unknown length.
///
/// The response gets `Content-Encoding: gzip` and a weak `ETag` (the
/// compressed bytes are another representation). Never compressed: `206`,
/// `304` and other bodiless answers, responses that already have a
/// `Content-Encoding` (a precompressed file), and `Cache-Control:
/// no-transform`. A streamed body is compressed as it goes, with a flush
/// after each chunk, so server-sent events are not held back.
///
/// What caches see is consistent (RFC 9110 §12.5.5): every response of a
/// compressible type — identity or gzip, whole or a `206` range, small or
/// large — and every `304` (whose type is not known) carries
/// `Vary: Accept-Encoding`, as Tornado's transform adds it.
/// `HEAD` answers the headers `GET` would (`Content-Encoding`, the weak
/// `ETag`, no length: only compressing tells it). A `304` to a client that
/// validated the gzip variant (`If-None-Match: W/"…"`) carries that
/// variant's weak `ETag`.
///
/// # Examples
///
/// ```
/// use squall::app::{App, Compression};
/// use squall::{Request, Router, get};
///
/// let app = App::new(Router::new().route("/", get(|_req| async { "a".repeat(5000) })))
///     .layer(Compression::default());
/// # squall::block_on(async {
/// let resp = squall::testing::call(&app, Request::get("/").with_header("accept-encoding", "gzip")).await;
/// assert_eq!(resp.headers()["content-encoding"], "gzip");
/// assert!(resp.into_body().bytes().await.unwrap().len() < 100);
/// # });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Compression {
    min_size: u64,
    level: u32,
}

impl Default for Compression {
    fn default() -> Self {
        Compression { min_size: 1024, level: 6 }
    }
}

impl Compression {
    /// Bodies of known length below this are sent as they are.
    pub fn min_size(mut self, bytes: u64) -> Self {
        self.min_size = bytes;
        self
    }

    /// The gzip level, 1 (fast) to 9 (small); 6 by default.
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.clamp(1, 9);
        self
    }

    /// Whether the layer could compress the resource `resp` answers for:
    /// its type is compressible (or unknown, on a `304`), it is not encoded
    /// already, and nothing forbids transforming it.
    fn concerns(resp: &Response) -> bool {
        let headers = resp.headers();
        if headers.contains_key(header::CONTENT_ENCODING) {
            return false;
        }
        let no_transform = headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-transform"))));
        let typed = match headers.get(header::CONTENT_TYPE) {
            Some(t) => t.to_str().is_ok_and(compressible),
            None => resp.status() == StatusCode::NOT_MODIFIED,
        };
        typed && !no_transform
    }

    /// Whether this response's body is compressed: one with content, whole,
    /// and not known to be under `min_size` (`length`: the body's, or what
    /// a `HEAD` announces).
    fn compresses(&self, resp: &Response, length: Option<u64>) -> bool {
        let status = resp.status();
        let bodiless = status == StatusCode::PARTIAL_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || status == StatusCode::NO_CONTENT
            || status.is_informational();
        !bodiless && !resp.headers().contains_key(header::CONTENT_RANGE) && length.is_none_or(|n| n >= self.min_size)
    }
}

/// Media types worth compressing.
fn compressible(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    media.starts_with("text/")
        || media.ends_with("+json")
        || media.ends_with("+xml")
        || matches!(
            media.as_str(),
            "application/json"
                | "application/javascript"
                | "application/xml"
                | "application/wasm"
                | "image/svg+xml"
                | "application/x-www-form-urlencoded"
        )
}

impl Middleware for Compression {
    fn call<'a>(&'a self, req: Request, next: Next) -> BoxFuture<'a, Response> {
        let accepts = req.header("accept-encoding").is_some_and(|a| coding_accepted(a, "gzip"));
        let head = *req.method() == Method::HEAD;
        let validated = req.header("if-none-match").map(str::to_owned);
        Box::pin(async move {
            let mut resp = next.run(req).await;
            if !Self::concerns(&resp) {
                return resp;
            }
            // Whether or not this client gets gzip, the answer depends on it.
            let headers = resp.headers_mut();
            let already = headers.get_all(header::VARY).iter().any(|v| {
                v.to_str().is_ok_and(|v| {
                    v.split(',').any(|t| t.trim() == "*" || t.trim().eq_ignore_ascii_case("accept-encoding"))
                })
            });
            if !already {
                headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            }
            if resp.status() == StatusCode::NOT_MODIFIED {
                if accepts && validated.as_deref().is_some_and(|v| validated_weakly(v, resp.headers())) {
                    weaken_etag(resp.headers_mut());
                }
                return resp;
            }
            let length = match head {
                true => resp.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok()),
                false => resp.body().size_hint(),
            };
            if !accepts || !self.compresses(&resp, length) {
                return resp;
            }
            let headers = resp.headers_mut();
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            headers.remove(header::CONTENT_LENGTH);
            weaken_etag(headers);
            if head {
                // No length: only compressing would tell it.
                *resp.body_mut() = Body::from_stream(futures_lite::stream::empty());
                return resp;
            }
            let level = Level::new(self.level);
            let body = std::mem::take(resp.body_mut());
            *resp.body_mut() = match body.size_hint() {
                Some(_) => match body.bytes().await {
                    Ok(all) => Body::from(gzip_all(&all, level)),
                    Err(e) => return crate::web::IntoResponse::into_response(e),
                },
                None => gzip_stream(body, level),
            };
            resp
        })
    }
}

/// The gzip variant's tag: the identity's, weak.
fn weaken_etag(headers: &mut http::HeaderMap) {
    if let Some(etag) = headers.get(header::ETAG).and_then(|e| e.to_str().ok())
        && !etag.starts_with("W/")
        && let Ok(weak) = HeaderValue::try_from(format!("W/{etag}"))
    {
        headers.insert(header::ETAG, weak);
    }
}

/// Whether `if_none_match` lists the weak form of the response's strong
/// `ETag`: the client holds the gzip variant, whose tag that is.
fn validated_weakly(if_none_match: &str, headers: &http::HeaderMap) -> bool {
    let Some(etag) = headers.get(header::ETAG).and_then(|e| e.to_str().ok()) else {
        return false;
    };
    !etag.starts_with("W/") && entity_tags(if_none_match).any(|(weak, tag)| weak && tag == etag)
}

/// The entity tags of an `If-None-Match` list (RFC 9110 §8.8.3), each with
/// whether it is weak; a malformed rest of the list is ignored.
fn entity_tags(list: &str) -> impl Iterator<Item = (bool, &str)> {
    let mut rest = list;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let (weak, quoted) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let end = quoted.strip_prefix('"')?.find('"')? + 2;
        rest = &quoted[end..];
        Some((weak, &quoted[..end]))
    })
}

fn gzip_all(data: &[u8], level: Level) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 3 + 64), level);
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

/// Compresses chunk by chunk, flushing after each so that it goes out now.
fn gzip_stream(body: Body, level: Level) -> Body {
    let state = (Some(body), Some(GzEncoder::new(Vec::new(), level)));
    let chunks = futures_lite::stream::unfold(state, |(body, encoder)| async move {
        let mut body = body?;
        let mut encoder = encoder?;
        match body.next().await {
            Some(Ok(chunk)) => {
                let out = encoder.write_all(&chunk).and_then(|()| encoder.flush()).map(|()| {
                    let inner = encoder.get_mut();
                    Bytes::from(std::mem::take(inner))
                });
                Some((out, (Some(body), Some(encoder))))
            }
            Some(Err(e)) => Some((Err(e), (None, None))),
            None => Some((encoder.finish().map(Bytes::from), (None, None))),
        }
    });
    Body::from_stream(chunks)
}

#[cfg(test)]
mod tests {
    use super::{compressible, entity_tags};

    #[test]
    fn rfc9110_8_8_3_if_none_match_lists_split_into_tags() {
        let tags: Vec<_> = entity_tags(r#"W/"a,b", "c" ,W/"d""#).collect();
        assert_eq!(tags, [(true, r#""a,b""#), (false, r#""c""#), (true, r#""d""#)]);
        assert_eq!(entity_tags("*").count(), 0);
        assert_eq!(entity_tags(r#""unterminated"#).count(), 0);
    }

    #[test]
    fn text_like_types_are_compressible_images_are_not() {
        for yes in [
            "text/html; charset=utf-8",
            "application/json",
            "application/ld+json",
            "image/svg+xml",
            "application/javascript",
        ] {
            assert!(compressible(yes), "{yes}");
        }
        for no in ["image/png", "application/octet-stream", "video/mp4", "application/zip", ""] {
            assert!(!compressible(no), "{no}");
        }
    }
}
