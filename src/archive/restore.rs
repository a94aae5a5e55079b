//! Point-in-time restore: a new standby data directory recovered from the
//! archive to an LSN, a time, or the end of what the archive holds.
//!
//! The newest snapshot at or before the target is the base; the WAL objects
//! after it are read in LSN order, every record checked by the same mirror a
//! standby receives shipments with, and applied until the target. The
//! directory then holds the base's log, the WAL up to the stop and a
//! snapshot at the stop, so it starts as a standby at once. Nothing is
//! written unless the target is provably inside the archive. Replay itself
//! is [`super::replay`].

use super::catalog::{self, Catalog, Chain};
use super::layout::Name;
use super::replay::build;
pub use super::replay::{RestoreRequest, Restored, Target, Then, TimelineChoice};
use super::{ArchiveError, ArchiveKey, ArchiveStore};
use crate::fs::SharedFs;
use crate::wal::format::SegmentHeader;
use crate::wal::format_lsn;
use std::path::Path;

/// The window a restore along `timeline` can reach: from the earliest base
/// to the end of the chain after the newest one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub earliest_lsn: u64,
    pub latest_lsn: u64,
}

/// The restorable window along `timeline`.
pub fn window(c: &Catalog, timeline: u32) -> Option<Window> {
    let earliest = if c.starts_at_zero(timeline) {
        Some(0)
    } else {
        c.snapshots
            .iter()
            .find(|(tl, lsn, _)| c.on_path(timeline, *tl, *lsn))
            .map(|s| s.1)
    }?;
    let newest = c
        .snapshot_at_or_before(timeline, u64::MAX)
        .map_or(earliest, |s| s.1);
    Some(Window {
        earliest_lsn: earliest,
        latest_lsn: c.chain(timeline, newest).end_lsn,
    })
}

/// Runs a restore, calling `progress(bytes_read, bytes_total)` as objects
/// arrive.
///
/// # Errors
/// [`ArchiveError::Refused`] when the target is outside what the archive
/// proves (nothing is written then); store, object and I/O errors.
pub async fn restore(
    req: &RestoreRequest,
    fs: SharedFs,
    mut progress: impl FnMut(u64, u64),
) -> Result<Restored, ArchiveError> {
    check_empty(&fs, &req.data_dir)?;
    let store = ArchiveStore::open(&req.url)?;
    let c = Catalog::load(&store, req.system_id, req.key.as_ref()).await?;
    let timeline = match req.timeline {
        TimelineChoice::Latest => c.latest_timeline(),
        TimelineChoice::Number(n) => n,
    };
    let refuse = |why: String| {
        let w = window(&c, timeline).map_or("none".to_string(), |w| {
            format!(
                "LSN {} to {}",
                format_lsn(w.earliest_lsn),
                format_lsn(w.latest_lsn)
            )
        });
        ArchiveError::Refused(format!(
            "cannot restore {} timeline {timeline}: {why} (restorable window on timeline {timeline}: {w}); nothing was written",
            req.url
        ))
    };
    if !c.wal.contains_key(&timeline)
        && !c.histories.contains_key(&timeline)
        && !c.snapshots.iter().any(|s| s.0 == timeline)
    {
        return Err(refuse(format!("the archive has no timeline {timeline}")));
    }
    // The base: the newest snapshot at or before the target.
    let base = match req.target {
        Target::Lsn(l) => c.snapshot_at_or_before(timeline, l),
        Target::Latest => c.snapshot_at_or_before(timeline, u64::MAX),
        Target::Time { unix_ms, .. } => {
            let mut found = None;
            for (tl, lsn, _) in c.snapshots.iter().rev() {
                if !c.on_path(timeline, *tl, *lsn) {
                    continue;
                }
                let h = catalog::read_header(
                    &store,
                    c.system_id,
                    &Name::Snapshot {
                        timeline: *tl,
                        lsn: *lsn,
                    },
                )
                .await?;
                if h.last_time_unix_ms <= unix_ms {
                    found = Some((*tl, *lsn));
                    break;
                }
            }
            found
        }
    };
    if base.is_none() && !c.starts_at_zero(timeline) {
        return Err(refuse("the target is before the earliest snapshot".into()));
    }
    let from = base.map_or(0, |b| b.1);
    // A received log starts at a segment's start: the WAL from the start of
    // the segment holding the base is written too (not applied), as seeding
    // a standby does.
    let seg_start = segment_start(&store, &c, timeline, from, req.key.as_ref()).await?;
    let chain = c.chain(timeline, seg_start);
    if chain.end_lsn < from {
        return Err(refuse(format!(
            "the archive lacks the WAL from LSN {} (the start of the segment holding the snapshot at {}) to the snapshot",
            format_lsn(seg_start),
            format_lsn(from)
        )));
    }
    match req.target {
        Target::Lsn(l) if l > chain.end_lsn => {
            return Err(refuse(match chain.gap {
                Some(g) => format!(
                    "LSN {} is past a gap in the archive ({}..{}, recorded by the archiver)",
                    format_lsn(l),
                    format_lsn(g.start_lsn),
                    format_lsn(g.end_lsn)
                ),
                None => format!("LSN {} is past the end of the archived WAL", format_lsn(l)),
            }));
        }
        _ => {}
    }
    if let Target::Time { unix_ms, .. } = req.target {
        check_time_provable(&store, &c, &chain, unix_ms)
            .await
            .map_err(refuse)?;
    }
    // Everything checked: build the directory; a restore that fails from
    // here removes what it wrote.
    let created = !fs.exists(&req.data_dir);
    let r = build(req, &fs, &store, &c, timeline, base, &chain, &mut progress).await;
    if r.is_err() {
        remove_written(&fs, &req.data_dir, created);
    }
    r
}

/// The first LSN of the segment holding `lsn`, from the object covering it
/// (`lsn` itself when none does).
pub(super) async fn segment_start(
    store: &ArchiveStore,
    c: &Catalog,
    timeline: u32,
    lsn: u64,
    key: Option<&ArchiveKey>,
) -> Result<u64, ArchiveError> {
    let Some(step) = c.chain(timeline, lsn).steps.first().copied() else {
        return Ok(lsn);
    };
    let (_, content) = catalog::read_object(store, c.system_id, &step.object.name(), key).await?;
    Ok(SegmentHeader::decode(&content).map_or(lsn, |h| h.first_lsn.min(lsn)))
}

/// Removes what a failed restore wrote into `dir` (all of it: the
/// directory was missing or empty before).
fn remove_written(fs: &SharedFs, dir: &Path, created: bool) {
    if created {
        let _ = std::fs::remove_dir_all(dir);
    } else if let Ok(names) = fs.list(dir) {
        for n in names {
            let p = dir.join(n);
            let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
        }
    }
}

/// Writes the history of `timeline` from the data directory `dir` into the
/// archive (a restore that became a primary does this before its first
/// write, so the archive knows the new timeline's path).
///
/// # Errors
/// Store and I/O errors; a history already there with other content.
pub async fn publish_history(
    url: &str,
    key: Option<&ArchiveKey>,
    dir: &Path,
    system_id: u64,
    timeline: u32,
) -> Result<(), ArchiveError> {
    let store = ArchiveStore::open(url)?;
    let path = dir
        .join(crate::node::datadir::WAL_DIR)
        .join(crate::wal::timeline::history_file_name(timeline));
    let text = std::fs::read(&path).map_err(crate::durable::IoError::at("read", &path))?;
    let h =
        super::object::ObjectHeader::new(super::object::Kind::History, system_id, timeline, 0, 0);
    let bytes = bytes::Bytes::from(super::object::encode(h, &text, true, key));
    store
        .put_new(
            &ArchiveStore::object_path(system_id, &Name::History { timeline }),
            bytes,
        )
        .await?;
    Ok(())
}

/// A time past the last archived record is accepted only if the archive
/// shows the node alive and idle up to it: the last object's heartbeat (or
/// the heartbeat object) at or after the time, with the log ending where the
/// chain does.
async fn check_time_provable(
    store: &ArchiveStore,
    c: &Catalog,
    chain: &Chain,
    unix_ms: u64,
) -> Result<(), String> {
    let Some(last) = chain.steps.last() else {
        return Err("the archive holds no WAL after the base snapshot to prove the time".into());
    };
    let h = catalog::read_header(store, c.system_id, &last.object.name())
        .await
        .map_err(|e| e.to_string())?;
    if h.last_time_unix_ms > unix_ms {
        return Ok(()); // the target falls inside the archived records
    }
    let mut proven = if h.log_end_lsn == chain.end_lsn {
        h.heartbeat_unix_ms
    } else {
        h.last_time_unix_ms
    };
    if c.heartbeats.contains(&last.object.timeline) {
        let hb = catalog::read_header(
            store,
            c.system_id,
            &Name::Heartbeat {
                timeline: last.object.timeline,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        if hb.end_lsn == chain.end_lsn {
            proven = proven.max(hb.heartbeat_unix_ms);
        }
    }
    if unix_ms > proven {
        return Err(format!(
            "{} is past what the archive can prove: its last record is at {} and the node was last seen idle at {}",
            crate::clock::utc_text_ms(unix_ms),
            crate::clock::utc_text_ms(h.last_time_unix_ms),
            crate::clock::utc_text_ms(proven)
        ));
    }
    Ok(())
}

fn check_empty(fs: &SharedFs, dir: &Path) -> Result<(), ArchiveError> {
    if fs.exists(dir) {
        let names = fs
            .list(dir)
            .map_err(crate::durable::IoError::at("read directory", dir))?;
        if !names.is_empty() {
            return Err(ArchiveError::Refused(format!(
                "{} is not empty: restore writes only into a missing or empty directory (it never overwrites)",
                dir.display()
            )));
        }
    }
    Ok(())
}
