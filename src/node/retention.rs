//! Which WAL segments may go: the rule every role's checkpoint applies to its
//! log (the primary's own, a standby's received one) once it knows the lowest
//! LSN it must keep.

use crate::wal::scan::SegmentFile;
use std::path::PathBuf;

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
