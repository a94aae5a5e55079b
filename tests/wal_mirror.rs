//! Shipping's WAL side: chunks cut by `RawReader` and written by `Mirror` give a
//! byte-identical copy; bad chunks are refused without writing anything.

use logship::wal::{
    self, format::SegmentHeader, ChunkError, Mirror, RawReader, StdFs, SyncPolicy, WalOptions,
    WalReader,
};
use std::path::Path;

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
fn a_reader_follows_a_growing_mirror_across_segments_without_reopening() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("p"), t.path().join("s"));
    let end = write_log(&src, 600);
    let all: Vec<_> = WalReader::open(StdFs::shared(), &src, 0, Some(end))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
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
    let all: Vec<_> = WalReader::open(StdFs::shared(), &src, 0, Some(end))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
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
