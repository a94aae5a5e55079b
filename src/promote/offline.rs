//! Offline promotion: no standby process runs, so `logship promote` works on
//! the data directory itself. It applies the received log (the newest snapshot,
//! then every received record after it — the primary's recovery code), switches
//! to a new timeline, writes a checkpoint at the switch, and leaves a directory
//! that `logship primary` serves on the new timeline.

use crate::fs::StdFs;
use crate::node::control::{Control, ControlError, Role};
use crate::node::datadir::{DataDir, DataDirError, SNAPSHOT_DIR, WAL_DIR};
use crate::node::position::PrimaryPosition;
use crate::node::standing::{check, Standing, Verdict};
use crate::node::switch::{begin_timeline, SwitchError};
use crate::primary::recovery::{recover, RecoveryError};
use crate::standby::node::standby_control;
use crate::store::snapshot::{self, SnapshotError};
use crate::wal::{scan_dir, SyncPolicy, WalError};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why an offline promotion could not be considered or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// Neither a control file nor a received log says whose the directory is.
    #[error("{} is not a standby that has received a log ({source})", dir.display())]
    NothingReceived {
        dir: PathBuf,
        #[source]
        source: ControlError,
    },
    #[error("{} is a {role} data directory, not a standby", dir.display())]
    NotStandby { dir: PathBuf, role: Role },
    /// The directory could not be opened as a standby's (a primary's, in use).
    #[error(transparent)]
    Open(DataDirError),
    #[error(transparent)]
    Control(ControlError),
    #[error("the received log: {0}")]
    Log(#[source] WalError),
    #[error("write the control file: {0}")]
    WriteControl(#[source] ControlError),
    #[error(transparent)]
    Switch(#[from] SwitchError),
    #[error("applying the received log: {0}")]
    Apply(#[source] RecoveryError),
    #[error("the log continues at LSN {found:#x}, not at the switch LSN {switch:#x}")]
    NotAtSwitch { found: u64, switch: u64 },
    #[error("checkpoint at the switch: {0}")]
    Checkpoint(#[source] SnapshotError),
    #[error("closing the log: {0}")]
    Close(#[source] WalError),
}

impl OfflineError {
    /// True when the directory is not a standby's that received a log (a
    /// primary's, another program's, an empty one), as opposed to a failure
    /// while reading or promoting one.
    pub fn is_not_standby(&self) -> bool {
        matches!(
            self,
            OfflineError::NothingReceived { .. }
                | OfflineError::NotStandby { .. }
                | OfflineError::Open(_)
        )
    }
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
/// [`OfflineError::is_not_standby`] for anything but a standby that received
/// a log; [`OfflineError::Log`] for a log that cannot be read.
pub fn inspect(dir: &Path) -> Result<Found, OfflineError> {
    let control = match Control::read(&StdFs, dir) {
        Ok(c) => c,
        // A standby stopped before it wrote its control file: its log says
        // whose it is.
        Err(source) if !dir.join(crate::node::control::CONTROL_FILE).exists() => {
            let wal_dir = dir.join(WAL_DIR);
            let sid = scan_dir(&StdFs, &wal_dir).ok().and_then(|r| {
                let sid = r.system_id?;
                Some((sid, r.timeline().unwrap_or(1)))
            });
            let Some((sid, timeline)) = sid else {
                return Err(OfflineError::NothingReceived {
                    dir: dir.to_path_buf(),
                    source,
                });
            };
            standby_control(&wal_dir, sid, timeline).map_err(OfflineError::Log)?
        }
        Err(e) => return Err(OfflineError::Control(e)),
    };
    if control.role != Role::Standby {
        return Err(OfflineError::NotStandby {
            dir: dir.to_path_buf(),
            role: control.role,
        });
    }
    let report = scan_dir(&StdFs, &dir.join(WAL_DIR)).map_err(OfflineError::Log)?;
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
/// [`OfflineError`] naming the step that failed; the history file, when
/// already written, stays (the timeline it begins has no records, and the next
/// attempt takes the next timeline).
pub fn promote(dir: &Path, reason: &str) -> Result<Promoted, OfflineError> {
    let started = Instant::now();
    let found = inspect(dir)?;
    let (data, control) = DataDir::open_standby(&StdFs, dir).map_err(OfflineError::Open)?;
    if control.is_none() {
        found
            .control
            .write(&StdFs, dir)
            .map_err(OfflineError::WriteControl)?;
    }
    let sw = begin_timeline(dir, reason, crate::wal::scan::ScanDepth::Full)?;
    let rec = recover(
        &data,
        &sw.control,
        SyncPolicy::Always,
        crate::wal::writer::MAX_RECORD_BYTES_LIMIT,
    )
    .map_err(OfflineError::Apply)?;
    if rec.next_lsn != sw.switch_lsn {
        let _ = rec.wal.close();
        return Err(OfflineError::NotAtSwitch {
            found: rec.next_lsn,
            switch: sw.switch_lsn,
        });
    }
    snapshot::write(
        &StdFs,
        &data.snapshot_dir(),
        &rec.state.dbs,
        sw.control.system_id,
        rec.next_lsn,
        sw.new_timeline,
    )
    .map_err(OfflineError::Checkpoint)?;
    rec.wal.close().map_err(OfflineError::Close)?;
    let _ = std::fs::remove_file(dir.join(crate::node::position::POSITION_FILE));
    drop(data);
    Ok(Promoted {
        old_timeline: sw.old_timeline,
        new_timeline: sw.new_timeline,
        promotion_lsn: sw.switch_lsn,
        replayed_records: rec.replayed_records,
        replay_ms: rec.replay_time.as_millis() as u64,
        keys: rec.state.dbs.len() as u64,
        took_ms: started.elapsed().as_millis() as u64,
    })
}
