//! Point-in-time restore: a new standby data directory recovered from the
//! archive to an LSN, a time, or the end of what the archive holds.
//!
//! The newest snapshot at or before the target is the base; the WAL objects
//! after it are read in LSN order, every record checked by the same mirror a
//! standby receives shipments with, and applied until the target. The
//! directory then holds the base's log, the WAL up to the stop and a
//! snapshot at the stop, so it starts as a standby at once. Nothing is
//! written unless the target is provably inside the archive.

use super::catalog::{self, Catalog, Chain};
use super::layout::Name;
use super::{ArchiveError, ArchiveKey, ArchiveStore};
use crate::fs::SharedFs;
use crate::node::control::{Control, Role, CONTROL_VERSION};
use crate::store::apply::KvState;
use crate::store::dbs::Dbs;
use crate::wal::format::{SegmentHeader, SEGMENT_HEADER_BYTES};
use crate::wal::{format_lsn, Mirror, Record, RecordKind};
use bytes::Bytes;
use std::path::{Path, PathBuf};

/// Objects fetched ahead of replay (at most this many decoded objects,
/// up to `--archive-max-object` each, are held at once).
const PREFETCH_OBJECTS: usize = 4;

/// Where a restore stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Every record below this LSN (a record boundary).
    Lsn(u64),
    /// Records whose time is at or before this (before it, when exclusive).
    Time { unix_ms: u64, exclusive: bool },
    /// Everything the archive holds.
    Latest,
}

/// Which timeline to restore along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineChoice {
    Latest,
    Number(u32),
}

/// What to do with the restored directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// A standby that continues (from the archive, or from a primary).
    Standby,
    /// A standby that stays at the target: read-only, promotable.
    Stop,
}

/// A restore to run.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    pub url: String,
    pub data_dir: PathBuf,
    pub target: Target,
    pub timeline: TimelineChoice,
    pub then: Then,
    pub system_id: Option<u64>,
    pub key: Option<ArchiveKey>,
}

/// Where a restore stopped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Restored {
    pub system_id: u64,
    pub timeline: u32,
    /// The base snapshot's LSN (`None`: the log from 0).
    pub snapshot_lsn: Option<u64>,
    /// Every record below this LSN is applied, none above.
    pub stop_lsn: u64,
    /// Time of the last record applied (0: none after the base).
    pub last_record_unix_ms: u64,
    pub records_applied: u64,
    pub objects_read: u64,
    pub bytes_read: u64,
}

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

#[allow(clippy::too_many_arguments)]
async fn build(
    req: &RestoreRequest,
    fs: &SharedFs,
    store: &ArchiveStore,
    c: &Catalog,
    timeline: u32,
    base: Option<(u32, u64)>,
    chain: &Chain,
    progress: &mut impl FnMut(u64, u64),
) -> Result<Restored, ArchiveError> {
    let from = base.map_or(0, |b| b.1);
    let system_id = c.system_id;
    let seg_start = chain.steps.first().map_or(from, |s| s.from_lsn.min(from));
    let (mut kv, mut mirror, segment_bytes) = start_dir(
        store,
        c,
        fs,
        &req.data_dir,
        base,
        seg_start,
        req.key.as_ref(),
    )
    .await?;
    let total: u64 = chain.steps.iter().map(|s| s.object.size).sum();
    let mut out = Restored {
        system_id,
        timeline,
        snapshot_lsn: base.map(|b| b.1),
        stop_lsn: from,
        last_record_unix_ms: 0,
        records_applied: 0,
        objects_read: 0,
        bytes_read: 0,
    };
    let mut seg_bytes = segment_bytes;
    // Objects are fetched and decoded PREFETCH_OBJECTS ahead of the one
    // being checked and applied, so download, decompression and replay
    // overlap.
    use futures::StreamExt;
    let mut fetched = futures::stream::iter(chain.steps.iter())
        .map(|step| async move {
            catalog::read_object(store, system_id, &step.object.name(), req.key.as_ref()).await
        })
        .buffered(PREFETCH_OBJECTS);
    'steps: for step in &chain.steps {
        let (object_header, content) =
            fetched.next().await.expect("one fetched object per step")?;
        out.objects_read += 1;
        out.bytes_read += step.object.size;
        progress(out.bytes_read, total);
        let bad = |e: &dyn std::fmt::Display| {
            ArchiveError::Refused(format!(
                "archive {}: object {}: {e}",
                req.url,
                step.object.name().path()
            ))
        };
        let header = SegmentHeader::decode(&content)
            .map_err(|e| bad(&format!("bad segment header: {e}")))?;
        seg_bytes = header.segment_bytes;
        let records = Bytes::from(content).slice(SEGMENT_HEADER_BYTES..);
        let skip = (step.from_lsn - step.object.start_lsn) as usize;
        let take = (step.until_lsn - step.object.start_lsn) as usize;
        let part = records.slice(skip.min(records.len())..take.min(records.len()));
        // An object the target cannot fall inside is checked and written in
        // one walk; the one it may fall inside is checked whole first (the
        // mirror writes nothing of a bad one), then cut where the target says.
        let whole = match req.target {
            Target::Latest => true,
            Target::Lsn(l) => step.until_lsn <= l,
            Target::Time { unix_ms, exclusive } => {
                object_header.last_time_unix_ms < unix_ms
                    || (!exclusive && object_header.last_time_unix_ms == unix_ms)
            }
        };
        let recs =
            crate::wal::mirror::records_of(&header, step.from_lsn, &part).map_err(|e| bad(&e))?;
        let mut cut = if whole { recs.len() } else { 0 };
        while cut < recs.len() && !(recs[cut].lsn >= from && stops_before(req.target, &recs[cut])) {
            cut += 1;
        }
        let end = recs.get(cut).map_or(step.until_lsn, |r| r.lsn);
        let fresh = &recs[..cut];
        // Every record is checked and decoded before anything is written.
        let decoded = fresh
            .iter()
            .filter(|r| r.lsn >= from) // below: in the base snapshot already
            .map(|r| match r.kind {
                RecordKind::Data => {
                    crate::store::apply::Decoded::data(r.lsn, r.end_lsn, &r.payload)
                }
                _ => Ok(crate::store::apply::Decoded::other(r.lsn, r.end_lsn)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(&e))?;
        // The log is written on another thread while the records are
        // applied: the two took about as long as each other.
        let bytes = part.slice(..(end - step.from_lsn) as usize);
        let written = std::thread::scope(|sc| {
            let writer = (end > step.from_lsn)
                .then(|| sc.spawn(|| mirror.append(&header, step.from_lsn, &bytes)));
            kv.apply_decoded(&decoded);
            writer.map(|w| w.join().expect("the log writer does not panic"))
        });
        if let Some(r) = written {
            r.map_err(|e| bad(&e))?;
        }
        if let Some(last) = decoded.last() {
            kv.advance_to(last.end_lsn);
        }
        out.records_applied += decoded.len() as u64;
        if let Some(t) = fresh
            .iter()
            .rev()
            .map(|r| r.timestamp_unix_ms)
            .find(|t| *t > 0)
        {
            out.last_record_unix_ms = t;
        }
        let end = recs.get(cut).map_or(step.until_lsn, |r| r.lsn);
        out.stop_lsn = out.stop_lsn.max(end.max(from));
        if cut < recs.len() {
            break 'steps;
        }
    }
    if let Target::Lsn(l) = req.target {
        if out.stop_lsn != l {
            return Err(ArchiveError::Refused(format!(
                "cannot restore {} to LSN {}: it is not a record boundary (the record before it ends at {}; `logship dump` shows the boundaries); nothing was kept",
                req.url, format_lsn(l), format_lsn(out.stop_lsn)
            )));
        }
    }
    finish_dir(
        fs,
        &req.data_dir,
        &kv.dbs,
        &mut mirror,
        system_id,
        timeline_at(c, timeline, out.stop_lsn),
        out.stop_lsn,
        seg_bytes,
        req.then,
    )?;
    Ok(out)
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
    let bytes = Bytes::from(super::object::encode(h, &text, true, key));
    store
        .put_new(
            &ArchiveStore::object_path(system_id, &Name::History { timeline }),
            bytes,
        )
        .await?;
    Ok(())
}

/// Whether replay stops before record `r`.
fn stops_before(target: Target, r: &Record) -> bool {
    match target {
        Target::Lsn(l) => r.lsn >= l,
        Target::Latest => false,
        // Seals carry no time (0): they never stop replay.
        Target::Time { unix_ms, exclusive } => {
            r.timestamp_unix_ms != 0
                && (r.timestamp_unix_ms > unix_ms || (exclusive && r.timestamp_unix_ms == unix_ms))
        }
    }
}

/// The timeline of the log at `lsn` on the way to `timeline`.
fn timeline_at(c: &Catalog, timeline: u32, lsn: u64) -> u32 {
    c.path_to(timeline)
        .into_iter()
        .find(|(_, until)| lsn < *until)
        .map_or(timeline, |(tl, _)| tl)
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

/// Creates the directory and loads the base: returns the state, the mirror
/// (positioned at the base's LSN) and the segment size to use.
async fn start_dir(
    store: &ArchiveStore,
    c: &Catalog,
    fs: &SharedFs,
    dir: &Path,
    base: Option<(u32, u64)>,
    wal_start_lsn: u64,
    key: Option<&ArchiveKey>,
) -> Result<(KvState, Mirror, u64), ArchiveError> {
    use crate::node::datadir::{SNAPSHOT_DIR, WAL_DIR};
    for d in [dir.to_path_buf(), dir.join(WAL_DIR), dir.join(SNAPSHOT_DIR)] {
        fs.create_dir_all(&d)
            .map_err(crate::durable::IoError::at("create directory", &d))?;
    }
    let kv = match base {
        Some((tl, lsn)) => {
            let (_, data) = catalog::read_object(
                store,
                c.system_id,
                &Name::Snapshot { timeline: tl, lsn },
                key,
            )
            .await?;
            let path = dir
                .join(SNAPSHOT_DIR)
                .join(crate::store::snapshot::file_name(lsn));
            crate::fs::replace(&**fs, &path, &data)?;
            let (_, dbs) = crate::store::snapshot::read(&**fs, &path, c.system_id)
                .map_err(|e| ArchiveError::Local(e.to_string()))?;
            KvState::new(dbs, lsn)
        }
        None => KvState::new(Dbs::default(), 0),
    };
    for (tl, h) in &c.histories {
        crate::wal::timeline::install(&**fs, &dir.join(WAL_DIR), *tl, h)?;
    }
    let (mut mirror, _) = Mirror::open(fs.clone(), dir.join(WAL_DIR))?;
    mirror.restart_at(wal_start_lsn)?;
    Ok((kv, mirror, crate::wal::options::DEFAULT_SEGMENT_BYTES))
}

#[allow(clippy::too_many_arguments)]
fn finish_dir(
    fs: &SharedFs,
    dir: &Path,
    dbs: &Dbs,
    mirror: &mut Mirror,
    system_id: u64,
    timeline: u32,
    stop_lsn: u64,
    segment_bytes: u64,
    then: Then,
) -> Result<(), ArchiveError> {
    mirror.sync()?;
    let snap_dir = dir.join(crate::node::datadir::SNAPSHOT_DIR);
    crate::store::snapshot::write(&**fs, &snap_dir, dbs, system_id, stop_lsn, timeline)
        .map_err(|e| ArchiveError::Local(e.to_string()))?;
    let control = Control {
        version: CONTROL_VERSION,
        system_id,
        role: Role::Standby,
        timeline,
        segment_bytes,
        created_unix_ms: crate::clock::now_unix_ms(),
        fenced: None,
        halted_at: (then == Then::Stop).then_some(stop_lsn),
    };
    control
        .write(&**fs, dir)
        .map_err(|e| ArchiveError::Local(e.to_string()))?;
    crate::fs::fsync_dir(&**fs, dir)?;
    Ok(())
}
