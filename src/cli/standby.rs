//! `logship standby`: receive shipments, replay them continuously, serve reads.

use super::parse;
use crate::resp::Limits;
use crate::ship::AuthKey;
use crate::standby::node::{run as run_standby, StandbyConfig};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `standby`.
#[derive(Debug, Args)]
pub struct StandbyArgs {
    /// The standby's data directory: empty or missing for a new standby (it is
    /// seeded by the primary), or an existing standby's.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Address primaries ship to.
    #[arg(long)]
    pub ship_listen: String,
    /// Address to serve read-only RESP on.
    #[arg(long, default_value = "127.0.0.1:6380")]
    pub listen: String,
    /// Hold each record until it is this old before applying it (a shield
    /// against a mistake on the primary); receipt continues meanwhile.
    #[arg(long, default_value = "0s", value_parser = parse::duration)]
    pub apply_delay: Duration,
    /// File holding the key shared with the primary (at least 16 bytes).
    #[arg(long, required_unless_present = "insecure_no_auth")]
    pub auth_key_file: Option<PathBuf>,
    /// Accept shipments without authentication (tests on a trusted host only).
    #[arg(long, conflicts_with = "auth_key_file")]
    pub insecure_no_auth: bool,
    /// Take a checkpoint (persisting the applied LSN) this often.
    #[arg(long, default_value = "1m", value_parser = parse::duration)]
    pub checkpoint_interval: Duration,
    /// Snapshots to keep; the received log is kept from the oldest of them.
    #[arg(long, default_value_t = 2)]
    pub keep_snapshots: usize,
    /// Most bytes buffered from one client without a complete command.
    #[arg(long, default_value = "1GiB", value_parser = parse::size)]
    pub max_query_bytes: u64,
    #[command(flatten)]
    pub monitor: super::monitor::MonitorArgs,
}

pub fn run(a: StandbyArgs) -> anyhow::Result<ExitCode> {
    let key = match &a.auth_key_file {
        Some(p) => Some(AuthKey::from_file(p)?),
        None => None,
    };
    run_standby(StandbyConfig {
        data_dir: a.data_dir,
        ship_listen: a.ship_listen,
        listen: a.listen,
        apply_delay: a.apply_delay,
        key,
        limits: Limits::default(),
        max_query_bytes: usize::try_from(a.max_query_bytes).unwrap_or(usize::MAX),
        checkpoint_interval: a.checkpoint_interval.max(Duration::from_secs(1)),
        keep_snapshots: a.keep_snapshots.max(1),
        monitor: a.monitor.config(),
    })?;
    Ok(ExitCode::SUCCESS)
}
