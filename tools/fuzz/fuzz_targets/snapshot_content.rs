//! libFuzzer target `snapshot_content`; the body is `logship_fuzz::snapshot_content`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| logship_fuzz::snapshot_content(data));
