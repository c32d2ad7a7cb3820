//! Load bench: serves the hello app in-process and drives it over loopback
//! with keep-alive connections from in-process client threads, then prints
//! requests/s and latency percentiles.
//!
//! `cargo bench --bench load` (env: `CONNS`, default 64; `SECS`, default 5).
//! Bounded in time, loopback only. For comparisons against other servers
//! use the project's peer bench, which pins server and load generator to
//! separate CPUs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use squall::{Router, Server, get};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let conns = env("CONNS", 64);
    let secs = env("SECS", 5);
    let server = Server::new(Router::new().route("/", get(|_req| async { "Hello, world!" })));
    let addr = server.listen("127.0.0.1:0").expect("bind a loopback port");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

    let clients: Vec<_> = (0..conns)
        .map(|_| {
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
                let mut latencies = Vec::new();
                let mut buf = [0u8; 4096];
                while Instant::now() < deadline {
                    let start = Instant::now();
                    stream.write_all(request).expect("write");
                    let mut got = 0;
                    // One response is a head ending in the 13-byte body.
                    while !buf[..got].ends_with(b"Hello, world!") {
                        let n = stream.read(&mut buf[got..]).expect("read");
                        assert!(n > 0, "server closed the connection");
                        got += n;
                    }
                    latencies.push(start.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = clients.into_iter().flat_map(|c| c.join().expect("client thread")).collect();
    server.stop();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!("hello over loopback: {conns} keep-alive connections, {secs} s");
    println!("requests:  {}", latencies.len());
    println!("req/s:     {:.0}", latencies.len() as f64 / secs as f64);
    println!("p50:       {:.3} ms", pct(0.50).as_secs_f64() * 1e3);
    println!("p99:       {:.3} ms", pct(0.99).as_secs_f64() * 1e3);
}
