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

use super::diverged::{self, DivergedError, Divergence, SavedFile};
use super::remote::{Primary, RemoteError};
use crate::durable::IoError;
use crate::fs::{fsync_dir, Fs, StdFs};
use crate::node::control::{Control, ControlError, Fence, Role, CONTROL_FILE};
use crate::node::datadir::{DataDir, DataDirError, SNAPSHOT_DIR, WAL_DIR};
use crate::store::snapshot::{self, SnapshotError};
use crate::wal::format::SEAL_RECORD_BYTES;
use crate::wal::timeline::{self, Switch};
use crate::wal::{scan::list_segments, scan_dir, WalError};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Why a rejoin did not happen; [`RejoinError::NotStoppedPrimary`],
/// [`RejoinError::Unreachable`] and [`RejoinError::OtherSystem`] have exit
/// codes of their own in `logship rejoin`, the rest share one.
#[derive(Debug, thiserror::Error)]
pub enum RejoinError {
    /// Not a stopped primary's directory: running, a standby's, or not logship's.
    #[error("{} is not a stopped primary's data directory: {why}", dir.display())]
    NotStoppedPrimary { dir: PathBuf, why: NotStopped },
    /// The new primary did not answer.
    #[error(transparent)]
    Unreachable(RemoteError),
    /// The new primary belongs to another system.
    #[error("the node at {addr} belongs to system {theirs:016x}, {} to system {ours:016x}: not the same cluster", dir.display())]
    OtherSystem {
        addr: String,
        theirs: u64,
        dir: PathBuf,
        ours: u64,
    },
    /// The new primary refused `LOGSHIP HISTORY`.
    #[error(transparent)]
    Refused(RemoteError),
    /// `answer` is what the node said, as received.
    #[error("the node at {addr} answered LOGSHIP HISTORY without a valid {what}: {answer}")]
    BadAnswer {
        addr: String,
        what: &'static str,
        answer: String,
    },
    #[error("the history from {addr}: {source}")]
    History {
        addr: String,
        #[source]
        source: WalError,
    },
    #[error(transparent)]
    DataDir(DataDirError),
    #[error("the old primary's log: {0}")]
    OldLog(#[source] WalError),
    #[error("the node at {addr} is on timeline {new}, not after this directory's timeline {old}: it was not promoted from it")]
    NotAfter { addr: String, new: u32, old: u32 },
    #[error("timeline {old} of {} is not in the history of timeline {new} at {addr}", dir.display())]
    NotInHistory {
        old: u32,
        dir: PathBuf,
        new: u32,
        addr: String,
    },
    #[error(transparent)]
    Diverged(DivergedError),
    /// A step of [`apply`] failed; the directory stays fenced.
    #[error("{step}: {source}")]
    Step {
        step: &'static str,
        #[source]
        source: StepError,
    },
}

/// Why a directory is not a stopped primary's.
#[derive(Debug, thiserror::Error)]
pub enum NotStopped {
    #[error("it has no control file")]
    NoControlFile,
    #[error("a process is running on it ({0})")]
    Running(#[source] DataDirError),
    #[error("it is already a {role} (start it with `logship standby --data-dir {}`)", dir.display())]
    Standby { role: Role, dir: PathBuf },
}

/// What failed in a step of [`apply`].
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Diverged(#[from] DivergedError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Wal(#[from] WalError),
}

/// The error of the step `step` (a `map_err` adapter).
fn failed<E: Into<StepError>>(step: &'static str) -> impl FnOnce(E) -> RejoinError {
    move |e| RejoinError::Step {
        step,
        source: e.into(),
    }
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
    /// It was fenced in turn when it answered.
    #[serde(skip)]
    pub fenced: bool,
}

fn hex_id<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:016x}"))
}

/// Asks the primary at `addr` for its identity and timeline history.
///
/// # Errors
/// [`RejoinError::Unreachable`] when it does not answer; other
/// [`RejoinError`]s for a refusal or an answer that does not parse.
pub fn ask(addr: &str) -> Result<NewPrimary, RejoinError> {
    ask_within(addr, std::time::Duration::from_secs(30))
}

/// [`ask`], each answer waited for at most `timeout`.
///
/// # Errors
/// As [`ask`].
pub fn ask_within(addr: &str, timeout: std::time::Duration) -> Result<NewPrimary, RejoinError> {
    let v = Primary::connect(addr, timeout)
        .and_then(|mut p| p.history())
        .map_err(|e| match e {
            RemoteError::Unreachable { .. } => RejoinError::Unreachable(e),
            RemoteError::Refused { .. } => RejoinError::Refused(e),
        })?;
    let bad = |what| RejoinError::BadAnswer {
        addr: addr.to_string(),
        what,
        answer: format!("{v:?}"),
    };
    let system_id = v.system_id().ok_or_else(|| bad("system_id"))?;
    let text = v.history.as_deref().ok_or_else(|| bad("history"))?;
    let history = timeline::parse(Path::new("LOGSHIP HISTORY"), text).map_err(|source| {
        RejoinError::History {
            addr: addr.to_string(),
            source,
        }
    })?;
    Ok(NewPrimary {
        addr: addr.to_string(),
        system_id,
        timeline: v.timeline,
        durable_lsn: v.durable_lsn,
        history,
        fenced: v.fenced,
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
/// non-logship directory; [`RejoinError::OldLog`] for a damaged log.
pub fn open_old(dir: &Path) -> Result<OldPrimary, RejoinError> {
    let not = |why| RejoinError::NotStoppedPrimary {
        dir: dir.to_path_buf(),
        why,
    };
    if !dir.join(CONTROL_FILE).exists() {
        return Err(not(NotStopped::NoControlFile));
    }
    let (lock, control) = DataDir::open_stopped(&StdFs, dir).map_err(|e| match e {
        DataDirError::Locked { .. } => not(NotStopped::Running(e)),
        other => RejoinError::DataDir(other),
    })?;
    if control.role != Role::Primary {
        return Err(not(NotStopped::Standby {
            role: control.role,
            dir: dir.to_path_buf(),
        }));
    }
    let report = scan_dir(&StdFs, &dir.join(WAL_DIR)).map_err(RejoinError::OldLog)?;
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
/// [`RejoinError::NotAfter`] and [`RejoinError::NotInHistory`] when the old
/// timeline is not in the new history.
pub fn plan(old: &OldPrimary, new: &NewPrimary) -> Result<Plan, RejoinError> {
    if old.control.system_id != new.system_id {
        return Err(RejoinError::OtherSystem {
            addr: new.addr.clone(),
            theirs: new.system_id,
            dir: old.dir.clone(),
            ours: old.control.system_id,
        });
    }
    if new.timeline <= old.timeline {
        return Err(RejoinError::NotAfter {
            addr: new.addr.clone(),
            new: new.timeline,
            old: old.timeline,
        });
    }
    let switch = new
        .history
        .iter()
        .find(|s| s.timeline == old.timeline)
        .ok_or_else(|| RejoinError::NotInHistory {
            old: old.timeline,
            dir: old.dir.clone(),
            new: new.timeline,
            addr: new.addr.clone(),
        })?;
    let divergence_lsn = switch.switch_lsn.saturating_sub(SEAL_RECORD_BYTES);
    let t = diverged::tail(&old.dir.join(WAL_DIR), divergence_lsn, old.end_lsn)
        .map_err(RejoinError::Diverged)?;
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
/// [`RejoinError::Step`] naming the step; the directory then stays fenced
/// and a new run resumes.
pub fn apply(
    old: &OldPrimary,
    new: &NewPrimary,
    plan: &Plan,
    mut step: impl FnMut(&str),
) -> Result<Rejoined, RejoinError> {
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
        .map_err(failed("fence the control file"))?;
    }
    let mut done = Rejoined::default();
    let snapshots = snapshot::list(&StdFs, &snap_dir).map_err(failed("list the snapshots"))?;
    let mut reseed = plan.divergence.is_some();
    if let Some(d) = &plan.divergence {
        let out = saved_dir(dir, plan);
        step(&format!(
            "saving the divergent records to {}",
            out.display()
        ));
        done.saved_files = diverged::save(&wal_dir, old.control.system_id, d, &out)
            .map_err(failed("save the divergent records"))?;
        done.saved_dir = Some(out);
    } else {
        if plan.old_end_lsn > plan.divergence_lsn {
            step(&format!(
                "cutting {} record(s) past LSN {} (no data: a segment's seal)",
                plan.records_cut,
                crate::wal::format_lsn(plan.divergence_lsn)
            ));
            done.segments_removed +=
                diverged::cut_log(&wal_dir, plan.divergence_lsn).map_err(failed("cut the log"))?;
        }
        let stale: Vec<_> = snapshots
            .iter()
            .filter(|(lsn, _)| *lsn > plan.divergence_lsn)
            .collect();
        remove_snapshots(&snap_dir, stale.iter().map(|(_, p)| p))?;
        done.snapshots_removed = stale.len();
        // The kept log must be replayable from a kept snapshot (or from LSN 0).
        let covered = snapshots
            .iter()
            .filter(|(lsn, _)| *lsn <= plan.divergence_lsn)
            .map(|(lsn, _)| *lsn)
            .max()
            .unwrap_or(0);
        let segments = list_segments(&StdFs, &wal_dir).map_err(failed("list"))?;
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
        let snaps = snapshot::list(&StdFs, &snap_dir).map_err(failed("list the snapshots"))?;
        remove_snapshots(&snap_dir, snaps.iter().map(|(_, p)| p))?;
        done.snapshots_removed += snaps.len();
        done.segments_removed += diverged::cut_log(&wal_dir, 0).map_err(failed("empty the log"))?;
        done.kept_end_lsn = 0;
        done.reseed = true;
    }
    step(&format!(
        "installing the history of timeline {} and making the directory a standby's",
        new.timeline
    ));
    timeline::install(&StdFs, &wal_dir, new.timeline, &new.history)
        .map_err(failed("install the timeline history"))?;
    Control {
        role: Role::Standby,
        fenced: None,
        halted_at: None,
        timeline: if done.reseed {
            new.timeline
        } else {
            old.timeline
        },
        ..old.control.clone()
    }
    .write(&StdFs, dir)
    .map_err(failed("write the control file"))?;
    Ok(done)
}

/// Removes the snapshot files `paths` of `snap_dir`, then fsyncs it.
fn remove_snapshots<'a>(
    snap_dir: &Path,
    paths: impl ExactSizeIterator<Item = &'a PathBuf>,
) -> Result<(), RejoinError> {
    if paths.len() == 0 {
        return Ok(());
    }
    for p in paths {
        StdFs
            .remove(p)
            .map_err(IoError::at("remove", p))
            .map_err(failed("remove snapshots"))?;
    }
    fsync_dir(&StdFs, snap_dir).map_err(failed("remove snapshots"))
}
