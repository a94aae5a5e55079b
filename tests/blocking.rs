//! Blocking pops against the real server: clients blocked on several keys
//! are woken in the order they blocked, by pushes from other clients,
//! transactions and blocking moves; timeouts; a fenced or stopping primary
//! tells its blocked clients; and a primary killed with -9 under blocked
//! consumers neither loses an element nor hands one out twice.

mod common;

use common::{init, key_file, Primary, Standby, BIN};
use redis::{cmd, Connection, RedisResult, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

fn start() -> (tempfile::TempDir, Primary) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    init(&d, "1MiB");
    let p = Primary::start(&d, &[]);
    (dir, p)
}

/// `blocked_clients` of INFO clients.
fn blocked(c: &mut Connection) -> usize {
    let info: String = cmd("INFO").arg("clients").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .unwrap_or_else(|| panic!("no blocked_clients in {info}"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits until `n` clients are blocked.
fn until_blocked(c: &mut Connection, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while blocked(c) != n {
        assert!(Instant::now() < deadline, "never {n} blocked clients");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `args` on a new connection to `addr` in a thread; selects `db` first.
fn blocked_call(addr: &str, db: i64, args: &[&str]) -> JoinHandle<RedisResult<Value>> {
    let mut c = common::redis_client(addr);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    thread::spawn(move || {
        let _: () = cmd("SELECT").arg(db).query(&mut c)?;
        let mut q = cmd(&args[0]);
        for a in &args[1..] {
            q.arg(a);
        }
        q.query(&mut c)
    })
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn key_elem(k: &str, e: &str) -> Value {
    Value::Array(vec![bulk(k), bulk(e)])
}

#[test]
fn blocked_clients_are_woken_first_blocked_first_by_any_write_that_fills_their_keys() {
    let (_d, p) = start();
    let mut c = p.client();

    // Three clients on one key, one of them on two keys: served in the
    // order they blocked, each from the key that was filled.
    let a = blocked_call(&p.addr, 0, &["BLPOP", "q", "0"]);
    until_blocked(&mut c, 1);
    let b = blocked_call(&p.addr, 0, &["BRPOP", "other", "q", "0"]);
    until_blocked(&mut c, 2);
    let d = blocked_call(&p.addr, 0, &["BLPOP", "q", "0"]);
    until_blocked(&mut c, 3);
    let n: i64 = cmd("RPUSH")
        .arg("q")
        .arg(&["1", "2"])
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 2, "the push replies with the length it made");
    assert_eq!(a.join().unwrap().unwrap(), key_elem("q", "1"));
    assert_eq!(b.join().unwrap().unwrap(), key_elem("q", "2"));
    until_blocked(&mut c, 1);
    // A transaction's pushes wake the third.
    let _: Value = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("x")
        .arg("y")
        .cmd("LPUSH")
        .arg("q")
        .arg("3")
        .query(&mut c)
        .unwrap();
    assert_eq!(d.join().unwrap().unwrap(), key_elem("q", "3"));
    assert_eq!(blocked(&mut c), 0);
    let len: i64 = cmd("LLEN").arg("q").query(&mut c).unwrap();
    assert_eq!(len, 0, "every pushed element was popped once");

    // A push in another database wakes a client of that database only.
    let e = blocked_call(&p.addr, 3, &["BLPOP", "dst", "0"]);
    until_blocked(&mut c, 1);
    let _: i64 = cmd("RPUSH").arg("dst").arg("db0").query(&mut c).unwrap();
    assert_eq!(blocked(&mut c), 1);
    let _: () = cmd("SELECT").arg(3).query(&mut c).unwrap();
    let _: i64 = cmd("RPUSH").arg("dst").arg("r").query(&mut c).unwrap();
    assert_eq!(e.join().unwrap().unwrap(), key_elem("dst", "r"));

    // A blocking move is served, and its push serves a client blocked on
    // its destination.
    let m = blocked_call(&p.addr, 3, &["BLMOVE", "from", "to", "LEFT", "RIGHT", "0"]);
    until_blocked(&mut c, 1);
    let t = blocked_call(
        &p.addr,
        3,
        &["BLMPOP", "0", "1", "to", "LEFT", "COUNT", "5"],
    );
    until_blocked(&mut c, 2);
    let _: i64 = cmd("RPUSH").arg("from").arg("m").query(&mut c).unwrap();
    assert_eq!(m.join().unwrap().unwrap(), bulk("m"));
    assert_eq!(
        t.join().unwrap().unwrap(),
        Value::Array(vec![bulk("to"), Value::Array(vec![bulk("m")])])
    );
    // A key of another type does not serve a list waiter: it keeps waiting.
    let w = blocked_call(&p.addr, 3, &["BLPOP", "s", "0.5"]);
    until_blocked(&mut c, 1);
    let _: () = cmd("SET").arg("s").arg("string").query(&mut c).unwrap();
    assert_eq!(blocked(&mut c), 1);
    assert_eq!(w.join().unwrap().unwrap(), Value::Nil);
}

#[test]
fn timeouts_transactions_and_errors() {
    let (_d, p) = start();
    let mut c = p.client();
    let t0 = Instant::now();
    let v: Value = cmd("BLPOP").arg("nokey").arg("0.3").query(&mut c).unwrap();
    let took = t0.elapsed();
    assert_eq!(v, Value::Nil);
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(blocked(&mut c), 0, "a timed-out client leaves the queue");
    // Inside MULTI a blocking pop does not block.
    let t0 = Instant::now();
    let v: Value = redis::pipe()
        .atomic()
        .cmd("BLPOP")
        .arg("nokey")
        .arg("0")
        .cmd("BZPOPMIN")
        .arg("nokey")
        .arg("0")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, Value::Array(vec![Value::Nil, Value::Nil]));
    assert!(t0.elapsed() < Duration::from_secs(2));
    let e = cmd("BLPOP")
        .arg("k")
        .arg("-1")
        .query::<Value>(&mut c)
        .unwrap_err();
    assert_eq!(e.detail(), Some("timeout is negative"), "{e}");
    let e = cmd("BLPOP")
        .arg("k")
        .arg("soon")
        .query::<Value>(&mut c)
        .unwrap_err();
    assert_eq!(
        e.detail(),
        Some("timeout is not a float or out of range"),
        "{e}"
    );
    // A client that leaves while blocked is not served: the element stays.
    let mut raw = std::net::TcpStream::connect(&p.addr).unwrap();
    use std::io::Write;
    raw.write_all(b"*3\r\n$5\r\nBLPOP\r\n$4\r\nleft\r\n$1\r\n0\r\n")
        .unwrap();
    until_blocked(&mut c, 1);
    drop(raw);
    let deadline = Instant::now() + Duration::from_secs(10);
    while blocked(&mut c) != 0 {
        assert!(Instant::now() < deadline, "the gone client stayed blocked");
        thread::sleep(Duration::from_millis(5));
    }
    let _: i64 = cmd("RPUSH").arg("left").arg("kept").query(&mut c).unwrap();
    let l: Vec<String> = cmd("LRANGE")
        .arg("left")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(l, ["kept"]);
}

#[test]
fn a_stopping_primary_tells_its_blocked_clients() {
    let (_d, mut p) = start();
    let mut c = p.client();
    let a = blocked_call(&p.addr, 0, &["BLPOP", "q", "0"]);
    until_blocked(&mut c, 1);
    p.stop();
    let e = a.join().unwrap().unwrap_err();
    assert!(
        e.to_string().contains("shutting down"),
        "a blocked client is told why: {e}"
    );
}

#[test]
fn a_fenced_primary_tells_its_blocked_clients_and_a_standby_refuses_them() {
    let root = tempfile::tempdir().unwrap();
    let key = key_file(root.path()).display().to_string();
    let (pdir, sdir) = (root.path().join("p"), root.path().join("s"));
    init(&pdir, "1MiB");
    let s = Standby::start(&sdir, Path::new(&key));
    let p = Primary::start(
        &pdir,
        &[
            "--ship-to",
            &s.ship_addr,
            "--auth-key-file",
            &key,
            "--ship-continuous",
        ],
    );
    // Served pops are records like any other: the standby replays them to
    // the same keyspace (and then has the primary's log: a promotion will go
    // ahead).
    let mut c = p.client();
    let m = blocked_call(&p.addr, 2, &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]);
    let w = blocked_call(&p.addr, 2, &["BLPOP", "dst", "0"]);
    until_blocked(&mut c, 2);
    let _: () = cmd("SELECT").arg(2).query(&mut c).unwrap();
    let _: i64 = cmd("RPUSH")
        .arg("src")
        .arg(&["a", "b", "c"])
        .query(&mut c)
        .unwrap();
    assert_eq!(m.join().unwrap().unwrap(), bulk("c"));
    assert_eq!(w.join().unwrap().unwrap(), key_elem("dst", "c"));
    common::wait_applied(&sdir, common::durable_lsn(&pdir), Duration::from_secs(20));
    let mut sc = s.client();
    assert_eq!(common::digest(&mut c), common::digest(&mut sc));
    let _: () = cmd("SELECT").arg(2).query(&mut sc).unwrap();
    let l: Vec<String> = cmd("LRANGE")
        .arg("src")
        .arg(0)
        .arg(-1)
        .query(&mut sc)
        .unwrap();
    assert_eq!(l, ["a", "b"]);
    let _: () = cmd("SELECT").arg(0).query(&mut c).unwrap();
    let e = cmd("BLPOP")
        .arg("q")
        .arg("0")
        .query::<Value>(&mut sc)
        .unwrap_err();
    assert_eq!(e.kind(), redis::ErrorKind::ReadOnly, "{e}");
    let a = blocked_call(&p.addr, 0, &["BLPOP", "q", "0"]);
    until_blocked(&mut c, 1);
    let out = logship::config::hermetic(BIN)
        .args(["promote", "--data-dir"])
        .arg(&sdir)
        .args(["--primary", &p.addr, "--auth-key-file", &key])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let e = a.join().unwrap().unwrap_err();
    assert!(e.to_string().contains("FENCED"), "{e}");
    // And a client that blocks after the fence is told at once.
    let e = cmd("BLPOP")
        .arg("q")
        .arg("0")
        .query::<Value>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("FENCED"), "{e}");
}

/// What the consumers saw: every element a client got a reply for, and how
/// many pops had no reply when the connection broke (at most one each).
#[derive(Default)]
struct Seen {
    popped: Vec<String>,
    unanswered: usize,
}

#[test]
fn kill_9_under_blocked_consumers_pops_nothing_twice_and_loses_nothing() {
    let (_d, mut p) = start();
    let addr = p.addr.clone();
    let mut c = p.client();
    // Idle consumers blocked on several keys when the primary dies: they
    // get an error, nothing is popped.
    let idle: Vec<_> = (0..3)
        .map(|i| blocked_call(&addr, 0, &["BLPOP", &format!("idle{i}"), "idle", "0"]))
        .collect();
    until_blocked(&mut c, 3);

    // Busy consumers on two queues while a producer pushes.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let consumers: Vec<_> = (0..4)
        .map(|i| {
            let (seen, stop, addr) = (seen.clone(), stop.clone(), addr.clone());
            thread::spawn(move || {
                let mut k = common::redis_client(&addr);
                let keys = if i % 2 == 0 {
                    ["qa", "qb"]
                } else {
                    ["qb", "qa"]
                };
                while !stop.load(Ordering::Relaxed) {
                    let r: RedisResult<Option<(String, String)>> = cmd("BLPOP")
                        .arg(keys[0])
                        .arg(keys[1])
                        .arg("0")
                        .query(&mut k);
                    match r {
                        Ok(Some((_, e))) => seen.lock().unwrap().popped.push(e),
                        Ok(None) => {}
                        Err(_) => {
                            seen.lock().unwrap().unanswered += 1;
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    let pushed = Arc::new(Mutex::new(Vec::<String>::new()));
    let producer = {
        let (pushed, addr) = (pushed.clone(), addr.clone());
        thread::spawn(move || {
            let mut k = common::redis_client(&addr);
            // Three elements a push, so that the queues grow.
            for i in (0..).step_by(3) {
                let e: Vec<String> = (i..i + 3).map(|j| format!("e{j}")).collect();
                let key = if i % 2 == 0 { "qb" } else { "qa" };
                let r: RedisResult<i64> = cmd("RPUSH").arg(key).arg(&e).query(&mut k);
                if r.is_err() {
                    return i + 2;
                }
                pushed.lock().unwrap().extend(e);
            }
            unreachable!()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().popped.len() < 300 {
        assert!(Instant::now() < deadline, "the consumers are not served");
        thread::sleep(Duration::from_millis(5));
    }
    // A burst the consumers cannot drain before the kill: some of it must
    // still be there after the restart.
    let burst: Vec<String> = (0..200).map(|i| format!("b{i}")).collect();
    let _: i64 = cmd("RPUSH").arg("qa").arg(&burst).query(&mut c).unwrap();
    pushed.lock().unwrap().extend(burst);
    p.kill();
    stop.store(true, Ordering::Relaxed);
    let attempted = producer.join().unwrap();
    for h in consumers {
        h.join().unwrap();
    }
    for h in idle {
        assert!(h.join().unwrap().is_err(), "an idle consumer got an answer");
    }

    let p = Primary::start(&p.dir, &[]);
    let mut c = p.client();
    let mut left: Vec<String> = Vec::new();
    for key in ["qa", "qb"] {
        let l: Vec<String> = cmd("LRANGE").arg(key).arg(0).arg(-1).query(&mut c).unwrap();
        left.extend(l);
    }
    for i in 0..3 {
        let n: i64 = cmd("EXISTS").arg(format!("idle{i}")).query(&mut c).unwrap();
        assert_eq!(n, 0);
    }
    let seen = seen.lock().unwrap();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for e in seen.popped.iter().chain(&left) {
        *count.entry(e).or_default() += 1;
    }
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "popped twice or popped and still there: {twice:?}"
    );
    let pushed = pushed.lock().unwrap();
    let acked: BTreeSet<&str> = pushed.iter().map(|s| s.as_str()).collect();
    let missing: Vec<&&str> = acked.iter().filter(|e| !count.contains_key(**e)).collect();
    // A pop made durable just before the kill, whose reply never left,
    // is gone with its client: one per consumer cut mid-request at most.
    assert!(
        missing.len() <= seen.unanswered,
        "{} acknowledged pushes neither popped nor kept ({missing:?}); {} pops unanswered",
        missing.len(),
        seen.unanswered
    );
    // Nothing appears that was never pushed (the one unacknowledged push
    // may or may not have made it).
    for e in count.keys().filter(|e| e.starts_with('e')) {
        let i: usize = e[1..].parse().unwrap();
        assert!(i <= attempted, "{e} was never pushed");
    }
    assert!(!left.is_empty(), "the burst was drained before the kill");
    eprintln!(
        "pushed {} (acknowledged), popped {} with a reply, {} left, {} unanswered at the kill, {} missing",
        acked.len(),
        seen.popped.len(),
        left.len(),
        seen.unanswered,
        missing.len()
    );
}
