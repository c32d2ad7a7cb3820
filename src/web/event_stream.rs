//! Server-sent events (the HTML standard's `text/event-stream`): an
//! [`EventStream`] response that stays open and carries [`Event`]s as they
//! happen, with comment lines as keep-alives while nothing does.
//!
//! The stream ends when every [`EventSender`] is dropped, when the client
//! leaves (the server notices a closed connection while the stream waits,
//! drops it, and [`EventSender::send`] fails from then on), and when the
//! server begins a graceful shutdown: the response ends cleanly, with its
//! last chunk, at once rather than being cut at the drain deadline, and the
//! browser reconnects — to another instance — with `Last-Event-ID`.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::{Stream, stream};
use http::header::{self, HeaderValue};

use super::{Body, IntoResponse, Response};
use crate::rt::lock;

/// How long a stream stays silent before a keep-alive comment, unless set.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Events a sender may queue before [`EventSender::send`] waits.
const QUEUE: usize = 64;

/// One event: `data` (any text; line breaks become several `data` lines),
/// and optionally the `event` type, an `id` (which the browser sends back as
/// `Last-Event-ID` when it reconnects) and a `retry` delay.
///
/// # Examples
///
/// ```
/// use squall::web::Event;
///
/// let event = Event::data("line one\nline two").event("news").id("7");
/// assert_eq!(event.to_string(), "event: news\nid: 7\ndata: line one\ndata: line two\n\n");
/// assert_eq!(Event::comment("hi").to_string(), ": hi\n\n");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    event: Option<String>,
    id: Option<String>,
    retry: Option<Duration>,
    data: Option<String>,
    comment: Option<String>,
}

impl Event {
    /// An event carrying `data`.
    pub fn data(data: impl Into<String>) -> Self {
        Event { data: Some(data.into()), ..Event::default() }
    }

    /// A comment line, which browsers ignore: a keep-alive, or a note for
    /// someone reading the stream by hand.
    pub fn comment(text: impl Into<String>) -> Self {
        Event { comment: Some(text.into()), ..Event::default() }
    }

    /// Sets the event type (what `addEventListener` listens for; the
    /// default is `message`). Line breaks are removed: they would end the field.
    pub fn event(mut self, name: impl Into<String>) -> Self {
        self.event = Some(single_line(name.into()));
        self
    }

    /// Sets the event id. Line breaks and NUL are removed: a browser ignores
    /// an id containing NUL.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(single_line(id.into()).replace('\0', ""));
        self
    }

    /// Tells the browser how long to wait before reconnecting.
    pub fn retry(mut self, delay: Duration) -> Self {
        self.retry = Some(delay);
        self
    }
}

fn single_line(s: String) -> String {
    if s.contains(['\r', '\n']) { s.replace(['\r', '\n'], "") } else { s }
}

/// Each line of `text`, split at CRLF, CR or LF as the event-stream format does.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split("\r\n").flat_map(|l| l.split(['\r', '\n']))
}

impl fmt::Display for Event {
    /// The event in the wire format, with its closing blank line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(comment) = &self.comment {
            for line in lines(comment) {
                writeln!(f, ": {line}")?;
            }
        }
        if let Some(event) = &self.event {
            writeln!(f, "event: {event}")?;
        }
        if let Some(id) = &self.id {
            writeln!(f, "id: {id}")?;
        }
        if let Some(retry) = self.retry {
            writeln!(f, "retry: {}", retry.as_millis())?;
        }
        if let Some(data) = &self.data {
            for line in lines(data) {
                writeln!(f, "data: {line}")?;
            }
        }
        writeln!(f)
    }
}

/// The sending side of an [`EventStream::channel`]: clone it freely.
///
/// Once the stream is gone (its client left, the server shut down) a sender
/// holds no queue: a broadcaster that keeps senders of departed clients
/// until it next prunes them keeps a few bytes each, not their queues.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: Arc<Mutex<Option<async_channel::Sender<Event>>>>,
}

/// The stream's end of the channel: closing it frees the queue.
struct Receiving {
    rx: Pin<Box<async_channel::Receiver<Event>>>,
    senders: Weak<Mutex<Option<async_channel::Sender<Event>>>>,
}

impl Stream for Receiving {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.as_mut().poll_next(cx)
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        if let Some(senders) = self.senders.upgrade() {
            lock(&senders).take();
        }
    }
}

/// The client has left (or the stream was dropped): nothing more can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamClosed;

impl fmt::Display for StreamClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the event stream is closed")
    }
}

impl std::error::Error for StreamClosed {}

impl EventSender {
    /// Queues `event`, waiting while the stream's queue is full (a client
    /// reading slowly).
    ///
    /// # Errors
    ///
    /// [`StreamClosed`] once the client has left.
    pub async fn send(&self, event: Event) -> Result<(), StreamClosed> {
        let tx = lock(&self.tx).clone().ok_or(StreamClosed)?;
        tx.send(event).await.map_err(|_| StreamClosed)
    }

    /// Queues `event` if there is room now; a broadcaster that must not
    /// wait for one slow client uses this and drops what does not fit.
    ///
    /// # Errors
    ///
    /// [`StreamClosed`] once the client has left, or when the queue is full.
    pub fn try_send(&self, event: Event) -> Result<(), StreamClosed> {
        match &*lock(&self.tx) {
            Some(tx) => tx.try_send(event).map_err(|_| StreamClosed),
            None => Err(StreamClosed),
        }
    }

    /// Whether the stream has ended.
    pub fn is_closed(&self) -> bool {
        lock(&self.tx).as_ref().is_none_or(async_channel::Sender::is_closed)
    }
}

/// A `text/event-stream` response: events as they come, a keep-alive
/// comment after each silence of the keep-alive interval (15 s unless set),
/// `Cache-Control: no-cache`, and `X-Accel-Buffering: no` so that a proxy
/// in front passes each event on at once.
///
/// # Examples
///
/// ```
/// use squall::web::{Event, EventStream};
/// use squall::{Request, Response, Router, get};
///
/// async fn countdown(req: Request) -> EventStream {
///     // A reconnecting browser says where it was.
///     let from: u32 = req.last_event_id().and_then(|id| id.parse().ok()).unwrap_or(3);
///     let events = (1..=from).rev().map(|n| Event::data(n.to_string()).id(n.to_string()));
///     EventStream::from_stream(futures_lite::stream::iter(events))
/// }
///
/// let app = Router::new().route("/countdown", get(countdown));
/// # squall::block_on(async {
/// let resp = squall::testing::call(&app, Request::get("/countdown")).await;
/// assert_eq!(resp.headers()["content-type"], "text/event-stream");
/// let body = resp.into_body().bytes().await.unwrap();
/// assert_eq!(body, "id: 3\ndata: 3\n\nid: 2\ndata: 2\n\nid: 1\ndata: 1\n\n");
/// # });
/// ```
pub struct EventStream {
    events: std::pin::Pin<Box<dyn Stream<Item = Event> + Send>>,
    keep_alive: Option<Duration>,
}

impl EventStream {
    /// A stream fed through the returned sender; it ends when every clone
    /// of the sender is dropped.
    pub fn channel() -> (EventSender, EventStream) {
        let (tx, rx) = async_channel::bounded(QUEUE);
        let tx = Arc::new(Mutex::new(Some(tx)));
        let receiving = Receiving { rx: Box::pin(rx), senders: Arc::downgrade(&tx) };
        (EventSender { tx }, EventStream::from_stream(receiving))
    }

    /// A stream of the events `events` yields; it ends with it.
    pub fn from_stream(events: impl Stream<Item = Event> + Send + 'static) -> Self {
        EventStream { events: Box::pin(events), keep_alive: Some(KEEP_ALIVE) }
    }

    /// Sends a keep-alive comment after `interval` without an event (`None`:
    /// never). Proxies and browsers drop connections that stay silent too long.
    pub fn keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive = interval;
        self
    }

    fn into_body(self) -> Body {
        let EventStream { mut events, keep_alive } = self;
        let mut silence: Option<Pin<Box<dyn Future<Output = ()> + Send>>> = None;
        let chunks = stream::poll_fn(move |cx| {
            let text = match events.as_mut().poll_next(cx) {
                Poll::Ready(Some(event)) => event.to_string(),
                Poll::Ready(None) => return Poll::Ready(None),
                // Queued events are out; a server winding down ends the
                // stream here, cleanly, so the browser reconnects elsewhere.
                Poll::Pending if super::body::poll_server_ending(cx).is_ready() => {
                    log::debug!(target: "squall::server", "server shutting down: event stream ended");
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    let Some(interval) = keep_alive else { return Poll::Pending };
                    let timer = silence.get_or_insert_with(|| Box::pin(crate::rt::sleep(interval)));
                    match timer.as_mut().poll(cx) {
                        Poll::Ready(()) => ": keep-alive\n\n".to_owned(),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            };
            silence = None;
            Poll::Ready(Some(Ok::<_, io::Error>(Bytes::from(text))))
        });
        Body::from_stream(chunks)
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream").field("keep_alive", &self.keep_alive).finish_non_exhaustive()
    }
}

impl IntoResponse for EventStream {
    fn into_response(self) -> Response {
        let mut response = Response::new(http::StatusCode::OK).with_body(self.into_body());
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lines_split_at_every_kind_of_line_break() {
        let e = Event::data("a\r\nb\rc\nd");
        assert_eq!(e.to_string(), "data: a\ndata: b\ndata: c\ndata: d\n\n");
        assert_eq!(Event::data("").to_string(), "data: \n\n", "an empty event still dispatches");
    }

    #[test]
    fn fields_cannot_smuggle_lines() {
        let e = Event::data("x").event("a\nevent: b").id("1\r\n\0id: 2");
        assert_eq!(e.to_string(), "event: aevent: b\nid: 1id: 2\ndata: x\n\n");
        assert_eq!(Event::data("x").retry(Duration::from_secs(2)).to_string(), "retry: 2000\ndata: x\n\n");
    }

    #[test]
    fn a_channel_stream_ends_when_the_senders_go() {
        crate::rt::block_on(async {
            let (tx, stream) = EventStream::channel();
            let tx2 = tx.clone();
            tx.send(Event::data("one")).await.unwrap();
            drop(tx);
            tx2.send(Event::data("two").id("2")).await.unwrap();
            drop(tx2);
            let body = stream.into_body().bytes().await.unwrap();
            assert_eq!(body, "data: one\n\nid: 2\ndata: two\n\n");
        });
    }

    #[test]
    fn silence_is_filled_with_keep_alive_comments() {
        crate::rt::block_on(async {
            let (tx, stream) = EventStream::channel();
            let mut body = stream.keep_alive(Some(Duration::from_millis(20))).into_body();
            assert_eq!(body.chunk().await.unwrap().unwrap(), ": keep-alive\n\n");
            tx.send(Event::data("x")).await.unwrap();
            assert_eq!(body.chunk().await.unwrap().unwrap(), "data: x\n\n");
            drop(body);
            assert_eq!(tx.send(Event::data("y")).await, Err(StreamClosed), "the reader is gone");
        });
    }
}
