//! A cascading standby (`standby --cascade-to ADDR`): ships what it has
//! durably received onward, with the primary's shipper — the same protocol,
//! authentication, compression, schedules and seeding (from this standby's
//! own snapshots). A downstream never gets ahead: nothing past this
//! standby's received LSN is shipped.
//!
//! The shipper works on one timeline. When this standby's log moves to a
//! new one (its upstream was promoted, or a promotion elsewhere reached it),
//! the shipper is started again on the new timeline, and each downstream
//! follows with the history, as it would from a promoted primary.
//!
//! What downstreams have not acknowledged is kept by the standby's
//! checkpoints, within `--max-retained-wal`, as on a primary.

use crate::fs::StdFs;
use crate::primary::seed_source::SnapshotSeeds;
use crate::primary::shipping::{RetentionFloor, ShipConfig, Shipping};
use crate::ship::receive::intake::Received;
use crate::ship::send::shipper::{ShipObserver, StandbyStatus, TargetChange};
use crate::ship::LogSource;
use crate::wal::Position;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The downstreams of a standby and the shipping to them.
pub struct Cascade {
    /// The downstreams and schedule (`None`: none, until a reload adds some).
    cfg: Mutex<Option<ShipConfig>>,
    max_retained_wal_bytes: u64,
    wal_dir: PathBuf,
    snap_dir: PathBuf,
    observer: Option<Arc<dyn ShipObserver>>,
    /// This standby's received LSN, as the shipper's durable LSN.
    position: watch::Sender<Position>,
    /// The shipping in force and the timeline it ships.
    current: Mutex<Option<(u32, Shipping)>>,
    /// Set once stopped (a promotion, shutdown): nothing is started again.
    stopped: std::sync::atomic::AtomicBool,
}

impl Cascade {
    pub fn new(
        cfg: Option<ShipConfig>,
        max_retained_wal_bytes: u64,
        wal_dir: PathBuf,
        snap_dir: PathBuf,
        observer: Option<Arc<dyn ShipObserver>>,
        received_lsn: u64,
    ) -> Arc<Cascade> {
        let (position, _) = watch::channel(Position {
            written_lsn: received_lsn,
            durable_lsn: received_lsn,
            ..Position::default()
        });
        Arc::new(Cascade {
            cfg: Mutex::new(cfg),
            max_retained_wal_bytes,
            wal_dir,
            snap_dir,
            observer,
            position,
            current: Mutex::new(None),
            stopped: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Follows what this standby receives until the receiver goes away or
    /// the cascade is stopped: the shipper's position (`durable` tells every
    /// advance of the received LSN at once), and its timeline.
    pub async fn run(
        self: Arc<Self>,
        mut received: watch::Receiver<Received>,
        mut durable: watch::Receiver<u64>,
    ) {
        loop {
            durable.borrow_and_update();
            let r = *received.borrow_and_update();
            self.follow(&r);
            if self.is_stopped() {
                break;
            }
            let woke = tokio::select! {
                r = received.changed() => r,
                d = durable.changed() => d,
            };
            if woke.is_err() {
                break;
            }
        }
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::Acquire)
    }

    fn follow(&self, r: &Received) {
        self.position.send_if_modified(|p| {
            let grew = r.received_lsn != p.durable_lsn;
            p.durable_lsn = r.received_lsn;
            p.written_lsn = r.received_lsn;
            grew
        });
        if r.system_id == 0 || r.timeline == 0 || self.is_stopped() {
            return; // nothing received yet: nothing to ship
        }
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if cur.as_ref().is_some_and(|(tl, _)| *tl == r.timeline) {
            return;
        }
        if let Some((old, s)) = cur.take() {
            s.stop();
            tracing::info!(
                from = old,
                to = r.timeline,
                "cascade: the received log moved to timeline {}; shipping it onward",
                r.timeline
            );
        }
        let src = LogSource {
            fs: StdFs::shared(),
            wal_dir: self.wal_dir.clone(),
            system_id: r.system_id,
            timeline: r.timeline,
            position: self.position.subscribe(),
            seed: Some(Arc::new(SnapshotSeeds::new(
                self.snap_dir.clone(),
                r.system_id,
            ))),
            taps: None,
        };
        let cfg = self.cfg.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let s = Shipping::start_from(
            cfg.as_ref(),
            src,
            self.max_retained_wal_bytes,
            self.observer.clone(),
        );
        *cur = Some((r.timeline, s));
    }

    /// Ships to the downstreams of `cfg` from now on (`None`: to none; a
    /// reload), as a primary's shipping changes; returns what changed.
    pub fn reconfigure(&self, cfg: Option<ShipConfig>) -> TargetChange {
        // Locks in one order everywhere: `current`, then `cfg`.
        let cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut old = self.cfg.lock().unwrap_or_else(|p| p.into_inner());
        let change = match cur.as_ref() {
            Some((_, s)) => s.reconfigure(cfg.as_ref()),
            // Nothing received yet: the shipping starts with the new list.
            None => {
                let addrs =
                    |c: &Option<ShipConfig>| c.as_ref().map_or(Vec::new(), |c| c.standbys.clone());
                let (before, after) = (addrs(&old), addrs(&cfg));
                let sched = |c: &Option<ShipConfig>| c.as_ref().map(|c| c.schedule.describe());
                TargetChange {
                    added: after
                        .iter()
                        .filter(|a| !before.contains(a))
                        .cloned()
                        .collect(),
                    removed: before
                        .iter()
                        .filter(|a| !after.contains(a))
                        .cloned()
                        .collect(),
                    restarted: Vec::new(),
                    schedule: (sched(&old) != sched(&cfg)).then(|| sched(&cfg)).flatten(),
                }
            }
        };
        *old = cfg;
        change
    }

    /// Each downstream's status, lag measured from `received_lsn` (`None`
    /// when the standby has no downstream).
    pub fn standbys(&self, received_lsn: u64) -> Option<Vec<StandbyStatus>> {
        let cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let cfg = self.cfg.lock().unwrap_or_else(|p| p.into_inner());
        let cfg = cfg.as_ref()?;
        Some(match cur.as_ref() {
            Some((_, s)) => s.standbys(received_lsn),
            None => cfg
                .standbys
                .iter()
                .map(|a| StandbyStatus {
                    address: a.clone(),
                    last_ship_result: "never".into(),
                    lag_bytes: received_lsn,
                    ..StandbyStatus::default()
                })
                .collect(),
        })
    }

    /// The schedule, described (`None` when the standby has no downstream).
    pub fn schedule(&self) -> Option<String> {
        let cfg = self.cfg.lock().unwrap_or_else(|p| p.into_inner());
        cfg.as_ref().map(|c| c.schedule.describe())
    }

    /// The retention floor for a checkpoint of this standby.
    pub fn floor(&self, snapshot_floor: u64, head_lsn: u64) -> RetentionFloor {
        let cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let downstreams = self.cfg.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        match cur.as_ref() {
            Some((_, s)) => s.floor(snapshot_floor, head_lsn),
            // Nothing shipped yet: what downstreams need is unknown, so the
            // log is kept within the limit.
            None => crate::primary::shipping::retention_floor(
                snapshot_floor,
                downstreams.then_some(0),
                head_lsn,
                self.max_retained_wal_bytes,
            ),
        }
    }

    /// After a checkpoint removed the received log below `oldest_retained_lsn`.
    pub fn removed_below(&self, oldest_retained_lsn: u64) {
        let cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, s)) = cur.as_ref() {
            s.removed_below(oldest_retained_lsn);
        }
    }

    /// Stops shipping for good (the node is promoted, and its primary
    /// server ships to the same downstreams, or it shuts down).
    pub fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Release);
        if let Some((_, s)) = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            s.stop();
        }
    }
}
