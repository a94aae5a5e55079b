//! Segment files on the writing side: a background thread prepares the next file
//! (allocated to full size with `fallocate` and synced, so that a segment switch
//! costs a header write and a rename, and a full disk shows up before any record
//! is written), and [`SegmentWriter`] turns a prepared file into a named segment
//! and writes records into it.

use super::error::{Result, WalError};
use super::format::{segment_file_name, SegmentHeader, SEGMENT_HEADER_BYTES};
use super::fs::{SharedFs, WalFile};
use super::writer::WalOptions;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

/// Suffix of files being prepared; leftovers are removed when a log opens.
pub const PREPARED_SUFFIX: &str = ".prep";

type Prepared = std::result::Result<(PathBuf, Box<dyn WalFile>), WalError>;

/// Keeps one zero-filled, synced file ready for the next segment.
pub(crate) struct Preparer {
    rx: Option<Receiver<Prepared>>,
    thread: Option<JoinHandle<()>>,
}

impl Preparer {
    /// Removes leftover prepared files in `dir` and starts preparing the first one.
    pub(crate) fn start(fs: SharedFs, dir: PathBuf, segment_bytes: u64) -> Result<Preparer> {
        remove_leftovers(&*fs, &dir)?;
        let (tx, rx) = sync_channel::<Prepared>(0);
        let thread = std::thread::Builder::new()
            .name("wal-prepare".into())
            .spawn(move || {
                for n in 0u64.. {
                    let path = dir.join(format!("next-{n}{PREPARED_SUFFIX}"));
                    let prepared = prepare(&*fs, &path, segment_bytes).map(|f| (path.clone(), f));
                    let failed = prepared.is_err();
                    if tx.send(prepared).is_err() {
                        let _ = fs.remove(&path);
                        return;
                    }
                    if failed {
                        return;
                    }
                }
            })
            .map_err(|e| WalError::io("spawn thread", "wal-prepare", e))?;
        Ok(Preparer {
            rx: Some(rx),
            thread: Some(thread),
        })
    }

    /// Takes the prepared file, waiting if it is not ready yet.
    fn take(&self) -> Prepared {
        match self.rx.as_ref().map(|rx| rx.recv()) {
            Some(Ok(p)) => p,
            _ => Err(WalError::Stopped("segment preparation stopped".into())),
        }
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        self.rx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn remove_leftovers(fs: &dyn super::fs::WalFs, dir: &Path) -> Result<()> {
    let names = fs
        .list(dir)
        .map_err(|e| WalError::io("read directory", dir, e))?;
    let mut removed = false;
    for name in names.iter().filter(|n| n.ends_with(PREPARED_SUFFIX)) {
        let p = dir.join(name);
        fs.remove(&p).map_err(|e| WalError::io("remove", &p, e))?;
        removed = true;
    }
    if removed {
        fs.sync_dir(dir)
            .map_err(|e| WalError::io("fsync directory", dir, e))?;
    }
    Ok(())
}

/// Creates `path` allocated to `segment_bytes` and synced.
pub(crate) fn prepare(
    fs: &dyn super::fs::WalFs,
    path: &Path,
    segment_bytes: u64,
) -> Result<Box<dyn WalFile>> {
    let mut f = fs
        .create(path)
        .map_err(|e| WalError::io("create", path, e))?;
    f.allocate(segment_bytes)
        .map_err(|e| WalError::io("preallocate", path, e))?;
    f.sync_data()
        .map_err(|e| WalError::io("fdatasync", path, e))?;
    Ok(f)
}

/// Turns a prepared file into the segment `header` describes: writes the header,
/// fdatasyncs, renames it to its segment name and fsyncs the directory.
pub(crate) fn install(
    fs: &dyn super::fs::WalFs,
    dir: &Path,
    tmp: &Path,
    file: &mut dyn WalFile,
    header: &SegmentHeader,
) -> Result<PathBuf> {
    file.write_all_at(&header.encode(), 0)
        .map_err(|e| WalError::io("write segment header", tmp, e))?;
    file.sync_data()
        .map_err(|e| WalError::io("fdatasync", tmp, e))?;
    let path = dir.join(segment_file_name(header.timeline, header.first_lsn));
    fs.rename(tmp, &path)
        .map_err(|e| WalError::io("rename", tmp, e))?;
    fs.sync_dir(dir)
        .map_err(|e| WalError::io("fsync directory", dir, e))?;
    Ok(path)
}

/// The segment being written.
pub(crate) struct SegmentWriter {
    fs: SharedFs,
    opts: WalOptions,
    preparer: Preparer,
    current: Option<(SegmentHeader, PathBuf, Box<dyn WalFile>)>,
}

impl SegmentWriter {
    pub(crate) fn new(fs: SharedFs, opts: WalOptions, preparer: Preparer) -> Result<SegmentWriter> {
        Ok(SegmentWriter {
            fs,
            opts,
            preparer,
            current: None,
        })
    }

    /// Continues writing an existing segment.
    pub(crate) fn resume(&mut self, header: SegmentHeader, file: Box<dyn WalFile>) {
        let path = self
            .opts
            .dir
            .join(segment_file_name(header.timeline, header.first_lsn));
        self.current = Some((header, path, file));
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
        // The new name must not become durable before the segment it follows is
        // complete on disk: after a crash, an older segment without its seal
        // record is corruption (recovery refuses it), not a torn tail.
        if let Some((_, old_path, old)) = self.current.as_mut() {
            old.sync_data()
                .map_err(|e| WalError::io("fdatasync", old_path.as_path(), e))?;
        }
        let path = install(&*self.fs, &self.opts.dir, &tmp, &mut *file, &header)?;
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

    /// fdatasync of the current segment (sealed ones were synced at the switch).
    pub(crate) fn sync(&mut self) -> Result<()> {
        match self.current.as_mut() {
            Some((_, path, f)) => f
                .sync_data()
                .map_err(|e| WalError::io("fdatasync", path.as_path(), e)),
            None => Ok(()),
        }
    }
}
