use super::*;
use crate::ship::send::shipper::StandbyStatus;

const MIN: u64 = 60_000;

fn limit(warn_s: u64, crit_s: u64) -> Limit<Duration> {
    Limit {
        warn: Some(Duration::from_secs(warn_s)),
        crit: Some(Duration::from_secs(crit_s)),
    }
}

fn primary(standbys: Vec<StandbyStatus>) -> NodeStatus {
    NodeStatus {
        role: "primary".into(),
        running: true,
        data_dir: "/p".into(),
        write_lsn: Some(1000),
        durable_lsn: Some(1000),
        standbys: Some(standbys),
        started_unix_ms: Some(0),
        ..NodeStatus::default()
    }
}

fn standby_at(addr: &str, last_ship_ms: u64, lag_bytes: u64, failures: u32) -> StandbyStatus {
    StandbyStatus {
        address: addr.into(),
        last_ship_unix_ms: last_ship_ms,
        lag_bytes,
        failures_in_row: failures,
        acked_lsn: 1000 - lag_bytes,
        ..StandbyStatus::default()
    }
}

#[test]
fn the_summary_names_the_worst_breach_first_and_lists_all() {
    let now = 100 * MIN;
    let s = primary(vec![
        standby_at("10.0.0.2:7001", now - 47 * MIN, 500, 0),
        standby_at("10.0.0.3:7001", now - 12 * MIN, 20, 4),
        standby_at("10.0.0.4:7001", now - MIN, 0, 0),
    ]);
    let t = Thresholds {
        ship_age: limit(600, 1800),
        failures: Limit {
            warn: Some(3),
            crit: Some(10),
        },
        ..Thresholds::default()
    };
    let v = evaluate(&s, &t, now);
    assert_eq!(v.state, State::Critical);
    assert_eq!(
        v.summary,
        "LOGSHIP CRITICAL - standby 10.0.0.2:7001 last shipment 47m ago (crit 30m); \
         standby 10.0.0.3:7001 last shipment 12m ago (warn 10m); \
         standby 10.0.0.3:7001 failed shipments in a row: 4 (warn 3)",
        "{v:?}"
    );
    assert_eq!(v.breaches.len(), 3);
    assert_eq!(v.breaches[0].state, State::Critical);
    assert_eq!(State::Critical.exit_code(), 2);
}

#[test]
fn a_caught_up_idle_primary_is_ok_and_a_never_shipped_standby_counts_from_start() {
    let now = 100 * MIN;
    let t = Thresholds {
        ship_age: limit(60, 120),
        ..Thresholds::default()
    };
    // Last shipment an hour ago, but nothing is missing: no alarm.
    let idle = primary(vec![standby_at("a:1", now - 60 * MIN, 0, 0)]);
    let v = evaluate(&idle, &t, now);
    assert_eq!(v.state, State::Ok, "{v:?}");
    assert!(v.summary.starts_with("LOGSHIP OK - "), "{v:?}");
    // Never shipped to, primary up 90 s: warning, counted from the start.
    let mut never = primary(vec![standby_at("b:1", 0, 0, 0)]);
    never.started_unix_ms = Some(now - 90_000);
    let v = evaluate(&never, &t, now);
    assert_eq!(v.state, State::Warning, "{v:?}");
    assert!(
        v.summary
            .contains("never shipped to, primary up 90s (warn 60s)"),
        "{v:?}"
    );
    // A failure after a caught-up shipment counts from that shipment.
    let failing = primary(vec![standby_at("c:1", now - 5 * MIN, 0, 1)]);
    assert_eq!(evaluate(&failing, &t, now).state, State::Critical);
}

fn standby(now: u64) -> NodeStatus {
    NodeStatus {
        role: "standby".into(),
        running: true,
        data_dir: "/s".into(),
        received_lsn: Some(2000),
        applied_lsn: Some(2000),
        primary_durable_lsn: Some(2000),
        last_receive_unix_ms: Some(now - 1000),
        last_apply_unix_ms: Some(now - 30 * MIN),
        lag_bytes: Some(0),
        lag_seconds: Some(0.0),
        started_unix_ms: Some(now - 60 * MIN),
        ..NodeStatus::default()
    }
}

#[test]
fn a_standby_in_touch_and_caught_up_is_ok_however_old_its_last_apply() {
    let now = 100 * MIN;
    let t = Thresholds {
        apply_age: limit(60, 600),
        ship_age: limit(60, 600),
        lag: limit(5, 60),
        ..Thresholds::default()
    };
    let v = evaluate(&standby(now), &t, now);
    assert_eq!(v.state, State::Ok, "{v:?}");
    assert_eq!(v.summary, "LOGSHIP OK - standby applied LSN 2000, lag 0ms");
}

#[test]
fn a_standby_cut_off_or_behind_breaches_apply_age_ship_age_and_lag() {
    let now = 100 * MIN;
    let t = Thresholds {
        apply_age: limit(60, 600),
        ship_age: limit(60, 600),
        lag: limit(5, 60),
        lag_bytes: Limit {
            warn: Some(100),
            crit: None,
        },
        ..Thresholds::default()
    };
    // The primary stopped shipping 2 minutes ago.
    let mut s = standby(now);
    s.last_receive_unix_ms = Some(now - 2 * MIN);
    let v = evaluate(&s, &t, now);
    assert_eq!(v.state, State::Warning, "{v:?}");
    assert!(v.summary.contains("last apply 2m ago (warn 60s)"), "{v:?}");
    assert!(
        v.summary
            .contains("last shipment received 2m ago (warn 60s)"),
        "{v:?}"
    );
    // Behind: records waiting, lag 90 s and 500 bytes.
    let mut s = standby(now);
    s.received_lsn = Some(2500);
    s.primary_durable_lsn = Some(2500);
    s.lag_bytes = Some(500);
    s.lag_seconds = Some(90.0);
    s.last_apply_unix_ms = Some(now - 11 * MIN);
    let v = evaluate(&s, &t, now);
    assert_eq!(v.state, State::Critical, "{v:?}");
    assert!(v.summary.starts_with("LOGSHIP CRITICAL - lag 90s (crit 60s); last apply 11m ago (crit 10m); lag bytes: 500 (warn 100)"), "{v:?}");
}

#[test]
fn a_stopped_node_is_unknown_and_durations_print_short() {
    let mut s = standby(100 * MIN);
    s.running = false;
    let v = evaluate(&s, &Thresholds::default(), 100 * MIN);
    assert_eq!(v.state, State::Unknown);
    assert_eq!(v.summary, "LOGSHIP UNKNOWN - standby at /s is not running");
    assert_eq!(State::Unknown.exit_code(), 3);
    assert!(!Thresholds::default().any());
    let cases = [
        (850, "850ms"),
        (12_000, "12s"),
        (180_000, "3m"),
        (190_000, "3m10s"),
        (3 * 3_600_000 + 5 * MIN, "3h5m"),
        (7_200_000, "2h"),
    ];
    for (ms, text) in cases {
        assert_eq!(short_duration(Duration::from_millis(ms)), text);
    }
}

#[test]
fn a_fenced_primary_is_a_warning_whatever_the_thresholds() {
    let now = 100 * MIN;
    let mut s = primary(vec![standby_at("a:1", now, 0, 0)]);
    assert_eq!(evaluate(&s, &Thresholds::default(), now).state, State::Ok);
    s.fenced = Some(crate::status::FenceStatus {
        at_lsn: 0x5A3F20,
        since_unix_ms: now - MIN,
        timeline: 1,
        reason: "promoted elsewhere".into(),
    });
    let v = evaluate(&s, &Thresholds::default(), now);
    assert_eq!(v.state, State::Warning, "{v:?}");
    assert!(
        v.summary.starts_with("LOGSHIP WARNING - fenced since "),
        "{v:?}"
    );
    assert!(v.summary.contains("0/5A3F20 (tl 1)"), "{v:?}");
    assert!(v.summary.contains("logship rejoin"), "{v:?}");
}

#[test]
fn a_standby_following_an_archive_breaches_archive_age() {
    let now = 100 * MIN;
    let t = Thresholds {
        archive_age: limit(60, 600),
        ..Thresholds::default()
    };
    // A link standby has no archive age to judge.
    assert_eq!(evaluate(&standby(now), &t, now).state, State::Ok);
    let mut s = standby(now);
    s.restore_from = Some("file:///a".into());
    s.archive_age_seconds = Some(30.0);
    assert_eq!(evaluate(&s, &t, now).state, State::Ok);
    s.archive_age_seconds = Some(120.0);
    let v = evaluate(&s, &t, now);
    assert_eq!(v.state, State::Warning, "{v:?}");
    assert!(
        v.summary
            .contains("archive proved the log complete 2m ago (warn 60s)"),
        "{v:?}"
    );
    // Nothing proven yet: counted from the start (an hour ago).
    s.archive_age_seconds = None;
    let v = evaluate(&s, &t, now);
    assert_eq!(v.state, State::Critical, "{v:?}");
    assert!(
        v.summary
            .contains("archive proved nothing yet, standby up 60m (crit 10m)"),
        "{v:?}"
    );
}

#[test]
fn a_cascading_standby_is_judged_per_downstream_too() {
    let now = 100 * MIN;
    let t = Thresholds {
        lag_bytes: Limit {
            warn: Some(100),
            crit: None,
        },
        ..Thresholds::default()
    };
    let mut s = standby(now);
    s.standbys = Some(vec![standby_at("10.0.0.9:7000", now, 0, 0)]);
    assert_eq!(evaluate(&s, &t, now).state, State::Ok);
    s.standbys = Some(vec![standby_at("10.0.0.9:7000", now - MIN, 500, 0)]);
    let v = evaluate(&s, &t, now);
    assert_eq!(v.state, State::Warning, "{v:?}");
    assert!(
        v.summary
            .contains("standby 10.0.0.9:7000 lag bytes: 500 (warn 100)"),
        "{v:?}"
    );
}

#[test]
fn a_primary_judges_every_node_of_the_tree_it_knows_naming_the_path() {
    let now = 100 * MIN;
    let t = Thresholds {
        lag_bytes: Limit {
            warn: Some(100),
            crit: Some(400),
        },
        ..Thresholds::default()
    };
    let node = |addr: &str, lag: u64, downstreams| crate::ship::protocol::tree::TreeNode {
        address: addr.into(),
        acked_lsn: 1000 - lag,
        lag_bytes: lag,
        last_ship_unix_ms: now,
        connected: true,
        downstreams,
        ..Default::default()
    };
    let mut b = standby_at("b:7001", now, 0, 0);
    b.downstreams = vec![
        node("c:7002", 0, vec![node("e:7004", 0, vec![])]),
        node("d:7003", 0, vec![]),
    ];
    let mut s = primary(vec![b.clone()]);
    assert_eq!(evaluate(&s, &t, now).state, State::Ok);
    b.downstreams[0].downstreams[0].lag_bytes = 500;
    s.standbys = Some(vec![b]);
    let v = evaluate(&s, &t, now);
    assert_eq!(v.state, State::Critical, "{v:?}");
    assert_eq!(
        v.summary,
        "LOGSHIP CRITICAL - standby e:7004 (via b:7001 > c:7002) lag bytes: 500 (crit 400)"
    );
}
