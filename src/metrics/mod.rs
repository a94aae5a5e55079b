//! Watching a node: Prometheus metrics, the status page with its lag chart,
//! and the event hooks, behind one [`Monitor`] per process.
//!
//! | module    | owns                                                               |
//! |-----------|--------------------------------------------------------------------|
//! | `collect` | the scrape: every metric, named by Prometheus conventions          |
//! | `archive` | the archive's metrics: an archiving primary, a following standby   |
//! | `history` | the bounded ring of samples behind the chart; edge-triggered alerts |
//! | `ship`    | the shipper's observer: duration histogram, failures by reason, events |
//! | `http`    | the small HTTP server: `GET /metrics`, `GET /`                     |
//! | `page`    | the self-contained HTML status page with inline SVG charts         |
//! | `axis`    | the charts' axis labels: bytes, durations, clock times             |
//!
//! The node hands the monitor a [`Source`] (its `status` report); everything
//! else is read at scrape or sample time, so metrics and `status --json` agree.

pub mod archive;
pub mod axis;
pub mod collect;
pub mod history;
pub mod http;
pub mod page;
pub mod ship;

use crate::events::{EventKind, Events, HookConfig};
use crate::status::NodeStatus;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Samples kept for the chart: an hour at the default interval.
pub const HISTORY_SAMPLES: usize = 720;
/// Default time between samples.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);
/// Environment variable overriding the sample interval, milliseconds (tests).
pub const SAMPLE_INTERVAL_ENV: &str = "LOGSHIP_SAMPLE_INTERVAL_MS";

/// The node's status report, produced on demand (may block briefly on I/O).
pub type Source = Arc<dyn Fn() -> NodeStatus + Send + Sync>;

/// Monitoring settings of `primary` and `standby`.
#[derive(Debug, Clone, Default)]
pub struct MonitorConfig {
    /// `--metrics ADDR`: serve `/metrics` and `/` there.
    pub metrics_addr: Option<String>,
    /// `--on-event CMD`.
    pub hook: Option<HookConfig>,
    /// `shipment_failed` fires at this many failures in a row (at least 1).
    pub event_failures: u32,
    /// `lag_over_threshold` fires when lag_seconds goes over this.
    pub event_lag: Option<Duration>,
    /// `lag_over_threshold` fires when lag_bytes goes over this.
    pub event_lag_bytes: Option<u64>,
}

/// Client counters of a node (RESP connections and commands).
#[derive(Debug, Default)]
pub struct ClientStats {
    connections: AtomicU64,
    connections_total: AtomicU64,
    commands_total: AtomicU64,
}

impl ClientStats {
    /// A client connected.
    pub fn connected(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    /// A client went away.
    pub fn disconnected(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// `n` commands were run.
    pub fn commands(&self, n: u64) {
        self.commands_total.fetch_add(n, Ordering::Relaxed);
    }

    /// (connected now, connections since start, commands since start).
    pub fn read(&self) -> (u64, u64, u64) {
        (
            self.connections.load(Ordering::Relaxed),
            self.connections_total.load(Ordering::Relaxed),
            self.commands_total.load(Ordering::Relaxed),
        )
    }
}

/// Everything that watches one node.
pub struct Monitor {
    /// Replaced by a reload ([`Monitor::reconfigure`]).
    cfg: Mutex<MonitorConfig>,
    /// The metrics server: its address and task (`None` without `--metrics`).
    http: Mutex<Option<(SocketAddr, tokio::task::JoinHandle<()>)>>,
    pub started_unix_ms: u64,
    pub clients: ClientStats,
    pub events: Events,
    pub ship: Arc<ship::ShipMetrics>,
    promotions: Counter,
    registry: Registry,
    source: Mutex<Option<Source>>,
    pub history: Mutex<history::History>,
    alerts: Mutex<history::Alerts>,
}

impl Monitor {
    /// A monitor for a node of `role`; starts the hook thread when a hook is
    /// configured.
    ///
    /// # Errors
    /// The hook thread cannot be started.
    pub fn new(cfg: MonitorConfig, role: &str) -> std::io::Result<Arc<Monitor>> {
        let node = role.to_string();
        let events = match &cfg.hook {
            Some(h) => Events::start(node, h.clone())?,
            None => Events::disabled(node),
        };
        Ok(Arc::new_cyclic(|me| {
            let ship = Arc::new(ship::ShipMetrics::default());
            let promotions = Counter::default();
            let mut registry = Registry::default();
            ship.register(&mut registry);
            registry.register(
                "logship_promotions",
                "Promotions of this node to primary",
                promotions.clone(),
            );
            registry.register_collector(Box::new(collect::StatusCollector(me.clone())));
            Monitor {
                cfg: Mutex::new(cfg),
                http: Mutex::new(None),
                started_unix_ms: crate::clock::now_unix_ms(),
                clients: ClientStats::default(),
                events,
                ship,
                promotions,
                registry,
                source: Mutex::new(None),
                history: Mutex::new(history::History::new(HISTORY_SAMPLES)),
                alerts: Mutex::new(history::Alerts::default()),
            }
        }))
    }

    /// The hook point for promotion: bumps `logship_promotions_total` and
    /// emits a `promotion` event with `details`.
    pub fn record_promotion(&self, details: Value) {
        self.promotions.inc();
        self.events.emit(EventKind::Promotion, details);
    }

    /// Promotions recorded since start.
    pub fn promotions(&self) -> u64 {
        self.promotions.get()
    }

    /// Hands over the node's name in events (`primary 10.0.0.1:6379`) and its
    /// status, and starts the sampler (history and threshold events) and, with
    /// `--metrics`, the HTTP server. Must run inside the tokio runtime. Returns
    /// the metrics address.
    ///
    /// # Errors
    /// The metrics address cannot be bound.
    pub async fn start(
        self: &Arc<Self>,
        node: String,
        source: Source,
    ) -> anyhow::Result<Option<SocketAddr>> {
        self.take_over(node, source);
        tokio::spawn(history::run_sampler(self.clone(), sample_interval()));
        let Some(addr) = self.cfg().metrics_addr else {
            return Ok(None);
        };
        self.serve_metrics(&addr).await.map(Some)
    }

    /// Binds `addr` and serves the metrics there, in place of the metrics
    /// server running (which stops only once the new address is bound).
    async fn serve_metrics(self: &Arc<Self>, addr: &str) -> anyhow::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("serve metrics on {addr}: {e}"))?;
        let local = listener.local_addr()?;
        tracing::info!(address = %local, "metrics on http://{local}/metrics, status page on http://{local}/");
        let task = tokio::spawn(http::serve(listener, self.clone()));
        let old = self.lock_http().replace((local, task));
        if let Some((_, t)) = old {
            t.abort();
        }
        Ok(local)
    }

    fn lock_http(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<(SocketAddr, tokio::task::JoinHandle<()>)>> {
        self.http.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The monitoring settings in force.
    pub fn cfg(&self) -> MonitorConfig {
        self.cfg.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The address the metrics server listens on, when it runs.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.lock_http().as_ref().map(|(a, _)| *a)
    }

    /// A reload: switches to `new` (event hook, thresholds, metrics
    /// address) and returns what changed, in words. A new metrics address is
    /// bound before the old one is let go; when it cannot be bound, or a new
    /// hook's thread cannot start, the old one stays and an error says so.
    pub async fn reconfigure(self: &Arc<Self>, mut new: MonitorConfig) -> Vec<String> {
        let old = self.cfg();
        let mut changed = Vec::new();
        if old.metrics_addr != new.metrics_addr {
            match &new.metrics_addr {
                Some(addr) => match self.serve_metrics(addr).await {
                    Ok(local) => changed.push(format!("metrics on {local}")),
                    Err(e) => {
                        let still = self
                            .metrics_addr()
                            .map_or("off".to_string(), |a| a.to_string());
                        tracing::error!("reload: {e}; the metrics stay where they were ({still})");
                        new.metrics_addr = old.metrics_addr.clone();
                    }
                },
                None => {
                    if let Some((_, t)) = self.lock_http().take() {
                        t.abort();
                    }
                    changed.push("metrics off".to_string());
                }
            }
        }
        let hook = |h: &Option<HookConfig>| h.as_ref().map(|h| (h.command.clone(), h.timeout));
        if hook(&old.hook) != hook(&new.hook) {
            match self.events.set_hook(new.hook.clone()) {
                Ok(()) => changed.push(match &new.hook {
                    Some(h) => format!("on-event '{}'", h.command),
                    None => "on-event off".to_string(),
                }),
                Err(e) => {
                    tracing::error!(
                        "reload: cannot start the new event hook ({e}); the old one stays"
                    );
                    new.hook = old.hook.clone();
                }
            }
        }
        if (old.event_failures, old.event_lag, old.event_lag_bytes)
            != (new.event_failures, new.event_lag, new.event_lag_bytes)
        {
            changed.push("event thresholds".to_string());
        }
        *self.cfg.lock().unwrap_or_else(|p| p.into_inner()) = new;
        changed
    }

    /// Points the running monitor at another node in the same process: a
    /// standby promoted in place keeps its metrics server, its history (the lag
    /// curve runs on across the promotion) and its hook thread.
    pub fn take_over(&self, node: String, source: Source) {
        self.events.set_node(node);
        *self.source.lock().unwrap_or_else(|p| p.into_inner()) = Some(source);
    }

    /// The node's status now (`None` before [`Monitor::start`]).
    pub fn status(&self) -> Option<NodeStatus> {
        let source = self
            .source
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        source.map(|s| s())
    }

    /// The registry in the Prometheus/OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        out
    }
}

/// The sample interval: [`DEFAULT_SAMPLE_INTERVAL`], or the environment's.
fn sample_interval() -> Duration {
    std::env::var(SAMPLE_INTERVAL_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms >= 10)
        .map_or(DEFAULT_SAMPLE_INTERVAL, Duration::from_millis)
}
