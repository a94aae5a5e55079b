//! Log shipping inside the primary: the shipper over this node's WAL and
//! snapshots, what standbys still need kept (retention), and `WAIT`.
//!
//! Retention: WAL a configured standby has not acknowledged is kept, up to
//! `max_retained_wal_bytes` behind the head of the log. Past that limit the
//! checkpoint removes it anyway, logs an error naming the standby and what it
//! lacks, and the standby's status says it needs re-seeding; its next shipment
//! then starts with a snapshot (its position is older than the oldest segment).

use super::seed_source::SnapshotSeeds;
use crate::fs::StdFs;
use crate::ship::protocol::tls::ShipTls;
use crate::ship::send::schedule::Schedule;
use crate::ship::send::shipper::{ShipObserver, Shipper, StandbyStatus, TargetChange};
use crate::ship::{AuthKey, Compression, LogSource, ShipOptions};
use crate::wal::Wal;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::task::JoinSet;

/// Failure reasons (`last_error_reason`) that no retry within seconds can
/// change: they wait for a DBA (the key files, a re-seed, a rejoin). A stopping
/// or fencing primary does not hold its final shipment open for them.
pub const PERMANENT_REFUSALS: [&str; 6] = [
    "auth",
    "system_id",
    "timeline",
    "diverged",
    "standby_ahead",
    "tls",
];

/// Default of `--max-retained-wal`.
pub const DEFAULT_MAX_RETAINED_WAL_BYTES: u64 = 8 << 30;

/// What ships from a primary's data directory: its WAL up to the durable LSN,
/// and its snapshots for seeding.
pub fn log_source(wal: &Wal, data_dir: &Path, system_id: u64, timeline: u32) -> LogSource {
    LogSource {
        fs: StdFs::shared(),
        wal_dir: data_dir.join(crate::node::datadir::WAL_DIR),
        system_id,
        timeline,
        position: wal.subscribe(),
        seed: Some(Arc::new(SnapshotSeeds::new(
            data_dir.join(crate::node::datadir::SNAPSHOT_DIR),
            system_id,
        ))),
        taps: Some(wal.taps()),
    }
}

/// Where and how the primary ships (`--ship-to` and friends).
#[derive(Debug, Clone)]
pub struct ShipConfig {
    /// Standby ship addresses (`host:port`), at least one.
    pub standbys: Vec<String>,
    pub schedule: Schedule,
    /// `None` only with `--insecure-no-auth`.
    pub key: Option<AuthKey>,
    pub compression: Compression,
    /// TLS on the links; `None`: plain TCP.
    pub tls: Option<ShipTls>,
    /// Wire bytes per second at most on each link (`--ship-max-rate`).
    pub max_rate_bytes_per_sec: Option<u64>,
}

pub use crate::node::retention::{retention_floor, FloorBound, RetentionFloor};

/// The primary's shipping: the shipper (absent while there are no standbys)
/// and what retention cut from each standby. A reload changes the standbys
/// and the schedule while it runs ([`Shipping::reconfigure`]).
pub struct Shipping {
    /// Replaced (started, stopped) by a reload; changed in place otherwise.
    shipper: RwLock<Option<Arc<Shipper>>>,
    /// What a shipper started by a reload ships (`None`: nothing can be
    /// shipped, the shipping of a node without a log source).
    src: Option<LogSource>,
    observer: Option<Arc<dyn ShipObserver>>,
    max_retained_wal_bytes: u64,
    /// Per standby address: the oldest LSN still on disk when WAL it lacked
    /// was removed. Only standbys shipped to have an entry.
    cut_at: Mutex<HashMap<String, u64>>,
    /// The archiver's progress: WAL not archived is kept like a standby's.
    archive: Option<Arc<crate::archive::ArchiveProgress>>,
}

/// Each standby's link options from `cfg`.
fn link_options(cfg: &ShipConfig) -> Vec<ShipOptions> {
    cfg.standbys
        .iter()
        .map(|a| {
            let mut o = ShipOptions::new(a, cfg.key.clone());
            o.compression = cfg.compression;
            o.tls = cfg.tls.clone();
            o.max_rate_bytes_per_sec = cfg.max_rate_bytes_per_sec;
            o
        })
        .collect()
}

/// Starts a shipper of `src` for `cfg`, on a thread of its own when it can.
fn start_shipper(
    cfg: &ShipConfig,
    src: LogSource,
    observer: Option<Arc<dyn ShipObserver>>,
) -> Shipper {
    let opts = link_options(cfg);
    match Shipper::start_on_own_thread(
        src.clone(),
        opts.clone(),
        cfg.schedule.clone(),
        observer.clone(),
    ) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the shipping thread; shipping from the client runtime");
            Shipper::start_observed(src, opts, cfg.schedule.clone(), observer)
        }
    }
}

impl Shipping {
    /// No standbys: `WAIT` answers 0, retention follows the snapshots alone.
    pub fn none(max_retained_wal_bytes: u64) -> Shipping {
        Shipping {
            shipper: RwLock::new(None),
            src: None,
            observer: None,
            max_retained_wal_bytes,
            cut_at: Mutex::new(HashMap::new()),
            archive: None,
        }
    }

    /// Keeps the WAL the archive lacks too (within the same limit).
    pub fn with_archive(mut self, progress: Arc<crate::archive::ArchiveProgress>) -> Shipping {
        self.archive = Some(progress);
        self
    }

    /// The archiver's progress, when the node archives.
    pub fn archive(&self) -> Option<&Arc<crate::archive::ArchiveProgress>> {
        self.archive.as_ref()
    }

    /// Starts shipping `wal` (and the snapshots in `data_dir`) to every
    /// configured standby (`cfg`; `None`: none yet, a reload may add some),
    /// telling `observer` (metrics, hooks) every outcome. Must run inside
    /// the tokio runtime.
    pub fn start(
        cfg: Option<&ShipConfig>,
        wal: &Wal,
        data_dir: &Path,
        system_id: u64,
        timeline: u32,
        max_retained_wal_bytes: u64,
        observer: Option<Arc<dyn ShipObserver>>,
    ) -> Shipping {
        let src = log_source(wal, data_dir, system_id, timeline);
        Shipping::start_from(cfg, src, max_retained_wal_bytes, observer)
    }

    /// Starts shipping `src` (a primary's log, or what a cascading standby
    /// received) to every configured standby, on a thread of its own.
    pub fn start_from(
        cfg: Option<&ShipConfig>,
        src: LogSource,
        max_retained_wal_bytes: u64,
        observer: Option<Arc<dyn ShipObserver>>,
    ) -> Shipping {
        let shipper = cfg.map(|c| Arc::new(start_shipper(c, src.clone(), observer.clone())));
        Shipping {
            shipper: RwLock::new(shipper),
            src: Some(src),
            observer,
            max_retained_wal_bytes,
            cut_at: Mutex::new(HashMap::new()),
            archive: None,
        }
    }

    /// Ships to the standbys of `cfg` on its schedule from now on (`None`:
    /// to none), as [`Shipper::reconfigure`] says; a standby no longer
    /// shipped to no longer holds WAL back, and its retention mark goes with
    /// it. Must run inside the tokio runtime.
    pub fn reconfigure(&self, cfg: Option<&ShipConfig>) -> TargetChange {
        let mut sh = self.shipper.write().unwrap_or_else(|p| p.into_inner());
        let change = match (sh.as_ref(), cfg, &self.src) {
            (Some(s), Some(c), _) => s.reconfigure(link_options(c), c.schedule.clone()),
            (Some(s), None, _) => {
                let change = s.reconfigure(Vec::new(), s.schedule());
                *sh = None;
                change
            }
            (None, Some(c), Some(src)) => {
                *sh = Some(Arc::new(start_shipper(
                    c,
                    src.clone(),
                    self.observer.clone(),
                )));
                TargetChange {
                    added: c.standbys.clone(),
                    schedule: Some(c.schedule.describe()),
                    ..TargetChange::default()
                }
            }
            (None, _, _) => TargetChange::default(),
        };
        drop(sh);
        self.cut_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|a, _| !change.removed.contains(a));
        change
    }

    /// The shipper, when there are standbys.
    fn shipper(&self) -> Option<Arc<Shipper>> {
        self.shipper
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The configured standby addresses.
    pub fn addresses(&self) -> Vec<String> {
        self.standbys(0).into_iter().map(|s| s.address).collect()
    }

    /// The schedule, described (`None` without standbys).
    pub fn schedule(&self) -> Option<String> {
        self.shipper().map(|s| s.schedule().describe())
    }

    /// Every standby's status, with the re-seed flag.
    pub fn standbys(&self, durable_lsn: u64) -> Vec<StandbyStatus> {
        let Some(sh) = self.shipper() else {
            return Vec::new();
        };
        let cut = self.cut_at.lock().unwrap_or_else(|p| p.into_inner());
        let mut all = sh.status(durable_lsn);
        for s in all.iter_mut() {
            if let Some(oldest) = cut.get(&s.address).copied().filter(|o| s.acked_lsn < *o) {
                s.needs_reseed = true;
                s.reseed_reason = Some(format!(
                    "acknowledged up to LSN {}; the WAL from there was removed (oldest retained LSN {oldest}) when the retained WAL reached its limit",
                    s.acked_lsn
                ));
            }
        }
        all
    }

    /// Ships to every standby now.
    pub fn ship_now(&self) -> bool {
        self.shipper().inspect(|s| s.ship_now()).is_some()
    }

    /// Stops the shipping tasks.
    pub fn stop(&self) {
        if let Some(s) = self.shipper() {
            s.stop();
        }
    }

    /// The retention floor for a checkpoint whose snapshots need WAL from
    /// `snapshot_floor` on, with the log's head at `head_lsn`.
    pub fn floor(&self, snapshot_floor: u64, head_lsn: u64) -> RetentionFloor {
        let standbys = self.shipper().and_then(|s| s.min_acked_lsn());
        let archive = self.archive.as_ref().map(|a| a.archived_lsn());
        let behind = match (standbys, archive) {
            (Some(s), Some(a)) => Some(s.min(a)),
            (s, a) => s.or(a),
        };
        retention_floor(
            snapshot_floor,
            behind,
            head_lsn,
            self.max_retained_wal_bytes,
        )
    }

    /// Called after a checkpoint removed WAL below `oldest_retained_lsn`: every
    /// standby that had not received it is flagged for re-seeding, loudly.
    pub fn removed_below(&self, oldest_retained_lsn: u64) {
        let Some(sh) = self.shipper() else { return };
        let mut cut = self.cut_at.lock().unwrap_or_else(|p| p.into_inner());
        for s in sh.status(oldest_retained_lsn).iter() {
            if s.acked_lsn < oldest_retained_lsn {
                let acked = if s.acked_lsn == 0 && s.last_ship_result == "never" {
                    "has not been reached since this primary started".to_string()
                } else {
                    format!("acknowledged up to LSN {}", s.acked_lsn)
                };
                tracing::error!(
                    standby = %s.address,
                    acked_lsn = s.acked_lsn,
                    oldest_retained_lsn,
                    missing_bytes = oldest_retained_lsn - s.acked_lsn,
                    max_retained_wal_bytes = self.max_retained_wal_bytes,
                    "removed WAL standby {} may not have received: it {acked}, the oldest retained LSN is now {oldest_retained_lsn}; the retained WAL reached --max-retained-wal ({} bytes). Unless it already holds that WAL, the standby is re-seeded from a snapshot on its next shipment",
                    s.address,
                    self.max_retained_wal_bytes
                );
                cut.insert(s.address.clone(), oldest_retained_lsn);
            }
        }
    }

    /// At clean shutdown: ships to every standby that lacks anything below
    /// `durable_lsn`, waiting up to `timeout`, so a scheduled standby does not
    /// stay an interval behind while the primary is down. Standbys that did not
    /// get it are named in a warning. A standby that refuses for a reason no
    /// retry can change ([`PERMANENT_REFUSALS`]: a wrong key, another system…)
    /// is not waited for once it has refused again during this call.
    pub async fn final_shipment(&self, durable_lsn: u64, timeout: Duration) {
        let Some(sh) = self.shipper() else { return };
        let n = sh.acked().len();
        let deadline = tokio::time::Instant::now() + timeout;
        let failures_before: Vec<u64> = self
            .standbys(durable_lsn)
            .iter()
            .map(|s| s.failures_total)
            .collect();
        // Re-kick now and then: a standby that was down may be back.
        while self.acked_count(durable_lsn) < n {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            if self.only_permanent_refusals_left(durable_lsn, &failures_before) {
                break;
            }
            sh.ship_now();
            self.wait(durable_lsn, n, Some(left.min(Duration::from_millis(500))))
                .await;
        }
        for s in self.standbys(durable_lsn) {
            if s.acked_lsn < durable_lsn {
                tracing::warn!(
                    standby = %s.address,
                    acked_lsn = s.acked_lsn,
                    durable_lsn,
                    last_ship_result = %s.last_ship_result,
                    "shutdown: the standby did not receive the final shipment; it lacks {} bytes",
                    durable_lsn - s.acked_lsn
                );
            }
        }
    }

    /// True when every standby lacking log below `durable_lsn` has failed
    /// again since `failures_before` was taken (its `failures_total` then), for
    /// a reason in [`PERMANENT_REFUSALS`]; each is named in a warning.
    fn only_permanent_refusals_left(&self, durable_lsn: u64, failures_before: &[u64]) -> bool {
        let standbys = self.standbys(durable_lsn);
        let lacking: Vec<_> = standbys
            .iter()
            .zip(failures_before)
            .filter(|(s, _)| s.acked_lsn < durable_lsn)
            .collect();
        let hopeless = lacking.iter().all(|(s, before)| {
            s.failures_total > **before
                && s.last_error_reason
                    .as_deref()
                    .is_some_and(|r| PERMANENT_REFUSALS.contains(&r))
        });
        if hopeless {
            for (s, _) in &lacking {
                tracing::warn!(
                    standby = %s.address,
                    reason = s.last_error_reason.as_deref().unwrap_or(""),
                    "not waiting for the standby's final shipment: it refused for a reason a retry cannot change ({})",
                    s.last_ship_result
                );
            }
        }
        hopeless
    }

    /// How many standbys acknowledged everything below `lsn`, now.
    pub fn acked_count(&self, lsn: u64) -> usize {
        self.shipper().map_or(0, |s| {
            s.acked()
                .iter()
                .filter(|r| r.borrow().received_lsn >= lsn)
                .count()
        })
    }

    /// `WAIT`: waits until `numstandbys` standbys acknowledged everything below
    /// `lsn`, or `timeout` passed (`None`: no limit); returns how many did. As in
    /// Redis, asking for more standbys than there are waits for the whole
    /// timeout, and `numstandbys` 0 answers at once. Without standbys
    /// (no `--ship-to`) the answer is 0 at once.
    pub async fn wait(&self, lsn: u64, numstandbys: usize, timeout: Option<Duration>) -> usize {
        if self.shipper().is_none() {
            return 0;
        }
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let count = self.count_acks(lsn, numstandbys, deadline).await;
        if count < numstandbys {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        }
        count
    }

    /// How many standbys acknowledged `lsn`, waiting for up to `numstandbys` of
    /// them until `deadline`, or until every standby that could has.
    async fn count_acks(
        &self,
        lsn: u64,
        numstandbys: usize,
        deadline: Option<tokio::time::Instant>,
    ) -> usize {
        let Some(sh) = self.shipper() else { return 0 };
        let mut count = 0;
        let mut waiting = JoinSet::new();
        for mut rx in sh.acked() {
            if rx.borrow().received_lsn >= lsn {
                count += 1;
            } else {
                waiting.spawn(async move { rx.wait_for(|a| a.received_lsn >= lsn).await.is_ok() });
            }
        }
        while count < numstandbys && !waiting.is_empty() {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, waiting.join_next()).await.ok(),
                    None => Some(waiting.join_next().await),
                }
            };
            match next.await {
                None => break,
                Some(Some(Ok(true))) => count += 1,
                Some(_) => {}
            }
        }
        count
    }
}

/// Parses `WAIT numstandbys timeout` (milliseconds, 0 = forever).
///
/// # Errors
/// Redis's error texts for a non-integer or negative argument.
pub fn parse_wait(num: &[u8], timeout: &[u8]) -> Result<(usize, Option<Duration>), &'static str> {
    let int = |b: &[u8]| {
        std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
    };
    const NOT_INT: &str = "ERR value is not an integer or out of range";
    let (Some(n), Some(t)) = (int(num), int(timeout)) else {
        return Err(NOT_INT);
    };
    if t < 0 {
        return Err("ERR timeout is negative");
    }
    let timeout = (t > 0).then(|| Duration::from_millis(t as u64));
    Ok((n.max(0) as usize, timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn wait_arguments_parse_like_redis() {
        assert_eq!(parse_wait(b"1", b"0"), Ok((1, None)));
        assert_eq!(
            parse_wait(b"2", b"150"),
            Ok((2, Some(Duration::from_millis(150))))
        );
        assert_eq!(parse_wait(b"-1", b"10").map(|w| w.0), Ok(0));
        assert_eq!(parse_wait(b"1", b"-1"), Err("ERR timeout is negative"));
        assert!(parse_wait(b"x", b"1").is_err());
        assert!(parse_wait(b"1", b"1.5").is_err());
    }

    #[tokio::test]
    async fn a_standby_cut_short_is_flagged_for_reseeding() {
        let d = tempfile::tempdir().unwrap();
        let o = crate::wal::WalOptions::new(d.path().join("wal"), 7, 1);
        let (wal, _) = crate::wal::open(StdFs::shared(), o).unwrap();
        let cfg = ShipConfig {
            // Nothing listens on port 9 of loopback: the standby stays at 0.
            standbys: vec!["127.0.0.1:9".into()],
            schedule: Schedule::Every(Duration::from_secs(3600)),
            key: None,
            compression: Compression::None,
            tls: None,
            max_rate_bytes_per_sec: None,
        };
        let s = Shipping::start(Some(&cfg), &wal, d.path(), 7, 1, 1000, None);
        assert_eq!(s.schedule().as_deref(), Some("every 1h"));
        // The dead standby holds the floor at 0 until the limit.
        assert_eq!(s.floor(5000, 900).bound, FloorBound::Standby);
        assert_eq!(s.floor(5000, 6000).keep_from_lsn, 5000);
        assert_eq!(s.floor(5000, 6000).bound, FloorBound::Limit);
        assert!(!s.standbys(6000)[0].needs_reseed);
        s.removed_below(4096);
        let st = &s.standbys(6000)[0];
        assert!(st.needs_reseed, "{st:?}");
        assert!(
            st.reseed_reason.as_deref().unwrap().contains("4096"),
            "{st:?}"
        );
        // WAIT for a write no standby has: 0 after the timeout.
        let t0 = std::time::Instant::now();
        assert_eq!(s.wait(1, 1, Some(Duration::from_millis(100))).await, 0);
        assert!(t0.elapsed() >= Duration::from_millis(100));
        assert_eq!(
            s.acked_count(0),
            1,
            "everything below LSN 0 is acknowledged"
        );
        s.stop();
        wal.close().unwrap();
    }

    #[tokio::test]
    async fn a_reload_changes_the_standbys_and_what_they_hold_back() {
        let d = tempfile::tempdir().unwrap();
        let o = crate::wal::WalOptions::new(d.path().join("wal"), 7, 1);
        let (wal, _) = crate::wal::open(StdFs::shared(), o).unwrap();
        // Nothing listens on ports 9 and 7 of loopback: the standbys stay at 0.
        let cfg = |standbys: &[&str]| ShipConfig {
            standbys: standbys.iter().map(|s| s.to_string()).collect(),
            schedule: Schedule::Every(Duration::from_secs(3600)),
            key: None,
            compression: Compression::None,
            tls: None,
            max_rate_bytes_per_sec: None,
        };
        let s = Shipping::start(None, &wal, d.path(), 7, 1, GIB, None);
        assert_eq!(s.floor(5000, 6000).bound, FloorBound::Snapshot);
        let c = s.reconfigure(Some(&cfg(&["127.0.0.1:9"])));
        assert_eq!(c.added, ["127.0.0.1:9"]);
        assert_eq!(s.floor(5000, 6000).bound, FloorBound::Standby);
        s.removed_below(4096);
        let c = s.reconfigure(Some(&cfg(&["127.0.0.1:9", "127.0.0.1:7"])));
        assert_eq!(
            (c.added, c.removed),
            (vec!["127.0.0.1:7".to_string()], vec![])
        );
        assert_eq!(s.addresses(), ["127.0.0.1:9", "127.0.0.1:7"]);
        assert!(
            s.standbys(6000)[0].needs_reseed,
            "the kept standby keeps its mark"
        );
        let mut every_minute = cfg(&["127.0.0.1:7"]);
        every_minute.schedule = Schedule::Every(Duration::from_secs(60));
        let c = s.reconfigure(Some(&every_minute));
        assert_eq!(c.removed, ["127.0.0.1:9"]);
        assert_eq!(c.restarted, ["127.0.0.1:7"]);
        assert_eq!(c.schedule.as_deref(), Some("every 1m"));
        assert!(s.standbys(6000).iter().all(|st| !st.needs_reseed));
        // No standby left: nothing holds the WAL back, WAIT answers 0 at once.
        let c = s.reconfigure(None);
        assert_eq!(c.removed, ["127.0.0.1:7"]);
        assert_eq!(s.floor(5000, 6000).bound, FloorBound::Snapshot);
        assert_eq!(s.wait(1, 1, None).await, 0);
        assert_eq!(s.schedule(), None);
        wal.close().unwrap();
    }

    #[tokio::test]
    async fn without_standbys_wait_answers_zero_at_once() {
        let s = Shipping::none(GIB);
        assert_eq!(s.wait(100, 1, None).await, 0);
        assert_eq!(s.acked_count(0), 0);
        assert!(s.standbys(10).is_empty());
        assert!(!s.ship_now());
        assert_eq!(s.floor(500, 1000).keep_from_lsn, 500);
    }
}
