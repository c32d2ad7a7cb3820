//! Routing and handlers: rules in order, matchers, nesting, reverse_url,
//! method dispatch, Tornado-style handler types, request and response helpers.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use squall::testing::{TestServer, call};
use squall::{
    AnyMatches, HttpError, Json, Request, RequestHandler, Response, Router, Rule, get, post, request_handler,
};

fn run<F: std::future::Future>(f: F) -> F::Output {
    squall::block_on(f)
}

async fn text(app: &Router, req: Request) -> (StatusCode, String) {
    let resp = call(app, req).await;
    let status = resp.status();
    let body = resp.into_body().bytes().await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[test]
fn first_matching_rule_wins() {
    let app = Router::new()
        .route("/a", |_req| async { "first" })
        .route("/a", |_req| async { "second" })
        .route("/.*", |_req| async { "catch-all" });
    run(async {
        assert_eq!(text(&app, Request::get("/a")).await.1, "first");
        assert_eq!(text(&app, Request::get("/b")).await.1, "catch-all");
    });
}

#[test]
fn path_arguments_are_percent_decoded() {
    let app = Router::new()
        .route(r"/pos/([^/]+)/(\d+)", |req: Request| async move {
            format!("{}|{}", req.path_arg(0).unwrap(), req.path_arg(1).unwrap())
        })
        .route(r"/named/(?P<who>[^/]+)", |req: Request| async move { req.path_param("who").unwrap().to_owned() });
    run(async {
        assert_eq!(text(&app, Request::get("/pos/a%20b%2Fc/42")).await.1, "a b/c|42");
        assert_eq!(text(&app, Request::get("/named/caf%C3%A9")).await.1, "café");
        assert_eq!(text(&app, Request::get("/pos/x/notdigits")).await.0, 404);
    });
}

#[test]
fn host_rules_match_the_host_name() {
    let api = Router::new().route("/", |_req| async { "api" });
    let app = Router::new().host(r"api\.example\.com", api).route("/", |_req| async { "www" });
    run(async {
        let req = Request::get("/").with_header("host", "API.example.com:8080");
        assert_eq!(text(&app, req).await.1, "api");
        let req = Request::get("/").with_header("host", "example.com");
        assert_eq!(text(&app, req).await.1, "www");
    });
}

#[test]
fn nested_router_that_misses_falls_through() {
    let inner = Router::new().route("/inner", |_req| async { "inner" });
    let app = Router::new().rule(Rule::new(AnyMatches, inner)).route("/outer", |_req| async { "outer" });
    run(async {
        assert_eq!(text(&app, Request::get("/inner")).await.1, "inner");
        assert_eq!(text(&app, Request::get("/outer")).await.1, "outer");
        assert_eq!(text(&app, Request::get("/neither")).await.0, 404);
    });
}

#[test]
fn nested_router_path_args_do_not_leak_when_it_declines() {
    let inner = Router::new().route("/never", |_req| async { "never" });
    let app = Router::new()
        .route(r"/x/(\w+)", inner)
        .route(r"/x/\w+", |req: Request| async move { format!("{:?}", req.path_args().positional()) });
    run(async {
        assert_eq!(text(&app, Request::get("/x/abc")).await.1, "[]");
    });
}

#[test]
fn default_handler_replaces_404() {
    let app = Router::new().route("/", |_req| async { "home" }).default_handler(|req: Request| async move {
        (StatusCode::NOT_FOUND, format!("custom 404 for {}", req.path()))
    });
    run(async {
        assert_eq!(text(&app, Request::get("/zzz")).await, (StatusCode::NOT_FOUND, "custom 404 for /zzz".into()));
    });
}

#[test]
fn reverse_url_builds_paths_including_nested_rules() {
    let inner = Router::new().named_route("post", r"/blog/(\d+)/([\w-]+)", |_req| async { "" });
    let app = Router::new()
        .named_route("home", "/", |_req| async { "" })
        .named_route("file", r"/static/(.*)", |_req| async { "" })
        .rule(Rule::new(AnyMatches, inner));
    assert_eq!(app.reverse_url("home", &[]).unwrap(), "/");
    assert_eq!(app.reverse_url("post", &["7", "hello-world"]).unwrap(), "/blog/7/hello-world");
    assert_eq!(app.reverse_url("file", &["css/a b.css"]).unwrap(), "/static/css/a%20b.css");
    assert!(app.reverse_url("post", &["7"]).unwrap_err().is_route(), "wrong number of args");
    assert!(app.reverse_url("nope", &[]).unwrap_err().is_route(), "unknown name");
}

#[test]
fn reversed_urls_route_back_to_their_rule() {
    let app = Router::new()
        .named_route("file", r"/files/(.+)", |req: Request| async move { req.path_arg(0).unwrap().to_owned() });
    let url = app.reverse_url("file", &["dir/naïve name?.txt"]).unwrap();
    run(async {
        assert_eq!(text(&app, Request::get(&url)).await.1, "dir/naïve name?.txt");
    });
}

#[test]
fn method_dispatch_answers_405_with_allow() {
    let app = Router::new().route("/r", get(|_req| async { "got" }).post(|_req| async { "posted" }));
    run(async {
        assert_eq!(text(&app, Request::get("/r")).await.1, "got");
        assert_eq!(text(&app, Request::post("/r", "")).await.1, "posted");
        let resp = call(&app, Request::new(Method::PUT, "/r")).await;
        assert_eq!(resp.status(), 405);
        assert_eq!(resp.headers()["allow"], "GET, HEAD, POST");
        assert_eq!(call(&app, Request::new(Method::HEAD, "/r")).await.status(), 200, "HEAD falls back to GET");
    });
}

struct Counter {
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RequestHandler for Counter {
    const SUPPORTED_METHODS: &'static [Method] = &[Method::GET, Method::POST];

    async fn prepare(&mut self, req: &mut Request) -> Result<(), HttpError> {
        self.log.lock().unwrap().push(format!("prepare {}", req.method()));
        if req.header("x-deny").is_some() {
            return Err(HttpError::new(StatusCode::FORBIDDEN));
        }
        Ok(())
    }

    async fn get(&mut self, _req: Request) -> Result<Response, HttpError> {
        Ok(Response::text("counted"))
    }

    async fn post(&mut self, mut req: Request) -> Result<Response, HttpError> {
        let n: u32 = req.arguments().await?.require("n")?.parse().map_err(|_| HttpError::bad_request("n"))?;
        Ok(Response::text(format!("n={n}")))
    }

    fn on_finish(&mut self, status: StatusCode) {
        self.log.lock().unwrap().push(format!("finish {}", status.as_u16()));
    }
}

#[test]
fn request_handler_runs_prepare_method_and_on_finish() {
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let shared = log.clone();
    let app = Router::new().route("/c", request_handler(move || Counter { log: shared.clone() }));
    run(async {
        assert_eq!(text(&app, Request::get("/c")).await.1, "counted");
        let form = Request::post("/c?x=1", "n=5").with_header("content-type", "application/x-www-form-urlencoded");
        assert_eq!(text(&app, form).await.1, "n=5");
        assert_eq!(text(&app, Request::get("/c").with_header("x-deny", "1")).await.0, 403);
        let resp = call(&app, Request::new(Method::DELETE, "/c")).await;
        assert_eq!(resp.status(), 405);
        assert_eq!(resp.headers()["allow"], "GET, POST");
    });
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        ["prepare GET", "finish 200", "prepare POST", "finish 200", "prepare GET", "finish 403", "finish 405"]
    );
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
struct Item {
    name: String,
    qty: u32,
}

#[test]
fn json_in_and_out() {
    let app = Router::new().route(
        "/items",
        post(|mut req: Request| async move {
            let mut item: Item = req.json().await?;
            item.qty *= 2;
            Ok::<_, HttpError>((StatusCode::CREATED, Json(item)))
        }),
    );
    run(async {
        let resp = call(&app, Request::post("/items", r#"{"name":"bolt","qty":2}"#)).await;
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let body = resp.into_body().bytes().await.unwrap();
        assert_eq!(serde_json::from_slice::<Item>(&body).unwrap(), Item { name: "bolt".into(), qty: 4 });
        let (status, message) = text(&app, Request::post("/items", "{not json")).await;
        assert_eq!(status, 400);
        assert!(message.starts_with("invalid JSON body"), "{message}");
    });
}

#[test]
fn missing_query_argument_is_400_naming_it() {
    let app = Router::new().route("/q", |req: Request| async move { req.query_argument("page") });
    run(async {
        assert_eq!(text(&app, Request::get("/q?page=3")).await.1, "3");
        assert_eq!(text(&app, Request::get("/q")).await, (StatusCode::BAD_REQUEST, "Missing argument page".into()));
    });
}

#[test]
fn http_error_log_message_is_logged_not_sent() {
    support::init_logger();
    let app = Router::new().route("/secret", |_req| async {
        Err::<String, _>(HttpError::internal("database password rejected (marker-7731)"))
    });
    run(async {
        let (status, body) = text(&app, Request::get("/secret")).await;
        assert_eq!(status, 500);
        assert!(!body.contains("marker-7731"));
    });
    let lines = support::log_lines_with("marker-7731");
    assert_eq!(lines.first().map(|l| l.0), Some(log::Level::Error), "{lines:?}");
}

#[test]
fn request_knows_peer_host_and_protocol_over_a_socket() {
    let app = Router::new().route("/who", |req: Request| async move {
        format!("{}|{}|{}|{}", req.remote_ip().unwrap(), req.protocol(), req.host(), req.full_url())
    });
    let server = TestServer::start(app);
    let resp = server.get("/who?x=1");
    assert_eq!(resp.text(), "127.0.0.1|http|test|http://test/who?x=1");
}

#[test]
fn redirects_and_streams() {
    let app = Router::new()
        .route("/old", |_req| async { Response::redirect_permanent("/new") })
        .route("/echo-stream", post(|mut req: Request| async move { Response::stream(req.take_body()) }));
    let server = TestServer::start(app);
    let resp = server.get("/old");
    assert_eq!((resp.status.as_u16(), resp.header("location")), (301, Some("/new")));
    let body = vec![b'z'; 200_000];
    let resp = server.request("POST", "/echo-stream", &[], &body);
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert_eq!(resp.body, body, "the request body streams straight back");
}

#[test]
fn app_state_reaches_handlers_and_nested_routers_inherit_or_shadow_it() {
    struct Name(&'static str);
    struct Count(u32);
    async fn name(req: Request) -> Result<String, HttpError> {
        Ok(req.state::<Name>()?.0.to_owned())
    }
    let inner = Router::new().route("/inner/name", get(name));
    let own = Router::with_state(Name("inner")).route("/own/name", get(name));
    // A nested router with state that declines must give the outer state back.
    let declining = Router::with_state(Count(7)).route("/never", get(|_req| async { "" }));
    let app = Router::with_state(Name("outer"))
        .route("/name", get(name))
        .rule(Rule::new(AnyMatches, declining))
        .rule(Rule::new(AnyMatches, inner))
        .rule(Rule::new(AnyMatches, own))
        .route("/count", get(|req: Request| async move { req.state::<Count>().map(|c| c.0.to_string()) }));
    run(async {
        assert_eq!(text(&app, Request::get("/name")).await, (StatusCode::OK, "outer".into()));
        assert_eq!(text(&app, Request::get("/inner/name")).await, (StatusCode::OK, "outer".into()));
        assert_eq!(text(&app, Request::get("/own/name")).await, (StatusCode::OK, "inner".into()));
        // No router on the way has a Count: a 500, not the declining router's.
        assert_eq!(call(&app, Request::get("/count")).await.status(), 500);
    });
}

#[test]
fn typed_path_and_query_arguments_answer_400_with_the_reason() {
    async fn item(req: Request) -> Result<String, HttpError> {
        let id: u32 = req.path_arg_as(0)?;
        let size: usize = req.query_argument_as("size")?;
        Ok(format!("{id} {size}"))
    }
    async fn day(req: Request) -> Result<String, HttpError> {
        Ok(req.path_param_as::<u8>("day")?.to_string())
    }
    let app = Router::new().route(r"/items/(\w+)", get(item)).route(r"/days/(?P<day>\w+)", get(day));
    run(async {
        assert_eq!(text(&app, Request::get("/items/12?size=10")).await, (StatusCode::OK, "12 10".into()));
        let (status, body) = text(&app, Request::get("/items/x?size=10")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, r#"Invalid path argument 0 "x": invalid digit found in string"#);
        let (status, body) = text(&app, Request::get("/items/12")).await;
        assert_eq!((status, body.as_str()), (StatusCode::BAD_REQUEST, "Missing argument size"));
        assert_eq!(text(&app, Request::get("/days/3")).await, (StatusCode::OK, "3".into()));
        let (status, body) = text(&app, Request::get("/days/300")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, r#"Invalid path argument day "300": number too large to fit in target type"#);
    });
}

#[test]
fn the_http_crate_is_reexported_for_naming_headers() {
    use squall::http::{HeaderName, HeaderValue};
    let name = HeaderName::from_static("x-request-id");
    let resp = Response::text("x").with_header(name.clone(), HeaderValue::from_static("42"));
    assert_eq!(resp.headers()[&name], "42");
}

#[test]
fn a_router_whose_default_handler_declines_gives_the_state_back() {
    struct Name(&'static str);
    // The inner router's default handler is itself a router that matches nothing.
    let inner = Router::with_state(Name("inner")).default_handler(Router::new());
    let app = Router::with_state(Name("outer"))
        .rule(Rule::new(AnyMatches, inner))
        .fallback(|req: Request| async move { req.state::<Name>().map(|n| n.0.to_owned()) });
    run(async {
        assert_eq!(text(&app, Request::get("/x")).await, (StatusCode::OK, "outer".into()));
    });
}
