//! The archive: the log, its timeline histories and snapshots copied into
//! S3-compatible object storage (or a mounted share), for point-in-time
//! restore and for standbys that follow it without a link to the primary.
//!
//! | module     | owns                                                          |
//! |------------|---------------------------------------------------------------|
//! | `object`   | the byte layout of every archive object (header, body, checks)  |
//! | `crypt`    | client-side encryption of object bodies                        |
//! | `layout`   | object names, sorted by position                               |
//! | `store`    | the object store behind a URL: create-only writes, durable `file://` |
//! | `progress` | the archiver's status and local state file                     |
//! | `prune`    | retention: snapshots past the policy, the WAL below the oldest kept |
//! | `push_objects` | the archiver's histories, snapshots, heartbeats and gaps |
//! | `push`     | the archiver: batching, gaps, snapshots, heartbeats            |
//! | `catalog`  | what an archive holds: chains per timeline, gaps, restorable window |
//! | `restore`  | point-in-time restore: the base, the chain, what the archive proves |
//! | `replay`   | a restore's replay: fetches ahead, the log writer thread, applying |
//! | `read`     | an archive's records one by one (`dump URL`)                    |

pub mod catalog;
pub mod crypt;
pub mod layout;
pub mod object;
pub mod progress;
pub mod prune;
pub mod push;
mod push_objects;
pub mod read;
pub mod replay;
pub mod restore;
pub mod store;

pub use crypt::ArchiveKey;
pub use progress::{ArchiveProgress, ArchiveStatus};
pub use store::ArchiveStore;

use std::time::Duration;

/// Default of `--archive-every`.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(10);
/// Default of `--archive-max-object`.
pub const DEFAULT_MAX_OBJECT_BYTES: usize = 16 << 20;
/// Default of `--archive-snapshot-every`.
pub const DEFAULT_SNAPSHOT_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Default of `--archive-heartbeat`.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(300);
/// Default of `--archive-parallel`.
pub const DEFAULT_PARALLEL: usize = 4;

/// How a node archives (`--archive-to` and friends).
#[derive(Debug, Clone)]
pub struct ArchiveSettings {
    pub url: String,
    /// How often durable WAL is archived (the archive's RPO).
    pub every: Duration,
    /// Largest WAL object, uncompressed.
    pub max_object_bytes: usize,
    /// Objects written at once when behind.
    pub parallel: usize,
    /// How often the newest snapshot is archived as a base (zero: only the
    /// first, after a gap, and on demand).
    pub snapshot_every: Duration,
    /// How often an idle archiver says the log still ends where it did.
    pub heartbeat: Duration,
    /// Client-side encryption.
    pub key: Option<ArchiveKey>,
    /// What the archiver removes after each snapshot it archives.
    pub retention: prune::Retention,
}

impl ArchiveSettings {
    /// The defaults, archiving to `url`.
    pub fn new(url: &str) -> ArchiveSettings {
        ArchiveSettings {
            url: url.to_string(),
            every: DEFAULT_EVERY,
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            parallel: DEFAULT_PARALLEL,
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            heartbeat: DEFAULT_HEARTBEAT,
            key: None,
            retention: prune::Retention::default(),
        }
    }
}

/// Errors of archiving and restoring, each naming what and where.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Wal(#[from] crate::wal::WalError),
    #[error(transparent)]
    Io(#[from] crate::durable::IoError),
    #[error("{0}")]
    Local(String),
    #[error("archive {url}: object {name}: {source}")]
    Object {
        url: String,
        name: String,
        #[source]
        source: object::ObjectError,
    },
    #[error("archive {url} holds this system's WAL up to LSN {}, past the end of this node's log ({}): another node archived there; archiving stops", crate::wal::format_lsn(*archived_lsn), crate::wal::format_lsn(*log_end_lsn))]
    AheadOfLog {
        url: String,
        archived_lsn: u64,
        log_end_lsn: u64,
    },
    #[error("{0}")]
    Refused(String),
}
