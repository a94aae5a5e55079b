//! The keyspace a promoted copy must have: its snapshot, then its log up to
//! an LSN, replayed in this process with the apply code of recovery (a
//! drill's expectation).

use crate::fs::StdFs;
use crate::node::datadir::{SNAPSHOT_DIR, WAL_DIR};
use crate::store::snapshot::{self, SnapshotError};
use crate::store::{ApplyError, KvState, StateMachine};
use crate::wal::{RecordKind, WalError, WalReader};
use std::path::Path;

/// Why a copy's keyspace could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Log(#[from] WalError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// The keyspace of the copy in `dir`: its snapshot at `snapshot_lsn` (if any)
/// and its log up to `until`.
///
/// # Errors
/// [`ReplayError`]: an unreadable snapshot or log.
pub fn replay(
    dir: &Path,
    system_id: u64,
    snapshot_lsn: u64,
    until: u64,
) -> Result<KvState, ReplayError> {
    let path = dir
        .join(SNAPSHOT_DIR)
        .join(snapshot::file_name(snapshot_lsn));
    let mut state = if path.exists() {
        let (h, ks) = snapshot::read(&StdFs, &path, system_id)?;
        KvState::new(ks, h.lsn)
    } else {
        KvState::default()
    };
    apply_log(&mut state, &dir.join(WAL_DIR), until)?;
    Ok(state)
}

/// Applies the records of `wal` from the state's applied LSN up to `until`.
///
/// # Errors
/// [`ReplayError`]: an unreadable log, a record that does not apply.
pub fn apply_log(state: &mut KvState, wal: &Path, until: u64) -> Result<(), ReplayError> {
    let from = state.applied_lsn();
    if from >= until {
        return Ok(());
    }
    for r in WalReader::open(StdFs::shared(), wal, from, Some(until))? {
        let r = r?;
        if r.kind == RecordKind::Data {
            state.apply(r.lsn, r.end_lsn, &r.payload)?;
        } else {
            state.advance_to(r.end_lsn);
        }
    }
    Ok(())
}
