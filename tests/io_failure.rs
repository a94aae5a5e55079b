//! A real storage failure under a running primary: its data directory is on a
//! small ext4 image the test loop-mounts; under a write load, the file system
//! is shut down with `EXT4_IOC_SHUTDOWN` (`NOLOGFLUSH`: from then on every
//! write and fsync fails with EIO — the WAL writer meets it in whichever
//! comes first — and what was not yet synced is lost, like a power failure).
//! The primary must answer the waiting clients with an error
//! and stop with a clear line; once the image is mounted again (the journal
//! replayed), a restart recovers consistently: every acknowledged SET is
//! there, counters are not behind their acknowledged values, transactions are
//! all or nothing. Needs root (loop mount, ioctl); skipped with a printed
//! reason otherwise.

mod common;

use common::{init, Primary};
use redis::cmd;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `EXT4_IOC_SHUTDOWN` = `_IOR('X', 125, __u32)`.
const EXT4_IOC_SHUTDOWN: libc::c_ulong = 0x8004_587d;
/// Shut down without flushing the log: unsynced data is lost.
const EXT4_GOING_FLAGS_NOLOGFLUSH: u32 = 2;
const IMAGE_BYTES: u64 = 48 << 20;
const WRITERS: usize = 3;

/// An ext4 image loop-mounted on a directory; unmounted on drop.
struct Ext4 {
    image: PathBuf,
    dir: PathBuf,
    mounted: bool,
    _parent: tempfile::TempDir,
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Ext4 {
    /// Makes and mounts the image, or says why it cannot.
    fn make() -> Result<Ext4, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root, cannot loop-mount a file system".into());
        }
        let parent = tempfile::tempdir().map_err(|e| e.to_string())?;
        let image = parent.path().join("disk.img");
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        let f = std::fs::File::create(&image).map_err(|e| e.to_string())?;
        f.set_len(IMAGE_BYTES).map_err(|e| e.to_string())?;
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image))?;
        let mut fs = Ext4 {
            image,
            dir,
            mounted: false,
            _parent: parent,
        };
        fs.mount()?;
        Ok(fs)
    }

    fn mount(&mut self) -> Result<(), String> {
        run(Command::new("mount")
            .args(["-t", "ext4", "-o", "loop"])
            .arg(&self.image)
            .arg(&self.dir))?;
        self.mounted = true;
        Ok(())
    }

    fn umount(&mut self) {
        if self.mounted {
            let ok = Command::new("umount")
                .arg(&self.dir)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
            }
            self.mounted = false;
        }
    }

    /// Shuts the file system down: every later write and fsync fails.
    fn shut_down(&self) {
        let d = std::fs::File::open(&self.dir).expect("open the mount point");
        let flags = EXT4_GOING_FLAGS_NOLOGFLUSH;
        // SAFETY: the ioctl reads one u32 from a valid pointer.
        let rc = unsafe { libc::ioctl(d.as_raw_fd(), EXT4_IOC_SHUTDOWN, &flags) };
        assert_eq!(
            rc,
            0,
            "EXT4_IOC_SHUTDOWN: {}",
            std::io::Error::last_os_error()
        );
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        self.umount();
    }
}

/// What one writer saw acknowledged.
#[derive(Default, Clone, Debug)]
struct Ledger {
    last_set: u64,
    counter: i64,
    counter_sent: i64,
    tx: i64,
    tx_sent: i64,
    /// The first error reply, if any.
    error: Option<String>,
}

fn writer(addr: String, w: usize, l: Arc<Mutex<Ledger>>) {
    let Ok(mut c) = redis::Client::open(format!("redis://{addr}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
    else {
        return;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(20)));
    for i in 1..200_000u64 {
        let r = match i % 5 {
            0 => {
                l.lock().unwrap().counter_sent += 1;
                cmd("INCR")
                    .arg(format!("counter:{w}"))
                    .query::<i64>(&mut c)
                    .map(|n| l.lock().unwrap().counter = n)
            }
            1 => {
                l.lock().unwrap().tx_sent = i as i64;
                let mut p = redis::pipe();
                p.atomic();
                for k in ["a", "b", "c"] {
                    p.cmd("SET").arg(format!("tx:{w}:{k}")).arg(i).ignore();
                }
                p.query::<()>(&mut c)
                    .map(|()| l.lock().unwrap().tx = i as i64)
            }
            _ => cmd("SET")
                .arg(format!("k:{w}:{i}"))
                .arg(format!("v{i}"))
                .query::<()>(&mut c)
                .map(|()| l.lock().unwrap().last_set = i),
        };
        if let Err(e) = r {
            l.lock().unwrap().error = Some(e.to_string());
            return;
        }
    }
}

/// What writer `w` saw acknowledged is there after the restart; says what is
/// not.
fn check(p: &Primary, w: usize, l: &Ledger) -> Result<(), String> {
    let mut c = p.client();
    for i in (1..=l.last_set).filter(|i| i % 5 >= 2) {
        let v: Option<String> = cmd("GET").arg(format!("k:{w}:{i}")).query(&mut c).unwrap();
        if v != Some(format!("v{i}")) {
            return Err(format!(
                "acknowledged k:{w}:{i} lost (reads {v:?}; last acknowledged SET {})",
                l.last_set
            ));
        }
    }
    let n: Option<i64> = cmd("GET")
        .arg(format!("counter:{w}"))
        .query(&mut c)
        .unwrap();
    let n = n.unwrap_or(0);
    if n < l.counter || n > l.counter_sent {
        return Err(format!(
            "counter:{w} is {n}: acknowledged {}, sent {}",
            l.counter, l.counter_sent
        ));
    }
    let tx: Vec<Option<i64>> = cmd("MGET")
        .arg(format!("tx:{w}:a"))
        .arg(format!("tx:{w}:b"))
        .arg(format!("tx:{w}:c"))
        .query(&mut c)
        .unwrap();
    if !tx.iter().all(|v| *v == tx[0]) {
        return Err(format!("transaction {w} half applied: {tx:?}"));
    }
    let v = tx[0].unwrap_or(0);
    if v != l.tx && v != l.tx_sent {
        return Err(format!(
            "transaction {w} reads {v}, acknowledged {}, sent {}",
            l.tx, l.tx_sent
        ));
    }
    Ok(())
}

fn wait_exit(p: &mut Primary, within: Duration) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + within;
    loop {
        if let Some(st) = p.child.as_mut().unwrap().try_wait().unwrap() {
            p.child = None;
            return (st, p.stderr.take().unwrap().join().unwrap());
        }
        assert!(
            Instant::now() < deadline,
            "the primary did not stop after its disk failed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn data_dir(fs: &Ext4) -> PathBuf {
    fs.dir.join("data")
}

fn start(d: &Path) -> Primary {
    Primary::start(d, &["--fsync", "always", "--checkpoint-wal-bytes", "2MiB"])
}

#[test]
fn failed_writes_and_fsyncs_stop_the_primary_and_a_restart_recovers_consistently() {
    let mut fs = match Ext4::make() {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let d = data_dir(&fs);
    init(&d, "1MiB");
    let mut p = start(&d);
    let ledgers: Vec<Arc<Mutex<Ledger>>> = (0..WRITERS).map(|_| Arc::default()).collect();
    let threads: Vec<_> = ledgers
        .iter()
        .enumerate()
        .map(|(w, l)| {
            let (addr, l) = (p.addr.clone(), l.clone());
            std::thread::spawn(move || writer(addr, w, l))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    fs.shut_down();
    let (status, log) = wait_exit(&mut p, Duration::from_secs(30));
    for t in threads {
        t.join().expect("writer thread");
    }
    assert!(!status.success(), "the primary exited with success: {log}");
    assert!(!log.contains("panicked"), "{log}");
    let last = log.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("logship: error: the WAL failed"),
        "unclear last line: {last}"
    );
    let errors: Vec<String> = ledgers
        .iter()
        .filter_map(|l| l.lock().unwrap().error.clone())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("not made durable")),
        "no client was told its write failed: {errors:?}"
    );
    eprintln!("client: {}", errors[0]);
    eprintln!("server: {last}");

    // "Power comes back": mount again (ext4 replays its journal) and restart.
    fs.umount();
    fs.mount().expect("mount the image again");
    let mut p = start(&d);
    let mut acked = 0;
    for (w, l) in ledgers.iter().enumerate() {
        let l = l.lock().unwrap().clone();
        acked += l.last_set;
        if let Err(lost) = check(&p, w, &l) {
            // Everything that tells where the write went: the first run's
            // log, the restart's recovery, and the WAL as it is on disk.
            let restart_log = p.kill();
            let verify = logship::config::hermetic(common::BIN)
                .args(["verify", "--json"])
                .arg(d.join("wal"))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            panic!(
                "{lost}\n--- the primary before the failure:\n{log}\n--- its restart:\n{restart_log}\n--- verify of the WAL:\n{verify}"
            );
        }
    }
    assert!(acked > 50, "too few writes before the failure: {acked}");
    // And the node writes on.
    let () = cmd("SET")
        .arg("after")
        .arg("1")
        .query(&mut p.client())
        .unwrap();
    p.stop();
}
