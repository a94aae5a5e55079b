//! The new timeline's first segment, prepared while the node is a standby.
//!
//! A log opened on a new timeline starts a segment, and a segment file is
//! allocated, zero-filled and synced before its first record (so that every
//! write of the log is an overwrite): 64 MiB, a quarter of a second on a disk
//! writing 250 MB/s. Done at the handover, that is most of a promotion. The
//! standby prepares the file ahead instead (`wal/promotion.spare`, made once
//! the segment size is known); the promotion takes it, and the log starts with
//! a header write and a rename. Without one (not ready yet, or it could not be
//! made) the promotion prepares its first segment as before.

use crate::fs::StdFs;
use crate::wal::prepare_segment_file;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The spare's file name inside the WAL directory (not a segment name, so
/// scans and shipping never see it).
pub const FILE_NAME: &str = "promotion.spare";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not prepared (yet, or again after a promotion that did not happen).
    Missing,
    /// On disk, prepared for segments of this size.
    Ready { segment_bytes: u64 },
    /// Preparing failed (a full disk, say): not tried again.
    Failed,
    /// A promotion took it.
    Taken,
}

/// The standby's spare segment file; see the module doc.
#[derive(Debug)]
pub struct PromotionSpare {
    path: PathBuf,
    /// Held while the file is prepared, so a promotion taking it waits for
    /// the preparation under way rather than preparing a second file.
    state: Mutex<State>,
}

impl PromotionSpare {
    /// The spare of the log in `wal_dir` (nothing is read or written yet).
    pub fn new(wal_dir: &Path) -> PromotionSpare {
        PromotionSpare {
            path: wal_dir.join(FILE_NAME),
            state: Mutex::new(State::Missing),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether [`ensure`](Self::ensure) has something to do.
    pub fn missing(&self) -> bool {
        *self.lock() == State::Missing
    }

    /// Prepares the file for segments of `segment_bytes` when it is missing
    /// (blocking I/O: call it off the async workers). A failure is logged
    /// once and not retried: promotion then prepares its own segment.
    pub fn ensure(&self, segment_bytes: u64) {
        let mut g = self.lock();
        if *g != State::Missing {
            return;
        }
        *g = match prepare_segment_file(&StdFs, &self.path, segment_bytes) {
            Ok(()) => State::Ready { segment_bytes },
            Err(e) => {
                tracing::warn!(error = %e, "the new timeline's first segment could not be prepared ahead: a promotion will prepare it");
                let _ = std::fs::remove_file(&self.path);
                State::Failed
            }
        };
    }

    /// Takes the file for a promotion's log on segments of `segment_bytes`:
    /// its path when it is ready for that size, else `None` (and a file of
    /// another size is removed). None is prepared after this, unless
    /// [`release`](Self::release)d.
    pub fn take(&self, segment_bytes: u64) -> Option<PathBuf> {
        let mut g = self.lock();
        let ready = matches!(*g, State::Ready { segment_bytes: b } if b == segment_bytes);
        if !ready && matches!(*g, State::Ready { .. }) {
            let _ = std::fs::remove_file(&self.path);
        }
        *g = State::Taken;
        ready.then(|| self.path.clone())
    }

    /// After a promotion that did not happen: prepare the file again (it may
    /// have become the segment of a switch that failed half-way).
    pub fn release(&self) {
        let mut g = self.lock();
        if *g == State::Taken {
            *g = State::Missing;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_once_taken_once_and_again_after_a_release() {
        let d = tempfile::tempdir().unwrap();
        let s = PromotionSpare::new(d.path());
        assert!(s.missing());
        s.ensure(1 << 20);
        let path = d.path().join(FILE_NAME);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 20);
        assert!(!s.missing());
        // Another segment size: not handed over, and removed.
        assert_eq!(s.take(2 << 20), None);
        assert!(!path.exists());
        s.release();
        s.ensure(1 << 20);
        assert_eq!(s.take(1 << 20), Some(path.clone()));
        // Taken: nothing more is prepared.
        s.ensure(1 << 20);
        assert_eq!(s.take(1 << 20), None);
    }
}
