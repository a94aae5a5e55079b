//! Differential test against a real Redis 7.0: random command sequences over
//! Redis's types run against `redis-server` and a logship primary side by
//! side, reply by reply; then the primary is killed with SIGKILL and
//! restarted, and every key (type, value, TTL) of every database is compared
//! with Redis, and again through a standby fed by the primary.
//!
//! How replies are compared (`differential/gen.rs` says which per command):
//! exactly; as multisets where Redis leaves the order open (SMEMBERS, KEYS,
//! HGETALL's pairs…); SCAN/HSCAN/SSCAN/ZSCAN by everything a full scan
//! returns; TTLs within a tolerance; commands with random outcomes (SPOP,
//! SRANDMEMBER, HRANDFIELD, ZRANDMEMBER, RANDOMKEY) by invariants against the
//! key's contents before, after which Redis is brought in step (SPOP on
//! logship, SREM of what it popped on Redis). A step that sets an expiry of a
//! few milliseconds is followed by a pause past it and a touch of every key,
//! so both sides have deleted the key before the next step.
//!
//! The environment picks what runs:
//! - `DIFF_FAMILIES`: command families, comma-separated, or `all` (default
//!   [`DEFAULT_FAMILIES`]); names in `differential/gen.rs` ([`gen::ALL`]);
//! - `DIFF_SEEDS` (20), `DIFF_SEED_BASE` (1): seeds base..base+n, after the
//!   [`REGRESSIONS`] (which always run, with their own families);
//!   `DIFF_SEED=s` runs that seed alone;
//! - `DIFF_COMMANDS` (200): commands per seed;
//! - `DIFF_EXCLUDE=CMD,…`: commands never generated (to look past a known
//!   difference);
//! - `DIFF_KEEP_GOING=1`: run every seed and list each one's first difference;
//! - `DIFF_TRACE=1`: print every command and both replies.
//!
//! Under `CI=true` a missing `redis-server` fails the test; elsewhere it is
//! skipped with a printed reason.

#[path = "common/cluster.rs"]
mod cluster;
mod common;
#[path = "differential/compare.rs"]
mod compare;
#[path = "differential/gen.rs"]
mod gen;

use common::resp::{Conn, RedisServer, Value};
use common::{init, Primary, Standby};
use compare::{agree, check_random, contents, dump, dump_diff, full_scan};
use gen::{Cmp, Family, Gen, Rand, Step, DBS, KEYS};
use rand::SeedableRng;
use std::time::Duration;

/// Seeds that once failed, with the families they ran with; always run
/// first, whatever `DIFF_FAMILIES` says.
const REGRESSIONS: &[(u64, &str)] = &[
    // `EXPIRE k5 abc bogus`: Redis checks the options before the number
    // ("ERR Unsupported option bogus"); logship said "not an integer".
    (1155, "strings,keys,select,multi"),
    // `SET k5 a NX EX 9999999999999999 extra`: Redis reads every option
    // first ("ERR syntax error"); logship checked the expiry first
    // ("invalid expire time in 'set' command").
    (5020, "strings,keys,select,multi"),
    // `SORT k1 LIMIT 9 9223372036854775807 STORE k2` in a transaction: the
    // offset plus the count overflowed and the session's thread panicked.
    (122, "all"),
    // `GETEX k7 EX 0` on a missing key: Redis answers nil before checking
    // the time; logship said "invalid expire time".
    (22, "all"),
    // `BITCOUNT k5 -2 +1 BIT extra` on a missing key: Redis answers 0
    // before reading the range; logship said "syntax error".
    (
        7,
        "strings,strings2,bits,keys,keys2,select,hash,list,blocking,set,multi,watch",
    ),
];

/// The families run by default: every type Redis has.
const DEFAULT_FAMILIES: &str = "all";

/// A pause past the short expiries the generator sets (at most 15 ms).
const SETTLE: Duration = Duration::from_millis(30);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not valid")),
        Err(_) => default,
    }
}

/// One server under test: the client of the sequence, a second client for
/// WATCH's other writer (database 0), and one that touches keys.
struct Side {
    main: Conn,
    other: Conn,
    janitor: Conn,
}

impl Side {
    fn open(addr: &str) -> Side {
        Side {
            main: Conn::open(addr),
            other: Conn::open(addr),
            janitor: Conn::open(addr),
        }
    }

    fn run(&mut self, s: &Step) -> Value {
        if s.other {
            self.other.call(&s.args)
        } else {
            self.main.call(&s.args)
        }
    }

    /// Touches every key of the sequences' databases, so an expired one is
    /// deleted now on both sides (Redis counts it in DBSIZE until then).
    fn touch_all(&mut self) {
        let mut exists = vec!["EXISTS".to_string()];
        exists.extend((0..KEYS).map(|i| format!("k{i}")));
        for db in 0..DBS {
            self.janitor.cmd(&["SELECT", &db.to_string()]);
            self.janitor.call(&exists);
        }
    }
}

/// Where a sequence went wrong.
struct Diff {
    step: usize,
    what: String,
}

/// Runs one sequence against both sides, comparing each reply.
struct Runner<'a> {
    redis: &'a mut Side,
    logship: &'a mut Side,
    /// How each queued command's reply is compared, for EXEC's array.
    queued: Vec<Cmp>,
    /// A short expiry was set: pause and touch before the next step.
    settle: bool,
    history: Vec<String>,
    /// `DIFF_TRACE`: print every step and both replies.
    trace: bool,
}

impl Runner<'_> {
    fn step(&mut self, i: usize, s: &Step) -> Result<(), Diff> {
        self.history.push(s.show());
        let fail = |what: String| Diff { step: i, what };
        match s.cmp {
            Cmp::Scan { cursor_at, pairs } => {
                let (r, l) = (
                    full_scan(&mut self.redis.main, &s.args, cursor_at, pairs),
                    full_scan(&mut self.logship.main, &s.args, cursor_at, pairs),
                );
                if r != l {
                    return Err(fail(format!(
                        "full scan differs:\n  redis:   {r:?}\n  logship: {l:?}"
                    )));
                }
            }
            Cmp::Random(kind) => self.random(kind, s).map_err(fail)?,
            cmp => {
                let r = self.redis.run(s);
                let l = self.logship.run(s);
                let name = s.args[0].to_ascii_uppercase();
                let same = if name == "EXEC" && !s.other {
                    let kinds = std::mem::take(&mut self.queued);
                    match (r.items(), l.items()) {
                        (Some(a), Some(b)) if a.len() == b.len() && a.len() == kinds.len() => a
                            .iter()
                            .zip(b)
                            .zip(&kinds)
                            .all(|((x, y), k)| agree(*k, x, y)),
                        _ => r == l,
                    }
                } else {
                    agree(cmp, &r, &l)
                };
                if self.trace {
                    eprintln!("{i}: {}\n    redis:   {r}\n    logship: {l}", s.show());
                }
                if !same {
                    return Err(fail(format!("\n  redis:   {r}\n  logship: {l}")));
                }
                if !s.other {
                    match name.as_str() {
                        // A nested MULTI is refused and keeps the transaction.
                        "MULTI" if r == Value::Simple("OK".into()) => self.queued.clear(),
                        "DISCARD" => self.queued.clear(),
                        _ if r == Value::Simple("QUEUED".into()) => self.queued.push(cmp),
                        _ => {}
                    }
                }
            }
        }
        self.settle |= s.settle;
        if self.settle && !s.in_multi_after {
            std::thread::sleep(SETTLE);
            self.redis.touch_all();
            self.logship.touch_all();
            self.settle = false;
        }
        Ok(())
    }

    /// A command with a random outcome: logship's and Redis's replies are
    /// each checked against the key's contents before (read from Redis);
    /// SPOP runs on logship, and Redis removes what it popped.
    fn random(&mut self, kind: Rand, s: &Step) -> Result<(), String> {
        let key = s.args.get(1).cloned().unwrap_or_default();
        let before = contents(&mut self.redis.main, kind, &key);
        let l = self.logship.main.call(&s.args);
        if kind == Rand::SPop {
            if l.is_error() {
                let r = self.redis.main.call(&s.args);
                return if r == l {
                    Ok(())
                } else {
                    Err(format!("\n  redis:   {r}\n  logship: {l}"))
                };
            }
            check_random(kind, &s.args, &before, &l).map_err(|e| format!("logship: {e}"))?;
            let popped: Vec<Vec<u8>> = match &l {
                Value::Bulk(Some(m)) => vec![m.clone()],
                Value::Array(Some(ms)) => ms
                    .iter()
                    .filter_map(|m| m.bytes().map(<[u8]>::to_vec))
                    .collect(),
                _ => Vec::new(),
            };
            if !popped.is_empty() {
                let mut srem: Vec<Vec<u8>> = vec![b"SREM".to_vec(), key.into_bytes()];
                srem.extend(popped);
                self.redis.main.call(&srem);
            }
            return Ok(());
        }
        let r = self.redis.main.call(&s.args);
        if r.is_error() || l.is_error() {
            return if r == l {
                Ok(())
            } else {
                Err(format!("\n  redis:   {r}\n  logship: {l}"))
            };
        }
        check_random(kind, &s.args, &before, &r).map_err(|e| format!("redis (the check?): {e}"))?;
        check_random(kind, &s.args, &before, &l).map_err(|e| format!("logship: {e}"))
    }
}

/// Runs seed `seed`'s sequence against Redis at `redis` and the server at
/// `other`, reply by reply; the first difference as an error.
fn run_sequence(
    redis: &str,
    other: &str,
    seed: u64,
    families: &[Family],
    exclude: &[String],
    commands: usize,
) -> Result<(), String> {
    for addr in [redis, other] {
        Conn::open(addr).cmd(&["FLUSHALL"]);
    }
    let mut rs = Side::open(redis);
    let mut ls = Side::open(other);
    let mut g = Gen::new(
        rand::rngs::StdRng::seed_from_u64(seed),
        families.to_vec(),
        exclude.to_vec(),
    );
    let mut runner = Runner {
        redis: &mut rs,
        logship: &mut ls,
        queued: Vec::new(),
        settle: false,
        history: Vec::new(),
        trace: std::env::var_os("DIFF_TRACE").is_some(),
    };
    for i in 0..commands {
        let s = g.next_step();
        if let Err(d) = runner.step(i, &s) {
            let from = runner.history.len().saturating_sub(12);
            let recent = runner.history[from..].join("\n    ");
            return Err(format!(
                "seed {seed}: command {} `{}` differs: {}\n  the commands before it:\n    {recent}",
                d.step,
                s.show(),
                d.what
            ));
        }
    }
    if let Some(s) = g.close() {
        rs.run(&s);
        ls.run(&s);
    }
    Ok(())
}

/// Compares every key of Redis at `redis` with `other` (named `what`).
fn compare_dumps(redis: &str, other: &str, what: &str) -> Result<usize, String> {
    let (want, got) = (dump(&mut Conn::open(redis)), dump(&mut Conn::open(other)));
    let diff = dump_diff(&want, &got);
    if diff.is_empty() {
        Ok(want.len())
    } else {
        Err(format!(
            "{what}, the keyspace differs from Redis:\n  {}",
            diff.join("\n  ")
        ))
    }
}

/// Runs seed `seed` against Redis and a logship primary, then compares
/// every key after kill -9 and restart, and through a standby.
fn run_seed(
    redis: &RedisServer,
    seed: u64,
    families: &[Family],
    exclude: &[String],
    commands: usize,
) -> Result<(), String> {
    let t = tempfile::tempdir().unwrap();
    let (pdir, sdir) = (t.path().join("p"), t.path().join("s"));
    init(&pdir, "1MiB");
    let standby = Standby::start_with(&sdir, &["--insecure-no-auth"]);
    // Odd seeds checkpoint often, so recovery also starts from a snapshot.
    let mut flags = vec!["--ship-continuous"];
    if seed % 2 == 1 {
        flags.extend(["--checkpoint-interval", "1s"]);
    }
    let mut primary = Primary::start_shipping(&pdir, &standby.ship_addr, &flags);
    run_sequence(
        &redis.addr,
        &primary.addr,
        seed,
        families,
        exclude,
        commands,
    )?;
    primary.kill();
    let primary = Primary::start_shipping(&pdir, &standby.ship_addr, &flags);
    compare_dumps(
        &redis.addr,
        &primary.addr,
        &format!("seed {seed}: after kill -9 and restart"),
    )?;
    cluster::assert_converged(
        &pdir,
        &mut primary.client(),
        &standby,
        Duration::from_secs(60),
    );
    let n = compare_dumps(
        &redis.addr,
        &standby.addr,
        &format!("seed {seed}: on the standby"),
    )?;
    eprintln!("seed {seed}: {n} keys agree");
    Ok(())
}

/// The environment's choices (see the module's documentation).
struct Choice {
    families: Vec<Family>,
    exclude: Vec<String>,
    commands: usize,
    /// Each seed with the families it runs.
    seeds: Vec<(u64, Vec<Family>)>,
    keep_going: bool,
}

impl Choice {
    fn from_env(default_seeds: u64) -> Choice {
        let families =
            gen::parse_families(&std::env::var("DIFF_FAMILIES").unwrap_or(DEFAULT_FAMILIES.into()));
        let exclude = std::env::var("DIFF_EXCLUDE")
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_uppercase)
            .collect();
        let seeds = match std::env::var("DIFF_SEED") {
            Ok(s) => vec![(s.parse().expect("DIFF_SEED is a number"), families.clone())],
            Err(_) => {
                let base = env_or("DIFF_SEED_BASE", 1u64);
                let n = env_or("DIFF_SEEDS", default_seeds);
                REGRESSIONS
                    .iter()
                    .map(|(s, f)| (*s, gen::parse_families(f)))
                    .chain((base..base + n).map(|s| (s, families.clone())))
                    .collect()
            }
        };
        Choice {
            families,
            exclude,
            commands: env_or("DIFF_COMMANDS", 200usize),
            seeds,
            keep_going: std::env::var_os("DIFF_KEEP_GOING").is_some(),
        }
    }

    /// Runs `one` for every seed; fails listing the differences.
    fn run(&self, what: &str, mut one: impl FnMut(u64, &[Family]) -> Result<(), String>) {
        eprintln!(
            "{what}: families {:?}, {} commands, seeds {:?}",
            self.families,
            self.commands,
            self.seeds.iter().map(|s| s.0).collect::<Vec<_>>()
        );
        let mut failures = Vec::new();
        for (seed, families) in &self.seeds {
            let seed = *seed;
            if let Err(why) = one(seed, families) {
                eprintln!("{why}\n  (rerun with DIFF_SEED={seed})");
                failures.push(why);
                if !self.keep_going {
                    break;
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{what}: {} seed(s) differ:\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}

#[test]
fn logship_answers_as_redis_does() {
    let redis = match RedisServer::start() {
        Ok(r) => r,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let c = Choice::from_env(20);
    c.run("logship vs redis", |seed, families| {
        run_seed(&redis, seed, families, &c.exclude, c.commands)
    });
}

/// The harness itself: two redis-servers never differ (no order compared
/// that Redis leaves open, no timing that decides a reply), for every
/// family, including those logship does not have yet.
#[test]
fn two_redis_servers_never_differ() {
    let (a, b) = match (RedisServer::start(), RedisServer::start()) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(why), _) | (_, Err(why)) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let c = Choice::from_env(10);
    c.run("redis vs redis", |seed, _| {
        let all = gen::parse_families("all");
        run_sequence(&a.addr, &b.addr, seed, &all, &c.exclude, c.commands)?;
        compare_dumps(&a.addr, &b.addr, &format!("seed {seed}")).map(|_| ())
    });
}
