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
use super::fs::{SharedFs, WalFile};
pub use super::options::{
    SyncPolicy, WalOptions, DEFAULT_SEGMENT_BYTES, MAX_RECORD_BYTES_LIMIT, MAX_WRITE_BYTES,
};
use super::segment::{Claim, FirstFile, Preparer, SegmentWriter, SpareState};
use super::tap::{DurableRun, Taps};
use crate::clock::now_unix_ms;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Where the log stands. Invariant: `durable_lsn <= written_lsn <= next LSN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Everything below this LSN has been handed to the OS (`write`).
    pub written_lsn: u64,
    /// Everything below this LSN has been `fdatasync`ed.
    pub durable_lsn: u64,
    /// Set once the writer stopped on a fatal error.
    pub failed: bool,
    /// Set once the log is closed: nothing below `written_lsn` is pending and
    /// nothing more will be written.
    pub closed: bool,
}

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The record's LSN.
    pub lsn: u64,
    /// The LSN right after it: wait for this to be written or durable.
    pub end_lsn: u64,
}

struct Chunk {
    /// Records in the chunk.
    records: usize,
    /// First LSN of the segment this chunk belongs to.
    segment_first_lsn: u64,
    /// LSN of the chunk's first byte.
    start_lsn: u64,
    bytes: Vec<u8>,
    /// The chunk ends with the segment's seal record.
    seals: bool,
}

struct Queue {
    chunks: Vec<Chunk>,
    pending_bytes: usize,
    next_lsn: u64,
    segment_first_lsn: u64,
    segment_capacity_end: u64,
    closed: bool,
    failed: Option<String>,
    /// Records queued (not yet taken by the writer).
    pending_records: usize,
    /// Appenders wake the writer once `pending_records` reaches this
    /// (`usize::MAX` while the writer is busy).
    wake_at_records: usize,
    spare: Vec<Vec<u8>>,
}

struct Inner {
    opts: WalOptions,
    max_record: usize,
    queue: Mutex<Queue>,
    /// The writer waits here for work.
    work_cv: Condvar,
    /// Appenders wait here for queue space.
    space_cv: Condvar,
    progress: Mutex<()>,
    progress_cv: Condvar,
    written: AtomicU64,
    durable: AtomicU64,
    failed: AtomicBool,
    /// Woken once, when `failed` is set.
    failed_notify: tokio::sync::Notify,
    /// Set when the writer thread has finished after a close.
    finished: AtomicBool,
    watch: watch::Sender<Position>,
    fsyncs: AtomicU64,
    batches: AtomicU64,
    /// Whether the next segment can be prepared (a full disk refuses writes
    /// that need it, without stopping the log).
    spare: Arc<SpareState>,
    /// Told of durable records on this thread ([`super::tap`]).
    taps: Arc<Taps>,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Wal {
    /// Starts the writer on an already recovered log whose next record goes to
    /// `next_lsn`. `open` is the segment to continue (its header and file), or
    /// `None` to start a new segment at `next_lsn`.
    pub(crate) fn start(
        fs: SharedFs,
        opts: WalOptions,
        next_lsn: u64,
        open: Option<(SegmentHeader, Box<dyn WalFile>)>,
    ) -> Result<Wal> {
        opts.validate()?;
        let max_record = opts.effective_max_record_bytes();
        let first = match open {
            Some(_) => FirstFile::Ahead,
            None => FirstFile::Needed,
        };
        let preparer = Preparer::start(fs.clone(), opts.dir.clone(), opts.segment_bytes, first)?;
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

/// The chunk appenders write into, starting a new one when needed.
fn open_chunk(q: &mut Queue, footprint: usize) -> &mut Chunk {
    let seg = q.segment_first_lsn;
    let reuse = matches!(q.chunks.last(), Some(c) if c.segment_first_lsn == seg
        && !c.seals
        && (c.bytes.is_empty() || c.bytes.len() + footprint <= MAX_WRITE_BYTES));
    if !reuse {
        let mut bytes = q.spare.pop().unwrap_or_default();
        bytes.clear();
        let start_lsn = q.next_lsn;
        q.chunks.push(Chunk {
            segment_first_lsn: seg,
            start_lsn,
            bytes,
            seals: false,
            records: 0,
        });
    }
    q.chunks.last_mut().expect("a chunk was just ensured")
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

fn writer_loop(inner: Arc<Inner>, mut seg: SegmentWriter) {
    let interval = match inner.opts.sync {
        SyncPolicy::Interval { every_ms } => Some(Duration::from_millis(every_ms)),
        _ => None,
    };
    let mut last_sync = Instant::now();
    let mut batch: Vec<Chunk> = Vec::new();
    let mut delay = CommitDelay::default();
    loop {
        let closing;
        let more_queued;
        {
            let mut q = lock(&inner.queue);
            q = wait_for_work(&inner, q, interval, last_sync, &delay);
            closing = q.closed;
            let (mut bytes, mut records, mut n) = (0, 0, 0);
            for c in &q.chunks {
                if bytes >= MAX_WRITE_BYTES {
                    break;
                }
                bytes += c.bytes.len();
                records += c.records;
                n += 1;
            }
            batch.extend(q.chunks.drain(..n));
            q.pending_bytes -= bytes;
            q.pending_records -= records;
            more_queued = !q.chunks.is_empty();
            delay.last_batch_records = records;
        }
        inner.space_cv.notify_all();
        let started = Instant::now();
        let result = write_batch(&inner, &mut seg, &mut batch, interval, &mut last_sync);
        delay.observe(started.elapsed());
        recycle(&inner, &mut batch);
        if let Err(e) = result {
            fail(&inner, e);
            return;
        }
        if closing && !more_queued {
            match seg.sync() {
                Ok(()) => {
                    publish(&inner, None, true);
                    inner
                        .taps
                        .durable(inner.durable.load(Ordering::Acquire), &[]);
                }
                Err(e) => fail(&inner, e),
            }
            // Waiters for LSNs that will never be written learn it now.
            inner.finished.store(true, Ordering::Release);
            inner.taps.stopped();
            inner.watch.send_modify(|p| p.closed = true);
            let _g = lock(&inner.progress);
            inner.progress_cv.notify_all();
            return;
        }
    }
}

/// Group commit's patience: under `always`, when fewer records are queued than the
/// last batch held, the writer waits up to half a batch time for the rest (their
/// appenders are on their way back), so each fdatasync carries a full batch.
#[derive(Default)]
struct CommitDelay {
    last_batch_records: usize,
    /// Moving average of a batch's write+sync time.
    batch_time: Duration,
}

impl CommitDelay {
    const MAX: Duration = Duration::from_millis(1);

    fn observe(&mut self, took: Duration) {
        self.batch_time = (self.batch_time * 7 + took) / 8;
    }

    fn limit(&self) -> Duration {
        (self.batch_time / 2).min(Self::MAX)
    }
}

/// Sleeps until there is something to write (or to sync, or the log closes).
fn wait_for_work<'a>(
    inner: &Inner,
    mut q: MutexGuard<'a, Queue>,
    interval: Option<Duration>,
    last_sync: Instant,
    delay: &CommitDelay,
) -> MutexGuard<'a, Queue> {
    let mut deadline: Option<Instant> = None;
    loop {
        if q.closed {
            return q;
        }
        if !q.chunks.is_empty() {
            let want = delay.last_batch_records;
            if inner.opts.sync != SyncPolicy::Always || q.pending_records >= want {
                return q;
            }
            let dl = *deadline.get_or_insert_with(|| Instant::now() + delay.limit());
            let now = Instant::now();
            if now >= dl {
                return q;
            }
            q.wake_at_records = want;
            q = inner
                .work_cv
                .wait_timeout(q, dl - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            q.wake_at_records = usize::MAX;
            continue;
        }
        let sync_due = interval.is_some_and(|iv| {
            last_sync.elapsed() >= iv
                && inner.durable.load(Ordering::Acquire) < inner.written.load(Ordering::Acquire)
        });
        if sync_due {
            return q;
        }
        q.wake_at_records = 1;
        let wait = interval.unwrap_or(Duration::from_secs(1));
        q = inner
            .work_cv
            .wait_timeout(q, wait)
            .unwrap_or_else(|p| p.into_inner())
            .0;
        q.wake_at_records = usize::MAX;
    }
}

/// Writes one batch, syncing as the policy asks, and publishes the new position.
fn write_batch(
    inner: &Inner,
    seg: &mut SegmentWriter,
    batch: &mut [Chunk],
    interval: Option<Duration>,
    last_sync: &mut Instant,
) -> Result<()> {
    let mut end = None;
    // The header each chunk was written under, for the taps.
    let mut headers = Vec::new();
    let tapping = inner.taps.any();
    for chunk in batch.iter() {
        if chunk.segment_first_lsn != seg.first_lsn() {
            seg.create(chunk.segment_first_lsn)?;
        }
        seg.write(chunk.start_lsn, &chunk.bytes)?;
        end = Some(chunk.start_lsn + chunk.bytes.len() as u64);
        if tapping {
            headers.extend(seg.header().copied());
        }
    }
    if end.is_some() {
        inner.batches.fetch_add(1, Ordering::Relaxed);
    }
    let sync_now = match inner.opts.sync {
        SyncPolicy::Always => end.is_some(),
        SyncPolicy::Interval { .. } => {
            interval.is_some_and(|iv| last_sync.elapsed() >= iv)
                && (end.is_some()
                    || inner.durable.load(Ordering::Acquire)
                        < inner.written.load(Ordering::Acquire))
        }
        SyncPolicy::Never => false,
    };
    if sync_now {
        if inner.opts.sync == SyncPolicy::Always {
            // Nobody waits for a written LSN under `always` (clients and
            // shippers wait for durable ones): wake them once, after the sync.
            note_written(inner, end);
        } else {
            publish(inner, end, false);
        }
        seg.sync()?;
        inner.fsyncs.fetch_add(1, Ordering::Relaxed);
        *last_sync = Instant::now();
        let was_durable = inner.durable.load(Ordering::Acquire);
        publish(inner, None, true);
        tap(inner, was_durable, batch, &headers);
    } else if end.is_some() {
        publish(inner, end, false);
    }
    Ok(())
}

/// Tells the taps that the log is durable up to the written LSN, with the
/// batch's records when they are exactly what became durable (the fsync
/// followed the durable LSN `was_durable`, and every chunk's header is known).
fn tap(inner: &Inner, was_durable: u64, batch: &[Chunk], headers: &[SegmentHeader]) {
    if !inner.taps.any() {
        return;
    }
    let durable = inner.durable.load(Ordering::Acquire);
    let whole = headers.len() == batch.len()
        && batch.first().is_some_and(|c| c.start_lsn == was_durable)
        && batch
            .last()
            .is_some_and(|c| c.start_lsn + c.bytes.len() as u64 == durable);
    if !whole {
        inner.taps.durable(durable, &[]);
        return;
    }
    let runs: Vec<DurableRun<'_>> = batch
        .iter()
        .zip(headers)
        .map(|(c, header)| DurableRun {
            header,
            start_lsn: c.start_lsn,
            bytes: &c.bytes,
        })
        .collect();
    inner.taps.durable(durable, &runs);
}

/// Records a new written LSN in the position without waking its watchers.
fn note_written(inner: &Inner, written: Option<u64>) {
    if let Some(w) = written {
        inner.written.store(w, Ordering::Release);
        inner.watch.send_if_modified(|p| {
            p.written_lsn = w;
            false
        });
    }
}

/// Publishes a new written LSN and, with `durable`, marks everything written durable.
fn publish(inner: &Inner, written: Option<u64>, durable: bool) {
    if let Some(w) = written {
        inner.written.store(w, Ordering::Release);
    }
    if durable {
        let w = inner.written.load(Ordering::Acquire);
        inner.durable.store(w, Ordering::Release);
    }
    let pos = Position {
        written_lsn: inner.written.load(Ordering::Acquire),
        durable_lsn: inner.durable.load(Ordering::Acquire),
        failed: false,
        closed: false,
    };
    inner.watch.send_replace(pos);
    let _g = lock(&inner.progress);
    inner.progress_cv.notify_all();
}

fn recycle(inner: &Inner, batch: &mut Vec<Chunk>) {
    let mut q = lock(&inner.queue);
    for c in batch.drain(..) {
        if q.spare.len() < 8 && c.bytes.capacity() <= 2 * MAX_WRITE_BYTES {
            q.spare.push(c.bytes);
        }
    }
}

/// Stops the log for good after a failed write or fsync and wakes every waiter.
fn fail(inner: &Inner, e: WalError) {
    let msg = e.to_string();
    tracing::error!(error = %msg, "WAL writer stopped: fatal I/O error");
    {
        let mut q = lock(&inner.queue);
        q.failed = Some(msg);
        q.chunks.clear();
    }
    inner.failed.store(true, Ordering::Release);
    inner.failed_notify.notify_waiters();
    inner.watch.send_modify(|p| p.failed = true);
    inner.taps.stopped();
    inner.space_cv.notify_all();
    let _g = lock(&inner.progress);
    inner.progress_cv.notify_all();
}
