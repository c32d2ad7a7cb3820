//! A static file server: `cargo run --release --example files -- [ADDR] [--dir DIR] [--index] [--precompressed]`
//! (ADDR defaults to `127.0.0.1:8888`, DIR to the current directory).
//!
//! Everything of `squall::static_files`: types, validators, conditional
//! requests, ranges, and no byte from outside DIR. `--index` serves
//! `index.html` for directories; `--precompressed` sends `.br`/`.gz`
//! siblings to clients that accept them.

use squall::static_files::StaticFiles;
use squall::{Router, Server};

fn main() -> squall::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().filter(|a| !a.starts_with("--")).map_or("127.0.0.1:8888", String::as_str);
    let dir = args.iter().position(|a| a == "--dir").and_then(|i| args.get(i + 1)).map_or(".", String::as_str);
    let mut files = StaticFiles::new(dir);
    if args.iter().any(|a| a == "--index") {
        files = files.index_file("index.html");
    }
    if args.iter().any(|a| a == "--precompressed") {
        files = files.precompressed(true);
    }
    squall::block_on(async {
        let server = Server::new(Router::new().mount("/", files));
        let bound = server.listen(addr)?;
        println!("serving {dir} on http://{bound}/");
        server.wait().await;
        Ok(())
    })
}
