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

use crate::durable::IoError;
use crate::fs::Fs;
use serde::{Deserialize, Serialize};
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
    pub fn read(fs: &dyn Fs, dir: &Path) -> Option<PrimaryPosition> {
        let bytes = fs.read(&dir.join(POSITION_FILE)).ok()?;
        if bytes.len() as u64 > MAX_POSITION_BYTES {
            return None;
        }
        serde_json::from_slice(&bytes).ok()
    }

    /// Replaces the file of data directory `dir` durably
    /// ([`crate::fs::replace`]); a failed write leaves the old file.
    ///
    /// # Errors
    /// [`IoError`] naming the file.
    pub fn write(&self, fs: &dyn Fs, dir: &Path) -> Result<(), IoError> {
        let json = serde_json::to_vec(self).expect("a position always serializes");
        crate::fs::replace(fs, &dir.join(POSITION_FILE), &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::StdFs;

    #[test]
    fn round_trips_and_tolerates_absence() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(PrimaryPosition::read(&StdFs, d.path()), None);
        let p = PrimaryPosition {
            primary_durable_lsn: 7,
            last_receive_unix_ms: 8,
            last_record_unix_ms: 9,
            received_lsn: 6,
        };
        p.write(&StdFs, d.path()).unwrap();
        assert_eq!(PrimaryPosition::read(&StdFs, d.path()), Some(p));
        std::fs::write(d.path().join(POSITION_FILE), b"{garbage").unwrap();
        assert_eq!(PrimaryPosition::read(&StdFs, d.path()), None);
    }
}
