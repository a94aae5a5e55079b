//! The archiver: copies a node's durable WAL, timeline histories and
//! snapshots into the archive, batched by time and size, resuming where it
//! stopped, never skipping WAL silently.
//!
//! Each pass cuts the WAL not archived yet into objects of at most
//! `max_object_bytes` (whole records, never across a segment), encodes them
//! off the runtime's workers, and writes up to `parallel` at once. Only the
//! run of objects written without a hole counts as archived; the local state
//! file then moves on. No listing happens on this path: the archive is listed
//! once at start, and only when the state file does not say where it ended.
//! The objects other than WAL (histories, snapshots, heartbeats, gaps) are
//! written by `push_objects`.

use super::layout::Name;
use super::object::{self, Kind, ObjectHeader};
use super::progress::{ArchiveProgress, LocalState};
use super::store::{ArchiveStore, StoreError};
use super::{ArchiveError, ArchiveSettings};
use crate::events::EventKind;
use crate::fs::SharedFs;
use crate::wal::format::SegmentHeader;
use crate::wal::{RawChunk, RawReader, WalError};
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Where the archiver's events go (the node's event hooks).
pub type EventSink = Arc<dyn Fn(EventKind, serde_json::Value) + Send + Sync>;

/// Where the log to archive ends.
pub enum LogEnd {
    /// A running node's durable position.
    Live(watch::Receiver<crate::wal::Position>),
    /// A stopped log's last valid record (`logship archive --data-dir`).
    Fixed(u64),
    /// Kept up to date by someone else (a running node's durable LSN, asked
    /// over its admin socket).
    Shared(Arc<std::sync::atomic::AtomicU64>),
}

impl LogEnd {
    fn durable_lsn(&self) -> u64 {
        match self {
            LogEnd::Live(rx) => rx.borrow().durable_lsn,
            LogEnd::Fixed(l) => *l,
            LogEnd::Shared(l) => l.load(std::sync::atomic::Ordering::Acquire),
        }
    }
}

/// What the archiver reads: one node's data directory.
pub struct ArchiveSource {
    pub fs: SharedFs,
    pub data_dir: PathBuf,
    pub system_id: u64,
    pub end: LogEnd,
}

impl ArchiveSource {
    pub(super) fn wal_dir(&self) -> PathBuf {
        self.data_dir.join(crate::node::datadir::WAL_DIR)
    }
    pub(super) fn snapshot_dir(&self) -> PathBuf {
        self.data_dir.join(crate::node::datadir::SNAPSHOT_DIR)
    }
}

/// The archiver of one data directory.
pub struct Archiver {
    pub(super) settings: ArchiveSettings,
    pub(super) store: ArchiveStore,
    pub(super) src: ArchiveSource,
    pub(super) progress: Arc<ArchiveProgress>,
    pub(super) events: Option<EventSink>,
    pub(super) reader: Arc<std::sync::Mutex<RawReader>>,
    pub(super) state: LocalState,
    /// When the last object (or heartbeat) was written.
    pub(super) last_put: Instant,
    /// A snapshot must be archived before WAL after a gap is any use.
    pub(super) snapshot_due: bool,
}

/// How a pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Everything durable when the pass began is archived.
    CaughtUp,
    /// Objects remain (the pass stopped at its batch limit).
    Behind,
}

impl Archiver {
    /// Prepares an archiver; nothing is sent until [`start`](Self::start).
    ///
    /// # Errors
    /// [`StoreError::Url`] for a bad URL.
    pub fn new(
        settings: ArchiveSettings,
        src: ArchiveSource,
        progress: Arc<ArchiveProgress>,
        events: Option<EventSink>,
    ) -> Result<Archiver, ArchiveError> {
        let store = ArchiveStore::open(&settings.url)?;
        let reader = Arc::new(std::sync::Mutex::new(RawReader::new(
            src.fs.clone(),
            src.wal_dir(),
        )));
        let state = LocalState {
            url: settings.url.clone(),
            system_id: src.system_id,
            archived_lsn: 0,
            snapshot_unix_ms: 0,
            snapshot_lsn: None,
        };
        Ok(Archiver {
            settings,
            store,
            src,
            progress,
            events,
            reader,
            state,
            last_put: Instant::now(),
            snapshot_due: false,
        })
    }

    /// Probes the store, archives the timeline histories, and finds where
    /// the archive ends: the local state file, or one listing of this
    /// system's WAL. An archive without this system gets the newest snapshot
    /// first, so a restore has a base.
    ///
    /// # Errors
    /// Store and I/O errors; [`ArchiveError::AheadOfLog`] when the archive
    /// holds WAL this node does not have.
    pub async fn start(&mut self) -> Result<(), ArchiveError> {
        let sys = self.src.system_id;
        let honoured = self.store.honours_create_only(sys).await?;
        self.progress
            .update(|s| s.create_only_honoured = Some(honoured));
        if !honoured {
            tracing::warn!(url = %self.store.url(), "the archive's store accepts create-only writes but overwrites anyway (as `rclone serve s3` does): each object is looked for before it is written (one more request per object), and names carry the system id and timeline, so two nodes share a name only if both write one timeline, which promotion's fencing prevents");
        }
        self.archive_histories().await?;
        let local_end = self.src.end.durable_lsn();
        let fs = self.src.fs.clone();
        let dir = self.src.data_dir.clone();
        let known = tokio::task::spawn_blocking(move || LocalState::read(&*fs, &dir))
            .await
            .expect("state read does not panic")
            .filter(|s| s.url == self.settings.url && s.system_id == sys);
        let archived = match known {
            Some(s) => {
                self.state = s;
                self.state.archived_lsn
            }
            None => self.discover_end(local_end).await?,
        };
        if archived > local_end {
            return Err(ArchiveError::AheadOfLog {
                url: self.settings.url.clone(),
                archived_lsn: archived,
                log_end_lsn: local_end,
            });
        }
        self.state.archived_lsn = archived;
        self.progress.update(|s| s.archived_lsn = archived);
        Ok(())
    }

    /// The end of this system's WAL in the archive, from one listing; for
    /// an archive without any, the LSN of the snapshot archived as its base
    /// (or the oldest local WAL, when there is no snapshot yet).
    async fn discover_end(&mut self, local_end: u64) -> Result<u64, ArchiveError> {
        let sys = self.src.system_id;
        let wal = self
            .store
            .list(&format!("{}/wal", super::layout::system_folder(sys)), None)
            .await?;
        let local_timelines = self.local_timelines().await?;
        let end = wal
            .iter()
            .filter_map(|l| match l.name {
                Name::Wal {
                    timeline, end_lsn, ..
                } if local_timelines.contains(&timeline) => Some(end_lsn),
                _ => None,
            })
            .filter(|e| *e <= local_end)
            .max();
        if let Some(end) = end {
            return Ok(end);
        }
        match self.archive_newest_snapshot().await? {
            // From the start of the segment holding it: a restored log
            // starts at a segment's start, as a seeded standby's does.
            Some(lsn) => {
                let segs = self.local_segments().await?;
                Ok(segs
                    .iter()
                    .rev()
                    .find(|s| s.first_lsn <= lsn)
                    .map_or(lsn, |s| s.first_lsn))
            }
            None => Ok(self
                .local_segments()
                .await?
                .first()
                .map_or(0, |s| s.first_lsn)),
        }
    }

    /// The WAL segments on disk, listed off the runtime's workers.
    pub(super) async fn local_segments(
        &self,
    ) -> Result<Vec<crate::wal::scan::SegmentFile>, ArchiveError> {
        let fs = self.src.fs.clone();
        let dir = self.src.wal_dir();
        Ok(
            tokio::task::spawn_blocking(move || crate::wal::scan::list_segments(&*fs, &dir))
                .await
                .expect("listing does not panic")?,
        )
    }

    async fn local_timelines(&self) -> Result<Vec<u32>, ArchiveError> {
        let segs = self.local_segments().await?;
        let mut tls: Vec<u32> = segs.iter().map(|s| s.timeline).collect();
        tls.dedup();
        Ok(tls)
    }

    /// Encodes and writes one object, counting it.
    pub(super) async fn put(
        &self,
        name: Name,
        header: ObjectHeader,
        content: Bytes,
        compress: bool,
    ) -> Result<(), ArchiveError> {
        let key = self.settings.key.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            Bytes::from(object::encode(header, &content, compress, key.as_ref()))
        })
        .await
        .expect("encoding does not panic");
        let len = bytes.len() as u64;
        let rel = ArchiveStore::object_path(self.src.system_id, &name);
        self.store.put_new(&rel, bytes).await?;
        self.progress.update(|s| {
            s.objects_written += 1;
            s.bytes_written += len;
            s.last_archive_unix_ms = crate::clock::now_unix_ms();
        });
        Ok(())
    }

    /// One pass: archives durable WAL up to `batch` objects, records gaps,
    /// archives a snapshot when due, writes a heartbeat when idle.
    ///
    /// # Errors
    /// The first store or log error; what was archived before it stays
    /// archived.
    pub async fn pass(&mut self, batch: usize) -> Result<Pass, ArchiveError> {
        let heartbeat_unix_ms = crate::clock::now_unix_ms();
        let end = self.src.end.durable_lsn();
        let mut from = self.state.archived_lsn;
        let mut chunks: Vec<RawChunk> = Vec::new();
        while from < end && chunks.len() < batch {
            let r = self.reader.clone();
            let max = self.settings.max_object_bytes;
            let cut = tokio::task::spawn_blocking(move || {
                r.lock().expect("reader").chunk(from, end, max)
            })
            .await
            .expect("reading does not panic");
            match cut {
                Ok(Some(c)) => {
                    from = c.end_lsn;
                    chunks.push(c);
                }
                Ok(None) => break,
                Err(WalError::Gap { .. }) if chunks.is_empty() => {
                    self.record_gap(from).await?;
                    return Ok(Pass::Behind);
                }
                Err(WalError::Gap { .. }) => break,
                Err(e) => return Err(e.into()),
            }
        }
        let uploads = chunks.iter().map(|c| {
            let mut h = ObjectHeader::new(
                Kind::Wal,
                self.src.system_id,
                c.header.timeline,
                c.start_lsn,
                c.end_lsn,
            );
            h.records = c.records as u32;
            h.first_time_unix_ms = first_record_time(&c.bytes);
            h.last_time_unix_ms = c.last_timestamp_unix_ms;
            h.heartbeat_unix_ms = heartbeat_unix_ms;
            h.log_end_lsn = end;
            let name = Name::Wal {
                timeline: c.header.timeline,
                start_lsn: c.start_lsn,
                end_lsn: c.end_lsn,
            };
            self.put(name, h, segment_content(&c.header, &c.bytes), true)
        });
        let results = futures::future::join_all(uploads).await;
        // Only the run written without a hole counts.
        let mut archived = self.state.archived_lsn;
        let mut first_err = None;
        for (c, r) in chunks.iter().zip(results) {
            match r {
                Ok(()) if first_err.is_none() => archived = c.end_lsn,
                Ok(()) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if archived != self.state.archived_lsn {
            self.state.archived_lsn = archived;
            self.save_state().await?;
            self.last_put = Instant::now();
            self.progress.update(|s| s.archived_lsn = archived);
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        if self.snapshot_due || self.snapshot_stale() {
            self.archive_newest_snapshot().await?;
            self.save_state().await?;
        }
        if archived >= end && !chunks.is_empty() {
            return Ok(Pass::CaughtUp);
        }
        if archived >= end {
            self.heartbeat_if_idle(end).await?;
            return Ok(Pass::CaughtUp);
        }
        Ok(Pass::Behind)
    }

    fn snapshot_stale(&self) -> bool {
        let every = self.settings.snapshot_every.as_millis() as u64;
        every > 0
            && crate::clock::now_unix_ms().saturating_sub(self.state.snapshot_unix_ms) >= every
    }

    pub(super) async fn save_state(&self) -> Result<(), ArchiveError> {
        let fs = self.src.fs.clone();
        let dir = self.src.data_dir.clone();
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || state.write(&*fs, &dir))
            .await
            .expect("state write does not panic")?;
        Ok(())
    }

    /// Runs passes until `stop` turns true: every `every`, at once while
    /// behind, with a growing pause after a failure. Failures are kept in
    /// the status and logged (the first in a row, then every tenth).
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut failures = 0u32;
        let mut started = false;
        loop {
            let outcome = if started {
                self.pass(self.settings.parallel).await
            } else {
                self.start().await.map(|()| Pass::Behind)
            };
            let wait = match outcome {
                Ok(p) => {
                    started = true;
                    if failures > 0 {
                        tracing::info!(url = %self.store.url(), failures, "archiving works again");
                    }
                    failures = 0;
                    self.progress.update(|s| s.last_error = None);
                    match p {
                        Pass::Behind => Duration::ZERO,
                        Pass::CaughtUp => self.settings.every,
                    }
                }
                Err(e) => {
                    failures += 1;
                    let text = e.to_string();
                    if failures == 1 || failures % 10 == 0 {
                        tracing::error!(url = %self.store.url(), failures, "archiving failed: {text}; the WAL stays on this node and archiving resumes where it stopped");
                        if let Some(ev) = &self.events {
                            ev(
                                EventKind::ArchiveFailed,
                                serde_json::json!({ "url": self.store.url(), "error": text, "failures": failures }),
                            );
                        }
                    }
                    self.progress.update(|s| s.last_error = Some(text));
                    if matches!(
                        e,
                        ArchiveError::Store(StoreError::Conflict { .. })
                            | ArchiveError::AheadOfLog { .. }
                    ) {
                        // Another node writes here: retrying cannot help.
                        let _ = stop.wait_for(|s| *s).await;
                        return;
                    }
                    Duration::from_millis(250 << failures.min(7))
                        .min(self.settings.every.max(Duration::from_secs(1)))
                }
            };
            if *stop.borrow() {
                if started {
                    self.final_pass().await;
                }
                return;
            }
            if !wait.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

impl Archiver {
    /// At shutdown: archives what is durable, for at most
    /// [`FINAL_PASS_TIMEOUT`], so a clean stop leaves nothing behind.
    async fn final_pass(&mut self) {
        let deadline = Instant::now() + FINAL_PASS_TIMEOUT;
        while Instant::now() < deadline {
            match tokio::time::timeout_at(deadline.into(), self.pass(self.settings.parallel)).await
            {
                Ok(Ok(Pass::CaughtUp)) => return,
                Ok(Ok(Pass::Behind)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(url = %self.store.url(), "the last archive pass before shutdown failed: {e}; the WAL stays on this node and the next start archives it");
                    return;
                }
                Err(_) => break,
            }
        }
        tracing::warn!(url = %self.store.url(), archived_lsn = self.state.archived_lsn, "shutting down with WAL not archived yet; the next start archives it");
    }
}

/// How long the last pass at shutdown may take.
pub const FINAL_PASS_TIMEOUT: Duration = Duration::from_secs(10);

/// The time of the first record of a chunk's bytes (its header's bytes 16..24).
fn first_record_time(bytes: &[u8]) -> u64 {
    bytes
        .get(16..24)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// A WAL object's content: the segment header, then the records.
fn segment_content(header: &SegmentHeader, records: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(crate::wal::format::SEGMENT_HEADER_BYTES + records.len());
    v.extend_from_slice(&header.encode());
    v.extend_from_slice(records);
    Bytes::from(v)
}
