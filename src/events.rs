//! Event hooks (`--on-event CMD`): for each event worth a page, CMD runs through
//! `sh -c` with one JSON object on its standard input:
//!
//! ```json
//! {"event": "shipment_failed", "unix_ms": 1700000000000, "node": "primary 127.0.0.1:6379",
//!  "details": {"standby": "10.0.0.2:7001", "failures_in_row": 3, "reason": "connect", "error": "…"}}
//! ```
//!
//! | `event`              | when                                                                  | `details`                                   |
//! |----------------------|-----------------------------------------------------------------------|---------------------------------------------|
//! | `shipment_failed`    | a standby's shipments failed N times in a row (`--event-failures N`)    | `standby`, `failures_in_row`, `reason`, `error` |
//! | `lag_over_threshold` | lag went over `--event-lag` / `--event-lag-bytes` (again only after it fell back under) | `standby` (primary), `lag_bytes`, `lag_seconds`, `threshold` |
//! | `needs_reseed`       | the primary removed WAL a standby lacked: it must be re-seeded          | `standby`, `acked_lsn`, `reason`            |
//! | `archive_failed`     | an archive attempt failed (the first in a row, then every tenth)        | `url`, `error`, `failures`                  |
//! | `archive_gap`        | WAL was removed before it was archived: the archive records a gap       | `url`, `start_lsn`, `end_lsn`, `reason`     |
//! | `promotion`          | this node was promoted (hook point: [`crate::metrics::Monitor::record_promotion`]); also `logship promote --on-event`, which runs its hook itself ([`run_hook`]) | as given by the caller      |
//! | `fencing_refusal`    | a shipment was refused for a timeline that is over                     | `standby` or `peer`, `message`              |
//! | `corruption`         | damaged log detected (a chunk failing verification, a damaged segment) | `standby` or `peer`, `message`              |
//! | `reloaded`           | SIGHUP re-read the configuration and applied it                        | `changed` (list of what changed, in words), `restart_needed` (settings that differ but need a restart) |
//! | `reload_failed`      | SIGHUP found the configuration invalid; the running one is kept        | `error`                                     |
//!
//! Bounded: hooks run one at a time on their own thread, never on a shipping or
//! replay path; at most [`QUEUE_EVENTS`] wait (more are dropped with a log
//! line), and a hook still running after its timeout is killed with its whole
//! process group.

use serde::Serialize;
use serde_json::Value;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::time::{Duration, Instant};

/// Events waiting for the hook; more are dropped.
pub const QUEUE_EVENTS: usize = 16;
/// Default of `--on-event-timeout`.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    ShipmentFailed,
    ArchiveFailed,
    ArchiveGap,
    LagOverThreshold,
    NeedsReseed,
    Promotion,
    FencingRefusal,
    Corruption,
    Reloaded,
    ReloadFailed,
}

/// The JSON object a hook reads on stdin.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub event: EventKind,
    pub unix_ms: u64,
    /// Which node: role and address.
    pub node: String,
    pub details: Value,
}

/// How hooks run.
#[derive(Debug, Clone)]
pub struct HookConfig {
    /// Run through `sh -c`.
    pub command: String,
    /// A hook still running after this is killed.
    pub timeout: Duration,
}

/// How one hook run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOutcome {
    Exited(Option<i32>),
    /// Killed at the timeout.
    TimedOut,
    /// Could not start (or its stdin could not be written).
    Failed(String),
}

/// The event sink of a node: emits to the hook thread, never blocks.
#[derive(Debug)]
pub struct Events {
    /// Role and address, once the node has bound it.
    node: std::sync::Mutex<String>,
    /// The hook thread's queue (`None`: no hook); replaced on a reload.
    tx: std::sync::Mutex<Option<SyncSender<Event>>>,
    emitted: AtomicU64,
    dropped: AtomicU64,
}

impl Events {
    /// Events are logged only (no `--on-event`).
    pub fn disabled(node: String) -> Events {
        Events {
            node: std::sync::Mutex::new(node),
            tx: std::sync::Mutex::new(None),
            emitted: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Starts the hook thread.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(node: String, cfg: HookConfig) -> std::io::Result<Events> {
        Ok(Events {
            node: std::sync::Mutex::new(node),
            tx: std::sync::Mutex::new(Some(hook_thread(cfg)?)),
            emitted: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    /// Runs later events through `cfg` (`None`: log them only). A new hook
    /// gets a thread of its own; the old one's thread ends once the events
    /// already queued for it have run.
    ///
    /// # Errors
    /// The new hook's thread cannot be started: the old hook stays.
    pub fn set_hook(&self, cfg: Option<HookConfig>) -> std::io::Result<()> {
        let tx = cfg.map(hook_thread).transpose()?;
        *self.tx.lock().unwrap_or_else(|p| p.into_inner()) = tx;
        Ok(())
    }

    /// Logs the event and queues it for the hook; drops it (with a log line)
    /// when the queue is full. Never blocks.
    pub fn emit(&self, kind: EventKind, details: Value) {
        let ev = Event {
            event: kind,
            unix_ms: crate::clock::now_unix_ms(),
            node: self.node.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            details,
        };
        tracing::info!(event = ?kind, details = %ev.details, "event");
        self.emitted.fetch_add(1, Ordering::Relaxed);
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(tx) = tx else { return };
        match tx.try_send(ev) {
            Ok(()) => {}
            Err(TrySendError::Full(ev)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(event = ?ev.event, queued = QUEUE_EVENTS, "event hook queue full; event dropped");
            }
            Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Names the node in later events (role and the address it bound).
    pub fn set_node(&self, node: String) {
        *self.node.lock().unwrap_or_else(|p| p.into_inner()) = node;
    }

    /// Events emitted since start.
    pub fn emitted(&self) -> u64 {
        self.emitted.load(Ordering::Relaxed)
    }

    /// Events dropped because the hook queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Starts a thread running `cfg`'s command for each queued event, one at a
/// time; it ends when the returned sender is dropped and the queue is empty.
fn hook_thread(cfg: HookConfig) -> std::io::Result<SyncSender<Event>> {
    let (tx, rx) = sync_channel::<Event>(QUEUE_EVENTS);
    std::thread::Builder::new()
        .name("event-hooks".into())
        .spawn(move || {
            for ev in rx {
                let json = serde_json::to_string(&ev).unwrap_or_default();
                match run_hook(&cfg.command, &json, cfg.timeout) {
                    HookOutcome::Exited(Some(0)) => {}
                    HookOutcome::Exited(code) => {
                        tracing::warn!(event = ?ev.event, exit_code = ?code, "event hook failed")
                    }
                    HookOutcome::TimedOut => tracing::warn!(
                        event = ?ev.event,
                        timeout_ms = cfg.timeout.as_millis() as u64,
                        "event hook ran past its timeout; killed"
                    ),
                    HookOutcome::Failed(e) => {
                        tracing::warn!(event = ?ev.event, error = %e, "event hook could not run")
                    }
                }
            }
        })?;
    Ok(tx)
}

/// Runs `sh -c command` with `json` and a newline on stdin, in its own process
/// group; kills the group when it runs longer than `timeout`.
pub fn run_hook(command: &str, json: &str, timeout: Duration) -> HookOutcome {
    let child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return HookOutcome::Failed(format!("start sh -c {command:?}: {e}")),
    };
    let pid = child.id() as i32;
    let kill_group = || {
        // SAFETY: signalling the process group we created for this hook.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine (a broken pipe is ignored);
        // the JSON is far below the pipe buffer, so this cannot block.
        let _ = stdin.write_all(json.as_bytes());
        let _ = stdin.write_all(b"\n");
    }
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                // Children it left behind go with it.
                kill_group();
                return HookOutcome::Exited(st.code());
            }
            Ok(None) if Instant::now() >= deadline => {
                kill_group();
                let _ = child.wait();
                return HookOutcome::TimedOut;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                kill_group();
                return HookOutcome::Failed(e.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_reads_the_json_and_a_hanging_one_is_killed() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("ev.json");
        let cmd = format!("cat > '{}'", out.display());
        let r = run_hook(&cmd, r#"{"event":"promotion"}"#, Duration::from_secs(10));
        assert_eq!(r, HookOutcome::Exited(Some(0)));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"event\":\"promotion\"}\n"
        );
        let t0 = Instant::now();
        let r = run_hook("sleep 30", "{}", Duration::from_millis(300));
        assert_eq!(r, HookOutcome::TimedOut);
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        assert_eq!(
            run_hook("exit 7", "{}", Duration::from_secs(5)),
            HookOutcome::Exited(Some(7))
        );
    }

    #[test]
    fn a_full_queue_drops_instead_of_blocking() {
        let ev = Events::start(
            "test".into(),
            HookConfig {
                command: "sleep 5".into(),
                timeout: Duration::from_millis(200),
            },
        )
        .unwrap();
        let t0 = Instant::now();
        for _ in 0..QUEUE_EVENTS + 5 {
            ev.emit(EventKind::Corruption, serde_json::json!({}));
        }
        assert!(t0.elapsed() < Duration::from_secs(1));
        assert_eq!(ev.emitted(), QUEUE_EVENTS as u64 + 5);
        assert!(ev.dropped() >= 4, "dropped {}", ev.dropped());
    }
}
