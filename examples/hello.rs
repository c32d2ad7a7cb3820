//! Hello, world: `cargo run --release --example hello [ADDR]`.
//!
//! Serves `Hello, world!` on `/`, at `127.0.0.1:8888` unless an address is
//! given. Warnings and the access log go to standard error; `RUST_LOG`
//! overrides that (`RUST_LOG=error` for benchmarks).

use squall::{Router, Server, get};

#[path = "support/cli.rs"]
mod cli;

// ANCHOR: hello
fn main() -> squall::Result<()> {
    // Warnings and the access log unless RUST_LOG says otherwise.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let addr = cli::address("hello", "usage: hello [ADDR]   (ADDR defaults to 127.0.0.1:8888)");
    let app = Router::new().route("/", get(|_req| async { "Hello, world!" }));
    squall::block_on(async {
        let server = Server::new(app);
        let bound = server.listen(addr.as_str())?;
        println!("serving on http://{bound}/");
        server.wait().await;
        Ok(())
    })
}
// ANCHOR_END: hello
