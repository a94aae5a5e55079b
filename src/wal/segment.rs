//! Segment files on the writing side: [`SegmentWriter`] turns a prepared file
//! ([`super::spare`]) into a named segment and writes records into it.

use super::error::{Result, WalError};
use super::format::{segment_file_name, SegmentHeader, SEGMENT_HEADER_BYTES};
use super::options::WalOptions;
use super::spare::Preparer;
use crate::fs::{FsFile, SharedFs};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// Turns a prepared file into the segment `header` describes: writes the header,
/// fdatasyncs, renames it to its segment name and fsyncs the directory.
pub(crate) fn install(
    fs: &dyn crate::fs::Fs,
    dir: &Path,
    tmp: &Path,
    file: &mut dyn FsFile,
    header: &SegmentHeader,
) -> Result<PathBuf> {
    write_header(tmp, file, header)?;
    let path = dir.join(segment_file_name(header.timeline, header.first_lsn));
    name_segment(fs, dir, tmp, &path)?;
    Ok(path)
}

/// Writes and syncs a segment header into a prepared file.
fn write_header(tmp: &Path, file: &mut dyn FsFile, header: &SegmentHeader) -> Result<()> {
    file.write_all_at(&header.encode(), 0)
        .map_err(|e| WalError::io("write segment header", tmp, e))?;
    file.sync_data()
        .map_err(|e| WalError::io("fdatasync", tmp, e))
}

/// Gives a prepared file its segment name durably (rename, directory fsync).
fn name_segment(fs: &dyn crate::fs::Fs, dir: &Path, tmp: &Path, path: &Path) -> Result<()> {
    fs.rename(tmp, path)
        .map_err(|e| WalError::io("rename", tmp, e))?;
    fs.sync_dir(dir)
        .map_err(|e| WalError::io("fsync directory", dir, e))
}

/// Under the `never` policy a segment switch must not wait for the sealed
/// segment's data to reach the disk, yet the next segment's name must not become
/// durable before it does (an older segment without its seal is corruption).
/// So the writer carries on in the new file under its temporary name, and this
/// thread syncs the sealed segment and only then names the new one.
struct Namer {
    tx: Option<std::sync::mpsc::Sender<NameJob>>,
    thread: Option<JoinHandle<()>>,
    error: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

struct NameJob {
    sealed: Box<dyn FsFile>,
    sealed_path: PathBuf,
    tmp: PathBuf,
    path: PathBuf,
}

impl Namer {
    fn start(fs: SharedFs, dir: PathBuf) -> Result<Namer> {
        let (tx, rx) = std::sync::mpsc::channel::<NameJob>();
        let error = std::sync::Arc::new(std::sync::Mutex::new(None));
        let err = error.clone();
        let thread = std::thread::Builder::new()
            .name("wal-namer".into())
            .spawn(move || {
                for mut job in rx {
                    let res = job
                        .sealed
                        .sync_data()
                        .map_err(|e| WalError::io("fdatasync", &job.sealed_path, e))
                        .and_then(|_| name_segment(&*fs, &dir, &job.tmp, &job.path));
                    if let Err(e) = res {
                        *err.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                        return;
                    }
                }
            })
            .map_err(|e| WalError::io("spawn thread", "wal-namer", e))?;
        Ok(Namer {
            tx: Some(tx),
            thread: Some(thread),
            error,
        })
    }

    fn check(&self) -> Result<()> {
        match &*self.error.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(msg) => Err(WalError::Stopped(msg.clone())),
            None => Ok(()),
        }
    }

    fn send(&self, job: NameJob) -> Result<()> {
        self.check()?;
        match &self.tx {
            Some(tx) if tx.send(job).is_ok() => Ok(()),
            _ => Err(WalError::Stopped("segment naming stopped".into())),
        }
    }

    /// Waits until every handed-over segment is synced and named.
    fn finish(&mut self) -> Result<()> {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.check()
    }
}

impl Drop for Namer {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The segment being written.
pub(crate) struct SegmentWriter {
    fs: SharedFs,
    opts: WalOptions,
    preparer: Preparer,
    current: Option<(SegmentHeader, PathBuf, Box<dyn FsFile>)>,
    /// Names segments off the hot path under the `never` policy.
    namer: Option<Namer>,
}

impl SegmentWriter {
    pub(crate) fn new(fs: SharedFs, opts: WalOptions, preparer: Preparer) -> Result<SegmentWriter> {
        Ok(SegmentWriter {
            fs,
            opts,
            preparer,
            current: None,
            namer: None,
        })
    }

    /// Continues writing an existing segment.
    pub(crate) fn resume(&mut self, header: SegmentHeader, file: Box<dyn FsFile>) {
        let path = self
            .opts
            .dir
            .join(segment_file_name(header.timeline, header.first_lsn));
        self.current = Some((header, path, file));
    }

    /// The current segment's header.
    pub(crate) fn header(&self) -> Option<&SegmentHeader> {
        self.current.as_ref().map(|(h, _, _)| h)
    }

    /// First LSN of the current segment (`u64::MAX` when there is none).
    pub(crate) fn first_lsn(&self) -> u64 {
        self.current
            .as_ref()
            .map_or(u64::MAX, |(h, _, _)| h.first_lsn)
    }

    /// Turns the prepared file into the segment starting at `first_lsn`: header,
    /// fdatasync, fdatasync of the segment it follows, rename, directory fsync.
    pub(crate) fn create(&mut self, first_lsn: u64) -> Result<SegmentHeader> {
        let (tmp, mut file) = self.preparer.take()?;
        let header = SegmentHeader {
            system_id: self.opts.system_id,
            timeline: self.opts.timeline,
            first_lsn,
            segment_bytes: self.opts.segment_bytes,
            created_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        };
        write_header(&tmp, &mut *file, &header)?;
        let path = self
            .opts
            .dir
            .join(segment_file_name(header.timeline, first_lsn));
        // The new name must not become durable before the segment it follows is
        // complete on disk: after a crash, an older segment without its seal
        // record is corruption (recovery refuses it), not a torn tail.
        let deferred = self.opts.sync == super::options::SyncPolicy::Never;
        if deferred && self.current.is_some() && self.namer.is_none() {
            self.namer = Some(Namer::start(self.fs.clone(), self.opts.dir.clone())?);
        }
        match (
            self.current.take(),
            self.namer.as_ref().filter(|_| deferred),
        ) {
            (Some((_, sealed_path, sealed)), Some(namer)) => namer.send(NameJob {
                sealed,
                sealed_path,
                tmp,
                path: path.clone(),
            })?,
            (sealed, _) => {
                if let Some((_, sealed_path, mut sealed)) = sealed {
                    sealed
                        .sync_data()
                        .map_err(|e| WalError::io("fdatasync", &sealed_path, e))?;
                }
                name_segment(&*self.fs, &self.opts.dir, &tmp, &path)?;
            }
        }
        self.current = Some((header, path, file));
        Ok(header)
    }

    /// Writes `bytes` at `start_lsn` of the current segment.
    pub(crate) fn write(&mut self, start_lsn: u64, bytes: &[u8]) -> Result<()> {
        let (h, path, f) = self.current.as_mut().expect("a segment is open");
        debug_assert!(start_lsn >= h.first_lsn);
        debug_assert!(start_lsn + bytes.len() as u64 <= h.end_capacity_lsn());
        let off = SEGMENT_HEADER_BYTES as u64 + (start_lsn - h.first_lsn);
        f.write_all_at(bytes, off)
            .map_err(|e| WalError::io("write", path.as_path(), e))
    }

    /// fdatasync of the current segment, after every sealed segment is synced
    /// and named.
    pub(crate) fn sync(&mut self) -> Result<()> {
        if let Some(mut namer) = self.namer.take() {
            namer.finish()?;
        }
        match self.current.as_mut() {
            Some((_, path, f)) => f
                .sync_data()
                .map_err(|e| WalError::io("fdatasync", path.as_path(), e)),
            None => Ok(()),
        }
    }
}
