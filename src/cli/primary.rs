//! `logship primary`: serve a primary data directory over RESP2.

use super::parse;
use crate::primary::{run as run_primary, PrimaryConfig, RuntimeKind};
use crate::resp::Limits;
use crate::wal::SyncPolicy;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Parses `--fsync`: `always`, `everysec`, `no` (and `interval:MS`).
fn fsync_policy(s: &str) -> Result<SyncPolicy, String> {
    parse::sync_policy(s)
        .map_err(|_| format!("'{s}' is not an fsync policy (always, everysec, no)"))
}

fn usize_size(s: &str) -> Result<usize, String> {
    parse::size(s).and_then(|n| usize::try_from(n).map_err(|_| format!("'{s}' is too large")))
}

/// Arguments of `primary`.
#[derive(Debug, Args)]
pub struct PrimaryArgs {
    /// The data directory (created with `logship init`).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Address to serve RESP2 on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:6379")]
    pub listen: String,
    /// When a write is acknowledged: always (after fdatasync), everysec (fdatasync
    /// every second), no (the OS decides).
    #[arg(long, default_value = "always", value_parser = fsync_policy)]
    pub fsync: SyncPolicy,
    /// Largest bulk string a client may send.
    #[arg(long, default_value = "512MiB", value_parser = usize_size)]
    pub max_bulk_bytes: usize,
    /// Most arguments in one command.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_args: usize,
    /// Longest inline command line.
    #[arg(long, default_value = "64KiB", value_parser = usize_size)]
    pub max_inline_bytes: usize,
    /// Most bytes buffered from one client without a complete command.
    #[arg(long, default_value = "1GiB", value_parser = usize_size)]
    pub max_query_bytes: usize,
    /// Replies held for one client before they are sent; further pipelined
    /// commands wait for the next round.
    #[arg(long, default_value = "64MiB", value_parser = usize_size)]
    pub max_output_bytes: usize,
    /// Most concurrent client connections.
    #[arg(long, default_value_t = 10_000)]
    pub max_clients: usize,
    /// Take a checkpoint after this much WAL.
    #[arg(long, default_value = "256MiB", value_parser = parse::size)]
    pub checkpoint_wal_bytes: u64,
    /// Take a checkpoint at least this often when there were writes.
    #[arg(long, default_value = "5m", value_parser = parse::duration)]
    pub checkpoint_interval: Duration,
    /// Snapshots to keep; the WAL is kept from the oldest of them.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    pub keep_snapshots: u64,
    /// The tokio runtime serving the clients. multi-thread measured at least as
    /// well as current-thread against redis-benchmark on 2 cores (see README).
    #[arg(long, value_enum, default_value = "multi-thread")]
    pub runtime: RuntimeKind,
    /// How long shutdown waits for busy connections.
    #[arg(long, default_value = "30s", value_parser = parse::duration)]
    pub shutdown_timeout: Duration,
}

pub fn run(a: PrimaryArgs) -> anyhow::Result<ExitCode> {
    run_primary(PrimaryConfig {
        data_dir: a.data_dir,
        listen: a.listen,
        sync: a.fsync,
        limits: Limits {
            max_bulk_bytes: a.max_bulk_bytes,
            max_args: a.max_args.max(1),
            max_inline_bytes: a.max_inline_bytes,
        },
        max_query_bytes: a.max_query_bytes,
        max_output_bytes: a.max_output_bytes.max(1),
        max_clients: a.max_clients,
        checkpoint_wal_bytes: a.checkpoint_wal_bytes,
        checkpoint_interval: a.checkpoint_interval,
        keep_snapshots: a.keep_snapshots as usize,
        runtime: a.runtime,
        shutdown_timeout: a.shutdown_timeout,
    })?;
    Ok(ExitCode::SUCCESS)
}
