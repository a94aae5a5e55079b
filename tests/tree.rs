//! The replication tree as the primary sees it, end to end with real
//! processes: primary → B → {C, D}. B tells the primary of its downstreams
//! (the `Downstreams` message), so the primary's `status --json` nests C and
//! D under B with positions that converge to its own; its text status indents
//! them; its metrics carry them with a `via` label; a C that is killed shows
//! disconnected under B within seconds, and a threshold on the primary
//! catches C's lag, naming its path.

mod common;

use common::{durable_lsn, free_addr, http_get, init, status_json, Primary, Standby};
use redis::Commands;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const WITHIN: Duration = Duration::from_secs(30);

fn leaf(dir: &Path) -> Standby {
    Standby::start_with(dir, &["--insecure-no-auth"])
}

/// Polls the primary's status until `ok` holds for B's entry; returns it.
fn wait_for_b(pdir: &Path, what: &str, ok: impl Fn(&Value, u64) -> bool) -> Value {
    let deadline = Instant::now() + WITHIN;
    loop {
        let s = status_json(pdir);
        let durable = s["durable_lsn"].as_u64().unwrap_or(0);
        let b = s["standbys"][0].clone();
        if ok(&b, durable) {
            return b;
        }
        assert!(Instant::now() < deadline, "{what} within {WITHIN:?}: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn entry<'a>(b: &'a Value, addr: &str) -> &'a Value {
    b["downstreams"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["address"] == addr))
        .unwrap_or(&Value::Null)
}

#[test]
fn the_primary_shows_the_tree_below_a_cascading_standby_and_judges_it() {
    let t = tempfile::tempdir().unwrap();
    let dir = |n: &str| t.path().join(n);
    init(&dir("p"), "64KiB");
    let mut c = leaf(&dir("c"));
    let d = leaf(&dir("d"));
    let b = Standby::start_with(
        &dir("b"),
        &[
            "--insecure-no-auth",
            "--cascade-to",
            &c.ship_addr,
            "--cascade-to",
            &d.ship_addr,
            "--ship-continuous",
        ],
    );
    let metrics = free_addr();
    let p = Primary::start_shipping(
        &dir("p"),
        &b.ship_addr,
        &["--ship-continuous", "--metrics", &metrics],
    );
    let mut client = p.client();
    for i in 0..500 {
        let _: () = client.set(format!("k{i}"), i).unwrap();
    }
    // C and D appear under B, at the primary's durable LSN.
    let (ca, da) = (c.ship_addr.clone(), d.ship_addr.clone());
    let b_view = wait_for_b(&dir("p"), "C and D caught up under B", |b, durable| {
        [&ca, &da].iter().all(|a| {
            let e = entry(b, a);
            e["acked_lsn"].as_u64() == Some(durable) && e["connected"] == true
        })
    });
    let e = entry(&b_view, &c.ship_addr);
    assert_eq!(e["lag_bytes"], 0, "{b_view}");
    assert!(e["applied_lsn"].as_u64().unwrap() > 0, "{b_view}");
    assert_eq!(e["downstreams"], Value::Array(vec![]), "{b_view}");
    assert_eq!(b_view["downstreams"].as_array().unwrap().len(), 2);
    // The text status indents them under B.
    let out = common::logship(&["status", "--data-dir", dir("p").to_str().unwrap()]);
    assert!(
        out.stdout
            .contains(&format!("\n  └ standby {}: acked ", c.ship_addr))
            && out.stdout.contains("(connected)"),
        "{}",
        out.stdout
    );
    // The metrics carry them, the path above each in `via`.
    let (_, m) = http_get(&metrics, "/metrics");
    let series = format!(
        "logship_downstream_lag_bytes{{standby=\"{}\",via=\"{}\"}} 0",
        c.ship_addr, b.ship_addr
    );
    assert!(m.contains(&series), "{series} not in\n{m}");
    assert!(m.contains("logship_downstream_acked_lsn_bytes{"), "{m}");
    assert!(m.contains("logship_downstream_connected{"), "{m}");
    assert!(m.contains("logship_downstream_failures_in_row{"), "{m}");
    // The status page shows them.
    let (_, page) = http_get(&metrics, "/");
    assert!(page.contains("class=\"downstream\""), "{page}");
    assert!(page.contains(&c.ship_addr), "{page}");

    // C killed: the primary sees it disconnected under B within seconds.
    let killed = Instant::now();
    c.kill();
    wait_for_b(&dir("p"), "C disconnected under B", |b, _| {
        entry(b, &ca)["connected"] == false
    });
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // Writes go on: B and D keep up, C falls behind, and a threshold on the
    // primary names C with its path.
    for i in 0..500 {
        let _: () = client.set(format!("x{i}"), i).unwrap();
    }
    let durable = durable_lsn(&dir("p"));
    wait_for_b(&dir("p"), "B and D caught up again", |b, _| {
        b["acked_lsn"].as_u64() >= Some(durable)
            && entry(b, &da)["acked_lsn"].as_u64() >= Some(durable)
    });
    let out = common::logship(&[
        "status",
        "--data-dir",
        dir("p").to_str().unwrap(),
        "--crit-lag-bytes",
        "1",
    ]);
    assert_eq!(out.code, Some(2), "{}", out.stdout);
    let first = out.stdout.lines().next().unwrap_or("");
    let want = format!("standby {} (via {}) lag bytes: ", c.ship_addr, b.ship_addr);
    assert!(
        first.starts_with("LOGSHIP CRITICAL - ") && first.contains(&want),
        "{first}"
    );
    assert!(
        !first.contains(&format!("standby {} (via", d.ship_addr)),
        "{first}"
    );
    assert!(
        !first.contains(&format!("standby {} lag", b.ship_addr)),
        "{first}"
    );
}

#[test]
fn a_standby_two_levels_down_shows_under_its_parent_in_the_primarys_view() {
    let t = tempfile::tempdir().unwrap();
    let dir = |n: &str| t.path().join(n);
    init(&dir("p"), "64KiB");
    let e = leaf(&dir("e"));
    let middle = |d: &Path, to: &str| {
        Standby::start_with(
            d,
            &[
                "--insecure-no-auth",
                "--cascade-to",
                to,
                "--ship-continuous",
            ],
        )
    };
    let c = middle(&dir("c"), &e.ship_addr);
    let b = middle(&dir("b"), &c.ship_addr);
    let p = Primary::start_shipping(&dir("p"), &b.ship_addr, &["--ship-continuous"]);
    let mut client = p.client();
    for i in 0..200 {
        let _: () = client.set(format!("k{i}"), i).unwrap();
    }
    let (ca, ea) = (c.ship_addr.clone(), e.ship_addr.clone());
    let b_view = wait_for_b(&dir("p"), "E caught up under C under B", |b, durable| {
        entry(entry(b, &ca), &ea)["acked_lsn"].as_u64() == Some(durable)
    });
    let e_view = entry(entry(&b_view, &c.ship_addr), &e.ship_addr);
    assert_eq!(e_view["lag_bytes"], 0, "{b_view}");
    assert_eq!(e_view["connected"], true, "{b_view}");
    let out = common::logship(&["status", "--data-dir", dir("p").to_str().unwrap()]);
    assert!(
        out.stdout
            .contains(&format!("\n    └ standby {}: acked ", e.ship_addr)),
        "{}",
        out.stdout
    );
}
