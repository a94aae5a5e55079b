//! The shipper inside `logship primary`: one task per standby, each on the
//! configured schedule, each with its own status (what the standby acknowledged,
//! when, and how the last shipment ended). Failures are retried with backoff and
//! counted; nothing is ever dropped.

use super::error::ShipError;
use super::flight::{Acked, ShipReport};
use super::options::{LogSource, ShipMode, ShipOptions};
use super::schedule::Schedule;
use super::sender::ship;
use crate::clock::now_unix_ms;
use crate::ship::protocol::tree::{
    measure_lag, DownstreamTree, TreeNode, MAX_TREE_DEPTH, MAX_TREE_ENTRIES,
};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// Longest pause between retries of a failing standby.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The state of one standby as the primary sees it (the `standbys[]` entries of
/// `status --json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StandbyStatus {
    pub address: String,
    /// Everything below is durable on the standby.
    pub acked_lsn: u64,
    /// The standby's applied LSN at its last acknowledgement.
    pub applied_lsn: u64,
    /// End of the last successful shipment (or last acknowledgement when
    /// continuous); 0 = never.
    pub last_ship_unix_ms: u64,
    /// `ok`, `never`, or `error: …` for the last attempt.
    pub last_ship_result: String,
    /// Short reason label of the last failure (`connect`, `auth`, `timeline`, …).
    pub last_error_reason: Option<String>,
    pub last_attempt_unix_ms: u64,
    /// The primary's durable LSN minus `acked_lsn`.
    pub lag_bytes: u64,
    pub failures_in_row: u32,
    pub failures_total: u64,
    pub shipments_total: u64,
    pub shipped_bytes_total: u64,
    pub shipped_wire_bytes_total: u64,
    pub shipped_records_total: u64,
    /// Set when the standby was (or must be) re-seeded from a snapshot.
    pub seeded_total: u64,
    /// True while a continuous link is up (the standby has answered on it).
    pub connected: bool,
    /// Duration of the last successful shipment, milliseconds.
    pub last_ship_duration_ms: u64,
    /// True when the primary removed WAL this standby had not received (the
    /// retained WAL reached its limit): its next shipment starts with a
    /// snapshot. Cleared once the standby is past the oldest retained WAL.
    #[serde(default)]
    pub needs_reseed: bool,
    /// With `needs_reseed`: the LSN the standby had acknowledged and the oldest
    /// LSN the primary still holds, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reseed_reason: Option<String>,
    /// True when the link to this standby runs over TLS.
    #[serde(default)]
    pub tls: bool,
    /// The standbys it ships to, as it last said (a cascading standby of
    /// protocol version 3 or newer), and theirs; `lag_bytes` measured from
    /// this node's durable LSN.
    #[serde(default)]
    pub downstreams: Vec<TreeNode>,
    /// Why `downstreams` may be incomplete: entries left out at a bound, or
    /// the standby's last report did not decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstreams_note: Option<String>,
}

impl StandbyStatus {
    /// This standby as an entry of the tree its shipping node reports.
    pub fn tree_node(&self) -> TreeNode {
        TreeNode {
            address: self.address.clone(),
            acked_lsn: self.acked_lsn,
            applied_lsn: self.applied_lsn,
            lag_bytes: self.lag_bytes,
            last_ship_unix_ms: self.last_ship_unix_ms,
            failures_in_row: self.failures_in_row,
            connected: self.connected,
            last_error_reason: self.last_error_reason.clone(),
            downstreams: self.downstreams.clone(),
        }
    }
}

/// What a node that ships tells its own primary: its standbys and theirs.
pub fn tree_of(standbys: &[StandbyStatus]) -> DownstreamTree {
    DownstreamTree {
        nodes: standbys.iter().map(StandbyStatus::tree_node).collect(),
        truncated: standbys.iter().any(|s| s.downstreams_note.is_some()),
    }
}

/// Told the outcome of every shipment (metrics, event hooks). Called on the
/// shipping task: an implementation must not block.
pub trait ShipObserver: Send + Sync {
    /// A shipment to `standby` succeeded.
    fn shipped(&self, standby: &str, report: &ShipReport);
    /// A shipment to `standby` failed; `failures_in_row` counts this one.
    fn failed(&self, standby: &str, error: &ShipError, failures_in_row: u32);
}

struct Target {
    observer: Option<Arc<dyn ShipObserver>>,
    opts: ShipOptions,
    status: Mutex<StandbyStatus>,
    acked: watch::Sender<Acked>,
    /// `ship_now`: a permit is kept when the task is busy shipping, so a
    /// request made during a shipment starts another one right after it.
    kick: Notify,
}

/// One standby's task and what it shares with the shipper.
struct Running {
    target: Arc<Target>,
    task: JoinHandle<()>,
}

/// The standbys shipped to and their schedule; changed by a reload.
struct Targets {
    running: Vec<Running>,
    schedule: Schedule,
}

/// What [`Shipper::reconfigure`] changed, by standby address.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TargetChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Kept, its link restarted with new options (key, TLS, compression,
    /// rate cap) or the new schedule.
    pub restarted: Vec<String>,
    pub schedule: Option<String>,
}

impl TargetChange {
    /// The change in words, one item each (empty when nothing changed).
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (what, list) in [
            ("ships to", &self.added),
            ("no longer ships to", &self.removed),
            ("new link options for", &self.restarted),
        ] {
            if !list.is_empty() {
                out.push(format!("{what} {}", list.join(", ")));
            }
        }
        if let Some(s) = &self.schedule {
            out.push(format!("ship schedule {s}"));
        }
        out
    }
}

/// The running shipper.
pub struct Shipper {
    src: LogSource,
    observer: Option<Arc<dyn ShipObserver>>,
    targets: Mutex<Targets>,
    /// Where the tasks run (the shipper's own runtime, or the caller's).
    handle: tokio::runtime::Handle,
    /// The shipper's own runtime, when it has one.
    runtime: Option<tokio::runtime::Runtime>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The link options that, changed, restart a standby's link.
fn link_options(o: &ShipOptions) -> String {
    let key = o.key.as_ref().map(|k| k.fingerprint());
    format!(
        "{key:?} {:?} {:?} {:?}",
        o.compression, o.tls, o.max_rate_bytes_per_sec
    )
}

impl Shipper {
    /// Starts one task per standby.
    pub fn start(src: LogSource, standbys: Vec<ShipOptions>, schedule: Schedule) -> Shipper {
        Shipper::start_observed(src, standbys, schedule, None)
    }

    /// Starts one task per standby, telling `observer` every outcome. Must
    /// run inside the tokio runtime, where the tasks run.
    pub fn start_observed(
        src: LogSource,
        standbys: Vec<ShipOptions>,
        schedule: Schedule,
        observer: Option<Arc<dyn ShipObserver>>,
    ) -> Shipper {
        let shipper = Shipper {
            src,
            observer,
            targets: Mutex::new(Targets {
                running: Vec::new(),
                schedule,
            }),
            handle: tokio::runtime::Handle::current(),
            runtime: None,
        };
        {
            let mut t = lock(&shipper.targets);
            for opts in standbys {
                let r = shipper.spawn(new_target(&opts), opts, &t.schedule);
                t.running.push(r);
            }
        }
        shipper
    }

    /// Starts the task shipping to `opts.addr` with `target`'s status.
    fn spawn(
        &self,
        status: (StandbyStatus, Acked),
        opts: ShipOptions,
        schedule: &Schedule,
    ) -> Running {
        let (mut status, acked) = status;
        status.tls = opts.tls.is_some();
        let target = Arc::new(Target {
            status: Mutex::new(status),
            acked: watch::channel(acked).0,
            observer: self.observer.clone(),
            kick: Notify::new(),
            opts,
        });
        tracing::info!(standby = %target.opts.addr, schedule = %schedule.describe(), "shipping to standby");
        let task = self.handle.spawn(run_target(
            self.src.clone(),
            target.clone(),
            schedule.clone(),
        ));
        Running { target, task }
    }

    /// Like [`start_observed`](Self::start_observed), with the shipping tasks
    /// on a thread of their own: on a primary busy serving clients, a task
    /// woken by a newly durable LSN would otherwise wait behind the client
    /// connections' tasks before it ships (continuous shipping's lag).
    ///
    /// # Errors
    /// The thread or its runtime cannot be started.
    pub fn start_on_own_thread(
        src: LogSource,
        standbys: Vec<ShipOptions>,
        schedule: Schedule,
        observer: Option<Arc<dyn ShipObserver>>,
    ) -> std::io::Result<Shipper> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("shipper")
            .enable_all()
            .build()?;
        let mut shipper = {
            let _in = rt.enter();
            Shipper::start_observed(src, standbys, schedule, observer)
        };
        shipper.runtime = Some(rt);
        Ok(shipper)
    }

    /// Ships to `standbys` on `schedule` from now on (a reload): the links
    /// to standbys no longer listed stop, as at shutdown, with their status;
    /// new standbys start as at start-up (seeded when they need it); a
    /// standby listed before keeps its link and status, unless its link
    /// options or the schedule changed: then its link restarts from what it
    /// acknowledged.
    pub fn reconfigure(&self, standbys: Vec<ShipOptions>, schedule: Schedule) -> TargetChange {
        let mut t = lock(&self.targets);
        let mut change = TargetChange::default();
        let new_schedule = schedule.describe() != t.schedule.describe();
        if new_schedule {
            change.schedule = Some(schedule.describe());
        }
        let mut old: Vec<Running> = std::mem::take(&mut t.running);
        for opts in standbys {
            let at = old.iter().position(|r| r.target.opts.addr == opts.addr);
            let r = match at.map(|i| old.remove(i)) {
                Some(r) if !new_schedule && link_options(&r.target.opts) == link_options(&opts) => {
                    r
                }
                Some(r) => {
                    r.task.abort();
                    let kept = (lock(&r.target.status).clone(), *r.target.acked.borrow());
                    change.restarted.push(opts.addr.clone());
                    self.spawn(kept, opts, &schedule)
                }
                None => {
                    change.added.push(opts.addr.clone());
                    self.spawn(new_target(&opts), opts, &schedule)
                }
            };
            t.running.push(r);
        }
        for r in old {
            r.task.abort();
            tracing::info!(standby = %r.target.opts.addr, "no longer shipping to standby (configuration reloaded)");
            change.removed.push(r.target.opts.addr.clone());
        }
        t.schedule = schedule;
        change
    }

    /// The schedule in force.
    pub fn schedule(&self) -> Schedule {
        lock(&self.targets).schedule.clone()
    }

    fn targets(&self) -> Vec<Arc<Target>> {
        lock(&self.targets)
            .running
            .iter()
            .map(|r| r.target.clone())
            .collect()
    }

    /// Status of every standby; `durable_lsn` is the primary's, for lag.
    pub fn status(&self, durable_lsn: u64) -> Vec<StandbyStatus> {
        self.targets()
            .iter()
            .map(|t| {
                let mut s = lock(&t.status).clone();
                let a = *t.acked.borrow();
                s.acked_lsn = a.received_lsn;
                s.applied_lsn = a.applied_lsn;
                // A continuous link is up once the standby has answered on it
                // (its Welcome counts); until then it is only being tried.
                // Once up, the failures before it are over.
                s.connected = s.connected && a.unix_ms >= s.last_attempt_unix_ms;
                if s.connected {
                    s.failures_in_row = 0;
                    s.last_error_reason = None;
                    s.last_ship_result = "ok".into();
                    s.last_ship_unix_ms = s.last_ship_unix_ms.max(a.unix_ms);
                }
                s.lag_bytes = durable_lsn.saturating_sub(s.acked_lsn);
                let told = lock(&t.opts.downstreams).clone();
                s.downstreams = told.tree.nodes;
                measure_lag(&mut s.downstreams, durable_lsn);
                s.downstreams_note = told.error.or_else(|| {
                    told.tree
                        .truncated
                        .then(|| format!("entries were left out (deeper than {MAX_TREE_DEPTH} levels or more than {MAX_TREE_ENTRIES} standbys)"))
                });
                s
            })
            .collect()
    }

    /// Receivers of each standby's acknowledgements (for `WAIT`).
    pub fn acked(&self) -> Vec<watch::Receiver<Acked>> {
        self.targets().iter().map(|t| t.acked.subscribe()).collect()
    }

    /// The oldest LSN some standby still lacks (`None` without standbys): WAL
    /// from here on must be retained for them.
    pub fn min_acked_lsn(&self) -> Option<u64> {
        self.targets()
            .iter()
            .map(|t| t.acked.borrow().received_lsn)
            .min()
    }

    /// Ships to every standby now, whatever the schedule.
    pub fn ship_now(&self) {
        for t in self.targets() {
            t.kick.notify_one();
        }
    }

    /// Stops all shipping tasks.
    pub fn stop(&self) {
        for r in &lock(&self.targets).running {
            r.task.abort();
        }
    }
}

/// A standby's status before its first shipment.
fn new_target(opts: &ShipOptions) -> (StandbyStatus, Acked) {
    (
        StandbyStatus {
            address: opts.addr.clone(),
            last_ship_result: "never".into(),
            tls: opts.tls.is_some(),
            ..StandbyStatus::default()
        },
        Acked::default(),
    )
}

impl Drop for Shipper {
    fn drop(&mut self) {
        self.stop();
        if let Some(rt) = self.runtime.take() {
            // Dropping a runtime may block; this may run on another runtime.
            rt.shutdown_background();
        }
    }
}

async fn run_target(src: LogSource, t: Arc<Target>, schedule: Schedule) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        let mode = match schedule.wait_from(chrono::Utc::now()) {
            None => ShipMode::Continuous,
            Some(wait) => {
                if !first {
                    let d = if lock(&t.status).failures_in_row > 0 {
                        backoff.min(wait)
                    } else {
                        wait
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = t.kick.notified() => {}
                    }
                }
                ShipMode::Once
            }
        };
        first = false;
        lock(&t.status).last_attempt_unix_ms = now_unix_ms();
        if mode == ShipMode::Continuous {
            lock(&t.status).connected = true;
        }
        let acked_before = t.acked.borrow().received_lsn;
        let res = ship(&src, &t.opts, mode, &t.acked).await;
        record(&t, &res);
        match res {
            Ok(_) => backoff = Duration::from_millis(100),
            Err(_) => {
                // A link that carried log before it failed (a continuous link
                // that ran for hours, say) is retried promptly: the backoff
                // grows only while attempts make no progress.
                if t.acked.borrow().received_lsn > acked_before {
                    backoff = Duration::from_millis(100);
                }
                if mode == ShipMode::Continuous {
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = t.kick.notified() => {}
                    }
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn record(t: &Target, res: &Result<ShipReport, ShipError>) {
    let failures_in_row = record_status(t, res);
    if let Some(o) = &t.observer {
        match res {
            Ok(r) => o.shipped(&t.opts.addr, r),
            Err(e) => o.failed(&t.opts.addr, e, failures_in_row),
        }
    }
}

/// Updates the standby's status; returns its failures in a row.
fn record_status(t: &Target, res: &Result<ShipReport, ShipError>) -> u32 {
    let acked = *t.acked.borrow();
    let mut s = lock(&t.status);
    s.acked_lsn = acked.received_lsn;
    s.applied_lsn = acked.applied_lsn;
    s.connected = false;
    match res {
        Ok(r) => {
            s.last_ship_unix_ms = now_unix_ms();
            s.last_ship_result = "ok".into();
            s.last_error_reason = None;
            s.failures_in_row = 0;
            s.shipments_total += 1;
            s.shipped_bytes_total += r.raw_bytes;
            s.shipped_wire_bytes_total += r.wire_bytes;
            s.shipped_records_total += r.records;
            s.last_ship_duration_ms = r.elapsed.as_millis() as u64;
            if r.seeded_at_lsn.is_some() {
                s.seeded_total += 1;
            }
            if r.raw_bytes > 0 || r.seeded_at_lsn.is_some() {
                tracing::info!(
                    standby = %s.address,
                    from_lsn = r.from_lsn,
                    to_lsn = r.to_lsn,
                    records = r.records,
                    bytes = r.raw_bytes,
                    wire_bytes = r.wire_bytes,
                    seeded_at_lsn = ?r.seeded_at_lsn,
                    ms = r.elapsed.as_millis() as u64,
                    "shipment complete"
                );
            }
        }
        Err(e) => {
            s.last_ship_result = format!("error: {e}");
            s.last_error_reason = Some(e.reason().to_string());
            s.failures_in_row += 1;
            s.failures_total += 1;
            // Log the first failure and then every tenth, so a dead standby does not
            // flood the log; status always shows the latest.
            if s.failures_in_row == 1 || s.failures_in_row % 10 == 0 {
                tracing::warn!(standby = %s.address, failures_in_row = s.failures_in_row, error = %e, "shipment failed");
            }
        }
    }
    s.failures_in_row
}
