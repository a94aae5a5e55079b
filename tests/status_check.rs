//! `logship status` with thresholds against real nodes: monitoring-plugin exit
//! codes (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) and the summary line first.

mod common;

use common::{init, wait_applied, Primary, Standby, BIN};
use redis::Commands;
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs `status --data-dir DIR ARGS`: (exit code, stdout).
fn check(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = logship::config::hermetic(BIN)
        .args(["status", "--data-dir"])
        .arg(dir)
        .args(args)
        .output()
        .expect("run logship status");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked"),
        "status panicked: {err}\nstdout: {text}"
    );
    (out.status.code().expect("exit code"), text)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Retries `check` (bounded) until it exits with `code`; returns the output.
fn check_until(dir: &Path, args: &[&str], code: i32, within: Duration) -> String {
    check_until_says(dir, args, code, "", within)
}

/// Retries `check` (bounded) until it exits with `code` and its summary
/// contains `text`; returns the output.
fn check_until_says(dir: &Path, args: &[&str], code: i32, text: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (c, out) = check(dir, args);
        if c == code && first_line(&out).contains(text) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "status {args:?} exited {c}, expected {code} saying {text:?}: {out}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_stopped_or_missing_node_is_unknown_with_the_reason() {
    let t = tempfile::tempdir().unwrap();
    let pdir = t.path().join("p");
    init(&pdir, "1MiB");
    let (code, out) = check(&pdir, &["--warn-ship-age", "1m"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        first_line(&out).starts_with("LOGSHIP UNKNOWN - primary at ")
            && first_line(&out).ends_with("is not running"),
        "{out}"
    );
    // The usual report follows the summary.
    assert!(out.contains("role:           primary"), "{out}");
    // Not a data directory at all: UNKNOWN too, with the reason, also in JSON.
    let nowhere = t.path().join("nowhere");
    let (code, out) = check(&nowhere, &["--crit-lag", "1m", "--json"]);
    assert_eq!(code, 3, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["check"]["state"], "UNKNOWN");
    let summary = v["check"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("LOGSHIP UNKNOWN - ")
            && summary.contains("not a logship data directory"),
        "{summary}"
    );
    // Without thresholds, status of a stopped node still succeeds.
    assert_eq!(check(&pdir, &[]).0, 0);
}

#[test]
fn healthy_is_ok_and_a_standby_cut_off_from_its_primary_goes_warning_then_critical() {
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    init(&pdir, "1MiB");
    let mut standby = Standby::start_with(
        &sdir,
        &["--insecure-no-auth", "--checkpoint-interval", "1s"],
    );
    let mut primary = Primary::start_shipping(&pdir, &standby.ship_addr, &["--ship-continuous"]);
    let mut c = primary.client();
    for i in 0..50 {
        let _: () = c.set(format!("k{i}"), "v").unwrap();
    }
    let durable = common::status_json(&pdir)["durable_lsn"].as_u64().unwrap();
    wait_applied(&sdir, durable, Duration::from_secs(30));

    let standby_limits = [
        "--warn-lag",
        "30s",
        "--crit-lag",
        "1m",
        "--warn-apply-age",
        "30s",
        "--crit-apply-age",
        "1m",
        "--warn-ship-age",
        "30s",
    ];
    let out = check_until(&sdir, &standby_limits, 0, Duration::from_secs(20));
    assert!(
        first_line(&out).starts_with("LOGSHIP OK - standby applied LSN "),
        "{out}"
    );
    assert!(out.contains("role:           standby"), "{out}");
    let primary_limits = [
        "--warn-ship-age",
        "30s",
        "--crit-ship-age",
        "1m",
        "--warn-failures",
        "2",
        "--crit-failures",
        "10",
        "--warn-lag-bytes",
        "1MiB",
    ];
    let out = check_until(&pdir, &primary_limits, 0, Duration::from_secs(20));
    assert!(
        first_line(&out).starts_with("LOGSHIP OK - primary, 1 standby(s)"),
        "{out}"
    );
    // JSON carries the same verdict, with the same exit code.
    let (code, out) = check(&pdir, &[&primary_limits[..], &["--json"]].concat());
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["check"]["state"], "OK");
    assert_eq!(v["role"], "primary");

    // The primary stops: nothing more arrives.
    primary.stop();
    let tight = [
        "--warn-apply-age",
        "1s",
        "--crit-apply-age",
        "2s",
        "--warn-ship-age",
        "1s",
        "--crit-ship-age",
        "1h",
    ];
    let out = check_until(&sdir, &tight, 1, Duration::from_secs(20));
    assert!(first_line(&out).starts_with("LOGSHIP WARNING - "), "{out}");
    assert!(first_line(&out).contains("(warn 1s)"), "{out}");
    let out = check_until(&sdir, &tight, 2, Duration::from_secs(20));
    let summary = first_line(&out);
    assert!(
        summary.starts_with("LOGSHIP CRITICAL - last apply ") && summary.contains("ago (crit 2s)"),
        "{out}"
    );
    // Every breach is listed, the worst first.
    assert!(summary.contains("; last shipment received "), "{out}");
    let (code, out) = check(&sdir, &[&tight[..], &["--json"]].concat());
    assert_eq!(code, 2, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["check"]["state"], "CRITICAL");
    assert_eq!(v["check"]["breaches"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["applied_lsn"], durable);

    // A stopped standby is UNKNOWN.
    standby.kill();
    let (code, out) = check(&sdir, &tight);
    assert_eq!(code, 3, "{out}");
    assert!(
        first_line(&out).starts_with("LOGSHIP UNKNOWN - standby at "),
        "{out}"
    );
}

#[test]
fn a_primary_that_cannot_reach_its_standby_breaches_failures_and_ship_age() {
    let t = tempfile::tempdir().unwrap();
    let pdir = t.path().join("p");
    init(&pdir, "1MiB");
    // Port 9 (discard) on loopback: nothing listens, every shipment fails.
    let _primary = Primary::start(
        &pdir,
        &[
            "--ship-to",
            "127.0.0.1:9",
            "--ship-every",
            "200ms",
            "--insecure-no-auth",
        ],
    );
    let out = check_until(
        &pdir,
        &["--warn-failures", "2", "--crit-failures", "1000"],
        1,
        Duration::from_secs(20),
    );
    assert!(
        first_line(&out)
            .starts_with("LOGSHIP WARNING - standby 127.0.0.1:9 failed shipments in a row: "),
        "{out}"
    );
    let out = check_until(
        &pdir,
        &["--warn-failures", "2", "--crit-ship-age", "1s"],
        2,
        Duration::from_secs(20),
    );
    let summary = first_line(&out);
    assert!(
        summary.starts_with("LOGSHIP CRITICAL - standby 127.0.0.1:9 never shipped to, primary up ")
            && summary.contains("(crit 1s); standby 127.0.0.1:9 failed shipments in a row: "),
        "{out}"
    );
}

#[test]
fn a_standby_behind_breaches_lag_in_seconds_and_bytes() {
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    init(&pdir, "1MiB");
    // Records wait 30 s before they are applied: the standby stays behind.
    let standby = Standby::start_with(&sdir, &["--insecure-no-auth", "--apply-delay", "30s"]);
    let primary = Primary::start_shipping(&pdir, &standby.ship_addr, &["--ship-continuous"]);
    let mut c = primary.client();
    for i in 0..20 {
        let _: () = c.set(format!("k{i}"), i).unwrap();
    }
    let out = check_until_says(
        &sdir,
        &[
            "--warn-lag",
            "1s",
            "--crit-lag",
            "1h",
            "--warn-lag-bytes",
            "1",
        ],
        1,
        "(warn 1s)",
        Duration::from_secs(20),
    );
    let summary = first_line(&out);
    assert!(
        summary.starts_with("LOGSHIP WARNING - lag ") && summary.contains("(warn 1s); lag bytes: "),
        "{out}"
    );
    let out = check_until(
        &sdir,
        &["--crit-lag-bytes", "1"],
        2,
        Duration::from_secs(20),
    );
    assert!(
        first_line(&out).starts_with("LOGSHIP CRITICAL - lag bytes: "),
        "{out}"
    );
}
