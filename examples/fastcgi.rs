//! PHP through a FastCGI server (php-fpm), nginx's `fastcgi_pass` as a route:
//! `cargo run --example fastcgi --features fastcgi -- [ADDR] --socket PATH|HOST:PORT --root DIR [--index index.php] [--pool N] [--no-keep-alive]`
//! (ADDR defaults to `127.0.0.1:8888`).
//!
//! - `*.php` under DIR (and `index.php` for directories, unless `--index`
//!   names another) — run by the FastCGI server
//! - every other file under DIR — served as a static file
//! - `/squall/hello` — a native route beside them

use std::net::SocketAddr;

use squall::fastcgi::{Address, FastCgi};
use squall::static_files::StaticFiles;
use squall::{Router, Server, get};

fn main() -> squall::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map(String::as_str);
    let addr = args.first().filter(|a| !a.starts_with("--")).map_or("127.0.0.1:8888", String::as_str);
    let (Some(socket), Some(root)) = (value("--socket"), value("--root")) else {
        eprintln!("fastcgi: --socket PATH|HOST:PORT and --root DIR are required");
        std::process::exit(2);
    };
    let address = match socket.parse::<SocketAddr>() {
        Ok(tcp) => Address::Tcp(tcp),
        Err(_) => Address::Unix(socket.into()),
    };
    // ANCHOR: app
    let mut php = FastCgi::new(address, root).index(value("--index").unwrap_or("index.php"));
    if let Some(n) = value("--pool") {
        php = php.pool_size(n.parse().unwrap_or(16));
    }
    if args.iter().any(|a| a == "--no-keep-alive") {
        php = php.keep_alive(false);
    }
    let app = Router::new()
        .route("/squall/hello", get(|_req| async { "Hello from the native side\n" }))
        .mount("/", php)
        .mount("/", StaticFiles::new(root));
    // ANCHOR_END: app
    squall::block_on(async {
        let server = Server::new(app);
        let bound = server.listen(addr)?;
        println!("serving {root} on http://{bound}/ through {socket}");
        server.wait().await;
        Ok(())
    })
}
