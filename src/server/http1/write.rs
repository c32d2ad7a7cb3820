//! Writing responses: the head and a buffered body in one write where they
//! fit, streamed bodies chunk by chunk as they are produced.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use futures_lite::{FutureExt, Stream, future};
use http::header::{self, HeaderMap};
use http::{StatusCode, Version};

use super::decode::{self, Reject};
use super::encode;
use super::transport::{SharedTransport, flush, lock, watch_of, write_all};
#[cfg(target_os = "linux")]
use super::transport::{cork, send_file, sends_files};
use crate::rt::Io;
use crate::web::body::{ServerEnding, polled_by};
use crate::web::{Body, Response, declared_length};

/// Responses whose body is at most this long go out in the same write as the head.
const COALESCE: usize = 16 * 1024;

/// Writes a complete error response that closes the connection. A `503`
/// carries `Retry-After: 1`: the condition is momentary.
pub(super) async fn write_reject<S: Io>(
    shared: &SharedTransport<S>,
    out: &mut Vec<u8>,
    reject: Reject,
) -> io::Result<()> {
    let body = format!("{}\n", reject.reason);
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    if reject.status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, http::HeaderValue::from_static("1"));
    }
    out.clear();
    encode::head(out, reject.status, &headers, encode::ResponseFraming::Length(body.len() as u64), Some("close"), None);
    out.extend_from_slice(body.as_bytes());
    write_all(shared, out).await?;
    flush(shared).await
}

/// Writes a response. Clears `keep_alive` when the response ends the
/// connection. Returns the status the client was sent: a streamed body that
/// fails before anything went out is replaced by an error response.
pub(super) async fn write_response<S>(
    shared: &SharedTransport<S>,
    out: &mut Vec<u8>,
    response: Response,
    head_only: bool,
    version: Version,
    keep_alive: &mut bool,
) -> io::Result<StatusCode>
where
    S: Io,
{
    let reason = response.reason().map(str::to_owned);
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
    } else if head_only {
        // RFC 9110 §9.3.2: HEAD says what GET would send: a length the
        // handler declared (knowing it without producing the body) or its
        // body has. A length only producing the body would tell is left out,
        // as that section allows: never `chunked` for a body not sent.
        match declared_length(&headers).or(body.size_hint()) {
            Some(n) => encode::ResponseFraming::Length(n),
            None => encode::ResponseFraming::NoBody,
        }
    } else if let Some(n) = body.size_hint() {
        encode::ResponseFraming::Length(n)
    } else if let Some(n) = declared_length(&headers) {
        encode::ResponseFraming::Length(n)
    } else if version == Version::HTTP_11 {
        encode::ResponseFraming::Chunked
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
    encode::head(out, status, &headers, framing, connection, reason.as_deref());

    if head_only || framing == encode::ResponseFraming::NoBody {
        write_all(shared, out).await?;
        flush(shared).await?;
        return Ok(status);
    }
    // The head, then a file from the page cache with no copy through user
    // space, in full segments (corked between). A socket that cannot (TLS)
    // has the file read and copied below.
    #[cfg(target_os = "linux")]
    if sends_files(shared)
        && let Some(part) = body.take_file_part()
    {
        cork(shared, true);
        write_all(shared, out).await?;
        let sent = send_file(shared, &part).await;
        cork(shared, false);
        if sent? < part.len {
            log::error!(target: "squall::server", "file shorter than its {} bytes: closing the connection", part.len);
            *keep_alive = false;
            return Ok(status);
        }
        flush(shared).await?;
        return Ok(status);
    }
    if let Some(full) = body.as_full() {
        if full.len() <= COALESCE {
            out.extend_from_slice(full);
            write_all(shared, out).await?;
        } else {
            write_all(shared, out).await?;
            write_all(shared, full).await?;
        }
        flush(shared).await?;
        return Ok(status);
    }
    match write_stream(shared, out, status, &mut body, framing).await? {
        Streamed::Complete => Ok(status),
        Streamed::Failed { sent } => {
            // The connection ends here, lingering, whatever kind of target
            // produced the body: the framing of what follows is lost.
            *keep_alive = false;
            Ok(sent)
        }
    }
}

/// The body's next chunk, polled so that an event stream inside it can
/// see the server wind down (see [`polled_by`]).
fn next_chunk<'a>(
    server: &'a Arc<dyn ServerEnding>,
    body: &'a mut Body,
) -> impl std::future::Future<Output = Option<io::Result<bytes::Bytes>>> + 'a {
    poll_fn(move |cx| polled_by(server, || Pin::new(&mut *body).poll_next(cx)))
}

/// How a streamed body ended.
enum Streamed {
    Complete,
    /// The body failed; `sent` is the status the client got (the response's
    /// own when its head had gone out and the rest is cut).
    Failed {
        sent: StatusCode,
    },
}

/// Streams a body: each chunk goes out as soon as the stream has no more ready.
///
/// When the body fails before anything was sent, the client gets an error
/// response instead: the request body's own failure when reading it is what
/// failed (`413`, `400`, `408` — a handler echoing a bad upload, say), else
/// `500`. After something was sent, the response is cut (no last chunk, or
/// fewer bytes than its `Content-Length`) so the client cannot take it for
/// complete. Either way the connection then closes.
async fn write_stream<S>(
    shared: &SharedTransport<S>,
    out: &mut Vec<u8>,
    status: StatusCode,
    body: &mut Body,
    framing: encode::ResponseFraming,
) -> io::Result<Streamed>
where
    S: Io,
{
    let mut sent_any = false;
    let watch: Arc<dyn ServerEnding> = watch_of(shared);
    let mut remaining = match framing {
        encode::ResponseFraming::Length(n) => n,
        _ => u64::MAX,
    };
    loop {
        let next = match future::poll_once(next_chunk(&watch, body)).await {
            Some(next) => next,
            None => {
                if !out.is_empty() {
                    write_all(shared, out).await?;
                    flush(shared).await?;
                    out.clear();
                    sent_any = true;
                }
                // Waiting for the stream (an event stream, say) is when a
                // client that left is noticed, not at the next write.
                let gone = async {
                    poll_fn(|cx| lock(shared).poll_peer_gone(cx)).await;
                    None
                };
                match gone.or(async { Some(next_chunk(&watch, body).await) }).await {
                    Some(next) => next,
                    None => {
                        log::debug!(target: "squall::server", "client left during a streamed response");
                        return Err(io::ErrorKind::ConnectionAborted.into());
                    }
                }
            }
        };
        let data = match next {
            None => break,
            Some(Ok(data)) => data,
            Some(Err(e)) => {
                let failure = lock(shared).body_failure();
                let reject = match failure {
                    Some((status, reason)) => {
                        log::warn!(target: "squall::server", "{} {reason}, while streaming the response", status.as_u16());
                        Reject { status, reason }
                    }
                    None => {
                        log::error!(target: "squall::server", "response body failed after status {status}: {e}");
                        Reject { status: StatusCode::INTERNAL_SERVER_ERROR, reason: "response body failed" }
                    }
                };
                if sent_any {
                    return Ok(Streamed::Failed { sent: status });
                }
                write_reject(shared, out, reject).await?;
                return Ok(Streamed::Failed { sent: reject.status });
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
                return Ok(Streamed::Failed { sent: status });
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
            return Ok(Streamed::Failed { sent: status });
        }
        _ => {}
    }
    write_all(shared, out).await?;
    out.clear();
    flush(shared).await?;
    Ok(Streamed::Complete)
}
