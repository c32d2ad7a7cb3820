//! The `multipart/form-data` parser: any body gives the same parts, or the
//! same refusal, however its bytes are split between two reads; never a
//! panic, and a refusal is 400 or 413.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte splits the body; a short boundary makes delimiters,
    // near-misses and the preamble and header bounds easy to reach.
    let Some((&split, body)) = data.split_first() else { return };
    let whole = squall::__private::parse_multipart("b", body, body.len());
    let split = squall::__private::parse_multipart("b", body, usize::from(split) * 8 % (body.len() + 1));
    assert_eq!(whole, split);
    if let Err(status) = whole {
        assert!(status == 400 || status == 413, "status {status}");
    }
});
