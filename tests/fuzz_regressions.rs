//! Inputs the fuzzers (`tools/fuzz`, nightly) found crashing, replayed on stable
//! through the same target bodies, each next to a direct call that must fail
//! cleanly; and property checks that random bytes never panic the decoders.

#[path = "../tools/fuzz/src/lib.rs"]
mod harness;

use bytes::Bytes;
use logship::ship::protocol::codes::ChunkEncoding;
use logship::ship::protocol::compress::decompress;
use logship::ship::protocol::message::{Message, MAX_CHUNK_BYTES};
use logship::wal::format::{HeaderError, SegmentHeader};
use logship::wal::scan::{scan_segment, SegmentFile};
use logship::wal::WalError;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the largest single allocation made on the current thread, so a test
/// can tell that a limit was checked before allocating.
struct LargestAllocation;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only records request sizes.
unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST.try_with(|m| m.set(m.get().max(layout.size())));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LARGEST.try_with(|m| m.set(m.get().max(new_size)));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// Largest allocation `f` makes on this thread.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.with(|m| m.set(0));
    f();
    LARGEST.with(Cell::get)
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

const OVERFLOW_MSG: &str = "first LSN + segment size overflows";

/// `wal_record` crash: a segment header whose first LSN (0xffff_ffff_ffff_ff64
/// region) plus its segment size overflows `u64` decoded, and
/// `end_capacity_lsn` then overflowed.
#[test]
fn wal_record_header_first_lsn_near_u64_max() {
    let input = hex(
        "0f00000000e68c4487d90000000100040f0f0f0f00000000000000000700
         000000e68c4487d9000000000000000000ffffffffffffffff6400000000
         000000000001000000000000a910000f9000000000",
    );
    harness::wal_record(&input);
    let mut seg = input[13..].to_vec();
    harness::fix_segment_header(&mut seg);
    assert_eq!(
        SegmentHeader::decode(&seg),
        Err(HeaderError::Field(OVERFLOW_MSG))
    );
}

/// `wal_segment` crash: the same overflow reached through `scan_segment` on a
/// segment whose header says first LSN 0xffff_ffff_ffff_fff8.
#[test]
fn wal_segment_first_lsn_near_u64_max_is_corruption() {
    let input = hex(
        "2b00000000000000570100000040000000ed5e0000000000000100000000
         00000000fffffffffffffffb100000000000000100000000000000000000
         00000000000068e5cf8b0100000100000040000000ed5e0000006b207600
         000000140f",
    );
    harness::wal_segment(&input);
    let mut seg = input[1..].to_vec();
    harness::fix_segment_header(&mut seg);
    let first_lsn = u64::from_le_bytes(seg[32..40].try_into().unwrap());
    let file = SegmentFile {
        path: format!("/wal/00000001-{first_lsn:016x}.wal").into(),
        timeline: 1,
        first_lsn,
    };
    match scan_segment(&file, Bytes::from(seg), true) {
        Err(WalError::Corruption {
            offset: 0, reason, ..
        }) => {
            assert!(reason.contains(OVERFLOW_MSG), "{reason}")
        }
        other => panic!("expected a corrupt header, got {other:?}"),
    }
}

/// `mirror_chunk` crash: a chunk for a segment starting at LSN
/// 0xffff_ffff_ffff_ff30 overflowed in `Mirror::append`. Such a header now never
/// decodes, so a Chunk message carrying it is refused on the link.
#[test]
fn mirror_chunk_first_lsn_near_u64_max_is_refused_on_the_link() {
    let input = hex("0031fffffffffffffffc0100002200");
    harness::mirror_chunk(&input);
    let header = SegmentHeader {
        system_id: 0x5eed,
        timeline: 1,
        first_lsn: 0xffff_ffff_ffff_ff30,
        segment_bytes: 16384,
        created_unix_ms: 1,
    };
    assert_eq!(
        SegmentHeader::decode(&header.encode()),
        Err(HeaderError::Field(OVERFLOW_MSG))
    );
    let chunk = Message::Chunk {
        encoding: ChunkEncoding::Raw,
        header,
        start_lsn: header.first_lsn,
        end_lsn: header.first_lsn + 8,
        records: 0,
        raw_len: 8,
        primary_durable_lsn: 0,
        last_timestamp_unix_ms: 0,
        data: vec![0; 8],
    };
    let err = Message::decode(chunk.kind().into(), &chunk.encode()).unwrap_err();
    assert!(err.reason.contains(OVERFLOW_MSG), "{err}");
}

/// `ship_frame` out-of-memory: `decompress` sized its output buffer from an
/// unchecked `raw_len` (0xffff0023 here) and asked for 4 GiB at once.
#[test]
fn ship_frame_decompress_checks_raw_len_before_allocating() {
    let input = hex(
        "2300ffffffffffffff330707070707070707070707070707070707070707
         07070707070707070707074f000000020100ed5e00000000000009090909
         090909010000000707070707070707070707070707070707070707070707
         070707070707070707090909090909090909090909090909090909090909
         0909090909090909090909f200000005004c4f4753484950570100000040
         000000ed5e00000000000001000000000000000000000000000000001000
         0000000000010000000000000000000000d1dc0090d6000000ffffffffff
         ff000101ff330000000000",
    );
    let largest = largest_allocation(|| harness::ship_frame(&input));
    assert!(largest < 64 << 20, "allocated {largest} bytes at once");
    let raw_len = u32::from_le_bytes(input[..4].try_into().unwrap());
    assert!(raw_len as usize > MAX_CHUNK_BYTES);
    let mut result = None;
    let largest = largest_allocation(|| {
        result = Some(decompress(
            ChunkEncoding::Zstd,
            input[5..].to_vec(),
            raw_len,
        ))
    });
    let err = result.unwrap().unwrap_err().to_string();
    assert!(err.contains("exceeds"), "{err}");
    assert!(largest < 64 << 20, "allocated {largest} bytes at once");
}

/// Found by `effect_payload`: a `SetRange` whose offset is far past the
/// 512 MiB string limit decodes, and applying it grows the string to the
/// offset (here 0x23000000000006 bytes: the allocator aborts the process).
/// The primary never logs one (SETRANGE checks offset + length), but replay
/// and a standby apply whatever decodes; `decode` must refuse it.
#[test]
fn effect_payload_set_range_past_the_string_limit_is_refused() {
    use logship::store::effect::{decode, encode};
    use logship::store::{Blob, Effect};
    let mut payload = Vec::new();
    encode(
        &[Effect::SetRange {
            key: Blob::borrowed(b"s"),
            offset: 0x23_0000_0000_0003,
            value: Blob::borrowed(b"xyz"),
        }],
        &mut payload,
    );
    assert!(
        decode(&payload).is_err(),
        "a SetRange to offset 0x23000000000003 decodes; applying it allocates that much"
    );
    // Refused by decode, the target returns before applying.
    harness::effect_payload(&payload);
}

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

    #[test]
    fn resp_request_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        harness::resp_request(&data);
    }

    #[test]
    fn effect_payload_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        harness::effect_payload(&data);
    }

    #[test]
    fn snapshot_content_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        harness::snapshot_content(&data);
    }
}

/// The committed seed inputs are valid logs and streams: they pass the targets'
/// invariants, which gives the deep paths (records read back, chunks accepted,
/// messages round-tripped) a stable-toolchain run too.
#[test]
fn seed_inputs_pass_the_targets() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/fuzz/seeds");
    type Target = fn(&[u8]);
    let targets: [(&str, Target); 7] = [
        ("wal_record", harness::wal_record),
        ("wal_segment", harness::wal_segment),
        ("ship_frame", harness::ship_frame),
        ("mirror_chunk", harness::mirror_chunk),
        ("resp_request", harness::resp_request),
        ("effect_payload", harness::effect_payload),
        ("snapshot_content", harness::snapshot_content),
    ];
    let mut n = 0;
    for (name, run) in targets {
        for e in std::fs::read_dir(seeds.join(name)).unwrap() {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            run(&data);
            n += 1;
        }
    }
    assert!(n >= 13, "seed inputs missing under {}", seeds.display());
}

/// The seeds of `resp_request`, `effect_payload` and `snapshot_content`, made
/// from the encoders so they stay valid as formats grow: this test checks the
/// committed files are these bytes; `FUZZ_WRITE_SEEDS=1` rewrites them.
#[test]
fn seed_inputs_of_the_keyspace_decoders_are_current() {
    use logship::store::effect::encode;
    use logship::store::{snapshot, Blob, Effect, ListEnd};
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/fuzz/seeds");
    let mut want: Vec<(&str, &str, Vec<u8>)> = Vec::new();
    let limits = |rest: &[u8]| [&[255u8, 16, 255][..], rest].concat();
    want.push((
        "resp_request",
        "multibulk",
        limits(
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*0\r\n",
        ),
    ));
    want.push((
        "resp_request",
        "inline",
        limits(b"PING\r\nSET \"a b\" 'c\\'d' \"\\x41\\n\"\r\n\r\nGET a\n"),
    ));
    want.push((
        "resp_request",
        "bad-length",
        limits(b"*2\r\n$3\r\nGET\r\n$-7\r\n"),
    ));
    let b = |s: &'static str| Blob::borrowed(s.as_bytes());
    let every_effect = vec![
        Effect::Set {
            key: b("s"),
            value: b("v"),
            expire_at_unix_ms: Some(1_700_000_000_000),
        },
        Effect::Del {
            keys: vec![b("h"), b("x")],
        },
        Effect::Expire {
            key: b("l"),
            at_unix_ms: 5,
        },
        Effect::Persist { key: b("s") },
        Effect::Select { db: 1 },
        Effect::FlushDb,
        Effect::Select { db: 0 },
        Effect::SwapDb { a: 0, b: 2 },
        Effect::SwapDb { a: 0, b: 2 },
        Effect::Move {
            key: b("t"),
            to_db: 3,
        },
        Effect::Rename {
            from: b("z"),
            to: b("z2"),
        },
        Effect::Copy {
            from: b("z2"),
            to: b("z3"),
            to_db: 4,
        },
        Effect::SetRange {
            key: b("s"),
            offset: 3,
            value: b("xyz"),
        },
        Effect::HSet {
            key: b("h"),
            pairs: vec![(b("f"), b("1"))],
        },
        Effect::HDel {
            key: b("h"),
            fields: vec![b("g")],
        },
        Effect::Push {
            key: b("l"),
            end: ListEnd::Left,
            elems: vec![b("p"), b("q")],
        },
        Effect::Pop {
            key: b("l"),
            end: ListEnd::Right,
            count: 2,
        },
        Effect::LSet {
            key: b("l"),
            index: 1,
            elem: b("r"),
        },
        Effect::LInsert {
            key: b("l"),
            index: 0,
            elem: b("i"),
        },
        Effect::LRem {
            key: b("l"),
            count: -1,
            elem: b("a"),
        },
        Effect::LTrim {
            key: b("l"),
            start: 0,
            end: 2,
        },
        Effect::SAdd {
            key: b("t2"),
            members: vec![b("a"), b("b")],
        },
        Effect::SRem {
            key: b("t2"),
            members: vec![b("a")],
        },
        Effect::ZAdd {
            key: b("z4"),
            entries: vec![(f64::INFINITY, b("m")), (0.5, b("n"))],
        },
        Effect::ZRem {
            key: b("z4"),
            members: vec![b("n")],
        },
        Effect::FlushAll,
    ];
    let payload = |effects: &[Effect<'_>]| {
        let mut out = Vec::new();
        encode(effects, &mut out);
        out
    };
    want.push(("effect_payload", "every-effect", payload(&every_effect)));
    want.push(("effect_payload", "set", payload(&every_effect[..1])));
    // A snapshot of the sample keyspace: its items raw (flag COMPRESS), and
    // as written (compressed).
    let dbs = harness::sample_dbs();
    let fs = logship::fs::MemFs::new();
    let dir = std::path::Path::new("/snap");
    logship::fs::Fs::create_dir_all(&fs, dir).unwrap();
    let w = snapshot::write(&fs, dir, &dbs, 7, 8, 1).unwrap();
    let file = logship::fs::Fs::read(&fs, &w.path).unwrap();
    let content = &file[snapshot::SNAPSHOT_HEADER_BYTES..];
    let items = u16::try_from(w.header.items).unwrap().to_le_bytes();
    let head = |flags: u8, version: u8| [flags, version, items[0], items[1]];
    let raw = zstd::decode_all(content).unwrap();
    want.push((
        "snapshot_content",
        "v2-raw",
        [&head(harness::COMPRESS | harness::ROUND_TRIP, 2)[..], &raw].concat(),
    ));
    want.push((
        "snapshot_content",
        "v2-zstd",
        [&head(harness::ROUND_TRIP, 2)[..], content].concat(),
    ));
    let mut v1 = Vec::new();
    for (k, v, exp) in [
        (&b"a"[..], &b"1"[..], 0u64),
        (b"bb", b"two", 1_700_000_000_000),
    ] {
        v1.extend_from_slice(&(k.len() as u32).to_le_bytes());
        v1.extend_from_slice(&(v.len() as u32).to_le_bytes());
        v1.extend_from_slice(&exp.to_le_bytes());
        v1.extend_from_slice(k);
        v1.extend_from_slice(v);
    }
    want.push((
        "snapshot_content",
        "v1-raw",
        [&[harness::COMPRESS | harness::ROUND_TRIP, 1, 2, 0][..], &v1].concat(),
    ));
    let write = std::env::var_os("FUZZ_WRITE_SEEDS").is_some();
    for (target, name, bytes) in &want {
        let path = seeds.join(target).join(name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
        let on_disk = std::fs::read(&path).unwrap_or_default();
        if *target == "snapshot_content" && name.starts_with("v2") && on_disk.len() > 4 {
            // Items come in the keyspace's hash order, which differs from one
            // process to the next: the seed must hold the same databases.
            let body = &on_disk[4..];
            let content = if name.ends_with("raw") {
                zstd::encode_all(body, 1).unwrap()
            } else {
                body.to_vec()
            };
            let got = snapshot::decode_content(&content, 2, w.header.items);
            assert!(
                got.is_ok_and(|d| d.digest() == dbs.digest()),
                "{} is stale: rerun with FUZZ_WRITE_SEEDS=1",
                path.display()
            );
            continue;
        }
        assert!(
            &on_disk == bytes,
            "{} is stale: rerun with FUZZ_WRITE_SEEDS=1",
            path.display()
        );
    }
}
