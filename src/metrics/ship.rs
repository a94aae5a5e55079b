//! What the shipper reports after each shipment: the duration histogram and
//! failures by reason (metrics that need every observation), and the
//! `shipment_failed`, `fencing_refusal` and `corruption` events.

use super::Monitor;
use crate::events::EventKind;
use crate::ship::protocol::codes::RefuseCode;
use crate::ship::receive::intake::RefuseHook;
use crate::ship::send::shipper::ShipObserver;
use crate::ship::{ShipError, ShipReport};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde_json::json;
use std::sync::Arc;

type Labels = Vec<(&'static str, String)>;

/// Shipment duration and failures, per standby.
#[derive(Debug)]
pub struct ShipMetrics {
    duration: Family<Labels, Histogram, fn() -> Histogram>,
    failures: Family<Labels, Counter>,
}

fn duration_histogram() -> Histogram {
    // 1 ms to about 4.4 minutes.
    Histogram::new(exponential_buckets(0.001, 4.0, 10))
}

impl Default for ShipMetrics {
    fn default() -> ShipMetrics {
        ShipMetrics {
            duration: Family::new_with_constructor(duration_histogram),
            failures: Family::default(),
        }
    }
}

impl ShipMetrics {
    /// Registers both families.
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "logship_shipment_duration_seconds",
            "Duration of successful shipments (scheduled runs, or a continuous link's life)",
            self.duration.clone(),
        );
        r.register(
            "logship_shipment_failures",
            "Failed shipments by standby and reason (connect, timeout, auth, timeline, gap, corrupt, …)",
            self.failures.clone(),
        );
    }

    /// Failed shipments to `standby` for `reason`, so far.
    pub fn failures(&self, standby: &str, reason: &str) -> u64 {
        self.failures
            .get_or_create(&vec![
                ("standby", standby.to_string()),
                ("reason", reason.to_string()),
            ])
            .get()
    }
}

impl ShipObserver for Monitor {
    fn shipped(&self, standby: &str, report: &ShipReport) {
        self.ship
            .duration
            .get_or_create(&vec![("standby", standby.to_string())])
            .observe(report.elapsed.as_secs_f64());
    }

    fn failed(&self, standby: &str, error: &ShipError, failures_in_row: u32) {
        let reason = error.reason();
        self.ship
            .failures
            .get_or_create(&vec![
                ("standby", standby.to_string()),
                ("reason", reason.to_string()),
            ])
            .inc();
        let details = json!({
            "standby": standby,
            "failures_in_row": failures_in_row,
            "reason": reason,
            "error": error.to_string(),
        });
        if failures_in_row == self.cfg().event_failures.max(1) {
            self.events.emit(EventKind::ShipmentFailed, details.clone());
        }
        // Refusals page on the first of a run: the standby will refuse again.
        if failures_in_row == 1 {
            let damaged_here = matches!(
                error,
                ShipError::Wal {
                    source: crate::wal::WalError::Corruption { .. },
                    ..
                }
            );
            match reason {
                "needs_seed" => self.events.emit(EventKind::NeedsReseed, details),
                "timeline" => self.events.emit(EventKind::FencingRefusal, details),
                "corrupt" => self.events.emit(EventKind::Corruption, details),
                _ if damaged_here => self.events.emit(EventKind::Corruption, details),
                _ => {}
            }
        }
    }
}

impl Monitor {
    /// The standby receiver's refusal hook: `fencing_refusal` for a timeline
    /// that is over, `corruption` for a chunk that fails verification.
    pub fn refuse_hook(self: &Arc<Self>) -> RefuseHook {
        let m = Arc::downgrade(self);
        Arc::new(move |code: RefuseCode, peer: &str, message: &str| {
            let Some(m) = m.upgrade() else { return };
            let kind = match code {
                RefuseCode::Timeline => EventKind::FencingRefusal,
                RefuseCode::Corrupt => EventKind::Corruption,
                _ => return,
            };
            m.events
                .emit(kind, json!({"peer": peer, "message": message}));
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MonitorConfig;

    fn connect_error() -> ShipError {
        ShipError::Connect {
            addr: "s:1".into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        }
    }

    #[test]
    fn failures_are_counted_by_reason_and_page_once_at_n_in_a_row() {
        let m = Monitor::new(
            MonitorConfig {
                event_failures: 3,
                ..MonitorConfig::default()
            },
            "primary",
        )
        .unwrap();
        for n in 1..=5 {
            m.failed("s:1", &connect_error(), n);
        }
        assert_eq!(m.ship.failures("s:1", "connect"), 5);
        assert_eq!(m.ship.failures("s:1", "auth"), 0);
        assert_eq!(m.events.emitted(), 1, "shipment_failed once, at 3 in a row");
        m.shipped(
            "s:1",
            &ShipReport {
                elapsed: std::time::Duration::from_millis(20),
                ..ShipReport::default()
            },
        );
        let text = m.encode();
        assert!(
            text.contains("logship_shipment_duration_seconds_count{standby=\"s:1\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("logship_shipment_failures_total{standby=\"s:1\",reason=\"connect\"} 5"),
            "{text}"
        );
        m.record_promotion(json!({"timeline": 2}));
        assert_eq!(m.promotions(), 1);
        assert!(m.encode().contains("logship_promotions_total 1"));
    }

    #[test]
    fn refusals_for_timelines_and_damage_are_events_others_are_not() {
        let m = Monitor::new(MonitorConfig::default(), "standby").unwrap();
        let hook = m.refuse_hook();
        hook(RefuseCode::Busy, "p:1", "busy");
        hook(RefuseCode::Auth, "p:1", "bad proof");
        assert_eq!(m.events.emitted(), 0);
        hook(RefuseCode::Timeline, "p:1", "timeline 1 ended at LSN 0x100");
        hook(RefuseCode::Corrupt, "p:1", "chunk at LSN 0x200: checksum");
        assert_eq!(m.events.emitted(), 2);
    }
}
