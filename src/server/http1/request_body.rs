//! The state of the current request's body: how it is framed, how much has
//! arrived against which limit, the pending `100 Continue`, gzip inflation,
//! and the failure that ends it.
//!
//! [`RequestBody`] reads through the connection's [`Socket`] but owns none of
//! it; once the handler has answered, [`RequestBody::settle`] tells the
//! connection loop whether the connection may carry another request.

use std::io;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;

use super::body::Decoder;
use super::decode::RequestFraming;
use super::inflate::{Fault, Inflate};
use super::socket::{INITIAL_BUFFER, Socket};
use crate::error::BodyError;
use crate::rt::Io;

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
const TOO_LARGE: &str = "request body larger than the limit";

/// Unread request body bytes drained to keep a connection alive; more means close.
const DRAIN_LIMIT: u64 = 64 * 1024;

/// What a request's body leaves behind once the handler has answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settled {
    /// Read to its end, or a remainder small enough to drain: the
    /// connection may carry another request.
    Reusable,
    /// A remainder the connection will not wait for (too large, or the
    /// client still waits for `100 Continue`): close after the response.
    Close,
    /// Malformed, too large or too slow: the client gets this answer
    /// whatever the handler said, and the connection closes.
    Failed(StatusCode, &'static str),
}

/// One request's body, as the connection reads it.
#[derive(Debug)]
pub(super) struct RequestBody {
    /// The request this body belongs to; reads for another fail.
    seq: u64,
    decoder: Decoder,
    received: u64,
    limit: u64,
    chunk_size: usize,
    timeout: Option<Duration>,
    /// The body's deadline is running (it starts at the first read).
    clock: bool,
    /// Inflating a gzip body, and inflated bytes not yet handed out.
    inflate: Option<Box<Inflate>>,
    inflated: Bytes,
    /// Bytes of `100 Continue` written so far, while it is still owed.
    continue_pending: Option<usize>,
    failure: Option<(StatusCode, &'static str)>,
}

impl RequestBody {
    /// No body yet: the state before the first request.
    pub(super) fn new(chunk_size: usize, timeout: Option<Duration>) -> Self {
        RequestBody {
            seq: 0,
            decoder: Decoder::Done,
            received: 0,
            limit: 0,
            chunk_size,
            timeout,
            clock: false,
            inflate: None,
            inflated: Bytes::new(),
            continue_pending: None,
            failure: None,
        }
    }

    /// Starts the body of request `seq`.
    pub(super) fn start(&mut self, seq: u64, framing: RequestFraming, expect_continue: bool, limit: u64, gzip: bool) {
        self.seq = seq;
        self.decoder = Decoder::new(framing);
        self.received = 0;
        self.limit = limit;
        self.clock = false;
        self.inflate = gzip.then(|| Box::new(Inflate::new()));
        self.inflated = Bytes::new();
        self.continue_pending = expect_continue.then_some(0);
        self.failure = None;
    }

    /// Why reading the body failed, if it did.
    pub(super) fn failure(&self) -> Option<(StatusCode, &'static str)> {
        self.failure
    }

    /// Every byte of the body has been read.
    pub(super) fn is_done(&self) -> bool {
        self.decoder.is_done()
    }

    /// Replaces the limit of request `seq`, while nothing of it has been read.
    pub(super) fn set_limit(&mut self, seq: u64, limit: u64) {
        if seq == self.seq && self.received == 0 && self.failure.is_none() {
            self.limit = limit;
        }
    }

    /// The handler has answered: says what the body leaves for the
    /// connection, and forgets a `100 Continue` that was never sent.
    pub(super) fn settle(&mut self) -> Settled {
        if let Some((status, reason)) = self.failure {
            return Settled::Failed(status, reason);
        }
        if self.decoder.is_done() {
            return Settled::Reusable;
        }
        let small = matches!(self.decoder, Decoder::Length { remaining } if remaining <= DRAIN_LIMIT);
        let owed_continue = self.continue_pending.take().is_some();
        if owed_continue || !small { Settled::Close } else { Settled::Reusable }
    }

    fn fail(&mut self, status: StatusCode, reason: &'static str) -> io::Error {
        self.failure = Some((status, reason));
        BodyError { status, reason }.into_io()
    }

    /// The next chunk of request `seq`'s body, inflated when it is gzip.
    pub(super) fn poll_chunk<S: Io>(
        &mut self,
        socket: &mut Socket<S>,
        cx: &mut Context<'_>,
        seq: u64,
    ) -> Poll<Option<io::Result<Bytes>>> {
        if seq != self.seq {
            let e =
                BodyError { status: StatusCode::INTERNAL_SERVER_ERROR, reason: "body read after its request ended" };
            return Poll::Ready(Some(Err(e.into_io())));
        }
        if let Some((status, reason)) = self.failure {
            return Poll::Ready(Some(Err(BodyError { status, reason }.into_io())));
        }
        if self.inflate.is_none() {
            return self.poll_raw(socket, cx);
        }
        loop {
            if !self.inflated.is_empty() {
                let n = self.inflated.len().min(self.chunk_size);
                return Poll::Ready(Some(Ok(self.inflated.split_to(n))));
            }
            // After the end, `poll_raw` answers `None` and so does this.
            let raw = ready!(self.poll_raw(socket, cx));
            let Some(inflate) = self.inflate.as_mut() else { return Poll::Ready(None) };
            let inflated = match raw {
                Some(Ok(raw)) => inflate.feed(&raw, self.limit),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    let last = inflate.finish(self.limit);
                    self.inflate = None;
                    last
                }
            };
            match inflated {
                Ok(out) => self.inflated = out,
                Err(Fault::TooLarge) => {
                    return Poll::Ready(Some(Err(self.fail(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE))));
                }
                Err(Fault::Corrupt) => {
                    return Poll::Ready(Some(
                        Err(self.fail(StatusCode::BAD_REQUEST, "request body is not valid gzip")),
                    ));
                }
            }
        }
    }

    /// The next piece of body as framed on the wire.
    fn poll_raw<S: Io>(&mut self, socket: &mut Socket<S>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        if self.decoder.is_done() {
            return Poll::Ready(None);
        }
        if let Decoder::Length { remaining } = self.decoder
            && self.received + remaining > self.limit
        {
            // Known too large before a byte is read (and before `100 Continue`).
            self.continue_pending = None;
            return Poll::Ready(Some(Err(self.fail(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE))));
        }
        if let Some(mut written) = self.continue_pending {
            let polled = socket.poll_write_all(cx, CONTINUE, &mut written);
            self.continue_pending = Some(written);
            match polled {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Ok(())) => self.continue_pending = None,
            }
        }
        loop {
            let buffered = socket.buffered();
            if !buffered.is_empty() {
                let window = &buffered[..buffered.len().min(self.chunk_size)];
                let step = match self.decoder.decode(window) {
                    Ok(step) => step,
                    Err(malformed) => return Poll::Ready(Some(Err(self.fail(StatusCode::BAD_REQUEST, malformed.0)))),
                };
                let data = (!step.data.is_empty()).then(|| Bytes::copy_from_slice(&window[step.data.clone()]));
                socket.consume(step.consumed);
                if let Some(data) = data {
                    self.received += data.len() as u64;
                    if self.received > self.limit {
                        return Poll::Ready(Some(Err(self.fail(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE))));
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                if self.decoder.is_done() {
                    return Poll::Ready(None);
                }
            }
            if !self.clock {
                self.clock = true;
                socket.watch().read_within(self.timeout);
            }
            let max = socket.capacity().max(INITIAL_BUFFER);
            match ready!(socket.poll_fill(cx, max)) {
                Ok(0) => return Poll::Ready(Some(Err(self.fail(StatusCode::BAD_REQUEST, "request body cut short")))),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Poll::Ready(Some(Err(self.fail(StatusCode::REQUEST_TIMEOUT, "request body timed out"))));
                }
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fully_read_body_leaves_the_connection_reusable() {
        let mut body = RequestBody::new(1024, None);
        body.start(1, RequestFraming::None, false, 100, false);
        assert_eq!(body.settle(), Settled::Reusable);
    }

    #[test]
    fn a_small_unread_remainder_is_drained_a_large_one_closes() {
        let mut body = RequestBody::new(1024, None);
        body.start(1, RequestFraming::Length(DRAIN_LIMIT), false, u64::MAX, false);
        assert_eq!(body.settle(), Settled::Reusable);
        body.start(2, RequestFraming::Length(DRAIN_LIMIT + 1), false, u64::MAX, false);
        assert_eq!(body.settle(), Settled::Close);
        body.start(3, RequestFraming::Chunked, false, u64::MAX, false);
        assert_eq!(body.settle(), Settled::Close, "a chunked remainder has no known size");
    }

    #[test]
    fn an_unsent_100_continue_closes_and_is_forgotten() {
        // RFC 9110 §10.1.1: a client waiting for 100 may send the body
        // anyway; the connection cannot tell, so it closes.
        let mut body = RequestBody::new(1024, None);
        body.start(1, RequestFraming::Length(10), true, 100, false);
        assert_eq!(body.settle(), Settled::Close);
        assert!(body.continue_pending.is_none());
    }

    #[test]
    fn a_failure_wins_and_a_limit_cannot_change_after_it() {
        let mut body = RequestBody::new(1024, None);
        body.start(1, RequestFraming::Length(10), false, 100, false);
        let _ = body.fail(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE);
        body.set_limit(1, 1_000);
        assert_eq!(body.limit, 100);
        assert_eq!(body.settle(), Settled::Failed(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE));
    }

    #[test]
    fn the_limit_changes_only_for_its_own_request() {
        let mut body = RequestBody::new(1024, None);
        body.start(2, RequestFraming::Length(10), false, 100, false);
        body.set_limit(1, 5);
        assert_eq!(body.limit, 100);
        body.set_limit(2, 5);
        assert_eq!(body.limit, 5);
    }
}
