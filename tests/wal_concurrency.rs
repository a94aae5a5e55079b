//! Many appenders at once under `always`: 16 OS threads, and 64 tokio tasks that
//! wait asynchronously. Every acknowledged (LSN, payload) must read back after a
//! reopen, the LSNs handed out must be unique, and the log must be contiguous with
//! nothing in it that was not appended.

mod common;

use common::{assert_contiguous, data_records, options, payload, Disk};
use logship::wal::{self, Position, RecordKind, SyncPolicy, Wal, WalError, WalReader};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const SEGMENT_BYTES: u64 = 64 << 10;
const HANG: Duration = Duration::from_secs(30);

fn len_of(tag: u64, i: u64) -> usize {
    ((tag * 131 + i * 17) % 700) as usize
}

/// Checks one appender's acknowledgements (its own LSNs rise), merges them into
/// `all`, and fails on an LSN handed out twice.
fn merge(all: &mut BTreeMap<u64, Vec<u8>>, acked: Vec<(u64, Vec<u8>)>) {
    for w in acked.windows(2) {
        assert!(w[0].0 < w[1].0, "one appender's LSNs went back");
    }
    for (lsn, p) in acked {
        assert!(
            all.insert(lsn, p).is_none(),
            "LSN {lsn:#x} handed out twice"
        );
    }
}

/// Reopens the log and checks that it holds exactly the acknowledged records.
fn check_log(disk: &Disk, acked: &BTreeMap<u64, Vec<u8>>, end_lsn: u64) {
    let dir = disk.dir();
    let (w, rec) = wal::open(disk.fs(), options(&dir, SEGMENT_BYTES, SyncPolicy::Always)).unwrap();
    assert!(rec.truncated.is_none(), "{:?}", rec.truncated);
    assert_eq!(rec.next_lsn, end_lsn);
    w.close().unwrap();
    drop(w);
    let got: BTreeMap<u64, Vec<u8>> = data_records(disk.fs(), &dir)
        .into_iter()
        .map(|r| (r.lsn, r.payload.to_vec()))
        .collect();
    assert_eq!(got.len(), acked.len());
    for (lsn, p) in acked {
        assert_eq!(got.get(lsn), Some(p), "acknowledged LSN {lsn:#x}");
    }
    assert_contiguous(disk.fs(), &dir);
}

fn run_threads(disk: Disk) {
    const THREADS: u64 = 16;
    const PER_THREAD: u64 = 150;
    let (w, _) = wal::open(
        disk.fs(),
        options(&disk.dir(), SEGMENT_BYTES, SyncPolicy::Always),
    )
    .unwrap();
    let w = Arc::new(w);
    let (tx, rx) = std::sync::mpsc::channel();
    for t in 0..THREADS {
        let w = w.clone();
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut acked = Vec::new();
            for i in 0..PER_THREAD {
                let p = payload(t << 32 | i, len_of(t, i));
                let a = w.append(&p).expect("append");
                w.wait_acked(a.end_lsn).expect("acknowledged");
                assert!(w.position().durable_lsn >= a.end_lsn);
                acked.push((a.lsn, p));
            }
            let _ = tx.send(acked);
        });
    }
    drop(tx);
    let mut all = BTreeMap::new();
    for _ in 0..THREADS {
        merge(
            &mut all,
            rx.recv_timeout(HANG).expect("an appender hung or failed"),
        );
    }
    assert_eq!(all.len() as u64, THREADS * PER_THREAD);
    let end = w.close().unwrap().durable_lsn;
    assert_eq!(end, w.next_lsn());
    drop(w);
    check_log(&disk, &all, end);
    assert!(disk.segments().len() > 3, "the appenders crossed segments");
}

#[test]
fn sixteen_threads_stdfs() {
    run_threads(Disk::std());
}

#[test]
fn sixteen_threads_memfs() {
    run_threads(Disk::mem());
}

/// Follows the position updates until the log goes away, checking that they only
/// move forward and that durable never passes written.
async fn watch_positions(mut rx: tokio::sync::watch::Receiver<Position>) -> u64 {
    let mut last = *rx.borrow_and_update();
    let mut updates = 0;
    while rx.changed().await.is_ok() {
        let p = *rx.borrow_and_update();
        assert!(!p.failed);
        assert!(p.durable_lsn <= p.written_lsn, "{p:?}");
        assert!(p.written_lsn >= last.written_lsn && p.durable_lsn >= last.durable_lsn);
        last = p;
        updates += 1;
    }
    updates
}

fn run_tasks(disk: Disk) {
    const TASKS: u64 = 64;
    const PER_TASK: u64 = 60;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (w, _) = wal::open(
        disk.fs(),
        options(&disk.dir(), SEGMENT_BYTES, SyncPolicy::Always),
    )
    .unwrap();
    let w: Arc<Wal> = Arc::new(w);
    let (all, end, updates) = rt.block_on(async {
        let watcher = tokio::spawn(watch_positions(w.subscribe()));
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let w = w.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..PER_TASK {
                    let p = payload(t << 32 | i, len_of(t, i));
                    let a = w.append(&p).expect("append");
                    w.wait_acked_async(a.end_lsn).await.expect("acknowledged");
                    acked.push((a.lsn, p));
                }
                acked
            }));
        }
        let mut all = BTreeMap::new();
        for t in tasks {
            let acked = tokio::time::timeout(HANG, t)
                .await
                .expect("a task hung")
                .expect("a task failed");
            merge(&mut all, acked);
        }
        let end = w.close().unwrap().durable_lsn;
        // The watcher ends when the log (its sender) goes away.
        let w = Arc::try_unwrap(w).unwrap_or_else(|_| panic!("the log is still shared"));
        drop(w);
        let updates = tokio::time::timeout(HANG, watcher)
            .await
            .expect("the watcher hung")
            .expect("the watcher failed");
        (all, end, updates)
    });
    assert_eq!(all.len() as u64, TASKS * PER_TASK);
    assert!(updates > 0);
    check_log(&disk, &all, end);
    assert!(disk.segments().len() > 3, "the appenders crossed segments");
}

#[test]
fn sixty_four_tokio_tasks_stdfs() {
    run_tasks(Disk::std());
}

#[test]
fn sixty_four_tokio_tasks_memfs() {
    run_tasks(Disk::mem());
}

/// Group commit really groups: with 64 waiters, an fsync carries many records.
#[test]
fn concurrent_waiters_share_fsyncs() {
    let disk = Disk::mem();
    let (w, _) = wal::open(
        disk.fs(),
        options(&disk.dir(), SEGMENT_BYTES, SyncPolicy::Always),
    )
    .unwrap();
    let w = Arc::new(w);
    let records = 64 * 50;
    std::thread::scope(|s| {
        for t in 0..64u64 {
            let w = &w;
            s.spawn(move || {
                for i in 0..50 {
                    let a = w.append(&payload(t << 32 | i, 40)).unwrap();
                    w.wait_acked(a.end_lsn).unwrap();
                }
            });
        }
    });
    let stats = w.stats();
    w.close().unwrap();
    println!(
        "{} fsyncs, {} batches for {records} records",
        stats.fsyncs, stats.batches
    );
    assert!(stats.fsyncs > 0);
    assert!(
        stats.fsyncs < records / 2,
        "{} fsyncs for {records} records",
        stats.fsyncs
    );
}

/// A reader that follows the durable LSN while threads append (as the shipper
/// will) sees every record up to it, in order, with the payload that was
/// appended — across segment switches.
fn run_live_reader(disk: Disk) {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 250;
    let dir = disk.dir();
    let fs = disk.fs();
    let (w, _) = wal::open(fs.clone(), options(&dir, 8192, SyncPolicy::Always)).unwrap();
    let w = Arc::new(w);
    let mut rx = w.subscribe();
    let (tx, done) = std::sync::mpsc::channel();
    let appenders: Vec<_> = (0..THREADS)
        .map(|t| {
            let w = w.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0..PER_THREAD {
                    let p = payload(t << 32 | i, len_of(t, i));
                    let a = w.append(&p).expect("append");
                    w.wait_acked(a.end_lsn).expect("acknowledged");
                    acked.push((a.lsn, p));
                }
                acked
            })
        })
        .collect();
    // Joins the appenders, then closes the log and lets it go, which ends the
    // position updates.
    std::thread::spawn(move || {
        let acked: Vec<_> = appenders.into_iter().map(|h| h.join()).collect();
        let _ = w.close();
        drop(w);
        let _ = tx.send(acked);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut next = 0u64;
    let mut seen: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut reads = 0;
    rt.block_on(async {
        loop {
            let more = tokio::time::timeout(HANG, rx.changed())
                .await
                .expect("no position update");
            let durable = rx.borrow_and_update().durable_lsn;
            if durable > next {
                reads += 1;
                for r in WalReader::open(fs.clone(), &dir, next, Some(durable)).unwrap() {
                    let r = r.unwrap_or_else(|e| panic!("reading {next:#x}..{durable:#x}: {e}"));
                    assert_eq!(r.lsn, next, "hole or overlap");
                    next = r.end_lsn;
                    if r.kind == RecordKind::Data {
                        seen.insert(r.lsn, r.payload.to_vec());
                    }
                }
                assert_eq!(next, durable, "stopped short of the durable LSN");
            }
            if more.is_err() {
                break;
            }
        }
    });
    let acked = done.recv_timeout(HANG).expect("the appenders hung");
    let mut all = BTreeMap::new();
    for a in acked {
        merge(&mut all, a.expect("an appender failed"));
    }
    assert_eq!(seen, all);
    assert!(reads > 1, "the reader only ever read once");
    assert!(disk.segments().len() > 3);
}

#[test]
fn live_reader_follows_the_durable_lsn_stdfs() {
    run_live_reader(Disk::std());
}

#[test]
fn live_reader_follows_the_durable_lsn_memfs() {
    run_live_reader(Disk::mem());
}

/// Closing while threads append: each append either fails with `Closed` or its
/// record is written and acknowledged; no waiter hangs, and the log holds exactly
/// the records whose append succeeded.
#[test]
fn close_while_appending_acknowledges_everything_accepted() {
    for disk in [Disk::mem(), Disk::std()] {
        let dir = disk.dir();
        let (w, _) = wal::open(disk.fs(), options(&dir, 8192, SyncPolicy::Always)).unwrap();
        let w = Arc::new(w);
        let (tx, rx) = std::sync::mpsc::channel();
        let (first_ack_tx, first_ack) = std::sync::mpsc::channel();
        for t in 0..8u64 {
            let w = w.clone();
            let tx = tx.clone();
            let first_ack_tx = first_ack_tx.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0..10_000u64 {
                    let p = payload(t << 32 | i, len_of(t, i));
                    match w.append(&p) {
                        Ok(a) => {
                            w.wait_acked(a.end_lsn)
                                .expect("accepted but not acknowledged");
                            acked.push((a.lsn, p));
                            let _ = first_ack_tx.send(());
                        }
                        Err(WalError::Closed) => break,
                        Err(e) => panic!("unexpected error {e}"),
                    }
                }
                let _ = tx.send(acked);
            });
        }
        drop(tx);
        // Close once every appender has had a record acknowledged.
        for _ in 0..8 {
            first_ack.recv_timeout(HANG).expect("no acknowledgement");
        }
        let end = w.close().unwrap().durable_lsn;
        let mut all = BTreeMap::new();
        for _ in 0..8 {
            merge(&mut all, rx.recv_timeout(HANG).expect("an appender hung"));
        }
        assert!(matches!(w.append(b"late"), Err(WalError::Closed)));
        drop(w);
        check_log(&disk, &all, end);
    }
}
