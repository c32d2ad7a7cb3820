//! PHP through a FastCGI server (php-fpm), nginx's `fastcgi_pass` as a route:
//! `cargo run --example fastcgi --features fastcgi -- [ADDR] --socket PATH|HOST:PORT --root DIR [--index index.php] [--pool N] [--no-fastcgi-keep-alive]`
//! and the server options (`--help` lists them); ADDR defaults to `127.0.0.1:8888`.
//!
//! - `*.php` under DIR (and `index.php` for directories, unless `--index`
//!   names another; a directory asked for without its slash is redirected
//!   to it) — run by the FastCGI server
//! - every other file under DIR — served as a static file
//! - `/squall/hello` — a native route beside them

use std::net::SocketAddr;

use squall::fastcgi::{Address, FastCgi};
use squall::static_files::StaticFiles;
use squall::{Router, get};

#[path = "support/cli.rs"]
mod cli;
use cli::Cli;

const USAGE: &str = "\
usage: fastcgi [ADDR] --socket PATH|HOST:PORT --root DIR [--index NAME] [--pool N]
               [--no-fastcgi-keep-alive] [server options]
(ADDR defaults to 127.0.0.1:8888; NAME to index.php; N, the connections to the
FastCGI server, to 16: match php-fpm's pm.max_children)
";

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let mut cli = Cli::new("fastcgi", USAGE);
    let (mut socket, mut root, mut index, mut pool, mut keep_alive) = (None, None, "index.php".to_owned(), 16, true);
    while let Some(flag) = cli.next() {
        match flag.as_str() {
            "--socket" => socket = Some(cli.value(&flag)),
            "--root" => root = Some(cli.value(&flag)),
            "--index" => index = cli.value(&flag),
            "--pool" => pool = cli.parse(&flag),
            "--no-fastcgi-keep-alive" => keep_alive = false,
            _ => cli.unknown(&flag),
        }
    }
    let (Some(socket), Some(root)) = (socket, root) else {
        cli.fail("--socket PATH|HOST:PORT and --root DIR are required")
    };
    let address = match socket.parse::<SocketAddr>() {
        Ok(tcp) => Address::Tcp(tcp),
        Err(_) => Address::Unix(socket.clone().into()),
    };
    // `/` answers when the root has its index script.
    let page = if std::path::Path::new(&root).join(&index).is_file() { "" } else { "squall/hello" };
    let served = root.clone();
    cli.serve(
        |_worker| {
            // ANCHOR: app
            let php = FastCgi::new(address, &root).index(&index).pool_size(pool).keep_alive(keep_alive);
            let app = Router::new()
                .route("/squall/hello", get(|_req| async { "Hello from the native side\n" }))
                .mount("/", php)
                .mount("/", StaticFiles::new(&root));
            // ANCHOR_END: app
            Ok(app)
        },
        |scheme, addr| format!("serving {served} on {scheme}://{addr}/{page} through {socket}"),
    )
}
