//! Load bench: serves apps in-process and drives them over loopback with
//! keep-alive connections from in-process client threads, printing
//! requests/s and latency percentiles per scenario:
//!
//! - native hello;
//! - gateway hello through each executor strategy;
//! - a gateway app that sleeps 50 ms per request, 64 connections, through
//!   each strategy (ideal with 64 threads: 1280 requests/s), with the p99 of
//!   a native route probed meanwhile.
//!
//! `cargo bench --bench load` (env: `SECS` per scenario, default 3; `CONNS`
//! for hello, default 64). Bounded in time, loopback only. Client threads
//! share the machine with the server; for figures against other servers use
//! `benches/compare/run.sh`, which pins each to its own CPU.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use squall::gateway::{AppError, AppIter, Environ, Executor, GatewayContainer, StartResponse};
use squall::testing::TestConnection;
use squall::{Router, Server, get};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn legacy(environ: &mut Environ, start: &StartResponse) -> Result<AppIter, AppError> {
    if environ.get("PATH_INFO") == Some("/slow") {
        std::thread::sleep(Duration::from_millis(50));
    }
    start.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(AppIter::once("Hello, world!"))
}

fn serve(executor: Executor) -> (Server, SocketAddr) {
    let container = GatewayContainer::builder(legacy).executor(executor).build();
    let app = Router::new().route("/", get(|_req| async { "Hello, world!" })).mount("/legacy", container);
    let server = Server::new(app);
    let addr = server.listen("127.0.0.1:0").expect("bind a loopback port");
    (server, addr)
}

/// Sorted latencies of requests to `path` on `conns` keep-alive connections
/// for `secs`, and the time until the last one finished.
fn load(addr: SocketAddr, path: &'static str, conns: u64, secs: u64) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let clients: Vec<_> = (0..conns)
        .map(|_| {
            std::thread::spawn(move || {
                let mut conn = TestConnection::open(addr).expect("connect");
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let start = Instant::now();
                    let resp = conn.request("GET", path, &[], b"").expect("a response");
                    assert_eq!(resp.status, 200, "{path}");
                    latencies.push(start.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all: Vec<Duration> = clients.into_iter().flat_map(|c| c.join().expect("client thread")).collect();
    all.sort_unstable();
    (all, started.elapsed())
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn report(label: &str, (latencies, elapsed): &(Vec<Duration>, Duration)) {
    println!(
        "{label:<36} {:>9.0} req/s   p50 {:>8.2} ms   p99 {:>8.2} ms",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(latencies, 0.50),
        pct(latencies, 0.99)
    );
}

fn strategies(threads: usize) -> [(&'static str, Executor); 3] {
    [("Inline", Executor::Inline), ("ThreadPool", Executor::thread_pool(threads)), ("Rayon", Executor::rayon(threads))]
}

fn main() {
    let secs = env("SECS", 3);
    let conns = env("CONNS", 64);
    println!("in-process load over loopback, {secs} s per scenario");

    let (server, addr) = serve(Executor::thread_pool(16));
    report(&format!("native hello, {conns} conns"), &load(addr, "/", conns, secs));
    server.stop();

    for (name, executor) in strategies(16) {
        let (server, addr) = serve(executor);
        report(&format!("gateway hello, {name}(16)"), &load(addr, "/legacy/hello", conns, secs));
        server.stop();
    }

    for (name, executor) in strategies(64) {
        let (server, addr) = serve(executor);
        let probe = std::thread::spawn(move || load(addr, "/", 1, secs));
        report(&format!("slow 50 ms, {name}(64), 64 conns"), &load(addr, "/legacy/slow", 64, secs));
        let (probe, _) = probe.join().expect("probe thread");
        println!("{:<36}   native route meanwhile: p99 {:.2} ms", "", pct(&probe, 0.99));
        server.stop();
    }
}
