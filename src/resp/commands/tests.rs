use super::*;
use crate::store::apply_effect;

/// The clock of the command tests (Unix ms).
pub(super) const T: u64 = 1_000_000;
/// The `WRONGTYPE` error as a reply.
pub(super) const WRONGTYPE: &str =
    "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

/// The reply's array elements, sorted (for replies in no particular order).
pub(super) fn sorted_elems(reply: &str) -> Vec<String> {
    let mut v: Vec<String> = reply
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.starts_with('$') && !l.is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// Runs one command against database 0 of `ks` at time `now`, applies its
/// effects (after an encode/decode round trip), returns the reply.
pub(super) fn run(ks: &mut Dbs, now: u64, line: &str) -> String {
    run_in(ks, 0, now, line)
}

/// [`run`] with database `db` selected.
pub(super) fn run_in(ks: &mut Dbs, db: usize, now: u64, line: &str) -> String {
    let args: Vec<Bytes> = line
        .split(' ')
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect();
    let spec = lookup(&args[0]).expect("known command");
    let mut out = Vec::new();
    if !spec.arity_ok(args.len()) {
        out.error(&wrong_args(spec.name));
        return String::from_utf8(out).unwrap();
    }
    let mut fx = Vec::new();
    let ctx = Ctx {
        dbs: ks,
        db,
        now_unix_ms: now,
    };
    execute(spec, &args, &ctx, &mut out, &mut fx);
    let mut b = Vec::new();
    crate::store::effect::encode(&fx, &mut b);
    let owned: Vec<Effect<'static>> = crate::store::effect::decode(&b)
        .unwrap()
        .into_iter()
        .map(Effect::into_owned)
        .collect();
    assert_eq!(owned, fx, "effects survive encoding");
    let mut cur = crate::store::Cursor { db };
    for e in &owned {
        apply_effect(ks, &mut cur, e);
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn strings_and_counters() {
    let mut ks = Dbs::new();
    let t = 1_000_000;
    assert_eq!(run(&mut ks, t, "GET a"), "$-1\r\n");
    assert_eq!(run(&mut ks, t, "SET a 1"), "+OK\r\n");
    assert_eq!(run(&mut ks, t, "INCR a"), ":2\r\n");
    assert_eq!(run(&mut ks, t, "INCRBY a 10"), ":12\r\n");
    assert_eq!(run(&mut ks, t, "DECRBY a 2"), ":10\r\n");
    assert_eq!(run(&mut ks, t, "DECR a"), ":9\r\n");
    assert_eq!(run(&mut ks, t, "APPEND a 0"), ":2\r\n");
    assert_eq!(run(&mut ks, t, "GET a"), "$2\r\n90\r\n");
    assert_eq!(run(&mut ks, t, "STRLEN a"), ":2\r\n");
    assert_eq!(run(&mut ks, t, "SET s x"), "+OK\r\n");
    assert_eq!(
        run(&mut ks, t, "INCR s"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        run(&mut ks, t, "INCRBY a x"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(run(&mut ks, t, "SET m 9223372036854775807"), "+OK\r\n");
    assert_eq!(
        run(&mut ks, t, "INCR m"),
        "-ERR increment or decrement would overflow\r\n"
    );
    assert_eq!(run(&mut ks, t, "SETNX a 5"), ":0\r\n");
    assert_eq!(run(&mut ks, t, "SETNX b 5"), ":1\r\n");
    assert_eq!(run(&mut ks, t, "GETSET b 6"), "$1\r\n5\r\n");
    assert_eq!(run(&mut ks, t, "GETDEL b"), "$1\r\n6\r\n");
    assert_eq!(run(&mut ks, t, "GETDEL b"), "$-1\r\n");
    assert_eq!(run(&mut ks, t, "MSET x 1 y 2"), "+OK\r\n");
    assert_eq!(
        run(&mut ks, t, "MSET x 1 y"),
        "-ERR wrong number of arguments for 'mset' command\r\n"
    );
    assert_eq!(
        run(&mut ks, t, "MGET x nope y"),
        "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        run(&mut ks, t, "GET"),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
}

#[test]
fn set_options() {
    let mut ks = Dbs::new();
    let t = 1_000_000;
    assert_eq!(run(&mut ks, t, "SET k v XX"), "$-1\r\n");
    assert_eq!(run(&mut ks, t, "SET k v NX"), "+OK\r\n");
    assert_eq!(run(&mut ks, t, "SET k w NX"), "$-1\r\n");
    assert_eq!(run(&mut ks, t, "SET k w NX GET"), "$1\r\nv\r\n");
    assert_eq!(run(&mut ks, t, "SET k w XX GET"), "$1\r\nv\r\n");
    assert_eq!(run(&mut ks, t, "SET k w NX XX"), "-ERR syntax error\r\n");
    assert_eq!(
        run(&mut ks, t, "SET k w EX 10 PX 5"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(run(&mut ks, t, "SET k w EX"), "-ERR syntax error\r\n");
    assert_eq!(
        run(&mut ks, t, "SET k w EX 0"),
        "-ERR invalid expire time in 'set' command\r\n"
    );
    assert_eq!(
        run(&mut ks, t, "SET k w EX x"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(run(&mut ks, t, "SET k w EX 10"), "+OK\r\n");
    assert_eq!(run(&mut ks, t, "PTTL k"), ":10000\r\n");
    assert_eq!(run(&mut ks, t, "SET k z KEEPTTL"), "+OK\r\n");
    assert_eq!(run(&mut ks, t, "TTL k"), ":10\r\n");
    assert_eq!(run(&mut ks, t, "SET k z"), "+OK\r\n");
    assert_eq!(run(&mut ks, t, "TTL k"), ":-1\r\n");
    assert_eq!(run(&mut ks, t, "SET k z PXAT 1000500"), "+OK\r\n");
    assert_eq!(run(&mut ks, t, "PTTL k"), ":500\r\n");
    assert_eq!(run(&mut ks, t, "SET k z EXAT 999"), "+OK\r\n");
    assert_eq!(run(&mut ks, t, "GET k"), "$-1\r\n");
    assert!(ks.db(0).get(b"k").is_none(), "a past EXAT leaves no key");
}

#[test]
fn expiry_and_key_commands() {
    let mut ks = Dbs::new();
    let t = 1_000_000;
    run(&mut ks, t, "MSET a 1 b 2 c 3");
    assert_eq!(run(&mut ks, t, "EXPIRE a 5"), ":1\r\n");
    assert_eq!(run(&mut ks, t, "EXPIRE nope 5"), ":0\r\n");
    assert_eq!(run(&mut ks, t, "EXPIRE a 5 NX"), ":0\r\n");
    assert_eq!(run(&mut ks, t, "EXPIRE a 9 GT"), ":1\r\n");
    assert_eq!(
        run(&mut ks, t, "EXPIRE a 1 NX XX"),
        "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
    );
    assert_eq!(run(&mut ks, t, "TTL a"), ":9\r\n");
    assert_eq!(run(&mut ks, t, "PEXPIREAT b 1000100"), ":1\r\n");
    assert_eq!(run(&mut ks, t, "TYPE b"), "+string\r\n");
    assert_eq!(run(&mut ks, t + 100, "TYPE b"), "+none\r\n");
    assert!(
        ks.db(0).get(b"b").is_none(),
        "reading an expired key logs its delete"
    );
    assert_eq!(run(&mut ks, t, "PERSIST a"), ":1\r\n");
    assert_eq!(run(&mut ks, t, "PERSIST a"), ":0\r\n");
    assert_eq!(run(&mut ks, t, "TTL a"), ":-1\r\n");
    assert_eq!(run(&mut ks, t, "TTL zz"), ":-2\r\n");
    assert_eq!(run(&mut ks, t, "EXPIRE c -1"), ":1\r\n");
    assert_eq!(run(&mut ks, t, "EXISTS a a c"), ":2\r\n");
    assert_eq!(run(&mut ks, t, "DBSIZE"), ":1\r\n");
    run(&mut ks, t, "MSET user:1 a user:2 b other c");
    assert_eq!(run(&mut ks, t, "KEYS user:*").matches("user:").count(), 2);
    let scanned = run(&mut ks, t, "SCAN 0 MATCH user:* COUNT 1000");
    assert!(scanned.starts_with("*2\r\n$1\r\n0\r\n*2\r\n"), "{scanned}");
    assert_eq!(run(&mut ks, t, "SCAN x"), "-ERR invalid cursor\r\n");
    assert_eq!(run(&mut ks, t, "DEL a a user:1 nope"), ":2\r\n");
    assert_eq!(run(&mut ks, t, "UNLINK user:2"), ":1\r\n");
    assert_eq!(run(&mut ks, t, "FLUSHDB"), "+OK\r\n");
    assert_eq!(run(&mut ks, t, "DBSIZE"), ":0\r\n");
    assert_eq!(run(&mut ks, t, "FLUSHALL BOGUS"), "-ERR syntax error\r\n");
}

#[test]
fn scan_returns_every_key_once() {
    let mut ks = Dbs::new();
    for i in 0..3000 {
        run(&mut ks, 1, &format!("SET key{i} v"));
    }
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10_000 {
        let r = run(&mut ks, 1, &format!("SCAN {cursor} COUNT 50"));
        let lines: Vec<&str> = r.split("\r\n").collect();
        cursor = lines[2].to_string();
        for k in lines.iter().filter(|l| l.starts_with("key")) {
            assert!(seen.insert(k.to_string()), "{k} returned twice");
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 3000);
}

#[test]
fn lookup_and_integers() {
    assert_eq!(lookup(b"gEt").unwrap().name, "get");
    assert_eq!(
        lookup(b"ZREVRANGEBYSCORE").map(|s| s.name),
        COMMANDS
            .iter()
            .find(|s| s.name == "zrevrangebyscore")
            .map(|s| s.name)
    );
    assert!(lookup(b"nosuchcommand").is_none());
    assert_eq!(parse_i64(b"-12"), Some(-12));
    assert_eq!(parse_i64(b"0"), Some(0));
    assert_eq!(parse_i64(b"01"), None);
    assert_eq!(parse_i64(b"-0"), None);
    assert_eq!(parse_i64(b"+1"), None);
    assert_eq!(parse_i64(b"9223372036854775808"), None);
    assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    let args: Vec<Bytes> = vec!["foo".into(), "a".into()];
    assert_eq!(
        unknown_command(&args),
        "ERR unknown command 'foo', with args beginning with: 'a' "
    );
}

#[test]
fn debug_digest_tracks_the_keyspace() {
    let mut ks = Dbs::new();
    let empty = run(&mut ks, 0, "DEBUG DIGEST");
    assert_eq!(empty, format!("$64\r\n{}\r\n", "0".repeat(64)));
    run(&mut ks, 0, "SET k v");
    let one = run(&mut ks, 0, "debug digest");
    assert_ne!(one, empty);
    assert_eq!(one, format!("$64\r\n{}\r\n", ks.digest()));
    run(&mut ks, 0, "DEL k");
    assert_eq!(run(&mut ks, 0, "DEBUG DIGEST"), empty);
    assert!(run(&mut ks, 0, "DEBUG SLEEP 0").starts_with("-ERR DEBUG supports only"));
}

/// Arguments for the commands that `k 1 1 …` only makes fail: each writes
/// with these, against the fixtures below.
const WRITING_ARGS: &[(&str, &str)] = &[
    ("swapdb", "0 1"),
    ("bitop", "AND d k"),
    ("sort", "l STORE d"),
    ("getex", "k PERSIST"),
];

/// Runs `spec` with the arguments `k 1 1 …` (as many as its arity asks),
/// or those of [`WRITING_ARGS`], against `ks`; true when it pushed an effect.
fn pushes_effects(spec: &Spec, ks: &Dbs, now: u64) -> bool {
    let argc = spec.arity.unsigned_abs() as usize;
    let mut args = vec![Bytes::from_static(spec.name.as_bytes())];
    match WRITING_ARGS.iter().find(|(name, _)| *name == spec.name) {
        Some((_, line)) => args.extend(line.split(' ').map(|a| Bytes::from(a.to_string()))),
        None => {
            args.extend((1..argc).map(|i| Bytes::from_static(if i == 1 { b"k" } else { b"1" })))
        }
    }
    pushes_effects_with(spec, &args, ks, now)
}

/// Commands whose syntax refuses `k 1 1 …`, with arguments they accept.
const SAMPLE_ARGS: &[&str] = &[
    "linsert k BEFORE 1 x",
    "lmove k k LEFT RIGHT",
    "blmove k k LEFT RIGHT 0",
    "lmpop 1 k LEFT",
    "blmpop 0 1 k LEFT",
    "bzmpop 0 1 k MIN",
    "zmpop 1 k MIN",
    "zremrangebylex k [1 [1",
    "zremrangebyrank k 0 0",
];

/// Runs `spec` with its sample arguments (if it has some) against `ks`;
/// true when it pushed an effect.
fn sample_pushes_effects(spec: &Spec, ks: &Dbs, now: u64) -> bool {
    SAMPLE_ARGS
        .iter()
        .filter(|line| line.split(' ').next() == Some(spec.name))
        .any(|line| {
            let args: Vec<Bytes> = line
                .split(' ')
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect();
            pushes_effects_with(spec, &args, ks, now)
        })
}

fn pushes_effects_with(spec: &Spec, args: &[Bytes], ks: &Dbs, now: u64) -> bool {
    let ctx = Ctx {
        dbs: ks,
        db: 0,
        now_unix_ms: now,
    };
    let (mut out, mut fx) = (Vec::new(), Vec::new());
    execute(spec, args, &ctx, &mut out, &mut fx);
    !fx.is_empty()
}

#[test]
fn the_access_column_says_which_commands_change_the_keyspace() {
    let now = 1_000_000;
    // A live key with a time to live (PERSIST changes it), and no key (SETNX
    // writes only then). No key has expired, so a read pushes nothing.
    let mut with_key = Dbs::new();
    with_key.db_mut(0).set(b"k", b"1", Some(now + 60_000));
    // A list (SORT … STORE).
    let mut list = crate::store::value::List::default();
    list.push(crate::store::value::list::End::Right, b"3");
    with_key
        .db_mut(0)
        .insert(Item::coll(b"l", Coll::List(list), None));
    let empty = Dbs::new();
    // `k` as a hash and as a set holding field / member `1` (HDEL, SREM,
    // SPOP, SMOVE write only then), as a list holding `1` and more (LREM,
    // LTRIM, LSET write only then), as a sorted set (BZPOPMIN).
    let mut hash = Dbs::new();
    run(&mut hash, now, "HSET k 1 1");
    let mut set = Dbs::new();
    run(&mut set, now, "SADD k 1");
    let mut list = Dbs::new();
    run(&mut list, now, "RPUSH k 1 2 3");
    let mut zset = Dbs::new();
    let mut z = ZSet::default();
    z.insert(b"1", 1.0);
    zset.db_mut(0).insert(Item::coll(b"k", Coll::ZSet(z), None));
    let fixtures = [&with_key, &empty, &hash, &set, &list, &zset];
    for spec in COMMANDS.iter().filter(|s| s.scope() == Scope::Keyspace) {
        let writes = fixtures
            .iter()
            .any(|ks| pushes_effects(spec, ks, now) || sample_pushes_effects(spec, ks, now));
        assert_eq!(
            spec.access.is_write(),
            writes,
            "{}: the table says {:?}",
            spec.name,
            spec.access
        );
    }
    // Server commands change connection or server state, never the keyspace.
    for spec in COMMANDS.iter().filter(|s| s.scope() == Scope::Server) {
        assert_eq!(spec.access, Access::Read, "{}", spec.name);
    }
}

/// `docs/commands.md` names every command of the table, and every command it
/// lists in its table exists.
#[test]
fn the_commands_page_lists_exactly_the_commands() {
    let page = include_str!("../../../docs/commands.md");
    let section = &page[page.find("## Supported commands").expect("the section")..];
    let table = &section[section.find("| group").expect("the table")..];
    let table = &table[..table.find("\n\n").expect("the table ends")];
    for spec in COMMANDS.iter() {
        let name = format!("`{}`", spec.name.to_ascii_uppercase());
        assert!(
            table.contains(&name)
                || table.contains(&format!("`{} ", spec.name.to_ascii_uppercase())),
            "docs/commands.md does not list {name}"
        );
    }
    for row in table.lines().skip(2) {
        let cells: Vec<&str> = row.split('|').collect();
        for word in cells[2].split('`').skip(1).step_by(2) {
            let name = word.split(' ').next().unwrap_or(word);
            if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') && name.len() > 2 {
                let known = lookup(name.as_bytes()).is_some();
                let option = [
                    "NX",
                    "XX",
                    "GET",
                    "EX",
                    "PX",
                    "EXAT",
                    "PXAT",
                    "KEEPTTL",
                    "MATCH",
                    "COUNT",
                    "TYPE",
                    "GT",
                    "LT",
                    "CH",
                    "INCR",
                    "BYSCORE",
                    "BYLEX",
                    "REV",
                    "LIMIT",
                    "WITHSCORES",
                    "SETNAME",
                    "GETNAME",
                    "ID",
                    "SETINFO",
                    "INFO",
                    "LIST",
                    "DOCS",
                ]
                .contains(&name);
                assert!(
                    known || option,
                    "docs/commands.md lists {name}, which is not a command"
                );
            }
        }
    }
}
