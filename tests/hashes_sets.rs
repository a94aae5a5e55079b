//! Hashes and sets end to end: written on a primary, shipped to a standby
//! that serves them read-only, recovered by the primary after kill -9; and
//! the replies compared with a real redis-server's, command by command.

mod common;

use common::{digest, init, status_json, wait_applied, Primary, Standby};
use redis::{cmd, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Writes hashes and sets with every write command, checkpointing on the way.
fn write_hashes_and_sets(c: &mut redis::Connection) {
    for i in 0..400 {
        let _: () = cmd("HSET")
            .arg(format!("h{}", i % 20))
            .arg(format!("f{i}"))
            .arg(format!("v{i}"))
            .arg("n")
            .arg(i)
            .query(c)
            .unwrap();
        let _: () = cmd("SADD")
            .arg(format!("s{}", i % 20))
            .arg(format!("m{i}"))
            .arg(format!("m{}", i + 1))
            .query(c)
            .unwrap();
    }
    for i in 0..20 {
        let _: i64 = cmd("HINCRBY")
            .arg(format!("h{i}"))
            .arg("n")
            .arg(-3)
            .query(c)
            .unwrap();
        let _: String = cmd("HINCRBYFLOAT")
            .arg(format!("h{i}"))
            .arg("x")
            .arg("0.25")
            .query(c)
            .unwrap();
        let _: i64 = cmd("HSETNX")
            .arg(format!("h{i}"))
            .arg("nx")
            .arg(i)
            .query(c)
            .unwrap();
        let _: i64 = cmd("HDEL")
            .arg(format!("h{i}"))
            .arg(format!("f{i}"))
            .query(c)
            .unwrap();
        let _: i64 = cmd("SREM")
            .arg(format!("s{i}"))
            .arg(format!("m{i}"))
            .query(c)
            .unwrap();
        let _: Value = cmd("SPOP").arg(format!("s{i}")).arg(3).query(c).unwrap();
    }
    let _: i64 = cmd("SMOVE")
        .arg("s1")
        .arg("moved")
        .arg("m21")
        .query(c)
        .unwrap();
    let _: i64 = cmd("SINTERSTORE")
        .arg("inter")
        .arg("s1")
        .arg("s2")
        .query(c)
        .unwrap();
    let _: i64 = cmd("SUNIONSTORE")
        .arg("union")
        .arg("s1")
        .arg("s2")
        .arg("s3")
        .query(c)
        .unwrap();
    let _: i64 = cmd("SDIFFSTORE")
        .arg("diff")
        .arg("union")
        .arg("s2")
        .query(c)
        .unwrap();
    let _: () = cmd("HMSET").arg("gone").arg("a").arg(1).query(c).unwrap();
    let _: i64 = cmd("HDEL").arg("gone").arg("a").query(c).unwrap();
    let _: i64 = cmd("PEXPIRE").arg("h19").arg(1).query(c).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let _: Value = cmd("HGET").arg("h19").arg("n").query(c).unwrap();
}

#[test]
fn hashes_and_sets_reach_a_standby_and_survive_kill_9() {
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    init(&pdir, "64KiB");
    let standby = Standby::start_with(
        &sdir,
        &["--insecure-no-auth", "--checkpoint-interval", "1s"],
    );
    let mut p = Primary::start_shipping(
        &pdir,
        &standby.ship_addr,
        &["--ship-continuous", "--checkpoint-wal-bytes", "64KiB"],
    );
    let mut c = p.client();
    write_hashes_and_sets(&mut c);
    let want = digest(&mut c);
    let durable = status_json(&pdir)["durable_lsn"].as_u64().unwrap();
    wait_applied(&sdir, durable, Duration::from_secs(60));

    let mut s = standby.client();
    assert_eq!(
        digest(&mut s),
        want,
        "the standby holds what the primary holds"
    );
    let exists: i64 = cmd("EXISTS").arg("gone").arg("h19").query(&mut s).unwrap();
    assert_eq!(
        exists, 0,
        "emptied and expired keys are gone on the standby too"
    );
    let h: Vec<String> = cmd("HGETALL").arg("h3").query(&mut c).unwrap();
    let hs: Vec<String> = cmd("HGETALL").arg("h3").query(&mut s).unwrap();
    assert_eq!(pairs(h), pairs(hs));
    for name in ["SMEMBERS", "SCARD", "TYPE"] {
        for key in ["s5", "inter", "union", "diff", "moved"] {
            let a: Value = cmd(name).arg(key).query(&mut c).unwrap();
            let b: Value = cmd(name).arg(key).query(&mut s).unwrap();
            assert_eq!(sorted(a), sorted(b), "{name} {key}");
        }
    }
    let n: i64 = cmd("SINTERCARD")
        .arg(2)
        .arg("union")
        .arg("s1")
        .query(&mut s)
        .unwrap();
    assert!(n > 0);
    let r: Vec<String> = cmd("SRANDMEMBER").arg("s4").arg(-5).query(&mut s).unwrap();
    assert_eq!(r.len(), 5, "random reads are served by the standby");
    let scanned: (String, Vec<String>) = cmd("SSCAN")
        .arg("union")
        .arg(0)
        .arg("COUNT")
        .arg(1000)
        .query(&mut s)
        .unwrap();
    assert_eq!(scanned.0, "0");
    let card: usize = cmd("SCARD").arg("union").query(&mut s).unwrap();
    assert_eq!(scanned.1.len(), card);
    for write in [
        cmd("HSET").arg("h1").arg("a").arg("b").clone(),
        cmd("HDEL").arg("h1").arg("n").clone(),
        cmd("SADD").arg("s1").arg("x").clone(),
        cmd("SPOP").arg("s1").clone(),
        cmd("SMOVE").arg("s1").arg("s2").arg("m1").clone(),
        cmd("SUNIONSTORE").arg("d").arg("s1").clone(),
    ] {
        let e = write.query::<Value>(&mut s).unwrap_err();
        assert_eq!(e.kind(), redis::ErrorKind::ReadOnly, "{e}");
    }
    assert_eq!(digest(&mut s), want);

    // kill -9: the primary recovers the same keyspace from its snapshot and log.
    drop(c);
    p.kill();
    let p2 = Primary::start(&pdir, &[]);
    let mut c = p2.client();
    assert_eq!(digest(&mut c), want, "recovery replays the same effects");
    let n: i64 = cmd("HGET").arg("h2").arg("n").query(&mut c).unwrap();
    assert_eq!(n, 382 - 3);
}

/// Field–value pairs of an `HGETALL` reply, sorted.
fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = flat
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    v.sort();
    v
}

/// `v` with its array elements sorted (a reply in no particular order).
fn sorted(v: Value) -> Value {
    match v {
        Value::Array(mut items) => {
            items.sort_by_key(|i| format!("{i:?}"));
            Value::Array(items)
        }
        v => v,
    }
}

/// A redis-server on a free port, stopped when dropped.
struct RedisServer {
    child: std::process::Child,
    addr: String,
}

impl RedisServer {
    /// `None` when no `redis-server` is installed.
    fn start() -> Option<RedisServer> {
        let addr = common::free_addr();
        let port = addr.rsplit(':').next().unwrap().to_string();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server never listened on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(RedisServer { child, addr })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Commands whose replies list members in no particular order.
const UNORDERED: &[&str] = &[
    "HKEYS",
    "HVALS",
    "HRANDFIELD",
    "SMEMBERS",
    "SINTER",
    "SUNION",
    "SDIFF",
    "SPOP",
    "SRANDMEMBER",
];

/// A reply as text that does not depend on the order of unordered replies.
fn canonical(line: &str, r: redis::RedisResult<Value>) -> String {
    let name = line.split(' ').next().unwrap_or("");
    let paired = name == "HGETALL" || line.ends_with("WITHVALUES");
    match r {
        Err(e) => format!(
            "error {} {}",
            e.code().unwrap_or(""),
            e.detail().unwrap_or("")
        ),
        Ok(Value::Array(items)) if paired => {
            let mut p: Vec<String> = items.chunks(2).map(|p| format!("{p:?}")).collect();
            p.sort();
            format!("pairs {p:?}")
        }
        Ok(v) if UNORDERED.contains(&name) => format!("{:?}", sorted(v)),
        Ok(v) => format!("{v:?}"),
    }
}

/// Commands with a reply that does not depend on chance or on the server's
/// layout: each is run against both servers and the replies compared.
const SCRIPT: &[&str] = &[
    "SET str x",
    "HSET h a 1 b 2 a 3",
    "HSET h a",
    "HSET h a 1 b",
    "HMSET h c 3",
    "HMSET h c",
    "HSETNX h a 9",
    "HSETNX h z 9",
    "HGET h a",
    "HGET h nope",
    "HGET nokey a",
    "HGET str a",
    "HMGET h a nope c",
    "HMGET nokey a b",
    "HMGET str a",
    "HLEN h",
    "HLEN nokey",
    "HSTRLEN h a",
    "HSTRLEN h nope",
    "HEXISTS h a",
    "HEXISTS h nope",
    "HKEYS h",
    "HVALS h",
    "HGETALL h",
    "HGETALL nokey",
    "HKEYS str",
    "HINCRBY h a 10",
    "HINCRBY h a x",
    "HINCRBY h new -5",
    "HSET h s abc big 9223372036854775807",
    "HINCRBY h s 1",
    "HINCRBY h big 1",
    "HINCRBY str f x",
    "HINCRBY str f 1",
    "HINCRBYFLOAT h fl 10.5",
    "HINCRBYFLOAT h fl 0.1",
    "HINCRBYFLOAT h fl -3",
    "HINCRBYFLOAT h n3 3.0e3",
    "HINCRBYFLOAT h s 1",
    "HINCRBYFLOAT h fl x",
    "HINCRBYFLOAT h fl inf",
    "HINCRBYFLOAT str fl 1",
    "HDEL h a a nope",
    "HDEL h nope",
    "HDEL nokey a",
    "HDEL str a",
    "HRANDFIELD nokey",
    "HRANDFIELD nokey 3",
    "HRANDFIELD h 0",
    "HRANDFIELD h 100",
    "HRANDFIELD h 100 WITHVALUES",
    "HRANDFIELD h 1 WITHVALUE",
    "HRANDFIELD h 1 WITHVALUES x",
    "HRANDFIELD h x",
    "HRANDFIELD h -9223372036854775808",
    "HRANDFIELD h -9223372036854775807 WITHVALUES",
    "HRANDFIELD str",
    "HSCAN nokey 0",
    "HSCAN h x",
    "HSCAN h 0 COUNT 0",
    "HSCAN h 0 COUNT x",
    "HSCAN h 0 MATCH",
    "HSCAN h 0 NOVALUES",
    "HSCAN str 0",
    "TYPE h",
    "SADD s1 a b c a",
    "SADD s1 a d",
    "SADD s2 b c e",
    "SADD str a",
    "SREM s1 d d nope",
    "SREM nokey a",
    "SREM str a",
    "SISMEMBER s1 a",
    "SISMEMBER s1 nope",
    "SISMEMBER str a",
    "SMISMEMBER s1 a nope b",
    "SMISMEMBER nokey a",
    "SCARD s1",
    "SCARD nokey",
    "SMEMBERS s1",
    "SMEMBERS nokey",
    "SINTER s1 s2",
    "SINTER s1 nokey",
    "SINTER s1 nokey str",
    "SUNION s1 nokey s2",
    "SUNION str",
    "SDIFF s1 s2",
    "SDIFF nokey s1",
    "SDIFF nokey str",
    "SINTERCARD 2 s1 s2",
    "SINTERCARD 2 s1 s2 LIMIT 1",
    "SINTERCARD 2 s1 s2 limit 0",
    "SINTERCARD 0 s1",
    "SINTERCARD x s1",
    "SINTERCARD 3 s1 s2",
    "SINTERCARD 1 s1 LIMIT -1",
    "SINTERCARD 1 s1 LIMIT x",
    "SINTERCARD 1 s1 LIMIT",
    "SINTERCARD 1 s1 FOO 1",
    "SINTERCARD 2 nokey str",
    "SET dst x",
    "SINTERSTORE dst s1 s2",
    "TYPE dst",
    "SMEMBERS dst",
    "SUNIONSTORE dst dst s1",
    "SDIFFSTORE dst s2 nokey",
    "SMEMBERS dst",
    "SINTERSTORE dst s1 nokey",
    "EXISTS dst",
    "SUNIONSTORE dst nokey",
    "SINTERSTORE dst s1 str",
    "SMOVE s1 s3 a",
    "SMOVE s1 s3 nope",
    "SMOVE s1 s1 b",
    "SMOVE s1 s1 nope",
    "SMOVE s1 str b",
    "SMOVE str s1 b",
    "SMOVE nokey str b",
    "SMEMBERS s3",
    "SRANDMEMBER nokey",
    "SRANDMEMBER nokey -3",
    "SRANDMEMBER s1 100",
    "SRANDMEMBER s1 0",
    "SRANDMEMBER s1 1 2",
    "SRANDMEMBER s1 x",
    "SRANDMEMBER s1 -9223372036854775808",
    "SRANDMEMBER str",
    "SPOP nokey",
    "SPOP nokey 2",
    "SPOP s1 -1",
    "SPOP s1 x",
    "SPOP s1 0",
    "SPOP s1 1 2",
    "SPOP str",
    "SPOP str 0",
    "SRANDMEMBER str 0",
    "HRANDFIELD str 0",
    "HSETNX str a 1",
    "HSET h",
    "SADD s1",
    "SINTERCARD 1",
    "SMOVE s1 s2",
    "SPOP s2 100",
    "EXISTS s2",
    "SSCAN nokey 0",
    "SSCAN s1 x",
    "SSCAN s1 0 COUNT 0",
    "SSCAN str 0",
    "TYPE s1",
    "DBSIZE",
];

#[test]
fn replies_match_redis_server() {
    let Some(redis) = RedisServer::start() else {
        eprintln!("skipped: no redis-server on PATH to compare with");
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    init(&dir, "1MiB");
    let p = Primary::start(&dir, &[]);
    let mut ours = p.client();
    let mut theirs = common::redis_client(&redis.addr);
    let mut differ = Vec::new();
    for line in SCRIPT {
        let words: Vec<&str> = line.split(' ').collect();
        let mut c = cmd(words[0]);
        words[1..].iter().for_each(|w| {
            c.arg(*w);
        });
        let a = canonical(line, c.query(&mut ours));
        let b = canonical(line, c.query(&mut theirs));
        if a != b {
            differ.push(format!("{line}\n  logship: {a}\n  redis:   {b}"));
        }
    }
    assert!(differ.is_empty(), "replies differ:\n{}", differ.join("\n"));
}
