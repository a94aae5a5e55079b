//! An in-memory [`Fs`] for tests: it remembers what was synced, so a simulated
//! power failure ([`MemFs::crash`]) keeps only synced data and synced directory
//! entries, optionally plus a torn prefix of the unsynced writes cut at a sector
//! boundary; and it can fail fsync or run out of space on demand.
//!
//! A power failure also ends the process that was running: every handle (file
//! system clone or open file) from before [`MemFs::crash`] fails with EIO from then
//! on, so a log left running cannot write into the image that survived.

use super::{Fs, FsFile};
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Sector size at which crashes tear unsynced writes.
pub const SECTOR_BYTES: usize = 512;

#[derive(Default)]
struct FileData {
    data: Vec<u8>,
    synced: Vec<u8>,
    /// Writes since the last sync, in order: `(offset, bytes)`.
    unsynced: Vec<(u64, Vec<u8>)>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    files: HashMap<u64, FileData>,
    /// Visible names.
    entries: BTreeMap<PathBuf, u64>,
    /// Names as of the last fsync of their directory.
    durable_entries: BTreeMap<PathBuf, u64>,
    dirs: std::collections::BTreeSet<PathBuf>,
    /// Syncs (file or directory) that still succeed; `None` = unlimited.
    syncs_left: Option<u64>,
    /// Total bytes all files may hold; `None` = unlimited.
    capacity: Option<u64>,
    /// How long each `allocate` takes (a slow disk, or a preparer thread
    /// that the scheduler leaves waiting); `None` = at once.
    allocate_delay: Option<std::time::Duration>,
    syncs: u64,
    /// Power failures so far; handles from an earlier epoch are dead.
    epoch: u64,
}

impl State {
    fn used(&self) -> u64 {
        self.files.values().map(|f| f.data.len() as u64).sum()
    }

    fn take_sync(&mut self) -> io::Result<()> {
        self.syncs += 1;
        match &mut self.syncs_left {
            Some(0) => Err(io::Error::from_raw_os_error(libc::EIO)),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// The in-memory file system. Clones share the same state.
#[derive(Clone, Default)]
pub struct MemFs {
    state: Arc<Mutex<State>>,
    /// The power-failure epoch this handle lives in.
    epoch: u64,
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// Locks the state for a handle of `epoch`: EIO once a crash has ended that epoch.
fn lock_live(s: &Mutex<State>, epoch: u64) -> io::Result<MutexGuard<'_, State>> {
    let g = lock(s);
    if g.epoch != epoch {
        return Err(io::Error::from_raw_os_error(libc::EIO));
    }
    Ok(g)
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> MemFs {
        MemFs::default()
    }

    /// From now on, every sync after the next `n` successful ones fails with EIO.
    pub fn fail_syncs_after(&self, n: u64) {
        lock(&self.state).syncs_left = Some(n);
    }

    /// Lets syncs succeed again.
    pub fn heal_syncs(&self) {
        lock(&self.state).syncs_left = None;
    }

    /// Limits the total bytes of all files (writes past it fail with ENOSPC).
    pub fn set_capacity(&self, bytes: Option<u64>) {
        lock(&self.state).capacity = bytes;
    }

    /// Makes every `allocate` from now on take `delay` before it does its
    /// work (`None`: at once).
    pub fn set_allocate_delay(&self, delay: Option<std::time::Duration>) {
        lock(&self.state).allocate_delay = delay;
    }

    /// Syncs performed so far (file and directory).
    pub fn syncs(&self) -> u64 {
        lock(&self.state).syncs
    }

    /// Simulates a power failure: every file goes back to its synced content and
    /// every directory to its synced entries. With `tear_seed`, a random prefix of
    /// each file's unsynced writes survives, the last of them cut at a sector
    /// boundary (as a disk may persist some sectors of an interrupted write).
    ///
    /// Every other handle from before the crash (clones of this file system, open
    /// files) is dead afterwards: its operations fail with EIO. This handle lives
    /// on in the new epoch; clone it to open the log again.
    pub fn crash(&mut self, tear_seed: Option<u64>) {
        let mut s = lock(&self.state);
        s.epoch += 1;
        self.epoch = s.epoch;
        let mut rng = rand::rngs::StdRng::seed_from_u64(tear_seed.unwrap_or(0));
        s.entries = s.durable_entries.clone();
        let live: std::collections::HashSet<u64> = s.entries.values().copied().collect();
        s.files.retain(|id, _| live.contains(id));
        for f in s.files.values_mut() {
            let mut data = f.synced.clone();
            if tear_seed.is_some() && !f.unsynced.is_empty() {
                let keep = rng.gen_range(0..=f.unsynced.len());
                for (i, (off, bytes)) in f.unsynced.iter().enumerate().take(keep) {
                    let mut n = bytes.len();
                    if i + 1 == keep {
                        let sectors = n.div_ceil(SECTOR_BYTES);
                        n = (rng.gen_range(0..=sectors) * SECTOR_BYTES).min(n);
                    }
                    let off = *off as usize;
                    if data.len() < off + n {
                        data.resize(off + n, 0);
                    }
                    data[off..off + n].copy_from_slice(&bytes[..n]);
                }
            }
            f.synced = data.clone();
            f.data = data;
            f.unsynced.clear();
        }
    }

    /// Overwrites bytes of a file directly (for corruption tests).
    pub fn poke(&self, path: &Path, offset: usize, bytes: &[u8]) {
        let mut s = lock(&self.state);
        let id = s.entries[path];
        let f = s.files.get_mut(&id).expect("file exists");
        f.data[offset..offset + bytes.len()].copy_from_slice(bytes);
        f.synced = f.data.clone();
    }
}

struct MemFile {
    state: Arc<Mutex<State>>,
    id: u64,
    epoch: u64,
}

impl FsFile for MemFile {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut s = lock_live(&self.state, self.epoch)?;
        let grow = {
            let f = &s.files[&self.id];
            (offset as usize + buf.len()).saturating_sub(f.data.len()) as u64
        };
        if let Some(cap) = s.capacity {
            if s.used() + grow > cap {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        let f = s.files.get_mut(&self.id).expect("open file exists");
        let end = offset as usize + buf.len();
        if f.data.len() < end {
            f.data.resize(end, 0);
        }
        f.data[offset as usize..end].copy_from_slice(buf);
        f.unsynced.push((offset, buf.to_vec()));
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut s = lock_live(&self.state, self.epoch)?;
        s.take_sync()?;
        let f = s.files.get_mut(&self.id).expect("open file exists");
        f.synced = f.data.clone();
        f.unsynced.clear();
        Ok(())
    }

    fn allocate(&mut self, len: u64) -> io::Result<()> {
        let delay = lock_live(&self.state, self.epoch)?.allocate_delay;
        if let Some(d) = delay {
            std::thread::sleep(d);
        }
        let have = self.len()?;
        if len > have {
            self.write_all_at(&vec![0u8; (len - have) as usize], have)?;
        }
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(lock_live(&self.state, self.epoch)?.files[&self.id]
            .data
            .len() as u64)
    }
}

impl Fs for MemFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let mut s = lock_live(&self.state, self.epoch)?;
        if s.entries.contains_key(path) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
        }
        s.next_id += 1;
        let id = s.next_id;
        s.files.insert(id, FileData::default());
        s.entries.insert(path.to_path_buf(), id);
        Ok(Box::new(MemFile {
            state: self.state.clone(),
            id,
            epoch: self.epoch,
        }))
    }

    fn open_write(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let s = lock_live(&self.state, self.epoch)?;
        let id = *s.entries.get(path).ok_or_else(|| not_found(path))?;
        Ok(Box::new(MemFile {
            state: self.state.clone(),
            id,
            epoch: self.epoch,
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Bytes> {
        let s = lock_live(&self.state, self.epoch)?;
        let id = s.entries.get(path).ok_or_else(|| not_found(path))?;
        Ok(Bytes::from(s.files[id].data.clone()))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = lock_live(&self.state, self.epoch)?;
        let id = s.entries.remove(from).ok_or_else(|| not_found(from))?;
        s.entries.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut s = lock_live(&self.state, self.epoch)?;
        s.entries.remove(path).ok_or_else(|| not_found(path))?;
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = lock_live(&self.state, self.epoch)?;
        s.take_sync()?;
        let in_dir = |p: &Path| p.parent() == Some(dir);
        let keep: Vec<(PathBuf, u64)> = s
            .durable_entries
            .iter()
            .filter(|(p, _)| !in_dir(p))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        let now: Vec<(PathBuf, u64)> = s
            .entries
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        s.durable_entries = keep.into_iter().chain(now).collect();
        Ok(())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut s = lock_live(&self.state, self.epoch)?;
        for d in dir.ancestors().filter(|d| !d.as_os_str().is_empty()) {
            s.dirs.insert(d.to_path_buf());
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = lock_live(&self.state, self.epoch)?;
        if !s.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let names: std::collections::BTreeSet<String> = s
            .entries
            .keys()
            .chain(&s.dirs)
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        Ok(names.into_iter().collect())
    }

    fn exists(&self, path: &Path) -> bool {
        let Ok(s) = lock_live(&self.state, self.epoch) else {
            return false;
        };
        s.entries.contains_key(path) || s.dirs.contains(path)
    }
}
