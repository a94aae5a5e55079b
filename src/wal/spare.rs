//! The next segment's file, prepared ahead on a thread of its own: allocated
//! to full size with `fallocate` and synced, so that a segment switch costs a
//! header write and a rename, and a full disk shows up before any record is
//! written. A write that needs a new segment claims a prepared file first
//! ([`SpareState::claim`]).

use super::error::{Result, WalError};
use super::format::SegmentHeader;
use crate::fs::{FsFile, SharedFs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Suffix of files being prepared; leftovers are removed when a log opens.
pub const PREPARED_SUFFIX: &str = ".prep";

type Prepared = std::result::Result<(PathBuf, Box<dyn FsFile>), WalError>;

/// How long the preparer waits, after handing over a file prepared ahead by
/// someone else, before it prepares the next one.
const AHEAD_AFTER_GIVEN: Duration = Duration::from_secs(1);

/// How long the preparer waits before trying again on a full disk.
const NO_SPACE_RETRY: Duration = Duration::from_millis(250);

/// What appenders and the preparer share: how many files were prepared and
/// how many of them a segment switch has claimed, whether the disk was found
/// full, and whether the log is closing.
///
/// A write that needs a new segment claims a prepared file before it is
/// queued. So records are only ever queued for a segment whose file exists: a
/// full disk refuses them ([`WalError::NoSpace`]) and the log goes on, however
/// far the preparer thread lags behind the appenders (on a loaded machine it
/// may not have tried yet when the current segment fills up).
pub(crate) struct SpareState {
    /// The log's directory, named in the full-disk error.
    dir: PathBuf,
    spare: Mutex<Spare>,
    /// Signalled when a file is prepared, the disk is found full, or the log
    /// closes.
    changed: Condvar,
    /// Set by `close`: a writer waiting for space gives up instead.
    closing: AtomicBool,
}

/// The preparer's count of files and what the switches took of them.
#[derive(Debug, Default)]
struct Spare {
    /// Files prepared so far.
    prepared: u64,
    /// Files claimed by segment switches so far (`<= prepared`).
    claimed: u64,
    /// Set while the next segment cannot be prepared for lack of space: the
    /// failed operation, named in the error a write that needs a new segment gets.
    no_space: Option<String>,
    /// Set once the preparer has stopped on an error other than a full disk
    /// (its last word, the error, waits for the writer, which stops the log).
    ended: bool,
}

/// What a write that needs a new segment gets.
pub(crate) enum Claim {
    /// A prepared file is the new segment's.
    Granted,
    /// The disk is full: the write is refused, the log goes on.
    NoSpace(WalError),
    /// The next file is still being prepared.
    Pending,
}

impl SpareState {
    fn new(dir: PathBuf, first: FirstFile) -> SpareState {
        SpareState {
            dir,
            spare: Mutex::new(Spare {
                // The writer takes the first file itself when the log has no
                // segment to continue.
                claimed: u64::from(first == FirstFile::Needed),
                ..Spare::default()
            }),
            changed: Condvar::new(),
            closing: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Spare> {
        self.spare.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims a prepared file for a segment switch. Once the preparer has
    /// stopped on an I/O error, every claim is granted: the writer, taking the
    /// file, gets that error and stops the log, which answers every waiter.
    pub(crate) fn claim(&self) -> Claim {
        let mut g = self.lock();
        if g.prepared > g.claimed || g.ended {
            g.claimed += 1;
            return Claim::Granted;
        }
        match &g.no_space {
            Some(detail) => Claim::NoSpace(WalError::NoSpace {
                dir: self.dir.clone(),
                detail: detail.clone(),
            }),
            None => Claim::Pending,
        }
    }

    /// Waits (at most `timeout`) until a file is prepared, the disk is found
    /// full, or the log closes.
    pub(crate) fn wait(&self, timeout: Duration) {
        let g = self.lock();
        let _ = self
            .changed
            .wait_timeout_while(g, timeout, |s| {
                s.prepared <= s.claimed
                    && s.no_space.is_none()
                    && !s.ended
                    && !self.closing.load(Ordering::Acquire)
            })
            .unwrap_or_else(|p| p.into_inner());
    }

    /// The error for a write that needs a new segment, while the disk is full.
    pub(crate) fn no_space(&self) -> Option<WalError> {
        self.lock()
            .no_space
            .as_ref()
            .map(|detail| WalError::NoSpace {
                dir: self.dir.clone(),
                detail: detail.clone(),
            })
    }

    /// Counts a prepared file: space is back if it was not; true when it
    /// changed.
    fn prepared(&self) -> bool {
        let mut g = self.lock();
        g.prepared += 1;
        let changed = g.no_space.take().is_some();
        drop(g);
        self.changed.notify_all();
        changed
    }

    /// Records that the disk is full; true when it changed.
    fn full(&self, detail: String) -> bool {
        let mut g = self.lock();
        let changed = g.no_space.is_none();
        g.no_space = Some(detail);
        drop(g);
        self.changed.notify_all();
        changed
    }

    /// Records that the preparer stopped on an error other than a full disk.
    fn ended(&self) {
        self.lock().ended = true;
        self.changed.notify_all();
    }

    /// Waits `timeout`, or less if the log closes meanwhile.
    fn wait_closing(&self, timeout: Duration) {
        let g = self.lock();
        let _ = self
            .changed
            .wait_timeout_while(g, timeout, |_| !self.closing.load(Ordering::Acquire))
            .unwrap_or_else(|p| p.into_inner());
    }

    /// Tells a writer waiting for space to give up (the log is closing).
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Release);
        // Taking the lock orders the flag with a waiter's check.
        drop(self.lock());
        self.changed.notify_all();
    }
}

/// True for the errors of a full disk or an exhausted quota.
pub(crate) fn is_no_space(e: &WalError) -> bool {
    matches!(e, WalError::Io(crate::durable::IoError { source, .. })
        if matches!(source.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)))
}

/// Keeps one allocated, synced file ready for the next segment. On a full disk
/// it says so through [`SpareState`] and tries again every [`NO_SPACE_RETRY`], so
/// writes resume by themselves once space is freed; any other error is fatal.
pub(crate) struct Preparer {
    rx: Option<Receiver<Prepared>>,
    thread: Option<JoinHandle<()>>,
    state: Arc<SpareState>,
}

impl Preparer {
    /// Removes leftover prepared files in `dir` and starts preparing the first one.
    /// With [`FirstFile::Needed`] the first file is needed at once (a log without
    /// a segment to continue), so a full disk fails it instead of being retried.
    /// `given` is a file prepared ahead ([`prepare_segment_file`]) that is
    /// handed over first, when the first file is [`FirstFile::Needed`].
    pub(crate) fn start(
        fs: SharedFs,
        dir: PathBuf,
        segment_bytes: u64,
        first: FirstFile,
        given: Option<PathBuf>,
    ) -> Result<Preparer> {
        remove_leftovers(&*fs, &dir)?;
        let given = given.filter(|_| first == FirstFile::Needed);
        let (tx, rx) = sync_channel::<Prepared>(0);
        let state = Arc::new(SpareState::new(dir.clone(), first));
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name("wal-prepare".into())
            .spawn(move || {
                let mut first = first;
                if let Some(path) = given {
                    // Opened here, so that the writer waits for it as for
                    // any prepared file; one that cannot be opened is
                    // replaced by a file prepared now.
                    if let Ok(f) = fs.open_write(&path) {
                        st.prepared();
                        if tx.send(Ok((path, f))).is_err() {
                            return;
                        }
                        // What follows is the file for the next switch,
                        // needed once the first segment is full. Made at
                        // once, its writes and syncs would compete with the
                        // first fsyncs of the log (a promoted node's first
                        // writes): it waits a moment, or until the log closes.
                        first = FirstFile::Ahead;
                        st.wait_closing(AHEAD_AFTER_GIVEN);
                    }
                }
                prepare_loop(&*fs, &dir, segment_bytes, first, &tx, &st)
            })
            .map_err(|e| WalError::io("spawn thread", "wal-prepare", e))?;
        Ok(Preparer {
            rx: Some(rx),
            thread: Some(thread),
            state,
        })
    }

    /// The state appenders consult before a write that needs a new segment.
    pub(crate) fn state(&self) -> Arc<SpareState> {
        self.state.clone()
    }

    /// Takes the prepared file, waiting while it is being prepared.
    ///
    /// Appenders claim a prepared file before they queue records for a new
    /// segment ([`SpareState::claim`]), so the file is here when the writer
    /// comes for it.
    ///
    /// # Errors
    /// [`WalError::Stopped`] when the disk is found full meanwhile, which the
    /// claims leave only to a file that was never claimed: the records queued
    /// for it would have nowhere to go, and waiting for space would hold every
    /// waiting writer (and `close`) until it is freed. The writer stops
    /// instead, with this error; nothing it acknowledged is lost.
    pub(crate) fn take(&self) -> Prepared {
        let Some(rx) = self.rx.as_ref() else {
            return Err(WalError::Stopped("segment preparation stopped".into()));
        };
        loop {
            match rx.recv_timeout(NO_SPACE_RETRY) {
                Ok(p) => return p,
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(WalError::NoSpace { dir, detail }) = self.state.no_space() {
                        return Err(WalError::Stopped(format!(
                            "no space left on device for the next WAL segment in {} ({detail} failed), with writes already queued for it: the log stops; free space and restart",
                            dir.display()
                        )));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(WalError::Stopped("segment preparation stopped".into()))
                }
            }
        }
    }
}

/// Whether the log needs its first prepared file at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstFile {
    /// The log has no segment to continue: the first file becomes one now.
    Needed,
    /// The log continues a segment: the first file is for the next switch.
    Ahead,
}

/// The preparer thread: one file after another, each handed over when taken.
fn prepare_loop(
    fs: &dyn crate::fs::Fs,
    dir: &Path,
    segment_bytes: u64,
    first: FirstFile,
    tx: &SyncSender<Prepared>,
    state: &SpareState,
) {
    for n in 0u64.. {
        let path = dir.join(format!("next-{n}{PREPARED_SUFFIX}"));
        loop {
            match prepare(fs, &path, segment_bytes) {
                Ok(f) => {
                    if state.prepared() {
                        tracing::info!(dir = %dir.display(), "space is back: the next WAL segment is ready and writes resume");
                    }
                    if tx.send(Ok((path.clone(), f))).is_err() {
                        let _ = fs.remove(&path);
                        return;
                    }
                    break;
                }
                Err(e) if is_no_space(&e) && !(n == 0 && first == FirstFile::Needed) => {
                    // Free whatever the failed allocation took.
                    let _ = fs.remove(&path);
                    let detail = match &e {
                        WalError::Io(crate::durable::IoError { op, path, .. }) => {
                            format!("{op} {}", path.display())
                        }
                        other => other.to_string(),
                    };
                    if state.full(detail) {
                        tracing::error!(error = %e, "the disk is full: writes that need a new WAL segment are refused until space is freed");
                    }
                    std::thread::sleep(NO_SPACE_RETRY);
                    if state.closing.load(Ordering::Acquire) {
                        return;
                    }
                }
                Err(e) => {
                    state.ended();
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        self.state.close();
        self.rx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn remove_leftovers(fs: &dyn crate::fs::Fs, dir: &Path) -> Result<()> {
    let names = fs
        .list(dir)
        .map_err(|e| WalError::io("read directory", dir, e))?;
    let mut removed = false;
    for name in names.iter().filter(|n| n.ends_with(PREPARED_SUFFIX)) {
        let p = dir.join(name);
        if let Ok(Ok(h)) = fs.read(&p).map(|b| SegmentHeader::decode(&b)) {
            tracing::warn!(
                file = %p.display(),
                first_lsn = h.first_lsn,
                "removing a segment that never received its name: its records were \
                 never synced (sync policy 'never') and the log ends before them"
            );
        }
        fs.remove(&p).map_err(|e| WalError::io("remove", &p, e))?;
        removed = true;
    }
    if removed {
        fs.sync_dir(dir)
            .map_err(|e| WalError::io("fsync directory", dir, e))?;
    }
    Ok(())
}

/// Creates `path` allocated to `segment_bytes`, zero-filled ([`crate::fs::zero_fill`]) and synced.
/// Prepares `path` as a segment file ahead of need (allocated to
/// `segment_bytes`, zero-filled, synced; a file already there is replaced),
/// for [`WalOptions::first_segment_file`](super::WalOptions::first_segment_file).
/// Not a segment until the log names it: the directory is synced by the rename
/// that does.
///
/// # Errors
/// I/O errors, naming the file.
pub fn prepare_segment_file(fs: &dyn crate::fs::Fs, path: &Path, segment_bytes: u64) -> Result<()> {
    if fs.exists(path) {
        fs.remove(path)
            .map_err(|e| WalError::io("remove", path, e))?;
    }
    prepare(fs, path, segment_bytes).map(drop)
}

pub(crate) fn prepare(
    fs: &dyn crate::fs::Fs,
    path: &Path,
    segment_bytes: u64,
) -> Result<Box<dyn FsFile>> {
    let mut f = allocate(fs, path, segment_bytes)?;
    // Off the writers' path: every write of the log is then an overwrite.
    crate::fs::zero_fill(&mut *f, segment_bytes).map_err(|e| WalError::io("zero-fill", path, e))?;
    f.sync_data()
        .map_err(|e| WalError::io("fdatasync", path, e))?;
    Ok(f)
}

/// Creates `path` allocated to `segment_bytes`, not synced: the sync of the
/// header written next ([`install`]) makes the allocation durable with it.
pub(crate) fn allocate(
    fs: &dyn crate::fs::Fs,
    path: &Path,
    segment_bytes: u64,
) -> Result<Box<dyn FsFile>> {
    let mut f = fs
        .create(path)
        .map_err(|e| WalError::io("create", path, e))?;
    f.allocate(segment_bytes)
        .map_err(|e| WalError::io("preallocate", path, e))?;
    Ok(f)
}
