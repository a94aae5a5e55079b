//! libFuzzer target `effect_payload`; the body is `logship_fuzz::effect_payload`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| logship_fuzz::effect_payload(data));
