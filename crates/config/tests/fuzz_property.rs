//! The config fuzz entry point on stable: arbitrary text, and mutations of
//! a real configuration, must load or fail with problems, never panic.

use proptest::prelude::*;

const BASE: &str = include_str!("fixtures/full.rr.yaml");

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        coyote_config::fuzz_load(text.as_bytes());
    }

    #[test]
    fn mutated_real_config_never_panics(at in 0usize..4000, len in 0usize..40, junk in "[ -~\\n\\t]{0,20}") {
        let at = at.min(BASE.len());
        let end = (at + len).min(BASE.len());
        if BASE.is_char_boundary(at) && BASE.is_char_boundary(end) {
            let mutated = format!("{}{}{}", &BASE[..at], junk, &BASE[end..]);
            coyote_config::fuzz_load(mutated.as_bytes());
        }
    }
}
