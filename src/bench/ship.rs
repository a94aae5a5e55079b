//! `logship bench ship`: ship a backlog end to end over loopback TCP — read,
//! compress, send, check every record, write, fsync, acknowledge — and report the
//! rate. Both ends run in this process, each with its own real socket.

use crate::fs::StdFs;
use crate::ship::receive::accept::serve;
use crate::ship::ReceiverShared;
use crate::ship::{ship, Acked, AuthKey, Compression, LogSource, ShipMode, ShipOptions};
use crate::wal::{self, Mirror, Position, WalError};
use std::path::PathBuf;
use std::time::Instant;
use tokio::sync::watch;

/// What to run.
#[derive(Debug, Clone)]
pub struct ShipBenchOptions {
    /// The log to ship (an existing WAL directory, e.g. from `bench wal`).
    pub wal_dir: PathBuf,
    /// Where the standby's copy goes (must not exist yet).
    pub standby_dir: PathBuf,
    pub compression: Compression,
    /// Uncompressed bytes per chunk.
    pub chunk_bytes: usize,
}

/// What it measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShipBenchReport {
    pub bytes: u64,
    pub records: u64,
    pub wire_bytes: u64,
    pub elapsed_seconds: f64,
    /// Log megabytes (10^6 bytes) per second, end to end.
    pub mb_per_second: f64,
    /// Log bytes / wire bytes.
    pub compression_ratio: f64,
}

/// Runs the benchmark.
///
/// # Errors
/// Anything that stops the shipment, as one message.
pub fn run(opts: &ShipBenchOptions) -> anyhow::Result<ShipBenchReport> {
    let report = wal::scan_dir(&StdFs, &opts.wal_dir)?;
    let system_id = report
        .system_id
        .ok_or_else(|| WalError::Empty(opts.wal_dir.clone()))?;
    let timeline = report.timeline().unwrap_or(1);
    if opts.standby_dir.exists() {
        anyhow::bail!(
            "{} already exists; the standby copy needs a new directory",
            opts.standby_dir.display()
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (mirror, _) = Mirror::open(StdFs::shared(), &opts.standby_dir)?;
        let key = AuthKey::from_bytes(&rand::random::<[u8; 32]>());
        let (_applied_tx, applied_rx) = watch::channel(0u64);
        let shared = ReceiverShared::new(mirror, applied_rx, Some(key.clone()), None);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let server = tokio::spawn(serve(listener, shared.clone()));
        let (_pos_tx, position) = watch::channel(Position {
            written_lsn: report.end_lsn,
            durable_lsn: report.end_lsn,
            failed: false,
            closed: false,
        });
        let src = LogSource {
            fs: StdFs::shared(),
            wal_dir: opts.wal_dir.clone(),
            system_id,
            timeline,
            position,
            seed: None,
            taps: None,
        };
        let mut o = ShipOptions::new(addr, Some(key));
        o.compression = opts.compression;
        o.chunk_bytes = opts.chunk_bytes;
        o.pace = std::sync::Arc::new(crate::ship::send::pace::ChunkPace::new(opts.chunk_bytes));
        o.window_bytes = o.window_bytes.max((4 * opts.chunk_bytes) as u64);
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
        let (acked, _) = watch::channel(Acked::default());
        let started = Instant::now();
        let r = ship(&src, &o, ShipMode::Once, &acked).await?;
        let secs = started.elapsed().as_secs_f64();
        server.abort();
        Ok(ShipBenchReport {
            bytes: r.raw_bytes,
            records: r.records,
            wire_bytes: r.wire_bytes,
            elapsed_seconds: secs,
            mb_per_second: r.raw_bytes as f64 / secs / 1e6,
            compression_ratio: r.raw_bytes as f64 / r.wire_bytes.max(1) as f64,
        })
    })
}
