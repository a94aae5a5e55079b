//! Append, close, reopen and read back through the real file system.

use logship::wal::{self, SyncPolicy, WalOptions, WalReader};

use logship::fs::StdFs;

#[test]
fn appended_records_read_back_across_segments_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let walp = dir.path().join("wal");
    let mut opts = WalOptions::new(&walp, 42, 1);
    opts.segment_bytes = 8192;
    opts.sync = SyncPolicy::Always;
    let (w, rec) = wal::open(StdFs::shared(), opts.clone()).unwrap();
    assert_eq!(rec.next_lsn, 0);
    let mut ends = Vec::new();
    for i in 0..500u32 {
        let a = w.append(format!("record-{i}").as_bytes()).unwrap();
        ends.push(a);
    }
    w.wait_acked(ends.last().unwrap().end_lsn).unwrap();
    w.close().unwrap();
    drop(w);
    let (w2, rec2) = wal::open(StdFs::shared(), opts.clone()).unwrap();
    assert_eq!(rec2.next_lsn, ends.last().unwrap().end_lsn);
    assert!(rec2.truncated.is_none());
    assert!(rec2.report.segments.len() >= 3);
    let a = w2.append(b"after reopen").unwrap();
    w2.wait_acked(a.end_lsn).unwrap();
    w2.close().unwrap();
    let recs: Vec<_> = WalReader::open(StdFs::shared(), &walp, 0, None)
        .unwrap()
        .map(|r| r.unwrap())
        .filter(|r| r.kind == wal::RecordKind::Data)
        .collect();
    assert_eq!(recs.len(), 501);
    for (i, r) in recs.iter().take(500).enumerate() {
        assert_eq!(r.payload, format!("record-{i}").as_bytes());
        assert_eq!(r.lsn, ends[i].lsn);
    }
    assert_eq!(&recs[500].payload[..], b"after reopen");
}

#[test]
fn waiting_past_the_end_of_a_closed_log_returns_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = WalOptions::new(dir.path().join("wal"), 42, 1);
    opts.segment_bytes = 8192;
    let (w, _) = wal::open(StdFs::shared(), opts).unwrap();
    let a = w.append(b"x").unwrap();
    w.wait_acked(a.end_lsn).unwrap();
    let end = w.close().unwrap().durable_lsn;
    assert_eq!(end, a.end_lsn);
    // Below the end: already there. Past it: an error at once, not a hang.
    w.wait_acked(a.end_lsn).unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(w.wait_acked(end + 8), Err(wal::WalError::Closed)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            w.wait_acked_async(end + 8),
        )
        .await
    });
    assert!(matches!(r, Ok(Err(wal::WalError::Closed))), "{r:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(w.position().closed);
}
