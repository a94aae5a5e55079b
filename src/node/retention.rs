//! Which WAL segments may go: the rule every role's checkpoint applies to its
//! log (the primary's own, a standby's received one) once it knows the lowest
//! LSN it must keep.

use crate::durable::IoError;
use crate::fs::Fs;
use crate::wal::scan::{list_segments, SegmentFile};
use crate::wal::WalError;
use std::path::{Path, PathBuf};

/// WAL segments that hold nothing at or above `keep_from_lsn`: every segment
/// whose successor starts at or below the floor. The last segment is never
/// removable. [`crate::primary::shipping::retention_floor`] (on a primary) sets the floor.
pub fn removable_segments(segments: &[SegmentFile], keep_from_lsn: u64) -> Vec<PathBuf> {
    segments
        .windows(2)
        .filter(|w| w[1].first_lsn <= keep_from_lsn)
        .map(|w| w[0].path.clone())
        .collect()
}

/// What [`remove_segments`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Segments removed.
    pub segments: usize,
    /// With `segments > 0`: the log now starts at this LSN.
    pub below_lsn: Option<u64>,
}

/// Removes the segments of `wal_dir` that hold nothing at or above
/// `keep_from_lsn` ([`removable_segments`]), then fsyncs the directory.
///
/// # Errors
/// [`WalError`] listing the directory or naming the file it failed to
/// remove; the segments removed until then stay removed.
pub fn remove_segments(
    fs: &dyn Fs,
    wal_dir: &Path,
    keep_from_lsn: u64,
) -> Result<Removed, WalError> {
    let segments = list_segments(fs, wal_dir)?;
    let doomed = removable_segments(&segments, keep_from_lsn);
    if doomed.is_empty() {
        return Ok(Removed::default());
    }
    for path in &doomed {
        fs.remove(path).map_err(IoError::at("remove", path))?;
    }
    crate::fs::fsync_dir(fs, wal_dir)?;
    Ok(Removed {
        segments: doomed.len(),
        below_lsn: segments.get(doomed.len()).map(|s| s.first_lsn),
    })
}

/// The retention floor a checkpoint works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionFloor {
    /// WAL from the segment holding this LSN on is kept.
    pub keep_from_lsn: u64,
    /// Why the floor is where it is.
    pub bound: FloorBound,
}

/// What set the retention floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorBound {
    /// The oldest kept snapshot (no standby needs anything older).
    Snapshot,
    /// The standby furthest behind.
    Standby,
    /// The retained-WAL limit: some standby lacks WAL below the floor.
    Limit,
}

/// The floor below which WAL may be removed: the lower of the snapshot floor
/// and what the standbys acknowledged (`standby_floor`, `None` without
/// standbys), but never more than `max_retained_wal_bytes` behind `head_lsn`
/// unless the snapshot floor itself is (recovery needs that WAL).
pub fn retention_floor(
    snapshot_floor: u64,
    standby_floor: Option<u64>,
    head_lsn: u64,
    max_retained_wal_bytes: u64,
) -> RetentionFloor {
    let floor = |keep_from_lsn, bound| RetentionFloor {
        keep_from_lsn,
        bound,
    };
    let Some(standby) = standby_floor.filter(|s| *s < snapshot_floor) else {
        return floor(snapshot_floor, FloorBound::Snapshot);
    };
    let limit = head_lsn.saturating_sub(max_retained_wal_bytes);
    if standby >= limit {
        floor(standby, FloorBound::Standby)
    } else {
        floor(limit.min(snapshot_floor), FloorBound::Limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn the_floor_follows_snapshots_standbys_and_the_limit() {
        // No standbys: the snapshot floor.
        let f = retention_floor(500, None, 1000, GIB);
        assert_eq!((f.keep_from_lsn, f.bound), (500, FloorBound::Snapshot));
        // Standbys ahead of the snapshot floor change nothing.
        let f = retention_floor(500, Some(800), 1000, GIB);
        assert_eq!((f.keep_from_lsn, f.bound), (500, FloorBound::Snapshot));
        // A standby behind it holds the WAL back to what it acknowledged...
        let f = retention_floor(500, Some(0), 1000, GIB);
        assert_eq!((f.keep_from_lsn, f.bound), (0, FloorBound::Standby));
        let f = retention_floor(5 * GIB, Some(GIB), 6 * GIB, 5 * GIB);
        assert_eq!((f.keep_from_lsn, f.bound), (GIB, FloorBound::Standby));
        // ...up to the limit behind the head.
        let f = retention_floor(9 * GIB, Some(GIB), 10 * GIB, 4 * GIB);
        assert_eq!((f.keep_from_lsn, f.bound), (6 * GIB, FloorBound::Limit));
        // The limit never removes what the snapshots need.
        let f = retention_floor(3 * GIB, Some(GIB), 10 * GIB, 4 * GIB);
        assert_eq!((f.keep_from_lsn, f.bound), (3 * GIB, FloorBound::Limit));
        // A log shorter than the limit keeps everything a standby lacks.
        let f = retention_floor(900, Some(0), 1000, 1000);
        assert_eq!((f.keep_from_lsn, f.bound), (0, FloorBound::Standby));
        let f = retention_floor(900, Some(0), 1001, 1000);
        assert_eq!((f.keep_from_lsn, f.bound), (1, FloorBound::Limit));
    }

    fn seg(first_lsn: u64) -> SegmentFile {
        SegmentFile {
            path: PathBuf::from(format!("{first_lsn}")),
            timeline: 1,
            first_lsn,
        }
    }

    #[test]
    fn retention_keeps_the_segment_holding_the_floor() {
        let segs = [seg(0), seg(100), seg(200), seg(300)];
        let names = |v: Vec<PathBuf>| {
            v.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(removable_segments(&segs, 0)), Vec::<String>::new());
        assert_eq!(names(removable_segments(&segs, 150)), vec!["0"]);
        assert_eq!(names(removable_segments(&segs, 200)), vec!["0", "100"]);
        assert_eq!(
            names(removable_segments(&segs, u64::MAX)),
            vec!["0", "100", "200"]
        );
    }
}
