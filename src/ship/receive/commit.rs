//! The standby's group commit of received chunks.
//!
//! Chunks arrive pipelined (the primary keeps sending up to its window while
//! earlier chunks await their acknowledgement). Writing one chunk, fsyncing it
//! and acknowledging it before looking at the next would make every chunk
//! queue behind the fsyncs of all those before it. Instead two jobs run side by
//! side on blocking threads:
//!
//! - the **writer** checks each chunk record by record ([`Mirror::append`])
//!   and writes it as soon as it arrives (everything that arrived while it was
//!   busy goes in its next run);
//! - the **syncer** fsyncs the segment up to what was written when it started,
//!   through a file handle of its own, while the writer goes on; when it ends,
//!   one acknowledgement covers everything it made durable, and it starts again
//!   if more was written meanwhile.
//!
//! As soon as a chunk is written its end becomes the `written_lsn` of
//! [`Received`], which replay follows: the standby's reads never wait for its
//! own fsync, and everything it serves is verified here and durable on the
//! primary (only durable log is shipped). A small chunk written on the
//! connection's task is first offered to replay right there
//! ([`InlineApply`](super::intake::InlineApply)), which applies it at once when it is
//! caught up, and only then becomes the `written_lsn` (so the replay thread,
//! which follows it, finds it applied rather than reading it back from the
//! log at the same moment). The acknowledgements, and
//! `received_lsn`, only ever cover fsynced bytes.
//!
//! A refused chunk stops the writing; the refusal is sent once everything
//! written before it is durable. When a connection ends, whatever it wrote is
//! made durable before the next one may start, so that one resumes exactly at
//! the acknowledged LSN.
//!
//! [`Mirror::append`]: crate::wal::Mirror::append

use super::intake::{Fatal, Received, ReceiverShared};
use crate::clock::now_unix_ms;
use crate::fs::FsFile;
use crate::wal::format::SegmentHeader;
use crate::wal::{ChunkError, Record};
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Raw bytes of received chunks held while a batch is being written; reading
/// from the link pauses beyond it (the primary's window bounds it too).
pub const PENDING_LIMIT_BYTES: usize = 8 << 20;
/// Queued chunks of at most this many bytes are written on the connection's
/// task itself.
pub const INLINE_WRITE_BYTES: usize = 64 << 10;

/// A checked, decompressed chunk waiting to be written.
pub(super) struct PendingChunk {
    pub header: SegmentHeader,
    pub start_lsn: u64,
    pub bytes: Bytes,
    pub primary_durable_lsn: u64,
}

/// A step of the group commit the connection must answer.
pub(super) struct Outcome {
    /// The durable received LSN: acknowledge it.
    pub durable_lsn: u64,
    /// A chunk was refused (everything before it is durable): refuse the link.
    pub refused: Option<ChunkError>,
}

/// What a run of the writer did.
struct Written {
    /// Chunks written (all of them, or those before the refused one).
    count: usize,
    refused: Option<ChunkError>,
}

/// A handle on a segment file kept for fsyncing it.
type SyncFile = Option<(PathBuf, Box<dyn FsFile>)>;

/// Chunks written as they come and fsynced in groups, in LSN order.
pub(super) struct GroupCommit {
    shared: Arc<ReceiverShared>,
    pending: Vec<PendingChunk>,
    pending_bytes: usize,
    writer: Option<JoinHandle<Result<Written, Fatal>>>,
    syncer: Option<JoinHandle<Result<(bool, SyncFile), Fatal>>>,
    sync_file: SyncFile,
    /// Set when the writer ran since the syncer last started: more may need
    /// fsyncing.
    unsynced: bool,
    refused: Option<ChunkError>,
}

impl GroupCommit {
    pub fn new(shared: Arc<ReceiverShared>) -> GroupCommit {
        GroupCommit {
            shared,
            pending: Vec::new(),
            pending_bytes: 0,
            writer: None,
            syncer: None,
            sync_file: None,
            unsynced: false,
            refused: None,
        }
    }

    /// Queues a chunk for the writer.
    pub fn push(&mut self, c: PendingChunk) {
        if self.refused.is_none() {
            self.pending_bytes += c.bytes.len();
            self.pending.push(c);
        }
    }

    /// True while more chunks may be read from the link.
    pub fn has_room(&self) -> bool {
        self.pending_bytes < PENDING_LIMIT_BYTES
    }

    /// True while the writer or the syncer runs.
    pub fn busy(&self) -> bool {
        self.writer.is_some() || self.syncer.is_some()
    }

    /// Starts the writer on the queued chunks and the syncer on what was
    /// written, each when it is idle and has work. A few kilobytes (continuous
    /// shipping) are written right here when the mirror is free: a write to
    /// the page cache takes microseconds, a hand-over to a blocking thread
    /// and back may take longer on a busy machine.
    ///
    /// # Errors
    /// [`Fatal`] when writing failed.
    pub fn start(&mut self) -> Result<(), Fatal> {
        if self.writer.is_none() && self.refused.is_none() && !self.pending.is_empty() {
            let chunks = std::mem::take(&mut self.pending);
            let bytes = std::mem::take(&mut self.pending_bytes);
            let shared = self.shared.clone();
            let inline = if bytes <= INLINE_WRITE_BYTES {
                shared.mirror.try_lock().ok()
            } else {
                None
            };
            match inline {
                Some(mut m) => {
                    // The written LSN moves only once the chunks were offered
                    // to replay: the replay thread, woken by it, then finds
                    // them applied instead of racing to read them back.
                    // The records the mirror checked go to replay as they
                    // are: the chunk is walked once.
                    let apply = shared.inline_apply();
                    let mut records = Vec::new();
                    let publish = match apply {
                        Some(_) => Publish::ByCaller(Some(&mut records)),
                        None => Publish::ByCaller(None),
                    };
                    let w = write_locked(&mut m, &shared, &chunks, publish);
                    let written = (m.end_lsn(), m.last_timestamp_unix_ms());
                    drop(m);
                    let w = w?;
                    if let (Some(apply), Some(first)) = (apply, chunks.first()) {
                        if w.count > 0 {
                            apply.offer(first.start_lsn, &records);
                        }
                    }
                    if let Some(last) = w.count.checked_sub(1).map(|i| &chunks[i]) {
                        publish_written(&shared, last, written);
                    }
                    self.wrote(w);
                }
                None => {
                    let shared = shared.clone();
                    self.writer = Some(tokio::task::spawn_blocking(move || {
                        write_locked(&mut lock(&shared), &shared, &chunks, Publish::EachChunk)
                    }));
                }
            }
        }
        if self.syncer.is_none() && self.unsynced {
            self.unsynced = false;
            let shared = self.shared.clone();
            let file = self.sync_file.take();
            self.syncer = Some(tokio::task::spawn_blocking(move || {
                sync_written(&shared, file)
            }));
        }
        Ok(())
    }

    /// Takes note of a run of the writer.
    fn wrote(&mut self, w: Written) {
        self.unsynced = true;
        if let Some(e) = w.refused {
            self.refused = Some(e);
            self.pending.clear();
            self.pending_bytes = 0;
        }
    }

    /// Waits for the writer or the syncer to finish a run (never returns while
    /// neither runs: use it in a `select!` branch guarded by
    /// [`busy`](Self::busy)), starts what has work next, and returns what the
    /// connection must answer, if anything. Cancel-safe.
    pub async fn finished(&mut self) -> Result<Option<Outcome>, Fatal> {
        async fn join<T>(j: &mut Option<JoinHandle<Result<T, Fatal>>>) -> Result<T, Fatal> {
            match j.as_mut() {
                Some(h) => h.await.map_err(|source| Fatal::Task {
                    what: "receive",
                    source,
                })?,
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            w = join(&mut self.writer) => {
                self.writer = None;
                self.wrote(w?);
            }
            s = join(&mut self.syncer) => {
                self.syncer = None;
                let (synced, file) = s?;
                self.sync_file = file;
                self.start()?;
                if synced && self.refused.is_none() {
                    return Ok(Some(Outcome { durable_lsn: self.durable_lsn(), refused: None }));
                }
            }
        }
        self.start()?;
        if self.refused.is_some() && !self.busy() {
            return Ok(Some(Outcome {
                durable_lsn: self.durable_lsn(),
                refused: self.refused.take(),
            }));
        }
        Ok(None)
    }

    fn durable_lsn(&self) -> u64 {
        self.shared.received.borrow().received_lsn
    }

    /// Writes everything queued and waits until it is durable; returns the
    /// last step to answer (`None` when there was nothing to do).
    pub async fn settle(&mut self) -> Result<Option<Outcome>, Fatal> {
        let mut last = None;
        loop {
            self.start()?;
            if !self.busy() {
                return Ok(last);
            }
            if let Some(o) = self.finished().await? {
                if o.refused.is_some() {
                    return Ok(Some(o));
                }
                last = Some(o);
            }
        }
    }

    /// Drops what is queued and waits until what was written is durable: the
    /// connection is ending, and the next one resumes from the durable LSN.
    pub async fn abandon(&mut self) {
        self.pending.clear();
        self.pending_bytes = 0;
        if let Err(e) = self.settle().await {
            tracing::error!(error = %e, "writing the received log failed");
        }
    }
}

fn lock(shared: &ReceiverShared) -> std::sync::MutexGuard<'_, crate::wal::Mirror> {
    shared.mirror.lock().unwrap_or_else(|p| p.into_inner())
}

/// Who publishes the `written_lsn` of chunks [`write_locked`] wrote.
#[derive(Debug)]
enum Publish<'a> {
    /// The writer, as each chunk is written (a batch on a blocking thread:
    /// replay follows it chunk by chunk).
    EachChunk,
    /// The caller, once, after it offered the chunks' records (collected
    /// here, when asked for) to inline apply ([`publish_written`] with the
    /// last one).
    ByCaller(Option<&'a mut Vec<Record>>),
}

/// Writes `chunks` in order into the locked mirror `m`, stopping at the first
/// refused one; publishes each written end as `written_lsn` when `publish`
/// says so.
fn write_locked(
    m: &mut crate::wal::Mirror,
    shared: &ReceiverShared,
    chunks: &[PendingChunk],
    mut publish: Publish<'_>,
) -> Result<Written, Fatal> {
    for (count, c) in chunks.iter().enumerate() {
        let appended = match &mut publish {
            Publish::ByCaller(Some(records)) => {
                m.append_records(&c.header, c.start_lsn, &c.bytes, records)
            }
            _ => m.append(&c.header, c.start_lsn, &c.bytes),
        };
        match appended {
            Ok(_) => {
                if matches!(publish, Publish::EachChunk) {
                    publish_written(shared, c, (m.end_lsn(), m.last_timestamp_unix_ms()));
                }
            }
            Err(ChunkError::Wal(e)) => return Err(Fatal::WriteLog(e)),
            Err(e) => {
                return Ok(Written {
                    count,
                    refused: Some(e),
                })
            }
        }
    }
    Ok(Written {
        count: chunks.len(),
        refused: None,
    })
}

/// Publishes that the log is written up to `end` (`written.0`, the last
/// record's timestamp `written.1`), `c` being the last chunk written.
fn publish_written(shared: &ReceiverShared, c: &PendingChunk, written: (u64, u64)) {
    let (end, ts) = written;
    let applied = *shared.applied.borrow();
    shared.received.send_if_modified(|r: &mut Received| {
        r.written_lsn = end;
        r.primary_durable_lsn = r.primary_durable_lsn.max(c.primary_durable_lsn);
        r.last_receive_unix_ms = now_unix_ms();
        r.last_record_unix_ms = ts;
        r.system_id = c.header.system_id;
        r.timeline = c.header.timeline;
        needs_replay(r, applied)
    });
}

/// Whether an update of [`Received`] wakes its watcher, the replay thread:
/// only when there is something for it to apply. A chunk applied on arrival
/// ([`InlineApply`](super::intake::InlineApply)) leaves it asleep; everyone else reads
/// the values as they need them. `applied` may be stale, never ahead: a stale
/// one only wakes the thread for nothing.
fn needs_replay(r: &Received, applied: u64) -> bool {
    r.replayable_lsn() > applied
}

/// Fsyncs what is written but not durable (through `file` when it is the
/// segment's) and publishes the durable LSN as `received_lsn`. Returns whether
/// the durable LSN moved, and the handle to reuse.
fn sync_written(shared: &ReceiverShared, file: SyncFile) -> Result<(bool, SyncFile), Fatal> {
    let fatal = |op, path: &std::path::Path| {
        let path = path.to_path_buf();
        move |e| Fatal::WriteLog(crate::wal::WalError::io(op, path, e))
    };
    let (point, fs, durable) = {
        let m = lock(shared);
        (m.sync_point(), m.fs().clone(), m.durable_lsn())
    };
    let Some((path, end)) = point else {
        // Nothing to fsync (a checkpoint may have fsynced the mirror itself):
        // what is durable may still need acknowledging.
        return Ok((publish_durable(shared, durable), file));
    };
    let mut file = match file {
        Some((p, f)) if p == path => (p, f),
        _ => {
            let f = fs.open_write(&path).map_err(fatal("open", &path))?;
            (path, f)
        }
    };
    file.1.sync_data().map_err(fatal("fdatasync", &file.0))?;
    let durable = {
        let mut m = lock(shared);
        m.mark_durable(end);
        m.durable_lsn()
    };
    publish_durable(shared, durable);
    Ok((true, Some(file)))
}

/// Publishes `durable` as `received_lsn`; true when that moved it.
fn publish_durable(shared: &ReceiverShared, durable: u64) -> bool {
    let applied = *shared.applied.borrow();
    let mut moved = false;
    shared.received.send_if_modified(|r| {
        if durable <= r.received_lsn {
            return false;
        }
        moved = true;
        r.received_lsn = durable;
        r.written_lsn = r.written_lsn.max(durable);
        needs_replay(r, applied)
    });
    if moved {
        shared.durable.send_replace(durable);
    }
    moved
}
