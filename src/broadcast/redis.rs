//! The Redis backend: per topic a stream `squall:broadcast:stream:{topic}`
//! whose entry ids are the message ids (`7-0`), a counter
//! `squall:broadcast:seq:{topic}` and a byte count
//! `squall:broadcast:bytes:{topic}` (the topic last, so that no topic's
//! name can spell another's key). One script appends, numbers and trims
//! atomically, so ids increase by one per topic whoever publishes.
//!
//! The same script appends each message to one more stream,
//! `squall:broadcast:all`, which every topic shares: each process reads that
//! one stream with `XREAD BLOCK`, on one connection of its own whatever
//! the number of topics, and hands each message of a topic it uses to that
//! topic's subscribers. Whatever the shared stream does not give in order
//! (it keeps about 10,000 entries; a connection lost for a while) comes
//! from the topic's own stream, from the last id delivered here — so after
//! a lost connection, every topic replays what it missed, in order.
//!
//! Connections are `redis`'s multiplexed connection over a socket squall
//! opens, driven by a task on squall's own executor (no second runtime);
//! `redis`'s `smol-comp` support gives it timeouts from the shared reactor.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, Script, Value};

use super::{History, Inner, Published, Since, Topic, Unavailable};
use crate::error::{Error, Result};
use crate::rt::{self, lock};

/// How long a publish or a read of the history may wait for Redis: it
/// fails fast, so that a chat answers 503 rather than hanging.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one `XREAD` waits for news before asking again.
const BLOCK: Duration = Duration::from_secs(2);

/// The stream every topic's messages also go to, for the readers.
const ALL: &str = "squall:broadcast:all";

/// Entries `ALL` keeps, about: a reader further behind than that catches
/// up from the topics' own streams.
const ALL_KEPT: usize = 10_000;

/// Messages one `XREAD` takes at most.
const READ_COUNT: usize = 500;

/// The wait before trying a lost Redis again: doubled each time, up to the
/// second bound.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));

/// Appends ARGV[1] to the stream KEYS[1] under the next number of KEYS[2],
/// counts its bytes in KEYS[3], and trims the oldest entries past ARGV[2]
/// messages or ARGV[3] bytes; then appends it to KEYS[4], the stream of
/// every topic, with its topic ARGV[4] and number, trimmed to about
/// ARGV[5] entries. Returns the number.
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
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 't', ARGV[4], 'i', id, 'm', ARGV[1])
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

/// A topic's counter, byte count and stream.
fn keys(topic: &str) -> [String; 3] {
    ["seq", "bytes", "stream"].map(|kind| format!("squall:broadcast:{kind}:{topic}"))
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
        call.key(seq).key(bytes).key(ALL).arg(body).arg(self.history.messages).arg(self.history.bytes);
        call.arg(topic).arg(ALL_KEPT);
        call.invoke_async(&mut connection).await.map_err(|e| self.failed(&e))
    }

    /// The messages of `topic` after `after` that the stream still has, and
    /// the id of the topic's last message then.
    pub(super) async fn since(&self, topic: &str, after: u64) -> std::result::Result<(Since, u64), Unavailable> {
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
        Ok((Since { complete: after >= last || next == after + 1, messages }, last))
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

/// A message of `ALL`: its topic (`t`), number (`i`) and body (`m`).
fn tagged(fields: &HashMap<String, Value>) -> Option<(String, Published)> {
    let text = |name: &str| match fields.get(name)? {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    };
    let id = text("i")?.parse().ok()?;
    Some((text("t")?, Published { id, body: text("m")?.into() }))
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

/// Reads every topic this process uses from Redis, for as long as the
/// broadcast lives: hands each message to its topic's sinks, in order;
/// reconnects with backoff when Redis is lost, and then catches each
/// topic up from the last message delivered here (a
/// [`Delivery::Gap`](super::Delivery::Gap) first when the topic's stream
/// no longer reaches back to it).
pub(super) async fn read_all(inner: Weak<Inner>) {
    let mut backoff = BACKOFF.0;
    let mut lost_since: Option<Instant> = None;
    // The last entry of ALL read. From its oldest entry at first: whatever
    // was published since this process started is there, unless trimmed
    // away (then the topics catch up from their own streams).
    let mut after = "0-0".to_owned();
    loop {
        let Some(info) = inner.upgrade().and_then(|alive| alive.redis.as_ref().map(|r| r.info.clone())) else {
            return;
        };
        // A connection of its own: XREAD BLOCK holds it.
        let read = async {
            let mut connection = open(&info, None).await.map_err(|why| why.0)?;
            if let Some(since) = lost_since.take() {
                log::info!(target: "squall::broadcast", "redis is back after {:.1?}; catching up", since.elapsed());
            }
            backoff = BACKOFF.0;
            read_on(&inner, &mut connection, &mut after).await.map_err(|e| e.to_string())
        };
        match read.await {
            Ok(()) => return, // the broadcast is gone
            Err(why) => {
                if lost_since.is_none() {
                    log::warn!(target: "squall::broadcast", "redis lost while reading: {why}; reconnecting");
                    lost_since = Some(Instant::now());
                }
                rt::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF.1);
            }
        }
    }
}

/// Reads `ALL` after `after` on `connection` until the broadcast is gone
/// (`Ok`) or Redis fails (`Err`); first catches every topic up from its
/// own stream.
async fn read_on(
    inner: &Weak<Inner>,
    connection: &mut MultiplexedConnection,
    after: &mut String,
) -> redis::RedisResult<()> {
    let topics: Vec<String> = match inner.upgrade() {
        Some(alive) => lock(&alive.topics).keys().cloned().collect(),
        None => return Ok(()),
    };
    for topic in topics {
        catch_up(inner, connection, &topic, None).await?;
    }
    let options = StreamReadOptions::default().block(BLOCK.as_millis() as usize).count(READ_COUNT);
    loop {
        let reply: Option<StreamReadReply> = connection.xread_options(&[ALL], &[after.as_str()], &options).await?;
        let entries: Vec<_> = reply.into_iter().flat_map(|r| r.keys).flat_map(|key| key.ids).collect();
        // Topics whose counter to check against the last id delivered here
        // (see `check_counters`).
        let mut suspect = BTreeSet::new();
        if entries.is_empty() {
            // Quiet for a while: check every topic read here.
            let Some(alive) = inner.upgrade() else { return Ok(()) };
            let topics = lock(&alive.topics);
            let read_here = topics.iter().filter(|(_, t)| t.reading.is_initialized());
            suspect.extend(read_here.map(|(name, _)| name.clone()));
        }
        for entry in entries {
            after.clone_from(&entry.id);
            let Some((topic, message)) = tagged(&entry.map) else { continue };
            let Some(alive) = inner.upgrade() else { return Ok(()) };
            let offered = {
                let mut topics = lock(&alive.topics);
                let offered = offer(&mut topics, &topic, message, alive.history);
                tidy(&mut topics, &topic); // its last sinks may have said stop
                offered
            };
            let behind = match offered {
                Offered::Taken => continue,
                Offered::Old => {
                    suspect.insert(topic);
                    continue;
                }
                Offered::Ahead(message) => message,
            };
            drop(alive);
            // Messages before it did not come this way: from the topic's stream.
            catch_up(inner, connection, &topic, Some(behind.id - 1)).await?;
            let Some(alive) = inner.upgrade() else { return Ok(()) };
            let mut topics = lock(&alive.topics);
            if let Some(state) = topics.get_mut(&topic) {
                state.take(&topic, behind, alive.history);
            }
            tidy(&mut topics, &topic);
        }
        check_counters(inner, connection, suspect).await?;
    }
}

/// What [`offer`] did with a message.
enum Offered {
    /// Delivered, kept until the topic's start is known, or not for this
    /// process (a topic it does not read).
    Taken,
    /// Not newer than the last one delivered.
    Old,
    /// Newer than the next one: those in between come first.
    Ahead(Published),
}

/// Hands `message` of `topic` on, if this process reads the topic and it
/// is the next one.
fn offer(topics: &mut HashMap<String, Topic>, topic: &str, message: Published, history: History) -> Offered {
    let Some(state) = topics.get_mut(topic) else { return Offered::Taken };
    if let Some(pending) = &mut state.pending {
        pending.push(message);
        if pending.len() > history.messages {
            pending.remove(0);
        }
        return Offered::Taken;
    }
    if !state.reading.is_initialized() {
        Offered::Taken
    } else if message.id <= state.last {
        Offered::Old
    } else if message.id > state.last + 1 {
        Offered::Ahead(message)
    } else {
        state.deliver(message, history);
        Offered::Taken
    }
}

/// Delivers what `topic`'s stream has after the last message delivered
/// here, up to message `upto` (to its end when `None`).
async fn catch_up(
    inner: &Weak<Inner>,
    connection: &mut MultiplexedConnection,
    topic: &str,
    upto: Option<u64>,
) -> redis::RedisResult<()> {
    let last = match inner.upgrade() {
        Some(alive) => match lock(&alive.topics).get(topic) {
            Some(state) if state.reading.is_initialized() => state.last,
            _ => return Ok(()),
        },
        None => return Ok(()),
    };
    let [_, _, stream] = keys(topic);
    let end = upto.map_or_else(|| "+".to_owned(), |id| format!("{id}-0"));
    let range: StreamRangeReply = connection.xrange(&stream, format!("{}-0", last.saturating_add(1)), end).await?;
    let Some(alive) = inner.upgrade() else { return Ok(()) };
    let mut topics = lock(&alive.topics);
    let Some(state) = topics.get_mut(topic) else { return Ok(()) };
    for message in range.ids.iter().filter_map(|entry| published(&entry.id, &entry.map)) {
        state.take(topic, message, alive.history);
    }
    tidy(&mut topics, topic);
    Ok(())
}

/// Compares each topic's counter in Redis with the last message delivered
/// here. A counter that went back means Redis lost its data (a restart
/// without persistence, a `FLUSHALL`): subscribers get a gap, and the topic
/// starts over from what Redis has now. A counter ahead means messages that
/// have not come this way yet: they are read from the topic's stream.
async fn check_counters(
    inner: &Weak<Inner>,
    connection: &mut MultiplexedConnection,
    topics: BTreeSet<String>,
) -> redis::RedisResult<()> {
    if topics.is_empty() {
        return Ok(());
    }
    let seqs: Vec<String> = topics.iter().map(|topic| keys(topic)[0].clone()).collect();
    let counters: Vec<Option<u64>> = redis::cmd("MGET").arg(&seqs).query_async(connection).await?;
    let mut behind = Vec::new();
    if let Some(alive) = inner.upgrade() {
        let mut states = lock(&alive.topics);
        for (topic, counter) in topics.into_iter().zip(counters) {
            let Some(state) = states.get_mut(&topic) else { continue };
            let counter = counter.unwrap_or(0);
            if counter < state.last {
                log::warn!(
                    target: "squall::broadcast",
                    "{topic}: redis numbers from {} again (it lost its data): subscribers get a gap",
                    counter + 1
                );
                state.start_over();
            }
            if counter > state.last {
                behind.push(topic);
            } else {
                tidy(&mut states, &topic);
            }
        }
    }
    for topic in behind {
        catch_up(inner, connection, &topic, None).await?;
    }
    Ok(())
}

/// Forgets `topic` in this process once nobody here subscribes to it or is
/// joining: its messages stay in Redis, and the next subscriber here starts
/// reading it afresh. Topics come and go (a room per group of users)
/// without each process keeping every one it ever served.
pub(super) fn tidy(topics: &mut HashMap<String, Topic>, topic: &str) {
    if topics.get(topic).is_some_and(|t| t.sinks.is_empty() && t.joining == 0) {
        topics.remove(topic);
    }
}

/// A subscriber on its way into a topic: keeps the topic in this process
/// until dropped.
pub(super) struct Joining {
    inner: Weak<Inner>,
    topic: String,
}

impl Joining {
    pub(super) fn new(inner: &Arc<Inner>, topic: &str) -> Self {
        lock(&inner.topics).entry(topic.to_owned()).or_default().joining += 1;
        Joining { inner: Arc::downgrade(inner), topic: topic.to_owned() }
    }
}

impl Drop for Joining {
    fn drop(&mut self) {
        let Some(inner) = self.inner.upgrade() else { return };
        let mut topics = lock(&inner.topics);
        if let Some(state) = topics.get_mut(&self.topic) {
            state.joining -= 1;
        }
        tidy(&mut topics, &self.topic);
    }
}

impl Topic {
    /// Delivers `message` unless it was delivered here already; a gap
    /// first when messages before it are lost (they left the topic's
    /// history before this process read them).
    fn take(&mut self, topic: &str, message: Published, history: History) {
        if message.id <= self.last {
            return;
        }
        if self.last > 0 && message.id > self.last + 1 {
            log::warn!(
                target: "squall::broadcast",
                "{topic}: messages {} to {} left the history before this process read them",
                self.last + 1,
                message.id - 1
            );
            self.gap(self.last);
        }
        self.deliver(message, history);
    }
}

impl super::Broadcast {
    /// Makes this process read `topic`, once, from the id Redis has
    /// numbered up to now: what is published after this call reaches this
    /// process's subscribers.
    pub(super) async fn ensure_reading(&self, topic: &str) -> std::result::Result<(), Unavailable> {
        let Some(redis) = self.inner.redis.as_ref() else { return Ok(()) };
        let once = lock(&self.inner.topics).entry(topic.to_owned()).or_default().reading.clone();
        once.get_or_try_init(|| async {
            // From now on the reader keeps what it reads of the topic, until
            // the counter says where this process starts: a message
            // published after the counter is read cannot slip past.
            lock(&self.inner.topics).entry(topic.to_owned()).or_default().pending = Some(Vec::new());
            let [seq, _, _] = keys(topic);
            let counter: std::result::Result<Option<u64>, Unavailable> = match redis.connection().await {
                Ok(mut connection) => connection.get(&seq).await.map_err(|e| redis.failed(&e)),
                Err(why) => Err(why),
            };
            let mut topics = lock(&self.inner.topics);
            let state = topics.entry(topic.to_owned()).or_default();
            let pending = state.pending.take().unwrap_or_default();
            state.last = state.last.max(counter?.unwrap_or(0));
            for message in pending {
                state.take(topic, message, self.inner.history);
            }
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
