//! The standby's replay thread follows the received LSN, applies every record
//! once in order, and holds records back by the apply delay.

use logship::ship::Received;
use logship::standby::replay::{ApplyDelay, ReplayTarget, Replayer};
use logship::wal::{self, Mirror, RawReader, Record, RecordKind, StdFs, SyncPolicy, WalOptions};
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
    fn apply_batch(&self, records: &[Record]) -> Result<(), String> {
        let mut g = self.applied.lock().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        for r in records {
            if r.lsn < g.0 {
                continue;
            }
            if r.kind == RecordKind::Data {
                g.1.push((r.payload.to_vec(), now.saturating_sub(r.timestamp_unix_ms)));
            }
            g.0 = r.end_lsn;
        }
        Ok(())
    }
}

/// Writes `n` records on the "primary" and copies them into the mirror.
fn ship(pd: &std::path::Path, m: &mut Mirror, tag: &str, n: usize) -> u64 {
    let mut o = WalOptions::new(pd, 1, 1);
    o.segment_bytes = 16 << 10;
    o.sync = SyncPolicy::Never;
    let (w, _) = wal::open(StdFs::shared(), o).unwrap();
    for i in 0..n {
        w.append(format!("{tag}{i}").as_bytes()).unwrap();
    }
    let end = w.close().unwrap().durable_lsn;
    let mut r = RawReader::new(StdFs::shared(), pd);
    while let Some(c) = r.chunk(m.end_lsn(), end, 4096).unwrap() {
        m.append(&c.header, c.start_lsn, &c.bytes).unwrap();
    }
    m.sync().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_follows_the_received_lsn_and_applies_each_record_once() {
    let t = tempfile::tempdir().unwrap();
    let (pd, sd) = (t.path().join("p"), t.path().join("s"));
    let (mut m, _) = Mirror::open(StdFs::shared(), &sd).unwrap();
    let (rx_tx, rx) = watch::channel(Received::default());
    let target = Arc::new(Collect::default());
    let mut rep = Replayer::start(
        StdFs::shared(),
        sd.clone(),
        rx,
        target.clone(),
        ApplyDelay::default(),
        watch::channel(0).0,
        tokio::runtime::Handle::current(),
    )
    .unwrap();
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
    let (pd, sd) = (t.path().join("p"), t.path().join("s"));
    let (mut m, _) = Mirror::open(StdFs::shared(), &sd).unwrap();
    let (rx_tx, rx) = watch::channel(Received::default());
    let target = Arc::new(Collect::default());
    let delay = Duration::from_millis(600);
    let _rep = Replayer::start(
        StdFs::shared(),
        sd.clone(),
        rx,
        target.clone(),
        ApplyDelay::new(delay),
        watch::channel(0).0,
        tokio::runtime::Handle::current(),
    )
    .unwrap();
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
