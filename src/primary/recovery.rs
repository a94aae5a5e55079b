//! Crash recovery: the newest valid snapshot, then the WAL after it.
//!
//! A damaged snapshot is reported and an older one tried; with none left the log
//! is replayed from its start — but only if the log still starts at LSN 0.
//! Whenever the records needed to go forward from the chosen starting point are
//! gone, recovery stops with a message saying so: it never starts with data
//! silently missing.

use crate::fs::StdFs;
use crate::node::control::Control;
use crate::node::datadir::DataDir;
use crate::store::snapshot::{self, SnapshotError};
use crate::store::{ApplyError, KvState, StateMachine};
use crate::wal::{
    self, scan::list_segments, RecordKind, SyncPolicy, Wal, WalError, WalOptions, WalReader,
};
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Why recovery stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("replaying the WAL: {0}")]
    Apply(#[from] ApplyError),
    #[error("cannot recover {}: the WAL needed to replay from {from} was already removed (the oldest segment, {}, starts at LSN {first_lsn:#x}); restore the directory from a backup", dir.display(), oldest.display())]
    WalRemoved {
        dir: PathBuf,
        from: ReplayFrom,
        oldest: PathBuf,
        first_lsn: u64,
    },
    #[error("cannot recover {}: every snapshot is damaged ({}) and there is no WAL", dir.display(), Damaged(damaged))]
    NoWal {
        dir: PathBuf,
        damaged: Vec<SnapshotError>,
    },
    #[error("cannot recover {}: the snapshot covers the log up to LSN {snapshot_lsn:#x} but the WAL ends at {wal_end_lsn:#x}; records the snapshot holds are missing from the log", dir.display())]
    WalShort {
        dir: PathBuf,
        snapshot_lsn: u64,
        wal_end_lsn: u64,
    },
}

/// Where replay would have started.
#[derive(Debug)]
pub enum ReplayFrom {
    Snapshot {
        path: PathBuf,
        lsn: u64,
    },
    /// The start of the log: there is no snapshot, or every one (these) is
    /// damaged.
    Start {
        damaged: Vec<SnapshotError>,
    },
}

impl fmt::Display for ReplayFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayFrom::Snapshot { path, lsn } => {
                write!(f, "snapshot {} (LSN {lsn:#x})", path.display())
            }
            ReplayFrom::Start { damaged } if damaged.is_empty() => {
                f.write_str("the start of the log (there is no snapshot)")
            }
            ReplayFrom::Start { damaged } => write!(
                f,
                "the start of the log (every snapshot is damaged: {})",
                Damaged(damaged)
            ),
        }
    }
}

/// Snapshot errors, `; `-separated.
struct Damaged<'a>(&'a [SnapshotError]);

impl fmt::Display for Damaged<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// What recovery found and did.
pub struct Recovered {
    pub state: KvState,
    pub wal: Wal,
    /// The snapshot recovery started from.
    pub snapshot: Option<(u64, PathBuf)>,
    /// Data records replayed from the WAL.
    pub replayed_records: u64,
    pub replay_time: Duration,
    /// CPU time the replaying thread spent (wall time minus waiting and
    /// preemption: a steadier measure on a busy machine).
    pub replay_cpu_time: Duration,
    /// Where the log continues.
    pub next_lsn: u64,
}

/// Recovers the keyspace of `dir` and opens its WAL for appending.
///
/// # Errors
/// [`RecoveryError`] when the data cannot be recovered completely.
pub fn recover(
    dir: &DataDir,
    control: &Control,
    sync: SyncPolicy,
    max_record_bytes: usize,
) -> Result<Recovered, RecoveryError> {
    let snap_dir = dir.snapshot_dir();
    let wal_dir = dir.wal_dir();
    let leftovers = snapshot::remove_leftovers(&StdFs, &snap_dir)?;
    if leftovers > 0 {
        tracing::warn!(files = leftovers, "removed unfinished snapshot files");
    }
    let mut chosen: Option<(u64, PathBuf, KvState)> = None;
    let mut damaged: Vec<SnapshotError> = Vec::new();
    for (lsn, path) in snapshot::list(&StdFs, &snap_dir)?.into_iter().rev() {
        match snapshot::read(&StdFs, &path, control.system_id) {
            Ok((header, keyspace)) => {
                tracing::info!(snapshot = %path.display(), lsn = header.lsn, items = header.items, "loaded snapshot");
                chosen = Some((lsn, path, KvState::new(keyspace, header.lsn)));
                break;
            }
            Err(e) => {
                tracing::error!(error = %e, "snapshot unusable, trying an older one");
                damaged.push(e);
            }
        }
    }
    let base_lsn = chosen.as_ref().map_or(0, |c| c.0);
    let segments = list_segments(&StdFs, &wal_dir)?;
    if let Some(first) = segments.first() {
        if first.first_lsn > base_lsn {
            let from = match &chosen {
                Some((lsn, p, _)) => ReplayFrom::Snapshot {
                    path: p.clone(),
                    lsn: *lsn,
                },
                None => ReplayFrom::Start { damaged },
            };
            return Err(RecoveryError::WalRemoved {
                dir: dir.path.clone(),
                from,
                oldest: first.path.clone(),
                first_lsn: first.first_lsn,
            });
        }
    } else if chosen.is_none() && !damaged.is_empty() {
        return Err(RecoveryError::NoWal {
            dir: dir.path.clone(),
            damaged,
        });
    }
    let mut opts = WalOptions::new(&wal_dir, control.system_id, control.timeline);
    opts.segment_bytes = control.segment_bytes;
    opts.sync = sync;
    opts.max_record_bytes = max_record_bytes;
    opts.start_lsn = base_lsn;
    let (log, rec) = wal::open(StdFs::shared(), opts)?;
    if rec.next_lsn < base_lsn {
        return Err(RecoveryError::WalShort {
            dir: dir.path.clone(),
            snapshot_lsn: base_lsn,
            wal_end_lsn: rec.next_lsn,
        });
    }
    let (snapshot, mut state) = match chosen {
        Some((lsn, path, state)) => (Some((lsn, path)), state),
        None => (None, KvState::default()),
    };
    let started = Instant::now();
    let cpu_started = thread_cpu_time();
    let mut replayed = 0u64;
    if !segments.is_empty() && base_lsn < rec.next_lsn {
        let reader = WalReader::open(StdFs::shared(), &wal_dir, base_lsn, Some(rec.next_lsn))?;
        for r in reader {
            let r = r?;
            if r.kind == RecordKind::Data {
                state.apply(r.lsn, r.end_lsn, &r.payload)?;
                replayed += 1;
            } else {
                state.advance_to(r.end_lsn);
            }
        }
    }
    state.advance_to(rec.next_lsn);
    Ok(Recovered {
        state,
        wal: log,
        snapshot,
        replayed_records: replayed,
        replay_time: started.elapsed(),
        replay_cpu_time: thread_cpu_time().saturating_sub(cpu_started),
        next_lsn: rec.next_lsn,
    })
}

/// CPU time of the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
