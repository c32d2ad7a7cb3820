//! Hello, world: `cargo run --release --example hello [ADDR]`.
//!
//! Serves `Hello, world!` on `/`, at `127.0.0.1:8888` unless an address is
//! given. Set `RUST_LOG=info` to see the access log.

use squall::{Router, Server, get};

// ANCHOR: hello
fn main() -> squall::Result<()> {
    env_logger::init();
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8888".to_owned());
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
