//! Replay of a restore: the base snapshot loaded, the WAL objects after it
//! fetched ahead (each fetch a task of its own), every record checked by the
//! mirror a standby receives shipments with, the log written by a thread of
//! its own while the records are applied on this one, and the directory
//! finished with a snapshot at the stop and its control file.
//!
//! [`super::restore`] decides what to replay (and refuses what the archive
//! cannot prove); this module does it.

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
use std::sync::mpsc;

/// Objects fetched ahead of replay (at most this many decoded objects,
/// up to `--archive-max-object` each, are held at once).
pub const PREFETCH_OBJECTS: usize = 4;

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

/// Pieces of log queued for the writer beyond the one it writes.
const WRITER_QUEUE: usize = 2;

/// Checked records of one object, for the writer.
struct LogPiece {
    object: String,
    header: SegmentHeader,
    start_lsn: u64,
    bytes: Bytes,
}

/// The thread that writes the restored log: replay hands it each object's
/// records and goes on applying them; a write error stops it and is
/// reported by the next hand-over or by [`finish`](Self::finish).
struct LogWriter {
    queue: Option<mpsc::SyncSender<LogPiece>>,
    thread: Option<std::thread::JoinHandle<Result<Mirror, String>>>,
}

impl LogWriter {
    fn start(mut mirror: Mirror, url: &str) -> LogWriter {
        let (queue, pieces) = mpsc::sync_channel::<LogPiece>(WRITER_QUEUE);
        let url = url.to_string();
        let thread = std::thread::Builder::new()
            .name("restore-log".into())
            .spawn(move || {
                for p in pieces {
                    mirror
                        .append(&p.header, p.start_lsn, &p.bytes)
                        .map_err(|e| format!("archive {url}: object {}: {e}", p.object))?;
                }
                Ok(mirror)
            });
        match thread {
            Ok(t) => LogWriter {
                queue: Some(queue),
                thread: Some(t),
            },
            Err(e) => LogWriter {
                queue: None,
                thread: Some(std::thread::spawn(move || {
                    Err(format!("start the log writer: {e}"))
                })),
            },
        }
    }

    /// Queues `piece`, waiting while the writer is [`WRITER_QUEUE`] behind.
    fn write(&mut self, piece: LogPiece) -> Result<(), ArchiveError> {
        let sent = self.queue.as_ref().map(|q| q.send(piece));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(self.stop_with_error()),
        }
    }

    /// Waits for the writer to write everything queued; returns the mirror.
    fn finish(mut self, url: &str) -> Result<Mirror, ArchiveError> {
        self.queue = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(Ok(mirror))) => Ok(mirror),
            Some(Ok(Err(e))) => Err(ArchiveError::Refused(e)),
            _ => Err(ArchiveError::Local(format!(
                "restore from {url}: the log writer stopped"
            ))),
        }
    }

    /// The writer's error, once it stopped.
    fn stop_with_error(&mut self) -> ArchiveError {
        self.queue = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(Err(e))) => ArchiveError::Refused(e),
            _ => ArchiveError::Local("the restored log's writer stopped".into()),
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn build(
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
    let (mut kv, mirror, segment_bytes) = start_dir(
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
    let mut writer = LogWriter::start(mirror, &req.url);
    // Objects are fetched and decoded PREFETCH_OBJECTS ahead of the one
    // being checked and applied, so download, decompression and replay
    // overlap.
    // Each fetch is a task of its own, so it goes on while this thread
    // applies.
    use futures::StreamExt;
    let mut fetched = futures::stream::iter(chain.steps.iter())
        .map(|step| {
            let (store, key, name) = (store.clone(), req.key.clone(), step.object.name());
            tokio::spawn(async move {
                catalog::read_object(&store, system_id, &name, key.as_ref()).await
            })
        })
        .buffered(PREFETCH_OBJECTS);
    'steps: for step in &chain.steps {
        let (object_header, content) = match fetched.next().await {
            Some(Ok(r)) => r?,
            Some(Err(e)) => return Err(ArchiveError::Local(format!("reading the archive: {e}"))),
            None => {
                return Err(ArchiveError::Local(
                    "reading the archive ended early".into(),
                ))
            }
        };
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
        // The log is written by its own thread while the records are
        // applied: the two take about as long as each other.
        if end > step.from_lsn {
            writer.write(LogPiece {
                object: step.object.name().path(),
                header,
                start_lsn: step.from_lsn,
                bytes: part.slice(..(end - step.from_lsn) as usize),
            })?;
        }
        kv.apply_decoded(&decoded);
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
    let mut mirror = writer.finish(&req.url)?;
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

/// Creates the directory and loads the base: returns the state, the mirror
/// (positioned at the base's LSN) and the segment size to use.
pub(super) async fn start_dir(
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
pub(super) fn finish_dir(
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
