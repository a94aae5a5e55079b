//! Inputs the fuzzers (`tools/fuzz`, nightly) found crashing, replayed on stable
//! through the same target bodies, each next to a direct call that must fail
//! cleanly; and property checks that random bytes never panic the decoders.

#[path = "../tools/fuzz/src/lib.rs"]
mod harness;

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn wal_record_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        harness::wal_record(&data);
    }

    #[test]
    fn wal_segment_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        harness::wal_segment(&data);
    }

    #[test]
    fn ship_frame_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        harness::ship_frame(&data);
    }

    #[test]
    fn mirror_chunk_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        harness::mirror_chunk(&data);
    }
}

/// The committed seed inputs are valid logs and streams: they pass the targets'
/// invariants, which gives the deep paths (records read back, chunks accepted,
/// messages round-tripped) a stable-toolchain run too.
#[test]
fn seed_inputs_pass_the_targets() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/fuzz/seeds");
    type Target = fn(&[u8]);
    let targets: [(&str, Target); 4] = [
        ("wal_record", harness::wal_record),
        ("wal_segment", harness::wal_segment),
        ("ship_frame", harness::ship_frame),
        ("mirror_chunk", harness::mirror_chunk),
    ];
    let mut n = 0;
    for (name, run) in targets {
        for e in std::fs::read_dir(seeds.join(name)).unwrap() {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            run(&data);
            n += 1;
        }
    }
    assert!(n >= 4, "seed inputs missing under {}", seeds.display());
}
