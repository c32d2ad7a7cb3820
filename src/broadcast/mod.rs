//! Real-time broadcast across processes and machines: topics whose
//! messages are numbered 1, 2, 3… the same way in every process sharing
//! the backend, so a long-poll cursor or an SSE `Last-Event-ID` means the
//! same message wherever the client reconnects.
//!
//! Two backends behind one [`Broadcast`]:
//!
//! - **in-process** ([`Broadcast::in_process`], no dependency): one
//!   process's memory, what a single-process app needs;
//! - **Redis** (`Broadcast::redis`, cargo feature `redis`): a Redis stream
//!   per topic (ordered, replayable, trimmed to the history bound), numbered
//!   by a counter in the same atomic script that appends. Each process
//!   reads one stream shared by every topic, with one task and one
//!   connection however many topics it uses, and hands each message to
//!   that process's subscribers. A process forgets a topic once its last
//!   subscriber there leaves; Redis keeps the messages.
//!
//! Subscribers are sinks, called with each message in order: a WebSocket
//! or an event stream queues it without waiting (`WebSocket::try_send`,
//! [`EventSender::try_send`](crate::web::EventSender)), so a slow client
//! only loses messages of its own, as with direct sends. A subscriber that
//! fell further behind than the history (or whose process lost Redis for
//! longer than the history covers) gets a [`Delivery::Gap`] instead of a
//! silent hole.
//!
//! ```
//! use squall::broadcast::{Broadcast, Delivery};
//!
//! # squall::block_on(async {
//! let chat = Broadcast::in_process();
//! let id = chat.publish("room", "hello").await.unwrap();
//! assert_eq!(id, 1);
//! chat.subscribe_after("room", 0, |delivery: Delivery<'_>| {
//!     if let Delivery::Message(message) = delivery {
//!         println!("{}: {}", message.id, message.body);
//!     }
//!     true // keep me subscribed
//! })
//! .await
//! .unwrap()
//! .keep();
//! # });
//! ```

#[cfg(feature = "redis")]
mod redis;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::rt::lock;

/// One message of a topic, numbered from 1 in the order the backend took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Its number in the topic: one more than the message before it.
    pub id: u64,
    /// The message.
    pub body: Arc<str>,
}

/// What a subscriber is handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery<'a> {
    /// The next message.
    Message(&'a Published),
    /// Messages after `after` are lost to this subscriber: it asked for
    /// them later than the history keeps them. What follows is new; a
    /// client should reload.
    Gap {
        /// The last message the subscriber had.
        after: u64,
    },
}

/// The history each topic keeps for late subscribers and reconnecting
/// clients: at most `messages` messages and `bytes` bytes of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// Messages kept, at most.
    pub messages: usize,
    /// Bytes of messages kept, at most.
    pub bytes: usize,
}

impl Default for History {
    fn default() -> Self {
        History { messages: 1000, bytes: 16 << 20 }
    }
}

/// The backend could not take or give messages now (Redis unreachable):
/// try again later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the broadcast backend is unavailable: {}", self.0)
    }
}

impl std::error::Error for Unavailable {}

/// What [`Broadcast::since`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    /// The messages after the id asked about, in order.
    pub messages: Vec<Published>,
    /// False when the history no longer reaches back to it: messages were
    /// lost in between (the first of `messages` is not the next one).
    pub complete: bool,
}

/// A subscriber: called with each delivery, in order; returns false to
/// unsubscribe (its client left).
pub type Sink = Box<dyn FnMut(Delivery<'_>) -> bool + Send>;

/// Topics, their subscribers and their recent messages; see the
/// [module](self). Cheap to clone.
#[derive(Clone)]
pub struct Broadcast {
    inner: Arc<Inner>,
}

struct Inner {
    history: History,
    topics: Mutex<HashMap<String, Topic>>,
    /// Numbers subscriptions, to end one.
    next_subscription: AtomicU64,
    #[cfg(feature = "redis")]
    redis: Option<redis::Backend>,
}

/// A topic as this process knows it.
#[derive(Default)]
struct Topic {
    /// The latest messages this process has seen, oldest first, within the
    /// history bound: the whole history in-process; with Redis, what the
    /// topic's reader delivered here.
    recent: VecDeque<Published>,
    recent_bytes: usize,
    /// The id of the last message delivered here (0: none yet).
    last: u64,
    sinks: Vec<(u64, Sink)>,
    /// Set once this process reads the topic from Redis, from the id it
    /// found then.
    #[cfg(feature = "redis")]
    reading: Arc<async_lock::OnceCell<()>>,
    /// What the reader read of the topic while this process was asking
    /// Redis where to start it: `Some` only until `reading` is set, and
    /// only while a subscriber is joining.
    #[cfg(feature = "redis")]
    pending: Option<Vec<Published>>,
    /// Subscribers on their way in: the topic stays while there are any.
    #[cfg(feature = "redis")]
    joining: usize,
}

impl Topic {
    /// Delivers `message` to every sink (dropping those that say stop) and
    /// keeps it in `recent`.
    fn deliver(&mut self, message: Published, history: History) {
        self.last = message.id;
        self.sinks.retain_mut(|(_, sink)| sink(Delivery::Message(&message)));
        self.recent_bytes += message.body.len();
        self.recent.push_back(message);
        while self.recent.len() > history.messages || self.recent_bytes > history.bytes {
            let Some(oldest) = self.recent.pop_front() else { break };
            self.recent_bytes -= oldest.body.len();
        }
    }

    /// Tells every sink that messages after `after` are lost.
    #[cfg(feature = "redis")]
    fn gap(&mut self, after: u64) {
        self.sinks.retain_mut(|(_, sink)| sink(Delivery::Gap { after }));
    }

    /// The backend lost the topic (its counter went back): a gap for every
    /// sink, and the numbering starts over.
    #[cfg(feature = "redis")]
    fn start_over(&mut self) {
        self.gap(self.last);
        self.last = 0;
        self.recent.clear();
        self.recent_bytes = 0;
    }

    /// The messages after `after` from `recent`, and whether they are all
    /// of them.
    fn since(&self, after: u64) -> Since {
        let messages: Vec<Published> = self.recent.iter().filter(|m| m.id > after).cloned().collect();
        let next = messages.first().map_or(self.last + 1, |m| m.id);
        Since { complete: after >= self.last || next == after + 1, messages }
    }
}

impl Broadcast {
    /// Topics in this process's memory, with the default history (1,000
    /// messages, 16 MiB per topic).
    pub fn in_process() -> Self {
        Self::in_process_with(History::default())
    }

    /// Topics in this process's memory, keeping `history` per topic.
    pub fn in_process_with(history: History) -> Self {
        Broadcast {
            inner: Arc::new(Inner {
                history,
                topics: Mutex::default(),
                next_subscription: AtomicU64::new(1),
                #[cfg(feature = "redis")]
                redis: None,
            }),
        }
    }

    /// Topics shared through the Redis server at `url` (`redis://host:6379`,
    /// `redis+unix:///path/redis.sock`), with the default history, kept in
    /// Redis and in each process. Connects now, so that a Redis that cannot
    /// be reached stops start-up.
    ///
    /// # Errors
    ///
    /// A configuration error when the URL is malformed or Redis does not
    /// answer.
    #[cfg(feature = "redis")]
    pub async fn redis(url: &str) -> crate::Result<Self> {
        Self::redis_with(url, History::default()).await
    }

    /// As [`redis`](Self::redis), with its own history bound.
    ///
    /// # Errors
    ///
    /// As [`redis`](Self::redis).
    #[cfg(feature = "redis")]
    pub async fn redis_with(url: &str, history: History) -> crate::Result<Self> {
        let backend = redis::Backend::connect(url, history).await?;
        let inner =
            Inner { history, topics: Mutex::default(), next_subscription: AtomicU64::new(1), redis: Some(backend) };
        let inner = Arc::new(inner);
        // Ends when the broadcast is dropped.
        let _reader = crate::rt::spawn(redis::read_all(Arc::downgrade(&inner)));
        Ok(Broadcast { inner })
    }

    /// Publishes `body` on `topic`; returns its id. Every subscriber of
    /// every process sharing the backend gets it, in id order.
    ///
    /// # Errors
    ///
    /// [`Unavailable`] when the backend cannot take it now (Redis lost):
    /// at once, not after a long wait.
    pub async fn publish(&self, topic: &str, body: &str) -> Result<u64, Unavailable> {
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.inner.redis {
            // The reader hands it to the subscribers here, as in every
            // other process.
            return redis.publish(topic, body).await;
        }
        let mut topics = lock(&self.inner.topics);
        let state = topics.entry(topic.to_owned()).or_default();
        let message = Published { id: state.last + 1, body: body.into() };
        let id = message.id;
        state.deliver(message, self.inner.history);
        Ok(id)
    }

    /// Subscribes `sink` to `topic` from the message after `after`: the
    /// messages after it that the history still has are handed to it
    /// first, then each new one, with nothing missed or repeated in
    /// between. `after` is a message id the client has (a long-poll cursor,
    /// a `Last-Event-ID`); 0 for everything the history has, `u64::MAX` for
    /// new messages only. When the history no longer reaches back to
    /// `after`, the sink gets a [`Delivery::Gap`] first.
    ///
    /// # Errors
    ///
    /// [`Unavailable`] when the history must be read from Redis and it
    /// cannot be reached.
    pub async fn subscribe_after<F>(&self, topic: &str, after: u64, sink: F) -> Result<Subscription, Unavailable>
    where
        F: FnMut(Delivery<'_>) -> bool + Send + 'static,
    {
        let mut sink = sink;
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let (mut from, mut gap_told) = (after, false);
        // The topic's last id in the backend, when asked (Redis).
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut backend_last = None;
        // Keeps the topic in this process until the sink is in place.
        #[cfg(feature = "redis")]
        let _joining = self.is_shared().then(|| redis::Joining::new(&self.inner, topic));
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.inner.redis {
            self.ensure_reading(topic).await?;
            // This process may not have seen what the client missed: Redis has.
            if from != u64::MAX {
                let (older, last) = redis.since(topic, from).await?;
                backend_last = Some(last);
                if !older.complete {
                    gap_told = true;
                    if !sink(Delivery::Gap { after: from }) {
                        return Ok(self.ended(topic));
                    }
                }
                for message in &older.messages {
                    if !sink(Delivery::Message(message)) {
                        return Ok(self.ended(topic));
                    }
                }
                from = older.messages.last().map_or(from, |m| m.id);
            }
        }
        let mut topics = lock(&self.inner.topics);
        let state = topics.entry(topic.to_owned()).or_default();
        let here = state.since(from);
        if !here.complete && !gap_told && !self.is_shared() && !sink(Delivery::Gap { after: from }) {
            return Ok(self.ended(topic));
        }
        for message in &here.messages {
            if !sink(Delivery::Message(message)) {
                return Ok(self.ended(topic));
            }
        }
        // Nothing handed over above comes again: only ids past the floor
        // (a gap resets it: after a backend that lost its data, ids start
        // over). The floor is where the sink stands, or the last id known
        // for a cursor past it (one from before the numbering started over);
        // with Redis, what it gave above may not have reached this process yet.
        let known = backend_last.map_or(state.last, |last: u64| last.max(state.last));
        let mut floor = here.messages.last().map_or(from.min(known), |m| m.id);
        let id = self.inner.next_subscription.fetch_add(1, Ordering::Relaxed);
        let subscription =
            Subscription { inner: Arc::downgrade(&self.inner), topic: topic.to_owned(), id, keep: false };
        let sink: Sink = Box::new(move |delivery: Delivery<'_>| match delivery {
            Delivery::Message(message) if message.id <= floor => true,
            Delivery::Message(message) => {
                floor = message.id;
                sink(delivery)
            }
            Delivery::Gap { .. } => {
                floor = 0;
                sink(delivery)
            }
        });
        state.sinks.push((id, sink));
        Ok(subscription)
    }

    /// A subscription whose sink already said stop.
    fn ended(&self, topic: &str) -> Subscription {
        Subscription { inner: Weak::new(), topic: topic.to_owned(), id: 0, keep: false }
    }

    /// Subscribes to `topic` from the message after `after` (as
    /// [`subscribe_after`](Self::subscribe_after)) as a stream of owned
    /// items, with a queue of `queue` items between the broadcast and the
    /// reader. A reader that falls behind by more than its queue loses the
    /// messages that do not fit — it alone; publishing never waits for it —
    /// and reads an [`Item::Gap`] where they were.
    ///
    /// # Errors
    ///
    /// As [`subscribe_after`](Self::subscribe_after).
    pub async fn subscribe(&self, topic: &str, after: u64, queue: usize) -> Result<Subscribed, Unavailable> {
        let (sender, receiver) = async_channel::bounded(queue.max(1));
        // Set while messages are being dropped: the id of the last one queued.
        let mut dropped_after: Option<u64> = None;
        let mut last = after.min(u64::MAX - 1);
        let sink = move |delivery: Delivery<'_>| {
            let item = match delivery {
                Delivery::Message(message) => Item::Message(message.clone()),
                Delivery::Gap { after } => Item::Gap { after },
            };
            let id = match &item {
                Item::Message(message) => message.id,
                Item::Gap { .. } => last,
            };
            if let Some(before) = dropped_after {
                if sender.try_send(Item::Gap { after: before }).is_err() {
                    return !sender.is_closed();
                }
                dropped_after = None;
            }
            match sender.try_send(item) {
                Ok(()) => last = id,
                Err(async_channel::TrySendError::Full(_)) => dropped_after = Some(last),
                Err(async_channel::TrySendError::Closed(_)) => return false,
            }
            true
        };
        let subscription = self.subscribe_after(topic, after, sink).await?;
        Ok(Subscribed { receiver: Box::pin(receiver), _subscription: subscription })
    }

    /// The messages of `topic` after `after` that the history has.
    ///
    /// # Errors
    ///
    /// [`Unavailable`] when they must be read from Redis and it cannot be
    /// reached.
    pub async fn since(&self, topic: &str, after: u64) -> Result<Since, Unavailable> {
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.inner.redis {
            // Redis has the whole history; this process, only what it read.
            return redis.since(topic, after).await.map(|(since, _)| since);
        }
        Ok(lock(&self.inner.topics).entry(topic.to_owned()).or_default().since(after))
    }

    /// The id of the last message of `topic` this process has seen (0 for
    /// none).
    pub fn last_id(&self, topic: &str) -> u64 {
        lock(&self.inner.topics).get(topic).map_or(0, |t| t.last)
    }

    fn is_shared(&self) -> bool {
        #[cfg(feature = "redis")]
        return self.inner.redis.is_some();
        #[cfg(not(feature = "redis"))]
        false
    }
}

/// An owned delivery, as [`Subscribed`] yields it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// The next message.
    Message(Published),
    /// Messages after `after` were lost to this reader (it fell behind its
    /// queue, or the history).
    Gap {
        /// The last message it had.
        after: u64,
    },
}

/// A subscription read as a stream ([`Broadcast::subscribe`]); dropping it
/// unsubscribes.
#[derive(Debug)]
pub struct Subscribed {
    receiver: std::pin::Pin<Box<async_channel::Receiver<Item>>>,
    _subscription: Subscription,
}

impl Subscribed {
    /// The next item; `None` only once the broadcast is gone.
    pub async fn next(&mut self) -> Option<Item> {
        self.receiver.recv().await.ok()
    }
}

impl futures_lite::Stream for Subscribed {
    type Item = Item;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Item>> {
        self.receiver.as_mut().poll_next(cx)
    }
}

/// A sink's place in a topic: dropping it unsubscribes (a WebSocket that
/// closed, a long poll that answered), unless it was
/// [kept](Subscription::keep) to end only when its sink says stop.
#[must_use = "dropping a Subscription unsubscribes at once"]
pub struct Subscription {
    inner: Weak<Inner>,
    topic: String,
    id: u64,
    keep: bool,
}

impl Subscription {
    /// Leaves the sink subscribed until it returns false (an event stream
    /// whose client left, say), without a handle to keep.
    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Some(inner) = self.inner.upgrade() {
            let mut topics = lock(&inner.topics);
            if let Some(topic) = topics.get_mut(&self.topic) {
                topic.sinks.retain(|(id, _)| *id != self.id);
            }
            #[cfg(feature = "redis")]
            if inner.redis.is_some() {
                redis::tidy(&mut topics, &self.topic);
            }
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").field("topic", &self.topic).field("id", &self.id).finish()
    }
}

impl fmt::Debug for Broadcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let topics: Vec<String> = lock(&self.inner.topics).keys().cloned().collect();
        f.debug_struct("Broadcast")
            .field("shared", &self.is_shared())
            .field("history", &self.inner.history)
            .field("topics", &topics)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(broadcast: &Broadcast, topic: &str, after: u64) -> Arc<Mutex<Vec<String>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        crate::rt::block_on(broadcast.subscribe_after(topic, after, move |delivery| {
            let text = match delivery {
                Delivery::Message(m) => format!("{}:{}", m.id, m.body),
                Delivery::Gap { after } => format!("gap after {after}"),
            };
            lock(&into).push(text);
            true
        }))
        .unwrap()
        .keep();
        seen
    }

    fn publish(broadcast: &Broadcast, topic: &str, body: &str) -> u64 {
        crate::rt::block_on(broadcast.publish(topic, body)).unwrap()
    }

    #[test]
    fn ids_count_from_one_per_topic_and_subscribers_get_every_message_in_order() {
        let b = Broadcast::in_process();
        let live = collect(&b, "a", u64::MAX);
        assert_eq!([publish(&b, "a", "x"), publish(&b, "a", "y"), publish(&b, "b", "z")], [1, 2, 1]);
        assert_eq!(*lock(&live), ["1:x", "2:y"]);
        assert_eq!(b.last_id("a"), 2);
    }

    #[test]
    fn a_late_subscriber_gets_the_history_after_its_id_then_the_new_ones() {
        let b = Broadcast::in_process();
        for body in ["one", "two", "three"] {
            publish(&b, "t", body);
        }
        let late = collect(&b, "t", 1);
        publish(&b, "t", "four");
        assert_eq!(*lock(&late), ["2:two", "3:three", "4:four"]);
        let since = crate::rt::block_on(b.since("t", 2)).unwrap();
        assert!(since.complete);
        assert_eq!(since.messages.iter().map(|m| m.id).collect::<Vec<_>>(), [3, 4]);
    }

    #[test]
    fn the_history_is_bounded_and_asking_past_it_is_a_gap() {
        let b = Broadcast::in_process_with(History { messages: 2, bytes: 1 << 20 });
        for body in ["1", "2", "3", "4"] {
            publish(&b, "t", body);
        }
        let since = crate::rt::block_on(b.since("t", 0)).unwrap();
        assert!(!since.complete, "messages 1 and 2 are gone");
        assert_eq!(since.messages.iter().map(|m| m.id).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(*lock(&collect(&b, "t", 1)), ["gap after 1", "3:3", "4:4"]);
        let by_bytes = Broadcast::in_process_with(History { messages: 100, bytes: 10 });
        for body in ["aaaa", "bbbb", "cccc"] {
            publish(&by_bytes, "t", body);
        }
        assert_eq!(crate::rt::block_on(by_bytes.since("t", 0)).unwrap().messages.len(), 2, "12 bytes > 10");
    }

    #[test]
    fn a_sink_that_says_stop_is_dropped() {
        let b = Broadcast::in_process();
        let calls = Arc::new(Mutex::new(0));
        let count = calls.clone();
        crate::rt::block_on(b.subscribe_after("t", u64::MAX, move |_| {
            *lock(&count) += 1;
            false
        }))
        .unwrap()
        .keep();
        publish(&b, "t", "a");
        publish(&b, "t", "b");
        assert_eq!(*lock(&calls), 1);
    }

    #[test]
    fn a_stream_reader_behind_its_queue_reads_a_gap_where_messages_were_dropped() {
        let b = Broadcast::in_process();
        let mut stream = crate::rt::block_on(b.subscribe("t", u64::MAX, 2)).unwrap();
        for body in ["1", "2", "3", "4"] {
            publish(&b, "t", body); // 3 and 4 do not fit
        }
        let next = |s: &mut Subscribed| crate::rt::block_on(s.next()).unwrap();
        assert_eq!(next(&mut stream), Item::Message(Published { id: 1, body: "1".into() }));
        assert_eq!(next(&mut stream), Item::Message(Published { id: 2, body: "2".into() }));
        publish(&b, "t", "5");
        assert_eq!(next(&mut stream), Item::Gap { after: 2 });
        assert_eq!(next(&mut stream), Item::Message(Published { id: 5, body: "5".into() }));
    }

    #[test]
    fn dropping_the_subscription_unsubscribes() {
        let b = Broadcast::in_process();
        let calls = Arc::new(Mutex::new(0));
        let count = calls.clone();
        let subscription = crate::rt::block_on(b.subscribe_after("t", u64::MAX, move |_| {
            *lock(&count) += 1;
            true
        }))
        .unwrap();
        publish(&b, "t", "a");
        drop(subscription);
        publish(&b, "t", "b");
        assert_eq!(*lock(&calls), 1);
    }
}
