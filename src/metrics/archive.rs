//! The archive's metrics: what a primary's archiver has done (`archive` of
//! status) and how far behind the archive a following standby is.

use crate::status::NodeStatus;

/// A gauge read from a status, or `None` when the node has no such thing.
type Gauge = (&'static str, &'static str, fn(&NodeStatus) -> Option<f64>);

/// Gauges of an archiving primary and of a standby following an archive.
pub const GAUGES: &[Gauge] = &[
    (
        "logship_archive_archived_lsn_bytes",
        "Everything of the log below this LSN is in the archive",
        |s| s.archive.as_ref().map(|a| a.archived_lsn as f64),
    ),
    (
        "logship_archive_lag_bytes",
        "Durable WAL not archived yet",
        |s| s.archive.as_ref().map(|a| a.lag_bytes as f64),
    ),
    (
        "logship_archive_last_object_timestamp_seconds",
        "When the archiver last wrote an object, Unix time (0: none since start)",
        |s| {
            s.archive
                .as_ref()
                .map(|a| a.last_archive_unix_ms as f64 / 1000.0)
        },
    ),
    (
        "logship_archive_failing",
        "1 while the archiver's last attempt failed (see status archive.last_error)",
        |s| {
            s.archive
                .as_ref()
                .map(|a| f64::from(u8::from(a.last_error.is_some())))
        },
    ),
    (
        "logship_archive_gaps",
        "Gaps recorded since start: WAL removed before it was archived",
        |s| s.archive.as_ref().map(|a| a.gaps.len() as f64),
    ),
    (
        "logship_archive_age_seconds",
        "Following an archive: seconds since it last proved this standby's log complete",
        |s| s.archive_age_seconds,
    ),
];

/// Counters of an archiving primary (`_total` is added).
pub const COUNTERS: &[Gauge] = &[
    (
        "logship_archive_objects",
        "Objects written to the archive since start",
        |s| s.archive.as_ref().map(|a| a.objects_written as f64),
    ),
    (
        "logship_archive_written_bytes",
        "Bytes of objects written to the archive since start (compressed)",
        |s| s.archive.as_ref().map(|a| a.bytes_written as f64),
    ),
];
