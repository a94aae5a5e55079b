//! Crash torture with the real binaries.
//!
//! Primary rounds: `logship primary --fsync always` under a load from a few
//! threads (SETs of unique keys with known values, INCR counters, MULTI/EXEC
//! transactions setting three keys together) is killed with SIGKILL at a
//! random moment and restarted on the same directory; then every acknowledged
//! SET must be there with its value, every transaction all or nothing and not
//! older than the last acknowledged one, every counter at least its last
//! acknowledged value and at most that plus the INCRs in flight.
//!
//! Standby rounds: a primary ships continuously to a standby that is killed
//! with SIGKILL at random moments while writes go on and restarted on its
//! address; at the end, with writes stopped, the standby's applied LSN must
//! equal the primary's durable LSN and the `DEBUG DIGEST`s must be equal.
//!
//! Bounded for CI (20 primary and 5 standby rounds). `tools/torture.sh` runs
//! the same tests for long runs through the environment:
//! `TORTURE_ROUNDS`, `TORTURE_STANDBY_ROUNDS`, `TORTURE_SEED` (each run prints
//! the seed it used, so a failure is reproducible). Each test prints one
//! `torture:` summary line.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use cluster::{assert_converged, restart_standby};
use common::{init, key_file, Primary, Standby};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::cmd;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WRITERS: usize = 3;
/// Keys one transaction sets together.
const TX_KEYS: [&str; 3] = ["a", "b", "c"];
/// The load of one round stops by itself after this many steps per writer.
const MAX_STEPS: u64 = 200_000;

/// A count from the environment, or `default`.
fn env_count(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// The seed from `TORTURE_SEED`, or one from the clock; printed either way.
fn seed(what: &str) -> u64 {
    let s = env_count(
        "TORTURE_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    );
    eprintln!("torture {what}: seed {s} (rerun with TORTURE_SEED={s})");
    s
}

/// What one writer saw acknowledged, and what it had in flight.
#[derive(Debug, Default, Clone)]
struct Ledger {
    /// Last acknowledged sequence number of the plain SETs of this round.
    last_set: u64,
    /// Last acknowledged INCR result.
    counter_acked: i64,
    /// INCRs sent whose reply never came (at most 1: one connection, no pipelining).
    counter_in_flight: i64,
    /// Value of the last acknowledged transaction.
    tx_acked: i64,
    /// Value of a transaction sent whose reply never came.
    tx_in_flight: Option<i64>,
}

fn set_value(round: u64, w: usize, seq: u64) -> String {
    format!("r{round}-w{w}-s{seq}-{}", "v".repeat((seq % 64) as usize))
}

fn set_key(round: u64, w: usize, seq: u64) -> String {
    format!("k:{round}:{w}:{seq}")
}

/// One writer's load until the server goes away. Counters and transaction
/// values continue from `ledger` across rounds.
fn writer(addr: String, round: u64, w: usize, ledger: Arc<Mutex<Ledger>>, seed: u64) {
    let Ok(client) = redis::Client::open(format!("redis://{addr}/")) else {
        return;
    };
    let Ok(mut c) = client.get_connection_with_timeout(Duration::from_secs(5)) else {
        return;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seq = 0u64;
    for _ in 0..MAX_STEPS {
        let pick = rng.gen_range(0..10);
        let ok = if pick < 2 {
            ledger.lock().unwrap().counter_in_flight += 1;
            match cmd("INCR").arg(format!("counter:{w}")).query::<i64>(&mut c) {
                Ok(n) => {
                    let mut l = ledger.lock().unwrap();
                    l.counter_in_flight -= 1;
                    assert!(n > l.counter_acked, "INCR went back: {n}");
                    l.counter_acked = n;
                    true
                }
                Err(_) => false,
            }
        } else if pick < 3 {
            let v = {
                let mut l = ledger.lock().unwrap();
                let v = l.tx_acked.max(l.tx_in_flight.unwrap_or(0)) + 1;
                l.tx_in_flight = Some(v);
                v
            };
            let mut p = redis::pipe();
            p.atomic();
            for k in TX_KEYS {
                p.cmd("SET").arg(format!("tx:{w}:{k}")).arg(v).ignore();
            }
            match p.query::<()>(&mut c) {
                Ok(()) => {
                    let mut l = ledger.lock().unwrap();
                    l.tx_acked = v;
                    l.tx_in_flight = None;
                    true
                }
                Err(_) => false,
            }
        } else {
            seq += 1;
            match cmd("SET")
                .arg(set_key(round, w, seq))
                .arg(set_value(round, w, seq))
                .query::<()>(&mut c)
            {
                Ok(()) => {
                    ledger.lock().unwrap().last_set = seq;
                    true
                }
                Err(_) => false,
            }
        };
        if !ok {
            return;
        }
    }
}

/// Checks one writer's ledger against the restarted primary; returns the
/// number of acknowledged writes checked and the number lost.
fn check(c: &mut redis::Connection, round: u64, w: usize, l: &Ledger) -> (u64, u64) {
    let mut lost = 0u64;
    let seqs: Vec<u64> = (1..=l.last_set).collect();
    for chunk in seqs.chunks(500) {
        let mut q = cmd("MGET");
        for s in chunk {
            q.arg(set_key(round, w, *s));
        }
        let vals: Vec<Option<String>> = q.query(c).expect("MGET");
        for (s, v) in chunk.iter().zip(vals) {
            if v.as_deref() != Some(set_value(round, w, *s).as_str()) {
                eprintln!("LOST: acknowledged {} is {v:?}", set_key(round, w, *s));
                lost += 1;
            }
        }
    }
    let n: Option<i64> = cmd("GET")
        .arg(format!("counter:{w}"))
        .query(c)
        .expect("GET");
    let n = n.unwrap_or(0);
    if n < l.counter_acked || n > l.counter_acked + l.counter_in_flight {
        eprintln!(
            "LOST: counter:{w} is {n}, acknowledged {} with {} in flight",
            l.counter_acked, l.counter_in_flight
        );
        lost += 1;
    }
    let mut q = cmd("MGET");
    for k in TX_KEYS {
        q.arg(format!("tx:{w}:{k}"));
    }
    let tx: Vec<Option<i64>> = q.query(c).expect("MGET");
    let all_same = tx.iter().all(|v| *v == tx[0]);
    let v = tx[0].unwrap_or(0);
    let allowed = v == l.tx_acked || Some(v) == l.tx_in_flight;
    if !all_same || !allowed {
        eprintln!(
            "LOST: transaction {w} reads {tx:?}, acknowledged {} (in flight {:?})",
            l.tx_acked, l.tx_in_flight
        );
        lost += 1;
    }
    (l.last_set + 2, lost)
}

/// The saved copies of torn segments in `wal_dir`.
fn broken_copies(wal_dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(wal_dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".broken"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn primary_survives_kill_9_at_random_moments() {
    let rounds = env_count("TORTURE_ROUNDS", 20);
    let seed = seed("primary");
    let mut rng = StdRng::seed_from_u64(seed);
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("data");
    init(&d, "256KiB");
    let flags = ["--fsync", "always", "--checkpoint-wal-bytes", "1MiB"];
    let ledgers: Vec<Arc<Mutex<Ledger>>> = (0..WRITERS).map(|_| Arc::default()).collect();
    // (round, writer, last acknowledged SET) of every round, for the final check.
    let mut history: Vec<(u64, usize, u64)> = Vec::new();
    let (mut checked, mut lost, mut torn) = (0u64, 0u64, 0usize);
    let mut seen_broken = BTreeSet::new();
    let started = Instant::now();
    let mut p = Primary::start(&d, &flags);
    for round in 0..rounds {
        let threads: Vec<_> = ledgers
            .iter()
            .enumerate()
            .map(|(w, l)| {
                l.lock().unwrap().last_set = 0;
                let (addr, l, s) = (p.addr.clone(), l.clone(), rng.gen());
                std::thread::spawn(move || writer(addr, round, w, l, s))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..300)));
        p.kill();
        for th in threads {
            th.join().expect("writer thread");
        }
        p = Primary::start(&d, &flags);
        let broken = broken_copies(&d.join("wal"));
        torn += broken.difference(&seen_broken).count();
        seen_broken = broken;
        let mut c = p.client();
        for (w, l) in ledgers.iter().enumerate() {
            let mut l = l.lock().unwrap();
            let (n, bad) = check(&mut c, round, w, &l);
            checked += n;
            lost += bad;
            history.push((round, w, l.last_set));
            // What was in flight is now settled: read it back as acknowledged.
            let n: Option<i64> = cmd("GET")
                .arg(format!("counter:{w}"))
                .query(&mut c)
                .unwrap();
            l.counter_acked = n.unwrap_or(0);
            l.counter_in_flight = 0;
            let v: Option<i64> = cmd("GET").arg(format!("tx:{w}:a")).query(&mut c).unwrap();
            l.tx_acked = v.unwrap_or(0);
            l.tx_in_flight = None;
        }
    }
    // Nothing acknowledged in an earlier round went missing in a later crash.
    let mut c = p.client();
    for &(round, w, last) in &history {
        let l = Ledger {
            last_set: last,
            ..ledgers[w].lock().unwrap().clone()
        };
        lost += check(&mut c, round, w, &l).1;
    }
    p.stop();
    println!(
        "torture: primary rounds={rounds} kills={rounds} acked_checked={checked} lost={lost} torn_tails_repaired={torn} seed={seed} secs={}",
        started.elapsed().as_secs()
    );
    assert_eq!(lost, 0, "acknowledged writes lost (seed {seed})");
    assert!(
        checked > rounds * 10,
        "the load acknowledged too little: {checked}"
    );
}

#[test]
fn standby_survives_kill_9_while_writes_go_on() {
    let rounds = env_count("TORTURE_STANDBY_ROUNDS", 5);
    let seed = seed("standby");
    let mut rng = StdRng::seed_from_u64(seed);
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    let key = key_file(t.path());
    init(&pdir, "256KiB");
    let mut s = Standby::start(&sdir, &key);
    let ship_addr = s.ship_addr.clone();
    let flags = [
        "--fsync",
        "always",
        "--ship-to",
        &ship_addr,
        "--auth-key-file",
        key.to_str().unwrap(),
        "--ship-continuous",
    ];
    let mut p = Primary::start(&pdir, &flags);
    let started = Instant::now();
    let ledgers: Vec<Arc<Mutex<Ledger>>> = (0..WRITERS).map(|_| Arc::default()).collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = ledgers
        .iter()
        .enumerate()
        .map(|(w, l)| {
            let (addr, l, s, stop) = (p.addr.clone(), l.clone(), rng.gen(), stop.clone());
            std::thread::spawn(move || steady_writer(addr, w, l, s, stop))
        })
        .collect();
    for _ in 0..rounds {
        std::thread::sleep(Duration::from_millis(rng.gen_range(100..800)));
        s.kill();
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..300)));
        s = restart_standby(&sdir, &ship_addr, &key);
    }
    std::thread::sleep(Duration::from_millis(rng.gen_range(100..500)));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for th in threads {
        th.join().expect("writer thread");
    }
    let (lsn, digest) = assert_converged(&pdir, &mut p.client(), &s, Duration::from_secs(60));
    let counters: Vec<i64> = ledgers
        .iter()
        .map(|l| l.lock().unwrap().counter_acked)
        .collect();
    let mut c = s.client();
    for (w, want) in counters.iter().enumerate() {
        let n: Option<i64> = cmd("GET")
            .arg(format!("counter:{w}"))
            .query(&mut c)
            .unwrap();
        assert_eq!(n.unwrap_or(0), *want, "counter:{w} on the standby");
    }
    p.stop();
    println!(
        "torture: standby rounds={rounds} kills={rounds} converged_lsn={lsn:#x} digest={} seed={seed} secs={}",
        &digest[..16],
        started.elapsed().as_secs()
    );
}

/// Writes (SETs, INCRs, transactions) until `stop`; the primary stays up, so
/// every write must succeed.
fn steady_writer(
    addr: String,
    w: usize,
    l: Arc<Mutex<Ledger>>,
    seed: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut c = common::redis_client(&addr);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seq = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) && seq < MAX_STEPS {
        seq += 1;
        let () = cmd("SET")
            .arg(set_key(0, w, seq))
            .arg(set_value(0, w, seq))
            .query(&mut c)
            .expect("SET on the primary");
        match rng.gen_range(0..8) {
            0 => {
                let n: i64 = cmd("INCR")
                    .arg(format!("counter:{w}"))
                    .query(&mut c)
                    .expect("INCR");
                l.lock().unwrap().counter_acked = n;
            }
            1 => {
                let mut p = redis::pipe();
                p.atomic();
                for k in TX_KEYS {
                    p.cmd("SET").arg(format!("tx:{w}:{k}")).arg(seq).ignore();
                }
                let () = p.query(&mut c).expect("MULTI/EXEC");
            }
            _ => {}
        }
    }
    l.lock().unwrap().last_set = seq;
}
