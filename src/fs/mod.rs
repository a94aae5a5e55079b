//! The file system behind a trait, below every module that writes to disk:
//! the write-ahead log, snapshots, the control file and the rest of a data
//! directory.
//!
//! [`StdFs`] is the real file system. [`MemFs`] is an in-memory one for tests
//! that can tear writes, lose unsynced data at a simulated power failure, fail
//! fsync and run out of space — the same code runs against both.
//!
//! | module  | owns                                                          |
//! |---------|---------------------------------------------------------------|
//! | `mod`   | [`Fs`] and [`FsFile`], the real file system [`StdFs`]          |
//! | `memfs` | [`MemFs`]: in memory, tears writes, fails fsync, fills up      |
//! | `atomic`| [`NewFile`], [`replace`]: a file written whole or not at all   |

pub mod atomic;
pub mod memfs;

pub use atomic::{replace, NewFile};
pub use memfs::MemFs;

use bytes::Bytes;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// A file open for writing.
pub trait FsFile: Send {
    /// Writes all of `buf` at byte `offset`.
    ///
    /// # Errors
    /// Any I/O error, including `ENOSPC` (`StorageFull`).
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes the file's data durable (`fdatasync`). An error here is fatal to the
    /// caller: the kernel may already have dropped the dirty pages.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Gives the file `len` bytes of allocated, zero-reading space
    /// (`fallocate`, or a plain resize where that is not supported).
    fn allocate(&mut self, len: u64) -> io::Result<()>;
    /// The file's length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// True when the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// The file-system operations of the log, snapshots and data directory.
pub trait Fs: Send + Sync + 'static {
    /// Creates a new file (failing if it exists) open for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// Opens an existing file for writing.
    fn open_write(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// The whole content of a file, for reading (memory-mapped where possible).
    fn read(&self, path: &Path) -> io::Result<Bytes>;
    /// Renames a file (replacing the target).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes a directory's entries durable (`fsync` on the directory).
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names (not paths) of the entries of a directory, files and
    /// directories, sorted.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// True when the path exists.
    fn exists(&self, path: &Path) -> bool;
}

/// [`Fs::sync_dir`] with the error naming the directory: the step after
/// every create, rename and remove that must be durable.
///
/// # Errors
/// [`crate::durable::IoError`] (`fsync directory …`).
pub fn fsync_dir(fs: &dyn Fs, dir: &Path) -> Result<(), crate::durable::IoError> {
    fs.sync_dir(dir)
        .map_err(crate::durable::IoError::at("fsync directory", dir))
}

/// Zeroes `file` from byte `offset` to its end, a megabyte at a time: a
/// segment cut back to a clean end there.
///
/// # Errors
/// The file's I/O error.
pub fn zero_from(file: &mut dyn FsFile, offset: u64) -> io::Result<()> {
    let len = file.len()?;
    write_zeros(file, offset, len, false)
}

/// Writes zeros over `[from, to)` of `file` a megabyte at a time, syncing
/// after each megabyte when `sync_each` says so.
fn write_zeros(file: &mut dyn FsFile, from: u64, to: u64, sync_each: bool) -> io::Result<()> {
    let zeros = vec![0u8; to.saturating_sub(from).min(1 << 20) as usize];
    let mut off = from;
    while off < to {
        let n = (to - off).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], off)?;
        if sync_each {
            file.sync_data()?;
        }
        off += n as u64;
    }
    Ok(())
}

/// Writes zeros over the first `len` bytes of `file` (allocated already),
/// syncing a megabyte at a time so that other fsyncs on the device never
/// queue behind all of them.
///
/// Why: a block reserved with `fallocate` is "unwritten" until its first
/// write, and on ext4 that first write needs a metadata change (the extent
/// conversion) to be durable too. A power failure was seen to lose a log
/// record an fdatasync had acknowledged, in a block written for the first
/// time. Zeroed ahead, every later write is an overwrite, which fdatasync
/// makes durable without the journal (PostgreSQL zero-fills its WAL
/// segments for the same reason).
///
/// # Errors
/// The file's I/O error.
pub fn zero_fill(file: &mut dyn FsFile, len: u64) -> io::Result<()> {
    write_zeros(file, 0, len, true)
}

/// Shared handle to a file system.
pub type SharedFs = Arc<dyn Fs>;

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

impl StdFs {
    /// A shared handle to the real file system.
    pub fn shared() -> SharedFs {
        Arc::new(StdFs)
    }
}

struct StdFile(File);

impl FsFile for StdFile {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn allocate(&mut self, len: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let len_i64 = i64::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
        // SAFETY: plain syscall on an open descriptor we own.
        let rc = unsafe { libc::fallocate(self.0.as_raw_fd(), 0, 0, len_i64) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => self.0.set_len(len),
            _ => Err(err),
        }
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

impl Fs for StdFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(Box::new(StdFile(f)))
    }

    fn open_write(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let f = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Box::new(StdFile(f)))
    }

    fn read(&self, path: &Path) -> io::Result<Bytes> {
        let f = File::open(path)?;
        let len = f.metadata()?.len();
        if len == 0 {
            return Ok(Bytes::new());
        }
        // SAFETY: no file read through here is truncated or written through a
        // map. A segment region that is being appended to is only read below
        // the LSN its writer has finished writing (durable, or written and
        // being fsynced); every other file (snapshot, control file, history)
        // is written whole under a temporary name and then renamed into place.
        let map = unsafe { memmap2::Mmap::map(&f)? };
        Ok(Bytes::from_owner(map))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        crate::durable::sync_dir(dir).map_err(|e| e.source)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            // A name that is not UTF-8 is listed lossily: it is nothing
            // logship wrote, but it is there (a directory is not empty).
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}
