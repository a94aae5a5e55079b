//! Offline promotion: no standby process runs, so `logship promote` works on
//! the data directory itself. It applies the received log (the newest snapshot,
//! then every received record after it — the primary's recovery code), switches
//! to a new timeline, writes a checkpoint at the switch, and leaves a directory
//! that `logship primary` serves on the new timeline.

use crate::fs::StdFs;
use crate::node::control::{Control, Role};
use crate::node::datadir::{DataDir, SNAPSHOT_DIR, WAL_DIR};
use crate::node::position::PrimaryPosition;
use crate::node::standing::{check, Standing, Verdict};
use crate::node::switch::begin_timeline;
use crate::primary::recovery::recover;
use crate::standby::node::standby_control;
use crate::store::snapshot;
use crate::wal::{scan_dir, SyncPolicy};
use std::path::Path;
use std::time::Instant;

/// Why an offline promotion could not even be considered.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// The directory is a primary's, or not a logship directory at all.
    #[error("{0}")]
    NotStandby(String),
    #[error("{0}")]
    Failed(String),
}

/// A stopped standby, as found on disk.
#[derive(Debug, Clone)]
pub struct Found {
    pub control: Control,
    /// `applied_lsn` is the newest snapshot's: what a restart starts from.
    pub standing: Standing,
}

/// Reads a stopped standby's position without changing a byte.
///
/// # Errors
/// [`OfflineError::NotStandby`] for anything but a standby that received a log;
/// [`OfflineError::Failed`] for a log that cannot be read.
pub fn inspect(dir: &Path) -> Result<Found, OfflineError> {
    let not_standby = |why: String| {
        OfflineError::NotStandby(format!(
            "{} is not a standby that has received a log ({why})",
            dir.display()
        ))
    };
    let control = match Control::read(&StdFs, dir) {
        Ok(c) => c,
        // A standby stopped before it wrote its control file: its log says
        // whose it is.
        Err(e) if !dir.join(crate::node::control::CONTROL_FILE).exists() => {
            let wal_dir = dir.join(WAL_DIR);
            let report = scan_dir(&StdFs, &wal_dir).map_err(|_| not_standby(e.to_string()))?;
            let sid = report.system_id.ok_or_else(|| not_standby(e.to_string()))?;
            standby_control(&wal_dir, sid, report.timeline().unwrap_or(1))
                .map_err(|e| not_standby(e.to_string()))?
        }
        Err(e) => return Err(OfflineError::Failed(e.to_string())),
    };
    if control.role != Role::Standby {
        return Err(OfflineError::NotStandby(format!(
            "{} is a {} data directory, not a standby",
            dir.display(),
            control.role
        )));
    }
    let report = scan_dir(&StdFs, &dir.join(WAL_DIR))
        .map_err(|e| OfflineError::Failed(format!("the received log: {e}")))?;
    let received = report.torn_tail.as_ref().map_or(report.end_lsn, |t| t.lsn);
    let snap = snapshot::list(&StdFs, &dir.join(SNAPSHOT_DIR))
        .ok()
        .and_then(|v| v.last().map(|x| x.0))
        .unwrap_or(0);
    let pos = PrimaryPosition::read(&StdFs, dir).unwrap_or_default();
    Ok(Found {
        standing: Standing {
            system_id: control.system_id,
            timeline: report.timeline().unwrap_or(control.timeline),
            received_lsn: received,
            applied_lsn: snap.min(received),
            primary_durable_lsn: pos.primary_durable_lsn.max(received),
            last_receive_unix_ms: pos.last_receive_unix_ms,
            last_record_unix_ms: pos.last_record_unix_ms,
        },
        control,
    })
}

/// The verdict for an offline promotion: it applies what was received itself,
/// so only the loss against the primary counts.
pub fn verdict(found: &Found, extra_primary_durable_lsn: Option<u64>) -> Verdict {
    let mut s = found.standing;
    s.applied_lsn = s.received_lsn;
    if let Some(p) = extra_primary_durable_lsn {
        s.primary_durable_lsn = s.primary_durable_lsn.max(p);
    }
    check(&s, crate::clock::now_unix_ms())
}

/// What an offline promotion did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Promoted {
    pub old_timeline: u32,
    pub new_timeline: u32,
    pub promotion_lsn: u64,
    /// Records applied from the received log.
    pub replayed_records: u64,
    pub replay_ms: u64,
    /// Keys in the promoted keyspace.
    pub keys: u64,
    pub took_ms: u64,
}

/// Promotes the stopped standby in `dir` (the check was made by the caller).
///
/// # Errors
/// [`OfflineError::Failed`] naming the step that failed; the history file, when
/// already written, stays (the timeline it begins has no records, and the next
/// attempt takes the next timeline).
pub fn promote(dir: &Path, reason: &str) -> Result<Promoted, OfflineError> {
    let started = Instant::now();
    let failed = |e: String| OfflineError::Failed(e);
    let found = inspect(dir)?;
    let (data, control) =
        DataDir::open_standby(&StdFs, dir).map_err(|e| OfflineError::NotStandby(e.to_string()))?;
    if control.is_none() {
        found
            .control
            .write(&StdFs, dir)
            .map_err(|e| failed(format!("write the control file: {e}")))?;
    }
    let sw = begin_timeline(dir, reason).map_err(failed)?;
    let rec = recover(
        &data,
        &sw.control,
        SyncPolicy::Always,
        crate::wal::writer::MAX_RECORD_BYTES_LIMIT,
    )
    .map_err(|e| failed(format!("applying the received log: {e}")))?;
    if rec.next_lsn != sw.switch_lsn {
        let _ = rec.wal.close();
        return Err(failed(format!(
            "the log continues at LSN {:#x}, not at the switch LSN {:#x}",
            rec.next_lsn, sw.switch_lsn
        )));
    }
    snapshot::write(
        &StdFs,
        &data.snapshot_dir(),
        &rec.state.keyspace,
        sw.control.system_id,
        rec.next_lsn,
        sw.new_timeline,
    )
    .map_err(|e| failed(format!("checkpoint at the switch: {e}")))?;
    rec.wal
        .close()
        .map_err(|e| failed(format!("closing the log: {e}")))?;
    let _ = std::fs::remove_file(dir.join(crate::node::position::POSITION_FILE));
    drop(data);
    Ok(Promoted {
        old_timeline: sw.old_timeline,
        new_timeline: sw.new_timeline,
        promotion_lsn: sw.switch_lsn,
        replayed_records: rec.replayed_records,
        replay_ms: rec.replay_time.as_millis() as u64,
        keys: rec.state.keyspace.len() as u64,
        took_ms: started.elapsed().as_millis() as u64,
    })
}
