//! libFuzzer target `wal_record`; the body is `logship_fuzz::wal_record`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| logship_fuzz::wal_record(data));
