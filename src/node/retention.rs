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

#[cfg(test)]
mod tests {
    use super::*;

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
