//! `logship bench wal|ship|lag`: the built-in benchmarks from the command line.

use super::parse;
use crate::bench::wal::{run as run_wal, WalBenchOptions};
use crate::wal::{format_lsn, SyncPolicy};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Append records from concurrent writers and report records/s, MB/s, fsyncs
    /// and batch sizes. Leaves a valid WAL in DIR.
    Wal(WalArgs),
    /// Ship an existing log end to end over loopback TCP to a standby copy
    /// (read, compress, send, check, write, fsync, acknowledge) and report MB/s.
    Ship(ShipArgs),
    /// Measure replication lag over RESP: SET a unique key on the primary, then
    /// GET it on the standby until it appears; report p50/p99/max. Works against
    /// Redis replication too.
    Lag(LagArgs),
}

/// Arguments of `bench lag`.
#[derive(Debug, Args)]
pub struct LagArgs {
    /// The primary's RESP address (host:port).
    #[arg(long)]
    pub primary: String,
    /// A standby's (or replica's) RESP address (host:port); repeat it to
    /// sample several standbys at once (each sample waits for all of them).
    #[arg(long, required = true)]
    pub standby: Vec<String>,
    /// Stop after this many samples.
    #[arg(long, default_value_t = 10_000)]
    pub samples: u64,
    /// Stop after this long even with fewer samples.
    #[arg(long, default_value = "10s", value_parser = parse::duration)]
    pub duration: std::time::Duration,
    /// Fail if one value is not readable on the standby within this long.
    #[arg(long, default_value = "10s", value_parser = parse::duration)]
    pub sample_timeout: std::time::Duration,
    /// Background load on the primary while sampling, in SETs per second
    /// (held steady, not flat out); 0: none.
    #[arg(long, default_value_t = 0)]
    pub load_rate: u64,
    /// Connections sharing the background load.
    #[arg(long, default_value_t = 20)]
    pub load_connections: usize,
    /// The background load's keys are drawn from this many.
    #[arg(long, default_value_t = 100_000)]
    pub load_keyspace: u64,
    /// Bytes per value of the background load.
    #[arg(long, default_value_t = 100)]
    pub load_value_bytes: usize,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `bench ship`.
#[derive(Debug, Args)]
pub struct ShipArgs {
    /// The WAL directory to ship (e.g. one `bench wal` wrote).
    #[arg(long)]
    pub wal_dir: PathBuf,
    /// Directory for the standby's copy (must not exist).
    #[arg(long)]
    pub standby_dir: PathBuf,
    /// Compression on the wire: none, zstd or zstd:LEVEL.
    #[arg(long, default_value = "zstd", value_parser = parse::compression)]
    pub compress: crate::ship::Compression,
    /// Uncompressed bytes per chunk.
    #[arg(long, default_value = "1MiB", value_parser = parse::size)]
    pub chunk_bytes: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `bench wal`.
#[derive(Debug, Args)]
pub struct WalArgs {
    /// Directory for the segment files (created if missing).
    #[arg(long)]
    pub dir: PathBuf,
    /// Records to write in total.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Payload bytes per record (sizes like 64KiB work).
    #[arg(long, default_value = "100", value_parser = parse::size)]
    pub record_bytes: u64,
    /// Concurrent writers.
    #[arg(long, default_value_t = 1)]
    pub writers: usize,
    /// Records a writer appends before it waits for acknowledgement (1 = every record).
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// When a record is acknowledged: always (fdatasync), interval[:MS], never.
    #[arg(long, default_value = "always", value_parser = parse::sync_policy)]
    pub sync: SyncPolicy,
    /// Segment file size (a power of two, 4KiB to 1GiB).
    #[arg(long, default_value = "64MiB", value_parser = parse::size)]
    pub segment_bytes: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Lag(a) => {
            let r = crate::bench::lag::run(&crate::bench::lag::LagBenchOptions {
                primary: a.primary.clone(),
                standbys: a.standby,
                samples: a.samples,
                duration: a.duration,
                sample_timeout: a.sample_timeout,
                load: (a.load_rate > 0).then(|| crate::bench::load::LoadOptions {
                    addr: a.primary.clone(),
                    rate: a.load_rate,
                    connections: a.load_connections,
                    keyspace: a.load_keyspace,
                    value_bytes: a.load_value_bytes,
                }),
            })?;
            if a.json {
                crate::say!("{}", serde_json::to_string(&r)?);
            } else {
                crate::say!(
                    "bench lag: {} samples in {:.3} s, of the slowest standby each: p50 {:.0} us, p90 {:.0} us, p99 {:.0} us, max {:.0} us (mean {:.0} us, {:.1} GETs per sample)",
                    r.samples, r.elapsed_seconds, r.p50_us, r.p90_us, r.p99_us, r.max_us, r.mean_us, r.polls_per_sample
                );
                if r.standbys.len() > 1 {
                    for sb in &r.standbys {
                        crate::say!(
                            "  standby {}: p50 {:.0} us, p90 {:.0} us, p99 {:.0} us, max {:.0} us (mean {:.0} us)",
                            sb.address, sb.p50_us, sb.p90_us, sb.p99_us, sb.max_us, sb.mean_us
                        );
                    }
                }
                crate::say!(
                    "one GET round trip to the (first) standby (the floor of any sample): p50 {:.0} us, p99 {:.0} us",
                    r.get_rtt_p50_us, r.get_rtt_p99_us
                );
                if let Some(l) = r.load {
                    crate::say!(
                        "background load: {} SETs in {:.3} s ({:.0} SET/s; asked for {})",
                        l.writes,
                        l.seconds,
                        l.writes_per_second,
                        a.load_rate
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Ship(a) => {
            if a.chunk_bytes == 0
                || a.chunk_bytes > crate::ship::protocol::message::MAX_CHUNK_BYTES as u64
            {
                anyhow::bail!(
                    "--chunk-bytes must be from 1 to {} bytes",
                    crate::ship::protocol::message::MAX_CHUNK_BYTES
                );
            }
            let r = crate::bench::ship::run(&crate::bench::ship::ShipBenchOptions {
                wal_dir: a.wal_dir,
                standby_dir: a.standby_dir,
                compression: a.compress,
                chunk_bytes: a.chunk_bytes as usize,
            })?;
            if a.json {
                crate::say!("{}", serde_json::to_string(&r)?);
            } else {
                crate::say!(
                    "bench ship: {} bytes, {} records in {:.3} s: {:.1} MB/s end to end, {} bytes on the wire (ratio {:.2}x)",
                    r.bytes, r.records, r.elapsed_seconds, r.mb_per_second, r.wire_bytes, r.compression_ratio
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Wal(a) => {
            let report = run_wal(&WalBenchOptions {
                dir: a.dir,
                records: a.records,
                record_bytes: a.record_bytes as usize,
                writers: a.writers,
                pipeline: a.pipeline,
                sync: a.sync,
                segment_bytes: a.segment_bytes,
            })?;
            if a.json {
                crate::say!("{}", serde_json::to_string(&report)?);
            } else {
                crate::say!(
                    "bench wal: {} records of {} bytes, {} writers (pipeline {}), sync {}",
                    report.records,
                    report.record_bytes,
                    report.writers,
                    report.pipeline,
                    report.sync
                );
                crate::say!(
                    "  {:.0} records/s   {:.1} MB/s payload   {:.1} MB/s log   {:.3} s",
                    report.records_per_second,
                    report.payload_mb_per_second,
                    report.log_mb_per_second,
                    report.elapsed_seconds
                );
                crate::say!(
                    "  {} fsyncs   {} write batches   {:.1} records/batch   LSN {} .. {}",
                    report.fsyncs,
                    report.batches,
                    report.avg_batch_records,
                    format_lsn(report.first_lsn),
                    format_lsn(report.end_lsn)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
