//! `logship bench wal`: concurrent appenders against a real log, like
//! redis-benchmark or pgbench for the WAL alone.

use crate::wal::{self, SyncPolicy, WalError, WalOptions};

use crate::fs::StdFs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct WalBenchOptions {
    /// Directory for the segment files (created; must hold no other log).
    pub dir: PathBuf,
    /// Records to append in total.
    pub records: u64,
    /// Payload bytes per record.
    pub record_bytes: usize,
    /// Concurrent appenders (tokio tasks on one worker thread, as the server's
    /// connections are).
    pub writers: usize,
    /// Records each appender has in flight before waiting for acknowledgement
    /// (1 = wait for every record, like a client without pipelining).
    pub pipeline: usize,
    /// Sync policy.
    pub sync: SyncPolicy,
    /// Segment size.
    pub segment_bytes: u64,
}

/// What it measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WalBenchReport {
    pub records: u64,
    pub record_bytes: usize,
    pub writers: usize,
    pub pipeline: usize,
    pub sync: String,
    pub elapsed_seconds: f64,
    pub records_per_second: f64,
    /// Payload megabytes (10^6 bytes) per second.
    pub payload_mb_per_second: f64,
    /// Log megabytes (headers and padding included) per second.
    pub log_mb_per_second: f64,
    pub fsyncs: u64,
    pub batches: u64,
    /// Records per write batch on average.
    pub avg_batch_records: f64,
    pub first_lsn: u64,
    pub end_lsn: u64,
}

/// Runs the benchmark and leaves a valid, closed log in `opts.dir`.
///
/// # Errors
/// Any [`WalError`] from opening or writing the log.
pub fn run(opts: &WalBenchOptions) -> Result<WalBenchReport, WalError> {
    if opts.writers == 0 || opts.pipeline == 0 || opts.records == 0 {
        return Err(WalError::Config(
            "records, writers and pipeline must be at least 1".into(),
        ));
    }
    let system_id = rand::random::<u64>() | 1;
    let mut wopts = WalOptions::new(&opts.dir, system_id, 1);
    wopts.segment_bytes = opts.segment_bytes;
    wopts.sync = opts.sync;
    if let Some(id) = existing_system_id(opts)? {
        wopts.system_id = id;
    }
    if opts.record_bytes > wopts.effective_max_record_bytes() {
        return Err(WalError::RecordTooLarge {
            len: opts.record_bytes,
            limit: wopts.effective_max_record_bytes(),
        });
    }
    let (log, _) = wal::open(StdFs::shared(), wopts)?;
    // Start from a clean page cache: dirty data left by earlier runs would
    // throttle this one's writes.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let log = Arc::new(log);
    let first_lsn = log.next_lsn();
    let stats0 = log.stats();
    let next = Arc::new(AtomicU64::new(0));
    let payload: Arc<Vec<u8>> = Arc::new((0..opts.record_bytes).map(|i| (i % 251) as u8).collect());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| WalError::io("start runtime", &opts.dir, e))?;
    let start = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..opts.writers)
            .map(|_| {
                let (log, next, payload) = (log.clone(), next.clone(), payload.clone());
                let (total, pipeline) = (opts.records, opts.pipeline as u64);
                tokio::spawn(async move {
                    loop {
                        let from = next.fetch_add(pipeline, Ordering::Relaxed);
                        if from >= total {
                            return Ok::<(), WalError>(());
                        }
                        let n = pipeline.min(total - from);
                        let mut end = 0;
                        for _ in 0..n {
                            end = log.append(&payload)?.end_lsn;
                        }
                        log.wait_acked_async(end).await?;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await
                .map_err(|_| WalError::Stopped("benchmark writer panicked".into()))??;
        }
        Ok::<(), WalError>(())
    })?;
    let elapsed = start.elapsed().max(Duration::from_nanos(1));
    let stats = log.stats();
    let end_lsn = log.next_lsn();
    log.close()?;
    let secs = elapsed.as_secs_f64();
    let batches = stats.batches - stats0.batches;
    Ok(WalBenchReport {
        records: opts.records,
        record_bytes: opts.record_bytes,
        writers: opts.writers,
        pipeline: opts.pipeline,
        sync: match opts.sync {
            SyncPolicy::Always => "always".into(),
            SyncPolicy::Interval { every_ms } => format!("interval:{every_ms}ms"),
            SyncPolicy::Never => "never".into(),
        },
        elapsed_seconds: secs,
        records_per_second: opts.records as f64 / secs,
        payload_mb_per_second: (opts.records * opts.record_bytes as u64) as f64 / secs / 1e6,
        log_mb_per_second: (end_lsn - first_lsn) as f64 / secs / 1e6,
        fsyncs: stats.fsyncs - stats0.fsyncs,
        batches,
        avg_batch_records: opts.records as f64 / batches.max(1) as f64,
        first_lsn,
        end_lsn,
    })
}

/// A directory that already holds a log is appended to under its own identity.
fn existing_system_id(opts: &WalBenchOptions) -> Result<Option<u64>, WalError> {
    if !opts.dir.exists() {
        return Ok(None);
    }
    Ok(wal::scan_dir(&StdFs, &opts.dir)?.system_id)
}
