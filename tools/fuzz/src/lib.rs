//! Bodies of the fuzz targets: each takes arbitrary bytes, drives one decoder of
//! untrusted input and panics only when an invariant breaks (the decoders
//! themselves must never panic, whatever the bytes).
//!
//! The same functions run under libFuzzer (`fuzz_targets/*.rs`, nightly) and in
//! `tests/fuzz_regressions.rs` (stable), which includes this file by path, so a
//! crashing input found by the fuzzer replays through exactly the same code.
//!
//! Checksums stop a fuzzer early: most mutations fail the CRC and never reach
//! the checks behind it. Each target therefore reads a flags byte first and may
//! repair the checksums (and the LSN fields) of the bytes it then hands over,
//! so mutated structure is exercised past the CRC.
//!
//! | target         | input layout                                                      |
//! |----------------|-------------------------------------------------------------------|
//! | `wal_record`   | flags u8, expected LSN u64, max payload u32, record bytes          |
//! | `wal_segment`  | flags u8, segment bytes (header at 0); or flags, split u16, two    |
//! | `ship_frame`   | a byte stream of frames                                            |
//! | `mirror_chunk` | flags u8, first LSN u64, size class u8, then chunks: len u16, bytes |
//! | `resp_request` | bulk limit/4 u8, argument limit u8, inline limit/4 u8, a request stream |
//! | `effect_payload` | a WAL data record's payload (version byte, effects)            |
//! | `snapshot_content` | flags u8, version u8, item count u16, content (zstd, or raw to compress) |
//!
//! A `mirror_chunk` chunk length with its top bit set starts a new segment at
//! the chunk's LSN.

use bytes::Bytes;
use logship::fs::{MemFs, SharedFs};
use logship::ship::protocol::codes::ChunkEncoding;
use logship::ship::protocol::compress::decompress;
use logship::ship::protocol::frame::{read_frame, write_frame};
use logship::ship::protocol::message::{Message, MAX_CHUNK_BYTES};
use logship::wal::format::{
    align8, check_record, encode_record, segment_file_name, RecordHeader, SegmentHeader,
    FORMAT_VERSION, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC,
};
use logship::wal::scan::{scan_dir, scan_segment, SegmentCursor, SegmentFile, Step};
use logship::wal::{Mirror, WalReader};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Flag bit: set the segment header's magic, version and length, then its CRC.
pub const FIX_HEADER: u8 = 1 << 0;
/// Flag bit: rewrite each record's LSN field to the LSN of its position.
pub const FIX_LSNS: u8 = 1 << 1;
/// Flag bit: recompute each record's CRC.
pub const FIX_CRCS: u8 = 1 << 2;
/// Flag bit (`wal_segment`): scan the segment as the last one of the log.
pub const IS_LAST: u8 = 1 << 3;
/// Flag bit (`wal_segment`): the input holds two segments (split offset u16 LE
/// first), both written to the directory that `scan_dir` and `WalReader` read.
pub const TWO_SEGMENTS: u8 = 1 << 4;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Rewrites the segment header at the start of `seg` so it passes its checksum.
pub fn fix_segment_header(seg: &mut [u8]) {
    if seg.len() < SEGMENT_HEADER_BYTES {
        return;
    }
    seg[0..8].copy_from_slice(&SEGMENT_MAGIC);
    seg[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    seg[12..16].copy_from_slice(&(SEGMENT_HEADER_BYTES as u32).to_le_bytes());
    let crc = crc32fast::hash(&seg[0..60]);
    seg[60..64].copy_from_slice(&crc.to_le_bytes());
}

/// Walks `records` as a sequence of records starting at `lsn`, rewriting the LSN
/// field and/or the CRC of each (per `flags`), the payload length clamped to the
/// bytes present. Stops at the first header that does not fit.
pub fn fix_records(records: &mut [u8], mut lsn: u64, flags: u8) {
    let mut p = 0usize;
    while p + RECORD_HEADER_BYTES <= records.len() {
        let r = &mut records[p..];
        if flags & FIX_LSNS != 0 {
            r[8..16].copy_from_slice(&lsn.to_le_bytes());
        }
        let len = (u32_at(r, 4) as usize).min(r.len() - RECORD_HEADER_BYTES);
        if flags & FIX_CRCS != 0 {
            r[4..8].copy_from_slice(&(len as u32).to_le_bytes());
            let crc = crc32fast::hash(&r[4..RECORD_HEADER_BYTES + len]);
            r[0..4].copy_from_slice(&crc.to_le_bytes());
        }
        let footprint = RECORD_HEADER_BYTES as u64 + align8(len as u64);
        p += footprint as usize;
        lsn = lsn.wrapping_add(footprint);
    }
}

/// `wal_record`: `check_record`, `RecordHeader::parse` and `SegmentHeader::decode`.
pub fn wal_record(data: &[u8]) {
    let _ = RecordHeader::parse(data);
    check_segment_header(data);
    if data.len() < 13 {
        return;
    }
    let flags = data[0];
    let expected_lsn = u64_at(data, 1);
    let max_payload = u64::from(u32_at(data, 9));
    let mut rec = data[13..].to_vec();
    if flags & FIX_HEADER != 0 {
        let mut seg = rec.clone();
        fix_segment_header(&mut seg);
        check_segment_header(&seg);
    }
    fix_records(&mut rec, expected_lsn, flags);
    let Ok(r) = check_record(&rec, expected_lsn, max_payload) else {
        return;
    };
    let len = r.header.payload_len as usize;
    assert!(len as u64 <= max_payload, "payload over the limit accepted");
    assert_eq!(r.header.lsn, expected_lsn);
    assert_eq!(r.footprint, RECORD_HEADER_BYTES as u64 + align8(len as u64));
    let payload = &rec[r.payload_offset..r.payload_offset + len];
    if expected_lsn % 8 == 0 {
        // A checked record re-encodes to the same bytes (padding aside).
        let mut again = Vec::new();
        encode_record(
            &mut again,
            r.header.lsn,
            r.header.timeline,
            r.header.timestamp_unix_ms,
            r.kind(),
            payload,
        );
        assert_eq!(
            &again[..RECORD_HEADER_BYTES + len],
            &rec[..RECORD_HEADER_BYTES + len]
        );
    }
}

fn check_segment_header(b: &[u8]) {
    if let Ok(h) = SegmentHeader::decode(b) {
        assert_eq!(SegmentHeader::decode(&h.encode()), Ok(h));
        assert!(h.end_capacity_lsn() > h.first_lsn);
    }
}

/// A segment file and its bytes.
type Segment = (SegmentFile, Vec<u8>);

/// One segment of a fuzz input, (possibly) repaired per `flags` and named after
/// what its header says so that name and header agree.
fn segment_file(flags: u8, bytes: &[u8]) -> Segment {
    let mut seg = bytes.to_vec();
    if flags & FIX_HEADER != 0 {
        fix_segment_header(&mut seg);
    }
    let (timeline, first_lsn) = if seg.len() >= SEGMENT_HEADER_BYTES {
        (u32_at(&seg, 24), u64_at(&seg, 32))
    } else {
        (1, 0)
    };
    if seg.len() > SEGMENT_HEADER_BYTES {
        fix_records(&mut seg[SEGMENT_HEADER_BYTES..], first_lsn, flags);
    }
    let file = SegmentFile {
        path: Path::new("/wal").join(segment_file_name(timeline, first_lsn)),
        timeline,
        first_lsn,
    };
    (file, seg)
}

/// The segments a `wal_segment` input describes: flags, then the segment bytes;
/// with [`TWO_SEGMENTS`], a split offset u16 LE first and two segments.
fn segment_input(data: &[u8]) -> Option<(u8, Vec<Segment>)> {
    let (&flags, rest) = data.split_first()?;
    if flags & TWO_SEGMENTS == 0 {
        return Some((flags, vec![segment_file(flags, rest)]));
    }
    if rest.len() < 2 {
        return None;
    }
    let split = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
    let (a, b) = rest[2..].split_at(split);
    Some((flags, vec![segment_file(flags, a), segment_file(flags, b)]))
}

/// `wal_segment`: scanning, a cursor walk, `intact_after`, and `scan_dir` plus
/// `WalReader` over the bytes written as a segment file on a `MemFs`.
pub fn wal_segment(data: &[u8]) {
    let Some((flags, segments)) = segment_input(data) else {
        return;
    };
    let (file, seg) = &segments[0];
    let is_last = flags & IS_LAST != 0;
    let bytes = Bytes::from(seg.clone());
    if let Ok((summary, torn)) = scan_segment(file, bytes.clone(), is_last) {
        assert!(summary.end_lsn >= file.first_lsn);
        assert!(summary.end_lsn <= summary.header.end_capacity_lsn());
        assert!(
            is_last || summary.sealed,
            "an unsealed older segment passed"
        );
        if let Some(t) = torn {
            assert!(is_last, "a torn tail outside the last segment");
            assert_eq!(t.lsn, summary.end_lsn);
        }
    }
    walk_cursor(file, bytes);
    scan_and_read(&segments);
}

fn walk_cursor(file: &SegmentFile, bytes: Bytes) {
    let Ok(mut cur) = SegmentCursor::new(file, bytes.clone()) else {
        return;
    };
    // Every step consumes at least one 32-byte header, so this bounds the walk.
    for _ in 0..=bytes.len() / RECORD_HEADER_BYTES + 1 {
        let before = cur.lsn;
        match cur.step() {
            Step::Record { record, offset } => {
                assert!(cur.lsn > before, "cursor did not advance");
                let p = cur.payload(&record, offset);
                assert_eq!(p.len(), record.header.payload_len as usize);
            }
            Step::Stop { offset, lsn, .. } => {
                assert_eq!(lsn, before);
                let _ = cur.zero_from(offset);
                let (n, furthest) = cur.intact_after(offset);
                assert_eq!(n == 0, furthest.is_none());
                if let Some(f) = furthest {
                    assert!(f > offset && f < bytes.len() as u64);
                }
                return;
            }
            Step::Full => return,
        }
    }
    panic!("cursor walk did not end");
}

fn scan_and_read(segments: &[Segment]) {
    let mem = MemFs::new();
    let fs: SharedFs = Arc::new(mem);
    let dir = Path::new("/wal");
    fs.create_dir_all(dir).expect("memfs mkdir");
    for (file, seg) in segments {
        // Two segments of the same name: the second is not written.
        if let Ok(mut f) = fs.create(&file.path) {
            f.write_all_at(seg, 0).expect("memfs write");
        }
    }
    let total_bytes: usize = segments.iter().map(|(_, s)| s.len()).sum();
    let first_lsn = segments.iter().map(|(f, _)| f.first_lsn).min().unwrap_or(0);
    let report = scan_dir(&*fs, dir);
    // Reading everything below the scanned end yields exactly the scanned records.
    if let Ok(report) = &report {
        let start = report.first_lsn.expect("a scanned log has a first segment");
        let r = WalReader::open(fs.clone(), dir, start, Some(report.end_lsn))
            .expect("a scanned log opens for reading");
        let mut n = 0u64;
        let mut next = start;
        for rec in r.take(total_bytes / RECORD_HEADER_BYTES + 1) {
            let rec = rec.expect("records below the scanned end read back");
            assert_eq!(rec.lsn, next);
            next = rec.end_lsn;
            n += 1;
        }
        assert_eq!(n, report.records);
        assert_eq!(next, report.end_lsn);
    }
    // Unbounded reading from anywhere never panics.
    let from = first_lsn.saturating_add(total_bytes as u64 / 3 / 8 * 8);
    for start in [first_lsn, from] {
        if let Ok(r) = WalReader::open(fs.clone(), dir, start, None) {
            for rec in r.take(total_bytes / RECORD_HEADER_BYTES + 2) {
                if rec.is_err() {
                    break;
                }
            }
        }
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("current-thread runtime")
    })
}

/// `ship_frame`: frames read from the byte stream, every body decoded as every
/// message type, decoded messages re-encoded, chunk data decompressed.
pub fn ship_frame(data: &[u8]) {
    let rt = runtime();
    let mut stream = data;
    // Every frame consumes at least five bytes.
    for _ in 0..=data.len() / 5 {
        let Ok((kind, body)) = rt.block_on(read_frame(&mut stream)) else {
            break;
        };
        check_frame_round_trip(rt, kind, &body);
        for k in [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 255] {
            if let Ok(m) = Message::decode(k, &body) {
                check_message(k, &m);
            }
        }
    }
    // Decompression with a length taken from the input, not from a checked Chunk.
    if data.len() >= 5 {
        let raw_len = u32_at(data, 0);
        let encoding = if data[4] & 1 == 1 {
            ChunkEncoding::Zstd
        } else {
            ChunkEncoding::Raw
        };
        if let Ok(out) = decompress(encoding, data[5..].to_vec(), raw_len) {
            assert_eq!(out.len(), raw_len as usize);
            assert!(out.len() <= MAX_CHUNK_BYTES);
        }
    }
}

fn check_frame_round_trip(rt: &tokio::runtime::Runtime, kind: u8, body: &[u8]) {
    let mut out = Vec::new();
    rt.block_on(write_frame(&mut out, kind, body))
        .expect("writing to a Vec");
    let (k, b) = rt
        .block_on(read_frame(&mut &out[..]))
        .expect("a written frame reads back");
    assert_eq!((k, &b[..]), (kind, body));
}

fn check_message(kind: u8, m: &Message) {
    assert_eq!(u8::from(m.kind()), kind);
    let enc = m.encode();
    let again = Message::decode(kind, &enc).expect("a re-encoded message decodes");
    assert_eq!(&again, m);
    assert_eq!(again.encode(), enc);
    if let Message::Chunk {
        encoding,
        data,
        raw_len,
        ..
    } = m
    {
        if let Ok(out) = decompress(*encoding, data.clone(), *raw_len) {
            assert_eq!(out.len(), *raw_len as usize);
        }
    }
}

/// `mirror_chunk`: chunks appended to a `Mirror` on a `MemFs` after a valid
/// segment header; accepted records must read back with `WalReader`, and the
/// mirror must reopen at the same end.
///
/// Segment sizes are kept to 4..64 KiB: a 1 GiB segment is a valid input but
/// would spend the fuzzer's time allocating.
pub fn mirror_chunk(data: &[u8]) {
    if data.len() < 10 {
        return;
    }
    let flags = data[0];
    let first_lsn = u64_at(data, 1) & !7;
    let segment_bytes = 4096u64 << (data[9] % 5);
    let mut header = SegmentHeader {
        system_id: 0x5eed,
        timeline: 1 + u32::from(flags >> 4),
        first_lsn,
        segment_bytes,
        created_unix_ms: 1,
    };
    // Only headers that decode are valid; others are the decoder's business.
    if SegmentHeader::decode(&header.encode()) != Ok(header) {
        return;
    }
    let fs: SharedFs = Arc::new(MemFs::new());
    let dir = Path::new("/standby");
    let (mut m, _) = Mirror::open(fs.clone(), dir).expect("an empty mirror opens");
    m.restart_at(first_lsn).expect("restart on memfs");
    let mut accepted = 0u64;
    let mut rest = &data[10..];
    for _ in 0..64 {
        if rest.len() < 2 {
            break;
        }
        let word = u16::from_le_bytes([rest[0], rest[1]]);
        let len = usize::from(word & 0x7fff).min(rest.len() - 2);
        let mut chunk = rest[2..2 + len].to_vec();
        rest = &rest[2 + len..];
        let start = m.end_lsn();
        if word & 0x8000 != 0 {
            // The chunk opens the next segment (after a seal, or refused).
            header.first_lsn = start;
        }
        fix_records(&mut chunk, start, flags);
        let before = m.end_lsn();
        match m.append(&header, start, &chunk) {
            Ok(n) => {
                accepted += n;
                assert_eq!(m.end_lsn(), before + chunk.len() as u64);
            }
            Err(_) => assert_eq!(m.end_lsn(), before, "a refused chunk moved the end"),
        }
    }
    let end = m.end_lsn();
    m.sync().expect("sync on memfs");
    drop(m);
    if accepted == 0 && end == first_lsn {
        return;
    }
    let r = WalReader::open(fs.clone(), dir, first_lsn, Some(end))
        .expect("the received log opens for reading");
    let mut n = 0u64;
    let mut next = first_lsn;
    for rec in r.take(data.len()) {
        let rec = rec.expect("accepted records read back");
        assert_eq!(rec.lsn, next);
        next = rec.end_lsn;
        n += 1;
    }
    assert_eq!((n, next), (accepted, end));
    let (m, _) = Mirror::open(fs, dir).expect("the received log reopens");
    assert_eq!(m.end_lsn(), end);
}

/// `resp_request`: `resp::parse` under small [`Limits`] taken from the first
/// three bytes (bulk bytes, arguments, inline bytes), the rest the stream.
/// Every frame it yields respects the limits and is never empty; parsing the
/// stream at once and fed in two parts yields the same frames and error; a
/// frame re-encoded as a multibulk parses back to itself.
pub fn resp_request(data: &[u8]) {
    use bytes::BytesMut;
    use logship::resp::{parse, Frame, Limits};
    if data.len() < 3 {
        return;
    }
    let limits = Limits {
        max_bulk_bytes: usize::from(data[0]) * 4,
        max_args: usize::from(data[1] % 64) + 1,
        max_inline_bytes: usize::from(data[2]) * 4 + 1,
    };
    let stream = &data[3..];
    // All frames of `parts` fed one after the other, and how it ended.
    let run = |parts: &[&[u8]]| -> (Vec<Frame>, Option<String>) {
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for part in parts {
            buf.extend_from_slice(part);
            loop {
                let before = buf.len();
                match parse(&mut buf, &limits) {
                    Ok(Some(f)) => {
                        assert!(buf.len() < before, "a frame consumed nothing");
                        frames.push(f);
                    }
                    Ok(None) => break,
                    Err(e) => return (frames, Some(e.0)),
                }
            }
        }
        (frames, None)
    };
    let (frames, err) = run(&[stream]);
    for f in &frames {
        assert!(!f.is_empty(), "an empty frame");
        assert!(f.len() <= limits.max_args, "over max_args: {}", f.len());
        for a in f {
            assert!(a.len() <= limits.max_bulk_bytes.max(limits.max_inline_bytes));
        }
        let mut enc = format!("*{}\r\n", f.len()).into_bytes();
        for a in f {
            enc.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            enc.extend_from_slice(a);
            enc.extend_from_slice(b"\r\n");
        }
        let mut b = BytesMut::from(&enc[..]);
        if f.iter().all(|a| a.len() <= limits.max_bulk_bytes) {
            let again = parse(&mut b, &limits).expect("a re-encoded frame parses");
            assert_eq!(again.as_ref(), Some(f));
            assert!(b.is_empty());
        }
    }
    let split = usize::from(data[0]).min(stream.len());
    let (frames2, err2) = run(&[&stream[..split], &stream[split..]]);
    if err.is_none() && err2.is_none() {
        assert_eq!(frames, frames2, "split at {split} parses otherwise");
    } else {
        // An error may come earlier with less input (a bad header seen before
        // the data), never a different frame sequence before it.
        let n = frames.len().min(frames2.len());
        assert_eq!(
            frames[..n],
            frames2[..n],
            "split at {split} parses otherwise"
        );
    }
}

/// A keyspace with one key of each type in database 0 and a string in
/// database 1, for decoded effects to act on.
pub fn sample_dbs() -> logship::store::Dbs {
    use logship::store::{apply_effect, Blob, Cursor, Dbs, Effect, ListEnd};
    let b = |s: &'static str| Blob::borrowed(s.as_bytes());
    let mut dbs = Dbs::new();
    let mut cur = Cursor::default();
    for e in [
        Effect::Set {
            key: b("s"),
            value: b("hello"),
            expire_at_unix_ms: None,
        },
        Effect::HSet {
            key: b("h"),
            pairs: vec![(b("f"), b("v")), (b("g"), b("w"))],
        },
        Effect::Push {
            key: b("l"),
            end: ListEnd::Right,
            elems: vec![b("a"), b("b"), b("c")],
        },
        Effect::SAdd {
            key: b("t"),
            members: vec![b("x"), b("y")],
        },
        Effect::ZAdd {
            key: b("z"),
            entries: vec![(1.0, b("m")), (-2.5, b("n"))],
        },
        Effect::Select { db: 1 },
        Effect::Set {
            key: b("s"),
            value: b("one"),
            expire_at_unix_ms: Some(1),
        },
    ] {
        apply_effect(&mut dbs, &mut cur, &e);
    }
    dbs
}

/// `effect_payload`: `store::effect::decode` of the bytes; whatever decodes
/// re-encodes to a payload that decodes to the same effects, and applies to
/// [`sample_dbs`] (one cursor per payload, as a record) without panicking.
pub fn effect_payload(data: &[u8]) {
    use logship::store::effect::{decode, encode, encoded_len};
    use logship::store::{apply_effect, Cursor};
    let Ok(effects) = decode(data) else {
        return;
    };
    let mut again = Vec::new();
    encode(&effects, &mut again);
    assert_eq!(again.len() as u64, encoded_len(&effects));
    let back = decode(&again).expect("re-encoded effects decode");
    // NaN-free (checked by decode), so PartialEq is an equivalence here.
    assert_eq!(back, effects);
    let mut dbs = sample_dbs();
    let mut cur = Cursor::default();
    for e in &effects {
        apply_effect(&mut dbs, &mut cur, e);
        assert!(cur.db < logship::store::DATABASES);
    }
    let _ = dbs.digest();
}

/// Flag bit (`snapshot_content`): zstd-compress the bytes first, so that the
/// fuzzer mutates the items rather than the compressed stream.
pub const COMPRESS: u8 = 1 << 0;
/// Flag bit (`snapshot_content`): write what decodes as a snapshot and read
/// it back. A flag rather than always: every `Dbs` allocates its databases'
/// shards, and three per input slow the fuzzer down a lot.
pub const ROUND_TRIP: u8 = 1 << 1;

/// `snapshot_content`: flags u8, version u8, item count u16 LE, content.
/// `decode_content` never panics; what it decodes holds as many keys as
/// items and (flag [`ROUND_TRIP`]) writes as a snapshot that reads back with
/// the same digest.
pub fn snapshot_content(data: &[u8]) {
    use logship::store::snapshot;
    if data.len() < 4 {
        return;
    }
    let flags = data[0];
    let version = u32::from(data[1]);
    let items = u64::from(u16::from_le_bytes([data[2], data[3]]));
    let raw = &data[4..];
    let compressed;
    let content = if flags & COMPRESS != 0 {
        compressed = zstd::encode_all(raw, 1).expect("compress in memory");
        &compressed[..]
    } else {
        raw
    };
    let Ok(dbs) = snapshot::decode_content(content, version, items) else {
        return;
    };
    assert_eq!(
        dbs.len() as u64,
        items,
        "items decoded and keys held differ"
    );
    if flags & ROUND_TRIP == 0 {
        return;
    }
    let fs = MemFs::new();
    let dir = Path::new("/snap");
    logship::fs::Fs::create_dir_all(&fs, dir).expect("mkdir on memfs");
    let w = snapshot::write(&fs, dir, &dbs, 7, 8, 1).expect("write on memfs");
    let (_, back) = snapshot::read(&fs, &w.path, 7).expect("a written snapshot reads");
    assert_eq!(back.digest(), dbs.digest());
}
