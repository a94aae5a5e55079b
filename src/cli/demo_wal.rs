//! `logship demo --wal-crash`: the WAL's promise, shown end to end in a temporary directory.
//!
//! Several writers append with `sync always`; the log is verified with the same
//! check as `logship verify` and a few records are printed as `logship dump`
//! prints them; then a crash is simulated by leaving half a record at the end of
//! the last segment, and reopening shows recovery keeping exactly the complete
//! records (after saving a `.broken` copy) and the log carrying on. Every step is
//! checked; the command exits non-zero if anything did not hold.

use super::demo_check::{ensure, failed};
use super::dump::{text_line, walk};
use super::exit::Failure;
use super::target::Target;
use super::verify::{check, Verification};
use crate::fs::StdFs;
use crate::wal::format::{encode_record, RecordKind, SEGMENT_HEADER_BYTES};
use crate::wal::scan::list_segments;
use crate::wal::{self, format_lsn, Record, SyncPolicy, WalOptions};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Segment size of the demo's log: small, so that the log spans several segments.
const DEMO_SEGMENT_BYTES: u64 = 16 << 10;
/// Most writers and records the demo accepts (it is a demonstration, not a benchmark).
pub const MAX_WRITERS: usize = 64;
pub const MAX_RECORDS_PER_WRITER: u64 = 100_000;

/// Tells the story in `root`.
///
/// # Errors
/// A [`Failure`] naming the first thing that did not hold.
pub fn story(root: &Path, writers: usize, records: u64) -> Result<(), Failure> {
    let dir = root.join("wal");
    let mut opts = WalOptions::new(&dir, rand::random::<u64>() | 1, 1);
    opts.segment_bytes = DEMO_SEGMENT_BYTES;
    opts.sync = SyncPolicy::Always;
    let wal_err = |e: wal::WalError| failed(e.to_string());
    crate::say!("logship demo: a write-ahead log that survives a crash");
    crate::say!("  log directory: {}", dir.display());

    // 1. Concurrent writers, every record durable before it counts.
    crate::say!();
    crate::say!(
        "1. {writers} writers append {records} records each (sync always: a record counts once fdatasync returned; {} KiB segments)",
        DEMO_SEGMENT_BYTES >> 10
    );
    let (log, _) = wal::open(StdFs::shared(), opts.clone()).map_err(wal_err)?;
    let log = Arc::new(log);
    let started = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let log = log.clone();
            std::thread::spawn(move || -> Result<(), wal::WalError> {
                for i in 0..records {
                    let a = log.append(payload(w, i).as_bytes())?;
                    log.wait_acked(a.end_lsn)?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| failed("a writer thread panicked".into()))?
            .map_err(wal_err)?;
    }
    let elapsed = started.elapsed();
    let fsyncs = log.stats().fsyncs;
    log.close().map_err(wal_err)?;
    drop(log);
    let total = writers as u64 * records;
    crate::say!(
        "   {total} records acknowledged in {:.2} s with {fsyncs} fsyncs ({:.1} records per fsync: group commit)",
        elapsed.as_secs_f64(),
        total as f64 / fsyncs.max(1) as f64
    );

    // 2. Verify, and read every record back.
    crate::say!();
    crate::say!("2. Verify the log (the same check as 'logship verify'):");
    let target = Target::Dir(dir.clone());
    let before = check(&target).map_err(|e| failed(Failure::from_wal(e).message))?;
    crate::say!("   {}", before.summary_line());
    ensure(before.torn_tail.is_none(), || {
        "the fresh log has a torn tail".into()
    })?;
    let all = read_all(&target)?;
    check_writers(&all, writers, records)?;
    crate::say!(
        "   read back: all {total} records, each writer's in the order it wrote them (plus {} seal records ending full segments)",
        before.records - total
    );

    // 3. Show a few records.
    crate::say!();
    crate::say!("3. A few records (as 'logship dump' prints them):");
    for r in all.iter().take(3) {
        crate::say!("   {}", text_line(r));
    }
    crate::say!("   ...");
    if let Some(r) = all.last() {
        crate::say!("   {}", text_line(r));
    }

    // 4. Crash in the middle of a write.
    crate::say!();
    let (segment, offset) = tear_tail(&dir, before.end_lsn)?;
    crate::say!(
        "4. Simulated crash: half of a record left at end LSN {} (byte offset {offset} of {})",
        format_lsn(before.end_lsn),
        file_name(&segment)
    );
    let torn = check(&target).map_err(|e| failed(Failure::from_wal(e).message))?;
    let torn_line = torn
        .torn_tail_line()
        .ok_or_else(|| failed("verify did not see the torn tail".into()))?;
    crate::say!("   verify now says (exit code 2): {torn_line}");
    ensure(torn.records == before.records, || {
        format!(
            "verify counts {} intact records, {} were written",
            torn.records, before.records
        )
    })?;

    // 5. Recovery.
    crate::say!();
    crate::say!(
        "5. Reopen the log (recovery; it also logs a warning on stderr, as a server would):"
    );
    let (log, recovery) = wal::open(StdFs::shared(), opts.clone()).map_err(wal_err)?;
    log.close().map_err(wal_err)?;
    drop(log);
    let cut = recovery
        .truncated
        .as_ref()
        .ok_or_else(|| failed("recovery did not truncate the torn tail".into()))?;
    let copy = recovery
        .saved_copy
        .clone()
        .ok_or_else(|| failed("recovery saved no copy of the torn segment".into()))?;
    ensure(cut.lsn == before.end_lsn, || {
        format!(
            "recovery cut at LSN {}, the last complete record ends at {}",
            format_lsn(cut.lsn),
            format_lsn(before.end_lsn)
        )
    })?;
    ensure(copy.is_file(), || format!("{} is missing", copy.display()))?;
    crate::say!(
        "   truncated the torn tail at LSN {} and saved the segment as it was in {}",
        format_lsn(cut.lsn),
        file_name(&copy)
    );
    let after = check(&target).map_err(|e| failed(Failure::from_wal(e).message))?;
    crate::say!("   {}", after.summary_line());
    compare(&before, &after)?;
    ensure(read_all(&target)? == all, || {
        "the records after recovery differ from those written".into()
    })?;
    crate::say!(
        "   records: {} before the crash, {} after recovery; last LSN {} before, {} after",
        before.records,
        after.records,
        lsn_text(before.last_lsn),
        lsn_text(after.last_lsn)
    );

    // 6. The log carries on.
    let (log, recovery) = wal::open(StdFs::shared(), opts).map_err(wal_err)?;
    let a = log
        .append(b"first record after recovery")
        .map_err(wal_err)?;
    log.wait_acked(a.end_lsn).map_err(wal_err)?;
    log.close().map_err(wal_err)?;
    drop(log);
    ensure(
        recovery.truncated.is_none() && a.lsn == before.end_lsn,
        || {
            format!(
                "the log continued at LSN {}, expected {}",
                format_lsn(a.lsn),
                format_lsn(before.end_lsn)
            )
        },
    )?;
    let last = check(&target).map_err(|e| failed(Failure::from_wal(e).message))?;
    ensure(
        last.torn_tail.is_none() && last.records == before.records + 1,
        || format!("after one more append verify counts {}", last.records),
    )?;
    crate::say!();
    crate::say!(
        "6. Writing again: the next record went to LSN {}; verify: sound, {} records",
        format_lsn(a.lsn),
        last.records
    );
    crate::say!();
    crate::say!(
        "OK: all {total} acknowledged records survived the crash; only the half-written record was cut off (its bytes are kept in {}).",
        file_name(&copy)
    );
    Ok(())
}

fn payload(writer: usize, i: u64) -> String {
    format!("set key:{writer}:{i} {i} (writer {writer})")
}

/// Every valid record of the log.
fn read_all(target: &Target) -> Result<Vec<Record>, Failure> {
    let mut out = Vec::new();
    walk(target, 0, |r| {
        out.push(r.clone());
        ControlFlow::Continue(())
    })
    .map_err(Failure::from_wal)?;
    Ok(out)
}

/// Each writer's records are all there, in the order it wrote them.
fn check_writers(all: &[Record], writers: usize, records: u64) -> Result<(), Failure> {
    let mut next = vec![0u64; writers];
    for r in all.iter().filter(|r| r.kind == RecordKind::Data) {
        let text = String::from_utf8_lossy(&r.payload);
        let w = (0..writers)
            .find(|&w| text == payload(w, next[w]))
            .ok_or_else(|| {
                failed(format!(
                    "record at LSN {} is not the next record of any writer: {text:?}",
                    format_lsn(r.lsn)
                ))
            })?;
        next[w] += 1;
    }
    ensure(next.iter().all(|&n| n == records), || {
        format!("records read back per writer: {next:?}, expected {records} each")
    })
}

/// Writes the first half of one more record right after the last complete one,
/// as a crash in the middle of a write leaves it. Returns the segment and offset.
fn tear_tail(dir: &Path, end_lsn: u64) -> Result<(PathBuf, u64), Failure> {
    let io =
        |what: &str, p: &Path, e: std::io::Error| failed(format!("{what} {}: {e}", p.display()));
    let seg = list_segments(&StdFs, dir)
        .map_err(|e| failed(e.to_string()))?
        .pop()
        .ok_or_else(|| failed("the log has no segments".into()))?;
    let offset = SEGMENT_HEADER_BYTES as u64 + (end_lsn - seg.first_lsn);
    let mut record = Vec::new();
    let payload = b"a record that was being written when the power failed";
    encode_record(
        &mut record,
        end_lsn,
        seg.timeline,
        0,
        RecordKind::Data,
        payload,
    );
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg.path)
        .map_err(|e| io("open", &seg.path, e))?;
    let len = f.metadata().map_err(|e| io("stat", &seg.path, e))?.len();
    let half = (record.len() as u64 / 2).min(len.saturating_sub(offset)) as usize;
    ensure(half > 0, || "no room after the last record".into())?;
    f.write_all_at(&record[..half], offset)
        .and_then(|_| f.sync_data())
        .map_err(|e| io("write", &seg.path, e))?;
    Ok((seg.path, offset))
}

fn compare(before: &Verification, after: &Verification) -> Result<(), Failure> {
    ensure(after.torn_tail.is_none(), || {
        "the log still has a torn tail after recovery".into()
    })?;
    ensure(
        after.records == before.records
            && after.last_lsn == before.last_lsn
            && after.end_lsn == before.end_lsn,
        || {
            format!(
                "after recovery: {} records, last LSN {}; before the crash: {} records, last LSN {}",
                after.records,
                lsn_text(after.last_lsn),
                before.records,
                lsn_text(before.last_lsn)
            )
        },
    )
}

fn lsn_text(lsn: Option<u64>) -> String {
    lsn.map_or_else(|| "-".into(), format_lsn)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
}
