//! Shipping's WAL side: chunks cut by `RawReader` and written by `Mirror` give a
//! byte-identical copy; bad chunks are refused without writing anything;
//! chunks read ahead of the link follow each other exactly.

use logship::fs::StdFs;
use logship::ship::protocol::compress::decompress;
use logship::ship::send::ahead::{ReadAhead, INLINE_CHUNK_BYTES};
use logship::ship::Compression;
use logship::wal::{
    self, format::SegmentHeader, ChunkError, Mirror, RawReader, SyncPolicy, WalOptions, WalReader,
};
use std::path::Path;
use std::sync::{Arc, Mutex};

fn write_log(dir: &Path, n: usize) -> u64 {
    let mut o = WalOptions::new(dir, 7, 1);
    o.segment_bytes = 8192;
    o.sync = SyncPolicy::Never;
    let (w, _) = wal::open(StdFs::shared(), o).unwrap();
    for i in 0..n {
        w.append(format!("value-{i}-{}", "x".repeat(i % 97)).as_bytes())
            .unwrap();
    }
    w.close().unwrap().durable_lsn
}

/// Every record of the log in `dir` below `end`, read back.
fn records_of(dir: &Path, end: u64) -> Vec<wal::Record> {
    WalReader::open(StdFs::shared(), dir, 0, Some(end))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn ship_all(src: &Path, dst: &Path, until: u64, max_bytes: usize) -> Mirror {
    let (mut m, _) = Mirror::open(StdFs::shared(), dst).unwrap();
    let mut r = RawReader::new(StdFs::shared(), src);
    while let Some(c) = r.chunk(m.end_lsn(), until, max_bytes).unwrap() {
        m.append(&c.header, c.start_lsn, &c.bytes).unwrap();
        m.sync().unwrap();
    }
    m
}

#[test]
fn mirror_is_byte_identical_and_resumes_after_reopen() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("p"), t.path().join("s"));
    let end = write_log(&src, 600);
    // Ship half, reopen the mirror, ship the rest in small chunks.
    let m = ship_all(&src, &dst, end / 2 / 8 * 8, 1000);
    let half = m.end_lsn();
    assert!(half > 0 && half <= end);
    drop(m);
    let m = ship_all(&src, &dst, end, 333);
    assert_eq!(m.end_lsn(), end);
    assert_eq!(m.durable_lsn(), end);
    let names = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&src), names(&dst));
    for n in names(&src) {
        assert_eq!(
            std::fs::read(src.join(&n)).unwrap(),
            std::fs::read(dst.join(&n)).unwrap(),
            "{n:?}"
        );
    }
    let a: Vec<_> = WalReader::open(StdFs::shared(), &dst, 0, Some(end))
        .unwrap()
        .map(|r| r.unwrap().payload)
        .collect();
    assert!(a.len() > 600);
}

#[test]
fn bad_chunks_are_refused_and_nothing_is_written() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("p"), t.path().join("s"));
    let end = write_log(&src, 50);
    let mut r = RawReader::new(StdFs::shared(), &src);
    let c = r.chunk(0, end, 1024).unwrap().unwrap();
    let (mut m, _) = Mirror::open(StdFs::shared(), &dst).unwrap();
    // A flipped payload bit.
    let mut bad = c.bytes.to_vec();
    bad[35] ^= 1;
    assert!(matches!(
        m.append(&c.header, 0, &bad),
        Err(ChunkError::Record { lsn: 0, .. })
    ));
    // A gap.
    assert!(matches!(
        m.append(&c.header, 64, &c.bytes),
        Err(ChunkError::Gap { start: 64, end: 0 })
    ));
    // Another system.
    let foreign = SegmentHeader {
        system_id: 99,
        ..c.header
    };
    m.append(&c.header, 0, &c.bytes).unwrap();
    let c2 = r.chunk(c.end_lsn, end, 1024).unwrap().unwrap();
    let e = m.append(&foreign, c2.start_lsn, &c2.bytes).unwrap_err();
    assert!(
        matches!(e, ChunkError::SystemId { got: 99, want: 7 }),
        "{e}"
    );
    assert_eq!(m.end_lsn(), c.end_lsn);
    m.append(&c2.header, c2.start_lsn, &c2.bytes).unwrap();
    assert_eq!(m.end_lsn(), c2.end_lsn);
}

#[test]
fn a_record_that_leaves_no_room_for_the_seal_is_refused() {
    use logship::wal::format::{encode_record, RecordKind, RECORD_HEADER_BYTES, SEAL_RECORD_BYTES};
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("p"), t.path().join("s"));
    let end = write_log(&src, 1);
    let header = RawReader::new(StdFs::shared(), &src)
        .chunk(0, end, 1024)
        .unwrap()
        .unwrap()
        .header;
    let cap = header.end_capacity_lsn() - header.first_lsn;
    // One data record of `footprint` bytes at the segment's start.
    let chunk = |footprint: u64| {
        let mut b = Vec::new();
        let payload = vec![7u8; (footprint - RECORD_HEADER_BYTES as u64) as usize];
        encode_record(
            &mut b,
            header.first_lsn,
            header.timeline,
            1,
            RecordKind::Data,
            &payload,
        );
        assert_eq!(b.len() as u64, footprint);
        b
    };
    let (mut m, _) = Mirror::open(StdFs::shared(), &dst).unwrap();
    let e = m
        .append(&header, header.first_lsn, &chunk(cap))
        .unwrap_err();
    assert!(
        e.to_string().contains("no room for the segment's seal"),
        "{e}"
    );
    assert_eq!(m.end_lsn(), 0, "nothing written");
    // Exactly the seal's room left: accepted, as the writer would write it.
    m.append(&header, header.first_lsn, &chunk(cap - SEAL_RECORD_BYTES))
        .unwrap();
    assert_eq!(m.end_lsn(), header.first_lsn + cap - SEAL_RECORD_BYTES);
}

#[test]
fn a_reader_follows_a_growing_mirror_across_segments_without_reopening() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("p"), t.path().join("s"));
    let end = write_log(&src, 600);
    let all = records_of(&src, end);
    let (mut m, _) = Mirror::open(StdFs::shared(), &dst).unwrap();
    let mut raw = RawReader::new(StdFs::shared(), &src);
    let mut reader: Option<WalReader> = None;
    let mut got = Vec::new();
    let mut chunks = 0;
    // Each chunk is written but not fsynced before the reader goes on: replay
    // reads what the mirror has verified and written.
    while let Some(c) = raw.chunk(m.end_lsn(), end, 700).unwrap() {
        m.append(&c.header, c.start_lsn, &c.bytes).unwrap();
        let until = m.end_lsn();
        let r = match reader.as_mut() {
            Some(r) => {
                r.extend_until(until);
                r
            }
            None => reader
                .insert(WalReader::open_at_record(StdFs::shared(), &dst, 0, Some(until)).unwrap()),
        };
        for rec in r.by_ref() {
            got.push(rec.unwrap());
        }
        assert_eq!(r.next_lsn(), until);
        chunks += 1;
    }
    m.sync().unwrap();
    assert!(chunks > 20, "{chunks} chunks");
    assert!(
        std::fs::read_dir(&dst).unwrap().count() > 3,
        "several segments"
    );
    assert_eq!(got, all);
}

#[test]
fn a_reader_opened_at_a_record_reads_what_a_scan_from_the_start_reads() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("p");
    let end = write_log(&src, 600);
    let all = records_of(&src, end);
    for i in (0..all.len()).step_by(29).chain([all.len() - 1]) {
        let from = all[i].lsn;
        let a: Vec<_> = WalReader::open_at_record(StdFs::shared(), &src, from, Some(end))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(a, all[i..], "from {from:#x}");
    }
    // An LSN inside a record is caught by the record checks, never read as one.
    let inside = all[10].lsn + 8;
    let first = WalReader::open_at_record(StdFs::shared(), &src, inside, Some(end))
        .unwrap()
        .next()
        .unwrap();
    assert!(first.is_err(), "{first:?}");
}

#[test]
fn the_records_a_mirror_checks_are_those_a_reader_reads_back() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("p"), t.path().join("s"));
    let end = write_log(&src, 600);
    let all = records_of(&src, end);
    let (mut m, _) = Mirror::open(StdFs::shared(), &dst).unwrap();
    let mut r = RawReader::new(StdFs::shared(), &src);
    let mut got = Vec::new();
    while let Some(c) = r.chunk(m.end_lsn(), end, 700).unwrap() {
        // A refused chunk leaves what was collected before it as it was.
        let mut bad = c.bytes.to_vec();
        bad[35] ^= 1;
        let before = got.len();
        assert!(m
            .append_records(&c.header, c.start_lsn, &bad.into(), &mut got)
            .is_err());
        assert_eq!(got.len(), before);
        let n = m
            .append_records(&c.header, c.start_lsn, &c.bytes, &mut got)
            .unwrap();
        assert_eq!(got.len() - before, n as usize);
    }
    assert_eq!(got, all, "every record once, in order, as read back");
}

// ---- Chunks read ahead of the link (`ReadAhead`) ----

fn ahead(dir: &Path, chunk_bytes: usize) -> ReadAhead {
    let raw = Arc::new(Mutex::new(RawReader::new(StdFs::shared(), dir)));
    ReadAhead::new(raw, chunk_bytes, Compression::Zstd { level: 1 })
}

/// Reads `[from, until)` through `a` chunk by chunk; checks that each
/// chunk starts where the one before ended and decompresses to its bytes.
async fn read_all(a: &mut ReadAhead, from: u64, until: u64) -> Vec<u8> {
    let (mut next, mut out) = (from, Vec::new());
    while next < until {
        let p = a.next(next, until).await.unwrap().expect("a chunk");
        assert_eq!(p.chunk.start_lsn, next);
        let raw_len = p.chunk.bytes.len() as u32;
        assert_eq!(
            decompress(p.encoding, p.data, raw_len).unwrap(),
            p.chunk.bytes
        );
        out.extend_from_slice(&p.chunk.bytes);
        next = p.chunk.end_lsn;
    }
    assert_eq!(next, until);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_read_ahead_follow_each_other_and_match_a_plain_read() {
    let t = tempfile::tempdir().unwrap();
    let end = write_log(t.path(), 3000);
    // Small chunks, so that the log is far more than the inline size and
    // several jobs are queued at once.
    let got = read_all(&mut ahead(t.path(), 1000), 0, end).await;
    let mut plain = RawReader::new(StdFs::shared(), t.path());
    let (mut next, mut want) = (0, Vec::new());
    while let Some(c) = plain.chunk(next, end, 1000).unwrap() {
        want.extend_from_slice(&c.bytes);
        next = c.end_lsn;
    }
    assert!(end > INLINE_CHUNK_BYTES);
    assert_eq!(got.len(), want.len());
    assert!(got == want, "read-ahead bytes differ from a plain read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_elsewhere_drops_what_was_read_ahead() {
    let t = tempfile::tempdir().unwrap();
    let end = write_log(t.path(), 3000);
    let mut a = ahead(t.path(), 1000);
    let first = a.next(0, end).await.unwrap().unwrap();
    assert!(a.queued() > 0, "later chunks are queued");
    // A new connection resumes at the start again (its acknowledged LSN).
    let again = a.next(0, end).await.unwrap().unwrap();
    assert_eq!(again.chunk, first.chunk);
    // Reading on from there takes what was queued after it.
    let mid = first.chunk.end_lsn;
    let rest = read_all(&mut a, mid, end).await;
    assert_eq!(rest.len() as u64, end - mid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_past_the_log_and_small_ranges_are_read_inline() {
    let t = tempfile::tempdir().unwrap();
    let end = write_log(t.path(), 50);
    assert!(end <= INLINE_CHUNK_BYTES);
    let mut a = ahead(t.path(), 1 << 20);
    let p = a.next(0, end).await.unwrap().unwrap();
    assert_eq!((p.chunk.start_lsn, p.chunk.end_lsn), (0, end));
    assert!(a.queued() == 0, "a small range is read on the task");
    assert!(a.next(end, end).await.unwrap().is_none());
}

/// Flips one payload byte of the record at `lsn` in the segment that holds it
/// (its header stays intact, so only its checksum shows the damage). Returns
/// the segment's path and the record's offset in it.
fn damage_payload(dir: &Path, lsn: u64) -> (std::path::PathBuf, u64) {
    let seg = wal::scan_dir(&StdFs, dir)
        .unwrap()
        .segments
        .into_iter()
        .rev()
        .find(|s| s.header.first_lsn <= lsn)
        .unwrap();
    let offset = wal::format::SEGMENT_HEADER_BYTES as u64 + (lsn - seg.header.first_lsn);
    let mut bytes = std::fs::read(&seg.file.path).unwrap();
    bytes[offset as usize + wal::format::RECORD_HEADER_BYTES] ^= 0x20;
    std::fs::write(&seg.file.path, bytes).unwrap();
    (seg.file.path, offset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_whose_checksum_fails_is_never_handed_out_for_shipping() {
    let t = tempfile::tempdir().unwrap();
    let end = write_log(t.path(), 3000);
    // A record a few chunks in, so that read-ahead jobs are queued around it.
    let mut plain = RawReader::new(StdFs::shared(), t.path());
    let mut bad = 0;
    for _ in 0..4 {
        bad = plain.chunk(bad, end, 1000).unwrap().unwrap().end_lsn;
    }
    let (segment, offset) = damage_payload(t.path(), bad);
    let names_it = |e: &wal::WalError| {
        let s = e.to_string();
        assert!(
            matches!(e, wal::WalError::Corruption { lsn, .. } if *lsn == bad),
            "{s}"
        );
        assert!(s.contains(&segment.display().to_string()), "{s}");
        assert!(s.contains(&format!("byte offset {offset} ")), "{s}");
        assert!(s.contains("checksum"), "{s}");
    };

    // Cutting by the headers alone passes over it; checking the chunk does not.
    let mut r = RawReader::new(StdFs::shared(), t.path());
    let c = r.cut(bad, end, 1000).unwrap().unwrap();
    assert_eq!(c.start_lsn, bad);
    names_it(&c.verify().unwrap_err());
    names_it(&r.chunk(bad, end, 1000).unwrap_err());
    // The chunk before it is whole and ships.
    let before = RawReader::new(StdFs::shared(), t.path())
        .chunk(0, bad, 1 << 20)
        .unwrap()
        .unwrap();
    assert!(before.end_lsn <= bad);

    // Read ahead: the chunks before it come out, then the error, never its bytes.
    let mut a = ahead(t.path(), 1000);
    let mut next = 0;
    let err = loop {
        match a.next(next, end).await {
            Ok(Some(p)) => {
                assert!(
                    p.chunk.end_lsn <= bad,
                    "a chunk holding the damaged record came out"
                );
                next = p.chunk.end_lsn;
            }
            Ok(None) => panic!("the log ended before the damaged record"),
            Err(e) => break e,
        }
    };
    assert_eq!(next, bad);
    names_it(&err);
    // Small ranges are read on the task: checked just the same.
    let mut a = ahead(t.path(), 1 << 20);
    match a.next(bad, bad + 512).await {
        Err(e) => names_it(&e),
        Ok(_) => panic!("a small range holding the damaged record was handed out"),
    }
}

#[test]
fn a_power_failure_at_any_step_of_a_segment_switch_leaves_a_mirror_that_opens() {
    // The chunk that starts a new segment arrives while the end of the one
    // before (its seal included) is written but not yet synced. A switch takes
    // several syncs; the power fails after each of them in turn (the sync
    // after it fails, so nothing more reaches the disk). The new segment's
    // name must never be durable before the end of the one before is, or the
    // log left behind has an unsealed segment followed by another one, and
    // refuses to open. With a tear seed, part of what was written but not
    // synced survives as well.
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("p");
    let end = write_log(&src, 600);
    let dst = Path::new("/standby/wal");
    let cases = (0..8).flat_map(|n| [(n, None), (n, Some(n + 1)), (n, Some(n + 100))]);
    for (syncs_before_failure, tear) in cases {
        let mut fs = logship::fs::MemFs::new();
        let (mut m, _) = Mirror::open(Arc::new(fs.clone()), dst).unwrap();
        let mut r = RawReader::new(StdFs::shared(), &src);
        let mut durable = 0;
        let mut switched = false;
        while let Some(c) = r.chunk(m.end_lsn(), end, 1000).unwrap() {
            let starts_segment = c.start_lsn == c.header.first_lsn;
            if starts_segment && c.start_lsn > 0 {
                fs.fail_syncs_after(syncs_before_failure);
                let _ = m.append(&c.header, c.start_lsn, &c.bytes);
                switched = true;
                break;
            }
            m.append(&c.header, c.start_lsn, &c.bytes).unwrap();
            // The first segment's start is durable; its end is only written.
            if c.start_lsn == 0 {
                durable = m.sync().unwrap();
            }
        }
        assert!(switched && durable > 0);
        drop(m);
        fs.crash(tear);
        fs.heal_syncs();
        let (m, report) = Mirror::open(Arc::new(fs.clone()), dst).unwrap_or_else(|e| {
            panic!("power failure after {syncs_before_failure} syncs of a switch (tear {tear:?}): the mirror must open: {e}")
        });
        assert!(
            m.end_lsn() >= durable,
            "after {syncs_before_failure} syncs (tear {tear:?}): durable LSN {durable:#x} lost (end {:#x})",
            m.end_lsn()
        );
        assert_eq!(report.end_lsn, m.end_lsn());
        let last = WalReader::open(Arc::new(fs.clone()), dst, 0, Some(m.end_lsn()))
            .unwrap()
            .map(|r| r.unwrap().end_lsn)
            .last();
        assert_eq!(last, Some(m.end_lsn()));
    }
}

#[test]
fn a_segment_switch_on_the_receiving_side_costs_three_syncs() {
    // The sealed segment's data, the new segment's header (with its
    // allocation), and its name: each sync holds up the chunks behind it.
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("p");
    let end = write_log(&src, 600);
    let fs = logship::fs::MemFs::new();
    let dst = Path::new("/standby/wal");
    let (mut m, _) = Mirror::open(Arc::new(fs.clone()), dst).unwrap();
    let mut r = RawReader::new(StdFs::shared(), &src);
    let mut switches = 0;
    while let Some(c) = r.chunk(m.end_lsn(), end, 1000).unwrap() {
        let before = fs.syncs();
        m.append(&c.header, c.start_lsn, &c.bytes).unwrap();
        let syncs = fs.syncs() - before;
        if c.start_lsn == c.header.first_lsn && c.start_lsn > 0 {
            assert_eq!(syncs, 3, "switch at LSN {:#x}", c.start_lsn);
            switches += 1;
        } else if c.start_lsn > 0 {
            assert_eq!(syncs, 0, "a chunk within a segment syncs nothing itself");
        }
    }
    assert!(switches >= 2, "{switches}");
}

#[test]
fn a_segment_left_unnamed_is_removed_when_the_mirror_opens() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("p"), t.path().join("s"));
    let end = write_log(&src, 200);
    let m = ship_all(&src, &dst, end, 1000);
    drop(m);
    // A standby stopped while it prepared its next segment.
    let tmp = dst.join("receive.prep");
    std::fs::write(&tmp, vec![0u8; 8192]).unwrap();
    let (m, _) = Mirror::open(StdFs::shared(), &dst).unwrap();
    assert!(!tmp.exists(), "the unnamed segment is still there");
    assert_eq!(m.end_lsn(), end);
}
