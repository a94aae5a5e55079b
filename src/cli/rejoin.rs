//! `logship rejoin`: make an old primary's stopped data directory a standby of
//! the node promoted in its place (library side: [`crate::promote::rejoin`]).

use crate::promote::rejoin::{self, Plan, RejoinError, Rejoined};
use crate::ship::AuthKey;
use crate::status::lsn_text;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Exit codes of `rejoin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Rejoined = 0,
    Error = 1,
    /// Not a stopped primary's directory (running, or already a standby).
    NotStoppedPrimary = 3,
    /// The new primary did not answer.
    Unreachable = 4,
    /// The new primary belongs to another system.
    OtherSystem = 5,
}

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  rejoined: the directory is a standby's (start it with the command printed)
  1  usage or I/O error, or the new primary's history does not continue this timeline
  3  not a stopped primary's data directory (a process runs on it, or it is already a standby)
  4  the new primary is unreachable
  5  the new primary belongs to another system";

/// Arguments of `rejoin`.
#[derive(Debug, Args)]
pub struct RejoinArgs {
    /// The old primary's data directory (the process stopped or killed).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The new primary's RESP address (host:port).
    #[arg(long, value_name = "ADDR")]
    pub from: String,
    /// The ship key shared with the new primary (checked here, and named in the
    /// `logship standby` command printed at the end).
    #[arg(long, value_name = "FILE")]
    pub auth_key_file: Option<PathBuf>,
    /// Print one JSON object instead of the steps.
    #[arg(long)]
    pub json: bool,
}

/// Whether the old log diverged, in one line.
pub fn verdict(plan: &Plan) -> String {
    match &plan.divergence {
        None => format!(
            "not diverged: no write at or past {}; the log is kept and follows the new timeline",
            lsn_text(plan.old_timeline, plan.divergence_lsn)
        ),
        Some(d) => format!(
            "DIVERGED: {} write record(s) the new primary never got, LSN {} to {} ({} bytes of log, {} bytes of payload), written {} to {}",
            d.records,
            lsn_text(plan.old_timeline, d.first_lsn),
            lsn_text(plan.old_timeline, d.last_lsn),
            d.log_bytes,
            d.payload_bytes,
            crate::clock::utc_text_ms(d.first_unix_ms),
            crate::clock::utc_text_ms(d.last_unix_ms)
        ),
    }
}

/// What the run found and did, printed with --json.
#[derive(Debug, Default, serde::Serialize)]
struct Summary {
    rejoined: bool,
    diverged: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_primary: Option<rejoin::NewPrimary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<Plan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    done: Option<Rejoined>,
    next: Vec<String>,
    took_ms: u64,
}

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

fn fail(e: RejoinError) -> anyhow::Result<ExitCode> {
    let code = match e {
        RejoinError::NotStoppedPrimary { .. } => Outcome::NotStoppedPrimary,
        RejoinError::Unreachable(_) => Outcome::Unreachable,
        RejoinError::OtherSystem { .. } => Outcome::OtherSystem,
        _ => Outcome::Error,
    };
    crate::say_err!("logship: error: {e}");
    Ok(ExitCode::from(code as u8))
}

pub fn run(a: RejoinArgs) -> anyhow::Result<ExitCode> {
    if let Some(p) = &a.auth_key_file {
        AuthKey::from_file(p)?;
    }
    let steps = Steps {
        json: a.json,
        started: Instant::now(),
    };
    let mut sum = Summary::default();
    let old = match rejoin::open_old(&a.data_dir) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let fenced = old
        .control
        .fenced
        .as_ref()
        .map_or("not fenced (stopped or killed)".to_string(), |f| {
            format!("fenced at LSN {}", crate::wal::format_lsn(f.lsn))
        });
    steps.say(
        "old",
        &format!(
            "{}: a stopped primary of system {:016x}, timeline {}, log ends at {}; {fenced}",
            a.data_dir.display(),
            old.control.system_id,
            old.timeline,
            lsn_text(old.timeline, old.end_lsn)
        ),
    );
    let new = match rejoin::ask(&a.from) {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    steps.say(
        "history",
        &format!(
            "{}: system {:016x}, timeline {}, durable LSN {}, {} switch(es) in its history",
            new.addr,
            new.system_id,
            new.timeline,
            lsn_text(new.timeline, new.durable_lsn),
            new.history.len()
        ),
    );
    let plan = match rejoin::plan(&old, &new) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    steps.say(
        "switch",
        &format!(
            "system ids match; timeline {} ended at {} in the new primary's history: the logs are identical below {}",
            plan.old_timeline,
            lsn_text(plan.old_timeline, plan.switch_lsn),
            lsn_text(plan.old_timeline, plan.divergence_lsn)
        ),
    );
    steps.say("verdict", &verdict(&plan));
    sum.diverged = plan.divergence.is_some();
    let done = match rejoin::apply(&old, &new, &plan, |s| steps.say("step", s)) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    drop(old);
    if let Some(dir) = &done.saved_dir {
        steps.say(
            "saved",
            &format!(
                "{} segment file(s) in {}: read them with `logship dump {}`",
                done.saved_files.len(),
                dir.display(),
                dir.display()
            ),
        );
    }
    let key = a
        .auth_key_file
        .as_ref()
        .map_or("--auth-key-file KEYFILE".to_string(), |p| {
            format!("--auth-key-file {}", p.display())
        });
    let standby_cmd = format!(
        "logship standby --data-dir {} --ship-listen HOST:PORT --listen HOST:PORT {key}",
        a.data_dir.display()
    );
    let ship_cmd = format!(
        "the new primary at {} must ship to it: start it with --ship-to HOST:PORT (this standby's --ship-listen), or run `logship ship --data-dir NEW_PRIMARY_DIR --to HOST:PORT {key}`",
        new.addr
    );
    steps.say(
        "done",
        &format!(
            "{} is a standby now{}",
            a.data_dir.display(),
            if done.reseed {
                "; its log and snapshots were emptied: the first shipment re-seeds it"
            } else {
                ""
            }
        ),
    );
    steps.say("next", &format!("run: {standby_cmd}"));
    steps.say("next", &ship_cmd);
    sum.rejoined = true;
    sum.next = vec![standby_cmd, ship_cmd];
    sum.new_primary = Some(new);
    sum.plan = Some(plan);
    sum.done = Some(done);
    sum.took_ms = steps.started.elapsed().as_millis() as u64;
    if a.json {
        crate::say!("{}", serde_json::to_string(&sum)?);
    }
    Ok(ExitCode::from(Outcome::Rejoined as u8))
}
