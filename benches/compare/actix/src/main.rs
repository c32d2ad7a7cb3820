//! actix-web: one route, `HttpServer` with its default workers (one per CPU
//! it may use).
use actix_web::{App, HttpServer, get};

#[get("/")]
async fn hello() -> &'static str {
    "Hello, world!"
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    HttpServer::new(|| App::new().service(hello)).bind(addr)?.run().await
}
