//! A new standby stopped at any moment around its first shipments starts
//! again: SIGTERM and kill -9 at many moments after its first chunk arrived,
//! then `logship standby` on the same directory catches up. Its control file
//! carries the segment size the primary's log announces.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use cluster::{assert_converged, restart_standby};
use common::{free_addr, init, key_file, Primary};
use logship::fs::StdFs;
use logship::node::control::{Control, Role};
use std::path::Path;
use std::time::{Duration, Instant};

/// The primary's segment size: not logship's default, so a control file that
/// guessed would show it.
const SEGMENT_BYTES: u64 = 4 << 20;

/// Waits (bounded) until the standby has written its first received segment.
fn wait_first_segment(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let any = std::fs::read_dir(dir.join("wal"))
            .map(|d| d.filter_map(Result::ok).any(|e| e.path().is_file()))
            .unwrap_or(false);
        if any {
            return;
        }
        assert!(Instant::now() < deadline, "no shipment reached the standby");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_new_standby_stopped_at_any_moment_around_its_first_shipments_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let key = key_file(tmp.path());
    let pdir = tmp.path().join("primary");
    init(&pdir, "4MiB");
    let ship_addr = free_addr();
    let k = key.to_str().unwrap();
    let p = Primary::start(
        &pdir,
        &[
            "--ship-to",
            &ship_addr,
            "--auth-key-file",
            k,
            "--ship-every",
            "1s",
        ],
    );
    let mut c = p.client();
    for i in 0..2000 {
        let () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(format!("v{i}"))
            .query(&mut c)
            .unwrap();
    }
    // The housekeeping tick is once a second and shipments come once a
    // second: these moments fall before, on and after both.
    let moments_ms = [0u64, 150, 800, 1200, 1400];
    for (n, ms) in moments_ms.iter().enumerate() {
        for signal in [libc::SIGTERM, libc::SIGKILL] {
            let sdir = tmp.path().join(format!("standby-{n}-{signal}"));
            let mut s = restart_standby(&sdir, &ship_addr, &key);
            wait_first_segment(&sdir);
            std::thread::sleep(Duration::from_millis(*ms));
            let pid = s.child.as_ref().unwrap().id() as i32;
            // SAFETY: signalling our own child process.
            unsafe { libc::kill(pid, signal) };
            let stopped = s.child.take().unwrap().wait().unwrap();
            let log = s.stderr.take().unwrap().join().unwrap();
            if signal == libc::SIGTERM {
                assert!(
                    stopped.success(),
                    "SIGTERM after {ms} ms: {stopped:?}\n{log}"
                );
            }
            let mut s = restart_standby(&sdir, &ship_addr, &key);
            assert_converged(&pdir, &mut c, &s, Duration::from_secs(30));
            let control = Control::read(&StdFs, &sdir).unwrap_or_else(|e| {
                panic!("no control file after a stop {ms} ms into the first shipment: {e}")
            });
            assert_eq!(control.role, Role::Standby);
            assert_eq!(control.segment_bytes, SEGMENT_BYTES, "after {ms} ms");
            s.kill();
        }
    }
    drop(p);
}
