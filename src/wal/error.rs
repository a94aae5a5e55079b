//! Errors of the WAL, each naming where it happened.

use std::path::PathBuf;

/// Everything that can go wrong in the WAL.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An operating-system call failed on `path`.
    #[error(transparent)]
    Io(#[from] crate::durable::IoError),
    /// Damage that recovery must not repair: the log refuses to open.
    #[error("corrupt WAL: {segment} at byte offset {offset} (LSN {lsn:#x}): {reason}")]
    Corruption {
        segment: PathBuf,
        offset: u64,
        lsn: u64,
        reason: String,
    },
    /// A segment of another cluster (system id) or a disallowed timeline.
    #[error("{segment}: {reason}")]
    Foreign { segment: PathBuf, reason: String },
    /// A gap or a missing segment in the chain.
    #[error("WAL gap: {reason}")]
    Gap { reason: String },
    /// A record larger than the configured limit.
    #[error("record of {len} bytes exceeds the limit of {limit} bytes")]
    RecordTooLarge { len: usize, limit: usize },
    /// A configuration value out of range.
    #[error("invalid WAL configuration: {0}")]
    Config(String),
    /// An earlier fsync or write failed; the log stopped and accepts nothing more.
    #[error("WAL stopped after a fatal error: {0}")]
    Stopped(String),
    /// The disk is full: the next segment cannot be prepared, so a write that
    /// needs it is refused (nothing of it was logged). The log carries on and
    /// such writes succeed again once space is freed.
    #[error("no space left on device for the next WAL segment in {} ({detail} failed); writes resume once space is freed", dir.display())]
    NoSpace { dir: PathBuf, detail: String },
    /// The log was closed.
    #[error("WAL is closed")]
    Closed,
    /// No WAL segments where some were expected.
    #[error("{0}: no WAL segments found")]
    Empty(PathBuf),
}

impl WalError {
    /// Wraps an I/O error with the operation and path it concerns.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> WalError {
        WalError::Io(crate::durable::IoError::new(op, path, source))
    }
}

/// Result alias for the WAL.
pub type Result<T, E = WalError> = std::result::Result<T, E>;
