//! The Redis backend: per topic a stream `squall:broadcast:{topic}` whose
//! entry ids are the message ids (`7-0`), a counter `…:{topic}:seq` and a
//! byte count `…:{topic}:bytes`. One script appends, numbers and trims
//! atomically, so ids increase by one per topic whoever publishes; each
//! process reads each topic it uses with `XREAD BLOCK` on a connection of
//! its own, from the last id it delivered — after a lost connection, the
//! stream replays what it missed, in order.
//!
//! Connections are `redis`'s multiplexed connection over a socket squall
//! opens, driven by a task on squall's own executor (no second runtime);
//! `redis`'s `smol-comp` support gives it timeouts from the shared reactor.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, Script, Value};

use super::{History, Inner, Published, Since, Unavailable};
use crate::error::{Error, Result};
use crate::rt::{self, lock};

/// How long a publish or a read of the history may wait for Redis: it
/// fails fast, so that a chat answers 503 rather than hanging.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one `XREAD` waits for news before asking again.
const BLOCK: Duration = Duration::from_secs(2);

/// Messages one `XREAD` takes at most.
const READ_COUNT: usize = 500;

/// The wait before trying a lost Redis again: doubled each time, up to the
/// second bound.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));

/// Appends ARGV[1] to the stream KEYS[1] under the next number of KEYS[2],
/// counts its bytes in KEYS[3], and trims the oldest entries past ARGV[2]
/// messages or ARGV[3] bytes. Returns the number.
const PUBLISH: &str = r"
local id = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], id .. '-0', 'm', ARGV[1])
local bytes = redis.call('INCRBY', KEYS[3], string.len(ARGV[1]))
local count = redis.call('XLEN', KEYS[1])
while count > tonumber(ARGV[2]) or bytes > tonumber(ARGV[3]) do
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  if #first == 0 then break end
  redis.call('XDEL', KEYS[1], first[1][1])
  bytes = redis.call('DECRBY', KEYS[3], string.len(first[1][2][2]))
  count = count - 1
end
return id
";

pub(super) struct Backend {
    info: ConnectionInfo,
    history: History,
    script: Script,
    /// The connection publishes and history reads share; `None` once lost,
    /// until the next call opens another.
    shared: Mutex<Option<MultiplexedConnection>>,
}

fn keys(topic: &str) -> [String; 3] {
    let stream = format!("squall:broadcast:{topic}");
    [format!("{stream}:seq"), format!("{stream}:bytes"), stream]
}

impl Backend {
    pub(super) async fn connect(url: &str, history: History) -> Result<Self> {
        let client = redis::Client::open(url).map_err(|e| Error::config(format!("redis {url}: {e}")))?;
        let info = client.get_connection_info().clone();
        let connection =
            open(&info, Some(CALL_TIMEOUT)).await.map_err(|e| Error::config(format!("redis {url}: {}", e.0)))?;
        log::info!(target: "squall::broadcast", "broadcasting through redis at {}", info.addr());
        Ok(Backend { info, history, script: Script::new(PUBLISH), shared: Mutex::new(Some(connection)) })
    }

    async fn connection(&self) -> std::result::Result<MultiplexedConnection, Unavailable> {
        if let Some(connection) = lock(&self.shared).clone() {
            return Ok(connection);
        }
        let connection = open(&self.info, Some(CALL_TIMEOUT)).await?;
        *lock(&self.shared) = Some(connection.clone());
        Ok(connection)
    }

    /// Forgets the shared connection after an error, so that the next
    /// call opens a new one.
    fn failed(&self, error: &redis::RedisError) -> Unavailable {
        if error.is_io_error() || error.is_timeout() || error.is_connection_dropped() || error.is_unrecoverable_error()
        {
            *lock(&self.shared) = None;
        }
        Unavailable(error.to_string())
    }

    pub(super) async fn publish(&self, topic: &str, body: &str) -> std::result::Result<u64, Unavailable> {
        let mut connection = self.connection().await?;
        let [seq, bytes, stream] = keys(topic);
        let mut call = self.script.key(stream);
        call.key(seq).key(bytes).arg(body).arg(self.history.messages).arg(self.history.bytes);
        call.invoke_async(&mut connection).await.map_err(|e| self.failed(&e))
    }

    /// The messages of `topic` after `after` that the stream still has.
    pub(super) async fn since(&self, topic: &str, after: u64) -> std::result::Result<Since, Unavailable> {
        let mut connection = self.connection().await?;
        let [seq, _, stream] = keys(topic);
        let start = format!("{}-0", after.saturating_add(1));
        let (range, last): (StreamRangeReply, Option<u64>) = redis::pipe()
            .xrange(&stream, &start, "+")
            .get(&seq)
            .query_async(&mut connection)
            .await
            .map_err(|e| self.failed(&e))?;
        let messages: Vec<Published> = range.ids.iter().filter_map(|entry| published(&entry.id, &entry.map)).collect();
        let last = last.unwrap_or(0);
        let next = messages.first().map_or(last + 1, |m| m.id);
        Ok(Since { complete: after >= last || next == after + 1, messages })
    }
}

/// A message from a stream entry: its id's first part, its `m` field.
fn published(id: &str, fields: &std::collections::HashMap<String, Value>) -> Option<Published> {
    let number = id.split('-').next()?.parse().ok()?;
    let body: String = match fields.get("m")? {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::SimpleString(text) => text.clone(),
        _ => return None,
    };
    Some(Published { id: number, body: body.into() })
}

/// Opens a connection on a socket of squall's runtime; its driver runs as
/// a task there.
async fn open(
    info: &ConnectionInfo,
    timeout: Option<Duration>,
) -> std::result::Result<MultiplexedConnection, Unavailable> {
    let unavailable = |e: io::Error| Unavailable(format!("{}: {e}", info.addr()));
    let connect = async {
        let stream: Box<dyn rt::Io> = match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                let target = (host.clone(), *port);
                let addrs: Vec<std::net::SocketAddr> =
                    blocking::unblock(move || std::net::ToSocketAddrs::to_socket_addrs(&target).map(Iterator::collect))
                        .await?;
                let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
                let mut connected = None;
                for addr in addrs {
                    match rt::connect_tcp(addr).await {
                        Ok(stream) => {
                            connected = Some(stream);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                connected.ok_or(last)?
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => rt::connect_unix(path).await?,
            other => return Err(io::Error::other(format!("{other} is not supported (TLS to Redis is not)"))),
        };
        Ok(stream)
    };
    let stream = match timeout {
        Some(limit) => rt::timeout(limit, connect).await.unwrap_or_else(|| Err(io::ErrorKind::TimedOut.into())),
        None => connect.await,
    }
    .map_err(unavailable)?;
    let mut config = AsyncConnectionConfig::new();
    if let Some(limit) = timeout {
        config = config.set_response_timeout(Some(limit));
    } else {
        config = config.set_response_timeout(None);
    }
    let (connection, driver) = MultiplexedConnection::new_with_config(info.redis_settings(), Tokio(stream), config)
        .await
        .map_err(|e| Unavailable(format!("{}: {e}", info.addr())))?;
    // Detached: it ends when the connection is dropped or breaks.
    let _driver = rt::spawn(driver);
    Ok(connection)
}

/// Reads `topic` from Redis for this process, for as long as the
/// broadcast lives: hands each message to the topic's sinks, in order;
/// reconnects with backoff when Redis is lost, and goes on from the last
/// message delivered (a [`Delivery::Gap`](super::Delivery::Gap) first when
/// the stream no longer reaches back to it).
pub(super) async fn read_topic(inner: Weak<Inner>, topic: String) {
    let [seq, _, stream] = keys(&topic);
    let mut backoff = BACKOFF.0;
    let mut lost_since: Option<std::time::Instant> = None;
    loop {
        let Some(alive) = inner.upgrade() else { return };
        let Some(redis) = alive.redis.as_ref() else { return };
        let info = redis.info.clone();
        drop(alive);
        // A connection of its own: XREAD BLOCK holds it.
        let mut connection = match open(&info, None).await {
            Ok(connection) => connection,
            Err(why) => {
                if lost_since.is_none() {
                    log::warn!(target: "squall::broadcast", "redis lost while reading {topic}: {}; retrying", why.0);
                    lost_since = Some(std::time::Instant::now());
                }
                rt::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF.1);
                continue;
            }
        };
        if let Some(since) = lost_since.take() {
            log::info!(target: "squall::broadcast", "redis is back for {topic} after {:.1?}", since.elapsed());
        }
        backoff = BACKOFF.0;
        loop {
            let Some(alive) = inner.upgrade() else { return };
            let last = lock(&alive.topics).get(&topic).map_or(0, |t| t.last);
            let history = alive.history;
            drop(alive);
            let options = StreamReadOptions::default().block(BLOCK.as_millis() as usize).count(READ_COUNT);
            let read: redis::RedisResult<Option<StreamReadReply>> =
                connection.xread_options(&[&stream], &[format!("{last}-0")], &options).await;
            let reply = match read {
                Ok(reply) => reply,
                Err(error) => {
                    log::warn!(target: "squall::broadcast", "redis lost while reading {topic}: {error}; reconnecting");
                    lost_since = Some(std::time::Instant::now());
                    break;
                }
            };
            if reply.is_none() && last > 0 {
                // Quiet for a while: check that Redis still has this topic's
                // numbering (a restart without persistence, a FLUSHALL, starts it over).
                let counter: redis::RedisResult<Option<u64>> = connection.get(&seq).await;
                if let (Ok(counter), Some(alive)) = (counter, inner.upgrade()) {
                    let mut topics = lock(&alive.topics);
                    let state = topics.entry(topic.clone()).or_default();
                    if counter.unwrap_or(0) < state.last {
                        log::warn!(
                            target: "squall::broadcast",
                            "{topic}: redis numbers from {} again (it lost its data): subscribers get a gap",
                            counter.unwrap_or(0) + 1
                        );
                        state.start_over();
                    }
                }
                continue;
            }
            let Some(alive) = inner.upgrade() else { return };
            let mut topics = lock(&alive.topics);
            let state = topics.entry(topic.clone()).or_default();
            for key in reply.into_iter().flat_map(|r| r.keys) {
                for entry in key.ids {
                    let Some(message) = published(&entry.id, &entry.map) else { continue };
                    if message.id <= state.last {
                        continue;
                    }
                    if state.last > 0 && message.id > state.last + 1 {
                        log::warn!(
                            target: "squall::broadcast",
                            "{topic}: messages {} to {} left the history before this process read them",
                            state.last + 1,
                            message.id - 1
                        );
                        state.gap(state.last);
                    }
                    state.deliver(message, history);
                }
            }
        }
    }
}

impl super::Broadcast {
    /// Starts this process's reader of `topic`, once, from the id Redis has
    /// numbered up to now: what is published after this call reaches this
    /// process's subscribers.
    pub(super) async fn ensure_reading(&self, topic: &str) -> std::result::Result<(), Unavailable> {
        let Some(redis) = self.inner.redis.as_ref() else { return Ok(()) };
        let once = lock(&self.inner.topics).entry(topic.to_owned()).or_default().reading.clone();
        once.get_or_try_init(|| async {
            let [seq, _, _] = keys(topic);
            let mut connection = redis.connection().await?;
            let counter: Option<u64> = connection.get(&seq).await.map_err(|e| redis.failed(&e))?;
            {
                let mut topics = lock(&self.inner.topics);
                let state = topics.entry(topic.to_owned()).or_default();
                state.last = state.last.max(counter.unwrap_or(0));
            }
            let _reader = rt::spawn(read_topic(Arc::downgrade(&self.inner), topic.to_owned()));
            Ok(())
        })
        .await
        .map(|_| ())
    }
}

/// A socket of squall's runtime, seen through the io traits `redis`'s
/// connection is written to.
struct Tokio(Box<dyn rt::Io>);

impl tokio::io::AsyncRead for Tokio {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match Pin::new(&mut *self.0).poll_read(cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl tokio::io::AsyncWrite for Tokio {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_close(cx)
    }
}
