//! One connection's life: read a head, hand the request to the app, write the
//! response, repeat while keep-alive allows.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_lite::FutureExt;
use http::{Method, StatusCode, Version};

use super::decode::{Reject, RequestFraming, RequestHead};
use super::encode;
use super::request_body::Settled;
use super::socket::HeadError;
use super::transport::{
    Limits, SharedTransport, Transport, UpgradedTransport, flush, linger_close, lock, read_head, write_all,
};
use super::write::{write_reject, write_response};
use crate::error::HttpError;
use crate::routing::Target;
use crate::rt::Io;
use crate::server::proxy::{self, Client};
use crate::server::watch::{Ending, Watch};
use crate::server::{Config, Core};
use crate::web::client::BodySource;
use crate::web::client::ClientLink;
use crate::web::upgrade::OnUpgrade;
use crate::web::{Body, IntoResponse, Origin, Request, Response, Upgraded};

/// What the server knows about a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnInfo {
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) scheme: &'static str,
}

/// Serves one connection until it closes.
pub(crate) async fn serve<S>(io: S, server: Arc<Core>, info: ConnInfo, watch: Arc<Watch>)
where
    S: Io,
{
    let config = &server.config;
    let limits = Limits {
        body_timeout: config.body_timeout,
        write_timeout: config.write_timeout,
        chunk_size: config.chunk_size,
    };
    let shared: SharedTransport<S> = Arc::new(Mutex::new(Transport::new(io, watch.clone(), limits)));
    let mut out = Vec::new();
    if server.registry.open() > config.max_connections {
        log::warn!(target: "squall::server", "{}: 503, over max_connections ({})", peer(&info), config.max_connections);
        let reject = Reject { status: StatusCode::SERVICE_UNAVAILABLE, reason: "too many connections, retry later" };
        let _ = write_reject(&shared, &mut out, reject).await;
        linger_close(&shared).await;
        return;
    }
    let mut seq = 0;
    loop {
        let head = match read_head(&shared, config.max_header_size, config.idle_connection_timeout).await {
            Ok(Some(head)) => head,
            Ok(None) | Err(HeadError::Gone) => return,
            Err(HeadError::Idle) => {
                let why = if watch.ending() == Ending::No { "idle timeout" } else { "server shutting down" };
                log::debug!(target: "squall::server", "{}: closing idle connection ({why})", peer(&info));
                linger_close(&shared).await;
                return;
            }
            Err(HeadError::Reject(reject)) => {
                log::warn!(target: "squall::server", "{}: {} {}", peer(&info), reject.status.as_u16(), reject.reason);
                let _ = write_reject(&shared, &mut out, reject).await;
                linger_close(&shared).await;
                return;
            }
        };
        seq += 1;
        // Boxed: the exchange's state (over 2 KiB) lives only while a request
        // is in hand, so an idle connection's task stays under 1 KiB.
        match Box::pin(exchange(&shared, &mut out, &*server.app, config, info, head, seq)).await {
            Ok(Next::Request) => {}
            Ok(Next::Close) => {
                linger_close(&shared).await;
                return;
            }
            Ok(Next::Upgrade(on_upgrade)) => {
                // The connection is the handler's protocol's now: no idle
                // deadline; the server's shutdown still cuts the task.
                watch.read_within(None);
                (on_upgrade.0)(Upgraded::new(UpgradedTransport::new(shared.clone()))).await;
                linger_close(&shared).await;
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                log::info!(target: "squall::server", "{}: client stopped reading its response; closed", peer(&info));
                return;
            }
            Err(e) => {
                log::debug!(target: "squall::server", "{}: connection lost: {e}", peer(&info));
                return;
            }
        }
    }
}

/// What a connection does after an exchange.
enum Next {
    /// Read the next request.
    Request,
    /// Close, lingering.
    Close,
    /// Run this on the connection: it answered `101 Switching Protocols`.
    Upgrade(OnUpgrade),
}

/// One request and its response, and what the connection does next.
async fn exchange<S>(
    shared: &SharedTransport<S>,
    out: &mut Vec<u8>,
    app: &dyn Target,
    config: &Config,
    info: ConnInfo,
    head: RequestHead,
    seq: u64,
) -> io::Result<Next>
where
    S: Io,
{
    let started = Instant::now();
    let RequestHead { method, uri, version, mut headers, framing, keep_alive, expect_continue } = head;
    let mut keep_alive = keep_alive && !config.no_keep_alive;
    let inflate =
        config.decompress_request && framing != RequestFraming::None && super::inflate::take_gzip(&mut headers);
    lock(shared).start_body(seq, framing, expect_continue, config.max_body_size, inflate);
    let link = ClientLink { source: shared.clone(), seq };
    let body = match framing {
        RequestFraming::None => Body::empty(),
        _ => Body::incoming(link.clone(), config.max_buffer_size),
    };
    let mut client = Client { addr: info.peer, scheme: config.protocol.unwrap_or(info.scheme) };
    if config.xheaders {
        client = proxy::resolve(&headers, &config.trusted_downstream, client);
    }
    let (log_method, log_uri) = (method.clone(), uri.clone());
    let origin = Origin { peer: client.addr, local: info.local, scheme: client.scheme };
    let req = Request::arrived(method, uri, version, headers, body, origin, Some(link));

    let mut response = respond(app, req, &info).await;

    let (settled, last) = {
        let mut t = lock(shared);
        (t.settle_body(), t.is_last_request())
    };
    match settled {
        Settled::Reusable => {}
        Settled::Close => keep_alive = false,
        Settled::Failed(status, reason) => {
            // The body was malformed, too large or too slow: whatever the
            // handler said, the client gets the error, and the framing is lost.
            log::warn!(target: "squall::server", "{}: {} {reason}", peer(&info), status.as_u16());
            response = HttpError::new(status).with_message(reason).into_response();
            keep_alive = false;
        }
    }
    // Shutting down: this is the last response, unless the client has
    // already sent the next request, which is answered too.
    keep_alive &= !last;
    if let Some(on_upgrade) = response.take_upgrade() {
        // RFC 9110 §7.8: an HTTP/1.1 request, and no body left to frame.
        if version == Version::HTTP_11
            && framing == RequestFraming::None
            && response.status() == StatusCode::SWITCHING_PROTOCOLS
            && !last
        {
            let (status, headers, _) = response.into_parts();
            out.clear();
            encode::head(out, status, &headers, encode::ResponseFraming::NoBody, Some("Upgrade"), None);
            let written = async {
                write_all(shared, out).await?;
                flush(shared).await
            }
            .await;
            config.access_log.request(status, &log_method, &log_uri, client.addr.map(|p| p.ip()), started);
            written?;
            return Ok(Next::Upgrade(on_upgrade));
        }
        response = if last {
            log::info!(target: "squall::server", "{}: 503 no upgrade while shutting down", peer(&info));
            HttpError::new(StatusCode::SERVICE_UNAVAILABLE)
                .with_message("shutting down; retry later")
                .into_response()
                .with_header(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"))
        } else {
            log::warn!(target: "squall::server", "{}: 400 an upgrade needs an HTTP/1.1 request without a body", peer(&info));
            HttpError::bad_request("this request cannot switch protocols").into_response()
        };
        keep_alive = false;
    }
    let head_only = log_method == Method::HEAD;
    let status = response.status();
    let result = write_response(shared, out, response, head_only, version, &mut keep_alive).await;
    let sent = result.as_ref().map_or(status, |sent| *sent);
    config.access_log.request(sent, &log_method, &log_uri, client.addr.map(|p| p.ip()), started);
    result?;
    if keep_alive && drain(shared, seq).await { Ok(Next::Request) } else { Ok(Next::Close) }
}

/// Calls the app, turning a declined request into `404` and a panic into `500`.
async fn respond(app: &dyn Target, req: Request, info: &ConnInfo) -> Response {
    let call = AssertUnwindSafe(crate::routing::answer(app, req));
    match call.catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let what = crate::error::panic_message(&*panic);
            crate::error::log_failure("squall::server", format_args!("{}: handler panicked: {what}", peer(info)));
            HttpError::new(StatusCode::INTERNAL_SERVER_ERROR).into_response()
        }
    }
}

/// Reads the rest of an unread request body so the next request can follow.
async fn drain<S: Io>(shared: &SharedTransport<S>, seq: u64) -> bool {
    if lock(shared).body_done() {
        return true;
    }
    loop {
        match poll_fn(|cx| lock(shared).poll_chunk(cx, seq)).await {
            None => return true,
            Some(Ok(_)) => {}
            Some(Err(_)) => return false,
        }
    }
}

pub(crate) fn peer(info: &ConnInfo) -> String {
    info.peer.map_or_else(|| "local".to_owned(), |p| p.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::task::Poll;
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;
    use crate::testing::memory::MemoryIo;
    use crate::web::{Body, Response};
    use crate::{Router, rt};

    fn writes_for(app: Router, input: &[u8]) -> Vec<Vec<u8>> {
        let (io, writes) = MemoryIo::new(input);
        let info = ConnInfo { peer: None, local: None, scheme: "http" };
        let server = Core::standalone(Arc::new(app), Config::default());
        let entry = server.registry.register();
        rt::block_on(serve(io, server.clone(), info, entry.watch.clone()));
        writes.lock().unwrap().clone()
    }

    #[test]
    fn small_response_goes_out_in_one_write() {
        let app = Router::new().route("/", |_req| async { "Hello, world!" });
        let writes = writes_for(app, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(writes.len(), 1, "{writes:?}");
        assert!(writes[0].starts_with(b"HTTP/1.1 200 OK\r\n") && writes[0].ends_with(b"\r\n\r\nHello, world!"));
    }

    #[test]
    fn each_streamed_chunk_is_written_when_produced() {
        let app = Router::new().route("/", |_req| async {
            let (tx, rx) = async_channel_like();
            rt::spawn(async move {
                for part in ["a", "b"] {
                    tx.send(part).await;
                }
            });
            Response::stream(Body::from_stream(rx))
        });
        let writes = writes_for(app, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let all: Vec<u8> = writes.concat();
        assert!(all.ends_with(b"1\r\na\r\n1\r\nb\r\n0\r\n\r\n"), "{:?}", String::from_utf8_lossy(&all));
        let first = writes.iter().position(|w| w.windows(6).any(|x| x == b"1\r\na\r\n")).expect("chunk a written");
        assert!(!writes[first].windows(6).any(|x| x == b"1\r\nb\r\n"), "chunk a was held back until b: {writes:?}");
    }

    /// A tiny single-slot channel over a mutex, enough for the test above.
    fn async_channel_like() -> (Sender, impl futures_lite::Stream<Item = io::Result<Bytes>> + Send + 'static) {
        let slot: ChannelSlot = Arc::new(Mutex::new((Vec::new(), false, None)));
        let rx_slot = slot.clone();
        let stream = futures_lite::stream::poll_fn(move |cx| {
            let mut s = rx_slot.lock().unwrap();
            if !s.0.is_empty() {
                return Poll::Ready(Some(Ok(Bytes::from_static(s.0.remove(0).as_bytes()))));
            }
            if s.1 {
                return Poll::Ready(None);
            }
            s.2 = Some(cx.waker().clone());
            Poll::Pending
        });
        (Sender(slot), stream)
    }

    /// Queued parts, closed flag, waiting reader.
    type ChannelSlot = Arc<Mutex<(Vec<&'static str>, bool, Option<std::task::Waker>)>>;

    struct Sender(ChannelSlot);

    impl Sender {
        async fn send(&self, part: &'static str) {
            rt::sleep(Duration::from_millis(5)).await;
            let mut s = self.0.lock().unwrap();
            s.0.push(part);
            if let Some(w) = s.2.take() {
                w.wake();
            }
        }
    }

    impl Drop for Sender {
        fn drop(&mut self) {
            let mut s = self.0.lock().unwrap();
            s.1 = true;
            if let Some(w) = s.2.take() {
                w.wake();
            }
        }
    }
}
