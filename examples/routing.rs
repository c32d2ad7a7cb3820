//! Routing tour: `cargo run --example routing [ADDR]`, then try
//!
//! ```text
//! curl localhost:8888/
//! curl localhost:8888/articles/2024/hello%20world
//! curl localhost:8888/users/ada
//! curl -X POST localhost:8888/users/ada          # 405 with Allow
//! curl -H 'Host: api.example.com' localhost:8888/status
//! curl localhost:8888/old-home                  # redirect via reverse_url
//! ```

use std::sync::Arc;

use squall::{HttpError, Json, Request, Response, Router, Server, get};

#[path = "support/cli.rs"]
mod cli;

// ANCHOR: handlers
async fn article(req: Request) -> Result<String, HttpError> {
    let year: u32 =
        req.path_param("year").and_then(|y| y.parse().ok()).ok_or_else(|| HttpError::bad_request("bad year"))?;
    let slug = req.path_param("slug").unwrap_or_default();
    Ok(format!("article {slug:?} from {year}\n"))
}

async fn user(req: Request) -> String {
    format!("profile of {}\n", req.path_arg(0).unwrap_or_default())
}
// ANCHOR_END: handlers

fn app() -> Router {
    // ANCHOR: rules
    let api = Router::new().route("/status", get(|_req| async { Json(serde_json::json!({"status": "ok"})) }));
    let site = Router::new()
        .route("/", get(|_req| async { "home\n" }))
        .named_route("article", r"/articles/(?P<year>\d{4})/(?P<slug>[^/]+)", get(article))
        .named_route("user", r"/users/(\w+)", get(user));
    // ANCHOR_END: rules

    // ANCHOR: reverse
    // reverse_url builds links from rule names, so paths live in one place.
    let home = Arc::new(site.reverse_url("user", &["ada"]).expect("the user rule reverses"));
    let old_home = move |_req: Request| {
        let home = home.clone();
        async move { Response::redirect(&home) }
    };
    // ANCHOR_END: reverse

    // ANCHOR: app
    Router::new()
        .host(r"api\.example\.com", api) // a host rule: only for that Host
        .route("/old-home", get(old_home))
        .rule(squall::Rule::new(squall::AnyMatches, site)) // a nested router; falls through when it misses
        .default_handler(
            |req: Request| async move { (http::StatusCode::NOT_FOUND, format!("nothing at {}\n", req.path())) },
        )
    // ANCHOR_END: app
}

fn main() -> squall::Result<()> {
    // Warnings and the access log unless RUST_LOG says otherwise.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,squall::access=info")).init();
    let addr = cli::address("routing", "usage: routing [ADDR]   (ADDR defaults to 127.0.0.1:8888)");
    squall::block_on(async {
        let server = Server::new(app());
        let bound = server.listen(addr.as_str())?;
        println!("serving on http://{bound}/");
        server.wait().await;
        Ok(())
    })
}
