//! Behind a proxy: `xheaders`, `trusted_downstream` and `protocol`, over
//! real sockets (the test client's address, 127.0.0.1, is the proxy).
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a panic is the test failing

mod support;

use squall::testing::TestServer;
use squall::{Request, Router, Server, ServerBuilder, get};

fn app() -> Router {
    Router::new().route(
        "/whoami",
        get(|req: Request| async move {
            let ip = req.remote_ip().map_or_else(|| "-".to_owned(), |ip| ip.to_string());
            format!("{ip} {}", req.protocol())
        }),
    )
}

fn whoami(builder: ServerBuilder, headers: &[(&str, &str)]) -> String {
    let server = TestServer::with_builder(builder, app());
    server.request("GET", "/whoami", headers, b"").text()
}

fn trusting(ranges: &[&str]) -> ServerBuilder {
    Server::builder().xheaders(true).trusted_downstream(ranges).unwrap()
}

#[test]
fn x_real_ip_names_the_client() {
    assert_eq!(whoami(trusting(&["127.0.0.1"]), &[("X-Real-IP", "4.4.4.4")]), "4.4.4.4 http");
}

#[test]
fn x_forwarded_for_is_walked_from_the_right_past_trusted_proxies() {
    let lo = trusting(&["127.0.0.1"]);
    assert_eq!(whoami(lo.clone(), &[("X-Forwarded-For", "127.0.0.1, 4.4.4.4")]), "4.4.4.4 http");
    let xff = [("X-Forwarded-For", "127.0.0.1, 4.4.4.4, 5.5.5.5")];
    assert_eq!(whoami(trusting(&["127.0.0.1", "5.5.5.5"]), &xff), "4.4.4.4 http");
    assert_eq!(whoami(lo, &xff), "5.5.5.5 http", "5.5.5.5 is not trusted: it is the client");
}

#[test]
fn invalid_addresses_are_ignored() {
    let lo = trusting(&["127.0.0.1"]);
    assert_eq!(whoami(lo.clone(), &[("X-Forwarded-For", "4.4.4.4<script>")]), "127.0.0.1 http");
    assert_eq!(whoami(lo, &[("X-Real-IP", "4.4.4.4<script>")]), "127.0.0.1 http");
}

#[test]
fn scheme_from_x_scheme_and_x_forwarded_proto() {
    let lo = trusting(&["127.0.0.1"]);
    assert_eq!(whoami(lo.clone(), &[("X-Scheme", "https")]), "127.0.0.1 https");
    assert_eq!(whoami(lo.clone(), &[("X-Forwarded-Proto", "https , http")]), "127.0.0.1 http");
    assert_eq!(whoami(lo, &[("X-Forwarded-Proto", "https")]), "127.0.0.1 https");
}

#[test]
fn rfc_7239_forwarded() {
    let lo = trusting(&["127.0.0.0/8"]);
    let headers = [("Forwarded", r#"for="[2001:db8::17]:4711";proto=https, for=127.0.0.5"#)];
    assert_eq!(whoami(lo, &headers), "2001:db8::17 https");
}

#[test]
fn the_same_headers_from_an_untrusted_peer_change_nothing() {
    let headers = [
        ("X-Real-IP", "4.4.4.4"),
        ("X-Forwarded-For", "4.4.4.4"),
        ("X-Scheme", "https"),
        ("Forwarded", "for=4.4.4.4;proto=https"),
    ];
    assert_eq!(whoami(trusting(&["10.0.0.0/8", "5.5.5.5"]), &headers), "127.0.0.1 http");
}

#[test]
fn without_xheaders_the_headers_are_ignored() {
    assert_eq!(whoami(Server::builder(), &[("X-Real-IP", "4.4.4.4"), ("X-Scheme", "https")]), "127.0.0.1 http");
}

#[test]
fn protocol_forces_the_scheme() {
    let builder = Server::builder().protocol("https").unwrap();
    assert_eq!(whoami(builder, &[]), "127.0.0.1 https");
    assert!(Server::builder().protocol("gopher").is_err());
    assert!(Server::builder().trusted_downstream(["10.0.0.0/40"]).is_err());
}

#[test]
fn a_legacy_app_sees_the_forwarded_client() {
    use squall::gateway::{AppError, AppIter, Environ, Executor, GatewayContainer, StartResponse};
    let legacy = |environ: &mut Environ, start: &StartResponse| -> Result<AppIter, AppError> {
        let addr = environ.get("REMOTE_ADDR").unwrap_or("-").to_owned();
        let port = environ.get("REMOTE_PORT").unwrap_or("-").to_owned();
        let scheme = environ.url_scheme().to_owned();
        start.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok(AppIter::once(format!("{addr} {port} {scheme}")))
    };
    let app =
        Router::new().mount("/legacy", GatewayContainer::builder(legacy).executor(Executor::thread_pool(2)).build());
    let server = TestServer::with_builder(trusting(&["127.0.0.1"]), app);
    let resp =
        server.request("GET", "/legacy/", &[("X-Forwarded-For", "4.4.4.4"), ("X-Forwarded-Proto", "https")], b"");
    assert_eq!(resp.text(), "4.4.4.4 - https", "no port was forwarded, so none is made up");
    let direct = server.request("GET", "/legacy/", &[], b"").text();
    assert!(direct.starts_with("127.0.0.1 ") && !direct.contains(" - "), "{direct}");
}
