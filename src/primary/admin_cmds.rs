//! The primary's answers on the admin socket: `{"cmd":"status"}` gives the
//! [`NodeStatus`] of `status --json`; `{"cmd":"ship_now"}` starts a shipment
//! to every standby whatever the schedule.

use super::Shared;
use crate::admin::{Handler, Reply};
use crate::status::{FenceStatus, NodeStatus};
use serde_json::{json, Value};
use std::sync::Arc;

/// The primary's status now.
pub fn status(shared: &Shared) -> NodeStatus {
    let pos = shared.wal.position();
    NodeStatus {
        role: "primary".into(),
        system_id: format!("{:016x}", shared.control.system_id),
        timeline: shared.control.timeline,
        running: true,
        data_dir: shared.data_dir.display().to_string(),
        write_lsn: Some(pos.written_lsn),
        durable_lsn: Some(pos.durable_lsn),
        standbys: Some(shared.shipping.standbys(pos.durable_lsn)),
        ship_schedule: shared.shipping.schedule(),
        listen: Some(shared.cfg.listen.clone()),
        started_unix_ms: Some(shared.monitor.started_unix_ms),
        fenced: shared.lock_db().fenced.as_ref().map(FenceStatus::from),
        archive: shared.shipping.archive().map(|a| a.status(pos.durable_lsn)),
        ..NodeStatus::default()
    }
}

/// The status as the monitor reads it (a default, not-running status once the
/// server is gone).
pub fn status_source(shared: &Arc<Shared>) -> crate::metrics::Source {
    let weak = Arc::downgrade(shared);
    Arc::new(move || {
        weak.upgrade()
            .map_or_else(NodeStatus::default, |s| status(&s))
    })
}

/// Why the primary's admin socket refused a request.
#[derive(Debug, thiserror::Error)]
enum AdminCmdError {
    #[error("unknown admin command '{0}' (a primary answers status, ship_now)")]
    Unknown(String),
    #[error("this primary ships to no standby (no --ship-to)")]
    NoStandbys,
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

/// The admin socket handler of a running primary.
pub fn handler(shared: Arc<Shared>) -> Handler {
    Arc::new(move |req: Value| -> Reply {
        let shared = shared.clone();
        Box::pin(async move {
            let answer = match req.get("cmd").and_then(Value::as_str).unwrap_or("") {
                "status" => serde_json::to_value(status(&shared)).map_err(AdminCmdError::Json),
                "ship_now" if shared.shipping.ship_now() => Ok(json!({"shipping": true})),
                "ship_now" => Err(AdminCmdError::NoStandbys),
                other => Err(AdminCmdError::Unknown(other.to_string())),
            };
            Ok(answer?)
        })
    })
}
