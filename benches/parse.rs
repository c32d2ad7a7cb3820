//! Micro benchmarks: request-head parsing and route lookup.
//!
//! `cargo bench --bench parse`. Prints nanoseconds per operation (median of
//! several rounds); nothing here is asserted.

use std::hint::black_box;
use std::time::Instant;

use squall::{Request, Router, get, testing};

/// Median ns per call of `f` over `rounds` rounds of `iters` calls.
fn measure(name: &str, iters: u32, mut f: impl FnMut()) {
    let mut rounds: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(iters)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    println!("{name:<40} {:>9.1} ns/op", rounds[rounds.len() / 2]);
}

fn main() {
    let small = b"GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n";
    let browser = b"GET /articles/2024/hello-world?ref=home HTTP/1.1\r\n\
Host: example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\n\
Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\r\n";
    measure("parse head: minimal GET", 200_000, || assert!(squall::__private::parse_head(black_box(small))));
    measure("parse head: browser GET (9 headers)", 100_000, || {
        assert!(squall::__private::parse_head(black_box(browser)))
    });

    let mut app = Router::new();
    for i in 0..20 {
        app = app.route(&format!("/static{i}"), get(|_req| async { "" }));
    }
    let app = app
        .route(r"/users/(\d+)", get(|_req| async { "" }))
        .route(r"/articles/(?P<year>\d{4})/(?P<slug>[^/]+)", get(|_req| async { "" }));
    let app = &app;
    let hit = |path: &'static str| {
        move || {
            let resp = futures_lite::future::block_on(testing::call(app, Request::get(path)));
            assert_eq!(resp.status(), 200);
        }
    };
    measure("route: literal rule 1 of 22", 100_000, hit("/static0"));
    measure("route: regex rule 22 of 22, 2 named args", 100_000, hit("/articles/2024/hello-world"));
    measure("route: miss (404) after 22 rules", 100_000, || {
        let resp = futures_lite::future::block_on(testing::call(app, Request::get("/nowhere")));
        assert_eq!(resp.status(), 404);
    });
}
