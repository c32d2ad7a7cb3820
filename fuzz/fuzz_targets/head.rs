//! The request-head parser: any bytes give a head, "need more" or a status,
//! never a panic; a head never claims more bytes than it was given, and a
//! refusal is a 4xx or 5xx that squall knows how to send.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match squall::__private::parse_head_status(data) {
        Ok(Some(consumed)) => assert!(consumed <= data.len()),
        Ok(None) => {}
        Err(status) => assert!((400..=505).contains(&status), "status {status}"),
    }
});
