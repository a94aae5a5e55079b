//! `logship promote`: the arguments, the steps and summary printed as they
//! come, the `--on-event` hook, and the exit code. The promotion itself is
//! [`crate::promote::workflow`].

use crate::config::layers::Layered;
use crate::config::Section;
use crate::events::{run_hook, Event, EventKind, HookOutcome};
use crate::promote::workflow::{self, Ended, Narrator, Options, Summary};
use crate::ship::AuthKey;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  promoted (--dry-run: ready to promote)
  1  usage or I/O error
  2  refused: the standby is behind the primary (--dry-run: not ready); --force overrides
  3  not a standby (a primary's directory, or not a logship directory)
  4  standby not reachable (its process holds the directory but does not answer)
  5  --primary given, but the primary could not be reached or fenced";

/// Arguments of `promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The standby's data directory.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The old primary's RESP address, if it may still be reachable: it is
    /// asked for a final shipment (the tail of its log) and fenced (it refuses
    /// writes from then on).
    #[arg(long, value_name = "ADDR")]
    pub primary: Option<String>,
    /// The shared ship key, to authenticate the fence request to the primary.
    #[arg(long, value_name = "FILE")]
    pub auth_key_file: Option<PathBuf>,
    /// Check and report ("ready to promote: yes/no") without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Promote even if the standby is behind (the loss is reported), or the
    /// primary given with --primary cannot be reached.
    #[arg(long)]
    pub force: bool,
    /// Longest wait for the final shipment and for replay to catch up.
    #[arg(long, default_value = "60s", value_parser = super::parse::duration)]
    pub wait: Duration,
    /// Why (recorded in the timeline history file).
    #[arg(long, default_value = "promoted by logship promote")]
    pub reason: String,
    /// Print one JSON object instead of the steps.
    #[arg(long)]
    pub json: bool,
    /// Run CMD (through sh -c) with a `promotion` event on stdin once this
    /// command has promoted the standby, online or offline (a running
    /// standby's own --on-event reports an online promotion as well).
    #[arg(long, value_name = "CMD")]
    pub on_event: Option<String>,
    /// Kill the --on-event hook still running after DURATION.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = super::parse::duration)]
    pub on_event_timeout: Duration,
}

/// The steps as they happen (on stderr with --json, so stdout is one object).
struct Steps {
    json: bool,
    started: Instant,
}

impl Narrator for Steps {
    fn step(&self, step: &str, text: &str) {
        let line = format!(
            "[{:>6.3}s] {step:<9} {text}",
            self.started.elapsed().as_secs_f64()
        );
        if self.json {
            crate::say_err!("{line}");
        } else {
            crate::say!("{line}");
        }
    }

    fn notice(&self, text: &str) {
        crate::say_err!("logship: {text}");
    }
}

/// Runs the `--on-event` hook, if any, with the `promotion` event of what
/// this command did; a failing hook is reported, the promotion stands.
fn promotion_event(a: &PromoteArgs, steps: &Steps, sum: &Summary) {
    let Some(command) = &a.on_event else { return };
    let ev = Event {
        event: EventKind::Promotion,
        unix_ms: crate::clock::now_unix_ms(),
        node: format!("standby {} ({})", a.data_dir.display(), sum.mode),
        details: json!({
            "mode": sum.mode,
            "old_timeline": sum.old_timeline,
            "new_timeline": sum.new_timeline,
            "promotion_lsn": sum.promotion_lsn,
            "applied_lsn": sum.applied_lsn,
            "loss_bytes": sum.loss_bytes,
            "forced": a.force && !sum.ready,
            "took_ms": sum.took_ms,
        }),
    };
    let json = serde_json::to_string(&ev).unwrap_or_default();
    let said = match run_hook(command, &json, a.on_event_timeout) {
        HookOutcome::Exited(Some(0)) => "--on-event hook ran (promotion)".to_string(),
        HookOutcome::Exited(code) => format!(
            "--on-event hook failed (exit {}); the promotion stands",
            code.map_or("by a signal".into(), |c| c.to_string())
        ),
        HookOutcome::TimedOut => format!(
            "--on-event hook ran past {} ms and was killed; the promotion stands",
            a.on_event_timeout.as_millis()
        ),
        HookOutcome::Failed(e) => {
            format!("--on-event hook could not run: {e}; the promotion stands")
        }
    };
    steps.step("event", &said);
}

/// With `--node NAME` and a file describing the cluster: the key is the
/// node's (or `[standby]`'s), and the primary to fence is the node that
/// answers as the cluster's unfenced primary.
///
/// # Errors
/// Two nodes answer as unfenced primaries.
fn from_cluster(a: &mut PromoteArgs, layered: &Layered, steps: &Steps) -> anyhow::Result<()> {
    let (Some(cluster), Some(name)) = (&layered.cluster, &layered.node) else {
        return Ok(());
    };
    let node = cluster.node(name)?;
    if a.auth_key_file.is_none() {
        let own = node.settings.iter().find(|s| s.key == "auth-key-file");
        let file = own
            .map(|s| s.values.as_slice())
            .or_else(|| layered.value(Section::Standby, "auth-key-file"));
        a.auth_key_file = file.and_then(|v| v.first()).map(PathBuf::from);
    }
    if a.primary.is_some() {
        return Ok(());
    }
    let peers: Vec<String> = cluster.peers(name).map(|n| n.listen.clone()).collect();
    let found = crate::promote::reversal::primaries(&peers);
    let named = |addr: &str| {
        let n = cluster.peers(name).find(|n| n.listen == addr);
        format!("{} ({addr})", n.map_or("?", |n| n.name.as_str()))
    };
    match found.as_slice() {
        [] if peers.is_empty() => {
            steps.step("cluster", "the cluster has no other node: nothing to fence")
        }
        [] => steps.step(
            "cluster",
            &format!(
                "no other node ({}) answers as an unfenced primary: nothing to fence",
                peers.join(", ")
            ),
        ),
        [(addr, _)] => {
            steps.step(
                "cluster",
                &format!(
                    "the cluster's primary is node {}: it is fenced",
                    named(addr)
                ),
            );
            a.primary = Some(addr.clone());
        }
        many => {
            let all: Vec<String> = many.iter().map(|(a, _)| named(a)).collect();
            anyhow::bail!(
                "several nodes answer as unfenced primaries: {}; promote with --primary ADDR naming the one to fence",
                all.join(", ")
            );
        }
    }
    Ok(())
}

pub fn run(mut a: PromoteArgs, layered: &Layered) -> anyhow::Result<ExitCode> {
    let steps = Steps {
        json: a.json,
        started: Instant::now(),
    };
    from_cluster(&mut a, layered, &steps)?;
    let key = match &a.auth_key_file {
        Some(p) => Some(AuthKey::from_file(p)?),
        None => None,
    };
    let o = Options {
        data_dir: a.data_dir.clone(),
        primary: a.primary.clone(),
        key,
        dry_run: a.dry_run,
        force: a.force,
        wait: a.wait,
        reason: a.reason.clone(),
    };
    match workflow::promote(&o, &steps)? {
        Ended::Failed { outcome, message } => {
            crate::say_err!("logship: error: {message}");
            Ok(ExitCode::from(outcome as u8))
        }
        Ended::Report { outcome, summary } => {
            if summary.promoted {
                promotion_event(&a, &steps, &summary);
            }
            if a.json {
                crate::say!("{}", serde_json::to_string(&summary)?);
            }
            Ok(ExitCode::from(outcome as u8))
        }
    }
}
