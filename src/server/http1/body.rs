//! Request body framing: a decoder per request, fed from the connection's
//! read buffer, yielding body bytes without copying them out of it.
//!
//! Chunk sizes, extensions and trailers are validated strictly (CRLF line ends,
//! bounded lengths): a body that cannot be delimited exactly is an error, and
//! the connection answers `400` and closes instead of guessing.

use std::ops::Range;

use super::decode::RequestFraming;

/// Longest chunk extension, and longest trailer section, accepted (bytes).
const MAX_CHUNK_META: usize = 8 * 1024;

/// What one call to [`Decoder::decode`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// Bytes of the input used up (framing and data alike).
    pub(crate) consumed: usize,
    /// Body bytes within the input; empty when the input held none.
    pub(crate) data: Range<usize>,
}

/// Why a chunked body is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoder {
    Length { remaining: u64 },
    Chunked(Chunk),
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    Size {
        value: u64,
        digits: u8,
    },
    Extension {
        value: u64,
        seen: usize,
    },
    SizeLf {
        value: u64,
    },
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    /// In the trailer section: `line` bytes of the current field line read,
    /// the name ended by its colon when `in_value`.
    Trailer {
        line: usize,
        total: usize,
        in_value: bool,
    },
    TrailerLf {
        line: usize,
        total: usize,
    },
    End,
}

impl Decoder {
    pub(crate) fn new(framing: RequestFraming) -> Self {
        match framing {
            RequestFraming::None => Decoder::Done,
            RequestFraming::Length(n) => Decoder::Length { remaining: n },
            RequestFraming::Chunked => Decoder::Chunked(Chunk::Size { value: 0, digits: 0 }),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        *self == Decoder::Done
    }

    /// Consumes framing from `input` up to the next body bytes, the end of the
    /// input, or the end of the body.
    pub(crate) fn decode(&mut self, input: &[u8]) -> Result<Step, Malformed> {
        let step = match self {
            Decoder::Done => Step { consumed: 0, data: 0..0 },
            Decoder::Length { remaining } => {
                let n = take(remaining, input.len());
                Step { consumed: n, data: 0..n }
            }
            Decoder::Chunked(state) => decode_chunked(state, input)?,
        };
        if matches!(self, Decoder::Length { remaining: 0 } | Decoder::Chunked(Chunk::End)) {
            *self = Decoder::Done;
        }
        Ok(step)
    }
}

/// Takes up to `available` bytes from a count of `remaining`.
fn take(remaining: &mut u64, available: usize) -> usize {
    let n = usize::try_from(*remaining).map_or(available, |r| r.min(available));
    *remaining -= n as u64;
    n
}

fn is_text(b: u8) -> bool {
    matches!(b, b'\t' | b' '..=b'~' | 0x80..)
}

/// `tchar` (RFC 9110 §5.6.2): the bytes of a token, such as a field name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn total_of(state: &Chunk) -> usize {
    match *state {
        Chunk::Trailer { total, .. } | Chunk::TrailerLf { total, .. } => total,
        _ => 0,
    }
}

fn decode_chunked(state: &mut Chunk, input: &[u8]) -> Result<Step, Malformed> {
    let mut i = 0;
    while i < input.len() && *state != Chunk::End {
        let b = input[i];
        *state = match *state {
            Chunk::Size { value, digits } => match (b as char).to_digit(16) {
                Some(d) if digits < 16 => Chunk::Size { value: value << 4 | u64::from(d), digits: digits + 1 },
                Some(_) => return Err(Malformed("chunk size too large")),
                None if digits > 0 && b == b';' => Chunk::Extension { value, seen: 0 },
                None if digits > 0 && b == b'\r' => Chunk::SizeLf { value },
                None => return Err(Malformed("invalid chunk size")),
            },
            Chunk::Extension { value, .. } if b == b'\r' => Chunk::SizeLf { value },
            Chunk::Extension { value, seen } if is_text(b) && seen < MAX_CHUNK_META => {
                Chunk::Extension { value, seen: seen + 1 }
            }
            Chunk::Extension { .. } => return Err(Malformed("invalid chunk extension")),
            Chunk::SizeLf { value: 0 } if b == b'\n' => Chunk::Trailer { line: 0, total: 0, in_value: false },
            Chunk::SizeLf { value } if b == b'\n' => Chunk::Data { remaining: value },
            Chunk::SizeLf { .. } => return Err(Malformed("chunk size line not ended by CRLF")),
            Chunk::Data { mut remaining } => {
                let n = take(&mut remaining, input.len() - i);
                *state = if remaining == 0 { Chunk::DataCr } else { Chunk::Data { remaining } };
                return Ok(Step { consumed: i + n, data: i..i + n });
            }
            Chunk::DataCr if b == b'\r' => Chunk::DataLf,
            Chunk::DataLf if b == b'\n' => Chunk::Size { value: 0, digits: 0 },
            Chunk::DataCr | Chunk::DataLf => return Err(Malformed("chunk data not followed by CRLF")),
            // A trailer line is a field line, as in a head (RFC 9112 §7.1.2, §5):
            // a token, a colon, then text; no obs-fold (§5.2), no line without a colon.
            Chunk::Trailer { .. } if total_of(state) >= MAX_CHUNK_META => {
                return Err(Malformed("trailer section too large"));
            }
            Chunk::Trailer { line: 0, .. } if b == b'\r' => Chunk::TrailerLf { line: 0, total: total_of(state) },
            Chunk::Trailer { line: 0, .. } if b == b' ' || b == b'\t' => {
                return Err(Malformed("obsolete line folding in the trailer section"));
            }
            Chunk::Trailer { line, total, in_value: false } if is_tchar(b) => {
                Chunk::Trailer { line: line + 1, total: total + 1, in_value: false }
            }
            Chunk::Trailer { line, total, in_value: false } if b == b':' && line > 0 => {
                Chunk::Trailer { line: line + 1, total: total + 1, in_value: true }
            }
            Chunk::Trailer { in_value: false, .. } => return Err(Malformed("invalid trailer field name")),
            Chunk::Trailer { line, total, in_value: true } if b == b'\r' => Chunk::TrailerLf { line, total },
            Chunk::Trailer { line, total, in_value: true } if is_text(b) => {
                Chunk::Trailer { line: line + 1, total: total + 1, in_value: true }
            }
            Chunk::Trailer { .. } => return Err(Malformed("invalid trailer field value")),
            Chunk::TrailerLf { line: 0, .. } if b == b'\n' => Chunk::End,
            Chunk::TrailerLf { total, .. } if b == b'\n' => Chunk::Trailer { line: 0, total, in_value: false },
            Chunk::TrailerLf { .. } => return Err(Malformed("trailer line not ended by CRLF")),
            Chunk::End => unreachable!("the loop stops at End"),
        };
        i += 1;
    }
    Ok(Step { consumed: i, data: i..i })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `piece` bytes; returns the body or the error.
    fn run(framing: RequestFraming, input: &[u8], piece: usize) -> Result<(Vec<u8>, usize), Malformed> {
        let mut decoder = Decoder::new(framing);
        let mut body = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut fed = 0;
        while !decoder.is_done() {
            if fed < input.len() {
                let end = (fed + piece).min(input.len());
                pending.extend_from_slice(&input[fed..end]);
                fed = end;
            } else if pending.is_empty() {
                break;
            }
            loop {
                let step = decoder.decode(&pending)?;
                body.extend_from_slice(&pending[step.data.clone()]);
                pending.drain(..step.consumed);
                if step.consumed == 0 || decoder.is_done() {
                    break;
                }
            }
        }
        assert!(decoder.is_done(), "body incomplete");
        Ok((body, fed - pending.len()))
    }

    #[test]
    fn length_stops_at_its_count() {
        let (body, used) = run(RequestFraming::Length(5), b"helloGET", 3).unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(used, 5);
    }

    #[test]
    fn chunked_with_extensions_and_trailers_byte_by_byte() {
        let raw = b"5;name=val\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
        for piece in [1, 2, 7, raw.len()] {
            let (body, used) = run(RequestFraming::Chunked, raw, piece).unwrap();
            assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz");
            assert_eq!(&raw[used..], b"NEXT", "piece {piece}");
        }
    }

    #[test]
    fn bad_chunk_sizes_are_malformed() {
        for raw in [&b"1_a\r\nx\r\n0\r\n\r\n"[..], b"\r\n", b"-1\r\n", b"+1\r\n", b"g\r\n", b" 1\r\n", b"1\nx\r\n"] {
            assert!(run(RequestFraming::Chunked, raw, 64).is_err(), "{:?}", String::from_utf8_lossy(raw));
        }
        assert!(run(RequestFraming::Chunked, b"11111111111111111\r\n", 64).is_err(), "17 hex digits overflow");
    }

    #[test]
    fn data_must_end_with_crlf() {
        assert!(run(RequestFraming::Chunked, b"1\r\nxy\r\n0\r\n\r\n", 64).is_err());
    }

    #[test]
    fn rfc9112_7_1_2_trailer_lines_are_field_lines() {
        let ok = b"0\r\nX-Sum: abc\r\nY:\r\nZ:  spaced value \r\n\r\n";
        for piece in [1, 3, ok.len()] {
            assert!(run(RequestFraming::Chunked, ok, piece).is_ok(), "piece {piece}");
        }
        for raw in [
            &b"0\r\nNoColon\r\n\r\n"[..],
            b"0\r\n: no name\r\n\r\n",
            b"0\r\nBad Name: x\r\n\r\n",
            b"0\r\nX: a\x01b\r\n\r\n",
            b"0\r\nX: y\n\r\n",
        ] {
            assert!(run(RequestFraming::Chunked, raw, 64).is_err(), "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn rfc9112_5_2_obs_fold_in_trailers_is_malformed() {
        assert!(run(RequestFraming::Chunked, b"0\r\nX: a\r\n folded\r\n\r\n", 64).is_err());
        assert!(run(RequestFraming::Chunked, b"0\r\nX: a\r\n\tfolded\r\n\r\n", 64).is_err());
    }

    #[test]
    fn oversized_trailers_are_malformed() {
        let mut raw = b"0\r\nX: ".to_vec();
        raw.extend(std::iter::repeat_n(b'a', MAX_CHUNK_META + 1));
        raw.extend_from_slice(b"\r\n\r\n");
        assert!(run(RequestFraming::Chunked, &raw, 512).is_err());
    }
}
