//! A request body read whole before a gateway app is called: in memory up to
//! a threshold, then in an unlinked temporary file. The body arrives at the
//! client's pace on the event loop, so a client sending slowly costs a buffer
//! and never holds one of the app's threads; the app then reads it at disk
//! speed and always knows its length.

use super::Input;
use crate::error::HttpError;
use crate::web::{Body, Spool, Spooled};

/// Reads `body` to its end: `(input, length)`. Past `in_memory` bytes the
/// body goes to a temporary file (written on the `blocking` pool, never on
/// the event loop).
///
/// # Errors
///
/// The body's own failure (`413` over the server's limit, `400` malformed,
/// `408` too slow), or `500` when the temporary file cannot be written.
pub(crate) async fn read_whole(body: Body, in_memory: usize) -> Result<(Input, u64), HttpError> {
    let (kept, length) = keep_whole(body, in_memory).await?;
    Ok(match kept {
        Spooled::Memory(bytes) => (Input::buffered(bytes.into()), length),
        Spooled::File(file) => (Input::reader(Box::new(file)), length),
    })
}

/// [`read_whole`], keeping the bytes or the file itself: a caller that may
/// send the body twice (a FastCGI request retried on a fresh connection)
/// rewinds the file.
pub(crate) async fn keep_whole(mut body: Body, in_memory: usize) -> Result<(Spooled, u64), HttpError> {
    let mut spool = Spool::new(in_memory);
    while let Some(chunk) = body.chunk().await {
        // A body fault keeps its status; a file that cannot be written is a 500.
        spool.write(&chunk?).await?;
    }
    let length = spool.len();
    Ok((spool.finish().await?, length))
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read};

    use super::*;

    fn chunks(sizes: &[usize]) -> Body {
        let parts: Vec<io::Result<bytes::Bytes>> =
            sizes.iter().enumerate().map(|(i, &n)| Ok(vec![b'a' + i as u8; n].into())).collect();
        Body::from_stream(futures_lite::stream::iter(parts))
    }

    fn read(mut input: Input) -> Vec<u8> {
        let mut all = Vec::new();
        input.read_to_end(&mut all).unwrap();
        all
    }

    #[test]
    fn a_small_body_stays_in_memory_a_large_one_goes_to_a_file_intact() {
        crate::rt::block_on(async {
            let (input, length) = read_whole(chunks(&[3, 4]), 16).await.unwrap();
            assert_eq!((read(input), length), (b"aaabbbb".to_vec(), 7));

            let (input, length) = read_whole(chunks(&[10, 10, 10]), 16).await.unwrap();
            let mut expected = vec![b'a'; 10];
            expected.extend([b'b'; 10]);
            expected.extend([b'c'; 10]);
            assert_eq!((read(input), length), (expected, 30));
        });
    }

    #[test]
    fn a_failing_body_keeps_its_status_in_memory_and_on_file() {
        crate::rt::block_on(async {
            for in_memory in [1024, 4] {
                let fault = crate::error::BodyError { status: http::StatusCode::PAYLOAD_TOO_LARGE, reason: "too big" };
                let parts = vec![Ok(bytes::Bytes::from_static(b"hello")), Err(fault.into_io())];
                let body = Body::from_stream(futures_lite::stream::iter(parts));
                let err = read_whole(body, in_memory).await.unwrap_err();
                assert_eq!(err.status(), 413, "in_memory {in_memory}");
            }
        });
    }
}
