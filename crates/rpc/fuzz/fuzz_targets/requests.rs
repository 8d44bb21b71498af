#![no_main]
//! Thin wrapper over `coyote_rpc::fuzz_requests`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| coyote_rpc::fuzz_requests(data));
