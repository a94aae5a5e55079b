//! A real full disk: a primary whose data directory is on a 16 MiB tmpfs the
//! test mounts itself. Writes go on until the disk is full; the client must get
//! a clear error reply naming the lack of space, and the server must keep
//! running and serving reads; once a filler file on the same tmpfs is deleted,
//! writes succeed again without a restart, and every acknowledged write is there
//! after a restart. Needs root (to mount); skipped with a printed reason otherwise.

mod common;

use common::{init, Primary};
use redis::cmd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Size of the file system the test makes.
const TMPFS_SIZE: &str = "16m";
/// Room taken by the filler file, freed to let writes resume.
const FILLER_BYTES: usize = 6 << 20;
/// Value size of the filling writes.
const VALUE_BYTES: usize = 4096;
/// Writes before giving up on filling the disk.
const MAX_WRITES: u64 = 20_000;
/// Writes once space is back (well within the freed room).
const RESUMED_WRITES: u64 = 200;

/// A mounted tmpfs, unmounted on drop (also when the test fails).
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `TMPFS_SIZE`, or says why it cannot.
    fn mount() -> Result<Tmpfs, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root, cannot mount a small file system".into());
        }
        let parent = tempfile::tempdir().map_err(|e| e.to_string())?;
        let dir = parent.path().join("small");
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_SIZE}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount refused: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            dir,
            _parent: parent,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

fn value(i: u64) -> String {
    format!("{i}:{}", "d".repeat(VALUE_BYTES))
}

/// Writes `k{i}` from `first` on until a write fails or `count` were made;
/// returns the last index acknowledged and the error.
fn fill(addr: &str, first: u64, count: u64) -> (u64, Option<redis::RedisError>) {
    let mut c = common::redis_client(addr);
    let mut last = first - 1;
    for i in first..first + count {
        match cmd("SET")
            .arg(format!("k{i}"))
            .arg(value(i))
            .query::<()>(&mut c)
        {
            Ok(()) => last = i,
            Err(e) => return (last, Some(e)),
        }
    }
    (last, None)
}

fn assert_all_present(p: &Primary, upto: u64) {
    let mut c = p.client();
    for i in 1..=upto {
        let v: Option<String> = cmd("GET").arg(format!("k{i}")).query(&mut c).unwrap();
        assert_eq!(
            v.as_deref(),
            Some(value(i).as_str()),
            "acknowledged k{i} lost"
        );
    }
}

fn wait_exit(p: &mut Primary, within: Duration) -> Option<(std::process::ExitStatus, String)> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(st) = p.child.as_mut().unwrap().try_wait().unwrap() {
            p.child = None;
            let log = p.stderr.take().unwrap().join().unwrap();
            return Some((st, log));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn make_filler(path: &Path) {
    std::fs::write(path, vec![0x5au8; FILLER_BYTES]).expect("write the filler file");
}

#[test]
fn a_full_disk_gives_a_clear_error_loses_nothing_and_writes_resume_once_space_returns() {
    let fs = match Tmpfs::mount() {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let d = fs.dir.join("data");
    init(&d, "1MiB");
    make_filler(&fs.dir.join("filler"));
    let flags = ["--fsync", "always", "--checkpoint-wal-bytes", "1GiB"];
    let mut p = Primary::start(&d, &flags);

    let (acked, err) = fill(&p.addr, 1, MAX_WRITES);
    let err = err.expect("the disk never filled up");
    assert!(acked > 100, "only {acked} writes fitted");
    eprintln!("client error on a full disk: {err}");
    let text = err.to_string().to_lowercase();
    assert!(
        text.contains("no space") || text.contains("disk is full"),
        "the error does not say the disk is full: {err}"
    );

    // The server keeps serving reads and keeps running.
    if let Some((status, log)) = wait_exit(&mut p, Duration::from_secs(2)) {
        panic!("the primary stopped on a full disk ({status}): {log}");
    }
    let v: Option<String> = cmd("GET").arg("k1").query(&mut p.client()).unwrap();
    assert_eq!(v.as_deref(), Some(value(1).as_str()));
    assert_all_present(&p, acked);

    // Space comes back: writes resume by themselves, without a restart.
    std::fs::remove_file(fs.dir.join("filler")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut c = p.client();
    while cmd("SET")
        .arg(format!("k{}", acked + 1))
        .arg(value(acked + 1))
        .query::<()>(&mut c)
        .is_err()
    {
        assert!(Instant::now() < deadline, "writes did not resume");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (more, err) = fill(&p.addr, acked + 2, RESUMED_WRITES);
    assert_eq!(
        more,
        acked + 1 + RESUMED_WRITES,
        "writes did not resume: {err:?}"
    );
    p.stop();
    let mut p = Primary::start(&d, &flags);
    assert_all_present(&p, more);
    p.stop();
    eprintln!(
        "disk full: {acked} writes before the disk filled, {more} acknowledged in all, none lost"
    );
}
