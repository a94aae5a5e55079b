//! `logship promote`: make a standby the primary, with the LSN check.
//!
//! Online (a standby process runs: its admin socket answers) the node switches
//! in place and serves writes on its RESP address; offline (no process) this
//! command applies the received log itself and leaves a directory that
//! `logship primary` serves on the new timeline.

use crate::admin::{request, AdminError};
use crate::events::{run_hook, Event, EventKind, HookOutcome};
use crate::node::standing::{check, Standing, Verdict};
use crate::promote::offline::{self, OfflineError};
use crate::promote::remote::{Primary, RemoteError};
use crate::ship::AuthKey;
use crate::standby::promote::{Report, Request};
use crate::status::NodeStatus;
use clap::Args;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Exit codes of `promote`.
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

impl Steps {
    fn say(&self, step: &str, text: &str) {
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
}

/// What the run found and did, printed as JSON with --json.
#[derive(Debug, Default, serde::Serialize)]
struct Summary {
    mode: &'static str,
    dry_run: bool,
    ready: bool,
    promoted: bool,
    reasons: Vec<String>,
    received_lsn: u64,
    applied_lsn: u64,
    primary_durable_lsn: u64,
    loss_bytes: u64,
    loss_window_seconds: f64,
    old_timeline: u32,
    new_timeline: u32,
    promotion_lsn: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary: Option<Value>,
    took_ms: u64,
    /// Of which the node spent applying what it had received.
    apply_ms: u64,
}

impl Summary {
    fn verdict(&mut self, v: &Verdict) {
        self.ready = v.ready;
        self.reasons = v.reasons.clone();
        self.loss_bytes = v.loss_bytes;
        self.loss_window_seconds = v.loss_window_seconds;
    }
}

fn lsn(tl: u32, l: u64) -> String {
    crate::status::lsn_text(tl, l)
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
    steps.say("event", &said);
}

fn finish(summary: &Summary, json: bool, outcome: Outcome) -> anyhow::Result<ExitCode> {
    if json {
        crate::say!("{}", serde_json::to_string(summary)?);
    }
    Ok(ExitCode::from(outcome as u8))
}

/// Ends with one error line and an exit code.
fn fail(outcome: Outcome, msg: String) -> anyhow::Result<ExitCode> {
    crate::say_err!("logship: error: {msg}");
    Ok(ExitCode::from(outcome as u8))
}

pub fn run(a: PromoteArgs) -> anyhow::Result<ExitCode> {
    let key = match &a.auth_key_file {
        Some(p) => Some(AuthKey::from_file(p)?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let steps = Steps {
        json: a.json,
        started: Instant::now(),
    };
    match rt.block_on(status(&a.data_dir)) {
        Ok(s) if s.role != "standby" => fail(
            Outcome::NotStandby,
            format!(
                "{} is served by a running {}, not a standby",
                a.data_dir.display(),
                s.role
            ),
        ),
        Ok(s) => rt.block_on(online(&a, key.as_ref(), s, &steps)),
        Err(AdminError::NotRunning(_)) => offline_run(&a, &steps),
        Err(e) => fail(
            Outcome::Unreachable,
            format!(
                "standby not reachable: a process holds {} but its admin socket does not answer ({e})",
                a.data_dir.display()
            ),
        ),
    }
}

async fn status(dir: &Path) -> Result<NodeStatus, AdminError> {
    let v = request(dir, json!({"cmd": "status"}), Duration::from_secs(5)).await?;
    serde_json::from_value(v).map_err(|e| AdminError::Node(e.to_string()))
}

fn report_position(steps: &Steps, s: &Standing, age_ms: Option<u64>) {
    let tl = s.timeline;
    let age = age_ms.map_or(String::new(), |ms| {
        format!(" (last heard {:.1} s ago)", ms as f64 / 1000.0)
    });
    steps.say(
        "position",
        &format!(
            "received {}, applied {}, timeline {tl}; the primary's durable LSN was {}{age}",
            lsn(tl, s.received_lsn),
            lsn(tl, s.applied_lsn),
            lsn(tl, s.primary_durable_lsn),
        ),
    );
}

async fn online(
    a: &PromoteArgs,
    key: Option<&AuthKey>,
    first: NodeStatus,
    steps: &Steps,
) -> anyhow::Result<ExitCode> {
    let mut sum = Summary {
        mode: "online",
        dry_run: a.dry_run,
        ..Summary::default()
    };
    let now = crate::clock::now_unix_ms();
    let s0 = first.standing();
    report_position(
        steps,
        &s0,
        first.last_receive_unix_ms.map(|t| now.saturating_sub(t)),
    );
    sum.old_timeline = s0.timeline;
    // Step 2: the old primary, if reachable.
    let mut fenced_durable: Option<u64> = None;
    let mut fenced: Option<String> = None;
    if let Some(addr) = &a.primary {
        let reached = tokio::task::block_in_place(|| -> Result<Value, RemoteError> {
            let mut p = Primary::connect(addr, a.wait)?;
            if a.dry_run {
                p.position()
            } else {
                p.fence(key, first.ship_listen.as_deref(), &a.reason)
            }
        });
        match reached {
            Ok(v) if a.dry_run => {
                let d = v["durable_lsn"].as_u64().unwrap_or(0);
                steps.say(
                    "primary",
                    &format!(
                        "{addr} is reachable, durable LSN {}: a promotion would take its final shipment ({} bytes this standby lacks) and fence it",
                        lsn(s0.timeline, d),
                        d.saturating_sub(s0.received_lsn)
                    ),
                );
                sum.primary = Some(v);
            }
            Ok(v) => {
                let d = v["durable_lsn"].as_u64().unwrap_or(0);
                steps.say(
                    "primary",
                    &format!(
                        "{addr} fenced at LSN {} (it refuses writes now); final shipment up to {}",
                        lsn(s0.timeline, v["fenced_lsn"].as_u64().unwrap_or(0)),
                        lsn(s0.timeline, d)
                    ),
                );
                fenced_durable = Some(d);
                fenced = Some(addr.clone());
                sum.primary = Some(v);
            }
            Err(e) if a.force => {
                steps.say("primary", &format!("{e}; going on (--force)"));
            }
            Err(e) => {
                let hint = match e {
                    RemoteError::Unreachable { .. } => "the standby was not promoted. If the primary is down for good, promote without --primary (or add --force); if the link broke after the request was sent, the primary may be fenced already: re-run this command once it answers (fencing again is harmless)",
                    RemoteError::Refused { .. } => "the standby was not promoted and the primary was not fenced; check --auth-key-file (the primary's ship key)",
                };
                return fail(Outcome::PrimaryNotFenced, format!("{e}; {hint}"));
            }
        }
    } else {
        steps.say(
            "primary",
            "not contacted (no --primary): promoting from what was received",
        );
    }
    // Step 3: the final shipment arrives.
    let deadline = Instant::now() + a.wait;
    let mut st = first;
    while let Some(d) = fenced_durable {
        if st.received_lsn.unwrap_or(0) >= d || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        st = match status(&a.data_dir).await {
            Ok(s) => s,
            Err(e) => {
                unfence(a, key, &fenced);
                return fail(Outcome::Unreachable, format!("standby not reachable: {e}"));
            }
        };
    }
    let mut s = st.standing();
    if let Some(d) = fenced_durable {
        s.primary_durable_lsn = s.primary_durable_lsn.max(d);
    }
    let unapplied = s.received_lsn.saturating_sub(s.applied_lsn);
    steps.say(
        "apply",
        &if unapplied == 0 {
            format!("everything received is applied ({})", lsn(s.timeline, s.applied_lsn))
        } else {
            format!(
                "{unapplied} bytes received are not applied yet (applied {}, received {}): the promotion applies them first, whatever --apply-delay says",
                lsn(s.timeline, s.applied_lsn),
                lsn(s.timeline, s.received_lsn)
            )
        },
    );
    sum.received_lsn = s.received_lsn;
    sum.applied_lsn = s.applied_lsn;
    sum.primary_durable_lsn = s.primary_durable_lsn;
    // Step 4: the check (the node repeats it on its final numbers).
    let v = check(
        &Standing {
            applied_lsn: s.received_lsn,
            ..s
        },
        crate::clock::now_unix_ms(),
    );
    sum.verdict(&v);
    say_verdict(steps, &v);
    if a.dry_run {
        return dry_run_verdict(steps, &sum, a.json);
    }
    if !v.ready && !a.force {
        unfence(a, key, &fenced);
        steps.say(
            "refused",
            "not promoted; --force promotes anyway, losing what is stated above",
        );
        return finish(&sum, a.json, Outcome::Behind);
    }
    // Steps 5 and 6: the node applies what is left, switches and serves writes;
    // meanwhile its status shows the apply progress.
    let req = Request {
        force: a.force,
        reason: a.reason.clone(),
        wait_ms: deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as u64,
        primary_durable_lsn: fenced_durable,
    };
    let mut body = serde_json::to_value(&req)?;
    body["cmd"] = json!("promote");
    let dir = a.data_dir.clone();
    let mut call =
        tokio::spawn(async move { request(&dir, body, Duration::from_secs(3600)).await });
    let mut progress =
        (unapplied > 0).then(|| crate::progress::Progress::new("promote: applying", unapplied));
    let answer = loop {
        tokio::select! {
            r = &mut call => break r,
            _ = tokio::time::sleep(Duration::from_millis(100)), if progress.is_some() => {
                if let (Some(p), Ok(now)) = (progress.as_mut(), status(&a.data_dir).await) {
                    let applied = now.applied_lsn.unwrap_or(0);
                    p.set(applied.saturating_sub(s.applied_lsn), Some(applied));
                }
            }
        }
    };
    drop(progress);
    let r: Report = match answer {
        Ok(Ok(v)) => serde_json::from_value(v)?,
        Ok(Err(AdminError::Node(e))) => {
            unfence(a, key, &fenced);
            return fail(Outcome::Error, format!("promotion failed: {e}"));
        }
        Ok(Err(e)) => {
            unfence(a, key, &fenced);
            return fail(Outcome::Unreachable, format!("standby not reachable: {e}"));
        }
        Err(e) => return fail(Outcome::Error, format!("promotion request failed: {e}")),
    };
    sum.verdict(&r.verdict);
    sum.applied_lsn = r.applied_lsn;
    if !r.promoted {
        say_verdict(steps, &r.verdict);
        unfence(a, key, &fenced);
        steps.say(
            "refused",
            "not promoted: the standby's final check found it behind",
        );
        return finish(&sum, a.json, Outcome::Behind);
    }
    sum.promoted = true;
    sum.apply_ms = r.apply_ms;
    sum.new_timeline = r.new_timeline;
    sum.promotion_lsn = r.promotion_lsn;
    sum.took_ms = steps.started.elapsed().as_millis() as u64;
    steps.say(
        "switch",
        &format!(
            "timeline {} begins at {} (history written before any write); serving writes on {}",
            r.new_timeline,
            lsn(r.new_timeline, r.promotion_lsn),
            st.listen.as_deref().unwrap_or("its RESP address")
        ),
    );
    say_done(steps, &sum);
    tokio::task::block_in_place(|| promotion_event(a, steps, &sum));
    finish(&sum, a.json, Outcome::Promoted)
}

/// Ends a `--dry-run`: the verdict line and its exit code.
fn dry_run_verdict(steps: &Steps, sum: &Summary, json: bool) -> anyhow::Result<ExitCode> {
    steps.say(
        "verdict",
        &format!("ready to promote: {}", if sum.ready { "yes" } else { "no" }),
    );
    let o = if sum.ready {
        Outcome::Promoted
    } else {
        Outcome::Behind
    };
    finish(sum, json, o)
}

fn say_verdict(steps: &Steps, v: &Verdict) {
    if v.reasons.is_empty() {
        steps.say(
            "check",
            "applied = received, and nothing the primary reported durable is missing",
        );
    }
    for r in &v.reasons {
        steps.say("check", r);
    }
}

fn say_done(steps: &Steps, sum: &Summary) {
    let loss = if sum.loss_bytes == 0 {
        "none".to_string()
    } else {
        format!(
            "{} bytes of log (writes of up to {:.1} s)",
            sum.loss_bytes, sum.loss_window_seconds
        )
    };
    steps.say(
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
fn unfence(a: &PromoteArgs, key: Option<&AuthKey>, fenced: &Option<String>) {
    let Some(addr) = fenced else { return };
    let r = tokio::task::block_in_place(|| Primary::connect(addr, a.wait)?.unfence(key));
    match r {
        Ok(_) => {
            crate::say_err!("logship: the primary at {addr} was unfenced: it serves writes again")
        }
        Err(e) => crate::say_err!(
            "logship: warning: the primary at {addr} stays fenced ({e}); {} was not promoted",
            a.data_dir.display()
        ),
    }
}

fn offline_run(a: &PromoteArgs, steps: &Steps) -> anyhow::Result<ExitCode> {
    let mut sum = Summary {
        mode: "offline",
        dry_run: a.dry_run,
        ..Summary::default()
    };
    if a.primary.is_some() && !a.dry_run {
        return fail(
            Outcome::Error,
            format!(
                "--primary needs the standby running (it receives the final shipment); start `logship standby --data-dir {}` first, or promote offline without --primary",
                a.data_dir.display()
            ),
        );
    }
    let found = match offline::inspect(&a.data_dir) {
        Ok(f) => f,
        Err(OfflineError::NotStandby(m)) => return fail(Outcome::NotStandby, m),
        Err(OfflineError::Failed(m)) => return fail(Outcome::Error, m),
    };
    let s = found.standing;
    steps.say(
        "mode",
        "no standby process runs: promoting the data directory offline",
    );
    let age = crate::clock::now_unix_ms().saturating_sub(s.last_receive_unix_ms);
    report_position(steps, &s, (s.last_receive_unix_ms > 0).then_some(age));
    sum.old_timeline = s.timeline;
    sum.received_lsn = s.received_lsn;
    sum.applied_lsn = s.applied_lsn;
    sum.primary_durable_lsn = s.primary_durable_lsn;
    if let Some(addr) = &a.primary {
        match tokio::task::block_in_place(|| Primary::connect(addr, a.wait)?.position()) {
            Ok(v) => steps.say(
                "primary",
                &format!(
                    "{addr} is reachable (durable LSN {}): start the standby so a promotion can take its final shipment",
                    v["durable_lsn"].as_u64().unwrap_or(0)
                ),
            ),
            Err(e) => steps.say("primary", &e.to_string()),
        }
    }
    steps.say(
        "apply",
        &format!(
            "{} bytes received after the newest checkpoint are applied by the promotion",
            s.received_lsn - s.applied_lsn
        ),
    );
    let v = offline::verdict(&found, None);
    sum.verdict(&v);
    say_verdict(steps, &v);
    if a.dry_run {
        return dry_run_verdict(steps, &sum, a.json);
    }
    if !v.ready && !a.force {
        steps.say(
            "refused",
            "not promoted; --force promotes anyway, losing what is stated above",
        );
        return finish(&sum, a.json, Outcome::Behind);
    }
    let p = match offline::promote(&a.data_dir, &a.reason) {
        Ok(p) => p,
        Err(OfflineError::NotStandby(m)) => return fail(Outcome::NotStandby, m),
        Err(OfflineError::Failed(m)) => return fail(Outcome::Error, m),
    };
    let rate = if p.replay_ms > 0 {
        format!(
            " ({:.2} M records/s)",
            p.replayed_records as f64 / p.replay_ms as f64 / 1000.0
        )
    } else {
        String::new()
    };
    steps.say(
        "switch",
        &format!(
            "applied {} records in {} ms{rate}; timeline {} begins at {}; checkpoint written; {} keys",
            p.replayed_records,
            p.replay_ms,
            p.new_timeline,
            lsn(p.new_timeline, p.promotion_lsn),
            p.keys
        ),
    );
    sum.promoted = true;
    sum.apply_ms = p.replay_ms;
    sum.applied_lsn = s.received_lsn;
    sum.new_timeline = p.new_timeline;
    sum.promotion_lsn = p.promotion_lsn;
    sum.took_ms = steps.started.elapsed().as_millis() as u64;
    say_done(steps, &sum);
    steps.say(
        "next",
        &format!(
            "serve it: logship primary --data-dir {}",
            a.data_dir.display()
        ),
    );
    promotion_event(a, steps, &sum);
    finish(&sum, a.json, Outcome::Promoted)
}
