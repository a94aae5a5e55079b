//! Continuous replay on a standby: follows the written received LSN (verified
//! and written; its fsync may still be under way — see
//! [`crate::ship::receive::commit`]), reads the
//! received log and applies its records in LSN order through a [`ReplayTarget`]
//! (the same apply code the primary uses for crash recovery), optionally holding
//! each record until it is `apply_delay` old.
//!
//! It runs on its own thread: reading segments and applying are blocking work.
//! When it is caught up (and no delay applies), a small freshly received chunk
//! is applied on the receiving task instead, straight from the chunk's bytes
//! ([`InlineReplay`]): one thread hand-over less between a write on the
//! primary and its value on the standby.

use crate::clock::now_unix_ms;
use crate::fs::SharedFs;
use crate::ship::{InlineApply, Received};
use crate::store::ApplyError;
use crate::wal::{Record, RecordKind, WalError, WalReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Records read and handed to the target per batch (the standby decodes them,
/// then applies them under its state's lock a slice at a time).
pub const BATCH_RECORDS: usize = 4096;
/// A replay pass over at least this much log shows progress (a bar on a
/// terminal, log lines otherwise) and logs its end: catching up at start, or
/// after a large shipment.
pub const CATCH_UP_PROGRESS_BYTES: u64 = 8 << 20;

/// Where replayed records go.
pub trait ReplayTarget: Send + Sync + 'static {
    /// Every record below this LSN is applied.
    fn applied_lsn(&self) -> u64;
    /// Applies records in LSN order (data records and others; a target skips
    /// what it does not need and records below its applied LSN). Returns how
    /// many were applied, those below the applied LSN not counted (the other
    /// path of replay may have applied them already).
    ///
    /// # Errors
    /// The record that cannot be applied ([`ApplyError`]); replay stops.
    fn apply_batch(&self, records: &[Record]) -> Result<u64, ApplyError>;
    /// Applies `records` if they start exactly at the applied LSN, checking
    /// and applying in one step; false (nothing applied) otherwise.
    ///
    /// # Errors
    /// As [`apply_batch`](Self::apply_batch).
    fn apply_batch_at(&self, start_lsn: u64, records: &[Record]) -> Result<bool, ApplyError>;
}

/// What replay has done, for status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayState {
    pub applied_lsn: u64,
    /// When the last record was applied.
    pub last_apply_unix_ms: u64,
    /// Append time of the oldest record received but not applied yet.
    pub oldest_unapplied_unix_ms: Option<u64>,
    pub records_applied_total: u64,
    /// Set when replay stopped on a record it cannot apply.
    pub failed: bool,
}

/// What replay publishes: its progress for status, and the applied LSN.
/// Both the replay thread and the receiving task publish; an applied LSN read
/// before the other's apply never moves it back.
struct Published {
    state: watch::Sender<ReplayState>,
    applied: watch::Sender<u64>,
}

impl Published {
    /// Records that `n` more records were applied, up to `applied`.
    fn applied(&self, n: u64, applied: u64) {
        self.state.send_modify(|s| {
            s.records_applied_total += n;
            s.last_apply_unix_ms = now_unix_ms();
            s.applied_lsn = s.applied_lsn.max(applied);
        });
        self.advance(applied);
    }

    /// Moves the applied LSN to `applied` if that is further.
    fn advance(&self, applied: u64) {
        self.applied.send_if_modified(|a| {
            let further = applied > *a;
            *a = (*a).max(applied);
            further
        });
    }
}

/// Replay of freshly received chunks on the receiving task
/// ([`InlineApply`]): when replay is caught up and no apply
/// delay holds records back, a small chunk's records are applied as soon as
/// they are written, without waking the replay thread to read them back from
/// the log. The replay thread stays in charge of everything else; it finds
/// them applied.
struct InlineReplay {
    target: Arc<dyn ReplayTarget>,
    published: Arc<Published>,
    stop: Arc<AtomicBool>,
}

impl InlineApply for InlineReplay {
    fn offer(&self, start_lsn: u64, records: &[Record]) {
        if records.is_empty()
            || self.stop.load(Ordering::Acquire)
            || self.target.applied_lsn() != start_lsn
        {
            return;
        }
        // A failure here leaves the records to the replay thread, which
        // reports it.
        if let Ok(true) = self.target.apply_batch_at(start_lsn, records) {
            let applied = self.target.applied_lsn();
            self.published.applied(records.len() as u64, applied);
        }
    }
}

/// The running replayer.
pub struct Replayer {
    stop: Arc<AtomicBool>,
    /// Wakes the thread from its wait for received data (to stop at once).
    wake: Arc<tokio::sync::Notify>,
    thread: Option<std::thread::JoinHandle<()>>,
    state: watch::Receiver<ReplayState>,
    applied: watch::Receiver<u64>,
    inline: Option<Arc<dyn InlineApply>>,
}

/// How long records are held before they are applied (`--apply-delay`), and
/// the flag a promotion sets to apply everything now.
#[derive(Debug, Clone, Default)]
pub struct ApplyDelay {
    pub delay: Duration,
    pub hurry: Arc<AtomicBool>,
}

impl ApplyDelay {
    /// Hold each record until it is `delay` old.
    pub fn new(delay: Duration) -> ApplyDelay {
        ApplyDelay {
            delay,
            hurry: Arc::default(),
        }
    }
}

impl Replayer {
    /// Starts replaying the log in `wal_dir` into `target` as `received` advances,
    /// publishing the applied LSN on `applied_tx`.
    pub fn start(
        fs: SharedFs,
        wal_dir: PathBuf,
        received: watch::Receiver<Received>,
        target: Arc<dyn ReplayTarget>,
        delay: ApplyDelay,
        applied_tx: watch::Sender<u64>,
        rt: tokio::runtime::Handle,
    ) -> std::io::Result<Replayer> {
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(tokio::sync::Notify::new());
        let w = wake.clone();
        let applied0 = target.applied_lsn();
        let (state_tx, state) = watch::channel(ReplayState {
            applied_lsn: applied0,
            ..ReplayState::default()
        });
        applied_tx.send_replace(applied0);
        let applied = applied_tx.subscribe();
        let published = Arc::new(Published {
            state: state_tx,
            applied: applied_tx,
        });
        let inline = delay.delay.is_zero().then(|| {
            Arc::new(InlineReplay {
                target: target.clone(),
                published: published.clone(),
                stop: stop.clone(),
            }) as Arc<dyn InlineApply>
        });
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("replay".into())
            .spawn(move || {
                let r = Loop {
                    fs,
                    wal_dir,
                    received,
                    target,
                    apply_delay: delay.delay,
                    hurry: delay.hurry,
                    stop: s,
                    wake: w,
                    published,
                    reader: None,
                };
                r.run(&rt);
            })?;
        Ok(Replayer {
            stop,
            wake,
            thread: Some(thread),
            state,
            applied,
            inline,
        })
    }

    /// Replay of freshly received chunks on the receiving task, for
    /// [`crate::ship::ReceiverShared::set_inline_apply`]; `None` with an apply
    /// delay (records are held back, never applied on arrival).
    pub fn inline(&self) -> Option<Arc<dyn InlineApply>> {
        self.inline.clone()
    }

    /// Replay progress.
    pub fn state(&self) -> watch::Receiver<ReplayState> {
        self.state.clone()
    }

    /// The applied LSN (what the receiver reports in its acknowledgements).
    pub fn applied(&self) -> watch::Receiver<u64> {
        self.applied.clone()
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Replayer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Why a replay pass stopped.
enum ReplayError {
    /// Reading the received log failed (it may be changing): retried.
    Read(WalError),
    /// A record cannot be applied: replay stops for good.
    Apply(ApplyError),
}

struct Loop {
    fs: SharedFs,
    wal_dir: PathBuf,
    received: watch::Receiver<Received>,
    target: Arc<dyn ReplayTarget>,
    apply_delay: Duration,
    /// Set by a promotion: apply everything received now, whatever the delay.
    hurry: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
    published: Arc<Published>,
    /// The reader of the last pass, kept open for the next one while passes
    /// follow each other without a wait.
    reader: Option<WalReader>,
}

impl Loop {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn run(mut self, rt: &tokio::runtime::Handle) {
        while !self.stopped() {
            let from = self.target.applied_lsn();
            let until = self.received.borrow_and_update().replayable_lsn();
            if from >= until {
                // Caught up: let go of the segment's mapping while idle (the
                // pages a reader touched count in the process's RSS); the next
                // pass opens at the applied LSN without rescanning.
                self.reader = None;
                self.publish(None);
                // Wake on new received data, or now and then to notice a stop.
                let wake = self.wake.clone();
                rt.block_on(async {
                    tokio::select! {
                        _ = self.received.changed() => {}
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                });
                continue;
            }
            match self.replay_range(from, until) {
                Ok(()) => {}
                Err(ReplayError::Read(e)) => {
                    // The received log may be changing under the reader (a
                    // re-seed replaces it): try again shortly.
                    tracing::debug!(error = %e, "replay read failed; retrying");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(ReplayError::Apply(e)) => {
                    tracing::error!(error = %e, "replay stopped: a received record cannot be applied");
                    self.published.state.send_modify(|s| s.failed = true);
                    return;
                }
            }
        }
    }

    /// Applies `[from, until)` in batches, honouring the apply delay.
    fn replay_range(&mut self, from: u64, until: u64) -> Result<(), ReplayError> {
        // The reader of the previous pass continues where it stopped; a new one
        // (at start, after a re-seed, a held record or a read error) starts at
        // the applied LSN, which is always where a record starts.
        let mut reader = match self.reader.take() {
            Some(mut r) if r.next_lsn() == from => {
                r.extend_until(until);
                r
            }
            _ => WalReader::open_at_record(self.fs.clone(), &self.wal_dir, from, Some(until))
                .map_err(ReplayError::Read)?,
        };
        let mut progress = (until - from >= CATCH_UP_PROGRESS_BYTES).then(|| {
            tracing::info!(from_lsn = from, to_lsn = until, "catch-up replay started");
            (
                crate::progress::Progress::new("catch-up replay", until - from),
                std::time::Instant::now(),
            )
        });
        let mut batch: Vec<Record> = Vec::with_capacity(BATCH_RECORDS);
        let mut records = 0u64;
        for rec in reader.by_ref() {
            let rec = rec.map_err(ReplayError::Read)?;
            records += 1;
            if rec.kind == RecordKind::Data
                && !self.apply_delay.is_zero()
                && !self.hurry.load(Ordering::Acquire)
            {
                let due = rec.timestamp_unix_ms + self.apply_delay.as_millis() as u64;
                if due > now_unix_ms() {
                    self.flush(&mut batch)?;
                    self.publish(Some(rec.timestamp_unix_ms));
                    if !self.wait_until(due) {
                        return Ok(());
                    }
                }
            }
            batch.push(rec);
            if batch.len() >= BATCH_RECORDS {
                self.flush(&mut batch)?;
                if let Some((p, _)) = &mut progress {
                    let applied = self.target.applied_lsn();
                    p.set(applied.saturating_sub(from), Some(applied));
                }
                if self.stopped() {
                    return Ok(());
                }
            }
        }
        self.flush(&mut batch)?;
        self.reader = Some(reader);
        if let Some((_, started)) = progress {
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                from_lsn = from,
                to_lsn = self.target.applied_lsn(),
                records,
                ms = (secs * 1000.0) as u64,
                records_per_second = (records as f64 / secs.max(1e-6)) as u64,
                "catch-up replay complete"
            );
        }
        Ok(())
    }

    fn flush(&mut self, batch: &mut Vec<Record>) -> Result<(), ReplayError> {
        if batch.is_empty() {
            return Ok(());
        }
        let n = self.target.apply_batch(batch).map_err(ReplayError::Apply)?;
        batch.clear();
        self.published.applied(n, self.target.applied_lsn());
        Ok(())
    }

    fn publish(&self, oldest_unapplied: Option<u64>) {
        let applied = self.target.applied_lsn();
        self.published.state.send_if_modified(|s| {
            let changed = s.applied_lsn < applied || s.oldest_unapplied_unix_ms != oldest_unapplied;
            s.applied_lsn = s.applied_lsn.max(applied);
            s.oldest_unapplied_unix_ms = oldest_unapplied;
            changed
        });
        self.published.advance(applied);
    }

    /// Sleeps until `due_ms` (wall clock); false if stopped meanwhile.
    fn wait_until(&self, due_ms: u64) -> bool {
        loop {
            if self.stopped() {
                return false;
            }
            let now = now_unix_ms();
            if now >= due_ms || self.hurry.load(Ordering::Acquire) {
                return true;
            }
            std::thread::sleep(Duration::from_millis((due_ms - now).min(100)));
        }
    }
}
