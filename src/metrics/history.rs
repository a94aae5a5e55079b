//! The sampler: every interval it reads the node's status, appends one
//! [`Sample`] to a bounded ring (the chart's last hour), and fires the
//! threshold events on their rising edge (lag over a threshold, a standby that
//! needs re-seeding), so a condition that lasts pages once, not every sample.
//!
//! Between samples it looks at the lag every [`LAG_PROBE_INTERVAL`] and keeps
//! the largest seen: a sample's lag is its peak since the previous sample, not
//! the lag at that instant. With `--ship-every 2s` and 5 s samples, the lag
//! rises between shipments and is back to 0 at most sampling instants; the
//! peaks are what the chart is for.

use super::Monitor;
use crate::events::EventKind;
use crate::status::NodeStatus;
use serde_json::json;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// How often the lag is looked at between samples. A look reads the node's
/// status (on a primary: atomics and one mutex per standby; on a standby that
/// is behind: one WAL record read for the age of the oldest unapplied one), off
/// the write path: 10 looks a second cost the WAL appender nothing and catch a
/// lag that builds up over a shipping interval (seconds) within 100 ms.
pub const LAG_PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// One point of the chart.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    pub unix_ms: u64,
    /// Standby: its lag; primary: the largest of its standbys'. The largest
    /// seen since the previous sample (peaks between samples show).
    pub lag_bytes: u64,
    /// Standby: its lag; primary: the oldest unshipped wait among its standbys
    /// (time since the last shipment of a standby that lacks something). The
    /// largest seen since the previous sample.
    pub lag_seconds: f64,
    /// Log bytes shipped (primary, all standbys) or received (standby) since
    /// the previous sample.
    pub shipped_bytes: u64,
    /// Records replayed since the previous sample (standby).
    pub replayed_records: u64,
    /// Running totals the deltas come from.
    pub shipped_total: u64,
    pub replayed_total: u64,
}

/// How far behind a node is at one instant: the series whose peaks matter.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Lag {
    pub bytes: u64,
    pub seconds: f64,
}

impl Lag {
    /// The lag of status `s` at `now_ms` (see [`Sample`] for each role).
    pub fn of(s: &NodeStatus, now_ms: u64) -> Lag {
        let mut lag = Lag::default();
        if s.role == "primary" {
            for sb in s.standbys.iter().flatten() {
                lag.bytes = lag.bytes.max(sb.lag_bytes);
                if sb.lag_bytes > 0 {
                    let since = if sb.last_ship_unix_ms == 0 {
                        s.started_unix_ms.unwrap_or(now_ms)
                    } else {
                        sb.last_ship_unix_ms
                    };
                    lag.seconds = lag
                        .seconds
                        .max(now_ms.saturating_sub(since) as f64 / 1000.0);
                }
            }
        } else {
            lag.bytes = s.lag_bytes.unwrap_or(0);
            lag.seconds = s.lag_seconds.unwrap_or(0.0);
        }
        lag
    }

    /// Each series' larger value.
    fn max(self, other: Lag) -> Lag {
        Lag {
            bytes: self.bytes.max(other.bytes),
            seconds: self.seconds.max(other.seconds),
        }
    }
}

/// A ring of at most `capacity` samples, oldest first.
#[derive(Debug, Clone)]
pub struct History {
    capacity: usize,
    samples: VecDeque<Sample>,
    /// The largest lag observed since the last sample; taken by the next.
    peak: Lag,
}

impl History {
    /// An empty ring (capacity at least 1).
    pub fn new(capacity: usize) -> History {
        let capacity = capacity.max(1);
        History {
            capacity,
            samples: VecDeque::with_capacity(capacity),
            peak: Lag::default(),
        }
    }

    /// Folds the lag of `s` at `now_ms` into the peak the next sample takes.
    pub fn observe(&mut self, s: &NodeStatus, now_ms: u64) {
        self.peak = self.peak.max(Lag::of(s, now_ms));
    }

    /// Appends the sample of `s` at `now_ms`, its lag the largest of now and
    /// of what was observed since the previous sample; drops the oldest when
    /// full.
    pub fn push_status(&mut self, s: &NodeStatus, now_ms: u64) -> Sample {
        let prev = self.samples.back().copied();
        let lag = std::mem::take(&mut self.peak).max(Lag::of(s, now_ms));
        let mut x = Sample {
            unix_ms: now_ms,
            lag_bytes: lag.bytes,
            lag_seconds: lag.seconds,
            ..Sample::default()
        };
        if s.role == "primary" {
            x.shipped_total = s
                .standbys
                .iter()
                .flatten()
                .map(|sb| sb.shipped_bytes_total)
                .sum();
        } else {
            x.shipped_total = s.received_lsn.unwrap_or(0);
            x.replayed_total = s.records_applied_total.unwrap_or(0);
        }
        if let Some(p) = prev {
            x.shipped_bytes = x.shipped_total.saturating_sub(p.shipped_total);
            x.replayed_records = x.replayed_total.saturating_sub(p.replayed_total);
        }
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(x);
        x
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.iter().copied().collect()
    }

    /// Records replayed per second between the last two samples.
    pub fn replay_rate(&self) -> f64 {
        let n = self.samples.len();
        if n < 2 {
            return 0.0;
        }
        let (a, b) = (self.samples[n - 2], self.samples[n - 1]);
        let dt = b.unix_ms.saturating_sub(a.unix_ms) as f64 / 1000.0;
        if dt > 0.0 {
            b.replayed_records as f64 / dt
        } else {
            0.0
        }
    }
}

/// Which conditions are on, to fire events only when they begin.
#[derive(Debug, Default)]
pub struct Alerts {
    /// Keys (`""` for the standby itself, or a standby address) over the lag threshold.
    lagging: HashSet<String>,
    reseed: HashSet<String>,
}

impl Alerts {
    /// The events that begin with status `s` (kind and details).
    pub fn rising(
        &mut self,
        s: &NodeStatus,
        lag_limit: Option<Duration>,
        lag_bytes_limit: Option<u64>,
        now_ms: u64,
    ) -> Vec<(EventKind, serde_json::Value)> {
        let mut out = Vec::new();
        let over = |bytes: u64, secs: f64| {
            lag_bytes_limit.is_some_and(|l| bytes > l)
                || lag_limit.is_some_and(|l| secs > l.as_secs_f64())
        };
        let threshold = json!({
            "lag_seconds": lag_limit.map(|d| d.as_secs_f64()),
            "lag_bytes": lag_bytes_limit,
        });
        let mut lagging = HashSet::new();
        let mut reseed = HashSet::new();
        if s.role == "primary" {
            for sb in s.standbys.iter().flatten() {
                let secs = if sb.lag_bytes > 0 && sb.last_ship_unix_ms > 0 {
                    now_ms.saturating_sub(sb.last_ship_unix_ms) as f64 / 1000.0
                } else {
                    0.0
                };
                if over(sb.lag_bytes, secs) {
                    if !self.lagging.contains(&sb.address) {
                        out.push((
                            EventKind::LagOverThreshold,
                            json!({"standby": sb.address, "lag_bytes": sb.lag_bytes, "lag_seconds": secs, "threshold": threshold}),
                        ));
                    }
                    lagging.insert(sb.address.clone());
                }
                if sb.needs_reseed {
                    if !self.reseed.contains(&sb.address) {
                        out.push((
                            EventKind::NeedsReseed,
                            json!({"standby": sb.address, "acked_lsn": sb.acked_lsn, "reason": sb.reseed_reason}),
                        ));
                    }
                    reseed.insert(sb.address.clone());
                }
            }
        } else {
            let (bytes, secs) = (s.lag_bytes.unwrap_or(0), s.lag_seconds.unwrap_or(0.0));
            if over(bytes, secs) {
                if !self.lagging.contains("") {
                    out.push((
                        EventKind::LagOverThreshold,
                        json!({"lag_bytes": bytes, "lag_seconds": secs, "applied_lsn": s.applied_lsn, "threshold": threshold}),
                    ));
                }
                lagging.insert(String::new());
            }
        }
        self.lagging = lagging;
        self.reseed = reseed;
        out
    }
}

impl Monitor {
    /// Records replayed per second over the last sample interval.
    pub fn history_rate(&self) -> f64 {
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replay_rate()
    }

    /// The chart's samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .samples()
    }
}

/// What a tick of the sampler does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tick {
    /// Fold the lag into the peak since the last sample.
    Probe,
    /// Append a sample (taking the peak) and fire the threshold events.
    Sample,
}

/// Samples every `interval`, and looks at the lag every
/// [`LAG_PROBE_INTERVAL`] in between, until the runtime stops. Reading the
/// status may touch the disk, so it runs on the blocking pool.
pub async fn run_sampler(m: Arc<Monitor>, interval: Duration) {
    let delay = tokio::time::MissedTickBehavior::Delay;
    let mut sample_tick = tokio::time::interval(interval);
    sample_tick.set_missed_tick_behavior(delay);
    let mut probe_tick = tokio::time::interval(LAG_PROBE_INTERVAL.min(interval));
    probe_tick.set_missed_tick_behavior(delay);
    loop {
        let tick = tokio::select! {
            biased;
            _ = sample_tick.tick() => Tick::Sample,
            _ = probe_tick.tick() => Tick::Probe,
        };
        let mon = m.clone();
        let r = tokio::task::spawn_blocking(move || {
            let Some(s) = mon.status() else { return };
            let now = crate::clock::now_unix_ms();
            let mut history = mon.history.lock().unwrap_or_else(|p| p.into_inner());
            if tick == Tick::Probe {
                history.observe(&s, now);
                return;
            }
            history.push_status(&s, now);
            drop(history);
            let cfg = mon.cfg();
            let events = mon.alerts.lock().unwrap_or_else(|p| p.into_inner()).rising(
                &s,
                cfg.event_lag,
                cfg.event_lag_bytes,
                now,
            );
            for (kind, details) in events {
                mon.events.emit(kind, details);
            }
        })
        .await;
        if r.is_err() {
            tracing::warn!("metrics sampler task failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ship::send::shipper::StandbyStatus;

    fn standby_status(received: u64, applied_total: u64, lag_bytes: u64) -> NodeStatus {
        NodeStatus {
            role: "standby".into(),
            received_lsn: Some(received),
            records_applied_total: Some(applied_total),
            lag_bytes: Some(lag_bytes),
            lag_seconds: Some(lag_bytes as f64 / 100.0),
            ..NodeStatus::default()
        }
    }

    #[test]
    fn the_ring_is_bounded_and_keeps_deltas_and_rates() {
        let mut h = History::new(3);
        for i in 0..5u64 {
            h.push_status(&standby_status(i * 1000, i * 50, i), 10_000 + i * 5000);
        }
        let v = h.samples();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].unix_ms, 20_000, "the oldest two were dropped");
        assert_eq!(v[2].shipped_bytes, 1000);
        assert_eq!(v[2].lag_bytes, 4);
        assert!((h.replay_rate() - 10.0).abs() < 1e-9, "{}", h.replay_rate());
    }

    #[test]
    fn a_sample_shows_the_peak_lag_since_the_previous_sample() {
        let mut h = History::new(8);
        h.push_status(&standby_status(0, 0, 0), 1_000);
        // Between two samples the lag rises to 26.4 MB and is back to 0.
        for (i, lag) in [0, 9_000_000, 26_400_000, 3_000, 0].into_iter().enumerate() {
            h.observe(&standby_status(0, 0, lag), 1_100 + i as u64 * 100);
        }
        let x = h.push_status(&standby_status(0, 0, 0), 2_000);
        assert_eq!(x.lag_bytes, 26_400_000, "{x:?}");
        assert!((x.lag_seconds - 264_000.0).abs() < 1e-6, "{x:?}");
        // The peak was taken: the next sample starts afresh.
        let y = h.push_status(&standby_status(0, 0, 5), 3_000);
        assert_eq!(y.lag_bytes, 5, "{y:?}");
    }

    #[test]
    fn a_primary_sample_shows_the_peak_wait_between_shipments() {
        let primary = |lag_bytes: u64, last_ship_unix_ms: u64| NodeStatus {
            role: "primary".into(),
            started_unix_ms: Some(0),
            standbys: Some(vec![StandbyStatus {
                address: "s:1".into(),
                lag_bytes,
                last_ship_unix_ms,
                ..StandbyStatus::default()
            }]),
            ..NodeStatus::default()
        };
        let mut h = History::new(8);
        h.push_status(&primary(0, 10_000), 10_000);
        // Writes after the shipment at 10 s; the next one, at 12 s, ships them.
        h.observe(&primary(4_000, 10_000), 11_000);
        h.observe(&primary(8_000, 10_000), 11_900);
        h.observe(&primary(0, 12_000), 12_000);
        let x = h.push_status(&primary(0, 12_000), 15_000);
        assert_eq!(x.lag_bytes, 8_000, "{x:?}");
        assert!((x.lag_seconds - 1.9).abs() < 1e-9, "{x:?}");
    }

    #[test]
    fn events_fire_once_per_rising_edge() {
        let mut a = Alerts::default();
        let limit = Some(Duration::from_secs(1));
        assert!(a
            .rising(&standby_status(0, 0, 50), limit, None, 0)
            .is_empty());
        let e = a.rising(&standby_status(0, 0, 500), limit, None, 0);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, EventKind::LagOverThreshold);
        assert!(a
            .rising(&standby_status(0, 0, 600), limit, None, 0)
            .is_empty());
        assert!(a
            .rising(&standby_status(0, 0, 0), limit, None, 0)
            .is_empty());
        assert_eq!(
            a.rising(&standby_status(0, 0, 900), limit, None, 0).len(),
            1
        );
        // Primary: a standby flagged for re-seeding pages once.
        let p = NodeStatus {
            role: "primary".into(),
            standbys: Some(vec![StandbyStatus {
                address: "s:1".into(),
                needs_reseed: true,
                ..StandbyStatus::default()
            }]),
            ..NodeStatus::default()
        };
        let e = a.rising(&p, None, Some(10), 0);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, EventKind::NeedsReseed);
        assert_eq!(e[0].1["standby"], "s:1");
        assert!(a.rising(&p, None, Some(10), 0).is_empty());
    }
}
