//! `logship promote` as a workflow, for the command line to drive and
//! print: find where the standby stands, reach and fence the old primary
//! when it is given, wait for the final shipment, check, then promote —
//! through a running standby's admin socket ([`online`]) or on a stopped
//! standby's directory ([`offline`]). Each step is told to a [`Narrator`] as it
//! happens; the run ends in an [`Ended`]: a [`Summary`] with its [`Outcome`],
//! or a failure in one line.

mod offline;
mod online;

use super::remote::Primary;
use crate::admin::{request, AdminError};
use crate::node::standing::{check, Standing, Verdict};
use crate::primary::fence::{FenceReply, PositionReply};
use crate::ship::AuthKey;
use crate::status::NodeStatus;
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to promote, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The standby's data directory.
    pub data_dir: PathBuf,
    /// The old primary's RESP address, when it may still be reachable: it is
    /// asked for a final shipment and fenced.
    pub primary: Option<String>,
    /// The ship key that authenticates the fence.
    pub key: Option<AuthKey>,
    /// Check and report without changing anything.
    pub dry_run: bool,
    /// Promote even when behind, or when `primary` cannot be reached.
    pub force: bool,
    /// Longest wait for the final shipment and for replay to catch up.
    pub wait: Duration,
    /// Why (recorded in the timeline history).
    pub reason: String,
}

/// How a promotion ended; the numbers are `logship promote`'s exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Promoted (or, with `--dry-run`, ready to promote).
    Promoted = 0,
    /// Usage or I/O error.
    Error = 1,
    /// Refused: the standby is behind (or, with `--dry-run`, not ready).
    Behind = 2,
    /// The data directory is not a standby's.
    NotStandby = 3,
    /// A standby process holds the directory but does not answer.
    Unreachable = 4,
    /// `--primary` was given but the primary could not be fenced.
    PrimaryNotFenced = 5,
}

/// Told each step as it happens.
pub trait Narrator {
    /// A step of the promotion (`position`, `primary`, `apply`, `check`, …).
    fn step(&self, step: &str, text: &str);
    /// Something beside the steps the operator must know (a fence lifted, or
    /// one that could not be).
    fn notice(&self, text: &str);
}

/// The old primary's answer, as the summary shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PrimaryAnswer {
    /// `--dry-run`: where it stands.
    Position(PositionReply),
    /// Fenced, with its final shipment.
    Fence(FenceReply),
}

/// What the run found and did (`promote --json` prints it).
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub mode: &'static str,
    pub dry_run: bool,
    pub ready: bool,
    pub promoted: bool,
    pub reasons: Vec<String>,
    pub received_lsn: u64,
    pub applied_lsn: u64,
    pub primary_durable_lsn: u64,
    pub loss_bytes: u64,
    pub loss_window_seconds: f64,
    pub old_timeline: u32,
    pub new_timeline: u32,
    pub promotion_lsn: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<PrimaryAnswer>,
    pub took_ms: u64,
    /// Of which the node spent applying what it had received.
    pub apply_ms: u64,
}

impl Summary {
    fn verdict(&mut self, v: &Verdict) {
        self.ready = v.ready;
        self.reasons = v.reasons.clone();
        self.loss_bytes = v.loss_bytes;
        self.loss_window_seconds = v.loss_window_seconds;
    }
}

/// How the run ended.
#[derive(Debug)]
pub enum Ended {
    /// It ran to a verdict: promoted, ready, or refused; the summary says.
    Report { outcome: Outcome, summary: Summary },
    /// It stopped on an error, said in one line.
    Failed { outcome: Outcome, message: String },
}

impl Ended {
    fn report(outcome: Outcome, summary: Summary) -> Ended {
        Ended::Report { outcome, summary }
    }

    fn failed(outcome: Outcome, message: String) -> Ended {
        Ended::Failed { outcome, message }
    }

    /// The outcome either way.
    pub fn outcome(&self) -> Outcome {
        match self {
            Ended::Report { outcome, .. } | Ended::Failed { outcome, .. } => *outcome,
        }
    }
}

/// Promotes the standby of `o.data_dir`: online when its process answers on
/// the admin socket, offline when none runs.
///
/// # Errors
/// Only what prevents the run itself (the runtime cannot start, a reply that
/// does not parse); every refusal and failure of the promotion is an
/// [`Ended`].
pub fn promote(o: &Options, n: &dyn Narrator) -> anyhow::Result<Ended> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    match rt.block_on(status(&o.data_dir)) {
        Ok(s) if s.role != "standby" => Ok(Ended::failed(
            Outcome::NotStandby,
            format!(
                "{} is served by a running {}, not a standby",
                o.data_dir.display(),
                s.role
            ),
        )),
        Ok(s) => rt.block_on(online::online(o, s, n)),
        Err(AdminError::NotRunning(_)) => Ok(offline::offline(o, n)),
        Err(e) => Ok(Ended::failed(
            Outcome::Unreachable,
            format!(
                "standby not reachable: a process holds {} but its admin socket does not answer ({e})",
                o.data_dir.display()
            ),
        )),
    }
}

fn lsn(tl: u32, l: u64) -> String {
    crate::status::lsn_text(tl, l)
}

/// Ends a `--dry-run`: the verdict line and its exit code.
fn dry_run_verdict(n: &dyn Narrator, sum: Summary) -> Ended {
    n.step(
        "verdict",
        &format!("ready to promote: {}", if sum.ready { "yes" } else { "no" }),
    );
    let o = if sum.ready {
        Outcome::Promoted
    } else {
        Outcome::Behind
    };
    Ended::report(o, sum)
}

fn say_verdict(n: &dyn Narrator, v: &Verdict) {
    if v.reasons.is_empty() {
        n.step(
            "check",
            "applied = received, and nothing the primary reported durable is missing",
        );
    }
    for r in &v.reasons {
        n.step("check", r);
    }
}

fn say_done(n: &dyn Narrator, sum: &Summary) {
    let loss = if sum.loss_bytes == 0 {
        "none".to_string()
    } else {
        format!(
            "{} bytes of log (writes of up to {:.1} s)",
            sum.loss_bytes, sum.loss_window_seconds
        )
    };
    n.step(
        "promoted",
        &format!(
            "promotion LSN {}, timeline {} -> {}, data loss: {loss}, took {} ms",
            lsn(sum.new_timeline, sum.promotion_lsn),
            sum.old_timeline,
            sum.new_timeline,
            sum.took_ms
        ),
    );
}

/// Lifts the fence of a primary fenced for a promotion that did not happen.
fn unfence(o: &Options, n: &dyn Narrator, fenced: &Option<String>) {
    let Some(addr) = fenced else { return };
    let key = o.key.as_ref();
    let r = tokio::task::block_in_place(|| Primary::connect(addr, o.wait)?.unfence(key));
    match r {
        Ok(_) => n.notice(&format!(
            "the primary at {addr} was unfenced: it serves writes again"
        )),
        Err(e) => n.notice(&format!(
            "warning: the primary at {addr} stays fenced ({e}); {} was not promoted",
            o.data_dir.display()
        )),
    }
}

fn report_position(n: &dyn Narrator, s: &Standing, age_ms: Option<u64>) {
    let tl = s.timeline;
    let age = age_ms.map_or(String::new(), |ms| {
        format!(" (last heard {:.1} s ago)", ms as f64 / 1000.0)
    });
    n.step(
        "position",
        &format!(
            "received {}, applied {}, timeline {tl}; the primary's durable LSN was {}{age}",
            lsn(tl, s.received_lsn),
            lsn(tl, s.applied_lsn),
            lsn(tl, s.primary_durable_lsn),
        ),
    );
}

/// A standby following an archive has no live primary to compare with: how
/// far behind the archive was known to be is all there is to say.
fn report_archive(n: &dyn Narrator, url: &str, age_seconds: Option<f64>) {
    let known = age_seconds.map_or(
        "the archive proved nothing about the log's end yet".to_string(),
        |s| format!("the archive last proved this standby's log complete {s:.1} s ago"),
    );
    n.step(
        "archive",
        &format!(
            "following {url}, no live primary to compare with: {known}; anything the primary wrote after that and did not archive is not here"
        ),
    );
}

async fn status(dir: &Path) -> Result<NodeStatus, AdminError> {
    let v = request(dir, json!({"cmd": "status"}), Duration::from_secs(5)).await?;
    serde_json::from_value(v).map_err(|source| AdminError::Result {
        path: crate::admin::socket_path(dir),
        source,
    })
}
