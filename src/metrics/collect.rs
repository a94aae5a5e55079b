//! The scrape: metrics read from the node's status report (the same numbers
//! `status --json` prints), its data directory and its counters, at scrape time.
//!
//! Counters are encoded with the `_total` suffix by the encoder; LSNs are byte
//! positions, so they carry `_bytes` like PostgreSQL exporters' `…_lsn_bytes`.

use super::Monitor;
use crate::ship::protocol::tree::{walk, TreeNode};
use crate::ship::send::shipper::StandbyStatus;
use crate::status::NodeStatus;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::path::Path;
use std::sync::Weak;

/// Encodes the status-derived metrics of the monitor it belongs to.
#[derive(Debug)]
pub struct StatusCollector(pub Weak<Monitor>);

/// What the data directory holds, for the disk metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Bytes of WAL segments (`wal/*.wal`, `*.partial`).
    pub wal_bytes: u64,
    /// WAL segments retained.
    pub wal_segments: u64,
    /// When the newest snapshot was written (0: none).
    pub last_checkpoint_unix_ms: u64,
}

/// Reads [`DiskUsage`] of a data directory; what cannot be read counts as 0.
pub fn disk_usage(data_dir: &Path) -> DiskUsage {
    let mut u = DiskUsage::default();
    if let Ok(rd) = std::fs::read_dir(data_dir.join(crate::node::datadir::WAL_DIR)) {
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".wal") || name.ends_with(".partial") {
                u.wal_segments += 1;
                u.wal_bytes += e.metadata().map_or(0, |m| m.len());
            }
        }
    }
    let snaps = data_dir.join(crate::node::datadir::SNAPSHOT_DIR);
    if let Some((_, newest)) = crate::store::snapshot::list(&crate::fs::StdFs, &snaps)
        .ok()
        .and_then(|v| v.last().cloned())
    {
        u.last_checkpoint_unix_ms = std::fs::metadata(newest)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64);
    }
    u
}

/// Writes one metric family: a name, its help, and values per label set.
struct Out<'a, 'b> {
    enc: &'a mut DescriptorEncoder<'b>,
}

fn secs(unix_ms: u64) -> f64 {
    unix_ms as f64 / 1000.0
}

impl Out<'_, '_> {
    fn gauge<V>(&mut self, name: &str, help: &str, v: V) -> Result<(), std::fmt::Error>
    where
        V: prometheus_client::encoding::EncodeGaugeValue + Copy + std::fmt::Debug,
    {
        let g = ConstGauge::new(v);
        let m = self
            .enc
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        g.encode(m)
    }

    fn counter(&mut self, name: &str, help: &str, v: u64) -> Result<(), std::fmt::Error> {
        let c = ConstCounter::new(v);
        let m = self
            .enc
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        c.encode(m)
    }

    /// One family with a `standby` label per entry, and a `via` label (the
    /// path of standbys above it) for an entry deeper in the tree.
    fn per_standby<V>(
        &mut self,
        name: &str,
        help: &str,
        kind: MetricType,
        values: &[(String, Option<String>, V)],
    ) -> Result<(), std::fmt::Error>
    where
        V: Copy + Into<f64>,
    {
        if values.is_empty() {
            return Ok(());
        }
        let mut m = self.enc.encode_descriptor(name, help, None, kind)?;
        for (addr, via, v) in values {
            let mut labels = vec![("standby", addr.as_str())];
            if let Some(via) = via {
                labels.push(("via", via.as_str()));
            }
            let fam = m.encode_family(&labels)?;
            let v: f64 = (*v).into();
            match kind {
                MetricType::Counter => ConstCounter::new(v).encode(fam)?,
                _ => ConstGauge::new(v).encode(fam)?,
            }
        }
        Ok(())
    }
}

impl Collector for StatusCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(m) = self.0.upgrade() else {
            return Ok(());
        };
        let Some(s) = m.status() else { return Ok(()) };
        let mut o = Out { enc: &mut encoder };
        let role_help = "1 for the role this node has (label role)";
        {
            let mut enc =
                o.enc
                    .encode_descriptor("logship_role", role_help, None, MetricType::Gauge)?;
            for role in ["primary", "standby"] {
                let labels = [("role", role)];
                let fam = enc.encode_family(&labels)?;
                ConstGauge::new(i64::from(s.role == role)).encode(fam)?;
            }
        }
        o.gauge(
            "logship_timeline",
            "Current timeline",
            i64::from(s.timeline),
        )?;
        o.gauge(
            "logship_start_time_seconds",
            "When this process started, Unix time",
            secs(m.started_unix_ms),
        )?;
        if s.role == "primary" {
            primary(&mut o, &s)?;
        } else {
            standby(&mut o, &s, m.history_rate())?;
        }
        for (name, help, f) in super::archive::GAUGES {
            if let Some(v) = f(&s) {
                o.gauge(name, help, v)?;
            }
        }
        for (name, help, f) in super::archive::COUNTERS {
            if let Some(v) = f(&s) {
                o.counter(name, help, v as u64)?;
            }
        }
        let d = disk_usage(Path::new(&s.data_dir));
        o.gauge(
            "logship_wal_bytes",
            "Bytes of WAL segments on disk",
            d.wal_bytes,
        )?;
        o.gauge(
            "logship_wal_segments",
            "WAL segments retained on disk",
            d.wal_segments,
        )?;
        o.gauge(
            "logship_last_checkpoint_timestamp_seconds",
            "When the newest checkpoint (snapshot) was written, Unix time (0: none)",
            secs(d.last_checkpoint_unix_ms),
        )?;
        let (conns, conns_total, cmds) = m.clients.read();
        o.gauge(
            "logship_client_connections",
            "RESP client connections open now",
            conns,
        )?;
        o.counter(
            "logship_client_connections_accepted",
            "RESP client connections accepted",
            conns_total,
        )?;
        o.counter("logship_client_commands", "RESP commands run", cmds)?;
        o.counter(
            "logship_events",
            "Events emitted (see --on-event)",
            m.events.emitted(),
        )?;
        o.counter(
            "logship_event_hooks_dropped",
            "Events not given to the hook because its queue was full",
            m.events.dropped(),
        )?;
        Ok(())
    }
}

/// A metric read from a status: name, help, value.
type Field<T> = (&'static str, &'static str, fn(&T) -> f64);

/// The primary's own gauges.
const PRIMARY: &[Field<NodeStatus>] = &[
    ("logship_write_lsn_bytes", "Last written LSN", |s| {
        s.write_lsn.unwrap_or(0) as f64
    }),
    (
        "logship_durable_lsn_bytes",
        "Last durable LSN (never shipped past)",
        |s| s.durable_lsn.unwrap_or(0) as f64,
    ),
    (
        "logship_fenced",
        "1 when a promotion elsewhere fenced this primary: it refuses writes",
        |s| f64::from(u8::from(s.fenced.is_some())),
    ),
    (
        "logship_fenced_lsn_bytes",
        "LSN at which this primary was fenced (0: not fenced)",
        |s| s.fenced.as_ref().map_or(0.0, |f| f.at_lsn as f64),
    ),
    (
        "logship_fenced_timestamp_seconds",
        "When this primary was fenced, Unix time (0: not fenced)",
        |s| s.fenced.as_ref().map_or(0.0, |f| secs(f.since_unix_ms)),
    ),
];

/// Per-standby gauges of a primary (label `standby`).
const STANDBY_GAUGES: &[Field<StandbyStatus>] = &[
    (
        "logship_standby_acked_lsn_bytes",
        "LSN below which the standby acknowledged everything",
        |x| x.acked_lsn as f64,
    ),
    (
        "logship_standby_lag_bytes",
        "Durable LSN minus the standby's acknowledged LSN",
        |x| x.lag_bytes as f64,
    ),
    (
        "logship_last_shipment_timestamp_seconds",
        "End of the last successful shipment, Unix time (0: never)",
        |x| secs(x.last_ship_unix_ms),
    ),
    (
        "logship_shipment_failures_in_row",
        "Failed shipments since the last success",
        |x| f64::from(x.failures_in_row),
    ),
    (
        "logship_standby_needs_reseed",
        "1 when WAL the standby lacked was removed: it is re-seeded from a snapshot",
        |x| f64::from(u8::from(x.needs_reseed)),
    ),
];

/// Per-standby counters of a primary (label `standby`; `_total` is added).
const STANDBY_COUNTERS: &[Field<StandbyStatus>] = &[
    (
        "logship_shipped_bytes",
        "Log bytes shipped (uncompressed)",
        |x| x.shipped_bytes_total as f64,
    ),
    (
        "logship_shipped_wire_bytes",
        "Chunk bytes sent on the wire (compressed)",
        |x| x.shipped_wire_bytes_total as f64,
    ),
    ("logship_shipped_records", "Log records shipped", |x| {
        x.shipped_records_total as f64
    }),
    ("logship_shipments", "Successful shipments", |x| {
        x.shipments_total as f64
    }),
];

/// A standby's gauges.
const STANDBY: &[Field<NodeStatus>] = &[
    (
        "logship_received_lsn_bytes",
        "Everything below is durably received",
        |s| s.received_lsn.unwrap_or(0) as f64,
    ),
    (
        "logship_applied_lsn_bytes",
        "Everything below is applied (readable)",
        |s| s.applied_lsn.unwrap_or(0) as f64,
    ),
    (
        "logship_primary_durable_lsn_bytes",
        "The primary's durable LSN at its last message",
        |s| s.primary_durable_lsn.unwrap_or(0) as f64,
    ),
    (
        "logship_lag_bytes",
        "Primary durable LSN minus applied LSN (0 when caught up)",
        |s| s.lag_bytes.unwrap_or(0) as f64,
    ),
    (
        "logship_lag_seconds",
        "Age of the oldest record not applied yet (0 when caught up)",
        |s| s.lag_seconds.unwrap_or(0.0),
    ),
    (
        "logship_last_receive_timestamp_seconds",
        "Last chunk or status from the primary, Unix time (0: never)",
        |s| secs(s.last_receive_unix_ms.unwrap_or(0)),
    ),
    (
        "logship_last_apply_timestamp_seconds",
        "Last record applied, Unix time (0: none since start)",
        |s| secs(s.last_apply_unix_ms.unwrap_or(0)),
    ),
];

fn primary(o: &mut Out, s: &NodeStatus) -> Result<(), std::fmt::Error> {
    for (name, help, f) in PRIMARY {
        o.gauge(name, help, f(s))?;
    }
    downstreams(o, s)
}

/// The per-standby families of a node that ships: a primary's standbys, a
/// cascading standby's downstreams.
fn downstreams(o: &mut Out, s: &NodeStatus) -> Result<(), std::fmt::Error> {
    let sb = s.standbys.clone().unwrap_or_default();
    let each = |f: &fn(&StandbyStatus) -> f64| {
        sb.iter()
            .map(|x| (x.address.clone(), None, f(x)))
            .collect::<Vec<_>>()
    };
    for (name, help, f) in STANDBY_GAUGES {
        o.per_standby(name, help, MetricType::Gauge, &each(f))?;
    }
    for (name, help, f) in STANDBY_COUNTERS {
        o.per_standby(name, help, MetricType::Counter, &each(f))?;
    }
    // The standbys' own standbys, as they told: the path above each names it.
    let mut deeper: Vec<(String, String, &TreeNode)> = Vec::new();
    for x in &sb {
        walk(
            &x.downstreams,
            &mut vec![x.address.as_str()],
            &mut |via, t| {
                deeper.push((t.address.clone(), via.join(" > "), t));
            },
        );
    }
    for (name, help, f) in TREE_GAUGES {
        let v: Vec<_> = deeper
            .iter()
            .map(|(a, via, t)| (a.clone(), Some(via.clone()), f(t)))
            .collect();
        o.per_standby(name, help, MetricType::Gauge, &v)?;
    }
    Ok(())
}

/// The per-node families of the standbys further down the tree.
const TREE_GAUGES: &[Field<TreeNode>] = &[
    (
        "logship_downstream_acked_lsn_bytes",
        "LSN below which a standby further down the tree acknowledged everything to the standby above it (label via)",
        |x| x.acked_lsn as f64,
    ),
    (
        "logship_downstream_lag_bytes",
        "This node's durable LSN minus the acknowledged LSN of a standby further down the tree",
        |x| x.lag_bytes as f64,
    ),
    (
        "logship_downstream_connected",
        "1 while the standby above a standby further down the tree has its link up",
        |x| f64::from(u8::from(x.connected)),
    ),
    (
        "logship_downstream_failures_in_row",
        "Failed shipments in a row to a standby further down the tree",
        |x| f64::from(x.failures_in_row),
    ),
];

fn standby(o: &mut Out, s: &NodeStatus, replay_rate: f64) -> Result<(), std::fmt::Error> {
    for (name, help, f) in STANDBY {
        o.gauge(name, help, f(s))?;
    }
    downstreams(o, s)?;
    o.counter(
        "logship_replay_records",
        "Records replayed since start",
        s.records_applied_total.unwrap_or(0),
    )?;
    o.gauge(
        "logship_replay_records_per_second",
        "Records replayed per second over the last sample interval",
        replay_rate,
    )?;
    Ok(())
}
