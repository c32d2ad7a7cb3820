//! Load for the WebSocket bench, on one thread (pin it with taskset):
//!
//!   wsload idle URL N HOLD_SECS      open N sockets, print `ready`, hold them, close
//!   wsload echo URL N SECS           N sockets each sending a 32-byte text and
//!                                    awaiting its echo, for SECS: `roundtrips R seconds S`
//!   wsload fanout URL N MESSAGES     N receivers and one sender on a broadcast room;
//!                                    each message is sent once all have the previous:
//!                                    `deliveries D seconds S p99_us P` (P: from the
//!                                    send to each receiver's receipt, 99th percentile).
//!                                    URL may be several, comma-separated: the sender
//!                                    uses the first, the receivers are spread over all
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_many(url: &str, n: usize) -> Vec<Socket> {
    let mut sockets = Vec::with_capacity(n);
    // In batches, so the listen backlog is never the bottleneck.
    while sockets.len() < n {
        let batch = (n - sockets.len()).min(200);
        let opened = futures_util::future::join_all((0..batch).map(|_| connect_async(url))).await;
        for result in opened {
            sockets.push(result.expect("connect").0);
        }
    }
    sockets
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("argument {i}: {what}"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let url: String = arg(&args, 2, "URL");
    let n: usize = arg(&args, 3, "sockets");
    match mode {
        "idle" => {
            let hold: u64 = arg(&args, 4, "hold seconds");
            let sockets = open_many(&url, n).await;
            println!("ready {}", sockets.len());
            tokio::time::sleep(Duration::from_secs(hold)).await;
            drop(sockets);
        }
        "echo" => {
            let secs: u64 = arg(&args, 4, "seconds");
            let sockets = open_many(&url, n).await;
            let count = Arc::new(AtomicU64::new(0));
            let deadline = Instant::now() + Duration::from_secs(secs);
            let started = Instant::now();
            let tasks = sockets.into_iter().map(|mut socket| {
                let count = count.clone();
                async move {
                    let payload = "x".repeat(32);
                    while Instant::now() < deadline {
                        socket.send(Message::text(payload.clone())).await.expect("send");
                        match socket.next().await {
                            Some(Ok(Message::Text(t))) if t.len() == 32 => {}
                            other => panic!("expected the echo, got {other:?}"),
                        }
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            futures_util::future::join_all(tasks).await;
            println!("roundtrips {} seconds {:.3}", count.load(Ordering::Relaxed), started.elapsed().as_secs_f64());
        }
        "fanout" => {
            let messages: u64 = arg(&args, 4, "messages");
            let urls: Vec<&str> = url.split(',').collect();
            let mut sender = open_many(urls[0], 1).await.remove(0);
            let mut receivers = Vec::with_capacity(n);
            for (i, url) in urls.iter().enumerate() {
                let share = n / urls.len() + usize::from(i < n % urls.len());
                receivers.extend(open_many(url, share).await);
            }
            let received = Arc::new(AtomicU64::new(0));
            let sent_at: std::rc::Rc<std::cell::RefCell<Vec<Instant>>> = Default::default();
            let latencies: std::rc::Rc<std::cell::RefCell<Vec<u32>>> = Default::default();
            let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
            let local = tokio::task::LocalSet::new();
            for mut socket in receivers {
                let received = received.clone();
                let done_tx = done_tx.clone();
                let (sent_at, latencies) = (sent_at.clone(), latencies.clone());
                local.spawn_local(async move {
                    let mut got = 0;
                    while got < messages {
                        match socket.next().await {
                            Some(Ok(Message::Text(text))) => {
                                let index: usize = text.trim_start_matches("message ").parse().unwrap_or(0);
                                if let Some(at) = sent_at.borrow().get(index) {
                                    latencies.borrow_mut().push(at.elapsed().as_micros() as u32);
                                }
                                got += 1;
                                if received.fetch_add(1, Ordering::Relaxed) + 1 == n as u64 * got {
                                    let _ = done_tx.send(());
                                }
                            }
                            Some(Ok(_)) => {}
                            other => panic!("receiver lost: {other:?}"),
                        }
                    }
                });
            }
            let started = Instant::now();
            local
                .run_until(async {
                    for i in 0..messages {
                        sent_at.borrow_mut().push(Instant::now());
                        sender.send(Message::text(format!("message {i}"))).await.expect("send");
                        // Wait until every receiver has message i.
                        while received.load(Ordering::Relaxed) < n as u64 * (i + 1) {
                            done_rx.recv().await;
                        }
                    }
                })
                .await;
            let mut all = latencies.borrow().clone();
            all.sort_unstable();
            let p99 = all.get((all.len() * 99 / 100).min(all.len().saturating_sub(1))).copied().unwrap_or(0);
            println!(
                "deliveries {} seconds {:.3} p99_us {p99}",
                received.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            );
        }
        _ => panic!("modes: idle, echo, fanout"),
    }
}
