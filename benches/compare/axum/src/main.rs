//! axum: one route, `axum::serve` on tokio's multi-thread runtime.
use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    let app = Router::new().route("/", get(|| async { "Hello, world!" }));
    axum::serve(listener, app).await.expect("serve");
}
