//! The header block a CGI program (or a FastCGI responder) writes before
//! its body (RFC 3875 §6.2, §6.3): `Name: value` lines up to a blank line.

use std::io::BufRead;

/// Longest header block accepted from a program, in bytes.
const MAX_HEADER_BLOCK: usize = 64 * 1024;

/// The parsed CGI header block.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct HeaderBlock {
    /// The status line to answer with, `200 OK` when the program gave none.
    pub(crate) status: String,
    /// Values are bytes: a program may send Latin-1 (`filename="caf\xe9.txt"`).
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    /// A lone local `Location` (RFC 3875 §6.2.2): the response is that of
    /// this path, not a redirect for the client.
    pub(crate) local_redirect: Option<String>,
}

/// Reads the header block; the reader is left at the first body byte.
///
/// # Errors
///
/// Why the block is unusable (cut short, too large, malformed), for the log;
/// the client gets `502`.
pub(crate) fn read_header_block(stdout: &mut impl BufRead) -> Result<HeaderBlock, String> {
    let mut status = None;
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    let mut total = 0;
    loop {
        let mut line = Vec::new();
        let n = stdout.read_until(b'\n', &mut line).map_err(|e| format!("reading its output: {e}"))?;
        total += n;
        if n == 0 {
            return Err("exited before the end of its header block".into());
        }
        if total > MAX_HEADER_BLOCK {
            return Err("header block too large".into());
        }
        while matches!(line.last(), Some(b'\r' | b'\n')) {
            line.pop();
        }
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            // obs-fold (RFC 9112 §5.2): the line continues the previous value.
            let Some((_, value)) = headers.last_mut() else {
                return Err("header block starts with a continuation line".into());
            };
            value.push(b' ');
            value.extend_from_slice(line.trim_ascii());
            continue;
        }
        let colon = line.iter().position(|&b| b == b':').ok_or_else(|| malformed(&line))?;
        let name = std::str::from_utf8(&line[..colon]).map_err(|_| malformed(&line))?.trim();
        let value = line[colon + 1..].trim_ascii().to_vec();
        if name.is_empty()
            || !name.bytes().all(|b| b.is_ascii_graphic())
            || value.iter().any(|&b| b < b' ' && b != b'\t')
        {
            return Err(malformed(&line));
        }
        if name.eq_ignore_ascii_case("status") {
            status = Some(
                valid_status(&value)
                    .ok_or_else(|| format!("malformed Status {:?}", String::from_utf8_lossy(&value)))?,
            );
        } else if !HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            headers.push((name.to_owned(), value));
        }
    }
    if headers.is_empty() && status.is_none() {
        return Err("empty header block".into());
    }
    let location = headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("location"));
    let local_redirect = match (&status, headers.as_slice()) {
        (None, [(name, value)]) if name.eq_ignore_ascii_case("location") && value.starts_with(b"/") => {
            Some(String::from_utf8_lossy(value).into_owned())
        }
        _ => None,
    };
    // Any other Location without Status is a client redirect (RFC 3875 §6.2.3-4).
    let status = status.unwrap_or_else(|| if location { "302 Found".into() } else { "200 OK".into() });
    Ok(HeaderBlock { status, headers, local_redirect })
}

/// Connection-specific fields (RFC 9110 §7.6.1): the program's connection is
/// not the client's, so they are dropped.
const HOP_BY_HOP: [&str; 7] =
    ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

fn malformed(line: &[u8]) -> String {
    format!("malformed header line {:?}", String::from_utf8_lossy(line))
}

/// RFC 3875 §6.3.3: `Status: 3DIGIT [SP reason-phrase]`, else `None`.
fn valid_status(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?;
    let (code, reason) = text.split_once(' ').unwrap_or((text, ""));
    let ok =
        code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) && (100..=999).contains(&code.parse::<u16>().ok()?);
    ok.then(|| if reason.is_empty() { code.to_owned() } else { format!("{code} {}", reason.trim()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Result<HeaderBlock, String> {
        read_header_block(&mut &raw[..])
    }

    fn pairs(block: &HeaderBlock) -> Vec<(&str, &str)> {
        block.headers.iter().map(|(n, v)| (n.as_str(), std::str::from_utf8(v).unwrap())).collect()
    }

    #[test]
    fn document_response_defaults_to_200_and_leaves_the_body_unread() {
        // RFC 3875 §6.2.1: a Content-Type and no Status is a 200 document.
        let mut raw: &[u8] = b"Content-Type: text/plain\r\nX-A:  spaced  \n\nbody";
        let block = read_header_block(&mut raw).unwrap();
        assert_eq!(block.status, "200 OK");
        assert_eq!(pairs(&block), [("Content-Type", "text/plain"), ("X-A", "spaced")]);
        assert_eq!(block.local_redirect, None);
        assert_eq!(raw, b"body");
    }

    #[test]
    fn status_is_taken_out_of_the_headers_in_any_case() {
        let block = parse(b"STATUS: 404 Not Found\nContent-Type: text/html\n\n").unwrap();
        assert_eq!(block.status, "404 Not Found");
        assert_eq!(pairs(&block), [("Content-Type", "text/html")]);
    }

    #[test]
    fn a_lone_local_location_is_a_local_redirect() {
        // RFC 3875 §6.2.2: only a local path, and nothing else in the block.
        let block = parse(b"Location: /other?x=1\n\n").unwrap();
        assert_eq!(block.local_redirect.as_deref(), Some("/other?x=1"));
    }

    #[test]
    fn other_locations_are_client_redirects() {
        // RFC 3875 §6.2.3 and §6.2.4: an absolute URI, or a Location with
        // other headers, goes to the client as a 302 unless a Status says otherwise.
        let absolute = parse(b"Location: http://example.com/\n\n").unwrap();
        assert_eq!((absolute.status.as_str(), absolute.local_redirect), ("302 Found", None));
        let with_body = parse(b"Location: /x\nContent-Type: text/html\n\n").unwrap();
        assert_eq!((with_body.status.as_str(), with_body.local_redirect), ("302 Found", None));
        let moved = parse(b"Status: 301 Moved Permanently\nLocation: /x\n\n").unwrap();
        assert_eq!((moved.status.as_str(), moved.local_redirect), ("301 Moved Permanently", None));
    }

    #[test]
    fn malformed_blocks_are_refused() {
        for raw in [
            &b""[..],
            b"Content-Type: text/plain\n",
            b"\n",
            b"no colon here\n\n",
            b": empty name\n\n",
            b"Bad Name: x\n\n",
        ] {
            assert!(parse(raw).is_err(), "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn values_are_bytes_folds_are_joined_hop_by_hop_is_dropped() {
        let block = parse(b"Content-Disposition: attachment; filename=\"caf\xe9.txt\"\nX-Long: one\n  two\nConnection: close\nTransfer-Encoding: chunked\nKeep-Alive: 5\n\n").unwrap();
        assert_eq!(block.headers[0].1, b"attachment; filename=\"caf\xe9.txt\"", "Latin-1 passes through");
        assert_eq!(block.headers[1], ("X-Long".to_owned(), b"one two".to_vec()), "RFC 9112 §5.2 obs-fold");
        assert_eq!(block.headers.len(), 2, "RFC 9110 §7.6.1 hop-by-hop fields dropped");
    }

    #[test]
    fn rfc3875_6_3_3_a_status_must_start_with_three_digits() {
        assert_eq!(parse(b"Status: 299 Fine Thanks\n\n").unwrap().status, "299 Fine Thanks");
        assert_eq!(parse(b"Status: 404\n\n").unwrap().status, "404");
        for bad in [&b"Status: OK\n\n"[..], b"Status: 2000 X\n\n", b"Status: 20 X\n\n", b"Status: 099 X\n\n"] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_block_past_the_limit_is_refused() {
        let mut raw = Vec::new();
        while raw.len() <= MAX_HEADER_BLOCK {
            raw.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
        }
        raw.extend_from_slice(b"\n");
        assert_eq!(parse(&raw).unwrap_err(), "header block too large");
    }
}
