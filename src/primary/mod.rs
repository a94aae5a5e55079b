//! The primary: a durable key-value server speaking RESP2 that logs every change
//! through the WAL before anyone sees it.
//!
//! | module        | owns                                                          |
//! |---------------|---------------------------------------------------------------|
//! | `recovery`    | newest valid snapshot + WAL replay at start                   |
//! | `db`          | the keyspace behind its lock; log-then-apply of effects       |
//! | `conn`        | its part of a client session: log-then-apply, the WAL wait, WAIT, LOGSHIP, blocked clients' waits |
//! | `blocking`    | clients blocked on keys (BLPOP, …): the registry, serving them after a committed write |
//! | `server_cmds` | INFO, CONFIG, WAIT inside MULTI                               |
//! | `checkpoint`  | snapshots by WAL bytes and time, retention of WAL and snapshots |
//! | `expire`      | the active expiry sweep (logged deletes)                      |
//! | `server`      | start-up, the accept loop, signals, clean shutdown            |
//! | `shipping`    | the shipper over this WAL, retention for standbys, `WAIT`     |
//! | `reload`      | SIGHUP: the configuration re-read, what may change switched over |
//! | `seed_source` | the newest valid snapshot, offered to seed a standby          |
//! | `admin_cmds`  | the admin socket's requests: `status`, `ship_now`             |
//! | `fence`       | `LOGSHIP` control commands: position, history, fence, unfence; `fence::command` parses and signs them |

mod admin_cmds;
pub mod blocking;
pub mod checkpoint;
mod conn;
pub mod db;
mod expire;
pub mod fence;
pub mod recovery;
mod reload;
pub mod seed_source;
pub mod server;
pub mod server_cmds;
pub mod shipping;

use crate::node::control::Control;
use crate::resp::Limits;
use crate::wal::{SyncPolicy, Wal};
use checkpoint::CheckpointStatus;
use db::State;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use server::run;

/// Which tokio runtime serves the clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeKind {
    /// One thread runs every connection (the WAL writer has its own thread).
    CurrentThread,
    /// A worker thread per core.
    MultiThread,
}

/// How the primary runs.
#[derive(Debug, Clone)]
pub struct PrimaryConfig {
    pub data_dir: PathBuf,
    pub listen: String,
    pub sync: SyncPolicy,
    pub limits: Limits,
    /// Most bytes buffered from one client without a complete command.
    pub max_query_bytes: usize,
    /// Replies buffered for one client before they are sent (commands past it
    /// wait for the next round).
    pub max_output_bytes: usize,
    pub max_clients: usize,
    pub checkpoint_wal_bytes: u64,
    pub checkpoint_interval: Duration,
    pub keep_snapshots: usize,
    pub runtime: RuntimeKind,
    /// How long shutdown waits for connections to finish their work.
    pub shutdown_timeout: Duration,
    /// Standbys to ship to (`None`: no shipping).
    pub ship: Option<shipping::ShipConfig>,
    /// Most WAL kept behind the head for standbys (and the archive) that have
    /// not received it.
    pub max_retained_wal_bytes: u64,
    /// Where the log is archived (`--archive-to`; `None`: nowhere).
    pub archive: Option<crate::archive::ArchiveSettings>,
    /// The password RESP clients must give (`--requirepass-file`).
    pub requirepass: Option<crate::resp::auth::Password>,
    /// Past this much memory in use, commands that may grow the keyspace
    /// are refused (`--maxmemory`; `None`: no limit).
    pub maxmemory_bytes: Option<u64>,
    /// Metrics, status page, event hooks.
    pub monitor: crate::metrics::MonitorConfig,
    /// Under `logship run`: what a fenced primary asks to learn that it may
    /// stop and rejoin as a standby (`None`: it serves refusing writes until
    /// it is stopped).
    pub fenced_watch: Option<FencedWatch>,
    /// Re-reads the configuration on SIGHUP (`None`: nothing to re-read,
    /// e.g. a drill's scratch node).
    pub reload: Option<crate::node::reload::Reloader<PrimaryConfig>>,
}

/// Asked every [`FENCED_WATCH_EVERY`] while the primary is fenced, on a
/// blocking thread (it may ask other nodes over the network): the RESP
/// address of the node promoted in its place once that node serves as the
/// primary of a later timeline. Then the server stops as at a signal, and
/// [`server::run`] ends with [`server::StoppedFenced`] naming that address.
#[derive(Clone)]
pub struct FencedWatch(pub Arc<FencedAsk>);

/// The question a [`FencedWatch`] asks: the fence, the promoted node's address.
pub type FencedAsk = dyn Fn(&crate::node::control::Fence) -> Option<String> + Send + Sync;

impl std::fmt::Debug for FencedWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FencedWatch")
    }
}

/// How often a fenced primary with a [`FencedWatch`] asks it.
pub const FENCED_WATCH_EVERY: Duration = Duration::from_millis(100);

/// What every connection and background task shares.
pub struct Shared {
    db: Mutex<State>,
    pub wal: Arc<Wal>,
    pub cfg: PrimaryConfig,
    pub control: Control,
    pub data_dir: PathBuf,
    pub started: Instant,
    pub local_port: u16,
    pub clients: AtomicUsize,
    pub next_client_id: AtomicU64,
    pub checkpoint: Mutex<CheckpointStatus>,
    pub recovered_lsn: u64,
    pub replayed_records: u64,
    pub shipping: shipping::Shipping,
    pub fencing: fence::Fencing,
    /// Metrics and event hooks.
    pub monitor: Arc<crate::metrics::Monitor>,
    /// Memory in use, refreshed in the background under `--maxmemory`.
    pub used_memory: crate::memory::UsedMemory,
}

impl Shared {
    /// Locks the keyspace (a poisoned lock is taken over: the state is only
    /// changed by log-then-apply, which does not panic half way).
    pub fn lock_db(&self) -> MutexGuard<'_, State> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The LSN below which the WAL has acknowledged everything under the policy.
    pub fn acked_lsn(&self) -> u64 {
        let p = self.wal.position();
        match self.cfg.sync {
            SyncPolicy::Always => p.durable_lsn,
            _ => p.written_lsn,
        }
    }

    /// True when `--maxmemory` is set and the memory in use is past it.
    #[inline]
    pub fn over_maxmemory(&self) -> bool {
        self.cfg
            .maxmemory_bytes
            .is_some_and(|max| self.used_memory.bytes() > max)
    }

    /// A copy of the checkpoint status.
    pub fn checkpoint_status(&self) -> CheckpointStatus {
        self.checkpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
