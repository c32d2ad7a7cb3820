//! A static file server: `cargo run --release --example files -- [ADDR] [--dir DIR] [--index] [--precompressed]`
//! and the server options (`--help` lists them); ADDR defaults to
//! `127.0.0.1:8888`, DIR to the current directory.
//!
//! Everything of `squall::static_files`: types, validators, conditional
//! requests, ranges, and no byte from outside DIR. `--index` serves
//! `index.html` for directories; `--precompressed` sends `.br`/`.gz`
//! siblings to clients that accept them.

use squall::Router;
use squall::static_files::StaticFiles;

#[path = "support/cli.rs"]
mod cli;
use cli::Cli;

const USAGE: &str = "\
usage: files [ADDR] [--dir DIR] [--index] [--precompressed] [server options]
(ADDR defaults to 127.0.0.1:8888, DIR to the current directory)
";

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let mut cli = Cli::new("files", USAGE);
    let (mut dir, mut index, mut precompressed) = (".".to_owned(), false, false);
    while let Some(flag) = cli.next() {
        match flag.as_str() {
            "--dir" => dir = cli.value(&flag),
            "--index" => index = true,
            "--precompressed" => precompressed = true,
            _ => cli.unknown(&flag),
        }
    }
    // `/` answers only with an index file there.
    let root_answers = index && std::path::Path::new(&dir).join("index.html").is_file();
    cli.serve(
        |_worker| {
            let mut files = StaticFiles::new(&dir).precompressed(precompressed);
            if index {
                files = files.index_file("index.html");
            }
            Ok(Router::new().mount("/", files))
        },
        |scheme, addr| match root_answers {
            true => format!("serving {dir} on {scheme}://{addr}/"),
            false => format!("serving {dir} on {addr} (each file at its path)"),
        },
    )
}
