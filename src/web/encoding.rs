//! `Accept-Encoding` (RFC 9110 §12.5.3): whether a client takes a content coding.

/// Whether `accept` (an `Accept-Encoding` value) allows `coding`: listed
/// with a q-value above 0, or covered by `*` with one. `gzip;q=0` means no.
pub(crate) fn coding_accepted(accept: &str, coding: &str) -> bool {
    let mut star = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let q = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case("q").then(|| v.trim().parse::<f32>().ok()).flatten()
            })
            .next()
            .unwrap_or(1.0);
        if name.eq_ignore_ascii_case(coding) || (coding == "gzip" && name.eq_ignore_ascii_case("x-gzip")) {
            return q > 0.0;
        }
        if name == "*" {
            star = Some(q > 0.0);
        }
    }
    star.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::coding_accepted;

    #[test]
    fn rfc9110_12_5_3_q_values_decide() {
        assert!(coding_accepted("gzip, deflate, br", "gzip"));
        assert!(coding_accepted("br;q=1.0, gzip;q=0.8", "br"));
        assert!(!coding_accepted("gzip;q=0", "gzip"), "q=0 is a refusal");
        assert!(!coding_accepted("GZIP;Q=0.000", "gzip"));
        assert!(coding_accepted("*", "br"));
        assert!(!coding_accepted("*;q=0", "br"));
        assert!(!coding_accepted("*, gzip;q=0", "gzip"), "explicit beats the wildcard");
        assert!(!coding_accepted("identity", "gzip"));
        assert!(!coding_accepted("", "gzip"));
        assert!(coding_accepted("x-gzip", "gzip"));
    }
}
