//! `decompress_request`: gzip request bodies inflated on the way to the
//! handler, never past the body size limit.

use std::io::Write;

use bytes::Bytes;
use flate2::write::MultiGzDecoder;
use http::header::{self, HeaderMap, HeaderValue};

/// Compressed input is fed in pieces this large, so one piece inflates to at
/// most about a megabyte (deflate's ratio is bounded near 1032:1) before the
/// size limit is checked again.
const PIECE: usize = 1024;

/// Prepares the headers of a gzip request for inflation: drops
/// `Content-Encoding` and `Content-Length` (no longer true of what the handler
/// reads) and records `X-Consumed-Content-Encoding: gzip`. `false`, and the
/// headers untouched, for any other encoding.
pub(super) fn take_gzip(headers: &mut HeaderMap) -> bool {
    let mut codings = headers.get_all(header::CONTENT_ENCODING).iter();
    let gzip = match (codings.next(), codings.next()) {
        (Some(v), None) => v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"gzip"),
        _ => false,
    };
    if gzip {
        headers.remove(header::CONTENT_ENCODING);
        headers.remove(header::CONTENT_LENGTH);
        headers.insert("x-consumed-content-encoding", HeaderValue::from_static("gzip"));
    }
    gzip
}

/// Why inflating stopped.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Fault {
    Corrupt,
    TooLarge,
}

/// A streaming gzip decoder (concatenated members allowed) that counts its output.
pub(super) struct Inflate {
    decoder: MultiGzDecoder<Vec<u8>>,
    produced: u64,
}

impl std::fmt::Debug for Inflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflate").field("produced", &self.produced).finish_non_exhaustive()
    }
}

impl Inflate {
    pub(super) fn new() -> Self {
        Inflate { decoder: MultiGzDecoder::new(Vec::new()), produced: 0 }
    }

    /// Inflates `input`; fails once the output passes `limit` bytes in all.
    pub(super) fn feed(&mut self, input: &[u8], limit: u64) -> Result<Bytes, Fault> {
        for piece in input.chunks(PIECE) {
            self.decoder.write_all(piece).map_err(|_| Fault::Corrupt)?;
            if self.produced + self.decoder.get_ref().len() as u64 > limit {
                return Err(Fault::TooLarge);
            }
        }
        Ok(self.take())
    }

    /// Ends the stream: fails when it stopped mid-member.
    pub(super) fn finish(&mut self, limit: u64) -> Result<Bytes, Fault> {
        self.decoder.try_finish().map_err(|_| Fault::Corrupt)?;
        if self.produced + self.decoder.get_ref().len() as u64 > limit {
            return Err(Fault::TooLarge);
        }
        Ok(self.take())
    }

    fn take(&mut self) -> Bytes {
        let out = std::mem::take(self.decoder.get_mut());
        self.produced += out.len() as u64;
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn inflates_byte_by_byte_and_two_members() {
        let mut packed = gzip(b"hello ");
        packed.extend(gzip(b"world"));
        let mut inflate = Inflate::new();
        let mut out = Vec::new();
        for b in &packed {
            out.extend_from_slice(&inflate.feed(&[*b], 100).unwrap());
        }
        out.extend_from_slice(&inflate.finish(100).unwrap());
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let packed = gzip(&vec![0; 50 * 1024 * 1024]);
        assert!(packed.len() < 100 * 1024, "{}", packed.len());
        let mut inflate = Inflate::new();
        assert_eq!(inflate.feed(&packed, 1024 * 1024), Err(Fault::TooLarge));
        assert!(inflate.decoder.get_ref().len() < 3 * 1024 * 1024, "stopped soon after the limit");
    }

    #[test]
    fn corrupt_and_truncated_streams_fail() {
        let mut inflate = Inflate::new();
        assert_eq!(inflate.feed(b"not gzip at all", 100), Err(Fault::Corrupt));
        let packed = gzip(b"hello");
        let mut inflate = Inflate::new();
        inflate.feed(&packed[..packed.len() - 4], 100).unwrap();
        assert_eq!(inflate.finish(100), Err(Fault::Corrupt));
    }

    #[test]
    fn only_plain_gzip_is_taken() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("GZIP"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("10"));
        assert!(take_gzip(&mut h));
        assert!(h.get(header::CONTENT_LENGTH).is_none() && h["x-consumed-content-encoding"] == "gzip");
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert!(!take_gzip(&mut h) && h.contains_key(header::CONTENT_ENCODING));
    }
}
