//! The access log, in Tornado's format: `200 GET /path?q=1 (127.0.0.1) 1.23ms`.
//!
//! Lines go to the `log` crate under the target `squall::access`: info below
//! 400, warn below 500, error from 500.

use std::net::IpAddr;
use std::time::Instant;

use http::{Method, StatusCode, Uri};

/// Logs one finished request.
pub(crate) fn access(status: StatusCode, method: &Method, uri: &Uri, ip: Option<IpAddr>, started: Instant) {
    let level = match status.as_u16() {
        0..=399 => log::Level::Info,
        400..=499 => log::Level::Warn,
        _ => log::Level::Error,
    };
    if log::log_enabled!(target: "squall::access", level) {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let ip = ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
        log::log!(target: "squall::access", level, "{} {} {} ({}) {:.2}ms", status.as_u16(), method, uri, ip, ms);
    }
}
