//! `logship standby`: one process that receives the log (ship listener), replays
//! it continuously into the keyspace, checkpoints like the primary, and serves
//! read-only RESP and the admin socket.
//!
//! Its applied LSN is persisted with its checkpoints (the snapshot's LSN), and the
//! received log is its WAL, so a standby killed at any moment resumes without
//! losing or double-applying a record: it loads its newest snapshot and replays
//! the received log after it.

use super::position::PrimaryPosition;
use super::replay::{ApplyDelay, ReplayState, ReplayTarget, Replayer};
use super::state_lock::StateLock;
use crate::primary::checkpoint::removable_segments;
use crate::primary::control::{Control, Role, CONTROL_VERSION};
use crate::primary::datadir::{sync_dir, DataDir};
use crate::promote::check::Standing;
use crate::resp::Limits;
use crate::ship::receiver::{serve as serve_ship, ReceiveError, ReceiverShared};
use crate::ship::seed::{SeedSink, SeedWriter};
use crate::ship::{AuthKey, Received};
use crate::status::NodeStatus;
use crate::store::snapshot;
use crate::store::{Decoded, KvState, StateMachine};
use crate::wal::scan::list_segments;
use crate::wal::{timeline, Mirror, Record, RecordKind, StdFs, WalReader};
use anyhow::Context as _;
use parking_lot::MutexGuard;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How a standby runs.
#[derive(Debug, Clone)]
pub struct StandbyConfig {
    pub data_dir: PathBuf,
    /// Where primaries ship to.
    pub ship_listen: String,
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
    pub tls: Option<crate::ship::tls::ShipTls>,
    /// The password RESP clients must give (`--requirepass-file`).
    pub requirepass: Option<crate::resp::auth::Password>,
    /// Metrics, status page, event hooks.
    pub monitor: crate::metrics::MonitorConfig,
}

/// What the standby's tasks share.
pub struct Node {
    pub cfg: StandbyConfig,
    wal_dir: PathBuf,
    snap_dir: PathBuf,
    /// The replayed keyspace. Replay lets waiting readers in between slices
    /// of a batch ([`APPLY_SLICE_RECORDS`]).
    state: StateLock<KvState>,
    /// 0 until the first shipment names the cluster.
    system_id: AtomicU64,
    /// Whether the control file is on disk; held while it is written.
    control_written: Mutex<bool>,
    pub receiver: Arc<ReceiverShared>,
    replay: Mutex<Option<watch::Receiver<ReplayState>>>,
    pub next_client_id: AtomicU64,
    last_checkpoint_lsn: AtomicU64,
    /// Set while a promotion waits for replay: the apply delay no longer holds.
    pub(super) hurry: Arc<AtomicBool>,
    /// One promotion at a time.
    pub(super) promote_lock: tokio::sync::Mutex<()>,
    /// Set once the node is promoted: standby clients are sent away.
    pub promoted: AtomicBool,
    /// Where a promotion hands the keyspace and log to the primary server.
    pub(super) handover: Mutex<Option<tokio::sync::oneshot::Sender<super::promote::Handover>>>,
    /// The primary position last persisted.
    last_position: Mutex<PrimaryPosition>,
    /// The bound addresses: ship listener, RESP.
    bound: std::sync::OnceLock<(String, String)>,
    /// Metrics and event hooks.
    pub monitor: Arc<crate::metrics::Monitor>,
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

    /// Persists the primary's reported position when it changed.
    fn save_position(&self) -> anyhow::Result<()> {
        let r: Received = *self.receiver.received.borrow();
        let p = PrimaryPosition {
            primary_durable_lsn: r.primary_durable_lsn.max(r.received_lsn),
            last_receive_unix_ms: r.last_receive_unix_ms,
            last_record_unix_ms: r.last_record_unix_ms,
            received_lsn: r.received_lsn,
        };
        let mut last = self.last_position.lock().unwrap_or_else(|e| e.into_inner());
        if p != *last && r.system_id != 0 {
            p.write(&self.cfg.data_dir)?;
            *last = p;
        }
        Ok(())
    }

    /// Locks the replayed keyspace.
    pub fn lock_state(&self) -> MutexGuard<'_, KvState> {
        self.state.lock()
    }

    fn replay_state(&self) -> ReplayState {
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
            (st.applied_lsn(), st.keyspace.len())
        };
        self.status_of(applied, keys)
    }

    /// The report for a state the caller has already looked at (it may hold the
    /// state's lock: this takes no lock of it).
    fn status_of(&self, applied: u64, keys: usize) -> NodeStatus {
        let r: Received = *self.receiver.received.borrow();
        let rs = self.replay_state();
        let last_error = self.receiver.last_error();
        let now = crate::primary::now_unix_ms();
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
            ship_listen: self.bound.get().map(|b| b.0.clone()),
            listen: self.bound.get().map(|b| b.1.clone()),
            ship_tls: Some(self.cfg.tls.is_some()),
            started_unix_ms: Some(self.monitor.started_unix_ms),
            records_applied_total: Some(rs.records_applied_total),
            last_receive_error: last_error.as_ref().map(|e| e.1.clone()),
            last_receive_error_unix_ms: last_error.as_ref().map(|e| e.0),
            ..NodeStatus::default()
        }
    }

    /// INFO text (sections server, replication, keyspace) for a state the caller
    /// holds locked.
    pub fn info_text(&self, st: &KvState) -> String {
        let keys = st.keyspace.len();
        let s = self.status_of(st.applied_lsn(), keys);
        let up = s
            .last_receive_unix_ms
            .is_some_and(|t| crate::primary::now_unix_ms().saturating_sub(t) < 60_000);
        format!(
            "# Server\r\nlogship_version:{}\r\nrole:standby\r\n\r\n# Replication\r\nrole:slave\r\nmaster_link_status:{}\r\nsystem_id:{}\r\ntimeline:{}\r\nreceived_lsn:{}\r\napplied_lsn:{}\r\nprimary_durable_lsn:{}\r\nlag_bytes:{}\r\nlag_seconds:{:.3}\r\nslave_read_only:1\r\n\r\n# Keyspace\r\ndb0:keys={keys}\r\n",
            env!("CARGO_PKG_VERSION"),
            if up { "up" } else { "down" },
            s.system_id,
            s.timeline,
            s.received_lsn.unwrap_or(0),
            s.applied_lsn.unwrap_or(0),
            s.primary_durable_lsn.unwrap_or(0),
            s.lag_bytes.unwrap_or(0),
            s.lag_seconds.unwrap_or(0.0),
        )
    }

    /// Writes the control file once the cluster's identity is known (a
    /// directory whose first shipment came before the control file was
    /// written on arrival: its segment size is read off the received log).
    pub(super) fn ensure_control(&self, timeline: u32) -> anyhow::Result<()> {
        let sid = match self.system_id.load(Ordering::Acquire) {
            0 => self.receiver.received.borrow().system_id,
            sid => sid,
        };
        self.adopt_identity(sid, timeline, None)
    }

    /// Makes the cluster's identity durable in the control file, once:
    /// `segment_bytes` is what the primary's segment header announces, or,
    /// when `None`, that of the received segments on disk.
    fn adopt_identity(
        &self,
        sid: u64,
        timeline: u32,
        segment_bytes: Option<u64>,
    ) -> anyhow::Result<()> {
        let mut written = self
            .control_written
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if sid == 0 || *written {
            return Ok(());
        }
        let mut control = standby_control(&self.wal_dir, sid, timeline)?;
        if let Some(bytes) = segment_bytes {
            control.segment_bytes = bytes;
        }
        control.write(&self.cfg.data_dir)?;
        self.system_id.store(sid, Ordering::Release);
        *written = true;
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
        let (keyspace, lsn) = {
            let st = self.lock_state();
            (st.keyspace.clone(), st.applied_lsn())
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
        let w = snapshot::write(&self.snap_dir, &keyspace, sid, lsn, tl)?;
        self.last_checkpoint_lsn.store(lsn, Ordering::Release);
        let snaps = snapshot::list(&self.snap_dir)?;
        let keep = self.cfg.keep_snapshots.max(1);
        let cut = snaps.len().saturating_sub(keep);
        for (_, p) in &snaps[..cut] {
            std::fs::remove_file(p).with_context(|| format!("remove {}", p.display()))?;
        }
        if cut > 0 {
            sync_dir(&self.snap_dir)?;
        }
        // Keep the received log from the oldest kept snapshot on.
        let floor = snaps[cut..].first().map_or(lsn, |s| s.0);
        let segments = list_segments(&StdFs, &self.wal_dir)?;
        let doomed = removable_segments(&segments, floor);
        for p in &doomed {
            std::fs::remove_file(p).with_context(|| format!("remove {}", p.display()))?;
        }
        if !doomed.is_empty() {
            sync_dir(&self.wal_dir)?;
        }
        tracing::info!(lsn, path = %w.path.display(), removed_segments = doomed.len(), "standby checkpoint");
        Ok(())
    }
}

/// The control file of a standby that received the log of `system_id` into
/// `wal_dir` (its segment size is that of the received segments).
///
/// # Errors
/// The WAL directory cannot be listed.
pub fn standby_control(wal_dir: &Path, system_id: u64, timeline: u32) -> anyhow::Result<Control> {
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
        created_unix_ms: crate::primary::now_unix_ms(),
        fenced: None,
    })
}

/// Replay into the node's keyspace: the primary's apply code.
struct Target(Arc<Node>);

impl ReplayTarget for Target {
    fn applied_lsn(&self) -> u64 {
        self.0.lock_state().applied_lsn()
    }

    fn apply_batch(&self, records: &[Record]) -> Result<u64, String> {
        let (decoded, bad) = decode_all(records);
        let state = &self.0.state;
        let applied = apply_locked(state, &mut state.lock(), &decoded);
        bad.map_or(Ok(applied), Err)
    }

    fn apply_batch_at(&self, start_lsn: u64, records: &[Record]) -> Result<bool, String> {
        let (decoded, bad) = decode_all(records);
        let state = &self.0.state;
        let mut st = state.lock();
        if st.applied_lsn() != start_lsn {
            return Ok(false);
        }
        apply_locked(state, &mut st, &decoded);
        bad.map_or(Ok(true), Err)
    }
}

/// Decodes `records` (before the state is locked) up to the first whose
/// payload cannot be decoded, and names that one.
fn decode_all(records: &[Record]) -> (Vec<Decoded<'_>>, Option<String>) {
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        if r.kind != RecordKind::Data {
            out.push(Decoded::other(r.lsn, r.end_lsn));
            continue;
        }
        match Decoded::data(r.lsn, r.end_lsn, &r.payload) {
            Ok(d) => out.push(d),
            Err(e) => return (out, Some(e.to_string())),
        }
    }
    (out, None)
}

/// Records applied per hold of the state's lock. Between two slices readers
/// waiting for the lock get it ([`StateLock::between_slices`]), so a GET waits
/// for one slice at most, never for a whole chunk or batch: under a write load
/// a chunk holds dozens of records, each costing a few cache misses.
pub const APPLY_SLICE_RECORDS: usize = 16;

/// Applies decoded records to the locked state, a slice at a time (records
/// below its applied LSN are skipped: already applied, or covered by a seed
/// installed while the lock was handed over between slices); returns how many
/// were applied.
fn apply_locked(
    lock: &StateLock<KvState>,
    st: &mut MutexGuard<'_, KvState>,
    records: &[Decoded<'_>],
) -> u64 {
    let mut applied = 0;
    for (i, slice) in records.chunks(APPLY_SLICE_RECORDS).enumerate() {
        if i > 0 {
            lock.between_slices(st);
        }
        applied += st.apply_decoded(slice);
    }
    applied
}

/// Receives a seeding snapshot into `snapshots/` and makes it the state.
struct Seeds(Arc<Node>);

struct SeedFile {
    node: Arc<Node>,
    tmp: PathBuf,
    file: std::fs::File,
    lsn: u64,
    system_id: u64,
}

impl SeedSink for Seeds {
    fn begin(
        &self,
        lsn: u64,
        _total: u64,
        system_id: u64,
        _timeline: u32,
    ) -> std::io::Result<Box<dyn SeedWriter>> {
        let known = self.0.system_id.load(Ordering::Acquire);
        if known != 0 && known != system_id {
            return Err(std::io::Error::other(format!(
                "snapshot of system {system_id:016x}, this standby belongs to {known:016x}"
            )));
        }
        let tmp = self.0.snap_dir.join(SEED_TMP);
        let file = std::fs::File::create(&tmp)?;
        Ok(Box::new(SeedFile {
            node: self.0.clone(),
            tmp,
            file,
            lsn,
            system_id,
        }))
    }
}

impl SeedWriter for SeedFile {
    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all(data)
    }

    fn finish(self: Box<Self>) -> std::io::Result<()> {
        self.file.sync_all()?;
        let (header, keyspace) =
            snapshot::read(&self.tmp, self.system_id).map_err(std::io::Error::other)?;
        if header.lsn != self.lsn {
            return Err(std::io::Error::other(
                "snapshot LSN differs from the one announced",
            ));
        }
        let path = self.node.snap_dir.join(snapshot::file_name(self.lsn));
        std::fs::rename(&self.tmp, &path)?;
        sync_dir(&self.node.snap_dir).map_err(std::io::Error::other)?;
        let n = keyspace.len();
        *self.node.lock_state() = KvState::new(keyspace, self.lsn);
        self.node.system_id.store(self.system_id, Ordering::Release);
        self.node
            .last_checkpoint_lsn
            .store(self.lsn, Ordering::Release);
        tracing::info!(
            lsn = self.lsn,
            keys = n,
            "seeded from the primary's snapshot"
        );
        Ok(())
    }
}

/// Where a seed's snapshot is written before it is checked and renamed.
const SEED_TMP: &str = "incoming.seed.tmp";

/// Removes what an interrupted seeding left of a snapshot: it was never
/// checked nor installed, and the next seed starts over.
fn discard_partial_seed(snap_dir: &Path) -> anyhow::Result<()> {
    let tmp = snap_dir.join(SEED_TMP);
    match std::fs::remove_file(&tmp) {
        Ok(()) => {
            sync_dir(snap_dir)?;
            tracing::info!(path = %tmp.display(), "removed the partial seed snapshot an interrupted seeding left");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("remove {}", tmp.display())),
    }
}

/// Loads the newest snapshot that reads back, or an empty state.
fn load_state(snap_dir: &Path, system_id: u64) -> anyhow::Result<KvState> {
    if system_id == 0 {
        return Ok(KvState::default());
    }
    let mut snaps = snapshot::list(snap_dir)?;
    snaps.reverse();
    for (lsn, path) in snaps {
        match snapshot::read(&path, system_id) {
            Ok((_, ks)) => {
                tracing::info!(lsn, keys = ks.len(), "loaded snapshot");
                return Ok(KvState::new(ks, lsn));
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "snapshot unusable; trying an older one")
            }
        }
    }
    Ok(KvState::default())
}

/// Runs a standby until SIGTERM/SIGINT (clean: checkpoint, exit 0) or a fatal
/// error.
///
/// # Errors
/// Start-up problems (directory, lock, damaged received log, ports) and fatal
/// errors writing the received log, each as one message.
pub fn run(cfg: StandbyConfig) -> anyhow::Result<()> {
    let (dir, control) = DataDir::open_standby(&cfg.data_dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    rt.block_on(serve(dir, control, cfg))
}

async fn serve(dir: DataDir, control: Option<Control>, cfg: StandbyConfig) -> anyhow::Result<()> {
    let wal_dir = dir.wal_dir();
    let snap_dir = dir.snapshot_dir();
    let (mirror, report) = Mirror::open(StdFs::shared(), &wal_dir)
        .with_context(|| format!("open the received log in {}", wal_dir.display()))?;
    let system_id = control
        .as_ref()
        .map(|c| c.system_id)
        .or(report.system_id)
        .unwrap_or(0);
    discard_partial_seed(&snap_dir)?;
    let state = load_state(&snap_dir, system_id)?;
    let applied0 = state.applied_lsn();
    if let Some(first) = report.first_lsn {
        if first > applied0 && report.end_lsn > applied0 {
            anyhow::bail!(
                "the received log in {} starts at LSN {first:#x}, but the newest snapshot covers only up to LSN {applied0:#x}: \
                 records in between are missing; empty the directory to re-seed this standby",
                wal_dir.display()
            );
        }
    }
    let tl = timeline::latest_timeline(&StdFs, &wal_dir)?;
    let closed = timeline::closed(&timeline::read_history(&StdFs, &wal_dir, tl)?);
    let (applied_tx, applied_rx) = watch::channel(applied0);
    let monitor = crate::metrics::Monitor::new(cfg.monitor.clone(), "standby")?;
    let node = Arc::new_cyclic(|weak: &std::sync::Weak<Node>| {
        let seeds: Arc<dyn SeedSink> = Arc::new(LazySeeds(weak.clone()));
        let receiver = ReceiverShared::with_tls(
            mirror,
            applied_rx,
            cfg.key.clone(),
            Some(seeds),
            cfg.tls.clone(),
        );
        *receiver
            .closed_timelines
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = closed;
        Node {
            wal_dir: wal_dir.clone(),
            snap_dir: snap_dir.clone(),
            state: StateLock::new(state),
            system_id: AtomicU64::new(system_id),
            control_written: Mutex::new(control.is_some()),
            receiver,
            replay: Mutex::new(None),
            next_client_id: AtomicU64::new(0),
            last_checkpoint_lsn: AtomicU64::new(applied0),
            hurry: Arc::new(AtomicBool::new(false)),
            promote_lock: tokio::sync::Mutex::new(()),
            promoted: AtomicBool::new(false),
            handover: Mutex::new(None),
            last_position: Mutex::new(PrimaryPosition::read(&cfg.data_dir).unwrap_or_default()),
            bound: std::sync::OnceLock::new(),
            monitor: monitor.clone(),
            cfg: cfg.clone(),
        }
    });
    node.receiver.on_refuse(monitor.refuse_hook());
    let weak = Arc::downgrade(&node);
    node.receiver
        .set_identity_hook(Arc::new(move |h: &crate::wal::format::SegmentHeader| {
            let n = weak
                .upgrade()
                .ok_or_else(|| "the standby is shutting down".to_string())?;
            n.adopt_identity(h.system_id, h.timeline, Some(h.segment_bytes))
                .map_err(|e| format!("write the control file: {e:#}"))
        }));
    let mut replayer = Replayer::start(
        StdFs::shared(),
        wal_dir.clone(),
        node.receiver.received.subscribe(),
        Arc::new(Target(node.clone())),
        ApplyDelay {
            delay: cfg.apply_delay,
            hurry: node.hurry.clone(),
        },
        applied_tx,
        tokio::runtime::Handle::current(),
    )?;
    *node.replay.lock().unwrap_or_else(|p| p.into_inner()) = Some(replayer.state());
    if let Some(inline) = replayer.inline() {
        node.receiver.set_inline_apply(inline);
    }

    let ship_listener = tokio::net::TcpListener::bind(&cfg.ship_listen)
        .await
        .with_context(|| format!("listen for shipments on {}", cfg.ship_listen))?;
    let resp_listener = Arc::new(
        tokio::net::TcpListener::bind(&cfg.listen)
            .await
            .with_context(|| format!("listen for clients on {}", cfg.listen))?,
    );
    let admin = crate::admin::bind(&cfg.data_dir)
        .await
        .context("bind the admin socket")?;
    let _ = node.bound.set((
        ship_listener.local_addr()?.to_string(),
        resp_listener.local_addr()?.to_string(),
    ));
    crate::say!(
        "logship standby listening on {} (shipments on {})",
        resp_listener.local_addr()?,
        ship_listener.local_addr()?
    );
    let _ = std::io::stdout().flush();
    tracing::info!(
        ship_listen = %ship_listener.local_addr()?,
        listen = %resp_listener.local_addr()?,
        received_lsn = report.end_lsn,
        applied_lsn = applied0,
        apply_delay_ms = cfg.apply_delay.as_millis() as u64,
        "standby ready"
    );
    let weak = Arc::downgrade(&node);
    let status: crate::metrics::Source = Arc::new(move || {
        weak.upgrade()
            .map_or_else(NodeStatus::default, |n| n.status())
    });
    let name = format!("standby {}", ship_listener.local_addr()?);
    monitor.start(name, status).await?;
    let (_receiving, ship_task) = Receiving::start(ship_listener, node.receiver.clone())?;
    let mut resp_task = tokio::spawn(super::serve::serve(resp_listener.clone(), node.clone()));
    let (handover_tx, mut handover_rx) = tokio::sync::oneshot::channel();
    *node.handover.lock().unwrap_or_else(|p| p.into_inner()) = Some(handover_tx);
    let n2 = node.clone();
    let handler: crate::admin::Handler = Arc::new(move |req: serde_json::Value| {
        let n = n2.clone();
        Box::pin(async move {
            match req["cmd"].as_str() {
                Some("status") => serde_json::to_value(n.status()).map_err(|e| e.to_string()),
                Some("promote") => {
                    let r: super::promote::Request =
                        serde_json::from_value(req.clone()).map_err(|e| e.to_string())?;
                    let report = super::promote::promote(&n, r).await?;
                    serde_json::to_value(report).map_err(|e| e.to_string())
                }
                Some(other) => Err(format!("unknown command '{other}'")),
                None => Err("missing cmd".into()),
            }
        })
    });
    let mut admin_task = tokio::spawn(crate::admin::serve(admin, handler));

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_checkpoint = std::time::Instant::now();
    let mut ship_task = ship_task;
    let outcome: anyhow::Result<Option<super::promote::Handover>> = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break Ok(None),
            _ = term.recv() => break Ok(None),
            h = &mut handover_rx => match h {
                Ok(h) => break Ok(Some(h)),
                Err(_) => continue,
            },
            r = &mut ship_task => {
                break match r {
                    Ok(Err(e)) => Err(anyhow::anyhow!(e)),
                    Ok(Ok(())) => Ok(None),
                    Err(e) => Err(anyhow::anyhow!("ship listener failed: {e}")),
                };
            }
            _ = tick.tick() => {
                let r = *node.receiver.received.borrow();
                if r.system_id != 0 {
                    node.system_id.store(r.system_id, Ordering::Release);
                }
                let n = node.clone();
                let due = last_checkpoint.elapsed() >= cfg.checkpoint_interval;
                let res = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                    n.ensure_control(r.timeline)?;
                    n.save_position()?;
                    if due {
                        n.checkpoint()?;
                    }
                    Ok(())
                })
                .await?;
                if let Err(e) = res {
                    tracing::error!(error = %e, "standby housekeeping failed");
                }
                if due {
                    last_checkpoint = std::time::Instant::now();
                }
                if replayer.state().borrow().failed {
                    break Err(anyhow::anyhow!("replay stopped on a record it cannot apply (see the log above)"));
                }
            }
        }
    };
    resp_task.abort();
    admin_task.abort();
    replayer.stop();
    let handover = match outcome {
        Ok(Some(h)) => h,
        other => {
            ship_task.abort();
            let n = node.clone();
            tokio::task::spawn_blocking(move || {
                n.ensure_control(n.receiver.received.borrow().timeline)?;
                n.save_position()?;
                n.checkpoint()
            })
            .await??;
            let _ = std::fs::remove_file(crate::admin::socket_path(&cfg.data_dir));
            drop(dir);
            return other.map(|_| ());
        }
    };
    // Promoted: the primary server takes over the RESP listener, the keyspace,
    // the log and the directory lock; the ship listener stays, refusing.
    let _ = (&mut resp_task).await;
    let _ = (&mut admin_task).await;
    let listener = match Arc::try_unwrap(resp_listener) {
        Ok(l) => l,
        Err(shared) => {
            let addr = shared.local_addr()?;
            drop(shared);
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listen on {addr} as the primary"))?
        }
    };
    let mut pcfg = cfg.as_primary.clone();
    pcfg.listen = listener.local_addr()?.to_string();
    pcfg.data_dir = cfg.data_dir.clone();
    let served = crate::primary::server::serve_on(
        listener,
        dir,
        handover.control,
        handover.recovered,
        pcfg,
        Some(node.monitor.clone()),
    )
    .await;
    ship_task.abort();
    served
}

/// The ship listener and its connections, on a runtime of their own.
///
/// A chunk arriving wakes the task receiving it; on the client runtime that
/// wake queues behind whatever the clients' tasks are doing, and a client's GET
/// queues behind the decompression, checks and write of a chunk. On a thread
/// of its own, receiving and serving reads run side by side.
struct Receiving {
    runtime: Option<tokio::runtime::Runtime>,
}

type ShipTask = tokio::task::JoinHandle<Result<(), ReceiveError>>;

impl Receiving {
    fn start(
        listener: tokio::net::TcpListener,
        receiver: Arc<ReceiverShared>,
    ) -> anyhow::Result<(Receiving, ShipTask)> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("receiver")
            .enable_all()
            .build()
            .context("start the receiving thread")?;
        // A listener belongs to the runtime it was made on: move it over.
        let listener = listener.into_std().context("hand over the ship listener")?;
        let task = runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| ReceiveError::Fatal(format!("ship listener: {e}")))?;
            serve_ship(listener, receiver).await
        });
        let guard = Receiving {
            runtime: Some(runtime),
        };
        Ok((guard, task))
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // Dropping a runtime may block; this runs on another runtime.
            rt.shutdown_background();
        }
    }
}

/// The seed sink, reaching the node once it exists.
struct LazySeeds(std::sync::Weak<Node>);

impl SeedSink for LazySeeds {
    fn begin(
        &self,
        lsn: u64,
        total: u64,
        system_id: u64,
        timeline: u32,
    ) -> std::io::Result<Box<dyn SeedWriter>> {
        let node = self
            .0
            .upgrade()
            .ok_or_else(|| std::io::Error::other("standby is shutting down"))?;
        Seeds(node).begin(lsn, total, system_id, timeline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::effect::{encode, Blob, Effect};
    use bytes::Bytes;

    /// Data records SETting `k{i}` to `v{i}`, 64 bytes apart from LSN 0.
    fn sets(n: u64) -> Vec<Record> {
        (0..n)
            .map(|i| {
                let (k, v) = (format!("k{i}"), format!("v{i}"));
                let mut payload = Vec::new();
                encode(
                    &[Effect::Set {
                        key: Blob::borrowed(k.as_bytes()),
                        value: Blob::borrowed(v.as_bytes()),
                        expire_at_unix_ms: None,
                    }],
                    &mut payload,
                );
                Record {
                    lsn: i * 64,
                    end_lsn: (i + 1) * 64,
                    timeline: 1,
                    timestamp_unix_ms: 0,
                    kind: RecordKind::Data,
                    payload: Bytes::from(payload),
                    crc: 0,
                }
            })
            .collect()
    }

    #[test]
    fn a_reader_waiting_for_the_state_gets_it_between_two_slices_of_a_batch() {
        let records = sets(3 * APPLY_SLICE_RECORDS as u64);
        let (decoded, bad) = decode_all(&records);
        assert!(bad.is_none());
        // The reader must be waiting for the lock when the first slice ends;
        // a loaded machine may start it late, so the scene is replayed.
        for _ in 0..20 {
            let state = Arc::new(StateLock::new(KvState::default()));
            let mut st = state.lock();
            let s = state.clone();
            let reader = std::thread::spawn(move || s.lock().applied_lsn());
            std::thread::sleep(Duration::from_millis(100));
            assert_eq!(
                apply_locked(&state, &mut st, &decoded),
                records.len() as u64
            );
            assert_eq!(st.applied_lsn(), records.last().unwrap().end_lsn);
            assert_eq!(st.keyspace.len(), records.len());
            drop(st);
            let seen = reader.join().unwrap();
            if seen == records[APPLY_SLICE_RECORDS - 1].end_lsn {
                return;
            }
            assert_eq!(
                seen,
                records.last().unwrap().end_lsn,
                "only slice ends are seen"
            );
        }
        panic!("the waiting reader never got the state between two slices");
    }

    #[test]
    fn records_already_applied_are_skipped_and_a_bad_payload_stops_the_batch_there() {
        let mut records = sets(5);
        records[3].payload = Bytes::from_static(&[0xEE, 1, 2]);
        let (decoded, bad) = decode_all(&records);
        assert_eq!(decoded.len(), 3, "the records before the bad one");
        let bad = bad.unwrap();
        assert!(bad.contains("LSN 0xc0"), "{bad}");
        let state = StateLock::new(KvState::default());
        let mut st = state.lock();
        assert_eq!(apply_locked(&state, &mut st, &decoded[..1]), 1);
        assert_eq!(
            apply_locked(&state, &mut st, &decoded),
            2,
            "k0 was applied already"
        );
        assert_eq!(st.applied_lsn(), 3 * 64);
        assert_eq!(st.keyspace.get(b"k2").unwrap().value(), b"v2");
        assert!(st.keyspace.get(b"k3").is_none());
    }
}
