//! The WAL writer: many appenders, one dedicated thread, group commit.
//!
//! Appenders encode their record straight into a shared queue under a short lock
//! and learn its LSN at once (the LSN is the byte position, known at encode time).
//! The writer thread takes everything queued, writes it with one `pwrite` per
//! segment touched and, under [`SyncPolicy::Always`], one `fdatasync` for the whole
//! batch, then publishes the new written and durable LSNs. Appenders wait for the
//! position their record ends at (blocking, or `async` through a watch channel).
//!
//! A failed write or fsync is fatal: the writer publishes the failure, every
//! waiter returns an error at once, and nothing more is accepted. A full disk is
//! not: segments are allocated ahead of use, so a disk that fills up shows up
//! while the next segment is prepared, before any record is written into it.
//! A record that needs a new segment claims its prepared file before it is
//! queued (waiting, with the queue let go, while the file is being prepared);
//! when the disk is full it is refused ([`WalError::NoSpace`]), the log goes on
//! in the current segment, and writes resume once space is freed. No record is
//! ever queued for a segment whose file does not exist, however far the
//! preparer thread lags behind.

use super::error::{Result, WalError};
use super::format::{
    encode_record, record_footprint, RecordKind, SegmentHeader, SEAL_RECORD_BYTES,
    SEGMENT_HEADER_BYTES,
};
use super::group_commit::writer_loop;
pub use super::options::{
    SyncPolicy, WalOptions, DEFAULT_SEGMENT_BYTES, MAX_RECORD_BYTES_LIMIT, MAX_WRITE_BYTES,
};
pub use super::queue::Position;
use super::queue::{lock, open_chunk, Inner, Queue};
use super::segment::SegmentWriter;
use super::spare::{Claim, FirstFile, Preparer};
use super::tap::Taps;
use crate::clock::now_unix_ms;
use crate::fs::{FsFile, SharedFs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The record's LSN.
    pub lsn: u64,
    /// The LSN right after it: wait for this to be written or durable.
    pub end_lsn: u64,
}

/// A write-ahead log open for appending. Cheap to share behind an `Arc`.
pub struct Wal {
    inner: Arc<Inner>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Counters of the writer, for benchmarks and metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriterStats {
    pub fsyncs: u64,
    pub batches: u64,
}

/// Longest single wait of an appender for the next segment's file; it checks
/// the log's state (failed, closed) between waits.
const SPARE_WAIT: Duration = Duration::from_millis(100);

impl Wal {
    /// Starts the writer on an already recovered log whose next record goes to
    /// `next_lsn`. `open` is the segment to continue (its header and file), or
    /// `None` to start a new segment at `next_lsn`.
    pub(crate) fn start(
        fs: SharedFs,
        opts: WalOptions,
        next_lsn: u64,
        open: Option<(SegmentHeader, Box<dyn FsFile>)>,
    ) -> Result<Wal> {
        opts.validate()?;
        let max_record = opts.effective_max_record_bytes();
        let first = match open {
            Some(_) => FirstFile::Ahead,
            None => FirstFile::Needed,
        };
        let preparer = Preparer::start(
            fs.clone(),
            opts.dir.clone(),
            opts.segment_bytes,
            first,
            opts.first_segment_file.clone(),
        )?;
        let spare = preparer.state();
        let mut seg = SegmentWriter::new(fs, opts.clone(), preparer)?;
        let (first, capacity_end) = match open {
            Some((header, file)) => {
                let cap = header.end_capacity_lsn();
                seg.resume(header, file);
                (header.first_lsn, cap)
            }
            None => {
                let h = seg.create(next_lsn)?;
                (h.first_lsn, h.end_capacity_lsn())
            }
        };
        let (watch, _) = watch::channel(Position {
            written_lsn: next_lsn,
            durable_lsn: next_lsn,
            failed: false,
            closed: false,
        });
        let inner = Arc::new(Inner {
            max_record,
            queue: Mutex::new(Queue {
                chunks: Vec::new(),
                pending_bytes: 0,
                next_lsn,
                segment_first_lsn: first,
                segment_capacity_end: capacity_end,
                closed: false,
                failed: None,
                pending_records: 0,
                wake_at_records: usize::MAX,
                spare: Vec::new(),
            }),
            work_cv: Condvar::new(),
            space_cv: Condvar::new(),
            progress: Mutex::new(()),
            progress_cv: Condvar::new(),
            written: AtomicU64::new(next_lsn),
            durable: AtomicU64::new(next_lsn),
            failed: AtomicBool::new(false),
            failed_notify: tokio::sync::Notify::new(),
            finished: AtomicBool::new(false),
            watch,
            fsyncs: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            spare,
            taps: Arc::default(),
            opts,
        });
        let thread_inner = inner.clone();
        let thread = std::thread::Builder::new()
            .name("wal-writer".into())
            .spawn(move || writer_loop(thread_inner, seg))
            .map_err(|e| WalError::io("spawn writer thread", "wal-writer", e))?;
        Ok(Wal {
            inner,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The options the log runs with.
    pub fn options(&self) -> &WalOptions {
        &self.inner.opts
    }

    /// Appends one data record and returns where it landed. The record is not yet
    /// acknowledged: wait with [`wait_acked`](Self::wait_acked) or
    /// [`wait_acked_async`](Self::wait_acked_async).
    ///
    /// Blocks briefly when the queue is full (back-pressure).
    ///
    /// # Errors
    /// [`WalError::RecordTooLarge`] (checked before anything is copied),
    /// [`WalError::NoSpace`] when the record needs a new segment and the disk is
    /// full (the log goes on), [`WalError::Stopped`] after a fatal error,
    /// [`WalError::Closed`].
    pub fn append(&self, payload: &[u8]) -> Result<Appended> {
        self.append_kind(RecordKind::Data, payload)
    }

    /// Appends one record of any kind but seal.
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn append_kind(&self, kind: RecordKind, payload: &[u8]) -> Result<Appended> {
        assert!(kind != RecordKind::Seal, "seal records are the writer's");
        let inner = &*self.inner;
        if payload.len() > inner.max_record {
            return Err(WalError::RecordTooLarge {
                len: payload.len(),
                limit: inner.max_record,
            });
        }
        let footprint = record_footprint(payload.len());
        let timestamp = now_unix_ms();
        let mut q = lock(&inner.queue);
        loop {
            if let Some(e) = &q.failed {
                return Err(WalError::Stopped(e.clone()));
            }
            if q.closed {
                return Err(WalError::Closed);
            }
            if q.pending_bytes != 0
                && q.pending_bytes + footprint as usize > inner.opts.max_pending_bytes
            {
                q = inner.space_cv.wait(q).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            if q.next_lsn + footprint + SEAL_RECORD_BYTES <= q.segment_capacity_end {
                break;
            }
            // A new segment: its file must exist before records are queued
            // for it. While it is being prepared, the queue is let go (the
            // writer goes on with what is queued) and everything is checked
            // again once it is ready.
            match inner.spare.claim() {
                Claim::Granted => {
                    seal_and_switch(&mut q, inner, timestamp);
                    break;
                }
                Claim::NoSpace(e) => return Err(e),
                Claim::Pending => {
                    drop(q);
                    inner.spare.wait(SPARE_WAIT);
                    q = lock(&inner.queue);
                }
            }
        }
        let lsn = q.next_lsn;
        let chunk = open_chunk(&mut q, footprint as usize);
        let n = encode_record(
            &mut chunk.bytes,
            lsn,
            inner.opts.timeline,
            timestamp,
            kind,
            payload,
        );
        chunk.records += 1;
        debug_assert_eq!(n as u64, footprint);
        q.next_lsn += footprint;
        q.pending_bytes += n;
        q.pending_records += 1;
        let wake = q.pending_records >= q.wake_at_records;
        drop(q);
        if wake {
            inner.work_cv.notify_one();
        }
        Ok(Appended {
            lsn,
            end_lsn: lsn + footprint,
        })
    }

    /// Waits until everything below `end_lsn` is acknowledged under the sync
    /// policy (durable for `always`, written otherwise).
    ///
    /// # Errors
    /// [`WalError::Stopped`] if the writer failed before getting there.
    pub fn wait_acked(&self, end_lsn: u64) -> Result<()> {
        match self.inner.opts.sync {
            SyncPolicy::Always => self.wait_for(end_lsn, true),
            _ => self.wait_for(end_lsn, false),
        }
    }

    /// Waits until everything below `end_lsn` is durable (fsynced).
    ///
    /// # Errors
    /// [`WalError::Stopped`] if the writer failed before getting there.
    pub fn wait_durable(&self, end_lsn: u64) -> Result<()> {
        self.wait_for(end_lsn, true)
    }

    fn wait_for(&self, end_lsn: u64, durable: bool) -> Result<()> {
        let inner = &*self.inner;
        let reached = || {
            let at = if durable {
                &inner.durable
            } else {
                &inner.written
            };
            at.load(Ordering::Acquire) >= end_lsn
        };
        let mut g = lock(&inner.progress);
        loop {
            if reached() {
                return Ok(());
            }
            if inner.failed.load(Ordering::Acquire) || inner.finished.load(Ordering::Acquire) {
                return Err(self.stopped());
            }
            g = inner
                .progress_cv
                .wait_timeout(g, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Async form of [`wait_acked`](Self::wait_acked), for tokio tasks.
    ///
    /// # Errors
    /// [`WalError::Stopped`] if the writer failed before getting there.
    pub async fn wait_acked_async(&self, end_lsn: u64) -> Result<()> {
        let durable = self.inner.opts.sync == SyncPolicy::Always;
        let mut rx = self.inner.watch.subscribe();
        let res = rx
            .wait_for(|p| {
                p.failed
                    || p.closed
                    || if durable {
                        p.durable_lsn >= end_lsn
                    } else {
                        p.written_lsn >= end_lsn
                    }
            })
            .await;
        match res {
            Ok(p)
                if !p.failed
                    && (if durable {
                        p.durable_lsn
                    } else {
                        p.written_lsn
                    }) >= end_lsn =>
            {
                Ok(())
            }
            _ => Err(self.stopped()),
        }
    }

    fn stopped(&self) -> WalError {
        let q = lock(&self.inner.queue);
        match &q.failed {
            Some(e) => WalError::Stopped(e.clone()),
            None => WalError::Closed,
        }
    }

    /// Resolves once the writer has stopped on an I/O error (at once if it
    /// has). Unlike a position receiver, it is not woken by every batch.
    pub async fn failed(&self) {
        loop {
            // Created before the check: a failure in between still wakes it.
            let woken = self.inner.failed_notify.notified();
            if self.inner.failed.load(Ordering::Acquire) {
                return;
            }
            woken.await;
        }
    }

    /// The log's taps: register one to be told of records on the writer's
    /// thread as they become durable.
    pub fn taps(&self) -> Arc<Taps> {
        self.inner.taps.clone()
    }

    /// A receiver of position updates (written, durable, failed).
    pub fn subscribe(&self) -> watch::Receiver<Position> {
        self.inner.watch.subscribe()
    }

    /// The current position. Once [`wait_acked`](Self::wait_acked) or
    /// [`wait_durable`](Self::wait_durable) for `end` returned, it is at least `end`.
    pub fn position(&self) -> Position {
        let inner = &*self.inner;
        // Durable first: written only grows, so the pair keeps durable <= written.
        let durable_lsn = inner.durable.load(Ordering::Acquire);
        let written_lsn = inner.written.load(Ordering::Acquire);
        Position {
            written_lsn,
            durable_lsn,
            failed: inner.failed.load(Ordering::Acquire),
            closed: inner.finished.load(Ordering::Acquire),
        }
    }

    /// LSN the next appended record will get.
    pub fn next_lsn(&self) -> u64 {
        lock(&self.inner.queue).next_lsn
    }

    /// Writer counters.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            fsyncs: self.inner.fsyncs.load(Ordering::Relaxed),
            batches: self.inner.batches.load(Ordering::Relaxed),
        }
    }

    /// Writes and syncs everything queued, stops the writer and returns the final
    /// position.
    ///
    /// # Errors
    /// [`WalError::Stopped`] if the writer had failed.
    pub fn close(&self) -> Result<Position> {
        {
            let mut q = lock(&self.inner.queue);
            q.closed = true;
        }
        self.inner.spare.close();
        self.inner.work_cv.notify_one();
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
        let p = self.position();
        if p.failed {
            return Err(self.stopped());
        }
        Ok(p)
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Ends the current segment with a seal record and moves appends to the next one.
fn seal_and_switch(q: &mut Queue, inner: &Inner, timestamp: u64) {
    let lsn = q.next_lsn;
    let chunk = open_chunk(q, SEAL_RECORD_BYTES as usize);
    encode_record(
        &mut chunk.bytes,
        lsn,
        inner.opts.timeline,
        timestamp,
        RecordKind::Seal,
        &[],
    );
    chunk.seals = true;
    q.next_lsn += SEAL_RECORD_BYTES;
    q.pending_bytes += SEAL_RECORD_BYTES as usize;
    q.segment_first_lsn = q.next_lsn;
    q.segment_capacity_end = q.next_lsn + inner.opts.segment_bytes - SEGMENT_HEADER_BYTES as u64;
}
