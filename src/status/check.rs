//! Monitoring-plugin verdicts for `logship status --warn-… --crit-…`: a pure
//! function of a node's [`NodeStatus`], the thresholds and the time, so cron,
//! Nagios or Icinga can page on it.
//!
//! What is measured, per role:
//!
//! | role    | measure    | what it is                                                              |
//! |---------|------------|-------------------------------------------------------------------------|
//! | primary (and a cascading standby, per downstream, and per standby further down the tree as far as they told) | ship age   | per standby: time since its last successful shipment (since the primary started when never shipped to); 0 while it holds everything durable and the last shipment succeeded |
//! | primary | failures   | per standby: failed shipments in a row                                  |
//! | primary | lag bytes  | per standby: durable LSN minus what it acknowledged                     |
//! | standby | lag        | `lag_seconds` of status (0 when caught up)                              |
//! | standby | lag bytes  | `lag_bytes` of status (0 when caught up)                                |
//! | standby | apply age  | time since a record was last applied, or since the last contact with the primary while everything received is applied (an idle primary still keeps in touch) |
//! | standby | ship age   | time since the last contact with the primary (a chunk or a status)      |
//! | standby | archive age | following an archive: `archive_age_seconds` of status (since the standby started while the archive proved nothing yet) |
//!
//! A fenced primary is a WARNING whatever the thresholds, naming when and
//! where it was fenced.
//!
//! Exit codes follow the monitoring-plugin convention: 0 OK, 1 WARNING,
//! 2 CRITICAL, 3 UNKNOWN (the node could not be read).

use super::NodeStatus;
use crate::ship::protocol::tree::{walk, TreeNode};
use serde::Serialize;
use std::time::Duration;

/// A monitoring-plugin state, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl State {
    /// The process exit code of this state.
    pub fn exit_code(self) -> u8 {
        match self {
            State::Ok => 0,
            State::Warning => 1,
            State::Critical => 2,
            State::Unknown => 3,
        }
    }

    /// `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
    pub fn name(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }
}

/// A warning and a critical limit of one measure (either may be absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limit<T> {
    pub warn: Option<T>,
    pub crit: Option<T>,
}

impl<T: PartialOrd + Copy> Limit<T> {
    /// The state of `value` and the limit it passed (`value >= limit` breaches).
    fn judge(&self, value: T) -> Option<(State, T)> {
        if let Some(c) = self.crit.filter(|c| value >= *c) {
            return Some((State::Critical, c));
        }
        self.warn
            .filter(|w| value >= *w)
            .map(|w| (State::Warning, w))
    }

    fn is_set(&self) -> bool {
        self.warn.is_some() || self.crit.is_some()
    }
}

/// Every threshold `status` can check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Thresholds {
    pub lag: Limit<Duration>,
    pub lag_bytes: Limit<u64>,
    pub ship_age: Limit<Duration>,
    pub apply_age: Limit<Duration>,
    pub archive_age: Limit<Duration>,
    pub failures: Limit<u32>,
}

impl Thresholds {
    /// True when at least one threshold was given (status then checks).
    pub fn any(&self) -> bool {
        self.lag.is_set()
            || self.lag_bytes.is_set()
            || self.ship_age.is_set()
            || self.apply_age.is_set()
            || self.archive_age.is_set()
            || self.failures.is_set()
    }
}

/// One threshold passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breach {
    pub state: State,
    /// e.g. `standby 127.0.0.1:7001 last shipment 47m ago (crit 30m)`.
    pub text: String,
}

/// The outcome of a check: the worst state, the summary line and every breach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub state: State,
    /// The first output line: `LOGSHIP CRITICAL - …`.
    pub summary: String,
    /// Worst first.
    pub breaches: Vec<Breach>,
}

impl Verdict {
    /// UNKNOWN with the reason the node could not be read.
    pub fn unknown(reason: &str) -> Verdict {
        Verdict {
            state: State::Unknown,
            summary: format!("LOGSHIP UNKNOWN - {reason}"),
            breaches: Vec::new(),
        }
    }
}

/// A duration the way the summary prints it: `850ms`, `12s`, `47m`, `3h5m`.
pub fn short_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..=119 => format!("{s}s"),
        120..=7199 if s % 60 == 0 => format!("{}m", s / 60),
        120..=7199 => format!("{}m{}s", s / 60, s % 60),
        _ if (s / 60) % 60 == 0 => format!("{}h", s / 3600),
        _ => format!("{}h{}m", s / 3600, (s / 60) % 60),
    }
}

fn age(now_ms: u64, then_ms: u64) -> Duration {
    Duration::from_millis(now_ms.saturating_sub(then_ms))
}

fn level(state: State) -> &'static str {
    match state {
        State::Critical => "crit",
        _ => "warn",
    }
}

/// Every standby of the tree a node knows, its `address` made the name a
/// breach gives it: `standby B `, `standby C (via B) `.
fn tree_rows(s: &NodeStatus) -> Vec<TreeNode> {
    let mut rows = Vec::new();
    for sb in s.standbys.iter().flatten() {
        let mut me = sb.tree_node();
        me.address = format!("standby {} ", sb.address);
        me.downstreams = Vec::new();
        rows.push(me);
        walk(
            &sb.downstreams,
            &mut vec![sb.address.as_str()],
            &mut |via, t| {
                rows.push(TreeNode {
                    address: format!("standby {} (via {}) ", t.address, via.join(" > ")),
                    downstreams: Vec::new(),
                    ..t.clone()
                });
            },
        );
    }
    rows
}

/// Judges a status against the thresholds at `now_ms`.
///
/// A node that is not running is UNKNOWN (there is nothing live to judge).
pub fn evaluate(s: &NodeStatus, t: &Thresholds, now_ms: u64) -> Verdict {
    if !s.running {
        return Verdict::unknown(&format!("{} at {} is not running", s.role, s.data_dir));
    }
    let mut breaches = Vec::new();
    // A fenced primary refuses every write whatever the thresholds: an
    // application still pointed at it is down. WARNING, not CRITICAL: after
    // a failover it is the expected state until it is rejoined.
    if let Some(f) = &s.fenced {
        breaches.push(Breach {
            state: State::Warning,
            text: format!("fenced {}", super::fence_text(f, &s.data_dir)),
        });
    }
    // `suffix` is " ago" for the time since something happened.
    let mut dur =
        |who: &str, what: &str, value: Duration, suffix: &str, limit: &Limit<Duration>| {
            if let Some((state, l)) = limit.judge(value) {
                breaches.push(Breach {
                    state,
                    text: format!(
                        "{who}{what} {}{suffix} ({} {})",
                        short_duration(value),
                        level(state),
                        short_duration(l)
                    ),
                });
            }
        };
    let mut counts = Vec::new();
    let mut count = |who: &str, what: &str, value: u64, limit: Limit<u64>| {
        if let Some((state, l)) = limit.judge(value) {
            counts.push(Breach {
                state,
                text: format!("{who}{what} {value} ({} {l})", level(state)),
            });
        }
    };
    let failures = Limit {
        warn: t.failures.warn.map(u64::from),
        crit: t.failures.crit.map(u64::from),
    };
    // A primary's standbys, and a cascading standby's downstreams: the same
    // measures, the same thresholds.
    // Their standbys too, as far as they told (named with the path above).
    let started = s.started_unix_ms.unwrap_or(now_ms);
    for sb in tree_rows(s) {
        let who = sb.address;
        let caught_up = sb.lag_bytes == 0 && sb.failures_in_row == 0;
        let ship_age = if caught_up && sb.last_ship_unix_ms != 0 {
            Duration::ZERO
        } else if sb.last_ship_unix_ms == 0 {
            age(now_ms, started)
        } else {
            age(now_ms, sb.last_ship_unix_ms)
        };
        let (what, suffix) = match (sb.last_ship_unix_ms, s.role.as_str()) {
            (0, "primary") => ("never shipped to, primary up", ""),
            (0, _) => ("never shipped to, standby up", ""),
            _ => ("last shipment", " ago"),
        };
        dur(&who, what, ship_age, suffix, &t.ship_age);
        count(
            &who,
            "failed shipments in a row:",
            u64::from(sb.failures_in_row),
            failures,
        );
        count(&who, "lag bytes:", sb.lag_bytes, t.lag_bytes);
    }
    if s.role != "primary" {
        let applied = s.applied_lsn.unwrap_or(0);
        let received = s.received_lsn.unwrap_or(0);
        let contact = s.last_receive_unix_ms.unwrap_or(0);
        let last_apply = s.last_apply_unix_ms.unwrap_or(0);
        let apply_from = if applied >= received {
            last_apply.max(contact)
        } else {
            last_apply
        };
        let lag = Duration::from_secs_f64(s.lag_seconds.unwrap_or(0.0).max(0.0));
        dur("", "lag", lag, "", &t.lag);
        count("", "lag bytes:", s.lag_bytes.unwrap_or(0), t.lag_bytes);
        let up = s.started_unix_ms.unwrap_or(now_ms);
        let (what, from, suffix) = if apply_from == 0 {
            ("nothing applied yet, standby up", up, "")
        } else {
            ("last apply", apply_from, " ago")
        };
        dur("", what, age(now_ms, from), suffix, &t.apply_age);
        let (what, from, suffix) = if contact == 0 {
            ("no shipment received yet, standby up", up, "")
        } else {
            ("last shipment received", contact, " ago")
        };
        dur("", what, age(now_ms, from), suffix, &t.ship_age);
        if s.restore_from.is_some() {
            match s.archive_age_seconds {
                Some(a) => dur(
                    "",
                    "archive proved the log complete",
                    Duration::from_secs_f64(a.max(0.0)),
                    " ago",
                    &t.archive_age,
                ),
                None => dur(
                    "",
                    "archive proved nothing yet, standby up",
                    age(now_ms, up),
                    "",
                    &t.archive_age,
                ),
            }
        }
    }
    breaches.append(&mut counts);
    breaches.sort_by_key(|b| std::cmp::Reverse(b.state));
    let state = breaches.first().map_or(State::Ok, |b| b.state);
    let summary = if breaches.is_empty() {
        let what = match s.role.as_str() {
            "primary" => format!(
                "primary, {} standby(s) within thresholds",
                s.standbys.as_ref().map_or(0, Vec::len)
            ),
            _ => format!(
                "standby applied LSN {}, lag {}",
                s.applied_lsn.unwrap_or(0),
                short_duration(Duration::from_secs_f64(
                    s.lag_seconds.unwrap_or(0.0).max(0.0)
                ))
            ),
        };
        format!("LOGSHIP OK - {what}")
    } else {
        let all: Vec<&str> = breaches.iter().map(|b| b.text.as_str()).collect();
        format!("LOGSHIP {} - {}", state.name(), all.join("; "))
    };
    Verdict {
        state,
        summary,
        breaches,
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
