#![no_main]
//! Thin wrapper: the logic lives in `goridge::fuzz_decode` so the stable
//! property tests run exactly the same checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| goridge::fuzz_decode(data));
