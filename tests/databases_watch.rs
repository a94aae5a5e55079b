//! Numbered databases, WATCH, HELLO and --maxmemory against the real binary:
//! SELECT/MOVE/SWAPDB survive kill -9 and reach a standby in the right
//! databases; EXEC aborts when another client or an expiry changed a watched
//! key; HELLO answers as Redis 7 in RESP2; past --maxmemory a SET is refused
//! while GET and DEL are served.

mod common;

use common::{digest, durable_lsn, init, key_file, wait_applied, Primary, Standby};
use redis::{cmd, Connection, Value};
use std::time::Duration;

fn select(c: &mut Connection, db: u32) {
    let _: () = cmd("SELECT").arg(db).query(c).unwrap();
}

fn get(c: &mut Connection, key: &str) -> Option<String> {
    cmd("GET").arg(key).query(c).unwrap()
}

/// The value of `key` in each of the databases 0 to 15 that has it.
fn where_is(c: &mut Connection, key: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for db in 0..16 {
        select(c, db);
        if let Some(v) = get(c, key) {
            found.push((db, v));
        }
    }
    select(c, 0);
    found
}

#[test]
fn databases_survive_kill_9_and_reach_the_standby() {
    let t = tempfile::tempdir().unwrap();
    let key = key_file(t.path());
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    init(&pdir, "1MiB");
    let s = Standby::start(&sdir, &key);
    let mut p = Primary::start(
        &pdir,
        &[
            "--ship-to",
            &s.ship_addr,
            "--auth-key-file",
            key.to_str().unwrap(),
            "--ship-continuous",
        ],
    );
    let mut c = p.client();
    let _: () = cmd("SET").arg("zero").arg("0").query(&mut c).unwrap();
    select(&mut c, 3);
    let _: () = cmd("SET").arg("three").arg("3").query(&mut c).unwrap();
    let _: () = cmd("SET").arg("moving").arg("m").query(&mut c).unwrap();
    let _: () = cmd("SET")
        .arg("ttl")
        .arg("t")
        .arg("EX")
        .arg(1000)
        .query(&mut c)
        .unwrap();
    let moved: i64 = cmd("MOVE").arg("moving").arg(5).query(&mut c).unwrap();
    assert_eq!(moved, 1);
    let same = cmd("MOVE")
        .arg("three")
        .arg(3)
        .query::<i64>(&mut c)
        .unwrap_err();
    assert_eq!(
        same.detail(),
        Some("source and destination objects are the same")
    );
    let _: () = cmd("SWAPDB").arg(3).arg(7).query(&mut c).unwrap();
    let info: String = cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    assert!(info.contains("db0:keys=1,expires=0,avg_ttl=0"), "{info}");
    assert!(info.contains("db5:keys=1,expires=0,avg_ttl=0"), "{info}");
    assert!(info.contains("db7:keys=2,expires=1,avg_ttl=0"), "{info}");
    let client_line: String = cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
    assert!(client_line.contains("db=3"), "{client_line}");
    let expect = |c: &mut Connection| {
        assert_eq!(where_is(c, "zero"), [(0, "0".to_string())]);
        assert_eq!(where_is(c, "three"), [(7, "3".to_string())]);
        assert_eq!(where_is(c, "moving"), [(5, "m".to_string())]);
        assert_eq!(where_is(c, "ttl"), [(7, "t".to_string())]);
    };
    expect(&mut c);
    let primary_digest = digest(&mut c);
    // The standby serves every database.
    wait_applied(&sdir, durable_lsn(&pdir), Duration::from_secs(30));
    let mut sc = s.client();
    expect(&mut sc);
    assert_eq!(digest(&mut sc), primary_digest);
    let sinfo: String = cmd("INFO").query(&mut sc).unwrap();
    assert!(sinfo.contains("db7:keys=2,expires=1,avg_ttl=0"), "{sinfo}");
    // kill -9: everything acknowledged is there after recovery.
    p.kill();
    let p2 = Primary::start(&pdir, &[]);
    let mut c2 = p2.client();
    expect(&mut c2);
    assert_eq!(digest(&mut c2), primary_digest);
}

#[test]
fn exec_aborts_when_a_watched_key_changed_or_expired() {
    let t = tempfile::tempdir().unwrap();
    init(t.path(), "1MiB");
    let p = Primary::start(t.path(), &[]);
    let (mut a, mut b) = (p.client(), p.client());
    let exec = |c: &mut Connection| -> Value {
        let _: () = cmd("MULTI").query(c).unwrap();
        let _: () = cmd("SET").arg("out").arg("x").query(c).unwrap();
        cmd("EXEC").query(c).unwrap()
    };
    // Another client's write.
    let _: () = cmd("WATCH").arg("w").query(&mut a).unwrap();
    let _: () = cmd("SET").arg("w").arg("1").query(&mut b).unwrap();
    assert_eq!(exec(&mut a), Value::Nil);
    // Nothing changed: EXEC runs (EXEC unwatched the key).
    let _: () = cmd("WATCH").arg("w").query(&mut a).unwrap();
    assert_ne!(exec(&mut a), Value::Nil);
    // UNWATCH forgets.
    let _: () = cmd("WATCH").arg("w").query(&mut a).unwrap();
    let _: () = cmd("UNWATCH").query(&mut a).unwrap();
    let _: () = cmd("SET").arg("w").arg("2").query(&mut b).unwrap();
    assert_ne!(exec(&mut a), Value::Nil);
    // A key of another database is another key; FLUSHDB of it touches.
    select(&mut b, 2);
    let _: () = cmd("WATCH").arg("w").query(&mut a).unwrap();
    let _: () = cmd("SET").arg("w").arg("3").query(&mut b).unwrap();
    assert_ne!(exec(&mut a), Value::Nil);
    let _: () = cmd("WATCH").arg("w").query(&mut a).unwrap();
    let _: () = cmd("FLUSHALL").query(&mut b).unwrap();
    assert_eq!(exec(&mut a), Value::Nil);
    // Live when watched, expired by EXEC.
    let _: () = cmd("SET")
        .arg("e")
        .arg("1")
        .arg("PX")
        .arg(300)
        .query(&mut a)
        .unwrap();
    let _: () = cmd("WATCH").arg("e").query(&mut a).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(exec(&mut a), Value::Nil);
    // WATCH inside MULTI is refused without spoiling the transaction.
    let _: () = cmd("MULTI").query(&mut a).unwrap();
    let e = cmd("WATCH").arg("w").query::<()>(&mut a).unwrap_err();
    assert_eq!(e.detail(), Some("WATCH inside MULTI is not allowed"));
    let r: Value = cmd("EXEC").query(&mut a).unwrap();
    assert_eq!(r, Value::Array(vec![]));
}

#[test]
fn hello_answers_in_resp2_and_refuses_resp3() {
    let t = tempfile::tempdir().unwrap();
    init(t.path(), "1MiB");
    let p = Primary::start(t.path(), &[]);
    let mut c = p.client();
    let id: i64 = cmd("CLIENT").arg("ID").query(&mut c).unwrap();
    let r: Vec<Value> = cmd("HELLO")
        .arg(2)
        .arg("SETNAME")
        .arg("me")
        .query(&mut c)
        .unwrap();
    let text = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(n) => n.to_string(),
        Value::Array(a) => format!("{a:?}"),
        other => format!("{other:?}"),
    };
    let flat: Vec<String> = r.iter().map(text).collect();
    assert_eq!(
        flat,
        [
            "server",
            "redis",
            "version",
            "7.0.0",
            "proto",
            "2",
            "id",
            &id.to_string(),
            "mode",
            "standalone",
            "role",
            "master",
            "modules",
            "[]"
        ]
    );
    let name: String = cmd("CLIENT").arg("GETNAME").query(&mut c).unwrap();
    assert_eq!(name, "me");
    let e = cmd("HELLO").arg(3).query::<Value>(&mut c).unwrap_err();
    assert_eq!(e.code(), Some("NOPROTO"), "{e:?}");
}

#[test]
fn past_maxmemory_a_set_is_refused_but_get_and_del_are_served() {
    let t = tempfile::tempdir().unwrap();
    init(t.path(), "1MiB");
    // A running primary holds more than a megabyte (buffers, tables).
    let p = Primary::start(t.path(), &["--maxmemory", "1mb"]);
    let mut c = p.client();
    let e = cmd("SET")
        .arg("k")
        .arg("v")
        .query::<()>(&mut c)
        .unwrap_err();
    assert_eq!(e.code(), Some("OOM"), "{e:?}");
    assert_eq!(
        e.detail(),
        Some("command not allowed when used memory > 'maxmemory'.")
    );
    assert_eq!(get(&mut c, "k"), None);
    let n: i64 = cmd("DEL").arg("k").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let info: String = cmd("INFO").arg("memory").query(&mut c).unwrap();
    assert!(info.contains("maxmemory:1048576\r\n"), "{info}");
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(used > 1 << 20, "{info}");
}
