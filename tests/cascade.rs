//! Cascading standbys (`standby --cascade-to ADDR`), end to end with real
//! processes: primary → middle standby → cascaded standby under writes, the
//! middle one killed with -9 and restarted, equal keyspaces at every level;
//! the middle one promoted, the cascaded one following the new timeline
//! without re-seeding; the link between the two standbys cut by a fault
//! proxy, converging still.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use cluster::Proxy;
use common::{digest, durable_lsn, init, logship, status_json, Primary, Standby};
use redis::Commands;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONVERGE_WITHIN: Duration = Duration::from_secs(60);

/// A standby that ships onward to `to`, continuously, unauthenticated.
fn middle(dir: &Path, to: &str) -> Standby {
    Standby::start_with(dir, &middle_flags(to))
}

fn middle_flags(to: &str) -> Vec<&str> {
    vec![
        "--insecure-no-auth",
        "--checkpoint-interval",
        "1s",
        "--cascade-to",
        to,
        "--ship-continuous",
    ]
}

fn leaf(dir: &Path) -> Standby {
    Standby::start_with(dir, &["--insecure-no-auth", "--checkpoint-interval", "1s"])
}

fn applied(dir: &Path) -> u64 {
    status_json(dir)["applied_lsn"].as_u64().unwrap_or(0)
}

/// Waits until every standby applied `lsn`, then compares their digests
/// with `expected`.
fn assert_all_at(lsn: u64, expected: &str, standbys: &[&Standby]) {
    for s in standbys {
        let deadline = Instant::now() + CONVERGE_WITHIN;
        loop {
            let a = applied(&s.dir);
            assert!(
                a <= lsn,
                "{} applied {a:#x}, past {lsn:#x}",
                s.dir.display()
            );
            if a == lsn {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} applied {a:#x}, not {lsn:#x}, within {CONVERGE_WITHIN:?}",
                s.dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            digest(&mut s.client()),
            expected,
            "{} differs at {lsn:#x}",
            s.dir.display()
        );
    }
}

/// Writes from a thread until `stop` is set (at most 20,000 writes).
fn writer(addr: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut c = common::redis_client(&addr);
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) && n < 20_000 {
            let _: () = c.set(format!("k{}", n % 3000), n).unwrap();
            let _: i64 = c.incr("counter", 1).unwrap();
            n += 1;
        }
        n
    })
}

#[test]
fn a_three_level_cascade_converges_through_a_kill_of_the_middle() {
    let t = tempfile::tempdir().unwrap();
    let (pdir, mdir, ldir) = (t.path().join("p"), t.path().join("m"), t.path().join("l"));
    init(&pdir, "64KiB");
    let l = leaf(&ldir);
    let mut m = middle(&mdir, &l.ship_addr);
    let p = Primary::start_shipping(&pdir, &m.ship_addr, &["--ship-continuous"]);
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(p.addr.clone(), stop.clone());
    // The cascaded standby receives while writes go on.
    let deadline = Instant::now() + CONVERGE_WITHIN;
    while applied(&ldir) == 0 {
        assert!(
            Instant::now() < deadline,
            "nothing reached the cascaded standby"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The middle is killed and comes back on its address.
    m.kill();
    std::thread::sleep(Duration::from_millis(300));
    let m = Standby::restart_on(&mdir, &m.ship_addr, &middle_flags(&l.ship_addr));
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let writes = w.join().unwrap();
    assert!(writes > 100, "only {writes} writes");
    let lsn = durable_lsn(&pdir);
    let expected = digest(&mut p.client());
    assert_all_at(lsn, &expected, &[&m, &l]);
    let counter: u64 = l.client().get("counter").unwrap();
    assert_eq!(counter, writes, "every acknowledged INCR, once");

    // The middle's status names its downstream, caught up.
    let deadline = Instant::now() + CONVERGE_WITHIN;
    loop {
        let ms = status_json(&mdir);
        let d = &ms["standbys"][0];
        assert_eq!(d["address"], l.ship_addr.as_str(), "{ms}");
        if d["acked_lsn"] == lsn && d["lag_bytes"] == 0 {
            assert_eq!(ms["ship_schedule"], "continuous", "{ms}");
            break;
        }
        assert!(Instant::now() < deadline, "never acknowledged: {ms}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = logship(&["status", "--data-dir", mdir.to_str().unwrap()]);
    assert!(
        text.stdout
            .contains(&format!("standby {}: acked", l.ship_addr)),
        "{}",
        text.stdout
    );
}

#[test]
fn promoting_the_middle_of_a_chain_leads_the_cascaded_standby_onto_its_timeline() {
    let t = tempfile::tempdir().unwrap();
    let (pdir, mdir, ldir) = (t.path().join("p"), t.path().join("m"), t.path().join("l"));
    init(&pdir, "64KiB");
    let l = leaf(&ldir);
    let m = middle(&mdir, &l.ship_addr);
    let mut p = Primary::start_shipping(&pdir, &m.ship_addr, &["--ship-continuous"]);
    let mut c = p.client();
    for i in 0..500 {
        let _: () = c.set(format!("old:{i}"), i).unwrap();
    }
    let lsn = durable_lsn(&pdir);
    let expected = digest(&mut c);
    assert_all_at(lsn, &expected, &[&m, &l]);
    p.stop();

    let out = logship(&["promote", "--data-dir", mdir.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    let mut mc = m.client();
    for i in 0..300 {
        let _: () = mc.set(format!("new:{i}"), i).unwrap();
    }
    let lsn = durable_lsn(&mdir);
    let expected = digest(&mut mc);
    assert_all_at(lsn, &expected, &[&l]);
    let ls = status_json(&ldir);
    assert_eq!(ls["timeline"], 2, "{ls}");
    let ms = status_json(&mdir);
    assert_eq!(ms["role"], "primary", "{ms}");
    assert_eq!(
        ms["standbys"][0]["seeded_total"], 0,
        "followed without re-seeding: {ms}"
    );
}

#[test]
fn a_cut_link_between_cascaded_standbys_converges() {
    let t = tempfile::tempdir().unwrap();
    let (pdir, mdir, ldir) = (t.path().join("p"), t.path().join("m"), t.path().join("l"));
    init(&pdir, "64KiB");
    let l = leaf(&ldir);
    let mut proxy = Proxy::start_with(&l.ship_addr, "cut", 7, &["--cut-min", "20KiB"]);
    let m = middle(&mdir, &proxy.addr);
    let p = Primary::start_shipping(&pdir, &m.ship_addr, &["--ship-continuous"]);
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(p.addr.clone(), stop.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !proxy.has_logged("cut the stream") {
        assert!(Instant::now() < deadline, "the proxy cut nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let writes = w.join().unwrap();
    let lsn = durable_lsn(&pdir);
    let expected = digest(&mut p.client());
    assert_all_at(lsn, &expected, &[&m, &l]);
    let counter: u64 = l.client().get("counter").unwrap();
    assert_eq!(counter, writes);
    let log = proxy.stop();
    assert!(log.matches("cut the stream").count() >= 1, "{log}");
}

#[test]
fn a_downstream_that_is_not_an_address_is_refused_at_start() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("m");
    let out = logship(&[
        "standby",
        "--data-dir",
        d.to_str().unwrap(),
        "--ship-listen",
        "127.0.0.1:0",
        "--insecure-no-auth",
        "--cascade-to",
        "nowhere",
    ]);
    assert_eq!(out.code, Some(78), "{out:#?}");
    assert!(
        out.stderr
            .contains("--cascade-to 'nowhere' is not an address (expected host:port)"),
        "{out:#?}"
    );
    assert_eq!(out.stderr.lines().count(), 1, "{out:#?}");
}
