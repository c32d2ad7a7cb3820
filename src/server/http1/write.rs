//! Writing responses: the head and a buffered body in one write where they
//! fit, streamed bodies chunk by chunk as they are produced.

use std::io;

use futures_lite::future;
use http::header::{self, HeaderMap};
use http::{StatusCode, Version};

use super::decode::{self, Reject};
use super::encode;
use super::transport::{SharedTransport, flush, write_all};
use crate::rt::Io;
use crate::web::{Body, Response, declared_length};

/// Responses whose body is at most this long go out in the same write as the head.
const COALESCE: usize = 16 * 1024;

pub(super) async fn write_reject<S: Io>(
    shared: &SharedTransport<S>,
    out: &mut Vec<u8>,
    reject: Reject,
) -> io::Result<()> {
    let body = format!("{}\n", reject.reason);
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    out.clear();
    encode::head(out, reject.status, &headers, encode::ResponseFraming::Length(body.len() as u64), Some("close"));
    out.extend_from_slice(body.as_bytes());
    write_all(shared, out).await?;
    flush(shared).await
}

/// Writes a response. Clears `keep_alive` when the response ends the connection.
pub(super) async fn write_response<S>(
    shared: &SharedTransport<S>,
    out: &mut Vec<u8>,
    response: Response,
    head_only: bool,
    version: Version,
    keep_alive: &mut bool,
) -> io::Result<()>
where
    S: Io,
{
    let (status, headers, mut body) = response.into_parts();
    if headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| decode::list_items(v.as_bytes()).any(|t| t.eq_ignore_ascii_case(b"close")))
    {
        *keep_alive = false;
    }
    let framing = if encode::forbids_body(status) {
        encode::ResponseFraming::NoBody
    } else if let Some(n) = body.size_hint() {
        encode::ResponseFraming::Length(n)
    } else if let Some(n) = declared_length(&headers) {
        encode::ResponseFraming::Length(n)
    } else if version == Version::HTTP_11 {
        encode::ResponseFraming::Chunked
    } else if head_only {
        encode::ResponseFraming::NoBody
    } else {
        *keep_alive = false;
        encode::ResponseFraming::Close
    };
    let connection = match (*keep_alive, version) {
        (false, _) => Some("close"),
        (true, Version::HTTP_10) => Some("keep-alive"),
        (true, _) => None,
    };
    out.clear();
    encode::head(out, status, &headers, framing, connection);

    if head_only || framing == encode::ResponseFraming::NoBody {
        write_all(shared, out).await?;
        return flush(shared).await;
    }
    if let Some(full) = body.as_full() {
        if full.len() <= COALESCE {
            out.extend_from_slice(full);
            write_all(shared, out).await?;
        } else {
            write_all(shared, out).await?;
            write_all(shared, full).await?;
        }
        return flush(shared).await;
    }
    write_stream(shared, out, status, &mut body, framing).await
}

/// Streams a body: each chunk goes out as soon as the stream has no more ready.
/// A failure before anything was sent becomes a `500`; after that, the
/// connection is closed so the client sees a truncated response.
async fn write_stream<S>(
    shared: &SharedTransport<S>,
    out: &mut Vec<u8>,
    status: StatusCode,
    body: &mut Body,
    framing: encode::ResponseFraming,
) -> io::Result<()>
where
    S: Io,
{
    let mut sent_any = false;
    let mut remaining = match framing {
        encode::ResponseFraming::Length(n) => n,
        _ => u64::MAX,
    };
    loop {
        let next = match future::poll_once(body.chunk()).await {
            Some(next) => next,
            None => {
                if !out.is_empty() {
                    write_all(shared, out).await?;
                    flush(shared).await?;
                    out.clear();
                    sent_any = true;
                }
                body.chunk().await
            }
        };
        let data = match next {
            None => break,
            Some(Ok(data)) => data,
            Some(Err(e)) => {
                log::error!(target: "squall::server", "response body failed after status {status}: {e}");
                if !sent_any {
                    let reject = Reject { status: StatusCode::INTERNAL_SERVER_ERROR, reason: "response body failed" };
                    write_reject(shared, out, reject).await?;
                }
                return Err(io::Error::other("response body failed"));
            }
        };
        if data.is_empty() {
            continue;
        }
        match framing {
            encode::ResponseFraming::Chunked => encode::chunk(out, &data),
            _ if data.len() as u64 > remaining => {
                log::error!(target: "squall::server", "response body longer than its Content-Length");
                out.extend_from_slice(&data[..remaining as usize]);
                write_all(shared, out).await?;
                return Err(io::Error::other("response body longer than its Content-Length"));
            }
            _ => {
                remaining -= data.len() as u64;
                out.extend_from_slice(&data);
            }
        }
        if out.len() >= COALESCE {
            write_all(shared, out).await?;
            out.clear();
            sent_any = true;
        }
    }
    match framing {
        encode::ResponseFraming::Chunked => out.extend_from_slice(encode::LAST_CHUNK),
        encode::ResponseFraming::Length(_) if remaining > 0 => {
            write_all(shared, out).await?;
            log::error!(target: "squall::server", "response body shorter than its Content-Length");
            return Err(io::Error::other("response body shorter than its Content-Length"));
        }
        _ => {}
    }
    write_all(shared, out).await?;
    out.clear();
    flush(shared).await
}
