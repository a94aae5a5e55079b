//! What an application does with a Redis client library (the `redis` crate,
//! async): a session store in hashes with expiry, a job queue with a worker
//! (BLMOVE / BRPOPLPUSH and an acknowledging LREM), a leaderboard in a sorted
//! set, optimistic locking (WATCH/MULTI/EXEC retried) under two concurrent
//! clients, and a database other than 0. The same scenario runs against a
//! real `redis-server` (to show the scenario itself is right) and against a
//! logship primary, which is then killed with SIGKILL and restarted, and read
//! again through a standby: the same reads answer the same.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use common::resp::RedisServer;
use common::{init, Primary, Standby};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use std::collections::HashMap;
use std::time::Duration;

/// Jobs the producer queues; the worker takes all but the last two.
const JOBS: usize = 12;
const PROCESSED: usize = JOBS - 2;
/// Increments each of the two optimistic-locking clients makes.
const INCREMENTS: i64 = 25;

async fn connect(addr: &str, db: u32) -> MultiplexedConnection {
    let c = redis::Client::open(format!("redis://{addr}/{db}")).unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        c.get_multiplexed_async_connection(),
    )
    .await
    .expect("connect within 10 s")
    .unwrap_or_else(|e| panic!("connect to {addr} db {db}: {e}"))
}

/// Bounds every step of the scenario.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than 30 s"))
}

/// The writes: sessions, jobs, leaderboard, the locked counter, database 1.
async fn scenario(addr: &str) {
    let mut c = connect(addr, 0).await;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();

    // Sessions: a hash per session, expiring in an hour.
    for (id, user) in [("s1", "alice"), ("s2", "bob")] {
        let key = format!("session:{id}");
        // HSET with several pairs (the crate's hset_multiple sends HMSET).
        let added: i64 = redis::cmd("HSET")
            .arg(&key)
            .arg(&[("user", user), ("csrf", "tok-1"), ("visits", "1")])
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(added, 3);
        let _: i64 = c.hincr(&key, "visits", 2).await.unwrap();
        let set: bool = c.expire(&key, 3600).await.unwrap();
        assert!(set);
    }
    let s1: HashMap<String, String> = c.hgetall("session:s1").await.unwrap();
    assert_eq!(s1["user"], "alice");
    assert_eq!(s1["visits"], "3");
    let gone: i64 = c.del("session:s2").await.unwrap();
    assert_eq!(gone, 1, "logout deletes the session");

    // A job queue: a worker blocks on an empty queue, then takes jobs into
    // a processing list and acknowledges each with LREM.
    let worker_addr = addr.to_string();
    let worker = tokio::spawn(async move {
        let mut w = connect(&worker_addr, 0).await;
        let mut done = Vec::new();
        for i in 0..PROCESSED {
            // BLMOVE and BRPOPLPUSH in turn; the first waits for the producer.
            let job: Option<String> = if i % 2 == 0 {
                w.blmove(
                    "jobs",
                    "processing",
                    redis::Direction::Right,
                    redis::Direction::Left,
                    10.0,
                )
                .await
                .unwrap()
            } else {
                w.brpoplpush("jobs", "processing", 10.0).await.unwrap()
            };
            let job = job.expect("a job within 10 s");
            let acked: i64 = w.lrem("processing", 1, &job).await.unwrap();
            assert_eq!(acked, 1, "{job} acknowledged");
            let _: i64 = w.incr("jobs:done", 1).await.unwrap();
            done.push(job);
        }
        done
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    for j in 0..JOBS {
        let _: i64 = c.lpush("jobs", format!("job-{j}")).await.unwrap();
    }
    let done = within("the worker", worker).await.unwrap();
    let want: Vec<String> = (0..PROCESSED).map(|j| format!("job-{j}")).collect();
    assert_eq!(done, want, "jobs are taken oldest first");

    // A leaderboard.
    for (who, pts) in [
        ("alice", 10.0),
        ("bob", 25.5),
        ("carol", 7.0),
        ("alice", 20.0),
        ("dave", 25.5),
    ] {
        let _: f64 = c.zincr("board", who, pts).await.unwrap();
    }

    // Optimistic locking: two clients increment one counter with WATCH and
    // MULTI/EXEC, retrying when the other got in between.
    let _: () = c.set("balance", 100).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let a = addr.to_string();
        tasks.push(tokio::spawn(async move {
            let mut t = connect(&a, 0).await;
            let mut retries = 0u64;
            for _ in 0..INCREMENTS {
                loop {
                    let _: () = redis::cmd("WATCH")
                        .arg("balance")
                        .query_async(&mut t)
                        .await
                        .unwrap();
                    let v: i64 = t.get("balance").await.unwrap();
                    tokio::task::yield_now().await;
                    let r: Option<(i64,)> = redis::pipe()
                        .atomic()
                        .set("balance", v + 1)
                        .ignore()
                        .incr("balance:commits", 1)
                        .query_async(&mut t)
                        .await
                        .unwrap();
                    if r.is_some() {
                        break;
                    }
                    retries += 1;
                    assert!(retries < 10_000, "no progress");
                }
            }
            retries
        }));
    }
    for t in tasks {
        within("a locking client", t).await.unwrap();
    }

    // Database 1: per-tenant settings.
    let mut c1 = connect(addr, 1).await;
    let _: () = c1.set("config:mode", "blue").await.unwrap();
    let _: () = c1
        .hset_multiple("tenant:7", &[("plan", "pro"), ("seats", "12")])
        .await
        .unwrap();
    let _: () = c1.sadd("features", &["sso", "audit", "sso"]).await.unwrap();
    let in0: Option<String> = c.get("config:mode").await.unwrap();
    assert_eq!(in0, None, "database 0 does not see database 1's keys");
}

/// What the application reads back; equal on every node.
#[derive(Debug, PartialEq)]
struct Reads {
    session: HashMap<String, String>,
    session_ttl_ok: bool,
    logged_out: bool,
    queue: Vec<String>,
    processing: Vec<String>,
    jobs_done: i64,
    top3: Vec<(String, f64)>,
    carol_rank: Option<i64>,
    alice_revrank: Option<i64>,
    balance: i64,
    commits: i64,
    db1_mode: Option<String>,
    db1_tenant: HashMap<String, String>,
    db1_features: Vec<String>,
}

/// The reads (read-only commands: a standby answers them).
async fn reads(addr: &str) -> Reads {
    let mut c = connect(addr, 0).await;
    let ttl: i64 = c.ttl("session:s1").await.unwrap();
    let logged_out: bool = !c.exists::<_, bool>("session:s2").await.unwrap();
    let mut c1 = connect(addr, 1).await;
    let mut features: Vec<String> = c1.smembers("features").await.unwrap();
    features.sort();
    Reads {
        session: c.hgetall("session:s1").await.unwrap(),
        session_ttl_ok: (3000..=3600).contains(&ttl),
        logged_out,
        queue: c.lrange("jobs", 0, -1).await.unwrap(),
        processing: c.lrange("processing", 0, -1).await.unwrap(),
        jobs_done: c.get("jobs:done").await.unwrap(),
        top3: c.zrevrange_withscores("board", 0, 2).await.unwrap(),
        carol_rank: c.zrank("board", "carol").await.unwrap(),
        alice_revrank: c.zrevrank("board", "alice").await.unwrap(),
        balance: c.get("balance").await.unwrap(),
        commits: c.get("balance:commits").await.unwrap(),
        db1_mode: c1.get("config:mode").await.unwrap(),
        db1_tenant: c1.hgetall("tenant:7").await.unwrap(),
        db1_features: features,
    }
}

/// What [`reads`] must return after [`scenario`].
fn expected() -> Reads {
    let s = |x: &str| x.to_string();
    Reads {
        session: HashMap::from([
            (s("user"), s("alice")),
            (s("csrf"), s("tok-1")),
            (s("visits"), s("3")),
        ]),
        session_ttl_ok: true,
        logged_out: true,
        queue: vec![s("job-11"), s("job-10")],
        processing: vec![],
        jobs_done: PROCESSED as i64,
        top3: vec![(s("alice"), 30.0), (s("dave"), 25.5), (s("bob"), 25.5)],
        carol_rank: Some(0),
        alice_revrank: Some(0),
        balance: 100 + 2 * INCREMENTS,
        commits: 2 * INCREMENTS,
        db1_mode: Some(s("blue")),
        db1_tenant: HashMap::from([(s("plan"), s("pro")), (s("seats"), s("12"))]),
        db1_features: vec![s("audit"), s("sso")],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_scenario_is_right_against_redis_server() {
    let redis = match RedisServer::start() {
        Ok(r) => r,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    within("the scenario", scenario(&redis.addr)).await;
    assert_eq!(within("the reads", reads(&redis.addr)).await, expected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_keeps_its_data_across_kill_9_and_on_the_standby() {
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    init(&pdir, "1MiB");
    let standby = Standby::start_with(&sdir, &["--insecure-no-auth"]);
    let flags = ["--ship-continuous"];
    let mut primary = Primary::start_shipping(&pdir, &standby.ship_addr, &flags);
    within("the scenario", scenario(&primary.addr)).await;
    assert_eq!(within("the reads", reads(&primary.addr)).await, expected());

    primary.kill();
    let primary = Primary::start_shipping(&pdir, &standby.ship_addr, &flags);
    assert_eq!(
        within("the reads after restart", reads(&primary.addr)).await,
        expected(),
        "after kill -9 and restart"
    );

    let (p, s) = (pdir.clone(), standby);
    let addr = primary.addr.clone();
    let s = tokio::task::spawn_blocking(move || {
        let mut c = common::redis_client(&addr);
        cluster::assert_converged(&p, &mut c, &s, Duration::from_secs(60));
        s
    })
    .await
    .unwrap();
    assert_eq!(
        within("the reads on the standby", reads(&s.addr)).await,
        expected(),
        "on the standby"
    );
}
