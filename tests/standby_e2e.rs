//! The standby process end to end: seeded from the primary's snapshot, replays
//! the shipped log, answers reads, refuses writes, reports status, and resumes
//! after kill -9 without losing or double-applying anything.

mod common;

use common::{digest, init, key_file, status_json, Primary, Standby, KEY};
use logship::fs::StdFs;
use logship::ship::protocol::seed::{Seed, SeedSource};
use logship::ship::{ship, Acked, AuthKey, LogSource, ShipMode, ShipOptions};
use logship::wal::{scan_dir, Position};
use redis::Commands;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The primary's newest snapshot, for seeding.
struct Snapshots(PathBuf);

impl SeedSource for Snapshots {
    fn latest(&self) -> std::io::Result<Option<Seed>> {
        let list =
            logship::store::snapshot::list(&StdFs, &self.0).map_err(std::io::Error::other)?;
        let Some((lsn, path)) = list.last().cloned() else {
            return Ok(None);
        };
        let total_bytes = std::fs::metadata(&path)?.len();
        Ok(Some(Seed {
            lsn,
            total_bytes,
            reader: Box::new(std::fs::File::open(path)?),
        }))
    }
}

/// Ships everything on disk in `pdir` (a stopped primary) to `addr`.
fn ship_all(pdir: &Path, addr: &str) -> u64 {
    let wal_dir = pdir.join("wal");
    let report = scan_dir(&StdFs, &wal_dir).unwrap();
    let (_tx, position) = watch::channel(Position {
        written_lsn: report.end_lsn,
        durable_lsn: report.end_lsn,
        ..Position::default()
    });
    let src = LogSource {
        fs: StdFs::shared(),
        wal_dir,
        system_id: report.system_id.unwrap(),
        timeline: report.timeline().unwrap(),
        position,
        seed: Some(Arc::new(Snapshots(pdir.join("snapshots")))),
        taps: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (acked, _) = watch::channel(Acked::default());
    let opts = ShipOptions::new(addr, Some(AuthKey::from_bytes(KEY.as_bytes())));
    let r = rt
        .block_on(ship(&src, &opts, ShipMode::Once, &acked))
        .unwrap();
    assert_eq!(r.to_lsn, report.end_lsn);
    report.end_lsn
}

fn status(dir: &Path) -> serde_json::Value {
    status_json(dir)
}

fn wait_applied(dir: &Path, lsn: u64) -> serde_json::Value {
    common::wait_applied(dir, lsn, Duration::from_secs(30))
}

#[test]
fn a_new_standby_is_seeded_replays_serves_reads_and_survives_kill_9() {
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    let key_file = key_file(t.path());
    init(&pdir, "64KiB");
    let mut p = Primary::start(
        &pdir,
        &["--checkpoint-wal-bytes", "256KiB", "--keep-snapshots", "1"],
    );
    {
        let mut c = p.client();
        for i in 0..3000 {
            let _: () = c
                .set(format!("k{i}"), format!("v{i}-{}", "x".repeat(i % 50)))
                .unwrap();
        }
        for _ in 0..25 {
            let _: i64 = c.incr("counter", 1).unwrap();
        }
        let _: () = c.del("k7").unwrap();
    }
    p.stop();
    let oldest = logship::wal::scan::list_segments(&StdFs, &pdir.join("wal")).unwrap()[0].first_lsn;
    assert!(
        oldest > 0,
        "the primary's retention removed old segments, so the standby must be seeded"
    );

    let mut s = Standby::start(&sdir, &key_file);
    let end = ship_all(&pdir, &s.ship_addr);
    let st = wait_applied(&sdir, end);
    assert_eq!(st["role"], "standby");
    assert_eq!(st["received_lsn"], end);
    assert_eq!(st["lag_bytes"], 0);
    assert_eq!(st["lag_seconds"], 0.0);
    assert_eq!(st["system_id"].as_str().unwrap().len(), 16);

    let mut c = s.client();
    for i in (0..3000).step_by(7).filter(|i| *i != 7) {
        let v: String = c.get(format!("k{i}")).unwrap();
        assert_eq!(v, format!("v{i}-{}", "x".repeat(i % 50)));
    }
    assert_eq!(c.get::<_, Option<String>>("k7").unwrap(), None);
    assert_eq!(c.get::<_, i64>("counter").unwrap(), 25);
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 3000);
    let e = c.set::<_, _, ()>("x", "y").unwrap_err();
    assert_eq!(e.kind(), redis::ErrorKind::ReadOnly, "{e}");
    assert!(
        e.to_string()
            .contains("You can't write against a read only standby"),
        "{e}"
    );
    let info: String = redis::cmd("INFO").arg("replication").query(&mut c).unwrap();
    assert!(info.contains("role:slave"), "{info}");

    // kill -9, restart: the state comes back from the standby's own files.
    std::thread::sleep(Duration::from_millis(1500)); // let a checkpoint happen
    s.kill();
    let off = status(&sdir);
    assert_eq!(off["running"], false);
    assert_eq!(off["received_lsn"], end);
    assert_eq!(
        off["primary_durable_lsn"], end,
        "the primary's last position is kept in primary.position: {off}"
    );
    let s2 = Standby::start(&sdir, &key_file);
    wait_applied(&sdir, end);
    let mut c = s2.client();
    assert_eq!(c.get::<_, i64>("counter").unwrap(), 25);
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 3000);

    // The primary writes more; shipping again continues where the standby is.
    let mut p = Primary::start(&pdir, &[]);
    {
        let mut c = p.client();
        for _ in 0..10 {
            let _: i64 = c.incr("counter", 1).unwrap();
        }
    }
    p.stop();
    let end2 = ship_all(&pdir, &s2.ship_addr);
    wait_applied(&sdir, end2);
    assert_eq!(c.get::<_, i64>("counter").unwrap(), 35);
}

/// `logship bench lag` against a continuous standby, with its background
/// load: every sample is a value read back on the standby, the load is held
/// at the rate asked (never above it), and what it wrote reaches the standby.
#[test]
fn bench_lag_samples_a_continuous_standby_under_a_held_load() {
    let d = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (d.path().join("p"), d.path().join("s"));
    init(&pdir, "4MiB");
    let standby = Standby::start_with(&sdir, &["--insecure-no-auth"]);
    let primary = Primary::start_shipping(&pdir, &standby.ship_addr, &["--ship-continuous"]);
    let rate = 2000.0;
    let out = common::logship(&[
        "bench",
        "lag",
        "--primary",
        &primary.addr,
        "--standby",
        &standby.addr,
        "--samples",
        "300",
        "--duration",
        "60s",
        "--load-rate",
        "2000",
        "--load-connections",
        "4",
        "--load-keyspace",
        "1000",
        "--json",
    ]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    let r = &out.json_lines()[0];
    assert_eq!(r["samples"], 300, "{r}");
    let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
    assert!(f("p50_us") > 0.0 && f("p50_us") <= f("p99_us"), "{r}");
    assert!(f("p99_us") <= f("max_us"), "{r}");
    assert!(f("get_rtt_p50_us") > 0.0, "{r}");
    assert!(f("get_rtt_p50_us") <= f("get_rtt_p99_us"), "{r}");
    let load = &r["load"];
    let achieved = load["writes_per_second"].as_f64().unwrap();
    assert!(achieved <= rate * 1.01, "faster than asked: {load}");
    assert!(achieved >= rate * 0.5, "far slower than asked: {load}");
    // 300 sample keys and up to 1000 load keys, on both sides.
    let mut p = primary.client();
    let keys: u64 = redis::cmd("DBSIZE").query(&mut p).unwrap();
    assert!(keys > 300 + 300, "the load wrote few keys: {keys}");
    let mut s = standby.client();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let on_standby: u64 = redis::cmd("DBSIZE").query(&mut s).unwrap();
        if on_standby == keys {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "standby holds {on_standby} keys, the primary {keys}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A standby that stopped in the middle of being re-seeded — the primary's
/// snapshot already installed in its snapshots/ (and part of a second one in
/// the seed's temporary file), its received log still the old one from before
/// the gap — starts, is seeded again, and ends with the primary's keyspace.
#[test]
fn a_standby_stopped_between_installing_a_seed_and_restarting_its_log_recovers() {
    let d = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (d.path().join("p"), d.path().join("s"));
    init(&pdir, "64KiB");
    let mut standby = Standby::start_with(&sdir, &["--insecure-no-auth"]);
    let ship_addr = standby.ship_addr.clone();
    let flags = [&["--ship-every", "200ms"][..], &common::SMALL_RETENTION].concat();
    let mut primary = Primary::start_shipping(&pdir, &ship_addr, &flags);
    let mut c = primary.client();
    for i in 0..200 {
        let _: () = c.set(format!("early:{i}"), i).unwrap();
    }
    let durable = status(&pdir)["durable_lsn"].as_u64().unwrap();
    wait_applied(&sdir, durable);
    standby.kill();
    let received = status(&sdir)["received_lsn"].as_u64().unwrap();

    // The standby falls out of the retained WAL.
    let value = "v".repeat(400);
    for i in 0..2000 {
        let _: () = c.set(format!("late:{i}"), &value).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let st = status(&pdir);
        if st["standbys"][0]["needs_reseed"] == true {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never flagged: {st}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let oldest = scan_dir(&StdFs, &pdir.join("wal"))
        .unwrap()
        .first_lsn
        .unwrap();
    assert!(received < oldest, "{received:#x} vs oldest {oldest:#x}");

    // What a seed leaves when the standby stops after installing the snapshot
    // and before restarting its received log there.
    let snaps = logship::store::snapshot::list(&StdFs, &pdir.join("snapshots")).unwrap();
    let (snap_lsn, snap) = snaps.last().cloned().expect("a snapshot");
    let bytes = std::fs::read(&snap).unwrap();
    std::fs::write(
        sdir.join("snapshots").join(snap.file_name().unwrap()),
        &bytes,
    )
    .unwrap();
    std::fs::write(
        sdir.join("snapshots").join("incoming.seed.tmp"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    assert!(snap_lsn > received);

    let mut standby = Standby::start_on(&sdir, &ship_addr, &["--insecure-no-auth"]);
    for i in 0..50 {
        let _: () = c.set(format!("after:{i}"), i).unwrap();
    }
    let durable = status(&pdir)["durable_lsn"].as_u64().unwrap();
    wait_applied(&sdir, durable);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while status(&sdir)["received_lsn"].as_u64() != Some(durable) {
        assert!(std::time::Instant::now() < deadline, "{}", status(&sdir));
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut s = standby.client();
    assert_eq!(digest(&mut s), digest(&mut c));
    let n: u64 = redis::cmd("DBSIZE").query(&mut s).unwrap();
    assert_eq!(n, 200 + 2000 + 50);
    let pst = status(&pdir);
    assert!(
        pst["standbys"][0]["seeded_total"].as_u64().unwrap() >= 1,
        "{pst}"
    );
    primary.stop();
    let log = standby.kill();
    assert!(log.contains("removed the partial seed snapshot"), "{log}");
    assert!(log.contains("seeded from the primary's snapshot"), "{log}");
}

/// Sends `requests` (whole RESP frames) on a new connection to `addr` and
/// returns the first `reply_bytes` bytes answered.
fn raw_exchange(addr: &str, requests: Vec<u8>, reply_bytes: usize) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || w.write_all(&requests).unwrap());
    let mut got = vec![0; reply_bytes];
    s.read_exact(&mut got).unwrap();
    sender.join().unwrap();
    got
}

/// One frame of a request, e.g. `frame(&["GET", "k"])`.
fn frame(args: &[&str]) -> Vec<u8> {
    let mut b = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        b.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    b
}

/// A transaction holds at most `MAX_QUEUED_COMMANDS` on a standby as on a
/// primary, one command more aborts EXEC on both, and a write queued on a
/// standby is refused and aborts EXEC too.
#[test]
fn a_transaction_has_the_same_limit_on_primary_and_standby() {
    use logship::resp::session::MAX_QUEUED_COMMANDS;
    let d = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (d.path().join("p"), d.path().join("s"));
    init(&pdir, "1MiB");
    let p = Primary::start(&pdir, &[]);
    let s = Standby::start(&sdir, &key_file(d.path()));
    let mut over = frame(&["MULTI"]);
    let get = frame(&["GET", "k"]);
    for _ in 0..=MAX_QUEUED_COMMANDS {
        over.extend_from_slice(&get);
    }
    over.extend_from_slice(&frame(&["EXEC"]));
    let want = [
        "+OK\r\n".to_string(),
        "+QUEUED\r\n".repeat(MAX_QUEUED_COMMANDS),
        format!(
            "-ERR too many commands in one transaction (the limit is {MAX_QUEUED_COMMANDS})\r\n"
        ),
        "-EXECABORT Transaction discarded because of previous errors.\r\n".to_string(),
    ]
    .concat();
    for addr in [&p.addr, &s.addr] {
        let got = raw_exchange(addr, over.clone(), want.len());
        assert!(got == want.as_bytes(), "{addr} answered otherwise");
    }
    let tx = [
        frame(&["MULTI"]),
        frame(&["SET", "k", "v"]),
        frame(&["GET", "k"]),
        frame(&["EXEC"]),
        frame(&["GET", "k"]),
    ]
    .concat();
    let want = "+OK\r\n-READONLY You can't write against a read only standby.\r\n+QUEUED\r\n\
                -EXECABORT Transaction discarded because of previous errors.\r\n$-1\r\n";
    let got = raw_exchange(&s.addr, tx, want.len());
    assert_eq!(String::from_utf8_lossy(&got), want);
}
