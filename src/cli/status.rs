//! `logship status`: a node's position and lag, from its admin socket when it
//! runs, or from its files when it is stopped.

use super::parse;
use crate::admin::{request, AdminError};
use crate::fs::StdFs;
use crate::node::control::{Control, Role};
use crate::status::check::{evaluate, Limit, Thresholds, Verdict};
use crate::status::{render_text, FenceStatus, NodeStatus};
use crate::wal::{scan_dir, timeline};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The node's data directory.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Print one JSON object (field names are documented in docs/monitoring.md).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub check: CheckArgs,
}

/// Monitoring thresholds: with any of them, `status` prints a
/// monitoring-plugin summary line first and exits 0 OK, 1 WARNING,
/// 2 CRITICAL, 3 UNKNOWN.
#[derive(Debug, Args, Default)]
pub struct CheckArgs {
    /// Standby: WARNING when lag_seconds reaches DURATION.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub warn_lag: Option<Duration>,
    /// Standby: CRITICAL when lag_seconds reaches DURATION.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub crit_lag: Option<Duration>,
    /// WARNING when the lag in bytes reaches SIZE (standby; per standby on a primary).
    #[arg(long, value_name = "SIZE", value_parser = parse::size)]
    pub warn_lag_bytes: Option<u64>,
    /// CRITICAL when the lag in bytes reaches SIZE.
    #[arg(long, value_name = "SIZE", value_parser = parse::size)]
    pub crit_lag_bytes: Option<u64>,
    /// Primary: WARNING when a standby's last successful shipment is this old
    /// (standby: its last contact with the primary).
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub warn_ship_age: Option<Duration>,
    /// CRITICAL counterpart of --warn-ship-age.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub crit_ship_age: Option<Duration>,
    /// Standby: WARNING when nothing was applied for DURATION (while records
    /// wait, or while the primary is out of touch).
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub warn_apply_age: Option<Duration>,
    /// CRITICAL counterpart of --warn-apply-age.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub crit_apply_age: Option<Duration>,
    /// Standby following an archive: WARNING when the archive last proved its
    /// log complete DURATION ago (`archive_age_seconds`).
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub warn_archive_age: Option<Duration>,
    /// CRITICAL counterpart of --warn-archive-age.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub crit_archive_age: Option<Duration>,
    /// Primary: WARNING when a standby's shipments failed N times in a row.
    #[arg(long, value_name = "N")]
    pub warn_failures: Option<u32>,
    /// Primary: CRITICAL when a standby's shipments failed N times in a row.
    #[arg(long, value_name = "N")]
    pub crit_failures: Option<u32>,
}

impl CheckArgs {
    /// The thresholds given on the command line.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            lag: Limit {
                warn: self.warn_lag,
                crit: self.crit_lag,
            },
            lag_bytes: Limit {
                warn: self.warn_lag_bytes,
                crit: self.crit_lag_bytes,
            },
            ship_age: Limit {
                warn: self.warn_ship_age,
                crit: self.crit_ship_age,
            },
            apply_age: Limit {
                warn: self.warn_apply_age,
                crit: self.crit_apply_age,
            },
            archive_age: Limit {
                warn: self.warn_archive_age,
                crit: self.crit_archive_age,
            },
            failures: Limit {
                warn: self.warn_failures,
                crit: self.crit_failures,
            },
        }
    }
}

pub fn run(a: StatusArgs) -> anyhow::Result<ExitCode> {
    let thresholds = a.check.thresholds();
    if !thresholds.any() {
        let status = read(&a.data_dir)?;
        if a.json {
            crate::say!("{}", serde_json::to_string(&status)?);
        } else {
            crate::say_raw!("{}", render_text(&status, crate::clock::now_unix_ms()));
        }
        return Ok(ExitCode::SUCCESS);
    }
    // A monitoring check: whatever goes wrong is UNKNOWN with the reason, on stdout.
    let now = crate::clock::now_unix_ms();
    let (status, verdict) = match read(&a.data_dir) {
        Ok(s) => {
            let v = evaluate(&s, &thresholds, now);
            (Some(s), v)
        }
        Err(e) => (None, Verdict::unknown(&format!("{e:#}"))),
    };
    if a.json {
        let mut v = match &status {
            Some(s) => serde_json::to_value(s)?,
            None => serde_json::json!({"data_dir": a.data_dir.display().to_string()}),
        };
        v["check"] = serde_json::to_value(&verdict)?;
        crate::say!("{v}");
    } else {
        crate::say!("{}", verdict.summary);
        if let Some(s) = &status {
            crate::say_raw!("{}", render_text(s, now));
        }
    }
    Ok(ExitCode::from(verdict.state.exit_code()))
}

/// The status from the running node, or from its files when it is stopped.
fn read(dir: &Path) -> anyhow::Result<NodeStatus> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match rt.block_on(request(
        dir,
        serde_json::json!({"cmd": "status"}),
        Duration::from_secs(5),
    )) {
        Ok(v) => Ok(serde_json::from_value::<NodeStatus>(v)?),
        Err(AdminError::NotRunning(_)) => offline(dir),
        Err(e) => Err(e.into()),
    }
}

/// The status of a stopped node, read from its control file and log.
fn offline(dir: &Path) -> anyhow::Result<NodeStatus> {
    let wal_dir = dir.join(crate::node::datadir::WAL_DIR);
    let control = Control::read(&StdFs, dir).ok();
    if control.is_none() && !wal_dir.exists() {
        anyhow::bail!(
            "{} is not a logship data directory (no control file, no wal/)",
            dir.display()
        );
    }
    let report = scan_dir(&StdFs, &wal_dir)?;
    let end = report.torn_tail.as_ref().map_or(report.end_lsn, |t| t.lsn);
    let role = control.as_ref().map_or(Role::Standby, |c| c.role);
    let sid = control.as_ref().map(|c| c.system_id).or(report.system_id);
    let tl = report
        .timeline()
        .unwrap_or(timeline::latest_timeline(&StdFs, &wal_dir)?);
    let mut s = NodeStatus {
        role: role.to_string(),
        system_id: sid.map_or(String::new(), |s| format!("{s:016x}")),
        timeline: tl,
        running: false,
        data_dir: dir.display().to_string(),
        ..NodeStatus::default()
    };
    match role {
        Role::Primary => {
            s.write_lsn = Some(end);
            s.durable_lsn = Some(end);
            s.fenced = control
                .as_ref()
                .and_then(|c| c.fenced.as_ref())
                .map(FenceStatus::from);
        }
        Role::Standby => {
            let snap =
                crate::store::snapshot::list(&StdFs, &dir.join(crate::node::datadir::SNAPSHOT_DIR))
                    .ok()
                    .and_then(|v| v.last().map(|x| x.0))
                    .unwrap_or(0);
            s.received_lsn = Some(end);
            // What a restart would have applied before replaying: the newest checkpoint.
            s.applied_lsn = Some(snap);
            // The primary's last reported position, kept by the standby.
            if let Some(p) = crate::node::position::PrimaryPosition::read(&StdFs, dir) {
                let primary_durable = p.primary_durable_lsn.max(end);
                s.primary_durable_lsn = Some(primary_durable);
                s.last_receive_unix_ms = Some(p.last_receive_unix_ms);
                s.lag_bytes = Some(primary_durable.saturating_sub(snap));
            }
        }
    }
    Ok(s)
}
