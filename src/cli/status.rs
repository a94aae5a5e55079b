//! `logship status`: a node's position and lag, from its admin socket when it
//! runs, or from its files when it is stopped.

use crate::admin::{request, AdminError};
use crate::primary::control::{Control, Role};
use crate::status::{render_text, NodeStatus};
use crate::wal::{scan_dir, timeline, StdFs};
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
    /// Print one JSON object (field names are documented in README).
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: StatusArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let status = match rt.block_on(request(
        &a.data_dir,
        serde_json::json!({"cmd": "status"}),
        Duration::from_secs(5),
    )) {
        Ok(v) => serde_json::from_value::<NodeStatus>(v)?,
        Err(AdminError::NotRunning(_)) => offline(&a.data_dir)?,
        Err(e) => return Err(e.into()),
    };
    if a.json {
        println!("{}", serde_json::to_string(&status)?);
    } else {
        print!("{}", render_text(&status, crate::primary::now_unix_ms()));
    }
    Ok(ExitCode::SUCCESS)
}

/// The status of a stopped node, read from its control file and log.
fn offline(dir: &Path) -> anyhow::Result<NodeStatus> {
    let wal_dir = dir.join(crate::primary::datadir::WAL_DIR);
    let control = Control::read(dir).ok();
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
        }
        Role::Standby => {
            let snap =
                crate::store::snapshot::list(&dir.join(crate::primary::datadir::SNAPSHOT_DIR))
                    .ok()
                    .and_then(|v| v.last().map(|x| x.0))
                    .unwrap_or(0);
            s.received_lsn = Some(end);
            // What a restart would have applied before replaying: the newest checkpoint.
            s.applied_lsn = Some(snap);
        }
    }
    Ok(s)
}
