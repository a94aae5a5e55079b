//! `logship demo`: the whole story in a temporary directory on loopback — a
//! primary and a warm standby, shipping, a crash, promotion with the LSN check,
//! and a report of RPO and RTO ([`super::demo_failover`]). `--wal-crash` tells
//! the write-ahead log's own story instead ([`super::demo_wal`]).

use super::demo_wal::{MAX_RECORDS_PER_WRITER, MAX_WRITERS};
use super::exit::Failure;
use clap::Args;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Tell the write-ahead log's crash story instead: concurrent writers, a
    /// torn tail, recovery keeping exactly the complete records.
    #[arg(long)]
    pub wal_crash: bool,
    /// Rounds of writes before the crash (each: 500 pipelined SETs and an INCR).
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u64).range(2..=1000))]
    pub rounds: u64,
    /// The shipping interval.
    #[arg(long, default_value = "1s", value_parser = super::parse::duration)]
    pub ship_every: Duration,
    /// With --wal-crash: concurrent writers.
    #[arg(long, default_value_t = 4, requires = "wal_crash", value_parser = clap::value_parser!(u64).range(1..=MAX_WRITERS as u64))]
    pub writers: u64,
    /// With --wal-crash: records each writer appends.
    #[arg(long, default_value_t = 250, requires = "wal_crash", value_parser = clap::value_parser!(u64).range(1..=MAX_RECORDS_PER_WRITER))]
    pub records: u64,
    /// Keep the demo's directory instead of deleting it, and print where it is.
    #[arg(long)]
    pub keep: bool,
}

/// Runs the demo.
///
/// # Errors
/// A [`Failure`] naming the first thing that did not hold, or an I/O error.
pub fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::Builder::new()
        .prefix("logship-demo-")
        .tempdir()
        .map_err(|e| Failure::usage(format!("creating a temporary directory: {e}")))?;
    let result = if a.wal_crash {
        super::demo_wal::story(tmp.path(), a.writers as usize, a.records)
    } else {
        super::demo_failover::story(tmp.path(), a.rounds, a.ship_every)
    };
    if a.keep {
        let kept = tmp.keep();
        crate::say!("(kept {})", kept.display());
    }
    result?;
    Ok(ExitCode::SUCCESS)
}
