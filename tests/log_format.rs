//! `--log-format json`: every log line is one JSON object; each shipment is
//! logged once with its LSN range; client commands are not logged at the
//! default level.

mod common;

use common::{init, status_json, wait_applied, Primary, Standby};
use redis::Commands;
use std::time::{Duration, Instant};

#[test]
fn json_logs_show_each_shipment_once_with_its_lsns_and_no_line_per_command() {
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    init(&pdir, "1MiB");
    let mut standby = Standby::start_with(&sdir, &["--insecure-no-auth", "--log-format", "json"]);
    let mut primary = Primary::start_shipping(
        &pdir,
        &standby.ship_addr,
        &["--ship-every", "200ms", "--log-format", "json"],
    );
    let mut c = primary.client();
    const COMMANDS: usize = 300;
    for i in 0..COMMANDS {
        let _: () = c.set(format!("k{i}"), i).unwrap();
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    let durable = status_json(&pdir)["durable_lsn"].as_u64().unwrap();
    wait_applied(&sdir, durable, Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_json(&pdir)["standbys"][0]["acked_lsn"].as_u64() < Some(durable) {
        assert!(Instant::now() < deadline, "never acknowledged");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(c);
    let log = primary.stop();
    let standby_log = standby.kill();

    for text in [&log, &standby_log] {
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            assert!(
                v["timestamp"].is_string() && v["level"].is_string(),
                "{line}"
            );
            assert!(v["message"].is_string(), "{line}");
        }
    }
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.len() < COMMANDS / 2,
        "{} log lines for {COMMANDS} commands:\n{log}",
        lines.len()
    );
    let mut ranges: Vec<(u64, u64)> = lines
        .iter()
        .filter(|v| v["message"] == "shipment complete")
        .map(|v| {
            (
                v["from_lsn"].as_u64().unwrap(),
                v["to_lsn"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(ranges.len() >= 2, "{log}");
    ranges.sort();
    assert_eq!(ranges[0].0, 0, "{ranges:?}");
    for w in ranges.windows(2) {
        assert_eq!(
            w[0].1, w[1].0,
            "each byte shipped is logged once: {ranges:?}"
        );
    }
    assert_eq!(ranges.last().unwrap().1, durable, "{ranges:?}");
    // The shutdown checkpoint is logged with its LSN.
    assert!(
        lines
            .iter()
            .any(|v| v["message"] == "checkpoint complete" && v["lsn"].as_u64() == Some(durable)),
        "{log}"
    );
}
