//! Monitoring flags shared by `primary` and `standby`: `--metrics`,
//! `--on-event` and the thresholds of the events.

use super::parse;
use crate::events::{HookConfig, DEFAULT_HOOK_TIMEOUT};
use crate::metrics::MonitorConfig;
use clap::Args;
use std::time::Duration;

/// `--metrics`, `--on-event` and friends.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Serve Prometheus metrics (GET /metrics) and a status page with lag
    /// charts (GET /) on ADDR (host:port; port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Run CMD (through sh -c) with one JSON object on stdin for each event:
    /// shipment_failed, lag_over_threshold, needs_reseed, promotion,
    /// fencing_refusal, corruption, reloaded, reload_failed (see
    /// docs/monitoring.md).
    #[arg(long, value_name = "CMD")]
    pub on_event: Option<String>,
    /// Kill an event hook still running after DURATION.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse::duration)]
    pub on_event_timeout: Duration,
    /// shipment_failed fires when a standby's shipments failed N times in a row.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub event_failures: u32,
    /// lag_over_threshold fires when the lag goes over DURATION.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub event_lag: Option<Duration>,
    /// lag_over_threshold fires when the lag goes over SIZE bytes.
    #[arg(long, value_name = "SIZE", value_parser = parse::size)]
    pub event_lag_bytes: Option<u64>,
}

impl MonitorArgs {
    /// The monitoring configuration.
    pub fn config(&self) -> MonitorConfig {
        MonitorConfig {
            metrics_addr: self.metrics.clone(),
            hook: self.on_event.as_ref().map(|c| HookConfig {
                command: c.clone(),
                timeout: if self.on_event_timeout.is_zero() {
                    DEFAULT_HOOK_TIMEOUT
                } else {
                    self.on_event_timeout
                },
            }),
            event_failures: self.event_failures,
            event_lag: self.event_lag,
            event_lag_bytes: self.event_lag_bytes,
        }
    }
}
