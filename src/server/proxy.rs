//! Behind a proxy: who the client is and which scheme it used, from the
//! headers a trusted proxy adds (`X-Real-Ip`, `X-Forwarded-For`, `X-Scheme`,
//! `X-Forwarded-Proto`, RFC 7239 `Forwarded`).
//!
//! Headers are believed only when the socket peer is a trusted proxy, so a
//! client talking to squall directly cannot claim to be someone else. Address
//! lists are walked from the right (the hop nearest to squall) past trusted
//! proxies; an invalid value is ignored as a whole.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;

use crate::error::Error;

/// An address or a CIDR range (`10.0.0.0/8`, `::1`, `fd00::/8`) of proxies
/// whose forwarding headers are believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedRange {
    addr: IpAddr,
    prefix: u8,
}

impl TrustedRange {
    /// Loopback, IPv4 and IPv6: a proxy on the same host. The default list.
    pub const LOOPBACK: [TrustedRange; 2] = [
        TrustedRange { addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), prefix: 8 },
        TrustedRange { addr: IpAddr::V6(Ipv6Addr::LOCALHOST), prefix: 128 },
    ];

    /// Whether `ip` lies in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_eq(&net.octets(), &ip.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask_eq(&net.octets(), &ip.octets(), self.prefix),
            _ => false,
        }
    }
}

fn mask_eq(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let (whole, bits) = (usize::from(prefix / 8), prefix % 8);
    net[..whole] == ip[..whole] && (bits == 0 || (net[whole] ^ ip[whole]) >> (8 - bits) == 0)
}

impl FromStr for TrustedRange {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let invalid = || Error::config(format!("not an IP address or CIDR range: {s:?}"));
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(invalid)?,
            None => max,
        };
        Ok(TrustedRange { addr, prefix })
    }
}

impl fmt::Display for TrustedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// What the server decided about the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Client {
    pub(crate) addr: Option<SocketAddr>,
    pub(crate) scheme: &'static str,
}

/// Applies the forwarding headers of a trusted peer to `client`.
pub(crate) fn resolve(headers: &HeaderMap, trusted: &[TrustedRange], client: Client) -> Client {
    let Some(peer) = client.addr else { return client };
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !is_trusted(peer.ip()) {
        return client;
    }
    let mut resolved = client;
    if let Some(forwarded) = header(headers, "forwarded") {
        if let Some((addr, proto)) = from_forwarded(forwarded, &is_trusted) {
            resolved.addr = addr.or(resolved.addr);
            resolved.scheme = proto.unwrap_or(resolved.scheme);
        }
        return resolved;
    }
    let forwarded_for = header(headers, "x-forwarded-for").and_then(|v| from_forwarded_for(v, &is_trusted));
    let ip = match header(headers, "x-real-ip") {
        Some(v) => v.trim().parse().ok(),
        None => forwarded_for,
    };
    if let Some(ip) = ip {
        resolved.addr = Some(SocketAddr::new(ip, 0));
    }
    let proto = header(headers, "x-scheme").or_else(|| header(headers, "x-forwarded-proto"));
    if let Some(scheme) = proto.and_then(|v| scheme(v.rsplit(',').next().unwrap_or(""))) {
        resolved.scheme = scheme;
    }
    resolved
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn scheme(value: &str) -> Option<&'static str> {
    match value.trim() {
        v if v.eq_ignore_ascii_case("http") => Some("http"),
        v if v.eq_ignore_ascii_case("https") => Some("https"),
        _ => None,
    }
}

/// The hop nearest to squall (the rightmost) that is not a trusted proxy;
/// the leftmost when every hop is trusted. A hop without an address counts
/// as untrusted.
fn nearest_untrusted<T>(
    hops: Vec<T>,
    ip: impl Fn(&T) -> Option<IpAddr>,
    is_trusted: &impl Fn(IpAddr) -> bool,
) -> Option<T> {
    let mut chosen = None;
    for hop in hops.into_iter().rev() {
        let trusted = ip(&hop).is_some_and(is_trusted);
        chosen = Some(hop);
        if !trusted {
            break;
        }
    }
    chosen
}

/// The client address in an `X-Forwarded-For` list; `None` when any entry is invalid.
fn from_forwarded_for(value: &str, is_trusted: &impl Fn(IpAddr) -> bool) -> Option<IpAddr> {
    let hops: Vec<IpAddr> = value.split(',').map(|hop| hop.trim().parse().ok()).collect::<Option<_>>()?;
    nearest_untrusted(hops, |ip| Some(*ip), is_trusted)
}

/// The client address and scheme in an RFC 7239 `Forwarded` header, walked
/// like `X-Forwarded-For`. `None` when an element is malformed or a `for`
/// is unknown or obfuscated (then the header is ignored).
fn from_forwarded(
    value: &str,
    is_trusted: &impl Fn(IpAddr) -> bool,
) -> Option<(Option<SocketAddr>, Option<&'static str>)> {
    let mut elements = Vec::new();
    for element in value.split(',') {
        let (mut addr, mut proto) = (None, None);
        for pair in element.split(';').filter(|p| !p.trim().is_empty()) {
            let (name, raw) = pair.trim().split_once('=')?;
            let raw = raw.trim();
            let raw = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw);
            if name.eq_ignore_ascii_case("for") {
                addr = Some(forwarded_node(raw)?);
            } else if name.eq_ignore_ascii_case("proto") {
                proto = Some(scheme(raw)?);
            }
        }
        elements.push((addr, proto));
    }
    nearest_untrusted(elements, |(addr, _)| addr.map(|a| a.ip()), is_trusted)
}

/// A `for=` node: `192.0.2.60`, `192.0.2.60:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn forwarded_node(raw: &str) -> Option<SocketAddr> {
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    if let Some(v6) = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return Some(SocketAddr::new(IpAddr::V6(v6.parse().ok()?), 0));
    }
    raw.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_with(headers: &[(&str, &str)], trusted: &[&str], peer: &str) -> Client {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.append(http::HeaderName::from_bytes(n.as_bytes()).unwrap(), v.parse().unwrap());
        }
        let trusted: Vec<TrustedRange> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        resolve(&map, &trusted, Client { addr: Some(peer.parse().unwrap()), scheme: "http" })
    }

    fn ip(c: Client) -> String {
        c.addr.unwrap().ip().to_string()
    }

    #[test]
    fn ranges_match_by_prefix() {
        let r: TrustedRange = "10.1.0.0/16".parse().unwrap();
        assert!(r.contains("10.1.200.3".parse().unwrap()));
        assert!(!r.contains("10.2.0.1".parse().unwrap()));
        assert!(r.contains("::ffff:10.1.0.9".parse().unwrap()));
        let r: TrustedRange = "10.0.0.0/9".parse().unwrap();
        assert!(r.contains("10.127.0.1".parse().unwrap()) && !r.contains("10.128.0.1".parse().unwrap()));
        let r: TrustedRange = "fd00::/8".parse().unwrap();
        assert!(r.contains("fd12::1".parse().unwrap()) && !r.contains("fe80::1".parse().unwrap()));
        assert!("0.0.0.0/0".parse::<TrustedRange>().unwrap().contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "1.2.3.4/x", "::1/129"] {
            assert!(bad.parse::<TrustedRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_skips_trusted_hops() {
        let peer = "127.0.0.1:5000";
        let lo = ["127.0.0.1"];
        assert_eq!(ip(resolve_with(&[("X-Forwarded-For", "127.0.0.1, 4.4.4.4")], &lo, peer)), "4.4.4.4");
        let with_five = ["127.0.0.1", "5.5.5.5"];
        let xff = [("X-Forwarded-For", "127.0.0.1, 4.4.4.4, 5.5.5.5")];
        assert_eq!(ip(resolve_with(&xff, &with_five, peer)), "4.4.4.4");
        assert_eq!(ip(resolve_with(&xff, &lo, peer)), "5.5.5.5");
        assert_eq!(ip(resolve_with(&[("X-Forwarded-For", "4.4.4.4<script>")], &lo, peer)), "127.0.0.1");
        assert_eq!(ip(resolve_with(&[("X-Real-IP", "4.4.4.4")], &lo, peer)), "4.4.4.4");
        assert_eq!(ip(resolve_with(&[("X-Real-IP", "4.4.4.4<script>")], &lo, peer)), "127.0.0.1");
    }

    #[test]
    fn scheme_from_the_last_value() {
        let lo = ["127.0.0.1"];
        let peer = "127.0.0.1:5000";
        assert_eq!(resolve_with(&[("X-Scheme", "https")], &lo, peer).scheme, "https");
        assert_eq!(resolve_with(&[("X-Forwarded-Proto", "https , http")], &lo, peer).scheme, "http");
        assert_eq!(resolve_with(&[("X-Forwarded-Proto", "gopher")], &lo, peer).scheme, "http");
    }

    #[test]
    fn untrusted_peer_changes_nothing() {
        let headers = [("X-Real-IP", "4.4.4.4"), ("X-Scheme", "https"), ("Forwarded", "for=4.4.4.4;proto=https")];
        let c = resolve_with(&headers, &["10.0.0.0/8"], "127.0.0.1:5000");
        assert_eq!((ip(c), c.scheme), ("127.0.0.1".to_owned(), "http"));
    }

    #[test]
    fn rfc7239_forwarded() {
        let lo = ["127.0.0.0/8", "10.0.0.0/8"];
        let peer = "127.0.0.1:5000";
        let c = resolve_with(&[("Forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43")], &lo, peer);
        assert_eq!((ip(c), c.scheme), ("192.0.2.60".to_owned(), "https"));
        let c = resolve_with(&[("Forwarded", r#"for="[2001:db8:cafe::17]:4711", for=10.0.0.2"#)], &lo, peer);
        assert_eq!(c.addr, Some("[2001:db8:cafe::17]:4711".parse().unwrap()));
        let c = resolve_with(&[("Forwarded", "for=unknown")], &lo, peer);
        assert_eq!(ip(c), "127.0.0.1");
        let c = resolve_with(&[("Forwarded", "for=_hidden, for=4.4.4.4")], &lo, peer);
        assert_eq!(ip(c), "127.0.0.1", "one bad element voids the header");
    }
}
