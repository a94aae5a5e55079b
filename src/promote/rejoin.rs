//! Rejoining an old primary as a standby of the node promoted in its place.
//!
//! ## Where the logs part
//!
//! The promoted node received the old primary's log up to some LSN `E`, byte
//! for byte. Its promotion ended that timeline at the switch LSN `S` of its
//! history ([`crate::wal::recovery::switch_timeline`]): `S = E + 32` when its
//! last segment was open (the log is reopened on the new timeline with a
//! 32-byte seal record at `E`, see [`crate::wal::open`]), or `S = E` when that
//! segment was already sealed (its seal, received from the old primary, sits at
//! `E - 32`). Either way the two logs are identical below `D = S - 32`
//! ([`SEAL_RECORD_BYTES`]), and at `D` both hold a seal or the old primary
//! holds what the new one never got. So the old primary **diverged** iff its
//! log has a data record at an LSN `>= D` on its timeline.
//!
//! ## Not diverged
//!
//! The log is kept; anything past `D` (only a seal of a full segment can be
//! there, whose timestamp may differ from the new primary's seal) is cut off,
//! so the log ends at or before `D` and the new primary's first shipment
//! continues it with its own seal and the new timeline. Snapshots past `D`
//! are removed (they hold nothing the state at `D` lacks). The new primary's
//! history file is installed, and the control file says standby.
//!
//! ## Diverged
//!
//! The divergent records are saved as segment files in
//! `OLD/diverged/TTTTTTTT-SSSSSSSSSSSSSSSS/` (timeline and switch LSN; see
//! [`super::diverged`]), then every snapshot and every segment is removed, so
//! the first shipment re-seeds the standby from the new primary.
//!
//! ## Crash safety
//!
//! Nothing changes before every check has passed (the new primary answered,
//! the system id matches, the old timeline is in its history). The first
//! change fences the control file (role still primary, `fenced` set): from then
//! until the last step, `logship primary` refuses the directory (it was fenced)
//! and `logship standby` refuses it (it is a primary's), so no half-done state
//! can be served. The saved copy is durable before anything is removed;
//! snapshots go before segments; segments go newest first with a directory
//! fsync after each, so an interrupted run leaves a shorter prefix of the same
//! log and no snapshot past it. Running `logship rejoin` again (it accepts a
//! fenced primary's directory) redoes every step: the verdict on a prefix
//! is the same or "nothing left to save" (the copy is already complete), and
//! a log no snapshot covers is emptied for re-seeding. The control file says
//! standby only after everything else is durable.

use super::diverged::{self, Divergence, SavedFile};
use super::remote::{Primary, RemoteError};
use crate::fs::StdFs;
use crate::node::control::{Control, Fence, Role, CONTROL_FILE};
use crate::node::datadir::{DataDir, DataDirError, SNAPSHOT_DIR, WAL_DIR};
use crate::store::snapshot;
use crate::wal::format::SEAL_RECORD_BYTES;
use crate::wal::timeline::{self, Switch};
use crate::wal::{scan::list_segments, scan_dir};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Why a rejoin did not happen; each maps to an exit code of `logship rejoin`.
#[derive(Debug, thiserror::Error)]
pub enum RejoinError {
    /// Not a stopped primary's directory: running, a standby's, or not logship's.
    #[error("{0}")]
    NotStoppedPrimary(String),
    /// The new primary did not answer.
    #[error("{0}")]
    Unreachable(String),
    /// The new primary belongs to another system.
    #[error("{0}")]
    OtherSystem(String),
    /// Anything else (I/O, a damaged log, a history that does not fit).
    #[error("{0}")]
    Failed(String),
}

/// What the new primary said about itself (`LOGSHIP HISTORY`).
#[derive(Debug, Clone, Serialize)]
pub struct NewPrimary {
    pub addr: String,
    #[serde(serialize_with = "hex_id")]
    pub system_id: u64,
    pub timeline: u32,
    pub durable_lsn: u64,
    #[serde(skip)]
    pub history: Vec<Switch>,
}

fn hex_id<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:016x}"))
}

/// Asks the primary at `addr` for its identity and timeline history.
///
/// # Errors
/// [`RejoinError::Unreachable`] when it does not answer; [`RejoinError::Failed`]
/// for an answer that does not parse.
pub fn ask(addr: &str) -> Result<NewPrimary, RejoinError> {
    let v = Primary::connect(addr, std::time::Duration::from_secs(30))
        .and_then(|mut p| p.history())
        .map_err(|e| match e {
            RemoteError::Unreachable { .. } => RejoinError::Unreachable(e.to_string()),
            RemoteError::Refused { .. } => RejoinError::Failed(e.to_string()),
        })?;
    let bad = |what: &str| {
        RejoinError::Failed(format!(
            "the node at {addr} answered LOGSHIP HISTORY without a valid {what}: {v:?}"
        ))
    };
    let system_id = v.system_id().ok_or_else(|| bad("system_id"))?;
    let text = v.history.as_deref().ok_or_else(|| bad("history"))?;
    let history = timeline::parse(Path::new("LOGSHIP HISTORY"), text)
        .map_err(|e| RejoinError::Failed(format!("the history from {addr}: {e}")))?;
    Ok(NewPrimary {
        addr: addr.to_string(),
        system_id,
        timeline: v.timeline,
        durable_lsn: v.durable_lsn,
        history,
    })
}

/// The old primary's directory, locked, as found.
pub struct OldPrimary {
    pub dir: PathBuf,
    pub control: Control,
    /// The timeline of its log (its control file's when the log is empty).
    pub timeline: u32,
    /// One past its last valid record.
    pub end_lsn: u64,
    _lock: DataDir,
}

/// Locks `dir`, which must be a stopped primary's data directory (fenced or not).
///
/// # Errors
/// [`RejoinError::NotStoppedPrimary`] for a running node, a standby's or a
/// non-logship directory; [`RejoinError::Failed`] for a damaged log.
pub fn open_old(dir: &Path) -> Result<OldPrimary, RejoinError> {
    let not = |why: String| {
        RejoinError::NotStoppedPrimary(format!(
            "{} is not a stopped primary's data directory: {why}",
            dir.display()
        ))
    };
    if !dir.join(CONTROL_FILE).exists() {
        return Err(not("it has no control file".into()));
    }
    let (lock, control) = DataDir::open_stopped(&StdFs, dir).map_err(|e| match e {
        DataDirError::Locked { .. } => not(format!("a process is running on it ({e})")),
        other => RejoinError::Failed(other.to_string()),
    })?;
    if control.role != Role::Primary {
        return Err(not(format!(
            "it is already a {} (start it with `logship standby --data-dir {}`)",
            control.role,
            dir.display()
        )));
    }
    let report = scan_dir(&StdFs, &dir.join(WAL_DIR))
        .map_err(|e| RejoinError::Failed(format!("the old primary's log: {e}")))?;
    let end_lsn = report.torn_tail.as_ref().map_or(report.end_lsn, |t| t.lsn);
    Ok(OldPrimary {
        dir: dir.to_path_buf(),
        timeline: report.timeline().unwrap_or(control.timeline),
        end_lsn,
        control,
        _lock: lock,
    })
}

/// What a rejoin will do, decided before anything changes.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The old primary's timeline and where the new primary's history ends it.
    pub old_timeline: u32,
    pub switch_lsn: u64,
    /// Below this LSN the two logs are identical (`switch_lsn - 32`).
    pub divergence_lsn: u64,
    /// Where the old log ends.
    pub old_end_lsn: u64,
    /// Data the old primary logged that the new one never got.
    pub divergence: Option<Divergence>,
    /// Records (seals) past `divergence_lsn` that are cut off when not diverged.
    pub records_cut: u64,
}

/// Checks the old primary against the new one and decides.
///
/// # Errors
/// [`RejoinError::OtherSystem`] for a system id mismatch;
/// [`RejoinError::Failed`] when the old timeline is not in the new history.
pub fn plan(old: &OldPrimary, new: &NewPrimary) -> Result<Plan, RejoinError> {
    if old.control.system_id != new.system_id {
        return Err(RejoinError::OtherSystem(format!(
            "the node at {} belongs to system {:016x}, {} to system {:016x}: not the same cluster",
            new.addr,
            new.system_id,
            old.dir.display(),
            old.control.system_id
        )));
    }
    if new.timeline <= old.timeline {
        return Err(RejoinError::Failed(format!(
            "the node at {} is on timeline {}, not after this directory's timeline {}: it was not promoted from it",
            new.addr, new.timeline, old.timeline
        )));
    }
    let switch = new
        .history
        .iter()
        .find(|s| s.timeline == old.timeline)
        .ok_or_else(|| {
            RejoinError::Failed(format!(
                "timeline {} of {} is not in the history of timeline {} at {}",
                old.timeline,
                old.dir.display(),
                new.timeline,
                new.addr
            ))
        })?;
    let divergence_lsn = switch.switch_lsn.saturating_sub(SEAL_RECORD_BYTES);
    let t = diverged::tail(&old.dir.join(WAL_DIR), divergence_lsn, old.end_lsn)
        .map_err(RejoinError::Failed)?;
    Ok(Plan {
        old_timeline: old.timeline,
        switch_lsn: switch.switch_lsn,
        divergence_lsn,
        old_end_lsn: old.end_lsn,
        records_cut: if t.divergence.is_none() {
            t.records_past
        } else {
            0
        },
        divergence: t.divergence,
    })
}

/// What a rejoin did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rejoined {
    /// The log was emptied: the first shipment seeds the standby.
    pub reseed: bool,
    /// Where the divergent records were saved.
    pub saved_dir: Option<PathBuf>,
    pub saved_files: Vec<SavedFile>,
    pub snapshots_removed: usize,
    pub segments_removed: usize,
    /// Where the kept log ends (0 when emptied).
    pub kept_end_lsn: u64,
}

/// Where the divergent records of a rejoin are saved.
pub fn saved_dir(dir: &Path, plan: &Plan) -> PathBuf {
    dir.join("diverged").join(format!(
        "{:08x}-{:016x}",
        plan.old_timeline, plan.switch_lsn
    ))
}

/// Carries out `plan` on the old primary's directory (see the module doc for
/// the order and why it is crash safe). `step` is told each step as it starts.
///
/// # Errors
/// [`RejoinError::Failed`] naming the step; the directory then stays fenced
/// and a new run resumes.
pub fn apply(
    old: &OldPrimary,
    new: &NewPrimary,
    plan: &Plan,
    mut step: impl FnMut(&str),
) -> Result<Rejoined, RejoinError> {
    let failed = |what: &str, e: String| RejoinError::Failed(format!("{what}: {e}"));
    let (dir, wal_dir, snap_dir) = (
        old.dir.as_path(),
        old.dir.join(WAL_DIR),
        old.dir.join(SNAPSHOT_DIR),
    );
    if old.control.fenced.is_none() {
        step("fencing the directory's control file (no primary starts on it from now on)");
        Control {
            fenced: Some(Fence {
                lsn: old.end_lsn,
                timeline: old.timeline,
                unix_ms: crate::clock::now_unix_ms(),
                reason: format!("rejoining as a standby of {}", new.addr),
            }),
            ..old.control.clone()
        }
        .write(&StdFs, dir)
        .map_err(|e| failed("fence the control file", e.to_string()))?;
    }
    let mut done = Rejoined::default();
    let snapshots = snapshot::list(&StdFs, &snap_dir)
        .map_err(|e| failed("list the snapshots", e.to_string()))?;
    let mut reseed = plan.divergence.is_some();
    if let Some(d) = &plan.divergence {
        let out = saved_dir(dir, plan);
        step(&format!(
            "saving the divergent records to {}",
            out.display()
        ));
        done.saved_files = diverged::save(&wal_dir, old.control.system_id, d, &out)
            .map_err(|e| failed("save the divergent records", e))?;
        done.saved_dir = Some(out);
    } else {
        if plan.old_end_lsn > plan.divergence_lsn {
            step(&format!(
                "cutting {} record(s) past LSN {} (no data: a segment's seal)",
                plan.records_cut,
                crate::wal::format_lsn(plan.divergence_lsn)
            ));
            done.segments_removed += diverged::cut_log(&wal_dir, plan.divergence_lsn)
                .map_err(|e| failed("cut the log", e))?;
        }
        let stale: Vec<_> = snapshots
            .iter()
            .filter(|(lsn, _)| *lsn > plan.divergence_lsn)
            .collect();
        for (_, p) in &stale {
            remove(p)?;
        }
        if !stale.is_empty() {
            crate::durable::sync_dir(&snap_dir)
                .map_err(|e| failed("remove snapshots", e.to_string()))?;
        }
        done.snapshots_removed = stale.len();
        // The kept log must be replayable from a kept snapshot (or from LSN 0).
        let covered = snapshots
            .iter()
            .filter(|(lsn, _)| *lsn <= plan.divergence_lsn)
            .map(|(lsn, _)| *lsn)
            .max()
            .unwrap_or(0);
        let segments =
            list_segments(&StdFs, &wal_dir).map_err(|e| failed("list", e.to_string()))?;
        if segments
            .first()
            .map_or(covered > 0, |s| s.first_lsn > covered)
        {
            step("no snapshot covers the start of the kept log: emptying it for re-seeding");
            reseed = true;
        }
        done.kept_end_lsn = plan.old_end_lsn.min(plan.divergence_lsn);
    }
    if reseed {
        step("removing every snapshot and segment: the new primary re-seeds this standby");
        let snaps = snapshot::list(&StdFs, &snap_dir)
            .map_err(|e| failed("list the snapshots", e.to_string()))?;
        for (_, p) in &snaps {
            remove(p)?;
        }
        crate::durable::sync_dir(&snap_dir)
            .map_err(|e| failed("remove snapshots", e.to_string()))?;
        done.snapshots_removed += snaps.len();
        done.segments_removed +=
            diverged::cut_log(&wal_dir, 0).map_err(|e| failed("empty the log", e))?;
        done.kept_end_lsn = 0;
        done.reseed = true;
    }
    step(&format!(
        "installing the history of timeline {} and making the directory a standby's",
        new.timeline
    ));
    timeline::install(&StdFs, &wal_dir, new.timeline, &new.history)
        .map_err(|e| failed("install the timeline history", e.to_string()))?;
    Control {
        role: Role::Standby,
        fenced: None,
        timeline: if done.reseed {
            new.timeline
        } else {
            old.timeline
        },
        ..old.control.clone()
    }
    .write(&StdFs, dir)
    .map_err(|e| failed("write the control file", e.to_string()))?;
    Ok(done)
}

fn remove(p: &Path) -> Result<(), RejoinError> {
    std::fs::remove_file(p).map_err(|e| RejoinError::Failed(format!("remove {}: {e}", p.display())))
}
