//! A compiled gettext catalog (`.mo`): any bytes give a catalog or a
//! reason, never a panic, and never more messages than the bytes can hold
//! (each has an 8-byte entry in the table of originals).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(messages) = squall::__private::read_mo(data) {
        assert!(messages <= data.len() / 8, "{messages} messages in {} bytes", data.len());
    }
});
