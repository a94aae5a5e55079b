//! libFuzzer target `wal_segment`; the body is `logship_fuzz::wal_segment`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| logship_fuzz::wal_segment(data));
