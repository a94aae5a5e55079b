//! Fault injection on the in-memory file system: failing fsync, power failures at
//! random moments (losing or tearing unsynced writes), a full disk, and the
//! `interval` and `never` policies losing only what was not yet synced.
//!
//! The common check after every fault: the log reopens, every record acknowledged
//! as durable is there with its payload, and what is there is an exact prefix of
//! what was appended — no holes, nothing invented.

mod common;

use common::{data_records, options, payload};
use logship::fs::{MemFs, SharedFs};
use logship::wal::{self, Appended, SyncPolicy, Wal, WalError, WalOptions};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEGMENT_BYTES: u64 = 4096;
/// How long any wait may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(20);

fn mem_opts(sync: SyncPolicy) -> WalOptions {
    options(Path::new("/wal"), SEGMENT_BYTES, sync)
}

fn shared(fs: &MemFs) -> SharedFs {
    Arc::new(fs.clone())
}

/// What the appenders did: every record `append` accepted, and which of them were
/// acknowledged.
#[derive(Default)]
struct Ledger {
    appended: BTreeMap<u64, Vec<u8>>,
    acked: BTreeSet<u64>,
}

impl Ledger {
    fn merge(&mut self, other: Ledger) {
        self.appended.extend(other.appended);
        self.acked.extend(other.acked);
    }

    /// Reopens the log and checks that every acknowledged record is there and the
    /// log is an exact prefix of what was appended. Returns the recovery.
    fn check_recovered(&self, fs: &MemFs, sync: SyncPolicy, ctx: &str) -> wal::Recovery {
        let (w, rec) = wal::open(shared(fs), mem_opts(sync))
            .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
        if rec.truncated.is_some() {
            let copy = rec.saved_copy.as_ref().expect("a saved copy");
            assert!(shared(fs).exists(copy), "{ctx}");
        }
        w.close().unwrap();
        drop(w);
        let got = data_records(shared(fs), Path::new("/wal"));
        let want: Vec<(&u64, &Vec<u8>)> = self.appended.iter().take(got.len()).collect();
        assert_eq!(
            got.len(),
            want.len(),
            "{ctx}: records not appended were recovered"
        );
        for (r, (lsn, p)) in got.iter().zip(&want) {
            assert_eq!(r.lsn, **lsn, "{ctx}: hole before LSN {lsn:#x}");
            assert!(r.payload == p[..], "{ctx}: payload of LSN {lsn:#x} differs");
        }
        let end = got.last().map_or(0, |r| r.end_lsn);
        if let Some(lost) = self.acked.iter().find(|&&l| l >= end) {
            panic!("{ctx}: acknowledged record at LSN {lost:#x} lost (log ends at {end:#x})");
        }
        rec
    }
}

/// Appends up to `count` records from one thread, waiting for each; stops at the
/// first error and returns it.
fn appender(w: &Wal, tag: u64, count: u64, acks: &mpsc::Sender<u64>) -> (Ledger, Option<WalError>) {
    let mut ledger = Ledger::default();
    for i in 0..count {
        let p = payload(tag << 32 | i, 1 + ((tag + i) as usize * 29) % 200);
        let a = match w.append(&p) {
            Ok(a) => a,
            Err(e) => return (ledger, Some(e)),
        };
        ledger.appended.insert(a.lsn, p);
        if let Err(e) = w.wait_acked(a.end_lsn) {
            return (ledger, Some(e));
        }
        ledger.acked.insert(a.lsn);
        let _ = acks.send(a.lsn);
    }
    (ledger, None)
}

/// Appends and acknowledges `count` records from this thread.
fn append_acked(w: &Wal, ledger: &mut Ledger, count: u64, tag: u64) {
    for i in 0..count {
        let p = payload(tag << 32 | i, 50);
        let a = w.append(&p).unwrap();
        w.wait_acked(a.end_lsn).unwrap();
        ledger.appended.insert(a.lsn, p);
        ledger.acked.insert(a.lsn);
    }
}

/// Runs appender threads on `w`, calls `during` with the acknowledgement stream
/// while they run, and collects their ledgers and errors — failing on a hang.
fn with_appenders(
    w: &Arc<Wal>,
    threads: u64,
    per_thread: u64,
    during: impl FnOnce(&mpsc::Receiver<u64>),
) -> (Ledger, Vec<Option<WalError>>) {
    let (ack_tx, ack_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    for t in 0..threads {
        let w = w.clone();
        let ack_tx = ack_tx.clone();
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            let _ = done_tx.send(appender(&w, t + 1, per_thread, &ack_tx));
        });
    }
    drop(ack_tx);
    drop(done_tx);
    during(&ack_rx);
    let deadline = Instant::now() + HANG;
    let mut ledger = Ledger::default();
    let mut errors = Vec::new();
    for _ in 0..threads {
        let left = deadline.saturating_duration_since(Instant::now());
        let (l, e) = done_rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("an appender hung for {HANG:?}"));
        ledger.merge(l);
        errors.push(e);
    }
    (ledger, errors)
}

/// A log still running after a power failure must not write into the image that
/// survived it (the process died with the power): its file handles fail.
#[test]
fn a_log_left_running_after_a_crash_cannot_touch_the_surviving_image() {
    let mut fs = MemFs::new();
    let sync = SyncPolicy::Interval { every_ms: 60_000 };
    let (w, _) = wal::open(shared(&fs), mem_opts(sync)).unwrap();
    for i in 0..20 {
        let a = w.append(&payload(i, 40)).unwrap();
        w.wait_acked(a.end_lsn).unwrap();
    }
    fs.crash(None);
    let a = w.append(&payload(99, 40)).unwrap();
    assert!(w.wait_acked(a.end_lsn).is_err(), "wrote after the crash");
    assert!(matches!(w.append(b"x"), Err(WalError::Stopped(_))));
    assert!(w.close().is_err());
    drop(w);
    let (w, rec) = wal::open(shared(&fs), mem_opts(sync)).unwrap();
    assert!(rec.truncated.is_none(), "{:?}", rec.truncated);
    assert_eq!(rec.next_lsn, 0, "nothing was synced, nothing survives");
    w.close().unwrap();
}

/// fsync fails after `n` more successful syncs while 16 appenders wait: every one
/// of them gets an error (none hangs), later appends and `close` fail, and after a
/// crash everything acknowledged before the failure is there.
#[test]
fn failed_fsync_stops_the_log_and_wakes_every_waiter() {
    for n in 0..8u64 {
        let ctx = format!("fsync fails after {n} more");
        let mut fs = MemFs::new();
        let (w, _) = wal::open(shared(&fs), mem_opts(SyncPolicy::Always)).unwrap();
        let w = Arc::new(w);
        let mut ledger = Ledger::default();
        append_acked(&w, &mut ledger, 30, 0);
        fs.fail_syncs_after(n);
        let (threads, errors) = with_appenders(&w, 16, 500, |_| {});
        ledger.merge(threads);
        for e in &errors {
            match e {
                Some(WalError::Stopped(msg)) => {
                    assert!(msg.contains("/wal"), "{ctx}: error names no file: {msg}")
                }
                Some(other) => panic!("{ctx}: expected Stopped, got {other}"),
                None => panic!("{ctx}: an appender finished without an error"),
            }
        }
        assert!(
            matches!(w.append(b"late"), Err(WalError::Stopped(_))),
            "{ctx}"
        );
        assert!(w.position().failed, "{ctx}");
        assert!(matches!(w.close(), Err(WalError::Stopped(_))), "{ctx}");
        // Waiting for an LSN already acknowledged still succeeds; past it, fails.
        let first_acked = *ledger.acked.iter().next().unwrap();
        assert!(w.wait_acked(first_acked + 1).is_ok(), "{ctx}");
        assert!(w.wait_acked(u64::MAX).is_err(), "{ctx}");
        drop(w);
        fs.crash(None);
        fs.heal_syncs();
        ledger.check_recovered(&fs, SyncPolicy::Always, &ctx);
    }
}

/// The same with tokio tasks waiting asynchronously: every task's wait resolves
/// with an error.
#[test]
fn failed_fsync_wakes_every_async_waiter() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for n in 0..4u64 {
        let mut fs = MemFs::new();
        let (w, _) = wal::open(shared(&fs), mem_opts(SyncPolicy::Always)).unwrap();
        let w = Arc::new(w);
        let mut ledger = Ledger::default();
        append_acked(&w, &mut ledger, 10, 0);
        fs.fail_syncs_after(n);
        let results = rt.block_on(async {
            let mut tasks = Vec::new();
            for t in 0..64u64 {
                let w = w.clone();
                tasks.push(tokio::spawn(async move {
                    let mut ledger = Ledger::default();
                    for i in 0..200u64 {
                        let p = payload((t + 1) << 32 | i, 30);
                        let a = match w.append(&p) {
                            Ok(a) => a,
                            Err(e) => return (ledger, Some(e)),
                        };
                        ledger.appended.insert(a.lsn, p);
                        if let Err(e) = w.wait_acked_async(a.end_lsn).await {
                            return (ledger, Some(e));
                        }
                        ledger.acked.insert(a.lsn);
                    }
                    (ledger, None)
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(
                    tokio::time::timeout(HANG, t)
                        .await
                        .expect("an async waiter hung")
                        .unwrap(),
                );
            }
            out
        });
        for (l, e) in results {
            ledger.merge(l);
            assert!(matches!(e, Some(WalError::Stopped(_))), "{e:?}");
        }
        assert!(w.close().is_err());
        drop(w);
        fs.crash(None);
        fs.heal_syncs();
        ledger.check_recovered(&fs, SyncPolicy::Always, &format!("async, n={n}"));
    }
}

/// Power failures at random moments while four threads append under `always`:
/// the log reopens (a torn tail may be cut off), every acknowledged record is
/// there, and the log is an exact prefix of what was appended.
#[test]
fn power_failure_at_a_random_moment_keeps_every_acknowledged_record() {
    let (mut interrupted, mut truncated) = (0, 0);
    for seed in 0..200u64 {
        let ctx = format!("seed {seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut fs = MemFs::new();
        let (w, _) = wal::open(shared(&fs), mem_opts(SyncPolicy::Always)).unwrap();
        let w = Arc::new(w);
        let crash_after = rng.gen_range(0..300);
        let (ledger, errors) = with_appenders(&w, 4, 100, |acks| {
            // Crash once `crash_after` acknowledgements arrived (or all ended).
            for _ in 0..crash_after {
                if acks.recv_timeout(HANG).is_err() {
                    break;
                }
            }
            fs.crash(Some(seed));
        });
        let _ = w.close();
        drop(w);
        let rec = ledger.check_recovered(&fs, SyncPolicy::Always, &ctx);
        truncated += rec.truncated.is_some() as u32;
        interrupted += errors.iter().any(Option::is_some) as u32;
    }
    println!("{interrupted} of 200 crashes hit running appenders, {truncated} tore a record");
    // The crash comes after fewer acknowledgements than the appenders make in
    // all, so it nearly always finds them running.
    assert!(
        interrupted >= 20,
        "only {interrupted} crashes hit running appenders"
    );
}

/// Power failures between batches of appends from one thread, some batches
/// waited for and some not.
#[test]
fn power_failure_between_batches_keeps_every_acknowledged_record() {
    for seed in 0..200u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut fs = MemFs::new();
        let (w, _) = wal::open(shared(&fs), mem_opts(SyncPolicy::Always)).unwrap();
        let mut ledger = Ledger::default();
        let batches = rng.gen_range(1..12);
        for b in 0..batches {
            let mut last = None;
            for i in 0..rng.gen_range(1..40u64) {
                let p = payload(b << 32 | i, rng.gen_range(0..600));
                let a: Appended = w.append(&p).unwrap();
                ledger.appended.insert(a.lsn, p);
                last = Some(a);
            }
            if rng.gen_bool(0.7) {
                let a = last.unwrap();
                w.wait_acked(a.end_lsn).unwrap();
                ledger
                    .acked
                    .extend(ledger.appended.range(..a.end_lsn).map(|(l, _)| *l));
            }
        }
        fs.crash(Some(seed));
        let _ = w.close();
        drop(w);
        ledger.check_recovered(&fs, SyncPolicy::Always, &format!("seed {seed}"));
    }
}

/// Appends single acknowledged records until the log stops (at most `limit`),
/// returning the error it stopped with.
fn append_until_stopped(w: &Wal, ledger: &mut Ledger, limit: u64) -> WalError {
    for i in 0..limit {
        let p = payload(1 << 32 | i, 50);
        let a = match w.append(&p) {
            Ok(a) => a,
            Err(e) => return e,
        };
        ledger.appended.insert(a.lsn, p);
        if let Err(e) = w.wait_acked(a.end_lsn) {
            return e;
        }
        ledger.acked.insert(a.lsn);
    }
    panic!("the log never stopped on a full disk");
}

/// After a fatal error: appends and close fail; after `crash` (optional) and
/// freeing space, everything acknowledged is there and the log goes on.
fn assert_stopped_then_recovers(mut fs: MemFs, w: Wal, ledger: &Ledger, crash: bool, ctx: &str) {
    assert!(matches!(w.append(b"x"), Err(WalError::Stopped(_))), "{ctx}");
    assert!(w.close().is_err(), "{ctx}");
    drop(w);
    if crash {
        fs.crash(None);
    }
    fs.set_capacity(None);
    ledger.check_recovered(&fs, SyncPolicy::Always, ctx);
    let (w, _) = wal::open(shared(&fs), mem_opts(SyncPolicy::Always)).unwrap();
    let a = w.append(b"after").unwrap();
    w.wait_acked(a.end_lsn).unwrap();
    w.close().unwrap();
}

/// Opens a log on `fs` (room for two segments) and writes until a write that
/// needs the third segment is refused for lack of space, naming the directory
/// and the file being prepared.
fn write_until_the_third_segment_is_refused(fs: &MemFs) -> (Wal, Ledger) {
    let (w, _) = wal::open(shared(fs), mem_opts(SyncPolicy::Always)).unwrap();
    let mut ledger = Ledger::default();
    match append_until_stopped(&w, &mut ledger, 3 * SEGMENT_BYTES / 32) {
        WalError::NoSpace { dir, detail } => {
            assert_eq!(dir, Path::new("/wal"));
            assert_eq!(detail, "preallocate /wal/next-2.prep");
        }
        other => panic!("expected NoSpace, got {other}"),
    }
    (w, ledger)
}

/// Once space is freed, a write goes through again within 10 s (the preparer
/// retries on its own) and is acknowledged.
fn resume_once_freed(w: &Wal, ledger: &mut Ledger) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let resumed = loop {
        match w.append(&payload(8, 50)) {
            Ok(a) => break a,
            Err(WalError::NoSpace { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("writes did not resume once space was freed: {e}"),
        }
    };
    w.wait_acked(resumed.end_lsn).unwrap();
    ledger.appended.insert(resumed.lsn, payload(8, 50));
    ledger.acked.insert(resumed.lsn);
}

/// As above, with segment files that take long to prepare: the appender
/// reaches the end of the second segment before the preparer has even found
/// out that the third does not fit. The write that needs the third segment
/// waits for that outcome and is refused; nothing is queued for a segment that
/// cannot exist, so the log does not stop.
#[test]
fn a_slow_preparation_on_a_full_disk_refuses_writes_and_the_log_goes_on() {
    let fs = MemFs::new();
    fs.set_capacity(Some(2 * SEGMENT_BYTES));
    fs.set_allocate_delay(Some(Duration::from_millis(300)));
    let (w, mut ledger) = write_until_the_third_segment_is_refused(&fs);
    assert!(!w.position().failed, "the log stopped");
    fs.set_allocate_delay(None);
    fs.set_capacity(None);
    resume_once_freed(&w, &mut ledger);
    w.close().unwrap();
    drop(w);
    ledger.check_recovered(&fs, SyncPolicy::Always, "after a slow, full disk");
}

/// A power failure while the next segment is being prepared, with the writer
/// idle: the write that needs that segment does not wait for ever for a file
/// the preparer can no longer make; the log stops, and the write says so.
#[test]
fn a_power_failure_during_a_slow_preparation_stops_the_log_without_a_hang() {
    let mut fs = MemFs::new();
    fs.set_allocate_delay(Some(Duration::from_secs(2)));
    let (w, _) = wal::open(shared(&fs), mem_opts(SyncPolicy::Always)).unwrap();
    // Fill the first segment, acknowledged, while the second is prepared,
    // up to where the next record needs the second.
    use logship::wal::format::{record_footprint, SEAL_RECORD_BYTES, SEGMENT_HEADER_BYTES};
    let capacity = SEGMENT_BYTES - SEGMENT_HEADER_BYTES as u64;
    let step = record_footprint(50);
    let mut end = 0;
    let mut i = 0;
    while end + step + SEAL_RECORD_BYTES <= capacity {
        let a = w.append(&payload(3 << 32 | i, 50)).unwrap();
        w.wait_acked(a.end_lsn).unwrap();
        end = a.end_lsn;
        i += 1;
    }
    fs.crash(None);
    let (tx, rx) = mpsc::channel();
    let w = Arc::new(w);
    let w2 = w.clone();
    std::thread::spawn(move || {
        let mut last = None;
        for j in 0..64 {
            match w2.append(&payload(4 << 32 | j, 50)) {
                Ok(a) => last = Some(w2.wait_acked(a.end_lsn)),
                Err(e) => {
                    last = Some(Err(e));
                    break;
                }
            }
            if matches!(last, Some(Err(_))) {
                break;
            }
        }
        let _ = tx.send(last);
    });
    let out = rx
        .recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("a write hung for {HANG:?} after the power failure"));
    assert!(
        matches!(out, Some(Err(WalError::Stopped(_)))),
        "expected the log stopped, got {out:?}"
    );
}

/// Room for two segments: the third cannot be prepared, so once the second is
/// full a write is refused with an error naming the directory and the file being
/// prepared, the log goes on (nothing stops, nothing acknowledged is lost), and
/// writes resume by themselves once space is freed.
#[test]
fn full_disk_while_preparing_a_segment_refuses_writes_until_space_returns() {
    let fs = MemFs::new();
    fs.set_capacity(Some(2 * SEGMENT_BYTES));
    let (w, mut ledger) = write_until_the_third_segment_is_refused(&fs);
    let last_acked = *ledger.acked.iter().last().unwrap();
    assert!(
        last_acked > SEGMENT_BYTES,
        "refused early at {last_acked:#x}"
    );
    // Still full: still refused, and the log has not stopped.
    let refused = w.append(&payload(7, 50)).unwrap_err();
    assert!(
        refused.to_string().contains("no space left on device"),
        "{refused}"
    );
    assert!(!w.position().failed);

    fs.set_capacity(None);
    resume_once_freed(&w, &mut ledger);
    append_acked(&w, &mut ledger, 10, 9);
    w.close().unwrap();
    drop(w);
    ledger.check_recovered(&fs, SyncPolicy::Always, "after the disk was full");
}

/// Closing while the disk is full and the next segment is being retried: close
/// returns at once instead of waiting for space, and nothing acknowledged is lost.
/// Filling up is seen either before a write needs the next segment (the write
/// is refused, the log goes on) or, when the disk fills between that check and
/// the preparation, by the writer (the log stops); both name the full disk.
#[test]
fn close_on_a_full_disk_does_not_hang() {
    let fs = MemFs::new();
    fs.set_capacity(Some(2 * SEGMENT_BYTES));
    let (w, _) = wal::open(shared(&fs), mem_opts(SyncPolicy::Always)).unwrap();
    let mut ledger = Ledger::default();
    let stopped_by = append_until_stopped(&w, &mut ledger, 3 * SEGMENT_BYTES / 32);
    let started = Instant::now();
    let closed = w.close();
    assert!(started.elapsed() < Duration::from_secs(5), "close hung");
    match stopped_by {
        WalError::NoSpace { .. } => {
            closed.unwrap();
        }
        WalError::Stopped(m) => {
            assert!(m.contains("no space left"), "{m}");
            assert!(closed.is_err(), "a stopped log closed cleanly");
        }
        other => panic!("expected a full disk, got {other}"),
    }
    drop(w);
    fs.set_capacity(None);
    ledger.check_recovered(&fs, SyncPolicy::Always, "closed on a full disk");
}

/// A disk that is full even for writes into allocated space (as copy-on-write
/// file systems can be): the next write fails and names the segment.
#[test]
fn full_disk_while_writing_stops_the_log_naming_the_file() {
    for crash in [false, true] {
        let fs = MemFs::new();
        let (w, _) = wal::open(shared(&fs), mem_opts(SyncPolicy::Always)).unwrap();
        let mut ledger = Ledger::default();
        append_acked(&w, &mut ledger, 10, 0);
        fs.set_capacity(Some(0));
        match append_until_stopped(&w, &mut ledger, 10) {
            WalError::Stopped(msg) => {
                let seg = wal::format::segment_file_name(1, 0);
                assert!(msg.starts_with(&format!("write /wal/{seg}")), "{msg}");
                assert!(msg.contains("No space left"), "{msg}");
            }
            other => panic!("expected Stopped, got {other}"),
        }
        assert_eq!(ledger.acked.len(), 10);
        assert_stopped_then_recovers(fs, w, &ledger, crash, &format!("crash={crash}"));
    }
}

/// A disk too full for the first segment: `open` fails naming the file.
#[test]
fn full_disk_at_open_fails_naming_the_file() {
    let fs = MemFs::new();
    fs.set_capacity(Some(SEGMENT_BYTES - 1));
    match wal::open(shared(&fs), mem_opts(SyncPolicy::Always)) {
        Err(WalError::Io(logship::durable::IoError { op, path, source })) => {
            assert_eq!(op, "preallocate");
            assert!(path.starts_with("/wal"), "{}", path.display());
            assert!(path.to_string_lossy().ends_with(".prep"));
            assert_eq!(source.raw_os_error(), Some(libc::ENOSPC));
        }
        Err(e) => panic!("expected an I/O error, got {e}"),
        Ok(_) => panic!("opened on a full disk"),
    }
    fs.set_capacity(None);
    let (w, rec) = wal::open(shared(&fs), mem_opts(SyncPolicy::Always)).unwrap();
    assert_eq!(rec.next_lsn, 0);
    w.close().unwrap();
}

/// A torn tail on a full disk: the copy cannot be written, so recovery fails
/// naming it and leaves the segment alone; with space it repairs.
#[test]
fn full_disk_during_repair_cuts_nothing() {
    let mut fs = MemFs::new();
    let (w, _) = wal::open(shared(&fs), mem_opts(SyncPolicy::Always)).unwrap();
    let mut ledger = Ledger::default();
    append_acked(&w, &mut ledger, 10, 0);
    let a = w.append(&payload(5, 100)).unwrap();
    w.wait_acked(a.end_lsn).unwrap();
    w.close().unwrap();
    drop(w);
    fs.crash(None);
    let seg = Path::new("/wal").join(wal::format::segment_file_name(1, 0));
    let off = 64 + a.lsn as usize;
    fs.poke(&seg, off + 40, &[0xEE]);
    let damaged = shared(&fs).read(&seg).unwrap();
    fs.set_capacity(Some(0));
    match wal::open(shared(&fs), mem_opts(SyncPolicy::Always)) {
        Err(WalError::Io(logship::durable::IoError { op, path, .. })) => {
            assert_eq!(op, "write copy");
            assert!(path.to_string_lossy().ends_with(".wal.broken"));
        }
        Err(e) => panic!("expected an I/O error, got {e}"),
        Ok(_) => panic!("repaired without room for the copy"),
    }
    assert_eq!(
        shared(&fs).read(&seg).unwrap(),
        damaged,
        "cut before the copy"
    );
    fs.set_capacity(None);
    let rec = ledger.check_recovered(&fs, SyncPolicy::Always, "repair");
    let t = rec.truncated.expect("a torn tail");
    assert_eq!((t.offset, t.lsn), (off as u64, a.lsn));
    // The failed attempt left a partial copy behind; the repair wrote a new one.
    let copy = rec.saved_copy.expect("a copy");
    assert_eq!(shared(&fs).read(&copy).unwrap(), damaged);
}

/// Under `interval` (and `never`), a crash may lose records acknowledged but not
/// yet synced — never more than that, and never in a way that leaves a hole or
/// makes the log refuse to open. A long interval means nothing is synced but the
/// segment files themselves, while the log crosses several segments.
#[test]
fn unsynced_policies_lose_at_most_the_unsynced_tail() {
    let mut truncated = 0;
    for (policy, seeds) in [
        (SyncPolicy::Interval { every_ms: 60_000 }, 0..40u64),
        (SyncPolicy::Interval { every_ms: 1 }, 0..40),
        (SyncPolicy::Never, 0..40),
    ] {
        for seed in seeds {
            let ctx = format!("{policy:?} seed {seed}");
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut fs = MemFs::new();
            let (w, _) = wal::open(shared(&fs), mem_opts(policy)).unwrap();
            let mut ledger = Ledger::default();
            let mut last = None;
            for i in 0..rng.gen_range(1..300u64) {
                let p = payload(i, rng.gen_range(0..300));
                let a = w.append(&p).unwrap();
                ledger.appended.insert(a.lsn, p);
                last = Some(a);
            }
            w.wait_acked(last.unwrap().end_lsn).unwrap();
            // Only what is durable must survive.
            let durable = w.position().durable_lsn;
            ledger.acked = ledger
                .appended
                .iter()
                .filter(|(l, p)| **l + wal::format::record_footprint(p.len()) <= durable)
                .map(|(l, _)| *l)
                .collect();
            fs.crash(if seed % 2 == 0 { Some(seed) } else { None });
            let _ = w.close();
            drop(w);
            let rec = ledger.check_recovered(&fs, policy, &ctx);
            truncated += rec.truncated.is_some() as u32;
        }
    }
    println!("{truncated} of 120 crashes tore a record");
}

/// fsync failing at each step of a torn-tail repair (copy, directory, cut, the
/// writer's first syncs): after a crash the next open repairs again, keeps every
/// acknowledged record, and a copy identical to the damaged file exists.
#[test]
fn failure_during_repair_is_repaired_again() {
    for n in 0..8u64 {
        let ctx = format!("fsync fails after {n} more");
        let mut fs = MemFs::new();
        let (w, _) = wal::open(shared(&fs), mem_opts(SyncPolicy::Always)).unwrap();
        let mut ledger = Ledger::default();
        append_acked(&w, &mut ledger, 20, 0);
        let a = w.append(&payload(5, 100)).unwrap();
        w.wait_acked(a.end_lsn).unwrap();
        w.close().unwrap();
        drop(w);
        let seg = Path::new("/wal").join(wal::format::segment_file_name(1, 0));
        fs.poke(&seg, 64 + a.lsn as usize + 40, &[0xEE]);
        let damaged = shared(&fs).read(&seg).unwrap();
        fs.fail_syncs_after(n);
        if let Ok((w, _)) = wal::open(shared(&fs), mem_opts(SyncPolicy::Always)) {
            let _ = w.close();
        }
        fs.crash(None);
        fs.heal_syncs();
        ledger.check_recovered(&fs, SyncPolicy::Always, &ctx);
        let names = shared(&fs).list(Path::new("/wal")).unwrap();
        let copies: Vec<_> = names.iter().filter(|n| n.contains(".broken")).collect();
        assert!(
            copies
                .iter()
                .any(|c| shared(&fs).read(&Path::new("/wal").join(c)).unwrap() == damaged),
            "{ctx}: no complete copy among {copies:?}"
        );
    }
}
