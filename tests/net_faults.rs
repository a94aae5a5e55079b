//! Network faults on the ship link: `logship primary --ship-continuous` ships
//! to `logship standby` through `logship fault-proxy`, which drops the
//! connection, delays frames, splits them into small writes, duplicates chunk
//! frames, cuts the stream at random byte offsets or throttles bandwidth —
//! one kind per test, then all at once. Writes go on during the faults; every
//! run ends with the standby's applied LSN equal to the primary's durable LSN
//! and equal `DEBUG DIGEST`s. The counter a duplicated chunk would increment
//! twice is compared with the number of acknowledged INCRs.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use cluster::{assert_converged, Proxy};
use common::{init, key_file, Primary, Standby};
use std::time::{Duration, Instant};

/// How long writes run through the faults.
const WRITE_FOR: Duration = Duration::from_millis(1500);
/// How long writes may go on waiting for the faults under test to happen.
const FAULTS_WITHIN: Duration = Duration::from_secs(30);
/// How long the standby may take to catch up once writes stop.
const CONVERGE_WITHIN: Duration = Duration::from_secs(60);

/// What the writer saw acknowledged.
struct Written {
    sets: u64,
    incrs: u64,
    transactions: u64,
}

/// What the proxy logs when it injects each fault that happens only now and
/// then (the others act on every frame).
const OCCASIONAL: [(&str, &str); 3] = [
    ("drop", "dropped the connection"),
    ("cut", "cut the stream"),
    ("duplicate", "duplicated a chunk frame"),
];

/// SETs, INCRs of one counter and two-key transactions for `WRITE_FOR`, and
/// on (up to `FAULTS_WITHIN`) until the proxy has injected each occasional
/// fault of `faults` at least once, however fast the link keeps up.
fn write_load(p: &Primary, proxy: &Proxy, faults: &str) -> Written {
    let awaited: Vec<&str> = OCCASIONAL
        .iter()
        .filter(|(f, _)| faults.split(',').any(|x| x == *f))
        .map(|(_, line)| *line)
        .collect();
    let mut c = p.client();
    let mut w = Written {
        sets: 0,
        incrs: 0,
        transactions: 0,
    };
    let start = Instant::now();
    let mut i = 0u64;
    while start.elapsed() < WRITE_FOR
        || (start.elapsed() < FAULTS_WITHIN && !awaited.iter().all(|l| proxy.has_logged(l)))
    {
        i += 1;
        let () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(format!("v{i}-{}", "y".repeat((i % 300) as usize)))
            .query(&mut c)
            .expect("SET");
        w.sets += 1;
        if i % 3 == 0 {
            let n: u64 = redis::cmd("INCR")
                .arg("counter")
                .query(&mut c)
                .expect("INCR");
            w.incrs += 1;
            assert_eq!(n, w.incrs);
        }
        if i % 7 == 0 {
            let () = redis::pipe()
                .atomic()
                .cmd("SET")
                .arg("tx:a")
                .arg(i)
                .ignore()
                .cmd("SET")
                .arg("tx:b")
                .arg(i)
                .ignore()
                .query(&mut c)
                .expect("MULTI/EXEC");
            w.transactions += 1;
        }
    }
    w
}

/// One run through a proxy injecting `faults`; returns the proxy's and the
/// standby's logs.
fn run_with(faults: &str, seed: u64) -> (String, String) {
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    let key = key_file(t.path());
    init(&pdir, "64KiB");
    let mut s = Standby::start(&sdir, &key);
    let mut proxy = Proxy::start(&s.ship_addr, faults, seed);
    let flags = [
        "--ship-to",
        &proxy.addr,
        "--auth-key-file",
        key.to_str().unwrap(),
        "--ship-continuous",
    ];
    let mut p = Primary::start(&pdir, &flags);
    let w = write_load(&p, &proxy, faults);
    assert!(w.sets > 50, "only {} writes acknowledged", w.sets);
    let (lsn, _) = assert_converged(&pdir, &mut p.client(), &s, CONVERGE_WITHIN);
    assert!(lsn > 0);
    let on_standby: Option<u64> = redis::cmd("GET")
        .arg("counter")
        .query(&mut s.client())
        .expect("GET on the standby");
    assert_eq!(
        on_standby,
        Some(w.incrs),
        "the standby's counter differs from the acknowledged INCRs ({faults})"
    );
    p.stop();
    let proxy_log = proxy.stop();
    let standby_log = s.kill();
    eprintln!(
        "{faults}: {} SETs, {} INCRs, {} transactions, converged at {lsn:#x}",
        w.sets, w.incrs, w.transactions
    );
    (proxy_log, standby_log)
}

#[test]
fn dropped_connections_converge() {
    let (log, _) = run_with("drop", 11);
    assert!(log.contains("dropped the connection"), "{log}");
}

#[test]
fn delayed_frames_converge() {
    run_with("delay", 12);
}

#[test]
fn frames_split_into_small_writes_converge() {
    run_with("split", 13);
}

#[test]
fn duplicated_chunk_frames_are_refused_and_nothing_applies_twice() {
    let (log, standby_log) = run_with("duplicate", 14);
    let dups = log.matches("duplicated a chunk frame").count();
    assert!(dups > 0, "no frame was duplicated: {log}");
    assert!(
        standby_log.contains("gap") || standby_log.contains("Gap"),
        "the standby did not report the duplicate as a gap: {standby_log}"
    );
}

#[test]
fn cuts_at_random_offsets_converge() {
    let (log, _) = run_with("cut", 15);
    assert!(log.contains("cut the stream"), "{log}");
}

#[test]
fn throttled_bandwidth_converges() {
    run_with("throttle", 16);
}

#[test]
fn all_faults_at_once_converge() {
    run_with("drop,delay,split,duplicate,cut,throttle", 17);
}
