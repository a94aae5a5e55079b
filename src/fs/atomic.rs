//! Writing a file whole or not at all: under a temporary name, fsynced,
//! renamed over the real name, the directory fsynced. A reader (or a restart
//! after a power failure) sees the old file or the new one, never a mix.
//!
//! The one way snapshots, the control file and `primary.position` are
//! written; the temporary name is the real one plus `.tmp` unless the caller
//! names another.

use super::{Fs, FsFile};
use crate::durable::IoError;
use std::io;
use std::path::{Path, PathBuf};

/// A file being written under a temporary name, to take its real name at
/// [`NewFile::commit`]. Dropped uncommitted (an error on the way), it removes
/// its temporary file, which would otherwise hold its space until the next
/// start.
pub struct NewFile<'fs> {
    fs: &'fs dyn Fs,
    path: PathBuf,
    tmp: PathBuf,
    file: Box<dyn FsFile>,
    /// Set once the rename is done: the temporary name is gone.
    renamed: bool,
}

impl<'fs> NewFile<'fs> {
    /// Starts writing the file that will replace `path`, as `path.tmp` (a
    /// leftover of that name, from a write that did not finish, is removed).
    ///
    /// # Errors
    /// [`IoError`] naming the temporary file.
    pub fn create(fs: &'fs dyn Fs, path: &Path) -> Result<NewFile<'fs>, IoError> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        NewFile::create_as(fs, path, PathBuf::from(tmp))
    }

    /// [`NewFile::create`] with the temporary name `tmp` (in the same
    /// directory as `path`, or the rename would not be atomic).
    ///
    /// # Errors
    /// [`IoError`] naming `tmp`.
    pub fn create_as(fs: &'fs dyn Fs, path: &Path, tmp: PathBuf) -> Result<NewFile<'fs>, IoError> {
        debug_assert_eq!(path.parent(), tmp.parent(), "renamed within one directory");
        if fs.exists(&tmp) {
            fs.remove(&tmp).map_err(IoError::at("remove", &tmp))?;
        }
        let file = fs.create(&tmp).map_err(IoError::at("create", &tmp))?;
        Ok(NewFile {
            fs,
            path: path.to_path_buf(),
            tmp,
            file,
            renamed: false,
        })
    }

    /// The temporary file's path (readable through the file system until
    /// [`NewFile::commit`]).
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// Writes all of `buf` at byte `offset` of the temporary file.
    ///
    /// # Errors
    /// [`IoError`] naming the temporary file (`ENOSPC` on a full disk).
    pub fn write_at(&mut self, buf: &[u8], offset: u64) -> Result<(), IoError> {
        self.file
            .write_all_at(buf, offset)
            .map_err(IoError::at("write", &self.tmp))
    }

    /// A [`std::io::Write`] appending to the temporary file from `offset`,
    /// for encoders that stream. Its errors are plain `io::Error`s: name the
    /// file with [`NewFile::tmp`].
    pub fn appender(&mut self, offset: u64) -> Appender<'_> {
        Appender {
            file: &mut *self.file,
            offset,
        }
    }

    /// Makes the file durable under its real name: fsync, rename over the
    /// old file (if any), fsync of the directory. Only once this returns is
    /// the new content durable.
    ///
    /// # Errors
    /// [`IoError`] naming the file or directory. An fsync error leaves the old
    /// file in place; one of the directory's (after the rename) leaves the
    /// new name visible but not known to be durable.
    pub fn commit(mut self) -> Result<PathBuf, IoError> {
        self.file
            .sync_data()
            .map_err(IoError::at("fsync", &self.tmp))?;
        self.fs
            .rename(&self.tmp, &self.path)
            .map_err(IoError::at("rename", &self.tmp))?;
        self.renamed = true;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        super::fsync_dir(self.fs, dir)?;
        Ok(std::mem::take(&mut self.path))
    }
}

impl Drop for NewFile<'_> {
    fn drop(&mut self) {
        if !self.renamed {
            // Best effort: a leftover is removed by the next write of this
            // file (or by the snapshot directory's clean-up at start).
            let _ = self.fs.remove(&self.tmp);
        }
    }
}

/// Replaces `path` with `bytes`, atomically and durably (see [`NewFile`]).
///
/// # Errors
/// [`IoError`] naming the file or directory; the old file is left in place
/// unless the error is the directory's fsync.
pub fn replace(fs: &dyn Fs, path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let mut f = NewFile::create(fs, path)?;
    f.write_at(bytes, 0)?;
    f.commit()?;
    Ok(())
}

/// Appends to an [`FsFile`] as a [`std::io::Write`]; see [`NewFile::appender`].
pub struct Appender<'f> {
    file: &'f mut dyn FsFile,
    offset: u64,
}

impl Appender<'_> {
    /// The offset the next write goes to.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl io::Write for Appender<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write_all_at(buf, self.offset)?;
        self.offset += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
