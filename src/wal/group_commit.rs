//! The writer thread: takes everything queued, writes it with one `pwrite` per
//! segment touched and, under [`SyncPolicy::Always`], one `fdatasync` for the
//! whole batch, tells the taps, then publishes the new written and durable
//! LSNs. A failed write or fsync is fatal: the failure is published and every
//! waiter wakes.

use super::error::{Result, WalError};
use super::format::SegmentHeader;
use super::options::{SyncPolicy, MAX_WRITE_BYTES};
use super::queue::*;
use super::segment::SegmentWriter;
use super::tap::DurableRun;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

pub(super) fn writer_loop(inner: Arc<Inner>, mut seg: SegmentWriter) {
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
