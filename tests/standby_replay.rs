//! The standby's replay thread follows the received LSN, applies every record
//! once in order, and holds records back by the apply delay; chunks handed to
//! replay on arrival are applied once, in order, alongside the thread.

use logship::fs::StdFs;
use logship::ship::Received;
use logship::standby::replay::{ApplyDelay, ReplayTarget, Replayer};
use logship::store::ApplyError;
use logship::wal::{self, Mirror, RawReader, Record, RecordKind, SyncPolicy, WalOptions};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Applied LSN, and each applied payload with its age (ms) when applied.
type Applied = (u64, Vec<(Vec<u8>, u64)>);

#[derive(Default)]
struct Collect {
    applied: Mutex<Applied>,
}

impl ReplayTarget for Collect {
    fn applied_lsn(&self) -> u64 {
        self.applied.lock().unwrap().0
    }
    fn apply_batch(&self, records: &[Record]) -> Result<u64, ApplyError> {
        apply_locked(&mut self.applied.lock().unwrap(), records)
    }
    fn apply_batch_at(&self, start_lsn: u64, records: &[Record]) -> Result<bool, ApplyError> {
        let mut g = self.applied.lock().unwrap();
        if g.0 != start_lsn {
            return Ok(false);
        }
        apply_locked(&mut g, records).map(|_| true)
    }
}

fn apply_locked(g: &mut Applied, records: &[Record]) -> Result<u64, ApplyError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut applied = 0;
    for r in records {
        if r.lsn < g.0 {
            continue;
        }
        applied += 1;
        if r.kind == RecordKind::Data {
            g.1.push((r.payload.to_vec(), now.saturating_sub(r.timestamp_unix_ms)));
        }
        g.0 = r.end_lsn;
    }
    Ok(applied)
}

/// A standby's received log (in `dir/s`) with a replayer into a [`Collect`].
struct Rig {
    m: Mirror,
    rx_tx: watch::Sender<Received>,
    target: Arc<Collect>,
    rep: Replayer,
}

fn rig(dir: &std::path::Path, delay: ApplyDelay) -> Rig {
    let sd = dir.join("s");
    let (m, _) = Mirror::open(StdFs::shared(), &sd).unwrap();
    let (rx_tx, rx) = watch::channel(Received::default());
    let target = Arc::new(Collect::default());
    let handle = tokio::runtime::Handle::current();
    let rep = Replayer::start(
        StdFs::shared(),
        sd,
        rx,
        target.clone(),
        delay,
        watch::channel(0).0,
        handle,
    )
    .unwrap();
    Rig {
        m,
        rx_tx,
        target,
        rep,
    }
}

/// Writes `n` records on the "primary"; returns its end LSN.
fn write_primary(pd: &std::path::Path, tag: &str, n: usize) -> u64 {
    let mut o = WalOptions::new(pd, 1, 1);
    o.segment_bytes = 16 << 10;
    o.sync = SyncPolicy::Never;
    let (w, _) = wal::open(StdFs::shared(), o).unwrap();
    for i in 0..n {
        w.append(format!("{tag}{i}").as_bytes()).unwrap();
    }
    w.close().unwrap().durable_lsn
}

/// Writes `n` records on the "primary" and copies them into the mirror.
fn ship(pd: &std::path::Path, m: &mut Mirror, tag: &str, n: usize) -> u64 {
    let end = write_primary(pd, tag, n);
    let mut r = RawReader::new(StdFs::shared(), pd);
    while let Some(c) = r.chunk(m.end_lsn(), end, 4096).unwrap() {
        m.append(&c.header, c.start_lsn, &c.bytes).unwrap();
    }
    m.sync().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_follows_the_received_lsn_and_applies_each_record_once() {
    let t = tempfile::tempdir().unwrap();
    let pd = t.path().join("p");
    let Rig {
        mut m,
        rx_tx,
        target,
        mut rep,
    } = rig(t.path(), ApplyDelay::default());
    let mut applied = rep.applied();
    for round in 0..3 {
        let end = ship(&pd, &mut m, &format!("r{round}-"), 700);
        rx_tx.send_modify(|r| r.received_lsn = end);
        tokio::time::timeout(Duration::from_secs(10), applied.wait_for(|a| *a >= end))
            .await
            .unwrap()
            .unwrap();
    }
    let g = target.applied.lock().unwrap();
    assert_eq!(g.1.len(), 2100);
    for round in 0..3 {
        for i in 0..700 {
            assert_eq!(g.1[round * 700 + i].0, format!("r{round}-{i}").into_bytes());
        }
    }
    drop(g);
    assert!(rep.state().borrow().records_applied_total >= 2100);
    rep.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_delay_holds_records_while_receipt_continues() {
    let t = tempfile::tempdir().unwrap();
    let pd = t.path().join("p");
    let delay = Duration::from_millis(600);
    let Rig {
        mut m,
        rx_tx,
        target,
        rep: _rep,
    } = rig(t.path(), ApplyDelay::new(delay));
    let started = Instant::now();
    let end = ship(&pd, &mut m, "d", 50);
    rx_tx.send_modify(|r| r.received_lsn = end);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        target.applied.lock().unwrap().1.is_empty(),
        "applied before the delay"
    );
    while target.applied_lsn() < end {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let g = target.applied.lock().unwrap();
    assert_eq!(g.1.len(), 50);
    assert!(
        g.1.iter().all(|(_, age)| *age >= 600),
        "every record was at least 600 ms old when applied"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_applied_on_arrival_are_applied_once_in_order_beside_the_thread() {
    let t = tempfile::tempdir().unwrap();
    let pd = t.path().join("p");
    let Rig {
        mut m,
        rx_tx,
        target,
        mut rep,
    } = rig(t.path(), ApplyDelay::default());
    let inline = rep
        .inline()
        .expect("no apply delay: chunks may apply on arrival");
    let end = write_primary(&pd, "c", 2000);
    let mut r = RawReader::new(StdFs::shared(), &pd);
    let mut chunks = Vec::new();
    // Each chunk's records as the mirror checked them: what the receiver
    // offers.
    while let Some(c) = r.chunk(m.end_lsn(), end, 512).unwrap() {
        let mut records = Vec::new();
        m.append_records(&c.header, c.start_lsn, &c.bytes, &mut records)
            .unwrap();
        chunks.push((c, records));
    }
    // A chunk past the applied LSN is left alone: nothing may skip a record.
    inline.offer(chunks[1].0.start_lsn, &chunks[1].1);
    assert_eq!(target.applied_lsn(), 0, "a chunk after a gap was applied");
    // The chunk at the applied LSN applies at once: the thread cannot have
    // read it (the written LSN has not moved).
    inline.offer(chunks[0].0.start_lsn, &chunks[0].1);
    assert_eq!(target.applied_lsn(), chunks[0].0.end_lsn);
    // Then each chunk reaches both the thread (as the written LSN moves) and
    // the inline path, as the receiver does; they race for every one.
    for (c, records) in &chunks {
        rx_tx.send_modify(|r| r.written_lsn = c.end_lsn);
        inline.offer(c.start_lsn, records);
    }
    let mut applied = rep.applied();
    tokio::time::timeout(Duration::from_secs(10), applied.wait_for(|a| *a >= end))
        .await
        .unwrap()
        .unwrap();
    let got: Vec<_> = {
        let g = target.applied.lock().unwrap();
        g.1.iter().map(|(p, _)| p.clone()).collect()
    };
    let want: Vec<_> = (0..2000).map(|i| format!("c{i}").into_bytes()).collect();
    assert_eq!(got.len(), want.len(), "some record applied twice or never");
    assert!(got == want, "records applied out of order");
    // The count of applied records (status, metrics) counts each one once,
    // whichever path applied it; the two paths publish after they apply.
    let records: u64 = chunks.iter().map(|(c, _)| c.records).sum();
    let mut state = rep.state();
    tokio::time::timeout(
        Duration::from_secs(10),
        state.wait_for(|s| s.records_applied_total >= records),
    )
    .await
    .unwrap()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(state.borrow().records_applied_total, records);
    rep.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_apply_delay_nothing_applies_on_arrival() {
    let t = tempfile::tempdir().unwrap();
    let rig = rig(t.path(), ApplyDelay::new(Duration::from_secs(60)));
    let rep = rig.rep;
    assert!(rep.inline().is_none());
}
