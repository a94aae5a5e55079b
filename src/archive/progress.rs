//! What the archiver has done, shared with status, metrics and retention, and
//! the small local file that lets it resume without listing the archive.

use crate::durable::IoError;
use crate::fs::Fs;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Name of the archiver's state file in a data directory.
pub const STATE_FILE: &str = "archive.state";

/// WAL the archive will never hold: removed before it was archived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapInfo {
    pub timeline: u32,
    pub start_lsn: u64,
    pub end_lsn: u64,
    pub reason: String,
}

/// The `archive` object of the status contract.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveStatus {
    /// The archive's URL (it holds no credentials).
    pub url: String,
    /// Everything below this LSN is in the archive.
    pub archived_lsn: u64,
    /// When the last object was written (0: none since start).
    pub last_archive_unix_ms: u64,
    /// Durable WAL not archived yet.
    pub lag_bytes: u64,
    /// Why the last attempt failed; `None` once one succeeds.
    pub last_error: Option<String>,
    /// Gaps this archiver recorded since it started.
    pub gaps: Vec<GapInfo>,
    pub objects_written: u64,
    pub bytes_written: u64,
    /// Whether the store refuses to overwrite on a create-only write (`None`:
    /// not probed yet).
    pub create_only_honoured: Option<bool>,
}

/// Shared between the archiver and the node.
#[derive(Debug, Default)]
pub struct ArchiveProgress {
    archived_lsn: AtomicU64,
    status: Mutex<ArchiveStatus>,
}

impl ArchiveProgress {
    /// Progress of an archiver writing to `url`, starting at nothing.
    pub fn new(url: &str) -> ArchiveProgress {
        ArchiveProgress {
            archived_lsn: AtomicU64::new(0),
            status: Mutex::new(ArchiveStatus {
                url: url.to_string(),
                ..Default::default()
            }),
        }
    }

    /// Everything below this LSN is archived: the primary keeps its WAL from
    /// here on (within `--max-retained-wal`).
    pub fn archived_lsn(&self) -> u64 {
        self.archived_lsn.load(Ordering::Acquire)
    }

    /// The status, with the lag against `durable_lsn`.
    pub fn status(&self, durable_lsn: u64) -> ArchiveStatus {
        let mut s = self.lock().clone();
        s.lag_bytes = durable_lsn.saturating_sub(s.archived_lsn);
        s
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ArchiveStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut ArchiveStatus)) {
        let mut s = self.lock();
        f(&mut s);
        self.archived_lsn.store(s.archived_lsn, Ordering::Release);
    }
}

/// The archiver's local state: where it got to in which archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalState {
    pub url: String,
    pub system_id: u64,
    pub archived_lsn: u64,
    /// When the newest snapshot was archived, and its LSN.
    pub snapshot_unix_ms: u64,
    pub snapshot_lsn: Option<u64>,
}

impl LocalState {
    /// Reads the state file of a data directory; `None` when there is none or
    /// it cannot be understood (the archiver then asks the archive).
    pub fn read(fs: &dyn Fs, data_dir: &Path) -> Option<LocalState> {
        let bytes = fs.read(&data_dir.join(STATE_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Writes it durably (whole or not at all).
    ///
    /// # Errors
    /// [`IoError`] naming the file.
    pub fn write(&self, fs: &dyn Fs, data_dir: &Path) -> Result<(), IoError> {
        let text = serde_json::to_vec_pretty(self).expect("state serialises");
        crate::fs::replace(fs, &data_dir.join(STATE_FILE), &text)
    }
}
