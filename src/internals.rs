//! Internals exposed for squall's own benchmarks and fuzz targets (`fuzz/`);
//! not part of the API, and free to change.

use crate::server::http1::body::Decoder;
use crate::server::http1::decode::{self, RequestFraming};

/// Parses one request head; true when it is complete and valid.
pub fn parse_head(buf: &[u8]) -> bool {
    matches!(decode::parse(buf), Ok(Some(_)))
}

/// Parses one request head: `Ok(Some(consumed))` for a complete valid head,
/// `Ok(None)` when more bytes are needed, `Err(status)` for a refused one.
///
/// # Errors
///
/// The status squall answers a refused head with.
pub fn parse_head_status(buf: &[u8]) -> Result<Option<usize>, u16> {
    match decode::parse(buf) {
        Ok(Some((_, consumed))) => Ok(Some(consumed)),
        Ok(None) => Ok(None),
        Err(reject) => Err(reject.status.as_u16()),
    }
}

/// Decodes a chunked body from `input` handed to the decoder in two pieces,
/// split at `split`: the body and the bytes of `input` it used, `None` when
/// the input ends before the body does.
///
/// # Errors
///
/// Why the body is malformed.
pub fn decode_chunked(input: &[u8], split: usize) -> Result<Option<(Vec<u8>, usize)>, &'static str> {
    let mut decoder = Decoder::new(RequestFraming::Chunked);
    let mut body = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let split = split.min(input.len());
    let mut used = 0;
    for piece in [&input[..split], &input[split..]] {
        pending.extend_from_slice(piece);
        loop {
            let step = decoder.decode(&pending).map_err(|m| m.0)?;
            body.extend_from_slice(&pending[step.data.clone()]);
            pending.drain(..step.consumed);
            used += step.consumed;
            if decoder.is_done() {
                return Ok(Some((body, used)));
            }
            if step.consumed == 0 {
                break;
            }
        }
    }
    Ok(None)
}

pub use crate::web::multipart::ParsedPart;

/// Parses a `multipart/form-data` body with `boundary`, handed to the
/// parser in two pieces split at `split` (1 KiB bounds on the preamble and
/// each part's headers): its parts.
///
/// # Errors
///
/// The status squall answers a refused body with.
pub fn parse_multipart(boundary: &str, body: &[u8], split: usize) -> Result<Vec<ParsedPart>, u16> {
    crate::web::multipart::parse_in_two(boundary, body, split)
}

/// Reads a compiled gettext catalog: how many messages it translates, or
/// why it is refused.
///
/// # Errors
///
/// Why the catalog is refused.
#[cfg(feature = "locale")]
pub fn read_mo(bytes: &[u8]) -> Result<usize, String> {
    crate::locale::read_mo(bytes)
}

/// Reads a gettext `Plural-Forms` header value: the number of forms and
/// the form chosen for each of `counts`.
///
/// # Errors
///
/// Why the rule is refused.
#[cfg(feature = "locale")]
pub fn plural_forms(header: &str, counts: &[u64]) -> Result<(usize, Vec<usize>), String> {
    crate::locale::plural_forms(header, counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_entry_points_agree_with_the_parsers() {
        assert_eq!(parse_head_status(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest"), Ok(Some(27)));
        assert_eq!(parse_head_status(b"GET / HTTP/1.1\r\n"), Ok(None));
        assert_eq!(parse_head_status(b"GET / HTTP/1.1\r\n\r\n"), Err(400));
        let raw = b"3\r\nabc\r\n0\r\n\r\nNEXT";
        for split in 0..=raw.len() {
            assert_eq!(decode_chunked(raw, split), Ok(Some((b"abc".to_vec(), 13))), "split {split}");
        }
        assert_eq!(decode_chunked(b"3\r\nab", 2), Ok(None));
        assert!(decode_chunked(b"zz\r\n", 1).is_err());
        let form = b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nhi\r\n--b--\r\n";
        for split in 0..=form.len() {
            let parts = parse_multipart("b", form, split);
            assert_eq!(parts, Ok(vec![(Some("f".into()), Some("a.txt".into()), b"hi".to_vec())]), "split {split}");
        }
        assert_eq!(parse_multipart("b", b"--b\r\nno blank line", 3), Err(400));
    }

    #[cfg(feature = "locale")]
    #[test]
    fn the_catalog_entry_points_agree_with_the_readers() {
        let russian =
            "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);";
        assert_eq!(plural_forms(russian, &[1, 3, 5]), Ok((3, vec![0, 1, 2])));
        assert!(plural_forms("nplurals=2; plural=n +;", &[1]).is_err());
        // A little-endian catalog with no strings.
        let empty = [0xde, 0x12, 0x04, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28, 0, 0, 0];
        assert_eq!(read_mo(&empty), Ok(0));
        assert!(read_mo(b"not a catalog").is_err());
    }
}
