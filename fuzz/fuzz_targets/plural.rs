//! A gettext catalog's `Plural-Forms` rule: any text gives a rule or a
//! reason, never a panic or a stack overflow; a rule picks, for every
//! count, a form below its number of forms.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Counts where rules change their answer, and the ends of the range.
const COUNTS: [u64; 9] = [0, 1, 2, 5, 11, 21, 101, u64::MAX - 1, u64::MAX];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok((forms, chosen)) = squall::__private::plural_forms(text, &COUNTS) {
        assert!((1..=16).contains(&forms), "{forms} forms");
        assert!(chosen.iter().all(|&form| form < forms), "{chosen:?} of {forms}");
    }
});
