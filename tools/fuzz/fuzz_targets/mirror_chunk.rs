//! libFuzzer target `mirror_chunk`; the body is `logship_fuzz::mirror_chunk`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| logship_fuzz::mirror_chunk(data));
