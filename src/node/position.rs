//! `primary.position` in a standby's data directory: what the primary last said
//! about itself, kept so that a stopped standby (and an offline promotion) still
//! knows how far behind it is.
//!
//! One JSON object, replaced atomically (tmp, fsync, rename, directory fsync)
//! at most once a second while shipments arrive, and at shutdown:
//!
//! ```text
//! {"primary_durable_lsn":5910304,"last_receive_unix_ms":1795357761398,"last_record_unix_ms":1795357761101,"received_lsn":5910304}
//! ```
//!
//! It is advisory: after a crash it may be up to a second old, so the loss a
//! promotion computes from it is a lower bound.

use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::Path;

/// File name in the data directory.
pub const POSITION_FILE: &str = "primary.position";
/// Largest file read.
const MAX_POSITION_BYTES: u64 = 4096;

/// The primary's position as the standby last heard it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimaryPosition {
    pub primary_durable_lsn: u64,
    pub last_receive_unix_ms: u64,
    pub last_record_unix_ms: u64,
    pub received_lsn: u64,
}

impl PrimaryPosition {
    /// Reads the file of data directory `dir`; `None` when it is missing or
    /// unreadable (a standby that never heard from a primary).
    pub fn read(dir: &Path) -> Option<PrimaryPosition> {
        let path = dir.join(POSITION_FILE);
        if std::fs::metadata(&path).ok()?.len() > MAX_POSITION_BYTES {
            return None;
        }
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// Replaces the file of data directory `dir` durably.
    ///
    /// # Errors
    /// I/O errors, naming the file.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let path = dir.join(POSITION_FILE);
        let tmp = dir.join(format!("{POSITION_FILE}.tmp"));
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        f.write_all(&serde_json::to_vec(self)?)
            .and_then(|_| f.sync_all())
            .with_context(|| format!("write {}", tmp.display()))?;
        drop(f);
        std::fs::rename(&tmp, &path).with_context(|| format!("rename {}", tmp.display()))?;
        crate::durable::sync_dir(dir)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_absence() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(PrimaryPosition::read(d.path()), None);
        let p = PrimaryPosition {
            primary_durable_lsn: 7,
            last_receive_unix_ms: 8,
            last_record_unix_ms: 9,
            received_lsn: 6,
        };
        p.write(d.path()).unwrap();
        assert_eq!(PrimaryPosition::read(d.path()), Some(p));
        std::fs::write(d.path().join(POSITION_FILE), b"{garbage").unwrap();
        assert_eq!(PrimaryPosition::read(d.path()), None);
    }
}
