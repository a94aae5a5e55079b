//! `logship standby`: receive shipments (or follow an archive), replay them
//! continuously, serve reads.

use super::parse;
use super::secure::TlsArgs;
use crate::primary::shipping::ShipConfig;
use crate::primary::PrimaryConfig;
use crate::resp::auth::Password;
use crate::resp::Limits;
use crate::ship::protocol::tls::ShipTls;
use crate::ship::AuthKey;
use crate::ship::Compression;
use crate::standby::follow::{FollowArchive, DEFAULT_RESTORE_EVERY};
use crate::standby::node::{LogIntake, StandbyConfig};
use crate::standby::start::run as run_standby;
use crate::wal::SyncPolicy;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `standby`.
#[derive(Debug, Args)]
pub struct StandbyArgs {
    /// The standby's data directory: empty or missing for a new standby (it is
    /// seeded by the primary, or from the archive with --restore-from), or an
    /// existing standby's.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Address primaries ship to.
    #[arg(long, required_unless_present = "restore_from")]
    pub ship_listen: Option<String>,
    /// Follow this archive instead of receiving shipments (s3://BUCKET/PREFIX
    /// or file:///PATH, as the primary's --archive-to): an empty data directory
    /// is seeded from it, then new WAL objects are applied as they appear. No
    /// ship listener, no ship key.
    #[arg(long, value_name = "URL", conflicts_with = "ship_listen")]
    pub restore_from: Option<String>,
    /// With --restore-from: look for new WAL objects this often.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration, requires = "restore_from")]
    pub restore_every: Option<Duration>,
    /// Address to serve read-only RESP on.
    #[arg(long, default_value = "127.0.0.1:6380")]
    pub listen: String,
    /// Hold each record until it is this old before applying it (a shield
    /// against a mistake on the primary); receipt continues meanwhile.
    #[arg(long, default_value = "0s", value_parser = parse::duration)]
    pub apply_delay: Duration,
    /// File holding the key shared with the primary (at least 16 bytes).
    /// Not needed with --restore-from (then only used once promoted, with
    /// --ship-to).
    #[arg(long, required_unless_present_any = ["insecure_no_auth", "restore_from"])]
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
    pub promoted: PromotedArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// A file holding the password RESP clients must give with AUTH (one
    /// trailing newline is ignored; an empty file is an error).
    #[arg(long, value_name = "FILE")]
    pub requirepass_file: Option<PathBuf>,
    #[command(flatten)]
    pub monitor: super::monitor::MonitorArgs,
}

/// How the standby serves once `logship promote` makes it the primary.
#[derive(Debug, Args)]
pub struct PromotedArgs {
    /// Once promoted: when a write is acknowledged (as `primary --fsync`).
    #[arg(long, default_value = "always", value_parser = super::primary::fsync_policy)]
    pub fsync: SyncPolicy,
    /// Once promoted: ship to this standby (repeatable), with this standby's
    /// key, on the schedule below; other standbys then follow the new timeline.
    #[arg(long = "ship-to", value_name = "ADDR")]
    pub ship_to: Vec<String>,
    /// Cascade: ship what this standby has durably received onward to this
    /// standby (repeatable), with this standby's key, on the schedule below;
    /// once promoted, go on shipping there.
    #[arg(long = "cascade-to", value_name = "ADDR")]
    pub cascade_to: Vec<String>,
    /// Ship (--cascade-to; once promoted, --ship-to) every DURATION.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration, group = "promoted_schedule")]
    pub ship_every: Option<Duration>,
    /// Ship (--cascade-to; once promoted, --ship-to) at the times of a
    /// 5-field cron expression, UTC, or of @hourly, @daily, @weekly,
    /// @monthly, @yearly.
    #[arg(long, value_name = "EXPR", group = "promoted_schedule")]
    pub ship_cron: Option<String>,
    /// Ship (--cascade-to; once promoted, --ship-to) as soon as records are
    /// durable.
    #[arg(long, group = "promoted_schedule")]
    pub ship_continuous: bool,
    /// Bandwidth cap of each link (--cascade-to; once promoted, --ship-to),
    /// in bytes on the wire per second (e.g. 10MiB or 10MiB/s); default: no cap.
    #[arg(long, value_name = "RATE", value_parser = parse::rate)]
    pub ship_max_rate: Option<u64>,
    /// Once promoted: archive the log (as `primary --archive-to`), from where
    /// the archive ends: the old timeline's last WAL as far as this standby
    /// received it, then the new timeline.
    #[command(
        flatten,
        next_help_heading = "Once promoted, archive the log (from where the archive ends)"
    )]
    pub archive: Box<super::archive::ArchiveFlags>,
    /// Set by `logship run`: the cluster decides the targets (see
    /// `ShipArgs::in_cluster`).
    #[arg(skip)]
    pub in_cluster: bool,
}

impl PromotedArgs {
    /// The primary configuration for after promotion.
    fn config(
        &self,
        data_dir: &Path,
        listen: &str,
        key: Option<AuthKey>,
        tls: Option<ShipTls>,
        requirepass: Option<Password>,
    ) -> anyhow::Result<PrimaryConfig> {
        let mut c = super::primary::default_config(data_dir, listen)?;
        c.sync = self.fsync;
        c.requirepass = requirepass;
        let scheduled =
            self.ship_every.is_some() || self.ship_cron.is_some() || self.ship_continuous;
        for (flag, addrs) in [
            ("--ship-to", &self.ship_to),
            ("--cascade-to", &self.cascade_to),
        ] {
            if let Some(a) = addrs.iter().find(|a| !a.contains(':')) {
                anyhow::bail!("{flag} '{a}' is not an address (expected host:port)");
            }
        }
        let none = self.ship_to.is_empty() && self.cascade_to.is_empty();
        if none && (scheduled || self.ship_max_rate.is_some()) && !self.in_cluster {
            anyhow::bail!(
                "--ship-every, --ship-cron, --ship-continuous and --ship-max-rate need --ship-to ADDR or --cascade-to ADDR"
            );
        }
        // Once promoted, the node ships to its downstreams too.
        let mut targets = self.ship_to.clone();
        targets.extend(
            self.cascade_to
                .iter()
                .filter(|a| !self.ship_to.contains(a))
                .cloned(),
        );
        c.ship = if none {
            None
        } else {
            Some(ShipConfig {
                standbys: targets,
                schedule: super::primary::schedule(
                    self.ship_every,
                    self.ship_cron.as_deref(),
                    self.ship_continuous,
                )?,
                key,
                compression: Compression::Zstd { level: 1 },
                tls,
                max_rate_bytes_per_sec: self.ship_max_rate,
            })
        };
        c.archive = self.archive.settings()?;
        super::archive::check_fsync(c.sync, c.archive.as_ref())?;
        Ok(c)
    }
}

/// Runs the standby; SIGHUP re-reads its configuration with `reload`, and
/// once it is promoted in place, with `reload_as_primary`.
pub fn run(
    a: StandbyArgs,
    reload: crate::node::reload::Reloader<StandbyConfig>,
    reload_as_primary: crate::node::reload::Reloader<PrimaryConfig>,
) -> anyhow::Result<ExitCode> {
    let mut cfg = config(a).map_err(super::exit::Failure::config)?;
    cfg.reload = Some(reload);
    cfg.as_primary.reload = Some(reload_as_primary);
    run_standby(cfg)
        // Promoted in place, it serves as a primary, and may be fenced in turn.
        .map_err(super::exit::Failure::from_primary)?;
    Ok(ExitCode::SUCCESS)
}

/// The standby's configuration from its flags, with the files they name
/// (keys, certificates, password) read and checked.
pub(super) fn config(mut a: StandbyArgs) -> anyhow::Result<StandbyConfig> {
    // With --restore-from, the archive's key file reads the archive that is
    // followed (and, with --archive-to, encrypts the archive once promoted).
    let follow_key_file = match (&a.restore_from, &a.promoted.archive.archive_to) {
        (Some(_), None) => a.promoted.archive.archive_encryption_key_file.take(),
        (Some(_), Some(_)) => a.promoted.archive.archive_encryption_key_file.clone(),
        (None, _) => None,
    };
    let key = match &a.auth_key_file {
        Some(p) => Some(AuthKey::from_file(p)?),
        None => None,
    };
    let intake = match (&a.ship_listen, &a.restore_from) {
        (_, Some(url)) => {
            crate::archive::ArchiveStore::open(url)?;
            let every = a.restore_every.unwrap_or(DEFAULT_RESTORE_EVERY);
            anyhow::ensure!(!every.is_zero(), "--restore-every must be longer than 0");
            let key = match &follow_key_file {
                Some(f) => Some(crate::archive::ArchiveKey::from_file(f)?),
                None => None,
            };
            LogIntake::Archive(FollowArchive {
                url: url.clone(),
                every,
                key,
            })
        }
        (Some(ship_listen), None) => {
            if a.listen == *ship_listen && !a.listen.ends_with(":0") {
                anyhow::bail!(
                    "--listen and --ship-listen are both {}: Redis clients and shipments need an address each",
                    a.listen
                );
            }
            LogIntake::Link {
                ship_listen: ship_listen.clone(),
            }
        }
        (None, None) => anyhow::bail!("--ship-listen ADDR or --restore-from URL is needed"),
    };
    let tls = a.tls.load(None)?;
    let requirepass = super::secure::requirepass(a.requirepass_file.as_deref())?;
    let as_primary = a.promoted.config(
        &a.data_dir,
        &a.listen,
        key.clone(),
        tls.clone(),
        requirepass.clone(),
    )?;
    let cascade = as_primary.ship.clone().and_then(|mut c| {
        c.standbys.retain(|x| a.promoted.cascade_to.contains(x));
        (!c.standbys.is_empty()).then_some(c)
    });
    Ok(StandbyConfig {
        data_dir: a.data_dir,
        intake,
        listen: a.listen,
        apply_delay: a.apply_delay,
        key,
        limits: Limits::default(),
        max_query_bytes: usize::try_from(a.max_query_bytes).unwrap_or(usize::MAX),
        checkpoint_interval: a.checkpoint_interval.max(Duration::from_secs(1)),
        keep_snapshots: a.keep_snapshots.max(1),
        as_primary,
        tls,
        requirepass,
        monitor: a.monitor.config(),
        cascade,
        reload: None,
    })
}
