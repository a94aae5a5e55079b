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
