//! Fault injection on the files beside the log — snapshots, the control file,
//! `primary.position` — through the in-memory file system: failing fsync, a
//! full disk, and the power going at every step of a write.
//!
//! The common checks: a failed write is one error line naming the file and
//! what failed, never a panic; it leaves the previous file as it was and no
//! temporary file behind; a write that returned is durable; and after a power
//! failure at any moment the newest file is whole (old or new, never a mix).

use logship::fs::{Fs, FsFile, MemFs};
use logship::node::control::{Control, Role, CONTROL_FILE};
use logship::node::position::PrimaryPosition;
use logship::store::snapshot;
use logship::store::{Dbs, Item};
use rand::{Rng, SeedableRng};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const DATA: &str = "/d";
const SNAPS: &str = "/d/snapshots";
const SYSTEM_ID: u64 = 0x5eed;

/// A fresh file system with an empty data directory.
fn disk() -> MemFs {
    let fs = MemFs::new();
    fs.create_dir_all(Path::new(SNAPS)).unwrap();
    fs
}

/// `items` keys with pseudo-random values (which zstd cannot shrink much).
fn keyspace(items: u32, seed: u64) -> Dbs {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut ks = Dbs::new();
    for i in 0..items {
        let mut v = vec![0u8; 512];
        rng.fill(&mut v[..]);
        ks.db_mut(0)
            .insert(Item::new(format!("k{i}").as_bytes(), &v, None));
    }
    ks
}

fn control(timeline: u32) -> Control {
    Control {
        version: 1,
        system_id: SYSTEM_ID,
        role: Role::Primary,
        timeline,
        segment_bytes: 1 << 20,
        created_unix_ms: 5,
        fenced: None,
        halted_at: None,
    }
}

/// Names in `dir` ending in `.tmp`.
fn leftovers(fs: &MemFs, dir: &str) -> Vec<String> {
    let names = fs.list(Path::new(dir)).unwrap();
    names.into_iter().filter(|n| n.ends_with(".tmp")).collect()
}

/// Asserts `err` is one line, naming `op` on `path`.
fn assert_names(err: &dyn std::fmt::Display, op: &str, path: &str) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(text.starts_with(&format!("{op} {path}: ")), "{text}");
}

const EIO: &str = "Input/output error";
const ENOSPC: &str = "No space left on device";

#[test]
fn a_failed_snapshot_fsync_is_one_error_and_keeps_the_previous_snapshot() {
    let fs = disk();
    let dir = Path::new(SNAPS);
    let old = snapshot::write(&fs, dir, &keyspace(50, 1), SYSTEM_ID, 100, 1).unwrap();
    fs.fail_syncs_after(0);
    let err = snapshot::write(&fs, dir, &keyspace(60, 2), SYSTEM_ID, 200, 1).unwrap_err();
    assert_names(&err, "fsync", "/d/snapshots/snap-00000000000000c8.lss.tmp");
    assert!(err.to_string().contains(EIO), "{err}");
    fs.heal_syncs();
    assert_eq!(
        snapshot::list(&fs, dir).unwrap(),
        vec![(100, old.path.clone())]
    );
    assert_eq!(leftovers(&fs, SNAPS), Vec::<String>::new());
    let (h, ks) = snapshot::read(&fs, &old.path, SYSTEM_ID).unwrap();
    assert_eq!((h.lsn, ks.len()), (100, 50));
}

#[test]
fn a_full_disk_during_a_snapshot_keeps_the_previous_one_and_frees_the_space() {
    let fs = disk();
    let dir = Path::new(SNAPS);
    let old = snapshot::write(&fs, dir, &keyspace(50, 1), SYSTEM_ID, 100, 1).unwrap();
    let used = fs.read(&old.path).unwrap().len() as u64;
    // Room for the old snapshot and a little more, not for a new one.
    fs.set_capacity(Some(used + 4096));
    let err = snapshot::write(&fs, dir, &keyspace(60, 2), SYSTEM_ID, 200, 1).unwrap_err();
    assert_names(&err, "write", "/d/snapshots/snap-00000000000000c8.lss.tmp");
    assert!(err.to_string().contains(ENOSPC), "{err}");
    assert_eq!(
        snapshot::list(&fs, dir).unwrap(),
        vec![(100, old.path.clone())]
    );
    assert_eq!(leftovers(&fs, SNAPS), Vec::<String>::new());
    snapshot::read(&fs, &old.path, SYSTEM_ID).unwrap();
}

#[test]
fn a_failed_control_fsync_keeps_the_old_control_file() {
    let mut fs = disk();
    let dir = Path::new(DATA);
    control(1).write(&fs, dir).unwrap();
    fs.fail_syncs_after(0);
    let err = control(2).write(&fs, dir).unwrap_err();
    assert_names(&err, "fsync", "/d/control.tmp");
    assert!(err.to_string().contains(EIO), "{err}");
    fs.heal_syncs();
    assert_eq!(Control::read(&fs, dir).unwrap(), control(1));
    assert_eq!(leftovers(&fs, DATA), Vec::<String>::new());
    fs.crash(Some(1));
    assert_eq!(Control::read(&fs, dir).unwrap(), control(1));
}

#[test]
fn a_failed_directory_fsync_after_the_rename_is_reported() {
    let fs = disk();
    let dir = Path::new(DATA);
    control(1).write(&fs, dir).unwrap();
    // The file's fsync succeeds; the directory's, after the rename, fails:
    // the new file is visible but was never claimed durable.
    fs.fail_syncs_after(1);
    let err = control(2).write(&fs, dir).unwrap_err();
    assert_names(&err, "fsync directory", DATA);
}

#[test]
fn a_full_disk_during_a_control_update_keeps_the_old_control_file() {
    let mut fs = disk();
    let dir = Path::new(DATA);
    control(1).write(&fs, dir).unwrap();
    let used = fs.read(&dir.join(CONTROL_FILE)).unwrap().len() as u64;
    fs.set_capacity(Some(used));
    let err = control(2).write(&fs, dir).unwrap_err();
    assert_names(&err, "write", "/d/control.tmp");
    assert!(err.to_string().contains(ENOSPC), "{err}");
    assert_eq!(Control::read(&fs, dir).unwrap(), control(1));
    assert_eq!(leftovers(&fs, DATA), Vec::<String>::new());
    fs.set_capacity(None);
    fs.crash(None);
    assert_eq!(Control::read(&fs, dir).unwrap(), control(1));
    control(2).write(&fs, dir).unwrap();
    assert_eq!(Control::read(&fs, dir).unwrap(), control(2));
}

/// A process that dies after its next `left` file-system operations: every
/// call after them fails with EIO and changes nothing, as if the power went
/// at that moment. [`MemFs::crash`] then decides what of it survived.
#[derive(Clone)]
struct Dying {
    fs: MemFs,
    left: Arc<AtomicU64>,
}

impl Dying {
    fn new(fs: &MemFs, ops: u64) -> Dying {
        Dying {
            fs: fs.clone(),
            left: Arc::new(AtomicU64::new(ops)),
        }
    }

    fn tick(&self) -> io::Result<()> {
        self.left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| io::Error::from_raw_os_error(libc::EIO))
    }

    fn alive(&self) -> bool {
        self.left.load(Ordering::SeqCst) > 0
    }
}

struct DyingFile {
    file: Box<dyn FsFile>,
    owner: Dying,
}

impl FsFile for DyingFile {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.owner.tick()?;
        self.file.write_all_at(buf, offset)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.owner.tick()?;
        self.file.sync_data()
    }
    fn allocate(&mut self, len: u64) -> io::Result<()> {
        self.owner.tick()?;
        self.file.allocate(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.file.len()
    }
}

impl Fs for Dying {
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        self.tick()?;
        let file = self.fs.create(path)?;
        Ok(Box::new(DyingFile {
            file,
            owner: self.clone(),
        }))
    }
    fn open_write(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        self.tick()?;
        let file = self.fs.open_write(path)?;
        Ok(Box::new(DyingFile {
            file,
            owner: self.clone(),
        }))
    }
    fn read(&self, path: &Path) -> io::Result<bytes::Bytes> {
        self.tick()?;
        self.fs.read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.tick()?;
        self.fs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.tick()?;
        self.fs.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.tick()?;
        self.fs.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.tick()?;
        self.fs.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.tick()?;
        self.fs.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        self.alive() && self.fs.exists(path)
    }
}

/// Writes through a process that dies after 0, 1, 2, … operations, until one
/// write finishes, each time followed by a power failure (with and without
/// torn writes); `check` gets the file system after the failure and whether
/// the write had returned successfully.
fn power_cut_at_every_step(
    before: impl Fn(&MemFs),
    write: impl Fn(&dyn Fs) -> bool,
    check: impl Fn(&MemFs, bool, &str),
) {
    for ops in 0.. {
        let mut finished = false;
        for tear in [None, Some(1), Some(2), Some(3)] {
            let mut fs = disk();
            before(&fs);
            let ok = write(&Dying::new(&fs, ops));
            finished |= ok;
            fs.crash(tear);
            check(
                &fs,
                ok,
                &format!("power cut after {ops} operations, tear {tear:?}"),
            );
        }
        if finished {
            return;
        }
        assert!(ops < 100, "the write never finished");
    }
}

#[test]
fn a_power_cut_during_a_snapshot_write_leaves_a_whole_snapshot() {
    let dir = Path::new(SNAPS);
    let (old, new) = (keyspace(40, 1), keyspace(3000, 2));
    power_cut_at_every_step(
        |fs| {
            snapshot::write(fs, dir, &old, SYSTEM_ID, 100, 1).unwrap();
        },
        |fs| snapshot::write(fs, dir, &new, SYSTEM_ID, 200, 1).is_ok(),
        |fs, ok, ctx| {
            snapshot::remove_leftovers(fs, dir).unwrap();
            assert_eq!(leftovers(fs, SNAPS), Vec::<String>::new(), "{ctx}");
            let list = snapshot::list(fs, dir).unwrap();
            let (lsn, path): (u64, PathBuf) = list.last().cloned().expect(ctx);
            if ok {
                assert_eq!(lsn, 200, "{ctx}: a finished snapshot was lost");
            }
            let (h, ks) = snapshot::read(fs, &path, SYSTEM_ID)
                .unwrap_or_else(|e| panic!("{ctx}: newest snapshot unusable: {e}"));
            let want = if lsn == 200 { &new } else { &old };
            assert_eq!((h.lsn, ks.digest()), (lsn, want.digest()), "{ctx}");
        },
    );
}

#[test]
fn a_power_cut_during_a_control_update_leaves_the_old_or_the_new_file() {
    let dir = Path::new(DATA);
    power_cut_at_every_step(
        |fs| control(1).write(fs, dir).unwrap(),
        |fs| control(2).write(fs, dir).is_ok(),
        |fs, ok, ctx| {
            let c = Control::read(fs, dir).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let want: &[u32] = if ok { &[2] } else { &[1, 2] };
            assert!(want.contains(&c.timeline), "{ctx}: timeline {}", c.timeline);
        },
    );
}

#[test]
fn a_power_cut_during_a_position_update_leaves_the_old_or_the_new_file() {
    let dir = Path::new(DATA);
    let at = |lsn| PrimaryPosition {
        primary_durable_lsn: lsn,
        received_lsn: lsn,
        ..PrimaryPosition::default()
    };
    power_cut_at_every_step(
        |fs| at(10).write(fs, dir).unwrap(),
        |fs| at(20).write(fs, dir).is_ok(),
        |fs, ok, ctx| {
            let p = PrimaryPosition::read(fs, dir).unwrap_or_else(|| panic!("{ctx}: unreadable"));
            let want: &[u64] = if ok { &[20] } else { &[10, 20] };
            assert!(want.contains(&p.received_lsn), "{ctx}: {p:?}");
        },
    );
}
