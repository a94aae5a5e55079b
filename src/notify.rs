//! Telling the service manager how the node is doing (systemd's `sd_notify`
//! protocol, `Type=notify` units), for `primary` and `standby` alike.
//!
//! Nothing happens unless `NOTIFY_SOCKET` is set. Then:
//!
//! | message        | when                                                          |
//! |----------------|---------------------------------------------------------------|
//! | `READY=1`      | [`ready`]: the node serves (primary: its RESP listener accepts; standby: its own log is recovered and it serves reads) |
//! | `STATUS=…`     | right after `READY=1`, then every [`STATUS_EVERY`] (or each watchdog ping, when sooner): "primary, durable 0/1A2B3C, 2 standbys", "standby, applied 0/1A2B3C, lag 0.3 s" |
//! | `WATCHDOG=1`   | at half of `WATCHDOG_USEC` when the watchdog is on for this process (`WATCHDOG_PID` absent or ours) |
//! | `STOPPING=1`   | [`stopping`]: the start of shutdown                            |
//! | `RELOADING=1`  | [`reloading`]: SIGHUP, a reload begins (with `MONOTONIC_USEC=`); [`reloaded`] sends `READY=1` when it is over |
//!
//! The status line and the watchdog ping are sent by one thread of their own,
//! so the status report (which may block briefly on I/O) never runs on a tokio
//! worker. The ping follows a status report: a node whose report hangs (a
//! keyspace lock never released) stops pinging, and systemd restarts it.
//!
//! A message that cannot be sent is logged once, as a warning, and never
//! stops the node: the service manager is an observer.

use crate::metrics::Source;
use crate::status::NodeStatus;
use crate::wal::format_lsn;
use sd_notify::NotifyState;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

/// How often the status line is refreshed without a watchdog.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);

/// The shortest time between two status lines, whatever `WATCHDOG_USEC`
/// says (a watchdog of a few milliseconds would otherwise spin the thread).
const MIN_PERIOD: Duration = Duration::from_millis(10);

/// The notifier of this process, once the node is ready: one service
/// manager per process, whichever role serves (a standby promoted in place
/// hands its notifier to the primary it becomes).
static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

/// Set once a message failed: later failures are not logged again.
static WARNED: AtomicBool = AtomicBool::new(false);

struct Running {
    /// The status report the thread reads; replaced on a handover.
    source: Arc<Mutex<Source>>,
    /// Dropped to stop the thread.
    _stop: mpsc::Sender<()>,
}

/// True when a service manager listens (`NOTIFY_SOCKET` is set).
pub fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// The node serves: sends `READY=1` and starts the thread sending the status
/// line (from `source`) and the watchdog pings. Called again in the same
/// process (a standby promoted in place becomes a primary), it only switches
/// the status line to the new `source`.
pub fn ready(source: Source) {
    if !enabled() {
        return;
    }
    let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(r) = running.as_ref() {
        *r.source.lock().unwrap_or_else(PoisonError::into_inner) = source;
        return;
    }
    send(&[NotifyState::Ready]);
    let source = Arc::new(Mutex::new(source));
    let (stop_tx, stop_rx) = mpsc::channel();
    let watchdog = sd_notify::watchdog_enabled();
    let shared = source.clone();
    let spawned = std::thread::Builder::new()
        .name("sd-notify".into())
        .spawn(move || report(&shared, watchdog, &stop_rx));
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the thread telling systemd the node's status; it gets READY=1 only");
        return;
    }
    *running = Some(Running {
        source,
        _stop: stop_tx,
    });
}

/// Shutdown begins: sends `STOPPING=1` (when [`ready`] was sent) and stops
/// the status thread.
pub fn stopping() {
    let was = RUNNING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if was.is_some() {
        send(&[NotifyState::Stopping]);
    }
}

/// A one-off `STATUS=` line (a node between two roles); the status thread
/// replaces it at its next report.
pub fn status(text: &str) {
    if enabled() {
        send(&[NotifyState::Status(text)]);
    }
}

/// A reload begins: sends `RELOADING=1` with the monotonic clock (which
/// `Type=notify-reload` wants). The node sends `READY=1` again when the
/// reload is done ([`reloaded`]).
pub fn reloading() {
    if !enabled() {
        return;
    }
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// A reload is done: `READY=1` again.
pub fn reloaded() {
    if RUNNING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_some()
    {
        send(&[NotifyState::Ready]);
    }
}

/// The status thread: a status line now, then one (with a watchdog ping when
/// the watchdog is on) every period, until the sender is dropped.
fn report(source: &Mutex<Source>, watchdog: Option<Duration>, stop: &mpsc::Receiver<()>) {
    let period = watchdog
        .map_or(STATUS_EVERY, |w| (w / 2).min(STATUS_EVERY))
        .max(MIN_PERIOD);
    loop {
        let src = source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let status = src();
        let line = status_line(&status);
        let mut states = Vec::with_capacity(2);
        if let Some(l) = &line {
            states.push(NotifyState::Status(l));
        }
        if watchdog.is_some() {
            states.push(NotifyState::Watchdog);
        }
        if !states.is_empty() {
            send(&states);
        }
        match stop.recv_timeout(period) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The `STATUS=` text of a node: its role, position and lag or standbys;
/// `None` when the node is gone (a default, not-running report).
pub fn status_line(s: &NodeStatus) -> Option<String> {
    if !s.running {
        return None;
    }
    let lsn = |l: Option<u64>| l.map_or_else(|| "unknown".to_string(), format_lsn);
    let mut line = match s.role.as_str() {
        "primary" => {
            let n = s.standbys.as_ref().map_or(0, Vec::len);
            let plural = if n == 1 { "" } else { "s" };
            format!(
                "primary, durable {}, {n} standby{plural}",
                lsn(s.durable_lsn)
            )
        }
        role => {
            let lag = s
                .lag_seconds
                .map_or_else(|| "unknown".to_string(), |l| format!("{l:.1} s"));
            format!("{role}, applied {}, lag {lag}", lsn(s.applied_lsn))
        }
    };
    if s.fenced.is_some() {
        line.push_str(", fenced");
    }
    Some(line)
}

/// Sends `states`; the first failure is logged, later ones are not.
fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = %e,
                socket = ?std::env::var_os("NOTIFY_SOCKET"),
                "cannot notify the service manager (NOTIFY_SOCKET); the node goes on without telling it"
            );
        }
    }
}
