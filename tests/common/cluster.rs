//! Helpers for primary → (fault proxy) → standby runs, shared by the torture
//! and network-fault suites (included with `#[path]` next to `mod common`):
//! the fault proxy binary, restarting a standby on its address,
//! and the convergence check (applied LSN = durable LSN, equal `DEBUG DIGEST`).
#![allow(dead_code)]

use crate::common::{
    digest, durable_lsn, listening_addr, spawn_until_first_line_into, status_json, Standby, BIN,
};
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The applied LSN a standby reports (0 when it has none yet).
pub fn applied_lsn(dir: &Path) -> u64 {
    status_json(dir)["applied_lsn"].as_u64().unwrap_or(0)
}

/// With writes stopped: waits (at most `within`) until the standby's applied
/// LSN equals the primary's durable LSN, then asserts both `DEBUG DIGEST`s are
/// equal. Returns that LSN and the digest.
pub fn assert_converged(
    primary_dir: &Path,
    primary: &mut redis::Connection,
    standby: &Standby,
    within: Duration,
) -> (u64, String) {
    let deadline = Instant::now() + within;
    let durable = durable_lsn(primary_dir);
    loop {
        let applied = applied_lsn(&standby.dir);
        if applied == durable {
            break;
        }
        assert!(
            applied < durable,
            "the standby applied {applied:#x}, past the primary's durable {durable:#x}"
        );
        assert!(
            Instant::now() < deadline,
            "the standby applied {applied:#x}, not the primary's durable {durable:#x}, within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let on_primary = digest(primary);
    let on_standby = digest(&mut standby.client());
    assert_eq!(on_primary, on_standby, "digests differ at LSN {durable:#x}");
    (durable, on_primary)
}

/// Starts a standby on `dir` receiving on `ship_addr` (a port it held before)
/// with the flags of [`Standby::start`].
pub fn restart_standby(dir: &Path, ship_addr: &str, key: &Path) -> Standby {
    let key = key.to_str().expect("utf-8 path");
    Standby::restart_on(
        dir,
        ship_addr,
        &["--auth-key-file", key, "--checkpoint-interval", "1s"],
    )
}

/// A running `logship fault-proxy`.
pub struct Proxy {
    child: Option<Child>,
    /// Where it accepts connections.
    pub addr: String,
    stderr: Option<std::thread::JoinHandle<String>>,
    /// What it has logged so far.
    log: Arc<Mutex<String>>,
}

impl Proxy {
    /// Starts a proxy to `to` with `faults` (comma-separated) and `seed`.
    pub fn start(to: &str, faults: &str, seed: u64) -> Proxy {
        Proxy::start_with(to, faults, seed, &[])
    }

    /// [`Proxy::start`] with `extra` flags (`--cut-min 20KiB`, say).
    pub fn start_with(to: &str, faults: &str, seed: u64, extra: &[&str]) -> Proxy {
        let mut cmd = logship::config::hermetic(BIN);
        cmd.args(["fault-proxy", "--listen", "127.0.0.1:0", "--to", to])
            .args(["--faults", faults, "--seed", &seed.to_string()])
            .args(extra);
        let log = Arc::new(Mutex::new(String::new()));
        let (child, line, err) = spawn_until_first_line_into(cmd, "fault-proxy", Some(log.clone()));
        let addr = listening_addr(&line);
        Proxy {
            child: Some(child),
            addr,
            stderr: Some(err),
            log,
        }
    }

    /// True once the proxy has logged `what` (while it runs).
    pub fn has_logged(&self, what: &str) -> bool {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(what)
    }

    /// Stops the proxy; returns what it logged.
    pub fn stop(&mut self) -> String {
        crate::common::kill_child(&mut self.child, &mut self.stderr)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        crate::common::kill_child(&mut self.child, &mut None);
    }
}
