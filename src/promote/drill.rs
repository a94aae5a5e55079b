//! A failover drill: promote a copy of a standby, measure RTO and RPO, and
//! prove the promoted keyspace is the standby's — without touching the standby.
//!
//! Steps (each timed, each may fail the drill):
//!
//! 1. **position** — the standby's received LSN and the primary's last known
//!    durable LSN: from the running standby's admin socket, or read from its
//!    files when it is stopped. The RPO (bytes and seconds the standby was
//!    behind) is [`crate::node::standing::check`]'s loss.
//! 2. **copy** — a consistent copy as of that received LSN into a scratch
//!    directory ([`super::copy`]: only the newest snapshot at or below it, the
//!    segments from there, history files, control, `primary.position`).
//! 3. **expect** — the standby's keyspace at the copied LSN, replayed in this
//!    process from the copy (snapshot, then the WAL up to the received LSN: the
//!    apply code of recovery), and its digest.
//! 4. **promote** — the RTO clock starts: offline promotion of the copy
//!    ([`super::offline::promote`]).
//! 5. **start** — `logship primary` on the copy (the same binary), on
//!    `127.0.0.1:0`, until it answers PING.
//! 6. **digest** — `DEBUG DIGEST` of the promoted node before any write,
//!    bracketed by `LOGSHIP POSITION`: when the node logged records of its own
//!    meanwhile (active expiry's deletes), those records are applied to the
//!    expectation too, so both sides are compared at the same LSN. Its time is
//!    left out of the RTO.
//! 7. **write** — a key is written and read back through RESP; the RTO clock
//!    stops at the first acknowledged write.
//!
//! The node is stopped (SIGTERM) and the scratch directory removed (unless
//! kept) whatever happened.

use super::copy::{copy_standby, Copied, CopyError};
use super::drill_node::{connect, start, stop, write_lsn, NodeError};
use super::expected::{apply_log, replay, ReplayError};
use super::offline::{self, OfflineError};
use crate::admin::{request, AdminError};
use crate::client::ClientError;
use crate::node::datadir::WAL_DIR;
use crate::node::standing::{check, Standing, Verdict};
use crate::status::NodeStatus;
use crate::store::{KvState, StateMachine};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// Attempts at a consistent copy of a standby that checkpoints meanwhile.
const COPY_ATTEMPTS: u32 = 5;
/// Attempts at a digest no record was logged during.
const DIGEST_ATTEMPTS: u32 = 10;

/// How a drill runs.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    pub standby_dir: PathBuf,
    /// The `logship` binary that serves the promoted copy.
    pub binary: PathBuf,
    /// Keep the scratch directory (its path is reported).
    pub keep: bool,
    /// Where the scratch directory is made (the system's temporary directory
    /// when `None`); it needs room for the newest snapshot and the log after it.
    pub scratch_parent: Option<PathBuf>,
}

/// One step of the drill.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: &'static str,
    pub ok: bool,
    pub ms: u64,
    pub detail: String,
}

/// What a drill measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DrillReport {
    /// Every step held (digest equal, write read back).
    pub ok: bool,
    pub standby_running: bool,
    pub system_id: String,
    pub timeline: u32,
    /// The copy's received LSN: the promotion point.
    pub copied_lsn: u64,
    pub snapshot_lsn: u64,
    pub copy_files: u64,
    pub copy_bytes: u64,
    pub copy_ms: u64,
    /// RPO: what the primary had durable that the standby lacked.
    pub rpo_bytes: u64,
    pub rpo_seconds: f64,
    /// RTO: from the promotion's start to the first acknowledged write (the
    /// digest check's own time left out).
    pub rto_ms: u64,
    pub promote_ms: u64,
    pub start_ms: u64,
    pub promotion_lsn: u64,
    pub new_timeline: u32,
    pub expected_digest: String,
    pub promoted_digest: String,
    pub digest_equal: bool,
    pub keys: u64,
    pub scratch_dir: String,
    pub kept: bool,
    pub steps: Vec<StepReport>,
}

/// Why a drill could not run at all, or why a step failed (its text is the
/// step's detail in the report).
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("start a runtime for the admin socket: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("the status from the admin socket of {}: {source}", dir.display())]
    Status {
        dir: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} is served by a running {role}, not a standby", dir.display())]
    NotStandby { dir: PathBuf, role: String },
    #[error("the standby on {} has received nothing from a primary yet: there is nothing to promote", dir.display())]
    NothingReceived { dir: PathBuf },
    #[error("a process holds {} but its admin socket does not answer: {source}", dir.display())]
    NoAnswer {
        dir: PathBuf,
        #[source]
        source: AdminError,
    },
    #[error(transparent)]
    Offline(#[from] OfflineError),
    #[error("create a scratch directory: {0}")]
    Scratch(#[source] std::io::Error),
    #[error(transparent)]
    Copy(#[from] CopyError),
    #[error("the standby kept removing files while copying")]
    KeptRemoving,
    #[error("replaying the copy: {0}")]
    Replay(#[source] ReplayError),
    #[error("applying the node's own records to the expectation: {0}")]
    Expectation(#[source] ReplayError),
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(
        "the node kept logging records: no quiet moment for a digest in {DIGEST_ATTEMPTS} attempts"
    )]
    NoQuietMoment,
    #[error("MISMATCH at {lsn:#x}: promoted {promoted}, standby {expected}")]
    DigestMismatch {
        lsn: u64,
        promoted: String,
        expected: String,
    },
    #[error("{command}: {source}")]
    Command {
        command: &'static str,
        #[source]
        source: ClientError,
    },
    #[error("read back {got:?} after writing \"ok\"")]
    ReadBack { got: Option<String> },
}

/// The standby's position: from its admin socket, or its files when stopped.
///
/// # Errors
/// A directory that is not a standby's that received a log, or a node that
/// holds it but does not answer.
pub fn position(dir: &Path) -> Result<(Standing, bool), DrillError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DrillError::Runtime)?;
    let asked = rt.block_on(request(
        dir,
        serde_json::json!({"cmd": "status"}),
        Duration::from_secs(5),
    ));
    match asked {
        Ok(v) => {
            let s: NodeStatus = serde_json::from_value(v).map_err(|source| DrillError::Status {
                dir: dir.to_path_buf(),
                source,
            })?;
            if s.role != "standby" {
                return Err(DrillError::NotStandby {
                    dir: dir.to_path_buf(),
                    role: s.role,
                });
            }
            let st = s.standing();
            if st.system_id == 0 || st.received_lsn == 0 {
                return Err(DrillError::NothingReceived {
                    dir: dir.to_path_buf(),
                });
            }
            Ok((st, true))
        }
        Err(AdminError::NotRunning(_)) => Ok((offline::inspect(dir)?.standing, false)),
        Err(source) => Err(DrillError::NoAnswer {
            dir: dir.to_path_buf(),
            source,
        }),
    }
}

/// The RPO of a standby at `s`.
pub fn rpo(s: &Standing) -> Verdict {
    let mut s = *s;
    s.applied_lsn = s.received_lsn;
    check(&s, crate::clock::now_unix_ms())
}

/// Makes the copy, starting over when a checkpoint removed a file meanwhile.
fn copy_consistently(
    opts: &DrillOptions,
    first: Standing,
    running: bool,
    dst: &Path,
) -> Result<(Copied, Standing), DrillError> {
    let mut standing = first;
    for attempt in 1..=COPY_ATTEMPTS {
        let _ = std::fs::remove_dir_all(dst);
        match copy_standby(&opts.standby_dir, dst, standing.received_lsn) {
            Ok(c) => return Ok((c, standing)),
            Err(CopyError::Vanished(p)) if running && attempt < COPY_ATTEMPTS => {
                tracing::info!(file = %p.display(), "drill: a file went away while copying; copying again");
                standing = position(&opts.standby_dir)?.0;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(DrillError::KeptRemoving)
}

/// Runs a drill. A failed step ends it with `ok: false` (the report says which
/// step and why); only a drill that could not start at all is an error.
///
/// # Errors
/// [`DrillError`] when the standby's position cannot be read or the scratch
/// directory cannot be made.
pub fn run(
    opts: &DrillOptions,
    mut say: impl FnMut(&StepReport),
) -> Result<DrillReport, DrillError> {
    let (standing, running) = position(&opts.standby_dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix("logship-drill-");
    let scratch = match &opts.scratch_parent {
        Some(p) => builder.tempdir_in(p),
        None => builder.tempdir(),
    }
    .map_err(DrillError::Scratch)?;
    let mut rep = DrillReport {
        standby_running: running,
        system_id: format!("{:016x}", standing.system_id),
        timeline: standing.timeline,
        scratch_dir: scratch.path().display().to_string(),
        kept: opts.keep,
        ..DrillReport::default()
    };
    let mut node: Option<Child> = None;
    let result = steps(
        opts,
        standing,
        running,
        scratch.path(),
        &mut rep,
        &mut node,
        &mut say,
    );
    if let Some(child) = node.take() {
        stop(child);
    }
    rep.ok = result.is_ok() && rep.digest_equal;
    if opts.keep {
        let _ = scratch.keep();
    } else if let Err(e) = scratch.close() {
        let s = StepReport {
            step: "cleanup",
            ok: false,
            ms: 0,
            detail: format!("removing the scratch directory: {e}"),
        };
        say(&s);
        rep.steps.push(s);
        rep.ok = false;
    }
    Ok(rep)
}

/// The steps, in order; the first failure ends them (already reported).
#[allow(clippy::too_many_arguments)]
fn steps(
    opts: &DrillOptions,
    standing: Standing,
    running: bool,
    scratch: &Path,
    rep: &mut DrillReport,
    node: &mut Option<Child>,
    say: &mut impl FnMut(&StepReport),
) -> Result<(), ()> {
    let mut step = |rep: &mut DrillReport,
                    name: &'static str,
                    started: Instant,
                    r: Result<String, DrillError>| {
        let s = StepReport {
            step: name,
            ok: r.is_ok(),
            ms: started.elapsed().as_millis() as u64,
            detail: r.as_ref().map_or_else(|e| e.to_string(), String::clone),
        };
        say(&s);
        rep.steps.push(s);
        r.map(|_| ()).map_err(|_| ())
    };
    let t = Instant::now();
    let v = rpo(&standing);
    rep.rpo_bytes = v.loss_bytes;
    rep.rpo_seconds = v.loss_window_seconds;
    step(rep, "position", t, Ok(format!(
        "{} standby, received {}; RPO {} bytes ({:.1} s of writes) behind the primary's last known durable LSN {}",
        if running { "running" } else { "stopped" },
        crate::status::lsn_text(standing.timeline, standing.received_lsn),
        v.loss_bytes,
        v.loss_window_seconds,
        crate::status::lsn_text(standing.timeline, standing.primary_durable_lsn),
    )))?;
    let t = Instant::now();
    let data = scratch.join("data");
    let copied = copy_consistently(opts, standing, running, &data).map(|(c, s)| {
        rep.copied_lsn = c.received_lsn;
        rep.snapshot_lsn = c.snapshot_lsn;
        rep.copy_files = c.files;
        rep.copy_bytes = c.bytes;
        rep.copy_ms = t.elapsed().as_millis() as u64;
        rep.timeline = s.timeline.max(rep.timeline);
        format!(
            "{} files, {} bytes in {} ms: snapshot at {:#x}, log up to {:#x}",
            c.files, c.bytes, rep.copy_ms, c.snapshot_lsn, c.received_lsn
        )
    });
    step(rep, "copy", t, copied)?;
    let t = Instant::now();
    let mut expected = match replay(&data, standing.system_id, rep.snapshot_lsn, rep.copied_lsn) {
        Ok(s) => s,
        Err(e) => return step(rep, "expect", t, Err(DrillError::Replay(e))),
    };
    rep.expected_digest = expected.dbs.digest();
    let detail = format!(
        "{} keys at {:#x}, digest {}",
        expected.dbs.len(),
        rep.copied_lsn,
        rep.expected_digest
    );
    step(rep, "expect", t, Ok(detail))?;
    // The RTO clock starts.
    let rto = Instant::now();
    let promoted = offline::promote(&data, "failover drill (a copy of the standby)");
    rep.promote_ms = rto.elapsed().as_millis() as u64;
    let p = match promoted {
        Ok(p) => p,
        Err(e) => return step(rep, "promote", rto, Err(e.into())),
    };
    rep.promotion_lsn = p.promotion_lsn;
    rep.new_timeline = p.new_timeline;
    rep.keys = p.keys;
    step(
        rep,
        "promote",
        rto,
        Ok(format!(
            "timeline {} begins at {:#x}; {} records applied",
            p.new_timeline, p.promotion_lsn, p.replayed_records
        )),
    )?;
    let t = Instant::now();
    let addr = match start(&opts.binary, &data, node) {
        Ok(a) => a,
        Err(e) => return step(rep, "start", t, Err(e.into())),
    };
    rep.start_ms = t.elapsed().as_millis() as u64;
    step(
        rep,
        "start",
        t,
        Ok(format!("logship primary serves the copy on {addr}")),
    )?;
    let mut conn = match connect(&addr) {
        Ok(c) => c,
        Err(e) => return step(rep, "digest", Instant::now(), Err(e.into())),
    };
    let t = Instant::now();
    let d = digest_at(&mut conn, &data, &mut expected, p.promotion_lsn);
    let digest_ms = t.elapsed();
    match d {
        Ok(got) => {
            rep.promoted_digest = got;
            rep.expected_digest = expected.dbs.digest();
            rep.digest_equal = rep.promoted_digest == rep.expected_digest;
            let r = if rep.digest_equal {
                Ok(format!(
                    "equal at {:#x}: {}",
                    expected.applied_lsn(),
                    rep.promoted_digest
                ))
            } else {
                Err(DrillError::DigestMismatch {
                    lsn: expected.applied_lsn(),
                    promoted: rep.promoted_digest.clone(),
                    expected: rep.expected_digest.clone(),
                })
            };
            step(rep, "digest", t, r)?;
        }
        Err(e) => return step(rep, "digest", t, Err(e)),
    }
    let t = Instant::now();
    let key = format!("logship:drill:{}", crate::clock::now_unix_ms());
    let client = |command| {
        let addr = &addr;
        move |e| DrillError::Command {
            command,
            source: ClientError::from_redis(addr, &e),
        }
    };
    let wrote = redis::cmd("SET")
        .arg(&key)
        .arg("ok")
        .query::<()>(&mut conn)
        .map_err(client("SET"));
    rep.rto_ms = rto.elapsed().saturating_sub(digest_ms).as_millis() as u64;
    let read = wrote.and_then(|_| {
        redis::cmd("GET")
            .arg(&key)
            .query::<Option<String>>(&mut conn)
            .map_err(client("GET"))
    });
    let r = match read {
        Ok(Some(v)) if v == "ok" => Ok(format!("wrote and read back {key}; RTO {} ms", rep.rto_ms)),
        Ok(got) => Err(DrillError::ReadBack { got }),
        Err(e) => Err(e),
    };
    step(rep, "write", t, r)
}

/// `DEBUG DIGEST` with no record logged during it; `expected` is brought to
/// the same LSN (records the node logged itself since `promotion_lsn`).
fn digest_at(
    conn: &mut redis::Connection,
    dir: &Path,
    expected: &mut KvState,
    promotion_lsn: u64,
) -> Result<String, DrillError> {
    for _ in 0..DIGEST_ATTEMPTS {
        let before = write_lsn(conn)?;
        let d: String =
            redis::cmd("DEBUG")
                .arg("DIGEST")
                .query(conn)
                .map_err(|e| DrillError::Command {
                    command: "DEBUG DIGEST",
                    source: ClientError::from_redis("the promoted copy", &e),
                })?;
        let after = write_lsn(conn)?;
        if before != after {
            continue;
        }
        expected.advance_to(promotion_lsn);
        if after > promotion_lsn {
            // Written records are in the segment file (durable or not).
            apply_log(expected, &dir.join(WAL_DIR), after).map_err(DrillError::Expectation)?;
        }
        return Ok(d);
    }
    Err(DrillError::NoQuietMoment)
}
