//! File-system errors and steps every module shares, below all of them: the
//! one I/O error that names what was being done and to which path, the
//! directory fsync that follows every create, rename and remove (a new name
//! is durable only once its directory is), and reading a small file given on
//! the command line (a key, a password, a certificate) with a limit.

use std::io;
use std::path::{Path, PathBuf};

/// An I/O error with the operation and the path it concerns:
/// `fsync directory /var/lib/logship/wal: Input/output error (os error 5)`.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct IoError {
    /// What was being done (`open`, `fsync directory`, `rename`, …).
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl IoError {
    /// Wraps `source`, an error of `op` on `path`.
    pub fn new(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> IoError {
        IoError {
            op,
            path: path.into(),
            source,
        }
    }

    /// A `map_err` adapter: `f().map_err(IoError::at("open", path))`.
    pub fn at<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> IoError + 'a {
        move |source| IoError::new(op, path, source)
    }
}

/// fsyncs the directory `dir`, making the names created, renamed or removed
/// in it durable.
///
/// # Errors
/// [`IoError`] naming the directory. Like any fsync error it is fatal to the
/// caller's write: the kernel may have dropped what it could not write.
pub fn sync_dir(dir: &Path) -> Result<(), IoError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(IoError::at("fsync directory", dir))
}

/// Reads the small file `path` whole (a key, a password, a certificate):
/// `None` when it is larger than `max_bytes`, which is checked before
/// anything is read.
///
/// # Errors
/// [`IoError`] naming the file (`stat` or `read`).
pub fn read_small(path: &Path, max_bytes: u64) -> Result<Option<Vec<u8>>, IoError> {
    let len = std::fs::metadata(path)
        .map_err(IoError::at("stat", path))?
        .len();
    if len > max_bytes {
        return Ok(None);
    }
    std::fs::read(path)
        .map(Some)
        .map_err(IoError::at("read", path))
}
