//! `--on-event`: a hook fires with the documented JSON when shipments fail in a
//! row, and a hook that hangs is killed at its timeout while shipping goes on.

mod common;

use common::{init, status_json, Primary};
use std::path::Path;
use std::time::{Duration, Instant};

/// Waits (bounded) until `f` holds.
fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A primary shipping every 100 ms to 127.0.0.1:9, where nothing listens.
fn failing_primary(dir: &Path, hook: &str, extra: &[&str]) -> Primary {
    init(dir, "1MiB");
    let mut args = vec![
        "--ship-to",
        "127.0.0.1:9",
        "--ship-every",
        "100ms",
        "--insecure-no-auth",
        "--on-event",
        hook,
    ];
    args.extend_from_slice(extra);
    Primary::start(dir, &args)
}

#[test]
fn failed_shipments_in_a_row_fire_the_hook_with_the_documented_json() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("events.jsonl");
    let hook = format!("cat >> '{}'", out.display());
    let t0 = logship::clock::now_unix_ms();
    let mut p = failing_primary(&t.path().join("p"), &hook, &["--event-failures", "2"]);
    wait_for("the hook's output", Duration::from_secs(20), || {
        std::fs::read_to_string(&out).is_ok_and(|s| s.ends_with('\n'))
    });
    let text = std::fs::read_to_string(&out).unwrap();
    let first = text.lines().next().unwrap();
    let ev: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(ev["event"], "shipment_failed", "{ev}");
    assert!(
        ev["node"]
            .as_str()
            .unwrap()
            .starts_with("primary 127.0.0.1:"),
        "{ev}"
    );
    let ms = ev["unix_ms"].as_u64().unwrap();
    assert!(ms >= t0 && ms <= logship::clock::now_unix_ms(), "{ev}");
    let d = &ev["details"];
    assert_eq!(d["standby"], "127.0.0.1:9", "{ev}");
    assert_eq!(d["failures_in_row"], 2, "{ev}");
    assert_eq!(d["reason"], "connect", "{ev}");
    assert!(d["error"].as_str().unwrap().contains("127.0.0.1:9"), "{ev}");
    let keys: Vec<&String> = ev.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["details", "event", "node", "unix_ms"], "{ev}");
    // It fires once per run of failures, not on every failure after.
    wait_for("more failures", Duration::from_secs(20), || {
        status_json(&p.dir)["standbys"][0]["failures_in_row"].as_u64() >= Some(6)
    });
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1);
    let log = p.stop();
    assert!(log.contains("event"), "{log}");
}

#[test]
fn a_hanging_hook_is_killed_and_shipping_goes_on() {
    let t = tempfile::tempdir().unwrap();
    let pid_file = t.path().join("hook.pid");
    // The hook records its pid, then hangs.
    let hook = format!("echo $$ > '{}'; exec sleep 600", pid_file.display());
    let mut p = failing_primary(
        &t.path().join("p"),
        &hook,
        &["--event-failures", "1", "--on-event-timeout", "500ms"],
    );
    wait_for("the hook to start", Duration::from_secs(20), || {
        std::fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n'))
    });
    let started = Instant::now();
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: kill with signal 0 only asks whether the process exists.
    let alive = || unsafe { libc::kill(pid, 0) } == 0;
    wait_for("the hook to be killed", Duration::from_secs(10), || {
        !alive()
    });
    assert!(started.elapsed() < Duration::from_secs(5));
    // Shipping went on meanwhile: failures kept being counted.
    wait_for("more failures", Duration::from_secs(20), || {
        status_json(&p.dir)["standbys"][0]["failures_in_row"].as_u64() >= Some(5)
    });
    let log = p.stop();
    assert!(
        log.contains("event hook ran past its timeout; killed"),
        "{log}"
    );
}

#[test]
fn a_standby_falling_behind_pages_lag_over_threshold_once() {
    // Sample every 100 ms so the lag is seen quickly (the default is 5 s).
    std::env::set_var(logship::metrics::SAMPLE_INTERVAL_ENV, "100");
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    let out = t.path().join("events.jsonl");
    let hook = format!("cat >> '{}'", out.display());
    init(&pdir, "1MiB");
    // Records are held 3 s before they are applied: the lag grows past 1 s.
    let standby = common::Standby::start_with(
        &sdir,
        &[
            "--insecure-no-auth",
            "--apply-delay",
            "3s",
            "--on-event",
            &hook,
            "--event-lag",
            "1s",
        ],
    );
    let primary = Primary::start_shipping(&pdir, &standby.ship_addr, &["--ship-continuous"]);
    let mut c = primary.client();
    for i in 0..10 {
        let _: () = redis::Commands::set(&mut c, format!("k{i}"), i).unwrap();
    }
    wait_for("the lag event", Duration::from_secs(20), || {
        std::fs::read_to_string(&out).is_ok_and(|s| s.ends_with('\n'))
    });
    let text = std::fs::read_to_string(&out).unwrap();
    let ev: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(ev["event"], "lag_over_threshold", "{ev}");
    assert!(
        ev["node"]
            .as_str()
            .unwrap()
            .starts_with("standby 127.0.0.1:"),
        "{ev}"
    );
    assert!(ev["details"]["lag_seconds"].as_f64().unwrap() > 1.0, "{ev}");
    assert_eq!(ev["details"]["threshold"]["lag_seconds"], 1.0, "{ev}");
    // Once applied, the lag falls back; the event fired once for the episode.
    let durable = status_json(&pdir)["durable_lsn"].as_u64().unwrap();
    common::wait_applied(&sdir, durable, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1);
}
