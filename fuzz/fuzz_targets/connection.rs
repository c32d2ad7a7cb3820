//! A whole connection in memory: any input, pipelined requests and bodies
//! included, gets responses and an end, never a panic or a hang; everything
//! the server writes is a sequence of HTTP/1.1 responses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use squall::{Request, Response, Router, get, post};

fuzz_target!(|data: &[u8]| {
    let app = Router::new()
        .route("/", get(|_req| async { "Hello, world!" }))
        .route("/echo", post(|mut req: Request| async move { req.bytes().await.map(Response::text) }))
        .route("/stream", post(|mut req: Request| async move { Response::stream(req.take_body()) }));
    let out = squall::block_on(squall::testing::serve_bytes(app, data));
    assert!(out.is_empty() || out.starts_with(b"HTTP/1.1 "), "{:?}", String::from_utf8_lossy(&out));
});
