//! A real full disk: a primary whose data directory is on a 16 MiB tmpfs the
//! test mounts itself. Writes go on until the disk is full; the client must get
//! a clear error reply naming the lack of space, and the server must keep
//! running and serving reads; once a filler file on the same tmpfs is deleted,
//! writes succeed again without a restart, and every acknowledged write is there
//! after a restart. A standby on such a disk refuses what it has no room for,
//! goes on serving reads, and catches up by itself once space is freed. Needs
//! root (to mount); skipped with a printed reason otherwise.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use common::{init, key_file, status_json, wait_standby_status, Primary, Standby};
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

impl Tmpfs {
    /// [`mount`](Self::mount), or `None` after printing why the test is skipped.
    fn mount_or_skip() -> Option<Tmpfs> {
        Tmpfs::mount()
            .map_err(|why| eprintln!("skipped: {why}"))
            .ok()
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
    let Some(fs) = Tmpfs::mount_or_skip() else {
        return;
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

/// Bytes free on the file system holding `dir`.
fn free_bytes(dir: &Path) -> u64 {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: statvfs fills the struct it is given; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    st.f_bavail as u64 * st.f_frsize as u64
}

#[test]
fn a_standby_on_a_full_disk_refuses_keeps_serving_and_catches_up_once_space_returns() {
    let Some(fs) = Tmpfs::mount_or_skip() else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let pd = t.path().join("p");
    init(&pd, "256KiB");
    let key = key_file(t.path());
    let sd = fs.dir.join("standby");
    let s = Standby::start(&sd, &key);
    let mut p = Primary::start(
        &pd,
        &[
            "--ship-to",
            &s.ship_addr,
            "--auth-key-file",
            key.to_str().unwrap(),
            "--ship-continuous",
        ],
    );
    // Leave the standby room for a few segments, then write many more.
    let filler = fs.dir.join("filler");
    let room = 1 << 20;
    std::fs::write(&filler, vec![0x5au8; (free_bytes(&fs.dir) - room) as usize]).unwrap();
    let (written, err) = fill(&p.addr, 1, 1200);
    assert!(err.is_none(), "the primary refused a write: {err:?}");
    assert_eq!(written, 1200);

    // The primary reports the refusal by its reason.
    let sb = wait_standby_status(&pd, Duration::from_secs(30), |sb| {
        sb["last_error_reason"] == "no_space"
    });
    let result = sb["last_ship_result"].as_str().unwrap();
    assert!(result.contains("no space left on device"), "{sb}");
    assert!(sb["lag_bytes"].as_u64().unwrap() > 0, "{sb}");

    // The standby runs on and answers reads from what it could receive.
    let mut c = s.client();
    let v: Option<String> = cmd("GET").arg("k1").query(&mut c).unwrap();
    assert_eq!(v.as_deref(), Some(value(1).as_str()));
    let n: u64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert!(n < written, "the standby holds {n} of {written} keys");
    // Its own status says why it lags.
    let st = status_json(&sd);
    let why = st["last_receive_error"].as_str().unwrap_or_default();
    assert!(why.contains("no space left on device"), "{st}");

    // Space comes back: the next shipment resumes, and everything arrives.
    std::fs::remove_file(&filler).unwrap();
    cluster::assert_converged(&pd, &mut p.client(), &s, Duration::from_secs(60));
    let sb = status_json(&pd)["standbys"][0].clone();
    assert_eq!(sb["failures_in_row"], 0, "{sb}");
    assert_eq!(sb["connected"], true, "{sb}");
    p.stop();
}

#[test]
fn a_checkpoint_that_fails_on_a_full_disk_leaves_no_partial_snapshot_behind() {
    use rand::RngCore;
    let Some(fs) = Tmpfs::mount_or_skip() else {
        return;
    };
    let d = fs.dir.join("data");
    init(&d, "1MiB");
    let mut p = Primary::start(&d, &["--checkpoint-interval", "1s"]);
    // Values that do not compress: the snapshot needs about as much room as
    // the data, which the disk does not have once it is full.
    let mut c = p.client();
    let mut rng = rand::thread_rng();
    let mut value = vec![0u8; 64 << 10];
    let mut full = false;
    for i in 0..400u32 {
        rng.fill_bytes(&mut value);
        let r: redis::RedisResult<()> = cmd("SET")
            .arg(format!("k{}", i % 150))
            .arg(&value)
            .query(&mut c);
        if r.is_err() {
            full = true;
            break;
        }
    }
    assert!(full, "the disk never filled up");
    let snapshots = d.join("snapshots");
    let partial = || -> Vec<String> {
        std::fs::read_dir(&snapshots)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    };
    // Checkpoints run every second meanwhile and fail for lack of space.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(partial(), Vec::<String>::new());
    if let Some((status, log)) = wait_exit(&mut p, Duration::from_millis(10)) {
        panic!("the primary stopped on a full disk ({status}): {log}");
    }
    let log = p.kill();
    assert!(
        log.contains("checkpoint failed"),
        "no checkpoint failed: {log}"
    );
    assert_eq!(partial(), Vec::<String>::new());
}
