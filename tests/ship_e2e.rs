//! Primary → standby end to end with the real binaries: a Redis client writes to
//! `logship primary`, which ships to `logship standby`; the standby's whole
//! keyspace must equal the primary's once it has applied the primary's durable
//! LSN — on a schedule, continuously, and across kill -9 of either side. Also:
//! the refusals a primary reports (wrong key, another system) and the
//! standby's start-up errors.

mod common;

use common::{
    durable_lsn, init, key_file, key_file_at, logship, status_json, wait_applied,
    wait_standby_status, Primary, Standby,
};
use redis::Commands;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Every key and its value, read with SCAN and GET.
fn keyspace(c: &mut redis::Connection) -> BTreeMap<String, Vec<u8>> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    for _ in 0..1_000_000 {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(500)
            .query(c)
            .expect("SCAN");
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(cursor, 0, "SCAN did not finish");
    keys.into_iter()
        .map(|k| {
            let v: Vec<u8> = c.get(&k).expect("GET");
            (k, v)
        })
        .collect()
}

/// Waits until the primary has nothing unacknowledged by its standby, then until
/// the standby has applied the primary's durable LSN; compares the keyspaces.
fn assert_converged(p: &Primary, s: &Standby) -> BTreeMap<String, Vec<u8>> {
    let end = durable_lsn(&p.dir);
    let st = wait_applied(&s.dir, end, Duration::from_secs(60));
    assert!(st["received_lsn"].as_u64().unwrap() >= end, "{st}");
    let on_primary = keyspace(&mut p.client());
    let on_standby = keyspace(&mut s.client());
    assert_eq!(on_primary.len(), on_standby.len());
    assert!(on_primary == on_standby, "keyspaces differ");
    on_standby
}

fn write_mix(p: &Primary, n: usize) {
    let mut c = p.client();
    for i in 0..n {
        let _: () = c
            .set(format!("k{i}"), format!("v{i}-{}", "x".repeat(i % 200)))
            .unwrap();
        if i % 10 == 0 {
            let _: i64 = c.incr("counter", 1).unwrap();
        }
        if i % 17 == 0 && i > 0 {
            let _: () = c.del(format!("k{}", i - 1)).unwrap();
        }
    }
}

fn converges_with(schedule: &[&str]) {
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    let key = key_file(t.path());
    init(&pdir, "64KiB");
    let s = Standby::start(&sdir, &key);
    let mut flags = vec![
        "--ship-to",
        &s.ship_addr,
        "--auth-key-file",
        key.to_str().unwrap(),
    ];
    flags.extend_from_slice(schedule);
    let mut p = Primary::start(&pdir, &flags);
    write_mix(&p, 3000);
    let ks = assert_converged(&p, &s);
    assert!(ks.len() > 2500, "{} keys", ks.len());
    let st = status_json(&s.dir);
    assert_eq!(st["keys"], ks.len() as u64, "{st}");
    // The human forms docs/monitoring.md shows.
    let text = logship(&["status", "--data-dir", s.dir.to_str().unwrap()]);
    assert_eq!(text.code, Some(0), "{text:#?}");
    assert!(
        text.stdout.starts_with("role:           standby\n"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("\napplied LSN:    0/"),
        "{}",
        text.stdout
    );
    let text = logship(&["status", "--data-dir", p.dir.to_str().unwrap()]);
    assert!(
        text.stdout.starts_with("role:           primary\n"),
        "{}",
        text.stdout
    );
    let line = format!("standby {}: acked 0/", s.ship_addr);
    assert!(text.stdout.contains(&line), "{}", text.stdout);
    // More writes after the first catch-up also arrive.
    {
        let mut c = p.client();
        for i in 0..200 {
            let _: () = c.set(format!("late{i}"), i).unwrap();
        }
    }
    let ks = assert_converged(&p, &s);
    assert_eq!(ks.get("late199").map(|v| v.as_slice()), Some(&b"199"[..]));
    p.stop();
}

#[test]
fn shipping_every_second_makes_the_standby_keyspace_equal() {
    converges_with(&["--ship-every", "1s"]);
}

#[test]
fn continuous_shipping_makes_the_standby_keyspace_equal() {
    converges_with(&["--ship-continuous"]);
}

/// Writes `w{i}` = `v{i}` from `first` on until the primary stops answering (or
/// `limit` writes); returns the indices it saw acknowledged.
fn writer(addr: String, first: usize, limit: usize) -> std::thread::JoinHandle<Vec<usize>> {
    std::thread::spawn(move || {
        let mut acked = Vec::new();
        let Ok(client) = redis::Client::open(format!("redis://{addr}/")) else {
            return acked;
        };
        let Ok(mut c) = client.get_connection_with_timeout(Duration::from_secs(10)) else {
            return acked;
        };
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        for i in first..first + limit {
            match c.set::<_, _, ()>(format!("w{i}"), format!("v{i}")) {
                Ok(()) => acked.push(i),
                Err(_) => break,
            }
        }
        acked
    })
}

#[test]
fn kill_9_of_the_standby_then_of_the_primary_mid_shipment_loses_nothing() {
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    let key = key_file(t.path());
    let key_s = key.to_str().unwrap();
    init(&pdir, "64KiB");
    let mut s = Standby::start(&sdir, &key);
    let ship_addr = s.ship_addr.clone();
    let flags = [
        "--ship-to",
        &ship_addr,
        "--auth-key-file",
        key_s,
        "--ship-every",
        "200ms",
    ];
    let mut p = Primary::start(&pdir, &flags);

    // Writes run while the standby is killed and comes back on the same address.
    let w1 = writer(p.addr.clone(), 0, 1_000_000);
    std::thread::sleep(Duration::from_millis(1200));
    let before = status_json(&sdir);
    assert!(
        before["received_lsn"].as_u64().unwrap() > 0,
        "nothing shipped yet: {before}"
    );
    s.kill();
    std::thread::sleep(Duration::from_millis(500));
    let s = Standby::restart_on(&sdir, &ship_addr, &["--auth-key-file", key_s]);
    std::thread::sleep(Duration::from_millis(1200));

    // kill -9 of the primary while writes and shipments run.
    p.kill();
    let mut acked = w1.join().unwrap();
    assert!(
        acked.len() > 100,
        "only {} writes before the kill",
        acked.len()
    );
    let mut p = Primary::start(&pdir, &flags);
    let next = acked.last().map_or(0, |i| i + 1);
    acked.extend(writer(p.addr.clone(), next, 2000).join().unwrap());

    let ks = assert_converged(&p, &s);
    for i in &acked {
        assert_eq!(
            ks.get(&format!("w{i}")).map(|v| v.as_slice()),
            Some(format!("v{i}").as_bytes()),
            "acknowledged write w{i} is missing on the standby"
        );
    }
    p.stop();
}

/// Polls the primary's status (bounded) until its first standby's last
/// failure reason is `reason`; returns that standby's entry.
fn wait_failure(p: &Primary, reason: &str) -> serde_json::Value {
    wait_standby_status(&p.dir, Duration::from_secs(30), |sb| {
        sb["last_error_reason"] == reason
    })
}

#[test]
fn a_standby_with_the_wrong_key_is_reported_and_receives_nothing() {
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    let key = key_file(t.path());
    let other = key_file_at(
        &t.path().join("other.key"),
        "a-different-key-of-some-length",
    );
    init(&pdir, "64KiB");
    let s = Standby::start(&sdir, &other);
    let mut p = Primary::start(
        &pdir,
        &[
            "--ship-to",
            &s.ship_addr,
            "--auth-key-file",
            key.to_str().unwrap(),
            "--ship-every",
            "200ms",
        ],
    );
    write_mix(&p, 100);
    let sb = wait_failure(&p, "auth");
    let result = sb["last_ship_result"].as_str().unwrap();
    assert!(result.starts_with("error:"), "{sb}");
    assert_eq!(sb["acked_lsn"], 0, "{sb}");
    let st = status_json(&sdir);
    assert_eq!(st["received_lsn"], 0, "{st}");
    assert_eq!(st["system_id"], "", "{st}");
    let n: i64 = redis::cmd("DBSIZE").query(&mut s.client()).unwrap();
    assert_eq!(n, 0);
    // Stopping, the primary tries its final shipment once more, and does not
    // wait out the final shipment's 10 s for a standby a retry cannot win over.
    let stopping = Instant::now();
    let log = p.stop();
    assert!(
        log.contains("not waiting for the standby's final shipment")
            && log.contains("reason=\"auth\""),
        "{log}"
    );
    assert!(
        stopping.elapsed() < Duration::from_secs(8),
        "stopping took {:?}:\n{log}",
        stopping.elapsed()
    );
}

#[test]
fn a_standby_of_another_system_refuses_its_primary() {
    let t = tempfile::tempdir().unwrap();
    let (adir, bdir, sdir) = (t.path().join("a"), t.path().join("b"), t.path().join("s"));
    let key = key_file(t.path());
    let key_s = key.to_str().unwrap();
    init(&adir, "64KiB");
    init(&bdir, "64KiB");
    let s = Standby::start(&sdir, &key);
    let mut a = Primary::start(
        &adir,
        &[
            "--ship-to",
            &s.ship_addr,
            "--auth-key-file",
            key_s,
            "--ship-continuous",
        ],
    );
    write_mix(&a, 300);
    let from_a = assert_converged(&a, &s);
    let a_sid = status_json(&adir)["system_id"].clone();
    a.stop();

    let mut b = Primary::start(
        &bdir,
        &[
            "--ship-to",
            &s.ship_addr,
            "--auth-key-file",
            key_s,
            "--ship-every",
            "200ms",
        ],
    );
    {
        let mut c = b.client();
        let _: () = c.set("from-b", "1").unwrap();
    }
    let sb = wait_failure(&b, "system_id");
    assert!(
        sb["last_ship_result"]
            .as_str()
            .unwrap()
            .starts_with("error:"),
        "{sb}"
    );
    assert_ne!(status_json(&bdir)["system_id"], a_sid);
    let st = status_json(&sdir);
    assert_eq!(st["system_id"], a_sid, "{st}");
    assert_eq!(keyspace(&mut s.client()), from_a);
    b.stop();
}

#[test]
fn bad_standby_input_is_one_clear_line() {
    let t = tempfile::tempdir().unwrap();
    let sdir = t.path().join("s").display().to_string();
    let out = logship(&[
        "standby",
        "--data-dir",
        &sdir,
        "--ship-listen",
        "127.0.0.1:0",
    ]);
    let line = out.assert_one_line_error(78);
    assert!(line.contains("--auth-key-file"), "{line}");

    let short = key_file_at(&t.path().join("short.key"), "short");
    let out = logship(&[
        "standby",
        "--data-dir",
        &sdir,
        "--ship-listen",
        "127.0.0.1:0",
        "--listen",
        "127.0.0.1:0",
        "--auth-key-file",
        short.to_str().unwrap(),
    ]);
    let line = out.assert_one_line_error(78);
    assert!(line.contains(short.to_str().unwrap()), "{line}");
    assert!(line.contains("at least 16"), "{line}");

    let pdir = t.path().join("p");
    init(&pdir, "64KiB");
    let key = key_file(t.path());
    let out = logship(&[
        "standby",
        "--data-dir",
        pdir.to_str().unwrap(),
        "--ship-listen",
        "127.0.0.1:0",
        "--listen",
        "127.0.0.1:0",
        "--auth-key-file",
        key.to_str().unwrap(),
    ]);
    let line = out.assert_one_line_error(1);
    assert!(line.contains(pdir.to_str().unwrap()), "{line}");
    assert!(line.contains("primary"), "{line}");
}

#[test]
fn swapped_ports_are_named_on_both_sides() {
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    let key = key_file(t.path());
    init(&pdir, "64KiB");
    let mut s = Standby::start(&sdir, &key);

    // Shipping to the standby's RESP address: a Redis server never greets.
    let out = logship(&[
        "ship",
        "--data-dir",
        pdir.to_str().unwrap(),
        "--to",
        &s.addr,
        "--auth-key-file",
        key.to_str().unwrap(),
        "--once",
    ]);
    let line = out.assert_one_line_error(1);
    assert!(line.contains(&s.addr), "{line}");
    assert!(line.contains("greeting"), "{line}");
    assert!(line.contains("--ship-listen"), "{line}");

    // A Redis client on the ship address gets no answer, and the standby
    // says what came in.
    let ping: redis::RedisResult<String> = redis::Client::open(format!("redis://{}/", s.ship_addr))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
        .and_then(|mut c| redis::cmd("PING").query(&mut c));
    assert!(ping.is_err(), "{ping:?}");
    // The standby still serves its own clients.
    let n: i64 = redis::cmd("DBSIZE").query(&mut s.client()).unwrap();
    assert_eq!(n, 0);
    // It logs the refusal as soon as it has read the client's first bytes,
    // which were sent before the client read the greeting it choked on.
    std::thread::sleep(Duration::from_millis(300));
    let log = s.kill();
    assert!(
        log.contains("the peer sent text") && log.contains("not a ship frame"),
        "{log}"
    );

    // One address for both is refused before anything starts.
    let out = logship(&[
        "standby",
        "--data-dir",
        sdir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:7",
        "--ship-listen",
        "127.0.0.1:7",
        "--auth-key-file",
        key.to_str().unwrap(),
    ]);
    let line = out.assert_one_line_error(78);
    assert!(
        line.contains("--listen and --ship-listen are both 127.0.0.1:7"),
        "{line}"
    );
}
