//! Broadcast through a real Redis server (each test starts its own, on a
//! private port): two `Broadcast`s on one Redis stand for two processes or
//! machines — the same ids everywhere, history and replay across them,
//! and Redis killed and restarted under them.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use std::sync::{Arc, Mutex};

use squall::broadcast::{Broadcast, Delivery, History};
use support::redis::RedisServer;
use support::wait_until;

type Seen = Arc<Mutex<Vec<String>>>;

fn connect(redis: &RedisServer) -> Broadcast {
    squall::block_on(Broadcast::redis(&redis.url())).unwrap()
}

/// A sink that records each delivery in `seen`, as "id:body" or "gap
/// after N", and answers `go_on`.
fn recorder(seen: &Seen, go_on: bool) -> impl FnMut(Delivery<'_>) -> bool + Send + 'static {
    let into = seen.clone();
    move |delivery| {
        into.lock().unwrap().push(match delivery {
            Delivery::Message(m) => format!("{}:{}", m.id, m.body),
            Delivery::Gap { after } => format!("gap after {after}"),
        });
        go_on
    }
}

/// Subscribes from the message after `after`, for good; what it gets.
fn subscribe(broadcast: &Broadcast, topic: &str, after: u64) -> Seen {
    let seen: Seen = Arc::default();
    squall::block_on(broadcast.subscribe_after(topic, after, recorder(&seen, true))).unwrap().keep();
    seen
}

fn publish(broadcast: &Broadcast, topic: &str, body: &str) -> u64 {
    squall::block_on(broadcast.publish(topic, body)).unwrap()
}

fn wait_for(seen: &Seen, count: usize) -> Vec<String> {
    wait_until(&format!("{count} deliveries"), || seen.lock().unwrap().len() >= count);
    seen.lock().unwrap().clone()
}

#[test]
fn two_processes_on_one_redis_see_the_same_ids_in_the_same_order() {
    support::init_logger();
    let redis = RedisServer::start("same-ids");
    let (one, two) = (connect(&redis), connect(&redis));
    let (on_one, on_two) = (subscribe(&one, "room", u64::MAX), subscribe(&two, "room", u64::MAX));
    let mut ids = Vec::new();
    for i in 0..10 {
        let by = if i % 2 == 0 { &one } else { &two };
        ids.push(publish(by, "room", &format!("m{i}")));
    }
    assert_eq!(ids, (1..=10).collect::<Vec<u64>>(), "one counter for both publishers");
    let expected: Vec<String> = (0..10).map(|i| format!("{}:m{i}", i + 1)).collect();
    assert_eq!(wait_for(&on_one, 10), expected);
    assert_eq!(wait_for(&on_two, 10), expected);
    assert_eq!(publish(&two, "other", "x"), 1, "ids count per topic");
}

/// A client that reconnects to the other process with the last id it had
/// gets exactly what it missed, then the new messages.
#[test]
fn a_subscriber_of_another_process_replays_from_its_last_id() {
    support::init_logger();
    let redis = RedisServer::start("replay");
    let one = connect(&redis);
    for body in ["a", "b", "c", "d"] {
        publish(&one, "room", body);
    }
    // A process that has seen none of them.
    let two = connect(&redis);
    let since = squall::block_on(two.since("room", 2)).unwrap();
    assert!(since.complete);
    assert_eq!(since.messages.iter().map(|m| (m.id, &*m.body)).collect::<Vec<_>>(), [(3, "c"), (4, "d")]);
    let seen = subscribe(&two, "room", 2);
    publish(&one, "room", "e");
    assert_eq!(wait_for(&seen, 3), ["3:c", "4:d", "5:e"], "missed ones first, nothing twice");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(seen.lock().unwrap().len(), 3, "no duplicate arrives later");
}

/// The history bound holds in Redis (count and bytes), and asking behind
/// it is a gap, not a silent hole.
#[test]
fn the_history_is_trimmed_and_a_subscriber_behind_it_gets_a_gap() {
    support::init_logger();
    let redis = RedisServer::start("history");
    let bounded =
        squall::block_on(Broadcast::redis_with(&redis.url(), History { messages: 3, bytes: 1 << 20 })).unwrap();
    for i in 1..=6 {
        publish(&bounded, "t", &format!("m{i}"));
    }
    assert_eq!(redis.cli(&["XLEN", "squall:broadcast:stream:t"]), "3");
    let other = connect(&redis);
    let since = squall::block_on(other.since("t", 1)).unwrap();
    assert!(!since.complete, "2 and 3 are gone");
    assert_eq!(since.messages.iter().map(|m| m.id).collect::<Vec<_>>(), [4, 5, 6]);
    assert_eq!(wait_for(&subscribe(&other, "t", 1), 4), ["gap after 1", "4:m4", "5:m5", "6:m6"]);

    let by_bytes = squall::block_on(Broadcast::redis_with(&redis.url(), History { messages: 100, bytes: 10 })).unwrap();
    for body in ["aaaa", "bbbb", "cccc"] {
        publish(&by_bytes, "b", body);
    }
    assert_eq!(redis.cli(&["XLEN", "squall:broadcast:stream:b"]), "2", "12 bytes are over 10");
    assert_eq!(redis.cli(&["GET", "squall:broadcast:bytes:b"]), "8");
}

/// Redis killed under two processes: publishing fails at once; when Redis
/// is back (its append-only file kept everything), each process's reader
/// reconnects and its subscribers go on — ids continuing, nothing lost
/// that was taken before the kill, nothing twice. The log says when Redis
/// went and came back.
#[test]
fn redis_killed_and_restarted_loses_nothing_it_took() {
    support::init_logger();
    let mut redis = RedisServer::start("restart");
    let (one, two) = (connect(&redis), connect(&redis));
    let seen = subscribe(&two, "room", u64::MAX);
    for body in ["before 1", "before 2"] {
        publish(&one, "room", body);
    }
    assert_eq!(wait_for(&seen, 2), ["1:before 1", "2:before 2"]);

    redis.kill();
    let refused = squall::block_on(one.publish("room", "while down"));
    assert!(refused.is_err(), "publishing while Redis is down fails: {refused:?}");
    wait_until("the reader notices", || !support::log_lines_with("redis lost while reading").is_empty());

    redis.restart();
    let id = loop {
        // The first calls after the restart may find the old connection broken.
        match squall::block_on(one.publish("room", "after")) {
            Ok(id) => break id,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    assert_eq!(id, 3, "the counter survived the restart");
    assert_eq!(wait_for(&seen, 3), ["1:before 1", "2:before 2", "3:after"]);
    wait_until("the reader says Redis is back", || !support::log_lines_with("redis is back after").is_empty());
}

/// With its data gone (a restart without persistence), Redis's counter
/// starts over: the reader says so and tells subscribers, rather than
/// skipping the new messages as old ones.
#[test]
fn a_redis_that_lost_its_data_is_a_gap_not_silence() {
    support::init_logger();
    let redis = RedisServer::start("flushed");
    let one = connect(&redis);
    let seen = subscribe(&one, "room", u64::MAX);
    publish(&one, "room", "a");
    publish(&one, "room", "b");
    assert_eq!(wait_for(&seen, 2), ["1:a", "2:b"]);
    redis.cli(&["FLUSHALL"]);
    // The reader, blocked on the old stream, sees the new one start over.
    let id = publish(&one, "room", "c");
    assert_eq!(id, 1);
    assert_eq!(wait_for(&seen, 4), ["1:a", "2:b", "gap after 2", "1:c"]);
}

/// However many topics a process uses, it reads them all through one
/// connection (and publishes through one more), not one per topic.
#[test]
fn many_topics_are_read_on_one_connection() {
    support::init_logger();
    let redis = RedisServer::start("topics");
    let (one, two) = (connect(&redis), connect(&redis));
    let seen: Vec<Seen> = (0..50).map(|i| subscribe(&one, &format!("room{i}"), u64::MAX)).collect();
    for i in 0..50 {
        publish(&two, &format!("room{i}"), &format!("m{i}"));
    }
    for (i, seen) in seen.iter().enumerate() {
        assert_eq!(wait_for(seen, 1), [format!("1:m{i}")]);
    }
    // Each broadcast: a connection for calls and one for reading; and the
    // redis-cli that asks.
    let clients = redis.cli(&["CLIENT", "LIST"]);
    assert_eq!(clients.lines().count(), 5, "{clients}");
}

/// Subscribers that join while another process publishes get, from the
/// first message they see, every message after it: consecutive ids, none
/// missed while their process set up reading the topic, none twice.
#[test]
fn joining_while_messages_flow_misses_none_after_the_first() {
    support::init_logger();
    let redis = RedisServer::start("joining");
    let (publisher, reader) = (connect(&redis), connect(&redis));
    let topics: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
    let joined = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flowing = {
        let (publisher, topics, joined) = (publisher.clone(), topics.clone(), joined.clone());
        // Rounds of one message per topic, until every subscriber has
        // joined and three rounds more: the number of rounds.
        std::thread::spawn(move || {
            let (mut rounds, mut after_join) = (0, 0);
            while after_join < 3 {
                for topic in &topics {
                    publish(&publisher, topic, "m");
                }
                rounds += 1;
                if joined.load(std::sync::atomic::Ordering::SeqCst) {
                    after_join += 1;
                }
            }
            rounds
        })
    };
    let seen: Vec<Seen> = topics.iter().map(|topic| subscribe(&reader, topic, u64::MAX)).collect();
    joined.store(true, std::sync::atomic::Ordering::SeqCst);
    let rounds: u64 = flowing.join().unwrap();
    for (topic, seen) in topics.iter().zip(&seen) {
        let last = format!("{rounds}:m");
        wait_until(&format!("{topic} up to {rounds}"), || seen.lock().unwrap().last() == Some(&last));
        let ids: Vec<u64> =
            seen.lock().unwrap().iter().map(|m| m.split(':').next().unwrap().parse().unwrap()).collect();
        assert_eq!(ids, (ids[0]..=rounds).collect::<Vec<u64>>(), "{topic}");
    }
}

/// A message that never came through the shared stream (it was trimmed
/// away, or the reader was elsewhere) is read from its topic's own stream
/// once the topic's counter shows it: at the latest when the shared
/// stream is quiet for one block period.
#[test]
fn a_message_the_shared_stream_missed_comes_from_its_topic() {
    support::init_logger();
    let redis = RedisServer::start("missed");
    let one = connect(&redis);
    let seen = subscribe(&one, "room", u64::MAX);
    publish(&one, "room", "a");
    assert_eq!(wait_for(&seen, 1), ["1:a"]);
    // Message 2 as the publish script writes it, but not to the shared stream.
    assert_eq!(redis.cli(&["INCR", "squall:broadcast:seq:room"]), "2");
    redis.cli(&["XADD", "squall:broadcast:stream:room", "2-0", "m", "b"]);
    assert_eq!(wait_for(&seen, 2), ["1:a", "2:b"]);
}

/// A subscriber that joins from an id gets the messages after it from
/// Redis; when this process's reader brings one of them later, the
/// subscriber does not get it twice.
#[test]
fn a_message_read_from_redis_on_joining_is_not_delivered_again_by_the_reader() {
    support::init_logger();
    let redis = RedisServer::start("twice");
    let one = connect(&redis);
    let first = subscribe(&one, "room", u64::MAX);
    publish(&one, "room", "a");
    assert_eq!(wait_for(&first, 1), ["1:a"]);
    // Message 2, which this process's reader brings only when Redis is
    // next quiet (it is not in the shared stream).
    assert_eq!(redis.cli(&["INCR", "squall:broadcast:seq:room"]), "2");
    redis.cli(&["XADD", "squall:broadcast:stream:room", "2-0", "m", "b"]);
    let late = subscribe(&one, "room", 1);
    assert_eq!(wait_for(&late, 1), ["2:b"], "from Redis, at once");
    assert_eq!(wait_for(&first, 2), ["1:a", "2:b"], "the reader has brought it");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(*late.lock().unwrap(), ["2:b"], "not twice");
}

/// A process forgets a topic once its last subscriber here leaves — by
/// dropping its subscription, or by its sink saying stop — so topics that
/// come and go do not pile up in every process; the messages stay in Redis,
/// and the next subscriber here reads the topic afresh.
#[test]
fn a_topic_nobody_here_subscribes_to_is_forgotten_and_read_afresh() {
    support::init_logger();
    let redis = RedisServer::start("forgotten");
    let (one, two) = (connect(&redis), connect(&redis));
    let seen: Seen = Arc::default();
    let subscription = squall::block_on(one.subscribe_after("room", u64::MAX, recorder(&seen, true))).unwrap();
    publish(&two, "room", "a");
    assert_eq!(wait_for(&seen, 1), ["1:a"]);
    assert_eq!(one.last_id("room"), 1);
    drop(subscription);
    assert_eq!(one.last_id("room"), 0, "forgotten when its subscription was dropped");

    // A sink that says stop is forgotten with the next message.
    let once = squall::block_on(one.subscribe_after("room", 0, |_| false)).unwrap();
    drop(once);
    assert_eq!(one.last_id("room"), 0, "a subscriber that stopped at once leaves nothing");
    let stops: Seen = Arc::default();
    squall::block_on(one.subscribe_after("room", u64::MAX, recorder(&stops, false))).unwrap().keep();
    publish(&two, "room", "b");
    assert_eq!(wait_for(&stops, 1), ["2:b"]);
    wait_until("the topic is forgotten", || one.last_id("room") == 0);

    // Read afresh: history from Redis, then live, in order.
    let again = subscribe(&one, "room", 0);
    publish(&two, "room", "c");
    assert_eq!(wait_for(&again, 3), ["1:a", "2:b", "3:c"]);
}

/// Topics are names users may choose (a room's): none can spell the Redis
/// key of another topic's counter, byte count or stream.
#[test]
fn no_topic_name_reaches_another_topics_keys() {
    support::init_logger();
    let redis = RedisServer::start("names");
    let one = connect(&redis);
    let topics = ["a", "a:seq", "a:bytes", "seq:a", "stream:a", "all", ""];
    let seen: Vec<Seen> = topics.iter().map(|topic| subscribe(&one, topic, u64::MAX)).collect();
    for topic in topics {
        assert_eq!(publish(&one, topic, topic), 1, "{topic:?}");
    }
    for (topic, seen) in topics.iter().zip(&seen) {
        assert_eq!(wait_for(seen, 1), [format!("1:{topic}")]);
    }
}

#[test]
fn redis_down_at_start_up_is_a_start_up_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let error = squall::block_on(Broadcast::redis(&format!("redis://127.0.0.1:{port}"))).unwrap_err().to_string();
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(squall::block_on(Broadcast::redis("not a url")).is_err());
}
