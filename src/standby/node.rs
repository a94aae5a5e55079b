//! `logship standby`: one process that receives the log (ship listener), replays
//! it continuously into the keyspace, checkpoints like the primary, and serves
//! read-only RESP and the admin socket.
//!
//! Its applied LSN is persisted with its checkpoints (the snapshot's LSN), and the
//! received log is its WAL, so a standby killed at any moment resumes without
//! losing or double-applying a record: it loads its newest snapshot and replays
//! the received log after it.

use super::follow::{FollowArchive, Following};
use super::replay::ReplayState;
use super::state_lock::StateLock;
use crate::fs::StdFs;
use crate::node::control::{Control, Role, CONTROL_VERSION};
use crate::node::position::PrimaryPosition;
use crate::node::retention::remove_segments;
use crate::node::standing::Standing;
use crate::resp::Limits;
use crate::ship::ReceiverShared;
use crate::ship::{AuthKey, Received};
use crate::status::NodeStatus;
use crate::store::snapshot;
use crate::store::{KvState, StateMachine};
use crate::wal::scan::list_segments;
use crate::wal::{RecordKind, WalReader};
use anyhow::Context as _;
use parking_lot::MutexGuard;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Why a standby could not make the cluster's identity durable in its
/// control file.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The received log, which gives the segment size, could not be listed.
    #[error("write the control file: {0}")]
    Log(#[source] crate::wal::WalError),
    #[error("write the control file: {0}")]
    Control(#[source] crate::node::control::ControlError),
    #[error("the standby is shutting down")]
    ShuttingDown,
    /// `logship restore --then stop` left this standby at a point it keeps.
    #[error("this standby was restored to LSN {} with --then stop and never advances: it receives nothing (promote it, or restore another directory to follow the primary)", crate::wal::format_lsn(*lsn))]
    Halted { lsn: u64 },
}

/// How a standby runs.
#[derive(Debug, Clone)]
pub struct StandbyConfig {
    pub data_dir: PathBuf,
    /// Where the log comes from: primaries shipping, or an archive.
    pub intake: LogIntake,
    /// Read-only RESP.
    pub listen: String,
    /// Hold each record until it is this old before applying it.
    pub apply_delay: Duration,
    /// `None` only with `--insecure-no-auth`.
    pub key: Option<AuthKey>,
    pub limits: Limits,
    pub max_query_bytes: usize,
    pub checkpoint_interval: Duration,
    pub keep_snapshots: usize,
    /// How the node serves once promoted (its `listen` is this standby's).
    pub as_primary: crate::primary::PrimaryConfig,
    /// TLS on the ship link; `None`: plain TCP.
    pub tls: Option<crate::ship::protocol::tls::ShipTls>,
    /// The password RESP clients must give (`--requirepass-file`).
    pub requirepass: Option<crate::resp::auth::Password>,
    /// Metrics, status page, event hooks.
    pub monitor: crate::metrics::MonitorConfig,
    /// Ship what this standby received onward (`--cascade-to`).
    pub cascade: Option<crate::primary::shipping::ShipConfig>,
    /// Re-reads the configuration on SIGHUP (`None`: nothing to re-read).
    /// Once promoted, `as_primary.reload` takes over.
    pub reload: Option<crate::node::reload::Reloader<StandbyConfig>>,
}

/// Where a standby's log comes from.
#[derive(Debug, Clone)]
pub enum LogIntake {
    /// Primaries ship to this address (`--ship-listen`).
    Link { ship_listen: String },
    /// Read from an archive (`--restore-from`): no listener.
    Archive(FollowArchive),
}

/// What a promotion hands to the primary server that takes the node over.
pub struct Handover {
    pub control: Control,
    pub recovered: crate::primary::recovery::Recovered,
}

/// What the standby's tasks share.
pub struct Node {
    pub cfg: StandbyConfig,
    /// Set when the directory was restored with `--then stop`: it receives
    /// nothing.
    pub(super) halted_at: Option<u64>,
    pub(super) wal_dir: PathBuf,
    pub(super) snap_dir: PathBuf,
    /// The replayed keyspace. Replay lets waiting readers in between slices
    /// of a batch ([`APPLY_SLICE_RECORDS`]).
    pub(super) state: StateLock<KvState>,
    /// 0 until the first shipment names the cluster.
    pub(super) system_id: AtomicU64,
    /// Whether the control file is on disk; held while it is written.
    pub(super) control_written: Mutex<bool>,
    pub receiver: Arc<ReceiverShared>,
    pub(super) replay: Mutex<Option<watch::Receiver<ReplayState>>>,
    pub next_client_id: AtomicU64,
    pub(super) last_checkpoint_lsn: AtomicU64,
    /// Set while a promotion waits for replay: the apply delay no longer holds.
    pub(super) hurry: Arc<AtomicBool>,
    /// One promotion at a time.
    pub(super) promote_lock: tokio::sync::Mutex<()>,
    /// Set once the node is promoted: standby clients are sent away.
    pub promoted: AtomicBool,
    /// Where a promotion hands the keyspace and log to the primary server.
    pub(super) handover: Mutex<Option<tokio::sync::oneshot::Sender<Handover>>>,
    /// The primary position last persisted.
    pub(super) last_position: Mutex<PrimaryPosition>,
    /// The bound addresses: ship listener (none when following an
    /// archive), RESP.
    pub(super) bound: std::sync::OnceLock<(Option<String>, String)>,
    /// Open while the standby accepts RESP clients; a promotion closes it
    /// (and waits for `accept_closed`) before the node says it is promoted,
    /// so a client that connects after that waits in the listen backlog for
    /// the primary server instead of reaching a standby session that turns
    /// it away.
    pub(super) accept_open: watch::Sender<bool>,
    pub(super) accept_closed: watch::Sender<bool>,
    /// The new timeline's first segment, prepared ahead of a promotion.
    pub(super) spare: Arc<super::spare_segment::PromotionSpare>,
    /// The archive followed (`--restore-from`), for status.
    pub(super) following: Option<Arc<Following>>,
    /// Metrics and event hooks.
    pub monitor: Arc<crate::metrics::Monitor>,
    /// The downstreams this standby ships to (`--cascade-to`; none until a
    /// reload adds some).
    pub(super) cascade: Arc<super::cascade::Cascade>,
}

impl Node {
    /// The received log's directory.
    pub fn wal_dir(&self) -> PathBuf {
        self.wal_dir.clone()
    }

    /// The snapshot directory.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.snap_dir.clone()
    }

    /// Where this standby stands, for the promotion check.
    pub fn standing(&self) -> Standing {
        let r: Received = *self.receiver.received.borrow();
        let applied = self.lock_state().applied_lsn();
        Standing {
            system_id: match self.system_id.load(Ordering::Acquire) {
                0 => r.system_id,
                s => s,
            },
            timeline: r.timeline,
            received_lsn: r.received_lsn,
            applied_lsn: applied,
            primary_durable_lsn: r.primary_durable_lsn.max(r.received_lsn),
            last_receive_unix_ms: r.last_receive_unix_ms,
            last_record_unix_ms: r.last_record_unix_ms,
        }
    }

    /// Prepares the new timeline's first segment ahead of a promotion, once
    /// the control file names the segment size (blocking I/O; see
    /// [`super::spare_segment`]).
    ///
    /// # Errors
    /// An unreadable control file.
    pub(super) fn prepare_spare(&self) -> anyhow::Result<()> {
        let written = *self
            .control_written
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !written || !self.spare.missing() {
            return Ok(());
        }
        let control = Control::read(&StdFs, &self.cfg.data_dir)?;
        self.spare.ensure(control.segment_bytes);
        Ok(())
    }

    /// Persists the primary's reported position when it changed.
    pub(super) fn save_position(&self) -> anyhow::Result<()> {
        let r: Received = *self.receiver.received.borrow();
        let p = PrimaryPosition {
            primary_durable_lsn: r.primary_durable_lsn.max(r.received_lsn),
            last_receive_unix_ms: r.last_receive_unix_ms,
            last_record_unix_ms: r.last_record_unix_ms,
            received_lsn: r.received_lsn,
        };
        let mut last = self.last_position.lock().unwrap_or_else(|e| e.into_inner());
        if p != *last && r.system_id != 0 {
            p.write(&StdFs, &self.cfg.data_dir)?;
            *last = p;
        }
        Ok(())
    }

    /// Locks the replayed keyspace.
    pub fn lock_state(&self) -> MutexGuard<'_, KvState> {
        self.state.lock()
    }

    pub(super) fn replay_state(&self) -> ReplayState {
        self.replay
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|r| *r.borrow())
            .unwrap_or_default()
    }

    /// The `status` report of this standby.
    pub fn status(&self) -> NodeStatus {
        let (applied, keys) = {
            let st = self.lock_state();
            (st.applied_lsn(), st.dbs.len())
        };
        self.status_of(applied, keys)
    }

    /// The report for a state the caller has already looked at (it may hold the
    /// state's lock: this takes no lock of it).
    pub(super) fn status_of(&self, applied: u64, keys: usize) -> NodeStatus {
        let r: Received = *self.receiver.received.borrow();
        let rs = self.replay_state();
        let last_error = self.receiver.last_error();
        let now = crate::clock::now_unix_ms();
        // The receiver knows the cluster as soon as a chunk arrives; the node
        // learns it at its next housekeeping tick.
        let sid = match self.system_id.load(Ordering::Acquire) {
            0 => r.system_id,
            sid => sid,
        };
        let primary_durable = r.primary_durable_lsn.max(r.received_lsn);
        let lag_seconds = if applied >= primary_durable {
            0.0
        } else if applied < r.received_lsn {
            // The oldest record received but not applied yet: how stale reads are.
            let ts = WalReader::open_at_record(
                StdFs::shared(),
                &self.wal_dir,
                applied,
                Some(r.received_lsn),
            )
            .ok()
            .and_then(|mut rd| rd.find_map(|x| x.ok().filter(|x| x.kind == RecordKind::Data)))
            .map_or(r.last_record_unix_ms, |x| x.timestamp_unix_ms);
            now.saturating_sub(ts) as f64 / 1000.0
        } else {
            // Everything received is applied, but the primary had more: at least
            // as stale as the last contact.
            now.saturating_sub(r.last_receive_unix_ms) as f64 / 1000.0
        };
        NodeStatus {
            role: "standby".into(),
            system_id: if sid == 0 {
                String::new()
            } else {
                format!("{sid:016x}")
            },
            timeline: r.timeline,
            running: true,
            data_dir: self.cfg.data_dir.display().to_string(),
            received_lsn: Some(r.received_lsn),
            applied_lsn: Some(applied),
            primary_durable_lsn: Some(primary_durable),
            last_receive_unix_ms: Some(r.last_receive_unix_ms),
            last_apply_unix_ms: Some(rs.last_apply_unix_ms),
            lag_bytes: Some(primary_durable.saturating_sub(applied)),
            lag_seconds: Some(lag_seconds),
            apply_delay_seconds: Some(self.cfg.apply_delay.as_secs_f64()),
            keys: Some(keys as u64),
            ship_listen: self.bound.get().and_then(|b| b.0.clone()),
            listen: self.bound.get().map(|b| b.1.clone()),
            ship_tls: Some(self.cfg.tls.is_some()),
            started_unix_ms: Some(self.monitor.started_unix_ms),
            records_applied_total: Some(rs.records_applied_total),
            last_receive_error: last_error.as_ref().map(|e| e.1.clone()),
            last_receive_error_unix_ms: last_error.as_ref().map(|e| e.0),
            restore_from: self.following.as_ref().map(|f| f.url.clone()),
            archive_age_seconds: self.following.as_ref().and_then(|f| f.age_seconds(now)),
            standbys: self.cascade.standbys(r.received_lsn),
            ship_schedule: self.cascade.schedule(),
            ..NodeStatus::default()
        }
    }

    /// INFO text (sections server, replication, keyspace) for a state the caller
    /// holds locked.
    pub fn info_text(&self, st: &KvState) -> String {
        let keys = st.dbs.len();
        let s = self.status_of(st.applied_lsn(), keys);
        let used = crate::memory::allocated_bytes().unwrap_or(0);
        let up = s
            .last_receive_unix_ms
            .is_some_and(|t| crate::clock::now_unix_ms().saturating_sub(t) < 60_000);
        format!(
            "# Server\r\nlogship_version:{}\r\nrole:standby\r\n\r\n# Memory\r\nused_memory:{}\r\nused_memory_human:{}\r\n\r\n# Replication\r\nrole:slave\r\nmaster_link_status:{}\r\nsystem_id:{}\r\ntimeline:{}\r\nreceived_lsn:{}\r\napplied_lsn:{}\r\nprimary_durable_lsn:{}\r\nlag_bytes:{}\r\nlag_seconds:{:.3}\r\nslave_read_only:1\r\n\r\n# Keyspace\r\n{}",
            env!("CARGO_PKG_VERSION"),
            used,
            crate::memory::human(used),
            if up { "up" } else { "down" },
            s.system_id,
            s.timeline,
            s.received_lsn.unwrap_or(0),
            s.applied_lsn.unwrap_or(0),
            s.primary_durable_lsn.unwrap_or(0),
            s.lag_bytes.unwrap_or(0),
            s.lag_seconds.unwrap_or(0.0),
            st.dbs.info_lines(),
        )
    }

    /// Writes the control file once the cluster's identity is known (a
    /// directory whose first shipment came before the control file was
    /// written on arrival: its segment size is read off the received log).
    pub(super) fn ensure_control(&self, timeline: u32) -> Result<(), IdentityError> {
        let sid = match self.system_id.load(Ordering::Acquire) {
            0 => self.receiver.received.borrow().system_id,
            sid => sid,
        };
        self.adopt_identity(sid, timeline, None)
    }

    /// Makes the cluster's identity durable in the control file, once:
    /// `segment_bytes` is what the primary's segment header announces, or,
    /// when `None`, that of the received segments on disk.
    pub(super) fn adopt_identity(
        &self,
        sid: u64,
        timeline: u32,
        segment_bytes: Option<u64>,
    ) -> Result<(), IdentityError> {
        let mut written = self
            .control_written
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if sid == 0 || *written {
            return Ok(());
        }
        let mut control =
            standby_control(&self.wal_dir, sid, timeline).map_err(IdentityError::Log)?;
        if let Some(bytes) = segment_bytes {
            control.segment_bytes = bytes;
        }
        control
            .write(&StdFs, &self.cfg.data_dir)
            .map_err(IdentityError::Control)?;
        self.system_id.store(sid, Ordering::Release);
        *written = true;
        // The segment size is known from here: the spare is made now rather
        // than at the next housekeeping tick (on a thread of its own; a
        // promotion meanwhile waits for it).
        let (spare, bytes) = (self.spare.clone(), control.segment_bytes);
        let _ = std::thread::Builder::new()
            .name("promotion-spare".into())
            .spawn(move || spare.ensure(bytes));
        tracing::info!(
            system_id = format!("{sid:016x}"),
            "standby now belongs to system"
        );
        Ok(())
    }

    /// Writes a snapshot of the applied state when it moved since the last one,
    /// then drops old snapshots and the received segments they make unneeded.
    pub fn checkpoint(&self) -> anyhow::Result<()> {
        let sid = self.system_id.load(Ordering::Acquire);
        if sid == 0 {
            return Ok(());
        }
        let (dbs, lsn) = {
            let st = self.lock_state();
            (st.dbs.clone(), st.applied_lsn())
        };
        if lsn <= self.last_checkpoint_lsn.load(Ordering::Acquire) {
            return Ok(());
        }
        // Replay applies received log as soon as it is written, while its fsync
        // may still be under way: the snapshot must not cover records that a
        // crash could take from the received log, or the log after it would
        // resume below the snapshot. (The receiver holds the mirror from a
        // batch's first write to its fsync, so this mostly waits for that.)
        {
            let mut m = self
                .receiver
                .mirror
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if m.durable_lsn() < lsn {
                m.sync()
                    .context("fsync the received log before a checkpoint")?;
            }
        }
        let tl = self.receiver.received.borrow().timeline.max(1);
        let w = snapshot::write(&StdFs, &self.snap_dir, &dbs, sid, lsn, tl)?;
        self.last_checkpoint_lsn.store(lsn, Ordering::Release);
        let kept = snapshot::keep_newest(&StdFs, &self.snap_dir, self.cfg.keep_snapshots.max(1))?;
        // Keep the received log from the oldest kept snapshot on, and what
        // downstreams have not acknowledged (within --max-retained-wal).
        let snapshot_floor = kept.oldest_lsn.unwrap_or(lsn);
        let head = self.receiver.received.borrow().received_lsn;
        let floor = self.cascade.floor(snapshot_floor, head).keep_from_lsn;
        let removed = remove_segments(&StdFs, &self.wal_dir, floor)?;
        if let Some(oldest) = removed.below_lsn {
            self.cascade.removed_below(oldest);
        }
        tracing::info!(lsn, path = %w.path.display(), removed_segments = removed.segments, "standby checkpoint");
        Ok(())
    }
}

/// The control file of a standby that received the log of `system_id` into
/// `wal_dir` (its segment size is that of the received segments).
///
/// # Errors
/// The WAL directory cannot be listed.
pub fn standby_control(
    wal_dir: &Path,
    system_id: u64,
    timeline: u32,
) -> Result<Control, crate::wal::WalError> {
    let segment_bytes = list_segments(&StdFs, wal_dir)?
        .last()
        .and_then(|s| std::fs::metadata(&s.path).ok())
        .map_or(crate::wal::writer::DEFAULT_SEGMENT_BYTES, |m| m.len());
    Ok(Control {
        version: CONTROL_VERSION,
        system_id,
        role: Role::Standby,
        timeline: timeline.max(1),
        segment_bytes,
        created_unix_ms: crate::clock::now_unix_ms(),
        fenced: None,
        halted_at: None,
    })
}
