//! libFuzzer target `resp_request`; the body is `logship_fuzz::resp_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| logship_fuzz::resp_request(data));
