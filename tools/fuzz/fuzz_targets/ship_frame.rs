//! libFuzzer target `ship_frame`; the body is `logship_fuzz::ship_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| logship_fuzz::ship_frame(data));
