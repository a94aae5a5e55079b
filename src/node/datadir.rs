//! The data directory: creating it (`logship init`), locking it (one process per
//! directory) and where things live in it.
//!
//! ```text
//! D/control      identity and role (see `control`)
//! D/LOCK         flock'ed by the process that has the directory open
//! D/wal/         WAL segments
//! D/snapshots/   checkpoints
//! ```
//!
//! Everything but the lock goes through [`crate::fs::Fs`]; the lock is an
//! `flock` on the real file system.

use super::control::{Control, ControlError, Fence, Role, CONTROL_FILE, CONTROL_VERSION};
use crate::durable::IoError;
use crate::fs::{fsync_dir, Fs};
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
    Io(#[from] IoError),
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
    SegmentSize(#[source] crate::wal::WalError),
    #[error(transparent)]
    Control(#[from] ControlError),
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
    pub fn open(fs: &dyn Fs, path: &Path, role: Role) -> Result<(DataDir, Control), DataDirError> {
        let (dir, control) = DataDir::open_stopped(fs, path)?;
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

    /// Locks the initialised data directory `path` whatever its role and fence,
    /// for commands that change a stopped node's directory (`logship rejoin`).
    ///
    /// # Errors
    /// [`DataDirError::NotInitialised`], [`DataDirError::Locked`], control file
    /// and I/O errors.
    pub fn open_stopped(fs: &dyn Fs, path: &Path) -> Result<(DataDir, Control), DataDirError> {
        if !fs.exists(&path.join(CONTROL_FILE)) {
            return Err(DataDirError::NotInitialised {
                path: path.to_path_buf(),
            });
        }
        let dir = DataDir::locked(fs, path)?;
        let control = Control::read(fs, path)?;
        Ok((dir, control))
    }

    /// Takes the directory's lock and makes sure its `wal/` and `snapshots/` exist.
    fn locked(fs: &dyn Fs, path: &Path) -> Result<DataDir, DataDirError> {
        let lock = lock(path)?;
        for sub in [WAL_DIR, SNAPSHOT_DIR] {
            let p = path.join(sub);
            if !fs.exists(&p) {
                create_dir(fs, &p)?;
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
    pub fn open_standby(
        fs: &dyn Fs,
        path: &Path,
    ) -> Result<(DataDir, Option<Control>), DataDirError> {
        if !fs.exists(path) {
            create_dir(fs, path)?;
        }
        let control = if fs.exists(&path.join(CONTROL_FILE)) {
            let c = Control::read(fs, path)?;
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
            let names = fs.list(path).map_err(IoError::at("read directory", path))?;
            if names.iter().any(|n| !known.contains(&n.as_str())) {
                return Err(DataDirError::NotEmpty {
                    path: path.to_path_buf(),
                });
            }
            None
        };
        Ok((DataDir::locked(fs, path)?, control))
    }
}

/// Creates the directory `dir` (and its parents), durably: its parent is
/// fsynced.
fn create_dir(fs: &dyn Fs, dir: &Path) -> Result<(), IoError> {
    fs.create_dir_all(dir)
        .map_err(IoError::at("create directory", dir))?;
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => fsync_dir(fs, parent),
        None => Ok(()),
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
        .map_err(IoError::at("open", &path))?;
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
        return Err(IoError::new("lock", path, err).into());
    }
    f.set_len(0)
        .and_then(|_| writeln!(f, "{}", std::process::id()))
        .map_err(IoError::at("write", &path))?;
    Ok(f)
}

/// Creates a primary data directory at `path` (which must be absent or empty):
/// a fresh system id, timeline 1, `wal/`, `snapshots/` and the control file.
///
/// # Errors
/// [`DataDirError::AlreadyInitialised`], [`DataDirError::NotEmpty`],
/// [`DataDirError::SegmentSize`], I/O errors.
pub fn init(fs: &dyn Fs, path: &Path, segment_bytes: u64) -> Result<Control, DataDirError> {
    let mut probe = WalOptions::new(path.join(WAL_DIR), 1, 1);
    probe.segment_bytes = segment_bytes;
    probe.validate().map_err(DataDirError::SegmentSize)?;
    if fs.exists(path) {
        if let Ok(c) = Control::read(fs, path) {
            return Err(DataDirError::AlreadyInitialised {
                path: path.to_path_buf(),
                system_id: c.system_id,
            });
        }
        let names = fs.list(path).map_err(IoError::at("read directory", path))?;
        if !names.is_empty() {
            if fs.exists(&path.join(CONTROL_FILE)) {
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
        create_dir(fs, path)?;
    }
    let _lock = lock(path)?;
    for sub in [WAL_DIR, SNAPSHOT_DIR] {
        let p = path.join(sub);
        fs.create_dir_all(&p)
            .map_err(IoError::at("create directory", &p))?;
    }
    fsync_dir(fs, path)?;
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
        halted_at: None,
    };
    control.write(fs, path)?;
    Ok(control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::StdFs;

    /// Opens `d` once its lock is free. Other tests of this process spawn
    /// children: between fork and exec a child holds copies of every open file,
    /// and so for a moment the lock of a directory this test just closed.
    fn open_unlocked(d: &Path) -> (DataDir, Control) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match DataDir::open(&StdFs, d, Role::Primary) {
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
        let c = init(&StdFs, &d, 1 << 20).unwrap();
        assert_eq!(c.timeline, 1);
        assert!(d.join("wal").is_dir());
        assert!(matches!(
            init(&StdFs, &d, 1 << 20),
            Err(DataDirError::AlreadyInitialised { .. })
        ));
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("file"), b"x").unwrap();
        let err = init(&StdFs, &other, 1 << 20).unwrap_err();
        assert!(matches!(err, DataDirError::NotEmpty { .. }), "{err}");
        assert!(matches!(
            init(&StdFs, &dir.path().join("x"), 1000),
            Err(DataDirError::SegmentSize(_))
        ));
        let (open, c2) = open_unlocked(&d);
        assert_eq!(c2, c);
        let err = DataDir::open(&StdFs, &d, Role::Primary).unwrap_err();
        assert!(
            err.to_string()
                .contains("in use by another logship process"),
            "{err}"
        );
        drop(open);
        open_unlocked(&d);
        assert!(matches!(
            DataDir::open(&StdFs, &other, Role::Primary),
            Err(DataDirError::NotInitialised { .. })
        ));
    }
}
