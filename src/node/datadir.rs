//! The data directory: creating it (`logship init`), locking it (one process per
//! directory) and where things live in it.
//!
//! ```text
//! D/control      identity and role (see `control`)
//! D/LOCK         flock'ed by the process that has the directory open
//! D/wal/         WAL segments
//! D/snapshots/   checkpoints
//! ```

use super::control::{Control, ControlError, Fence, Role, CONTROL_FILE, CONTROL_VERSION};
use crate::wal::WalOptions;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the WAL directory.
pub const WAL_DIR: &str = "wal";
/// Name of the snapshot directory.
pub const SNAPSHOT_DIR: &str = "snapshots";

/// Errors opening or creating a data directory; each names the directory.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error(transparent)]
    Io(#[from] crate::durable::IoError),
    #[error("{path} is already a logship data directory (system id {system_id:016x}); refusing to initialise it again")]
    AlreadyInitialised { path: PathBuf, system_id: u64 },
    #[error("{path} is not empty; refusing to initialise (use an empty or new directory)")]
    NotEmpty { path: PathBuf },
    #[error(
        "{path} is not a logship data directory (no control file; create one with `logship init`)"
    )]
    NotInitialised { path: PathBuf },
    #[error("{path} is in use by another logship process ({lock} is locked{holder})")]
    Locked {
        path: PathBuf,
        lock: PathBuf,
        holder: String,
    },
    #[error("{path} is a {found} data directory, not a {wanted}")]
    WrongRole {
        path: PathBuf,
        found: Role,
        wanted: Role,
    },
    /// The control file holds a fence: the primary must not take writes again.
    #[error("{path}: refusing to start: {}; it will not accept writes again. Rejoin it as a standby of the new primary: `logship rejoin --data-dir {path} --from NEW_PRIMARY`", fence.describe())]
    Fenced { path: PathBuf, fence: Box<Fence> },
    #[error("invalid segment size: {0}")]
    SegmentSize(String),
    #[error(transparent)]
    Control(#[from] ControlError),
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> DataDirError + 'a {
    move |source| DataDirError::Io(crate::durable::IoError::new(op, path, source))
}

/// An open, locked data directory. The lock is held until this is dropped (or
/// the process ends, however it ends).
#[derive(Debug)]
pub struct DataDir {
    pub path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// The WAL directory.
    pub fn wal_dir(&self) -> PathBuf {
        self.path.join(WAL_DIR)
    }

    /// The snapshot directory.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.path.join(SNAPSHOT_DIR)
    }

    /// Locks the data directory `path` and reads its control file, which must
    /// say `role`.
    ///
    /// # Errors
    /// [`DataDirError::NotInitialised`], [`DataDirError::Locked`],
    /// [`DataDirError::WrongRole`], control file and I/O errors.
    pub fn open(path: &Path, role: Role) -> Result<(DataDir, Control), DataDirError> {
        if !path.join(CONTROL_FILE).exists() {
            return Err(DataDirError::NotInitialised {
                path: path.to_path_buf(),
            });
        }
        let dir = DataDir::locked(path)?;
        let control = Control::read(path)?;
        if control.role != role {
            return Err(DataDirError::WrongRole {
                path: path.to_path_buf(),
                found: control.role,
                wanted: role,
            });
        }
        if let (Role::Primary, Some(f)) = (role, &control.fenced) {
            return Err(DataDirError::Fenced {
                path: path.to_path_buf(),
                fence: Box::new(f.clone()),
            });
        }
        Ok((dir, control))
    }
}

impl DataDir {
    /// Locks the initialised data directory `path` whatever its role and fence,
    /// for commands that change a stopped node's directory (`logship rejoin`).
    ///
    /// # Errors
    /// [`DataDirError::NotInitialised`], [`DataDirError::Locked`], control file
    /// and I/O errors.
    pub fn open_stopped(path: &Path) -> Result<(DataDir, Control), DataDirError> {
        if !path.join(CONTROL_FILE).exists() {
            return Err(DataDirError::NotInitialised {
                path: path.to_path_buf(),
            });
        }
        let dir = DataDir::locked(path)?;
        let control = Control::read(path)?;
        Ok((dir, control))
    }
}

impl DataDir {
    /// Takes the directory's lock and makes sure its `wal/` and `snapshots/` exist.
    fn locked(path: &Path) -> Result<DataDir, DataDirError> {
        let lock = lock(path)?;
        for sub in [WAL_DIR, SNAPSHOT_DIR] {
            let p = path.join(sub);
            if !p.exists() {
                std::fs::create_dir(&p).map_err(io("create directory", &p))?;
                crate::durable::sync_dir(path)?;
            }
        }
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// Opens a standby's data directory, creating it when it is missing or empty
    /// (a new standby: its identity arrives with the first shipment). An existing
    /// directory must be a standby's; its control file is returned when the
    /// standby has received anything yet.
    ///
    /// # Errors
    /// A primary's directory, a non-empty directory that is not a standby's, a
    /// lock held by another process, I/O errors.
    pub fn open_standby(path: &Path) -> Result<(DataDir, Option<Control>), DataDirError> {
        if !path.exists() {
            std::fs::create_dir_all(path).map_err(io("create directory", path))?;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                crate::durable::sync_dir(parent)?;
            }
        }
        let control = if path.join(CONTROL_FILE).exists() {
            let c = Control::read(path)?;
            if c.role != Role::Standby {
                return Err(DataDirError::WrongRole {
                    path: path.to_path_buf(),
                    found: c.role,
                    wanted: Role::Standby,
                });
            }
            Some(c)
        } else {
            // Everything a standby may have written before its control file:
            // a directory a standby wrote is always a standby's.
            let position = crate::node::position::POSITION_FILE;
            let position_tmp = format!("{position}.tmp");
            let control_tmp = format!("{CONTROL_FILE}.tmp");
            let known = [
                WAL_DIR,
                SNAPSHOT_DIR,
                LOCK_FILE,
                crate::admin::SOCKET_NAME,
                position,
                &position_tmp,
                &control_tmp,
            ];
            let stray = std::fs::read_dir(path)
                .map_err(io("read directory", path))?
                .filter_map(|e| e.ok())
                .any(|e| !known.iter().any(|k| e.file_name() == *k));
            if stray {
                return Err(DataDirError::NotEmpty {
                    path: path.to_path_buf(),
                });
            }
            None
        };
        Ok((DataDir::locked(path)?, control))
    }
}

/// Takes the directory's lock file (`flock`, exclusive, non-blocking) and writes
/// our pid into it (for the error message of the next one to try).
fn lock(dir: &Path) -> Result<File, DataDirError> {
    let path = dir.join(LOCK_FILE);
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io("open", &path))?;
    // SAFETY: flock on a descriptor we own.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let holder = std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .map(|pid| format!(" by pid {pid}"))
                .unwrap_or_default();
            return Err(DataDirError::Locked {
                path: dir.to_path_buf(),
                lock: path,
                holder,
            });
        }
        return Err(io("lock", &path)(err));
    }
    f.set_len(0)
        .and_then(|_| writeln!(f, "{}", std::process::id()))
        .map_err(io("write", &path))?;
    Ok(f)
}

/// Creates a primary data directory at `path` (which must be absent or empty):
/// a fresh system id, timeline 1, `wal/`, `snapshots/` and the control file.
///
/// # Errors
/// [`DataDirError::AlreadyInitialised`], [`DataDirError::NotEmpty`],
/// [`DataDirError::SegmentSize`], I/O errors.
pub fn init(path: &Path, segment_bytes: u64) -> Result<Control, DataDirError> {
    let mut probe = WalOptions::new(path.join(WAL_DIR), 1, 1);
    probe.segment_bytes = segment_bytes;
    probe
        .validate()
        .map_err(|e| DataDirError::SegmentSize(e.to_string()))?;
    if path.exists() {
        if let Ok(c) = Control::read(path) {
            return Err(DataDirError::AlreadyInitialised {
                path: path.to_path_buf(),
                system_id: c.system_id,
            });
        }
        let mut entries = std::fs::read_dir(path).map_err(io("read directory", path))?;
        if entries.next().is_some() {
            if path.join(CONTROL_FILE).exists() {
                return Err(DataDirError::AlreadyInitialised {
                    path: path.to_path_buf(),
                    system_id: 0,
                });
            }
            return Err(DataDirError::NotEmpty {
                path: path.to_path_buf(),
            });
        }
    } else {
        std::fs::create_dir_all(path).map_err(io("create directory", path))?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::durable::sync_dir(parent)?;
        }
    }
    let _lock = lock(path)?;
    for sub in [WAL_DIR, SNAPSHOT_DIR] {
        let p = path.join(sub);
        std::fs::create_dir(&p).map_err(io("create directory", &p))?;
    }
    crate::durable::sync_dir(path)?;
    let system_id = loop {
        let id = rand::random::<u64>();
        if id != 0 {
            break id;
        }
    };
    let control = Control {
        version: CONTROL_VERSION,
        system_id,
        role: Role::Primary,
        timeline: 1,
        segment_bytes,
        created_unix_ms: crate::clock::now_unix_ms(),
        fenced: None,
    };
    control.write(path)?;
    Ok(control)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens `d` once its lock is free. Other tests of this process spawn
    /// children: between fork and exec a child holds copies of every open file,
    /// and so for a moment the lock of a directory this test just closed.
    fn open_unlocked(d: &Path) -> (DataDir, Control) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match DataDir::open(d, Role::Primary) {
                Err(DataDirError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                other => return other.unwrap(),
            }
        }
    }

    #[test]
    fn init_refuses_non_empty_and_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        let c = init(&d, 1 << 20).unwrap();
        assert_eq!(c.timeline, 1);
        assert!(d.join("wal").is_dir());
        assert!(matches!(
            init(&d, 1 << 20),
            Err(DataDirError::AlreadyInitialised { .. })
        ));
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("file"), b"x").unwrap();
        let err = init(&other, 1 << 20).unwrap_err();
        assert!(matches!(err, DataDirError::NotEmpty { .. }), "{err}");
        assert!(matches!(
            init(&dir.path().join("x"), 1000),
            Err(DataDirError::SegmentSize(_))
        ));
        let (open, c2) = open_unlocked(&d);
        assert_eq!(c2, c);
        let err = DataDir::open(&d, Role::Primary).unwrap_err();
        assert!(
            err.to_string()
                .contains("in use by another logship process"),
            "{err}"
        );
        drop(open);
        open_unlocked(&d);
        assert!(matches!(
            DataDir::open(&other, Role::Primary),
            Err(DataDirError::NotInitialised { .. })
        ));
    }
}
