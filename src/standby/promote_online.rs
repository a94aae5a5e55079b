//! Online promotion: the running standby becomes the primary in place.
//!
//! In order: receipt stops (the shipment in progress gives way, new ones are
//! refused); everything received is applied; the LSN check runs again on the
//! final numbers; the new timeline's history file is written durably; the
//! control file says primary; the log opens for writing on the new timeline;
//! and the node's keyspace, RESP listener and data directory lock are handed to
//! the primary server, which serves read-write on the same address. The ship
//! listener stays up and refuses every shipment, naming the timeline that ended.

use super::node::{Handover, IdentityError, Node};
use crate::fs::StdFs;
use crate::node::standing::{check, Verdict};
use crate::node::switch::SwitchError;
use crate::primary::recovery::Recovered;
use crate::ship::receive::intake::StillWriting;
use crate::store::{snapshot, KvState};
use crate::wal::{self, format_lsn, WalError, WalOptions};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long receipt may take to stop.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// A promotion request (the admin socket's `{"cmd":"promote", …}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Request {
    /// Promote even when the check finds the standby behind.
    #[serde(default)]
    pub force: bool,
    /// Recorded in the history file.
    #[serde(default)]
    pub reason: String,
    /// Longest wait for everything received to be applied.
    #[serde(default)]
    pub wait_ms: u64,
    /// The primary's durable LSN when it was reached for a final shipment
    /// (newer than what the last shipment said).
    #[serde(default)]
    pub primary_durable_lsn: Option<u64>,
}

/// What a promotion did (or why it did not).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub promoted: bool,
    pub verdict: Verdict,
    pub applied_lsn: u64,
    pub old_timeline: u32,
    /// The new timeline (0 when not promoted).
    pub new_timeline: u32,
    /// Where the new timeline starts (0 when not promoted).
    pub promotion_lsn: u64,
    /// From the request to serving writes, milliseconds.
    pub took_ms: u64,
    /// Of which applying what was received but not yet applied.
    #[serde(default)]
    pub apply_ms: u64,
}

/// Why an online promotion did not happen, or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("a promotion of this node is already running")]
    Running,
    #[error("this node was already promoted")]
    AlreadyPromoted,
    #[error(transparent)]
    StillReceiving(#[from] StillWriting),
    #[error("replay did not catch up within {wait:?}: applied LSN {}, received LSN {}", format_lsn(*applied_lsn), format_lsn(*received_lsn))]
    NotCaughtUp {
        wait: Duration,
        applied_lsn: u64,
        received_lsn: u64,
    },
    #[error("this standby has received nothing from a primary: there is nothing to promote")]
    NothingReceived,
    #[error("promotion task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Switch(#[from] SwitchError),
    #[error("open the log for writing: {0}")]
    OpenLog(#[source] WalError),
    #[error("the log continues at LSN {found:#x}, not at the switch LSN {switch:#x}")]
    NotAtSwitch { found: u64, switch: u64 },
    #[error("the standby is shutting down; the data directory is promoted and `logship primary` serves it")]
    ShuttingDown,
}

/// Promotes the running standby `node` (see the module doc). A refusal by the
/// check is an `Ok` report with `promoted: false`; receipt then resumes.
///
/// # Errors
/// A promotion already running or done, receipt that would not stop, replay
/// that does not catch up within the wait, or a failure writing the switch.
pub async fn promote(node: &Arc<Node>, req: Request) -> Result<Report, PromoteError> {
    let started = Instant::now();
    let Ok(_one) = node.promote_lock.try_lock() else {
        return Err(PromoteError::Running);
    };
    if node.promoted.load(Ordering::Acquire) {
        return Err(PromoteError::AlreadyPromoted);
    }
    node.receiver
        .close("this standby is being promoted".into(), CLOSE_TIMEOUT)
        .await?;
    tracing::debug!(
        us = started.elapsed().as_micros() as u64,
        "promotion: receipt closed"
    );
    // Everything received is applied now, whatever --apply-delay says.
    node.hurry.store(true, Ordering::Release);
    let result = promote_closed(node, &req, started).await;
    match &result {
        Ok(r) if r.promoted => {}
        _ => {
            node.spare.release();
            node.hurry.store(false, Ordering::Release);
            node.receiver.reopen();
        }
    }
    result
}

async fn promote_closed(
    node: &Arc<Node>,
    req: &Request,
    started: Instant,
) -> Result<Report, PromoteError> {
    let received = node.receiver.received.borrow().received_lsn;
    let mut applied = node.receiver.applied.clone();
    let wait = Duration::from_millis(req.wait_ms.max(1000));
    let apply_started = Instant::now();
    let caught_up = tokio::time::timeout(wait, async {
        applied.wait_for(|a| *a >= received).await.is_ok()
    })
    .await
    .unwrap_or(false);
    let mut standing = node.standing();
    if let Some(p) = req.primary_durable_lsn {
        standing.primary_durable_lsn = standing.primary_durable_lsn.max(p);
    }
    let verdict = check(&standing, crate::clock::now_unix_ms());
    let mut report = Report {
        promoted: false,
        verdict,
        applied_lsn: standing.applied_lsn,
        old_timeline: standing.timeline,
        new_timeline: 0,
        promotion_lsn: 0,
        took_ms: 0,
        apply_ms: apply_started.elapsed().as_millis() as u64,
    };
    if !caught_up {
        return Err(PromoteError::NotCaughtUp {
            wait,
            applied_lsn: standing.applied_lsn,
            received_lsn: received,
        });
    }
    if standing.system_id == 0 {
        return Err(PromoteError::NothingReceived);
    }
    if !report.verdict.ready && !req.force {
        report.took_ms = started.elapsed().as_millis() as u64;
        return Ok(report);
    }
    let n = node.clone();
    let reason = if req.reason.is_empty() {
        "promoted".to_string()
    } else {
        req.reason.clone()
    };
    tracing::debug!(
        us = started.elapsed().as_micros() as u64,
        "promotion: applied and checked"
    );
    let (handover, new_tl, switch_lsn, closed) =
        tokio::task::spawn_blocking(move || switch(&n, &reason))
            .await
            .map_err(PromoteError::Task)??;
    tracing::debug!(
        us = started.elapsed().as_micros() as u64,
        "promotion: switched"
    );
    node.receiver.promoted(new_tl, closed);
    // New clients wait in the listen backlog for the primary server from
    // here on (a second at most for the accept loop to let go).
    node.accept_open.send_replace(false);
    let mut closed_rx = node.accept_closed.subscribe();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        closed_rx.wait_for(|c| *c),
    )
    .await;
    tracing::debug!(
        us = started.elapsed().as_micros() as u64,
        "promotion: accept loop closed"
    );
    node.promoted.store(true, Ordering::Release);
    let sent = node
        .handover
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .map(|tx| tx.send(handover).is_ok());
    if sent != Some(true) {
        return Err(PromoteError::ShuttingDown);
    }
    report.promoted = true;
    report.new_timeline = new_tl;
    report.promotion_lsn = switch_lsn;
    report.took_ms = started.elapsed().as_millis() as u64;
    node.monitor.record_promotion(serde_json::json!({
        "old_timeline": report.old_timeline,
        "new_timeline": new_tl,
        "promotion_lsn": switch_lsn,
        "applied_lsn": report.applied_lsn,
        "loss_bytes": report.verdict.loss_bytes,
        "forced": req.force && !report.verdict.ready,
        "took_ms": report.took_ms,
    }));
    tracing::warn!(
        promotion_lsn = switch_lsn,
        old_timeline = report.old_timeline,
        new_timeline = new_tl,
        loss_bytes = report.verdict.loss_bytes,
        forced = req.force && !report.verdict.ready,
        took_ms = report.took_ms,
        "promoted: serving writes on timeline {new_tl} from LSN {}",
        wal::format_lsn(switch_lsn)
    );
    Ok(report)
}

/// Ends the received timeline, makes the directory a primary's and opens the
/// log on the new timeline. Returns the handover, the new timeline, the switch
/// LSN and the timelines the new history closes.
#[allow(clippy::type_complexity)]
fn switch(
    node: &Node,
    reason: &str,
) -> Result<(Handover, u32, u64, Vec<(u32, u64)>), PromoteError> {
    let wal_dir = node.wal_dir();
    let t = Instant::now();
    node.ensure_control(node.receiver.received.borrow().timeline)?;
    let sw = crate::node::switch::begin_timeline(
        &node.cfg.data_dir,
        reason,
        crate::wal::scan::ScanDepth::Tail,
    )?;
    let history_ms = t.elapsed().as_secs_f64() * 1000.0;
    let (control, new_tl, switch_lsn, closed) =
        (sw.control, sw.new_timeline, sw.switch_lsn, sw.closed);
    let fs = StdFs::shared();
    let cfg = &node.cfg.as_primary;
    let mut opts = WalOptions::new(&wal_dir, control.system_id, new_tl);
    opts.segment_bytes = control.segment_bytes;
    opts.sync = cfg.sync;
    opts.max_record_bytes = crate::wal::writer::MAX_RECORD_BYTES_LIMIT;
    opts.start_lsn = switch_lsn;
    opts.first_segment_file = node.spare.take(control.segment_bytes);
    let spare = opts.first_segment_file.is_some();
    let (log, rec) =
        wal::recovery::open_after(fs, opts, Some(sw.scan)).map_err(PromoteError::OpenLog)?;
    tracing::debug!(
        history_and_control_ms = history_ms,
        open_log_ms = t.elapsed().as_secs_f64() * 1000.0 - history_ms,
        prepared_ahead = spare,
        "promotion: timeline switched"
    );
    if rec.next_lsn != switch_lsn {
        let _ = log.close();
        return Err(PromoteError::NotAtSwitch {
            found: rec.next_lsn,
            switch: switch_lsn,
        });
    }
    let t = Instant::now();
    let mut state: KvState = node.lock_state().clone();
    tracing::debug!(
        clone_ms = t.elapsed().as_secs_f64() * 1000.0,
        "promotion: keyspace copied"
    );
    state.advance_to(switch_lsn);
    // The standby's clients are turned away: what they watched is not the
    // new primary's (whose clients are numbered anew).
    state.watches = Default::default();
    let newest = snapshot::list(&StdFs, &node.snapshot_dir())
        .ok()
        .and_then(|v| v.last().cloned());
    let recovered = Recovered {
        state,
        wal: log,
        snapshot: newest,
        replayed_records: 0,
        replay_time: Duration::ZERO,
        replay_cpu_time: Duration::ZERO,
        next_lsn: switch_lsn,
    };
    Ok((Handover { control, recovered }, new_tl, switch_lsn, closed))
}
