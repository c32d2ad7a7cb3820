//! FastCGI 1.0 records: the 8-byte header, the name-value pairs of
//! `FCGI_PARAMS`, `FCGI_BEGIN_REQUEST` and `FCGI_END_REQUEST` bodies.

/// Record types this responder client sends or reads.
pub(super) const BEGIN_REQUEST: u8 = 1;
pub(super) const END_REQUEST: u8 = 3;
pub(super) const PARAMS: u8 = 4;
pub(super) const STDIN: u8 = 5;
pub(super) const STDOUT: u8 = 6;
pub(super) const STDERR: u8 = 7;

/// `FCGI_RESPONDER`.
const RESPONDER: u16 = 1;
/// `FCGI_KEEP_CONN`: the application keeps the connection after the request.
const KEEP_CONN: u8 = 1;

/// The largest content a record carries.
pub(super) const MAX_CONTENT: usize = 65_535;

/// The one request id used: a connection carries one request at a time.
pub(super) const REQUEST_ID: u16 = 1;

/// A record's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub(super) kind: u8,
    pub(super) request_id: u16,
    pub(super) content_length: u16,
    pub(super) padding_length: u8,
}

impl Header {
    pub(super) const LEN: usize = 8;

    /// Parses a header; `None` for a version other than 1.
    pub(super) fn parse(bytes: &[u8; 8]) -> Option<Header> {
        (bytes[0] == 1).then(|| Header {
            kind: bytes[1],
            request_id: u16::from_be_bytes([bytes[2], bytes[3]]),
            content_length: u16::from_be_bytes([bytes[4], bytes[5]]),
            padding_length: bytes[6],
        })
    }
}

/// Appends a record of `kind` carrying `content` (at most [`MAX_CONTENT`]
/// bytes), padded to a multiple of 8 as the specification recommends.
pub(super) fn push_record(out: &mut Vec<u8>, kind: u8, content: &[u8]) {
    debug_assert!(content.len() <= MAX_CONTENT);
    let padding = (8 - content.len() % 8) % 8;
    out.extend_from_slice(&[1, kind]);
    out.extend_from_slice(&REQUEST_ID.to_be_bytes());
    out.extend_from_slice(&(content.len() as u16).to_be_bytes());
    out.extend_from_slice(&[padding as u8, 0]);
    out.extend_from_slice(content);
    out.extend_from_slice(&[0u8; 8][..padding]);
}

/// Appends `content` as a stream of `kind` records (none for empty content).
pub(super) fn push_stream(out: &mut Vec<u8>, kind: u8, content: &[u8]) {
    for chunk in content.chunks(MAX_CONTENT) {
        push_record(out, kind, chunk);
    }
}

/// The `FCGI_BEGIN_REQUEST` record of a responder that keeps the connection.
pub(super) fn push_begin(out: &mut Vec<u8>, keep_conn: bool) {
    let mut body = [0u8; 8];
    body[..2].copy_from_slice(&RESPONDER.to_be_bytes());
    body[2] = if keep_conn { KEEP_CONN } else { 0 };
    push_record(out, BEGIN_REQUEST, &body);
}

fn push_length(out: &mut Vec<u8>, n: usize) {
    if n < 128 {
        out.push(n as u8);
    } else {
        out.extend_from_slice(&((n as u32) | 0x8000_0000).to_be_bytes());
    }
}

/// Appends a name-value pair of `FCGI_PARAMS` (one-byte lengths below
/// 128, else four).
pub(super) fn push_param(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    push_length(out, name.len());
    push_length(out, value.len());
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}

/// The application status and protocol status of an `FCGI_END_REQUEST` body.
pub(super) fn parse_end(body: &[u8]) -> Option<(u32, u8)> {
    let app = u32::from_be_bytes(body.get(..4)?.try_into().ok()?);
    Some((app, *body.get(4)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_a_header_its_content_and_padding_to_eight() {
        let mut out = Vec::new();
        push_record(&mut out, STDIN, b"hello");
        assert_eq!(&out[..8], &[1, STDIN, 0, 1, 0, 5, 3, 0]);
        assert_eq!(&out[8..13], b"hello");
        assert_eq!(out.len(), 16, "padded to a multiple of 8");
        let header = Header::parse(out[..8].try_into().unwrap()).unwrap();
        assert_eq!(header, Header { kind: STDIN, request_id: 1, content_length: 5, padding_length: 3 });
        assert_eq!(Header::parse(&[2, 6, 0, 1, 0, 0, 0, 0]), None, "only version 1");
    }

    #[test]
    fn begin_request_asks_for_a_responder_that_keeps_the_connection() {
        let mut out = Vec::new();
        push_begin(&mut out, true);
        assert_eq!(out, [1, BEGIN_REQUEST, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
        out.clear();
        push_begin(&mut out, false);
        assert_eq!(out[10], 0, "without FCGI_KEEP_CONN the server closes after the request");
    }

    #[test]
    fn params_use_short_and_long_lengths() {
        let long = vec![b'v'; 300];
        let mut encoded = Vec::new();
        push_param(&mut encoded, b"A", b"1");
        push_param(&mut encoded, b"LONG", &long);
        assert_eq!(&encoded[..4], &[1, 1, b'A', b'1']);
        assert_eq!(&encoded[4..9], &[4, 0x80, 0, 1, 44]);
        assert_eq!(&encoded[9..13], b"LONG");
        assert_eq!(encoded.len(), 13 + 300);
    }

    #[test]
    fn streams_split_at_the_record_limit_and_end_request_parses() {
        let mut out = Vec::new();
        push_stream(&mut out, STDIN, &vec![0u8; MAX_CONTENT + 10]);
        assert_eq!(u16::from_be_bytes([out[4], out[5]]) as usize, MAX_CONTENT);
        let second = 8 + MAX_CONTENT + 1; // the first record's padding is 1
        assert_eq!(u16::from_be_bytes([out[second + 4], out[second + 5]]), 10);
        let mut empty = Vec::new();
        push_stream(&mut empty, STDIN, b"");
        assert!(empty.is_empty(), "the terminating empty record is written by the caller");
        assert_eq!(parse_end(&[0, 0, 0, 7, 0, 0, 0, 0]), Some((7, 0)));
        assert_eq!(parse_end(&[0, 0]), None);
    }
}
