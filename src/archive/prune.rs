//! Retention of the archive: snapshots past the policy go, and the WAL below
//! the oldest snapshot kept, never anything the oldest restorable point
//! needs (the WAL from the start of the segment holding that snapshot).

use super::catalog::{self, Catalog};
use super::layout::Name;
use super::{ArchiveError, ArchiveKey, ArchiveStore};
use std::time::Duration;

/// What to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// Snapshots taken within this long, and the newest one before it (so
    /// every point of the window stays restorable).
    pub within: Option<Duration>,
    /// The newest N snapshots.
    pub snapshots: Option<usize>,
}

impl Retention {
    /// Whether any rule is set.
    pub fn any(&self) -> bool {
        self.within.is_some() || self.snapshots.is_some()
    }
}

/// What a prune removes (or would remove).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Plan {
    /// Object paths, relative to the URL.
    pub remove: Vec<String>,
    pub bytes: u64,
    /// The oldest snapshot kept (its LSN), and the LSN the WAL is kept from.
    pub oldest_snapshot_lsn: Option<u64>,
    pub keep_wal_from_lsn: Option<u64>,
}

/// Works out what `policy` removes from the archive `c` lists.
///
/// # Errors
/// Store errors reading snapshot headers or the object holding the oldest
/// kept snapshot's segment start.
pub async fn plan(
    store: &ArchiveStore,
    c: &Catalog,
    policy: Retention,
    now_unix_ms: u64,
    key: Option<&ArchiveKey>,
) -> Result<Plan, ArchiveError> {
    let mut plan = Plan::default();
    if !policy.any() || c.snapshots.is_empty() {
        return Ok(plan);
    }
    // Newest first.
    let snaps: Vec<(u32, u64, u64)> = c.snapshots.iter().rev().copied().collect();
    let mut keep = snaps.len();
    if let Some(n) = policy.snapshots {
        keep = keep.min(n.max(1));
    }
    if let Some(within) = policy.within {
        let since = now_unix_ms.saturating_sub(within.as_millis() as u64);
        let mut n = 0;
        for (tl, lsn, _) in &snaps {
            n += 1;
            let h = catalog::read_header(
                store,
                c.system_id,
                &Name::Snapshot {
                    timeline: *tl,
                    lsn: *lsn,
                },
            )
            .await?;
            if h.last_time_unix_ms < since {
                break; // the newest one before the window: kept too
            }
        }
        keep = keep.min(n.max(1));
    }
    let (oldest_tl, oldest_lsn, _) = snaps[keep - 1];
    let keep_from = super::restore::segment_start(
        store,
        c,
        c.latest_timeline().max(oldest_tl),
        oldest_lsn,
        key,
    )
    .await?;
    plan.oldest_snapshot_lsn = Some(oldest_lsn);
    plan.keep_wal_from_lsn = Some(keep_from);
    for (tl, lsn, size) in &snaps[keep..] {
        plan.remove.push(ArchiveStore::object_path(
            c.system_id,
            &Name::Snapshot {
                timeline: *tl,
                lsn: *lsn,
            },
        ));
        plan.bytes += size;
    }
    for objs in c.wal.values() {
        for o in objs.iter().filter(|o| o.end_lsn <= keep_from) {
            plan.remove
                .push(ArchiveStore::object_path(c.system_id, &o.name()));
            plan.bytes += o.size;
        }
    }
    for g in c.gaps.iter().filter(|g| g.end_lsn <= keep_from) {
        plan.remove.push(ArchiveStore::object_path(
            c.system_id,
            &Name::Gap {
                timeline: g.timeline,
                start_lsn: g.start_lsn,
                end_lsn: g.end_lsn,
            },
        ));
    }
    Ok(plan)
}

/// Removes what `plan` lists: WAL and gaps first, snapshots last, so that
/// an interrupted prune never leaves a snapshot without its WAL's start.
///
/// # Errors
/// The first store error; what was removed until then stays removed.
pub async fn execute(store: &ArchiveStore, plan: &Plan) -> Result<(), ArchiveError> {
    let (snaps, rest): (Vec<&String>, Vec<&String>) =
        plan.remove.iter().partition(|p| p.contains("/snapshots/"));
    for p in rest.into_iter().chain(snaps) {
        store.delete(p).await?;
    }
    Ok(())
}
