//! `logship primary`: serve a primary data directory over RESP2.

use super::parse::{self, ValueError};
use super::secure::LinkArgs;
use crate::primary::shipping::ShipConfig;
use crate::primary::{run as run_primary, PrimaryConfig, RuntimeKind};
use crate::resp::Limits;
use crate::ship::send::schedule::Schedule;
use crate::wal::SyncPolicy;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Parses `--fsync`: `always`, `everysec`, `no` (and `interval:MS`).
pub fn fsync_policy(s: &str) -> Result<SyncPolicy, ValueError> {
    parse::sync_policy(s).map_err(|_| ValueError::FsyncPolicy(s.into()))
}

fn usize_size(s: &str) -> Result<usize, ValueError> {
    parse::size(s).and_then(|n| usize::try_from(n).map_err(|_| ValueError::TooLarge(s.into())))
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
    /// well as current-thread against redis-benchmark on 2 cores (see
    /// docs/benchmarks.md).
    #[arg(long, value_enum, default_value = "multi-thread")]
    pub runtime: RuntimeKind,
    /// How long shutdown waits for busy connections.
    #[arg(long, default_value = "30s", value_parser = parse::duration)]
    pub shutdown_timeout: Duration,
    /// A file holding the password RESP clients must give with AUTH (one
    /// trailing newline is ignored; an empty file is an error).
    #[arg(long, value_name = "FILE")]
    pub requirepass_file: Option<PathBuf>,
    /// Past this much memory in use (the allocator's count, as Redis's
    /// used_memory), commands that may grow the data (SET, LPUSH, …) are
    /// refused with OOM; reads and deletes go on. 0: no limit.
    #[arg(long, value_name = "SIZE", default_value = "0", value_parser = parse::size)]
    pub maxmemory: u64,
    #[command(flatten)]
    pub ship: ShipArgs,
    #[command(flatten)]
    pub archive: Box<super::archive::ArchiveFlags>,
    #[command(flatten)]
    pub monitor: super::monitor::MonitorArgs,
}

/// Shipping flags of `primary`.
#[derive(Debug, Args)]
pub struct ShipArgs {
    /// A standby's ship address (host:port); repeat for several standbys.
    #[arg(long = "ship-to", value_name = "ADDR")]
    pub ship_to: Vec<String>,
    /// Ship every DURATION (e.g. 30s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse::duration, group = "ship_schedule")]
    pub ship_every: Option<Duration>,
    /// Ship at the times of a 5-field cron expression, UTC (e.g. "*/5 * * * *"),
    /// or of @hourly, @daily, @weekly, @monthly, @yearly.
    #[arg(long, value_name = "EXPR", group = "ship_schedule")]
    pub ship_cron: Option<String>,
    /// Keep a link open to each standby and ship as soon as records are durable.
    #[arg(long, group = "ship_schedule")]
    pub ship_continuous: bool,
    /// Most WAL kept for standbys that have not received it; past it, the WAL is
    /// removed anyway (logged as an error) and the standby must be re-seeded.
    #[arg(long, value_name = "SIZE", default_value = "8GiB", value_parser = parse::size)]
    pub max_retained_wal: u64,
    #[command(flatten)]
    pub link: LinkArgs,
    /// Set by `logship run`: the cluster decides the targets, and may leave
    /// none (a primary alone), so schedule and link settings without a
    /// target are not a mistake.
    #[arg(skip)]
    pub in_cluster: bool,
}

impl ShipArgs {
    /// The shipping configuration, `None` without `--ship-to`.
    ///
    /// # Errors
    /// A schedule or key flag missing or given without `--ship-to`, a bad cron
    /// expression, an unreadable or too short key file.
    pub fn config(&self) -> anyhow::Result<Option<ShipConfig>> {
        let scheduled =
            self.ship_every.is_some() || self.ship_cron.is_some() || self.ship_continuous;
        if self.ship_to.is_empty() {
            if (scheduled || self.link.any()) && !self.in_cluster {
                anyhow::bail!(
                    "--ship-every, --ship-cron, --ship-continuous, --ship-max-rate, --auth-key-file, --insecure-no-auth and --tls-* need --ship-to ADDR"
                );
            }
            return Ok(None);
        }
        if let Some(a) = self.ship_to.iter().find(|a| !a.contains(':')) {
            anyhow::bail!("--ship-to '{a}' is not an address (expected host:port)");
        }
        let schedule = schedule(
            self.ship_every,
            self.ship_cron.as_deref(),
            self.ship_continuous,
        )?;
        let key = self.link.key()?;
        Ok(Some(ShipConfig {
            standbys: self.ship_to.clone(),
            schedule,
            key,
            compression: self.link.compress,
            tls: self.link.tls()?,
            max_rate_bytes_per_sec: self.link.ship_max_rate,
        }))
    }
}

/// The schedule from `--ship-every`, `--ship-cron` or `--ship-continuous`
/// (exactly one).
///
/// # Errors
/// None or several given, a zero interval, a bad cron expression.
pub fn schedule(
    every: Option<Duration>,
    cron: Option<&str>,
    continuous: bool,
) -> anyhow::Result<Schedule> {
    Ok(match (every, cron, continuous) {
        (Some(d), None, false) if d.is_zero() => {
            anyhow::bail!("--ship-every must be longer than 0 (or use --ship-continuous)")
        }
        (Some(d), None, false) => Schedule::Every(d),
        (None, Some(c), false) => Schedule::cron(c)?,
        (None, None, true) => Schedule::Continuous,
        _ => anyhow::bail!(
            "--ship-to needs a schedule: one of --ship-every DURATION, --ship-cron \"EXPR\", --ship-continuous"
        ),
    })
}

/// The primary configuration `logship primary --data-dir DIR --listen ADDR`
/// would run with: every other flag at its default.
pub fn default_config(data_dir: &Path, listen: &str) -> anyhow::Result<PrimaryConfig> {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        a: PrimaryArgs,
    }
    let d = data_dir.display().to_string();
    let parsed = <Defaults as clap::Parser>::try_parse_from([
        "primary",
        "--data-dir",
        &d,
        "--listen",
        listen,
    ])?;
    config(parsed.a)
}

/// Runs the primary; SIGHUP re-reads its configuration with `reload`.
pub fn run(
    a: PrimaryArgs,
    reload: crate::node::reload::Reloader<PrimaryConfig>,
) -> anyhow::Result<ExitCode> {
    let mut cfg = config(a).map_err(super::exit::Failure::config)?;
    cfg.reload = Some(reload);
    run_primary(cfg).map_err(super::exit::Failure::from_primary)?;
    Ok(ExitCode::SUCCESS)
}

/// The primary's configuration from its flags, with the files they name
/// (keys, certificates, password) read and checked; no reloader.
pub(super) fn config(a: PrimaryArgs) -> anyhow::Result<PrimaryConfig> {
    let archive = a.archive.settings()?;
    super::archive::check_fsync(a.fsync, archive.as_ref())?;
    Ok(PrimaryConfig {
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
        ship: a.ship.config()?,
        max_retained_wal_bytes: a.ship.max_retained_wal,
        archive,
        requirepass: super::secure::requirepass(a.requirepass_file.as_deref())?,
        maxmemory_bytes: (a.maxmemory > 0).then_some(a.maxmemory),
        monitor: a.monitor.config(),
        fenced_watch: None,
        reload: None,
    })
}
