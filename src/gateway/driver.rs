//! The driver: calls a gateway app on the current thread and turns what it
//! produces into messages ([`Msg`]), and turns those messages back into a
//! [`Response`] on the connection's side ([`assemble`]).
//!
//! The container sends the messages through a channel from a pool thread
//! (or collects them inline); `cgi::serve` writes them to standard output.

use std::collections::VecDeque;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use futures_lite::StreamExt;
use http::StatusCode;

use super::start::ResponseHead;
use super::{App, Environ, StartResponse};
use crate::error::HttpError;
use crate::error::panic_message;
use crate::web::{Body, IntoResponse, Response};

/// What the app's thread tells the connection.
pub(crate) enum Msg {
    /// The head, with the first body chunk when there is one.
    Head(ResponseHead, Option<Bytes>),
    /// The head and the whole body, known complete without blocking.
    Whole(ResponseHead, Bytes),
    Chunk(Bytes),
    Fail,
}

/// Turns the app's messages into a response: a `500` when it failed before
/// its head, else its status and headers with the chunks streamed behind.
pub(super) async fn assemble(messages: impl futures_lite::Stream<Item = Msg> + Send + 'static) -> Response {
    let mut messages = Box::pin(messages);
    let (head, first) = match messages.next().await {
        Some(Msg::Head(head, first)) => (head, first),
        Some(Msg::Whole(head, body)) => return head.into_whole_response(body),
        _ => return HttpError::new(StatusCode::INTERNAL_SERVER_ERROR).into_response(),
    };
    let rest = messages.map(|m| match m {
        Msg::Chunk(bytes) => Ok(bytes),
        Msg::Head(..) | Msg::Whole(..) | Msg::Fail => Err(io::Error::other("the gateway app failed mid-body")),
    });
    let chunks = futures_lite::stream::iter(first.map(Ok)).chain(rest);
    head.into_response(Body::from_stream(chunks))
}

/// Calls the app and iterates its body on the current thread, sending the
/// head with the first body chunk. `send` returns false once nobody listens
/// (client gone, HEAD): iteration stops. The body is closed here, always.
pub(crate) fn run_app(app: &dyn App, environ: Environ, mut send: impl FnMut(Msg) -> bool + Send) {
    let mut environ = Some(environ);
    app.around_request(&mut || {
        if let Some(environ) = environ.take() {
            drive(app, environ, &mut send);
        }
    });
}

fn drive(app: &dyn App, mut environ: Environ, mut send: impl FnMut(Msg) -> bool) {
    let start = StartResponse::new();
    let mut body = match catch_unwind(AssertUnwindSafe(|| app.call(&mut environ, &start))) {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return fail(&mut send, format!("the app failed: {e}")),
        Err(panic) => return fail(&mut send, format!("the app panicked: {}", panic_message(&panic))),
    };
    let mut pending: VecDeque<Bytes> = VecDeque::new();
    let mut head_sent = false;
    loop {
        pending.extend(start.take_written());
        let next = match pending.pop_front() {
            Some(written) => Some(Ok(written)),
            None => match catch_unwind(AssertUnwindSafe(|| body.next_chunk())) {
                Ok(next) => next,
                Err(panic) => Some(Err(format!("panicked: {}", panic_message(&panic)).into())),
            },
        };
        let chunk = match next {
            Some(Ok(bytes)) if bytes.is_empty() => continue,
            Some(Ok(bytes)) => Some(bytes),
            None => {
                // `write` may have been called during the last iteration.
                let late = start.take_written();
                if !late.is_empty() {
                    pending.extend(late);
                    continue;
                }
                None
            }
            Some(Err(e)) => {
                fail(&mut send, format!("the app's body failed: {e}"));
                break;
            }
        };
        let message = if head_sent {
            match chunk {
                Some(bytes) => Msg::Chunk(bytes),
                None => break,
            }
        } else {
            let complete = body.is_exhausted() && pending.is_empty() && !start.has_written();
            match start.commit() {
                Ok(head) => match chunk {
                    Some(bytes) if complete => Msg::Whole(head, bytes),
                    chunk => Msg::Head(head, chunk),
                },
                Err(why) => {
                    fail(&mut send, why);
                    break;
                }
            }
        };
        let last = matches!(message, Msg::Head(_, None) | Msg::Whole(..));
        if !send(message) || last {
            break;
        }
        head_sent = true;
    }
    if catch_unwind(AssertUnwindSafe(move || drop(body))).is_err() {
        log::error!(target: "squall::gateway", "the app's close() panicked");
    }
}

fn fail(send: &mut impl FnMut(Msg) -> bool, why: String) {
    log::error!(target: "squall::gateway", "{why}");
    send(Msg::Fail);
}
