//! `--metrics`: a scrape of a real primary and standby, parsed with a
//! Prometheus text parser, matches `status --json` of the same node at a quiet
//! moment.

mod common;

use common::{free_addr, http_get, init, status_json, wait_applied, Primary, Standby};
use prometheus_parse::{Scrape, Value};
use redis::Commands;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn scrape(addr: &str) -> Scrape {
    let (code, body) = http_get(addr, "/metrics");
    assert_eq!(code, 200, "{body}");
    Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("a Prometheus text scrape")
}

/// The value of `name` whose labels include every `(key, value)` of `labels`.
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = s
        .samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)));
    match found.map(|x| &x.value) {
        Some(Value::Gauge(v) | Value::Counter(v) | Value::Untyped(v)) => *v,
        other => panic!("{name} {labels:?}: {other:?}"),
    }
}

/// The metric names of the `## Prometheus metrics` table of docs/monitoring.md.
fn documented_metrics() -> BTreeSet<String> {
    const MONITORING: &str = include_str!("../docs/monitoring.md");
    let start = MONITORING
        .find("\n## Prometheus metrics")
        .expect("docs/monitoring.md documents the metrics");
    let section = &MONITORING[start + 1..];
    let section = &section[..section[1..].find("\n#").map_or(section.len(), |e| e + 1)];
    section
        .lines()
        .filter(|l| l.starts_with("| `logship_"))
        .map(|l| {
            let cell = l.trim_start_matches("| `");
            cell[..cell.find(['`', '{']).unwrap()].to_string()
        })
        .collect()
}

/// The metric names of a scrape (a histogram's samples under its own name).
fn names(s: &Scrape) -> BTreeSet<String> {
    s.samples
        .iter()
        .map(|x| {
            let n = x.metric.as_str();
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| n.strip_suffix(suffix).filter(|b| b.ends_with("_seconds")))
                .unwrap_or(n)
                .to_string()
        })
        .collect()
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn a_scrape_matches_status_json_on_primary_and_standby() {
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    init(&pdir, "1MiB");
    let (pm, sm) = (free_addr(), free_addr());
    let standby = Standby::start_with(
        &sdir,
        &[
            "--insecure-no-auth",
            "--checkpoint-interval",
            "1s",
            "--metrics",
            &sm,
        ],
    );
    let primary = Primary::start_shipping(
        &pdir,
        &standby.ship_addr,
        &[
            "--ship-every",
            "300ms",
            "--metrics",
            &pm,
            "--archive-to",
            &format!("file://{}", t.path().join("archive").display()),
            "--archive-every",
            "200ms",
        ],
    );
    let mut c = primary.client();
    for i in 0..200 {
        let _: () = c.set(format!("key:{i}"), "x".repeat(100)).unwrap();
    }
    let durable = status_json(&pdir)["durable_lsn"].as_u64().unwrap();
    wait_applied(&sdir, durable, Duration::from_secs(30));
    // Wait until the primary has seen the acknowledgement (a quiet moment:
    // nothing more is written).
    let deadline = Instant::now() + Duration::from_secs(20);
    let ps = loop {
        let ps = status_json(&pdir);
        if ps["standbys"][0]["acked_lsn"] == durable
            && ps["standbys"][0]["lag_bytes"] == 0
            && ps["archive"]["archived_lsn"] == durable
        {
            break ps;
        }
        assert!(Instant::now() < deadline, "never acknowledged: {ps}");
        std::thread::sleep(Duration::from_millis(50));
    };

    let m = scrape(&pm);
    let mut scraped = names(&m);
    let sb = &ps["standbys"][0];
    let addr = sb["address"].as_str().unwrap();
    let l = [("standby", addr)];
    assert_eq!(value(&m, "logship_role", &[("role", "primary")]), 1.0);
    assert_eq!(value(&m, "logship_role", &[("role", "standby")]), 0.0);
    assert_eq!(value(&m, "logship_timeline", &[]), num(&ps["timeline"]));
    assert_eq!(
        value(&m, "logship_write_lsn_bytes", &[]),
        num(&ps["write_lsn"])
    );
    assert_eq!(
        value(&m, "logship_durable_lsn_bytes", &[]),
        num(&ps["durable_lsn"])
    );
    assert_eq!(
        value(&m, "logship_standby_acked_lsn_bytes", &l),
        num(&sb["acked_lsn"])
    );
    assert_eq!(value(&m, "logship_standby_lag_bytes", &l), 0.0);
    assert_eq!(
        value(&m, "logship_shipped_bytes_total", &l),
        num(&sb["shipped_bytes_total"])
    );
    assert_eq!(
        value(&m, "logship_shipped_records_total", &l),
        num(&sb["shipped_records_total"])
    );
    assert!(num(&sb["shipped_records_total"]) >= 200.0, "{sb}");
    assert!(value(&m, "logship_shipments_total", &l) >= num(&sb["shipments_total"]));
    assert!(
        value(&m, "logship_last_shipment_timestamp_seconds", &l) * 1000.0
            >= num(&sb["last_ship_unix_ms"]) - 1.0
    );
    assert_eq!(value(&m, "logship_shipment_failures_in_row", &l), 0.0);
    assert!(value(&m, "logship_client_commands_total", &[]) >= 200.0);
    assert!(value(&m, "logship_client_connections", &[]) >= 1.0);
    assert!(value(&m, "logship_wal_bytes", &[]) > 0.0);
    assert!(value(&m, "logship_wal_segments", &[]) >= 1.0);
    assert_eq!(value(&m, "logship_promotions_total", &[]), 0.0);
    let a = &ps["archive"];
    assert_eq!(
        value(&m, "logship_archive_archived_lsn_bytes", &[]),
        durable as f64
    );
    assert_eq!(value(&m, "logship_archive_lag_bytes", &[]), 0.0);
    assert_eq!(value(&m, "logship_archive_failing", &[]), 0.0);
    assert_eq!(value(&m, "logship_archive_gaps", &[]), 0.0);
    assert!(value(&m, "logship_archive_objects_total", &[]) >= num(&a["objects_written"]));
    assert!(value(&m, "logship_archive_objects_total", &[]) >= 1.0);
    assert!(value(&m, "logship_archive_written_bytes_total", &[]) > 0.0);
    assert!(
        value(&m, "logship_archive_last_object_timestamp_seconds", &[]) * 1000.0
            >= num(&a["last_archive_unix_ms"]) - 1.0
    );
    let hist = m
        .samples
        .iter()
        .find(|x| {
            x.metric == "logship_shipment_duration_seconds" && x.labels.get("standby") == Some(addr)
        })
        .expect("the shipment duration histogram");
    match &hist.value {
        Value::Histogram(buckets) => {
            let inf = buckets.last().expect("buckets");
            assert!(inf.count >= 1.0, "{buckets:?}");
        }
        other => panic!("not a histogram: {other:?}"),
    }

    let ss = status_json(&sdir);
    let m = scrape(&sm);
    scraped.extend(names(&m));
    assert_eq!(value(&m, "logship_role", &[("role", "standby")]), 1.0);
    assert_eq!(value(&m, "logship_timeline", &[]), num(&ss["timeline"]));
    assert_eq!(
        value(&m, "logship_received_lsn_bytes", &[]),
        num(&ss["received_lsn"])
    );
    assert_eq!(
        value(&m, "logship_applied_lsn_bytes", &[]),
        num(&ss["applied_lsn"])
    );
    assert_eq!(value(&m, "logship_applied_lsn_bytes", &[]), durable as f64);
    assert_eq!(value(&m, "logship_lag_bytes", &[]), num(&ss["lag_bytes"]));
    assert_eq!(value(&m, "logship_lag_bytes", &[]), 0.0, "caught up: {ss}");
    assert_eq!(
        value(&m, "logship_lag_seconds", &[]),
        0.0,
        "caught up: {ss}"
    );
    assert_eq!(
        value(&m, "logship_replay_records_total", &[]),
        num(&ss["records_applied_total"])
    );
    assert!(value(&m, "logship_replay_records_total", &[]) >= 200.0);
    let apply_ms = value(&m, "logship_last_apply_timestamp_seconds", &[]) * 1000.0;
    assert!(
        (apply_ms - num(&ss["last_apply_unix_ms"])).abs() < 1.0,
        "{apply_ms} {ss}"
    );
    assert!(value(&m, "logship_wal_bytes", &[]) > 0.0);
    // A checkpoint runs every second on this standby.
    let deadline = Instant::now() + Duration::from_secs(20);
    while value(
        &scrape(&sm),
        "logship_last_checkpoint_timestamp_seconds",
        &[],
    ) == 0.0
    {
        assert!(Instant::now() < deadline, "no checkpoint time");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The documented table names every metric served, and serves nothing it does not
    // name (failures by reason appear after a first failure).
    let documented = documented_metrics();
    let undocumented: Vec<_> = scraped.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/monitoring.md: {undocumented:?}"
    );
    scraped.insert("logship_shipment_failures_total".into());
    // A standby following an archive serves its age (tests/archive_follow.rs).
    scraped.insert("logship_archive_age_seconds".into());
    // A primary with a cascading standby serves its tree (tests/tree.rs).
    for m in [
        "logship_downstream_acked_lsn_bytes",
        "logship_downstream_lag_bytes",
        "logship_downstream_connected",
        "logship_downstream_failures_in_row",
    ] {
        scraped.insert(m.into());
    }
    let missing: Vec<_> = documented.difference(&scraped).collect();
    assert!(
        missing.is_empty(),
        "in docs/monitoring.md but not served: {missing:?}"
    );
    // Anything else on the port is a 404.
    assert_eq!(http_get(&sm, "/nothing").0, 404);
}
