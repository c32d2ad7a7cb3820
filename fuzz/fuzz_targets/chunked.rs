//! The chunked body decoder: the same bytes give the same body, the same
//! length used and the same verdict however they are split between two reads.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    let whole = squall::__private::decode_chunked(input, input.len());
    let split = squall::__private::decode_chunked(input, usize::from(split) % (input.len() + 1));
    assert_eq!(whole, split);
    if let Ok(Some((body, used))) = whole {
        assert!(body.len() <= used && used <= input.len());
    }
});
