//! `logship ship`: ship a primary's data directory to one standby, outside the
//! primary (for the system's own cron, or a one-off catch-up).
//!
//! The identity comes from the control file (or, without one, from the WAL's
//! segment headers). If the primary is running (its admin socket answers),
//! nothing past the durable LSN it reports is shipped; if it is stopped, the
//! log is shipped up to the end of its valid records. Nothing on disk is ever
//! changed: a torn tail stays for the primary's own recovery.

use super::secure::LinkArgs;
use crate::admin::{self, AdminError};
use crate::fs::StdFs;
use crate::node::control::{Control, ControlError};
use crate::node::datadir::{SNAPSHOT_DIR, WAL_DIR};
use crate::primary::seed_source::SnapshotSeeds;
use crate::ship::send::resume::ship_once_resuming;
use crate::ship::send::schedule::Schedule;
use crate::ship::send::shipper::Shipper;
use crate::ship::{Acked, LogSource, ShipOptions};
use crate::wal::{format_lsn, scan_dir, Position};
use anyhow::Context;
use clap::Args;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long the running primary has to answer on its admin socket.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How often continuous shipping asks a running primary for its durable LSN.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Arguments of `ship`.
#[derive(Debug, Args)]
pub struct ShipArgs {
    /// The primary's data directory (running or stopped).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The standby's ship address (host:port).
    #[arg(long, value_name = "ADDR")]
    pub to: String,
    /// Ship once, wait for the standby's acknowledgement, print what was shipped
    /// and exit. Without it, ship continuously until interrupted.
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub link: LinkArgs,
}

/// What is being shipped, and up to where.
struct Origin {
    system_id: u64,
    timeline: u32,
    wal_dir: PathBuf,
    durable_lsn: u64,
    /// Running primary (`true`) or files on disk.
    running: bool,
}

/// The identity from the control file, or from the WAL when there is none.
fn identity(data_dir: &Path, wal_dir: &Path) -> anyhow::Result<(u64, u32)> {
    match Control::read(&StdFs, data_dir) {
        Ok(c) => Ok((c.system_id, c.timeline)),
        Err(ControlError::Io(crate::durable::IoError { source, .. }))
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            let scan = scan_dir(&StdFs, wal_dir)?;
            match (scan.system_id, scan.timeline()) {
                (Some(s), Some(t)) => Ok((s, t)),
                _ => anyhow::bail!(
                    "{} has no control file and {} holds no WAL: nothing to ship",
                    data_dir.display(),
                    wal_dir.display()
                ),
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn u64_field(v: &Value, name: &str) -> anyhow::Result<u64> {
    v.get(name)
        .and_then(Value::as_u64)
        .with_context(|| format!("the running node's status has no {name}"))
}

/// Asks a running primary for its durable LSN; `None` when nothing runs.
async fn running_durable_lsn(data_dir: &Path, system_id: u64) -> anyhow::Result<Option<u64>> {
    match admin::request(data_dir, json!({"cmd": "status"}), ADMIN_TIMEOUT).await {
        Ok(v) => {
            let role = v.get("role").and_then(Value::as_str).unwrap_or("");
            if role != "primary" {
                anyhow::bail!(
                    "{} is a running {role}, not a primary: ship from the primary's data directory",
                    data_dir.display()
                );
            }
            let sid = format!("{system_id:016x}");
            if v.get("system_id").and_then(Value::as_str) != Some(sid.as_str()) {
                anyhow::bail!(
                    "the node running on {} reports system {}, its control file says {sid}",
                    data_dir.display(),
                    v["system_id"]
                );
            }
            Ok(Some(u64_field(&v, "durable_lsn")?))
        }
        Err(AdminError::NotRunning(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn origin(data_dir: &Path) -> anyhow::Result<Origin> {
    if !data_dir.is_dir() {
        anyhow::bail!("data directory {} does not exist", data_dir.display());
    }
    let wal_dir = data_dir.join(WAL_DIR);
    if !wal_dir.is_dir() {
        anyhow::bail!(
            "{} is not a primary data directory (no {WAL_DIR}/)",
            data_dir.display()
        );
    }
    let (system_id, timeline) = identity(data_dir, &wal_dir)?;
    let (durable_lsn, running) = match running_durable_lsn(data_dir, system_id).await? {
        Some(lsn) => (lsn, true),
        None => {
            // Stopped: the end of the valid log. A torn tail is left alone (the
            // primary's recovery saves and truncates it); corruption is an error.
            let scan = tokio::task::spawn_blocking({
                let d = wal_dir.clone();
                move || scan_dir(&StdFs, &d)
            })
            .await
            .context("scan task failed")??;
            if let Some(t) = &scan.torn_tail {
                tracing::warn!(torn_tail = ?t, "the log ends in a torn tail; shipping the records before it");
            }
            (scan.end_lsn, false)
        }
    };
    Ok(Origin {
        system_id,
        timeline,
        wal_dir,
        durable_lsn,
        running,
    })
}

/// Runs `logship ship`.
///
/// # Errors
/// Bad flags, an unreadable or damaged data directory, a standby that cannot
/// be reached or refuses: one line naming what went wrong.
pub fn run(a: ShipArgs) -> anyhow::Result<ExitCode> {
    let key = a.link.key()?;
    let tls = a.link.tls()?;
    if !a.to.contains(':') {
        anyhow::bail!("--to '{}' is not an address (expected host:port)", a.to);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    rt.block_on(async move {
        let o = origin(&a.data_dir).await?;
        let (pos_tx, pos_rx) = watch::channel(Position {
            written_lsn: o.durable_lsn,
            durable_lsn: o.durable_lsn,
            ..Position::default()
        });
        let snap_dir = a.data_dir.join(SNAPSHOT_DIR);
        let src = LogSource {
            fs: StdFs::shared(),
            wal_dir: o.wal_dir.clone(),
            system_id: o.system_id,
            timeline: o.timeline,
            position: pos_rx,
            seed: snap_dir
                .is_dir()
                .then(|| Arc::new(SnapshotSeeds::new(snap_dir, o.system_id)) as _),
            taps: None,
        };
        let mut opts = ShipOptions::new(&a.to, key);
        opts.compression = a.link.compress;
        opts.tls = tls;
        opts.max_rate_bytes_per_sec = a.link.ship_max_rate;
        tracing::debug!(
            system_id = %format!("{:016x}", o.system_id),
            timeline = o.timeline,
            durable_lsn = o.durable_lsn,
            primary = if o.running { "running" } else { "stopped" },
            standby = %a.to,
            "shipping"
        );
        if a.once {
            let (acked, _) = watch::channel(Acked::default());
            // The message names the cause already; no source chain repeating it.
            let done = ship_once_resuming(&src, &opts, &acked)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let r = &done.last;
            let seeded = r.seeded_at_lsn.map_or(String::new(), |l| {
                format!(", seeded with the snapshot first (WAL from {})", format_lsn(l))
            });
            // After cuts, the counts are the last attempt's: what the others
            // delivered is in the range, what they lost was sent again.
            let cuts = match done.attempts {
                1 => String::new(),
                n => format!(
                    " in {n} attempts (the link was cut {} times; the counts are the last attempt's)",
                    n - 1
                ),
            };
            crate::say!(
                "shipped {} .. {} ({} .. {}) to {}{cuts}: {} records, {} bytes ({} on the wire){seeded}, {} ms",
                format_lsn(done.from_lsn),
                format_lsn(r.to_lsn),
                done.from_lsn,
                r.to_lsn,
                a.to,
                r.records,
                r.raw_bytes,
                r.wire_bytes,
                done.elapsed.as_millis()
            );
            drop(pos_tx);
            return Ok(ExitCode::SUCCESS);
        }
        continuous(src, opts, pos_tx, &a.data_dir, o).await
    })
}

/// Ships until SIGINT/SIGTERM, following a running primary's durable LSN.
async fn continuous(
    src: LogSource,
    opts: ShipOptions,
    pos_tx: watch::Sender<Position>,
    data_dir: &Path,
    o: Origin,
) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigterm = signal(SignalKind::terminate()).context("install the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("install the SIGINT handler")?;
    let shipper = Shipper::start(src, vec![opts], Schedule::Continuous);
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    loop {
        tokio::select! {
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            _ = tick.tick() => {
                // Only a running primary's log grows; a stopped one's is shipped as read.
                match running_durable_lsn(data_dir, o.system_id).await {
                    Ok(Some(lsn)) => {
                        pos_tx.send_if_modified(|p| {
                            let grew = lsn > p.durable_lsn;
                            if grew {
                                p.durable_lsn = lsn;
                                p.written_lsn = lsn;
                            }
                            grew
                        });
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot ask the primary for its durable LSN"),
                }
            }
        }
    }
    let s = shipper.status(pos_tx.borrow().durable_lsn);
    shipper.stop();
    if let Some(s) = s.first() {
        crate::say!(
            "stopped: standby {} acknowledged {} ({}), {} shipments, {} records, {} bytes",
            s.address,
            format_lsn(s.acked_lsn),
            s.acked_lsn,
            s.shipments_total,
            s.shipped_records_total,
            s.shipped_bytes_total
        );
    }
    Ok(ExitCode::SUCCESS)
}
