#![no_main]
//! Thin wrapper over `coyote_http::fuzz_form`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| coyote_http::fuzz_form(data));
