//! Links that always make progress, end to end through `logship fault-proxy`:
//! a link cut every 20–400 KB still converges (its chunks shrink to what gets
//! through), `--ship-max-rate` holds a link to its cap, and a far, slow link
//! (50 ms each way, 10 Mbit/s) keeps up with a steady load.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use cluster::{assert_converged, Proxy};
use common::{init, key_file, Primary, Standby};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::{Duration, Instant};

/// Bytes of each random (incompressible) value.
const VALUE_BYTES: usize = 128;

/// SETs `n` keys to random values, pipelined; returns the bytes of values.
fn write_random(c: &mut redis::Connection, from: u64, n: u64, seed: u64) -> u64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut pipe = redis::pipe();
    for i in from..from + n {
        let v: Vec<u8> = (0..VALUE_BYTES).map(|_| rng.gen()).collect();
        pipe.cmd("SET").arg(format!("k{i}")).arg(v).ignore();
        if (i - from) % 100 == 99 {
            let () = pipe.query(c).expect("SET pipeline");
            pipe = redis::pipe();
        }
    }
    let () = pipe.query(c).expect("SET pipeline");
    n * VALUE_BYTES as u64
}

/// One numeric field of a node's INFO.
fn info_u64(c: &mut redis::Connection, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").query(c).expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO:\n{info}"))
}

/// A primary shipping continuously to `to` with the shared key and `extra`.
fn primary_to(dir: &Path, to: &str, key: &Path, extra: &[&str]) -> Primary {
    let mut flags = vec![
        "--ship-to",
        to,
        "--auth-key-file",
        key.to_str().unwrap(),
        "--ship-continuous",
    ];
    flags.extend_from_slice(extra);
    Primary::start(dir, &flags)
}

/// A standby behind `logship fault-proxy`, and a primary's initialised data
/// directory that ships to it through the proxy.
struct Link {
    _tmp: tempfile::TempDir,
    pdir: std::path::PathBuf,
    key: std::path::PathBuf,
    s: Standby,
    proxy: Proxy,
}

impl Link {
    /// The proxy injects `faults` (with `seed` and `flags`).
    fn through(faults: &str, seed: u64, flags: &[&str]) -> Link {
        let tmp = tempfile::tempdir().unwrap();
        let pdir = tmp.path().join("p");
        let key = key_file(tmp.path());
        init(&pdir, "4MiB");
        let s = Standby::start(&tmp.path().join("s"), &key);
        let proxy = Proxy::start_with(&s.ship_addr, faults, seed, flags);
        Link {
            _tmp: tmp,
            pdir,
            key,
            s,
            proxy,
        }
    }

    /// A primary shipping continuously through the proxy, with `extra` flags.
    fn primary(&self, extra: &[&str]) -> Primary {
        primary_to(&self.pdir, &self.proxy.addr, &self.key, extra)
    }
}

#[test]
fn a_link_cut_every_20_to_400_kb_converges() {
    let mut l = Link::through("cut", 7, &["--cut-min", "20KiB", "--cut-within", "400KiB"]);
    let mut p = l.primary(&[]);
    let mut c = p.client();
    // About 2.5 MB of log that does not compress: with 1 MiB chunks, none
    // would ever get through whole.
    write_random(&mut c, 0, 16_000, 1);
    let started = Instant::now();
    assert_converged(&l.pdir, &mut c, &l.s, Duration::from_secs(90));
    eprintln!("converged {:?} after the last write", started.elapsed());
    p.stop();
    let log = l.proxy.stop();
    let cuts = log.matches("cut the stream").count();
    assert!(cuts > 0, "the proxy never cut the link:\n{log}");
    // The standby warns of the first cut in a row and then of every tenth,
    // as the primary does of its failed shipments: no line per cut.
    let standby_log = l.s.kill();
    let warned = standby_log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("shipment ended"))
        .count();
    eprintln!("{cuts} cuts, {warned} warnings on the standby");
    assert!(
        warned <= 1 + cuts / 10 + cuts / 20,
        "{warned} warnings for {cuts} cuts:\n{standby_log}"
    );
}

#[test]
fn a_capped_link_holds_its_rate() {
    // The link could carry 2 MiB/s; the cap is an eighth of that.
    let mut l = Link::through("throttle", 1, &["--throttle-per-sec", "2MiB"]);
    const CAP: u64 = 256 << 10;
    let mut p = l.primary(&["--ship-max-rate", "256KiB/s", "--compress", "none"]);
    let mut c = p.client();
    write_random(&mut c, 0, 10_000, 2);
    // Measure from when the writes are done to when the standby holds it all:
    // the backlog leaves at the cap's pace.
    let mut sc = l.s.client();
    let (t0, lsn0) = (Instant::now(), info_u64(&mut sc, "received_lsn"));
    let durable = common::durable_lsn(&l.pdir);
    let deadline = t0 + Duration::from_secs(60);
    let lsn1 = loop {
        let lsn = info_u64(&mut sc, "received_lsn");
        if lsn >= durable {
            break lsn;
        }
        assert!(Instant::now() < deadline, "stuck at {lsn} of {durable}");
        std::thread::sleep(Duration::from_millis(10));
    };
    let secs = t0.elapsed().as_secs_f64();
    let rate = (lsn1 - lsn0) as f64 / secs;
    eprintln!(
        "{} bytes in {secs:.2} s: {rate:.0} B/s, cap {CAP} B/s",
        lsn1 - lsn0
    );
    assert!(lsn1 - lsn0 > CAP, "too little left to measure");
    assert!(
        (rate - CAP as f64).abs() <= 0.10 * CAP as f64,
        "{rate:.0} B/s is not within 10% of the {CAP} B/s cap"
    );
    p.stop();
    l.proxy.stop();
}

#[test]
fn a_far_slow_link_keeps_up_with_a_steady_load() {
    // 50 ms each way, 10 Mbit/s.
    let mut l = Link::through(
        "latency,throttle",
        1,
        &["--latency", "50ms", "--throttle-per-sec", "1250000"],
    );
    let mut p = l.primary(&[]);
    let mut c = p.client();
    // 500 KB/s of values that do not compress, in 50 ms steps, for 6 s; the
    // primary's lag to this standby is sampled each step.
    let per_step = 500_000 / 20 / VALUE_BYTES as u64;
    let start = Instant::now();
    let mut lags = Vec::new();
    let mut i = 0;
    for step in 0..120u32 {
        write_random(&mut c, i, per_step, u64::from(step));
        i += per_step;
        let st = common::status_json(&l.pdir);
        lags.push(st["standbys"][0]["lag_bytes"].as_u64().unwrap_or(u64::MAX));
        let due = start + Duration::from_millis(50 * u64::from(step + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    let secs = start.elapsed().as_secs_f64();
    let (first_half, second_half) = lags.split_at(lags.len() / 2);
    let max1 = *first_half.iter().max().unwrap();
    let max2 = *second_half.iter().max().unwrap();
    eprintln!("{secs:.1} s of load; lag max {max1} B (first half), {max2} B (second half)");
    // Bounded: well under two seconds of load, and not growing.
    assert!(max2 < 1_000_000, "lag reached {max2} bytes");
    assert!(
        max2 <= max1.max(200_000) * 2,
        "lag grew: {max1} then {max2}"
    );
    assert_converged(&l.pdir, &mut c, &l.s, Duration::from_secs(30));
    p.stop();
    l.proxy.stop();
}

#[test]
fn a_one_shot_shipment_resumes_through_cuts_until_it_is_done() {
    let mut l = Link::through("cut", 11, &["--cut-min", "20KiB", "--cut-within", "400KiB"]);
    // A stopped primary's log, shipped from outside.
    let mut p = Primary::start(&l.pdir, &[]);
    write_random(&mut p.client(), 0, 12_000, 3);
    let durable = common::durable_lsn(&l.pdir);
    p.stop();
    // As the system's cron would run it: one process, one shipment.
    let out = common::logship(&[
        "ship",
        "--data-dir",
        l.pdir.to_str().unwrap(),
        "--to",
        &l.proxy.addr,
        "--auth-key-file",
        l.key.to_str().unwrap(),
        "--once",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains(" attempts (the link was cut "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.starts_with("shipped 0/0 .. "),
        "the range starts where the standby was: {}",
        out.stdout
    );
    assert_eq!(
        info_u64(&mut l.s.client(), "received_lsn"),
        durable,
        "{}",
        out.stdout
    );
    eprintln!("{}", out.stdout);
    l.proxy.stop();
}
