//! Commands, their errors, transactions and expiry against the real server.

mod common;

use common::{init, Primary};
use redis::{cmd, RedisResult, Value};
use std::time::Duration;

fn start() -> (tempfile::TempDir, Primary) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    init(&d, "1MiB");
    let p = Primary::start(&d, &[]);
    (dir, p)
}

fn err_text<T: std::fmt::Debug>(r: RedisResult<T>) -> String {
    let e = r.expect_err("expected an error reply");
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
}

#[test]
fn string_commands_and_errors_match_redis() {
    let (_d, p) = start();
    let mut c = p.client();
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    let echo: String = cmd("ECHO").arg("hi").query(&mut c).unwrap();
    assert_eq!(echo, "hi");
    let _: () = cmd("SELECT").arg(15).query(&mut c).unwrap();
    let _: () = cmd("SELECT").arg(0).query(&mut c).unwrap();
    assert_eq!(
        err_text(cmd("SELECT").arg(16).query::<()>(&mut c)),
        "ERR DB index is out of range"
    );
    let _: () = cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let v: String = cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v");
    assert_eq!(
        err_text(cmd("GET").query::<()>(&mut c)),
        "ERR wrong number of arguments for 'get' command"
    );
    assert!(err_text(cmd("NOSUCH").arg("x").query::<()>(&mut c))
        .starts_with("ERR unknown command 'NOSUCH'"));
    assert_eq!(
        err_text(
            cmd("SET")
                .arg("k")
                .arg("v")
                .arg("BOGUS")
                .query::<()>(&mut c)
        ),
        "ERR syntax error"
    );
    assert_eq!(
        err_text(cmd("INCR").arg("k").query::<i64>(&mut c)),
        "ERR value is not an integer or out of range"
    );
    let n: i64 = cmd("INCRBY").arg("n").arg(5).query(&mut c).unwrap();
    assert_eq!(n, 5);
    let n: i64 = cmd("DECRBY").arg("n").arg(7).query(&mut c).unwrap();
    assert_eq!(n, -2);
    let n: i64 = cmd("APPEND").arg("k").arg("xyz").query(&mut c).unwrap();
    assert_eq!(n, 4);
    let n: i64 = cmd("STRLEN").arg("k").query(&mut c).unwrap();
    assert_eq!(n, 4);
    let old: Option<String> = cmd("SET")
        .arg("k")
        .arg("new")
        .arg("GET")
        .query(&mut c)
        .unwrap();
    assert_eq!(old.as_deref(), Some("vxyz"));
    let set: Option<String> = cmd("SET")
        .arg("k")
        .arg("x")
        .arg("NX")
        .query(&mut c)
        .unwrap();
    assert_eq!(set, None);
    let n: i64 = cmd("SETNX").arg("fresh").arg("1").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let old: String = cmd("GETSET").arg("fresh").arg("2").query(&mut c).unwrap();
    assert_eq!(old, "1");
    let old: String = cmd("GETDEL").arg("fresh").query(&mut c).unwrap();
    assert_eq!(old, "2");
    let _: () = cmd("MSET")
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .query(&mut c)
        .unwrap();
    let vals: Vec<Option<String>> = cmd("MGET")
        .arg("a")
        .arg("zz")
        .arg("b")
        .query(&mut c)
        .unwrap();
    assert_eq!(vals, vec![Some("1".into()), None, Some("2".into())]);
    let n: i64 = cmd("EXISTS")
        .arg("a")
        .arg("b")
        .arg("zz")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 2);
    let t: String = cmd("TYPE").arg("a").query(&mut c).unwrap();
    assert_eq!(t, "string");
    let mut keys: Vec<String> = cmd("KEYS").arg("*").query(&mut c).unwrap();
    keys.sort();
    assert_eq!(keys, vec!["a", "b", "k", "n"]);
    let (cursor, found): (String, Vec<String>) = cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg("[ab]")
        .arg("COUNT")
        .arg(1000)
        .query(&mut c)
        .unwrap();
    assert_eq!(cursor, "0");
    assert_eq!(found.len(), 2);
    let n: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 4);
    let n: i64 = cmd("DEL")
        .arg("a")
        .arg("b")
        .arg("zz")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 2);
    let n: i64 = cmd("UNLINK").arg("k").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let _: () = cmd("FLUSHALL").query(&mut c).unwrap();
    let n: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let info: String = cmd("INFO").arg("replication").query(&mut c).unwrap();
    assert!(info.contains("role:primary"), "{info}");
    assert!(info.contains("timeline:1"), "{info}");
    assert!(info.contains("durable_lsn:"), "{info}");
    let cfg: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("appendfsync")
        .query(&mut c)
        .unwrap();
    assert_eq!(cfg, vec!["appendfsync", "always"]);
    let _: () = cmd("CLIENT")
        .arg("SETNAME")
        .arg("tester")
        .query(&mut c)
        .unwrap();
    let name: String = cmd("CLIENT").arg("GETNAME").query(&mut c).unwrap();
    assert_eq!(name, "tester");
    let _: Value = cmd("COMMAND").arg("DOCS").query(&mut c).unwrap();
}

#[test]
fn a_value_too_large_for_one_wal_record_is_refused_clearly() {
    let (_d, p) = start();
    let mut c = p.client();
    let big = vec![b'x'; 17 << 20];
    let e = err_text(cmd("SET").arg("big").arg(&big[..]).query::<()>(&mut c));
    assert!(e.contains("write too large"), "{e}");
    let v: Option<String> = cmd("GET").arg("big").query(&mut c).unwrap();
    assert_eq!(v, None, "a refused write leaves nothing behind");
    let ok: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(ok, "PONG");
}

#[test]
fn transactions_are_all_or_nothing() {
    let (_d, p) = start();
    let mut c = p.client();
    let (a, b, n): (String, String, i64) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("x")
        .arg("1")
        .ignore()
        .cmd("GETSET")
        .arg("x")
        .arg("2")
        .cmd("GET")
        .arg("x")
        .cmd("INCR")
        .arg("x")
        .query(&mut c)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((a.as_str(), b.as_str(), n), ("1", "2", 3));
    // A queued command with the wrong arity aborts the whole transaction.
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    let q: String = cmd("SET").arg("y").arg("1").query(&mut c).unwrap();
    assert_eq!(q, "QUEUED");
    assert!(cmd("GET").query::<()>(&mut c).is_err());
    let e = err_text(cmd("EXEC").query::<()>(&mut c));
    assert!(e.starts_with("EXECABORT"), "{e}");
    let y: Option<String> = cmd("GET").arg("y").query(&mut c).unwrap();
    assert_eq!(y, None);
    // A transaction whose record would be too large changes nothing.
    let half = vec![b'y'; 9 << 20];
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    let _: String = cmd("SET").arg("p").arg(&half[..]).query(&mut c).unwrap();
    let _: String = cmd("SET").arg("q").arg(&half[..]).query(&mut c).unwrap();
    let e = err_text(cmd("EXEC").query::<()>(&mut c));
    assert!(e.contains("write too large"), "{e}");
    let n: i64 = cmd("EXISTS").arg("p").arg("q").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    let _: String = cmd("SET").arg("d").arg("1").query(&mut c).unwrap();
    let _: () = cmd("DISCARD").query(&mut c).unwrap();
    let n: i64 = cmd("EXISTS").arg("d").query(&mut c).unwrap();
    assert_eq!(n, 0);
    assert_eq!(
        err_text(cmd("EXEC").query::<()>(&mut c)),
        "ERR EXEC without MULTI"
    );
}

#[test]
fn expired_keys_disappear_and_are_deleted_through_the_log() {
    let (_d, mut p) = start();
    let mut c = p.client();
    let _: () = cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(150)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("SET")
        .arg("long")
        .arg("v")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("SET")
        .arg("swept")
        .arg("v")
        .arg("PX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let ttl: i64 = cmd("TTL").arg("long").query(&mut c).unwrap();
    assert!((99..=100).contains(&ttl), "{ttl}");
    let pttl: i64 = cmd("PTTL").arg("short").query(&mut c).unwrap();
    assert!((1..=150).contains(&pttl), "{pttl}");
    let n: i64 = cmd("EXPIRE").arg("long").arg(200).query(&mut c).unwrap();
    assert_eq!(n, 1);
    let n: i64 = cmd("PERSIST").arg("long").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let ttl: i64 = cmd("TTL").arg("long").query(&mut c).unwrap();
    assert_eq!(ttl, -1);
    std::thread::sleep(Duration::from_millis(300));
    let v: Option<String> = cmd("GET").arg("short").query(&mut c).unwrap();
    assert_eq!(v, None);
    let ttl: i64 = cmd("TTL").arg("short").query(&mut c).unwrap();
    assert_eq!(ttl, -2);
    // The active sweep removes keys nobody reads, with a logged delete.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = cmd("DBSIZE").query(&mut c).unwrap();
        if n == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expired keys not swept: dbsize {n}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let n: i64 = cmd("EXPIREAT").arg("long").arg(1).query(&mut c).unwrap();
    assert_eq!(n, 1, "an expiry in the past deletes the key");
    let _: () = cmd("SET").arg("kept").arg("v").query(&mut c).unwrap();
    drop(c);
    // After a crash, replay brings back the same keys: the deletes were logged.
    p.kill();
    let p2 = Primary::start(&p.dir, &[]);
    let mut c = p2.client();
    let mut keys: Vec<String> = cmd("KEYS").arg("*").query(&mut c).unwrap();
    keys.sort();
    assert_eq!(keys, vec!["kept"]);
    let n: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 1);
}
