//! `logship drill`: rehearse a failover on a copy of a standby (library side:
//! [`crate::promote::drill`]).

use crate::promote::drill::{self, DrillOptions, StepReport};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes of `drill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed = 0,
    /// The drill could not run (not a standby, nothing received, I/O).
    Error = 1,
    /// A step failed or the digests differ.
    Failed = 2,
}

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  the drill passed: promoted copy served, digest equal, write read back
  1  the drill could not run (not a standby, nothing received yet, I/O error)
  2  a step failed, or the promoted copy's digest differs from the standby's";

/// Arguments of `drill`.
#[derive(Debug, Args)]
pub struct DrillArgs {
    /// The standby's data directory (running or stopped; never changed).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Print one JSON object (the report) instead of the steps.
    #[arg(long)]
    pub json: bool,
    /// Keep the scratch copy (its path is printed) instead of removing it.
    #[arg(long)]
    pub keep: bool,
    /// Make the scratch copy under this directory (default: the system's
    /// temporary directory); it needs room for the newest snapshot and the
    /// received log after it.
    #[arg(long, value_name = "DIR")]
    pub scratch_dir: Option<PathBuf>,
}

pub fn run(a: DrillArgs) -> anyhow::Result<ExitCode> {
    let opts = DrillOptions {
        standby_dir: a.data_dir.clone(),
        binary: std::env::current_exe()?,
        keep: a.keep,
        scratch_parent: a.scratch_dir.clone(),
    };
    let json = a.json;
    let say = |s: &StepReport| {
        let line = format!(
            "{:<9} {:<4} {:>6} ms  {}",
            s.step,
            if s.ok { "ok" } else { "FAIL" },
            s.ms,
            s.detail
        );
        if json {
            crate::say_err!("{line}");
        } else {
            crate::say!("{line}");
        }
    };
    let rep = match drill::run(&opts, say) {
        Ok(r) => r,
        Err(e) => {
            crate::say_err!("logship: error: {e}");
            return Ok(ExitCode::from(Outcome::Error as u8));
        }
    };
    if json {
        crate::say!("{}", serde_json::to_string(&rep)?);
    } else {
        let verdict = if rep.ok { "PASSED" } else { "FAILED" };
        crate::say!(
            "drill {verdict}: RTO {} ms (promote {} ms, start {} ms); RPO {} bytes, {:.1} s; copy {} files, {} bytes in {} ms; digest {}",
            rep.rto_ms,
            rep.promote_ms,
            rep.start_ms,
            rep.rpo_bytes,
            rep.rpo_seconds,
            rep.copy_files,
            rep.copy_bytes,
            rep.copy_ms,
            if rep.digest_equal { "equal" } else { "NOT equal" }
        );
        if rep.kept {
            crate::say!("scratch copy kept in {}", rep.scratch_dir);
        }
    }
    Ok(ExitCode::from(if rep.ok {
        Outcome::Passed
    } else {
        Outcome::Failed
    } as u8))
}
