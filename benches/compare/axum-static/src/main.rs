//! axum with tower-http's `ServeDir`: `compare-axum-static ADDR DIR`.
use axum::Router;
use tower_http::services::ServeDir;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let dir = args.next().unwrap_or_else(|| ".".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    let app = Router::new().fallback_service(ServeDir::new(dir));
    axum::serve(listener, app).await.expect("serve");
}
