//! Checkpoints: the keyspace written as a snapshot, then the WAL it covers
//! removed.
//!
//! Taking the picture costs one O(shards) clone of the copy-on-write keyspace
//! under the lock (microseconds; logged as the pause); the snapshot is written
//! by the checkpoint thread while writers go on. The snapshot only becomes
//! visible once the WAL below its LSN is durable, so a snapshot never covers
//! records the log could still lose.

use super::Shared;
use crate::durable::IoError;
use crate::fs::{Fs, StdFs};
use crate::store::snapshot::{self, SnapshotError};
use crate::wal::scan::list_segments;
use crate::wal::{SyncPolicy, WalError};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Why a checkpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Io(#[from] IoError),
}

/// The latest checkpoint, for INFO and logs.
#[derive(Debug, Clone, Default)]
pub struct CheckpointStatus {
    pub count: u64,
    /// LSN covered by the newest snapshot (0 before the first).
    pub lsn: u64,
    pub unix_ms: u64,
    /// How long writers were held up taking the picture.
    pub pause_us: u64,
    pub duration_ms: u64,
    pub last_error: Option<String>,
}

/// What one checkpoint did.
#[derive(Debug, Clone)]
pub struct CheckpointReport {
    pub lsn: u64,
    pub items: u64,
    pub pause: Duration,
    pub took: Duration,
    pub path: PathBuf,
    pub removed_segments: usize,
    pub removed_snapshots: usize,
    /// With `removed_segments > 0`: the WAL below this LSN was removed.
    pub wal_removed_below_lsn: Option<u64>,
}

/// Makes the WAL below `lsn` durable. Under `always` that is waiting for the
/// writer; otherwise the records are waited for as written and the segments
/// holding them are fsynced here.
fn make_durable(shared: &Shared, from_lsn: u64, lsn: u64) -> Result<(), CheckpointError> {
    if shared.cfg.sync == SyncPolicy::Always {
        shared.wal.wait_durable(lsn)?;
        return Ok(());
    }
    shared.wal.wait_acked(lsn)?;
    let dir = shared.data_dir.join(crate::node::datadir::WAL_DIR);
    let segments = list_segments(&StdFs, &dir)?;
    for (i, seg) in segments.iter().enumerate() {
        let next_first = segments.get(i + 1).map_or(u64::MAX, |n| n.first_lsn);
        if seg.first_lsn < lsn && next_first > from_lsn {
            StdFs
                .open_write(&seg.path)
                .and_then(|mut f| f.sync_data())
                .map_err(IoError::at("fdatasync", &seg.path))?;
        }
    }
    Ok(())
}

/// Takes a checkpoint if anything was logged since the last one.
///
/// # Errors
/// [`CheckpointError`]; the previous snapshots and the WAL are left as they were.
pub fn checkpoint(shared: &Shared) -> Result<Option<CheckpointReport>, CheckpointError> {
    let started = Instant::now();
    let last = shared.checkpoint_status().lsn;
    let (picture, lsn) = {
        let st = shared.lock_db();
        (st.kv.dbs.clone(), st.last_appended_end)
    };
    let pause = started.elapsed();
    if lsn == last {
        return Ok(None);
    }
    make_durable(shared, last, lsn)?;
    let snap_dir = shared.data_dir.join(crate::node::datadir::SNAPSHOT_DIR);
    let written = snapshot::write(
        &StdFs,
        &snap_dir,
        &picture,
        shared.control.system_id,
        lsn,
        shared.control.timeline,
    )?;
    drop(picture);
    // Retention: keep the newest snapshots, and the WAL from the oldest kept one
    // (so a damaged newest snapshot can fall back to an older one plus the log).
    let kept = snapshot::keep_newest(&StdFs, &snap_dir, shared.cfg.keep_snapshots.max(1))?;
    // Standbys lower the floor to what they have not acknowledged, within the
    // retained-WAL limit (`shipping`).
    let snapshot_floor = kept.oldest_lsn.unwrap_or(lsn);
    let floor = shared.shipping.floor(snapshot_floor, lsn);
    let wal_dir = shared.data_dir.join(crate::node::datadir::WAL_DIR);
    let removed = crate::node::retention::remove_segments(&StdFs, &wal_dir, floor.keep_from_lsn)?;
    if let Some(oldest) = removed.below_lsn {
        shared.shipping.removed_below(oldest);
    }
    let took = started.elapsed();
    let report = CheckpointReport {
        lsn,
        items: written.header.items,
        pause,
        took,
        path: written.path,
        removed_segments: removed.segments,
        removed_snapshots: kept.removed,
        wal_removed_below_lsn: removed.below_lsn,
    };
    let mut s = shared.checkpoint.lock().unwrap_or_else(|p| p.into_inner());
    s.count += 1;
    s.lsn = lsn;
    s.unix_ms = crate::clock::now_unix_ms();
    s.pause_us = pause.as_micros() as u64;
    s.duration_ms = took.as_millis() as u64;
    s.last_error = None;
    Ok(Some(report))
}

/// Runs [`checkpoint`] and logs the outcome.
pub fn checkpoint_logged(shared: &Shared, why: &str) -> bool {
    match checkpoint(shared) {
        Ok(Some(r)) => {
            tracing::info!(
                reason = why,
                lsn = r.lsn,
                items = r.items,
                pause_us = r.pause.as_micros() as u64,
                took_ms = r.took.as_millis() as u64,
                removed_segments = r.removed_segments,
                wal_removed_below_lsn = ?r.wal_removed_below_lsn,
                removed_snapshots = r.removed_snapshots,
                snapshot = %r.path.display(),
                "checkpoint complete"
            );
            true
        }
        Ok(None) => true,
        Err(e) => {
            tracing::error!(reason = why, error = %e, "checkpoint failed");
            shared
                .checkpoint
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .last_error = Some(e.to_string());
            false
        }
    }
}

/// Wakes the checkpoint thread early, or tells it to stop.
#[derive(Default)]
pub struct Signal {
    stop: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    /// Asks the thread to stop after its current checkpoint.
    pub fn stop(&self) {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    fn wait(&self, d: Duration) -> bool {
        let g = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        let (g, _) = self
            .cv
            .wait_timeout_while(g, d, |stop| !*stop)
            .unwrap_or_else(|p| p.into_inner());
        *g
    }
}

/// The checkpoint thread: checks once a second whether the WAL grew by
/// `checkpoint_wal_bytes` or `checkpoint_interval` passed with new records.
pub fn run_thread(shared: std::sync::Arc<Shared>, signal: std::sync::Arc<Signal>) {
    let mut last_time = Instant::now();
    loop {
        if signal.wait(Duration::from_secs(1)) {
            return;
        }
        if shared.wal.position().failed {
            return;
        }
        let last_lsn = shared.checkpoint_status().lsn;
        let head = shared.lock_db().last_appended_end;
        let grown = head.saturating_sub(last_lsn);
        let by_bytes = grown >= shared.cfg.checkpoint_wal_bytes;
        let by_time = grown > 0 && last_time.elapsed() >= shared.cfg.checkpoint_interval;
        if by_bytes || by_time {
            checkpoint_logged(
                shared.as_ref(),
                if by_bytes { "wal-bytes" } else { "interval" },
            );
            last_time = Instant::now();
        }
    }
}
