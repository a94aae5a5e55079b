//! How a log is opened: its directory, identity, segment size, record limit
//! and fsync policy, checked before anything is written.

use super::error::{Result, WalError};
use super::format::{
    MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES, RECORD_HEADER_BYTES, SEAL_RECORD_BYTES,
    SEGMENT_HEADER_BYTES,
};
use std::path::PathBuf;

/// The writer stops taking queued chunks into one batch once it holds this many bytes.
pub const MAX_WRITE_BYTES: usize = 1 << 20;
/// No record may be larger than this, whatever the configuration says.
pub const MAX_RECORD_BYTES_LIMIT: usize = 16 << 20;
/// Default segment size.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// When a write counts as acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// After `fdatasync` (group commit): nothing acknowledged is ever lost.
    Always,
    /// After `write`; `fdatasync` every `every_ms` milliseconds.
    Interval { every_ms: u64 },
    /// After `write`; the OS flushes when it likes. The durable LSN advances only
    /// when the log is closed.
    Never,
}

/// How to open or create a log.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// The WAL directory (segment files live directly in it).
    pub dir: PathBuf,
    /// The cluster's identity, written into every segment header.
    pub system_id: u64,
    /// Timeline for new records.
    pub timeline: u32,
    /// Segment file size.
    pub segment_bytes: u64,
    /// Largest payload accepted by `append` (≤ [`MAX_RECORD_BYTES_LIMIT`]).
    pub max_record_bytes: usize,
    /// When appends are acknowledged.
    pub sync: SyncPolicy,
    /// Bytes queued for the writer before appenders wait (back-pressure).
    pub max_pending_bytes: usize,
    /// LSN of the first record when the directory holds no segment yet.
    pub start_lsn: u64,
    /// A file in `dir` made by [`prepare_segment_file`](super::prepare_segment_file)
    /// with this `segment_bytes` (allocated, zero-filled, synced), to become
    /// the first segment when the log has none to continue: a log opened on a
    /// new timeline then starts with a header write and a rename instead of
    /// preparing a whole segment (a promoted standby prepares one ahead).
    pub first_segment_file: Option<PathBuf>,
}

impl WalOptions {
    /// Options with the defaults: 64 MiB segments, 16 MiB records, `always`.
    pub fn new(dir: impl Into<PathBuf>, system_id: u64, timeline: u32) -> WalOptions {
        WalOptions {
            dir: dir.into(),
            system_id,
            timeline,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            max_record_bytes: MAX_RECORD_BYTES_LIMIT,
            sync: SyncPolicy::Always,
            max_pending_bytes: 4 * MAX_WRITE_BYTES,
            start_lsn: 0,
            first_segment_file: None,
        }
    }

    /// The largest payload that fits both the limit and one segment.
    pub fn effective_max_record_bytes(&self) -> usize {
        let room = self.segment_bytes as usize
            - SEGMENT_HEADER_BYTES
            - RECORD_HEADER_BYTES
            - SEAL_RECORD_BYTES as usize;
        self.max_record_bytes.min(MAX_RECORD_BYTES_LIMIT).min(room)
    }

    /// Checks the options.
    ///
    /// # Errors
    /// [`WalError::Config`] naming the bad value.
    pub fn validate(&self) -> Result<()> {
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes)
            || !self.segment_bytes.is_power_of_two()
        {
            return Err(WalError::Config(format!(
                "segment size {} must be a power of two from {} to {} bytes",
                self.segment_bytes, MIN_SEGMENT_BYTES, MAX_SEGMENT_BYTES
            )));
        }
        if self.timeline == 0 {
            return Err(WalError::Config("timeline must be at least 1".into()));
        }
        if self.start_lsn % 8 != 0 {
            return Err(WalError::Config("start LSN must be 8-byte aligned".into()));
        }
        if let SyncPolicy::Interval { every_ms: 0 } = self.sync {
            return Err(WalError::Config(
                "sync interval must be at least 1 ms".into(),
            ));
        }
        Ok(())
    }
}
