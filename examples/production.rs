//! A production setup: `cargo run --release --example production -- [ADDR] [OPTIONS]`.
//!
//! Every server option is a flag (`--help` lists them); `SIGTERM` or `SIGINT`
//! drains gracefully. Routes: `/` says hello, `/echo` streams the request
//! body back, `/whoami` tells the client address and scheme the server
//! decided on (as JSON), `/slow?ms=N` answers after N milliseconds.
//! Add `--features tls` for `--tls-cert` and `--tls-key`.

use std::time::Duration;

use squall::server::process;
use squall::{HttpError, Json, Request, Response, Router, Server, ServerBuilder, get, post};

const USAGE: &str = "\
usage: production [ADDR] [OPTIONS]        (ADDR defaults to 127.0.0.1:8888)

  --max-header-size BYTES    largest request head (431; 414 for the request line)
  --max-body-size BYTES      largest request body (413)
  --max-buffer-size BYTES    largest body buffered in memory for a handler (413)
  --idle-timeout SECS        idle keep-alive limit and total time for a request head (408)
  --body-timeout SECS        total time for a request body (408)
  --write-timeout SECS       how long a client may stop reading its response
  --max-connections N        open connections at most (503 beyond)
  --no-keep-alive            close every connection after one response
  --xheaders                 believe X-Forwarded-For / X-Real-Ip / X-Scheme / Forwarded
  --trusted-downstream LIST  comma-separated proxy addresses or CIDR ranges (default loopback)
  --protocol http|https      the scheme requests report (behind a TLS proxy: https)
  --decompress-request       inflate gzip request bodies
  --tls-cert FILE            PEM certificate chain (with --tls-key; needs feature tls)
  --tls-key FILE             PEM private key
  --workers N                worker processes sharing the port (0: one per CPU)
  --reuse-port               bind with SO_REUSEPORT
  --drain-timeout SECS       graceful shutdown deadline on SIGTERM/SIGINT (default 10)
";

struct Options {
    addr: String,
    builder: ServerBuilder,
    workers: Option<usize>,
    reuse_port: bool,
    drain: Duration,
}

fn main() -> squall::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let options = parse(std::env::args().skip(1)).unwrap_or_else(|e| {
        eprintln!("production: {e}\n\n{USAGE}");
        std::process::exit(2);
    });

    // ANCHOR: start
    let sockets = process::bind_sockets(options.addr.as_str(), options.reuse_port)?;
    if process::task_id().is_none() {
        for addr in sockets.iter().filter_map(|s| s.local_addr().ok()) {
            println!("serving on {addr}");
        }
    }
    let worker = match options.workers {
        Some(n) => match process::fork_processes(&sockets, n, 100)? {
            Some(id) => Some(id),
            None => return Ok(()), // the supervisor: every worker has ended
        },
        None => None,
    };
    squall::block_on(async {
        let server = options.builder.build(app(worker));
        server.add_sockets(sockets)?;
        server.shutdown_on_signals(options.drain)?;
        server.wait().await;
        Ok(())
    })
    // ANCHOR_END: start
}

// ANCHOR: app
fn app(worker: Option<usize>) -> Router {
    Router::new()
        .route("/", get(|_req| async { "Hello, world!" }))
        .route("/echo", post(|mut req: Request| async move { Response::stream(req.take_body()) }))
        .route("/whoami", get(move |req: Request| async move { whoami(&req, worker) }))
        .route("/slow", get(slow))
}
// ANCHOR_END: app

fn whoami(req: &Request, worker: Option<usize>) -> Json<serde_json::Value> {
    let addr = req.remote_addr();
    Json(serde_json::json!({
        "ip": addr.map(|a| a.ip().to_string()),
        "port": addr.map(|a| a.port()).filter(|&p| p != 0),
        "protocol": req.protocol(),
        "worker": worker,
        "pid": std::process::id(),
    }))
}

async fn slow(req: Request) -> Result<String, HttpError> {
    let ms: u64 = req.query_argument("ms")?.parse().map_err(|_| HttpError::bad_request("ms must be a number"))?;
    squall::sleep(Duration::from_millis(ms.min(60_000))).await;
    Ok(format!("slept {ms} ms\n"))
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        addr: "127.0.0.1:8888".to_owned(),
        builder: Server::builder(),
        workers: None,
        reuse_port: false,
        drain: Duration::from_secs(10),
    };
    let (mut cert, mut key) = (None, None);
    let mut first = true;
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        let b = std::mem::take(&mut options.builder);
        options.builder = match arg.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            "--max-header-size" => b.max_header_size(number(&value()?)?),
            "--max-body-size" => b.max_body_size(number(&value()?)?),
            "--max-buffer-size" => b.max_buffer_size(number(&value()?)?),
            "--idle-timeout" => b.idle_connection_timeout(seconds(&value()?)?),
            "--body-timeout" => b.body_timeout(seconds(&value()?)?),
            "--write-timeout" => b.write_timeout(seconds(&value()?)?),
            "--max-connections" => b.max_connections(number(&value()?)?),
            "--no-keep-alive" => b.no_keep_alive(true),
            "--xheaders" => b.xheaders(true),
            "--trusted-downstream" => b.trusted_downstream(value()?.split(',')).map_err(|e| e.to_string())?,
            "--protocol" => b.protocol(&value()?).map_err(|e| e.to_string())?,
            "--decompress-request" => b.decompress_request(true),
            "--tls-cert" => {
                cert = Some(value()?);
                b
            }
            "--tls-key" => {
                key = Some(value()?);
                b
            }
            "--workers" => {
                options.workers = Some(number(&value()?)?);
                b
            }
            "--reuse-port" => {
                options.reuse_port = true;
                b
            }
            "--drain-timeout" => {
                options.drain = seconds(&value()?)?;
                b
            }
            addr if first && !addr.starts_with('-') => {
                options.addr = addr.to_owned();
                b
            }
            other => return Err(format!("unknown option {other}")),
        };
        first = false;
    }
    options.builder = tls(std::mem::take(&mut options.builder), cert, key)?;
    Ok(options)
}

// ANCHOR: tls
#[cfg(feature = "tls")]
fn tls(builder: ServerBuilder, cert: Option<String>, key: Option<String>) -> Result<ServerBuilder, String> {
    match (cert, key) {
        (Some(cert), Some(key)) => builder.tls_pem_files(cert, key).map_err(|e| e.to_string()),
        (None, None) => Ok(builder),
        _ => Err("--tls-cert and --tls-key go together".to_owned()),
    }
}

// ANCHOR_END: tls

#[cfg(not(feature = "tls"))]
fn tls(builder: ServerBuilder, cert: Option<String>, key: Option<String>) -> Result<ServerBuilder, String> {
    match (cert, key) {
        (None, None) => Ok(builder),
        _ => Err("TLS needs the tls feature: cargo run --features tls --example production".to_owned()),
    }
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("not a number of seconds: {s}"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("not a number of seconds: {s}"))
}
