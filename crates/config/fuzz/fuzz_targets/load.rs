#![no_main]
//! Thin wrapper over `coyote_config::fuzz_load`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| coyote_config::fuzz_load(data));
