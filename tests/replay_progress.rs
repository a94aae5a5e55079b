//! A standby restarted with a backlog of received log catches up with progress:
//! with stderr not a terminal, periodic log lines with the percentage and the
//! LSN, then one line when it is done.

mod common;

use common::{init, status_json, wait_applied, Primary, Standby};
use std::time::Duration;

#[test]
fn catch_up_replay_at_start_logs_its_progress() {
    // A progress line at every batch (the default is one every 2 s).
    std::env::set_var(logship::progress::LOG_INTERVAL_ENV, "0");
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    init(&pdir, "4MiB");
    // No checkpoint before the kill: the restart replays everything received.
    let standby_flags = ["--insecure-no-auth", "--checkpoint-interval", "1h"];
    let mut standby = Standby::start_with(&sdir, &standby_flags);
    let primary = Primary::start_shipping(&pdir, &standby.ship_addr, &["--ship-continuous"]);
    let mut c = primary.client();
    let value = "v".repeat(1000);
    for round in 0..24 {
        let mut p = redis::pipe();
        for i in 0..500 {
            p.cmd("SET")
                .arg(format!("k{round}:{i}"))
                .arg(&value)
                .ignore();
        }
        let () = p.query(&mut c).unwrap();
    }
    let durable = status_json(&pdir)["durable_lsn"].as_u64().unwrap();
    assert!(durable >= logship::standby::replay::CATCH_UP_PROGRESS_BYTES);
    wait_applied(&sdir, durable, Duration::from_secs(60));
    standby.kill();
    drop(primary);

    let mut standby = Standby::start_with(&sdir, &standby_flags);
    wait_applied(&sdir, durable, Duration::from_secs(60));
    // The end of catch-up is logged right after its last batch is applied,
    // which status shows at once: give the line time to be written.
    std::thread::sleep(Duration::from_millis(300));
    let log = standby.kill();
    assert!(
        log.contains("catch-up replay started") && log.contains("from_lsn=0"),
        "{log}"
    );
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("catch-up replay: ") && l.contains("%"))
        .collect();
    assert!(lines.len() >= 2, "{log}");
    assert!(lines.iter().all(|l| l.contains("lsn=Some(")), "{lines:?}");
    let done = log
        .lines()
        .find(|l| l.contains("catch-up replay complete"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(done.contains(&format!("to_lsn={durable}")), "{done}");
}
