//! kill -9 at random moments under a write load: no acknowledged write is ever
//! lost, counters never go behind an acknowledged value, transactions are all
//! or nothing. Bounded: 10 rounds of well under a second of load each.

mod common;

use common::{init, Primary};
use rand::{Rng, SeedableRng};
use redis::cmd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ROUNDS: usize = 10;
const WRITERS: usize = 4;

#[derive(Default, Clone)]
struct Acked {
    /// (round, writer, last acknowledged sequence number of plain SETs)
    sets: Vec<(usize, usize, u64)>,
    /// Last acknowledged INCR result per writer.
    counters: [i64; WRITERS],
    /// Incremented attempts per writer (an upper bound for the counter).
    counter_attempts: [i64; WRITERS],
    /// Last acknowledged transaction value per writer.
    tx: [i64; WRITERS],
}

fn value(round: usize, w: usize, seq: u64) -> String {
    format!("r{round}-w{w}-s{seq}-{}", "x".repeat((seq % 50) as usize))
}

fn writer(addr: String, round: usize, w: usize, acked: Arc<Mutex<Acked>>) {
    let Ok(client) = redis::Client::open(format!("redis://{addr}/")) else {
        return;
    };
    let Ok(mut c) = client.get_connection_with_timeout(Duration::from_secs(5)) else {
        return;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let mut seq = 0u64;
    let mut last = 0u64;
    for step in 0..100_000u64 {
        let r: redis::RedisResult<()> = if step % 5 == 4 {
            acked.lock().unwrap().counter_attempts[w] += 1;
            cmd("INCR")
                .arg(format!("counter:{w}"))
                .query::<i64>(&mut c)
                .map(|n| {
                    let mut a = acked.lock().unwrap();
                    a.counters[w] = a.counters[w].max(n);
                })
        } else if step % 7 == 6 {
            let v = (round as i64) * 1_000_000 + step as i64;
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(format!("tx:{w}:a"))
                .arg(v)
                .ignore()
                .cmd("SET")
                .arg(format!("tx:{w}:b"))
                .arg(v)
                .ignore()
                .query::<()>(&mut c)
                .map(|_| acked.lock().unwrap().tx[w] = v)
        } else {
            seq += 1;
            cmd("SET")
                .arg(format!("k:{round}:{w}:{seq}"))
                .arg(value(round, w, seq))
                .query::<()>(&mut c)
                .map(|_| last = seq)
        };
        if r.is_err() {
            break;
        }
    }
    acked.lock().unwrap().sets.push((round, w, last));
}

fn verify(p: &Primary, acked: &Acked) {
    let mut c = p.client();
    for &(round, w, last) in &acked.sets {
        let seqs: Vec<u64> = (1..=last).collect();
        for chunk in seqs.chunks(500) {
            let mut q = cmd("MGET");
            for s in chunk {
                q.arg(format!("k:{round}:{w}:{s}"));
            }
            let vals: Vec<Option<String>> = q.query(&mut c).unwrap();
            for (s, v) in chunk.iter().zip(vals) {
                assert_eq!(
                    v,
                    Some(value(round, w, *s)),
                    "acknowledged k:{round}:{w}:{s} lost"
                );
            }
        }
    }
    for w in 0..WRITERS {
        let n: Option<i64> = cmd("GET")
            .arg(format!("counter:{w}"))
            .query(&mut c)
            .unwrap();
        let n = n.unwrap_or(0);
        assert!(
            n >= acked.counters[w],
            "counter {w} is {n}, acknowledged {}",
            acked.counters[w]
        );
        assert!(
            n <= acked.counter_attempts[w],
            "counter {w} is {n} after {} attempts",
            acked.counter_attempts[w]
        );
        let (a, b): (Option<i64>, Option<i64>) = (
            cmd("GET").arg(format!("tx:{w}:a")).query(&mut c).unwrap(),
            cmd("GET").arg(format!("tx:{w}:b")).query(&mut c).unwrap(),
        );
        assert_eq!(a, b, "transaction {w} half applied");
        assert!(a.unwrap_or(0) >= acked.tx[w], "transaction {w} went back");
    }
}

#[test]
fn kill_9_under_load_never_loses_an_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    init(&d, "256KiB");
    let flags = ["--checkpoint-wal-bytes", "512KiB"];
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut p = Primary::start(&d, &flags);
    for round in 0..ROUNDS {
        let threads: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (addr, a) = (p.addr.clone(), acked.clone());
                std::thread::spawn(move || writer(addr, round, w, a))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.gen_range(50..400)));
        p.kill();
        for t in threads {
            t.join().unwrap();
        }
        p = Primary::start(&d, &flags);
        let snapshot = acked.lock().unwrap().clone();
        verify(&p, &snapshot);
    }
    let total: u64 = acked.lock().unwrap().sets.iter().map(|s| s.2).sum();
    assert!(total > 0, "the load generated no acknowledged writes");
    p.stop();
}
