#![no_main]
//! Thin wrapper over `coyote_jobs::reply::fuzz_reply`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| coyote_jobs::reply::fuzz_reply(data));
