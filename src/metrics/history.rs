//! The sampler: every interval it reads the node's status, appends one
//! [`Sample`] to a bounded ring (the chart's last hour), and fires the
//! threshold events on their rising edge (lag over a threshold, a standby that
//! needs re-seeding), so a condition that lasts pages once, not every sample.

use super::Monitor;
use crate::events::EventKind;
use crate::status::NodeStatus;
use serde_json::json;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// One point of the chart.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    pub unix_ms: u64,
    /// Standby: its lag; primary: the largest of its standbys'.
    pub lag_bytes: u64,
    /// Standby: its lag; primary: the oldest unshipped wait among its standbys
    /// (time since the last shipment of a standby that lacks something).
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

/// A ring of at most `capacity` samples, oldest first.
#[derive(Debug, Clone)]
pub struct History {
    capacity: usize,
    samples: VecDeque<Sample>,
}

impl History {
    /// An empty ring (capacity at least 1).
    pub fn new(capacity: usize) -> History {
        let capacity = capacity.max(1);
        History {
            capacity,
            samples: VecDeque::with_capacity(capacity),
        }
    }

    /// Appends the sample of `s` at `now_ms`; drops the oldest when full.
    pub fn push_status(&mut self, s: &NodeStatus, now_ms: u64) -> Sample {
        let prev = self.samples.back().copied();
        let mut x = Sample {
            unix_ms: now_ms,
            ..Sample::default()
        };
        if s.role == "primary" {
            for sb in s.standbys.iter().flatten() {
                x.lag_bytes = x.lag_bytes.max(sb.lag_bytes);
                if sb.lag_bytes > 0 {
                    let since = if sb.last_ship_unix_ms == 0 {
                        s.started_unix_ms.unwrap_or(now_ms)
                    } else {
                        sb.last_ship_unix_ms
                    };
                    x.lag_seconds = x
                        .lag_seconds
                        .max(now_ms.saturating_sub(since) as f64 / 1000.0);
                }
                x.shipped_total += sb.shipped_bytes_total;
            }
        } else {
            x.lag_bytes = s.lag_bytes.unwrap_or(0);
            x.lag_seconds = s.lag_seconds.unwrap_or(0.0);
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

/// Samples every `interval` until the runtime stops. Reading the status may
/// touch the disk, so it runs on the blocking pool.
pub async fn run_sampler(m: Arc<Monitor>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mon = m.clone();
        let r = tokio::task::spawn_blocking(move || {
            let Some(s) = mon.status() else { return };
            let now = crate::primary::now_unix_ms();
            mon.history
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_status(&s, now);
            let events = mon.alerts.lock().unwrap_or_else(|p| p.into_inner()).rising(
                &s,
                mon.cfg.event_lag,
                mon.cfg.event_lag_bytes,
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
    use crate::ship::shipper::StandbyStatus;

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
