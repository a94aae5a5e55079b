//! List commands against replies taken from Redis 7.0.15, byte for byte,
//! and the effects they log.

use super::tests::{run, T, WRONGTYPE};
use super::*;
use crate::store::{Blob, ListEnd};

const NOT_INT: &str = "-ERR value is not an integer or out of range\r\n";

/// Bulk strings as an array reply.
fn arr(items: &[&str]) -> String {
    let mut s = format!("*{}\r\n", items.len());
    for i in items {
        s.push_str(&format!("${}\r\n{i}\r\n", i.len()));
    }
    s
}

/// The effects `line` pushes against `ks` (nothing applied).
fn effects_of(ks: &Dbs, line: &str) -> Vec<Effect<'static>> {
    let args: Vec<Bytes> = line
        .split(' ')
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect();
    let spec = lookup(&args[0]).expect("known command");
    let ctx = Ctx {
        dbs: ks,
        db: 0,
        now_unix_ms: T,
    };
    let (mut out, mut fx) = (Vec::new(), Vec::new());
    execute(spec, &args, &ctx, &mut out, &mut fx);
    fx.into_iter().map(Effect::into_owned).collect()
}

fn b(s: &str) -> Blob<'static> {
    Blob::owned(s.as_bytes().to_vec())
}

#[test]
fn push_pop_and_length() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "LPUSH n 1 2 3"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "LRANGE n 0 -1"), arr(&["3", "2", "1"]));
    assert_eq!(run(&mut ks, T, "RPUSH l a b c"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "LPUSHX nokey a"), ":0\r\n");
    assert!(ks.db(0).get(b"nokey").is_none());
    assert_eq!(run(&mut ks, T, "RPUSHX l d"), ":4\r\n");
    assert_eq!(run(&mut ks, T, "LLEN l"), ":4\r\n");
    assert_eq!(run(&mut ks, T, "LLEN nokey"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "LPOP nokey"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "LPOP nokey 2"), "*-1\r\n");
    assert_eq!(run(&mut ks, T, "LPOP nokey 0"), "*-1\r\n");
    assert_eq!(run(&mut ks, T, "LPOP l 0"), "*0\r\n");
    let positive = "-ERR value is out of range, must be positive\r\n";
    assert_eq!(run(&mut ks, T, "LPOP l -1"), positive);
    assert_eq!(run(&mut ks, T, "LPOP l x"), positive);
    assert_eq!(run(&mut ks, T, "LPOP nokey x"), positive);
    assert_eq!(
        run(&mut ks, T, "LPOP l 1 2"),
        "-ERR wrong number of arguments for 'lpop' command\r\n"
    );
    assert_eq!(run(&mut ks, T, "LPOP l"), "$1\r\na\r\n");
    assert_eq!(run(&mut ks, T, "RPOP l 2"), arr(&["d", "c"]));
    assert_eq!(run(&mut ks, T, "LPOP l 10"), arr(&["b"]));
    assert!(ks.db(0).get(b"l").is_none(), "the last pop removes the key");
    assert_eq!(
        run(&mut ks, T, "LPUSH"),
        "-ERR wrong number of arguments for 'lpush' command\r\n"
    );
    run(&mut ks, T, "SET s x");
    for cmd in ["LPOP s", "LPOP s 0", "LPUSH s a", "LPUSHX s a", "LLEN s"] {
        assert_eq!(run(&mut ks, T, cmd), WRONGTYPE, "{cmd}");
    }
}

#[test]
fn ranges_and_indexes() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "RPUSH l a b c");
    assert_eq!(run(&mut ks, T, "LRANGE l 0 -1"), arr(&["a", "b", "c"]));
    assert_eq!(run(&mut ks, T, "LRANGE l -100 100"), arr(&["a", "b", "c"]));
    assert_eq!(run(&mut ks, T, "LRANGE l 5 2"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "LRANGE l -2 -3"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "LRANGE l 2 2"), arr(&["c"]));
    assert_eq!(run(&mut ks, T, "LRANGE l 0 -4"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "LRANGE l 0 -3"), arr(&["a"]));
    assert_eq!(run(&mut ks, T, "LRANGE l x 1"), NOT_INT);
    assert_eq!(run(&mut ks, T, "LRANGE nokey 0 1"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "LINDEX l -1"), "$1\r\nc\r\n");
    assert_eq!(run(&mut ks, T, "LINDEX l -3"), "$1\r\na\r\n");
    assert_eq!(run(&mut ks, T, "LINDEX l -4"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "LINDEX l 10"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "LINDEX l x"), NOT_INT);
    assert_eq!(run(&mut ks, T, "LINDEX nokey x"), "$-1\r\n");
    run(&mut ks, T, "SET s x");
    assert_eq!(run(&mut ks, T, "LINDEX s x"), WRONGTYPE);
    assert_eq!(run(&mut ks, T, "LRANGE s 0 1"), WRONGTYPE);
    assert_eq!(run(&mut ks, T, "LRANGE s x 1"), NOT_INT);
}

#[test]
fn lset_linsert_lrem_ltrim() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "RPUSH l a b c a b c");
    assert_eq!(run(&mut ks, T, "LSET nokey 0 x"), "-ERR no such key\r\n");
    assert_eq!(run(&mut ks, T, "LSET nokey x v"), "-ERR no such key\r\n");
    assert_eq!(
        run(&mut ks, T, "LSET l 10 x"),
        "-ERR index out of range\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "LSET l -7 x"),
        "-ERR index out of range\r\n"
    );
    assert_eq!(run(&mut ks, T, "LSET l x z"), NOT_INT);
    assert_eq!(
        effects_of(&ks, "LSET l -1 z"),
        [Effect::LSet {
            key: b("l"),
            index: 5,
            elem: b("z")
        }]
    );
    assert_eq!(run(&mut ks, T, "LSET l -1 z"), "+OK\r\n");
    assert_eq!(
        effects_of(&ks, "LINSERT l AFTER c Y"),
        [Effect::LInsert {
            key: b("l"),
            index: 3,
            elem: b("Y")
        }]
    );
    assert_eq!(run(&mut ks, T, "LINSERT l BEFORE a X"), ":7\r\n");
    assert_eq!(run(&mut ks, T, "LINSERT l AFTER c Y"), ":8\r\n");
    assert_eq!(run(&mut ks, T, "LINSERT l AFTER nope Y"), ":-1\r\n");
    assert_eq!(run(&mut ks, T, "LINSERT nokey AFTER nope Y"), ":0\r\n");
    assert_eq!(
        run(&mut ks, T, "LINSERT l MIDDLE a Y"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "LRANGE l 0 -1"),
        arr(&["X", "a", "b", "c", "Y", "a", "b", "z"])
    );
    assert_eq!(
        effects_of(&ks, "LREM l 0 a"),
        [Effect::LRem {
            key: b("l"),
            count: 0,
            elem: b("a")
        }]
    );
    assert!(effects_of(&ks, "LREM l 0 nope").is_empty());
    assert_eq!(run(&mut ks, T, "LREM l 0 a"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "LREM l x a"), NOT_INT);
    assert_eq!(run(&mut ks, T, "LREM nokey 1 a"), ":0\r\n");
    assert_eq!(
        effects_of(&ks, "LTRIM l 1 -2"),
        [Effect::LTrim {
            key: b("l"),
            start: 1,
            end: 5
        }]
    );
    assert_eq!(run(&mut ks, T, "LTRIM l 1 -2"), "+OK\r\n");
    assert_eq!(run(&mut ks, T, "LTRIM l x 1"), NOT_INT);
    assert_eq!(run(&mut ks, T, "LTRIM nokey 0 1"), "+OK\r\n");
    assert_eq!(run(&mut ks, T, "LRANGE l 0 -1"), arr(&["b", "c", "Y", "b"]));
    assert!(
        effects_of(&ks, "LTRIM l 0 -1").is_empty(),
        "nothing to trim"
    );
    assert_eq!(run(&mut ks, T, "LTRIM l 100 200"), "+OK\r\n");
    assert!(ks.db(0).get(b"l").is_none(), "trimmed to nothing");
    run(&mut ks, T, "RPUSH l a b c");
    assert_eq!(run(&mut ks, T, "LTRIM l -1 -1"), "+OK\r\n");
    assert_eq!(run(&mut ks, T, "LREM l -1 c"), ":1\r\n");
    assert!(ks.db(0).get(b"l").is_none());
    run(&mut ks, T, "RPUSH big 1 2 3 4 5 6 7 8 9 10");
    run(&mut ks, T, "LTRIM big 2 -3");
    assert_eq!(
        run(&mut ks, T, "LRANGE big 0 -1"),
        arr(&["3", "4", "5", "6", "7", "8"])
    );
    run(&mut ks, T, "LTRIM big -100 1");
    assert_eq!(run(&mut ks, T, "LRANGE big 0 -1"), arr(&["3", "4"]));
    run(&mut ks, T, "RPUSH r a x a x a");
    assert_eq!(run(&mut ks, T, "LREM r -2 a"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "LRANGE r 0 -1"), arr(&["a", "x", "x"]));
    run(&mut ks, T, "SET s x");
    for cmd in [
        "LSET s x v",
        "LSET s 0 v",
        "LINSERT s BEFORE a b",
        "LTRIM s 0 1",
        "LREM s 1 a",
    ] {
        assert_eq!(run(&mut ks, T, cmd), WRONGTYPE, "{cmd}");
    }
    assert_eq!(run(&mut ks, T, "LTRIM s x 1"), NOT_INT);
    assert_eq!(run(&mut ks, T, "LREM s x a"), NOT_INT);
    assert_eq!(
        run(&mut ks, T, "LINSERT s MIDDLE a b"),
        "-ERR syntax error\r\n"
    );
}

#[test]
fn lpos_options() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "RPUSH l a b c a b c a");
    let int_arr = |v: &[i64]| {
        let mut s = format!("*{}\r\n", v.len());
        v.iter().for_each(|i| s.push_str(&format!(":{i}\r\n")));
        s
    };
    assert_eq!(run(&mut ks, T, "LPOS l c"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "LPOS l c RANK -1"), ":5\r\n");
    assert_eq!(run(&mut ks, T, "LPOS l a COUNT 2"), int_arr(&[0, 3]));
    assert_eq!(run(&mut ks, T, "LPOS l a COUNT 0 RANK 2"), int_arr(&[3, 6]));
    assert_eq!(
        run(&mut ks, T, "LPOS l a COUNT 0 RANK -1"),
        int_arr(&[6, 3, 0])
    );
    assert_eq!(
        run(&mut ks, T, "LPOS l a RANK -2 COUNT 2"),
        int_arr(&[3, 0])
    );
    assert_eq!(run(&mut ks, T, "LPOS l a MAXLEN 3 COUNT 0"), int_arr(&[0]));
    assert_eq!(
        run(&mut ks, T, "LPOS l a MAXLEN 3 COUNT 0 RANK -1"),
        int_arr(&[6])
    );
    assert_eq!(run(&mut ks, T, "LPOS l a MAXLEN 1 RANK -1"), ":6\r\n");
    assert_eq!(run(&mut ks, T, "LPOS l a MAXLEN 0 RANK 4"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "LPOS l a RANK 1 RANK 2"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "LPOS l nope"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "LPOS l nope COUNT 0"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "LPOS nokey a"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "LPOS nokey a COUNT 1"), "*0\r\n");
    let rank0 = "-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n";
    assert_eq!(run(&mut ks, T, "LPOS l c RANK 0"), rank0);
    assert_eq!(run(&mut ks, T, "LPOS l a RANK 0 COUNT -1"), rank0);
    let count = "-ERR COUNT can't be negative\r\n";
    assert_eq!(run(&mut ks, T, "LPOS l c COUNT -1"), count);
    assert_eq!(run(&mut ks, T, "LPOS l a COUNT x"), count);
    assert_eq!(run(&mut ks, T, "LPOS l a COUNT -1 RANK 0"), count);
    let maxlen = "-ERR MAXLEN can't be negative\r\n";
    assert_eq!(run(&mut ks, T, "LPOS l c MAXLEN -1"), maxlen);
    assert_eq!(run(&mut ks, T, "LPOS l a RANK x"), NOT_INT);
    assert_eq!(run(&mut ks, T, "LPOS l c RANK"), "-ERR syntax error\r\n");
    assert_eq!(run(&mut ks, T, "LPOS l c FOO 1"), "-ERR syntax error\r\n");
    run(&mut ks, T, "SET s x");
    assert_eq!(run(&mut ks, T, "LPOS s c"), WRONGTYPE);
    assert_eq!(run(&mut ks, T, "LPOS s c RANK 0"), rank0);
}

#[test]
fn moves() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "RPUSH l a b c");
    assert_eq!(run(&mut ks, T, "LMOVE l l LEFT RIGHT"), "$1\r\na\r\n");
    assert_eq!(run(&mut ks, T, "LRANGE l 0 -1"), arr(&["b", "c", "a"]));
    assert_eq!(run(&mut ks, T, "RPOPLPUSH l l"), "$1\r\na\r\n");
    assert_eq!(run(&mut ks, T, "LRANGE l 0 -1"), arr(&["a", "b", "c"]));
    assert_eq!(
        effects_of(&ks, "LMOVE l d RIGHT LEFT"),
        [
            Effect::Pop {
                key: b("l"),
                end: ListEnd::Right,
                count: 1
            },
            Effect::Push {
                key: b("d"),
                end: ListEnd::Left,
                elems: vec![b("c")]
            }
        ]
    );
    assert_eq!(run(&mut ks, T, "LMOVE l d RIGHT LEFT"), "$1\r\nc\r\n");
    assert_eq!(
        run(&mut ks, T, "LMOVE l d UP LEFT"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(run(&mut ks, T, "LMOVE nokey d LEFT LEFT"), "$-1\r\n");
    run(&mut ks, T, "SET s x");
    assert_eq!(run(&mut ks, T, "LMOVE l s LEFT LEFT"), WRONGTYPE);
    assert_eq!(run(&mut ks, T, "LMOVE s l LEFT LEFT"), WRONGTYPE);
    assert_eq!(run(&mut ks, T, "RPOPLPUSH nokey s"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "RPOPLPUSH s d"), WRONGTYPE);
    assert_eq!(run(&mut ks, T, "LRANGE l 0 -1"), arr(&["a", "b"]));
    // One element moved onto its own list keeps the key and its expiry.
    run(&mut ks, T, "RPUSH one x");
    run(&mut ks, T, "PEXPIRE one 5000");
    assert_eq!(run(&mut ks, T, "LMOVE one one LEFT RIGHT"), "$1\r\nx\r\n");
    assert_eq!(run(&mut ks, T, "PTTL one"), ":5000\r\n");
    assert_eq!(run(&mut ks, T, "RPOPLPUSH d l"), "$1\r\nc\r\n");
    assert!(ks.db(0).get(b"d").is_none());
    assert_eq!(run(&mut ks, T, "LRANGE l 0 -1"), arr(&["c", "a", "b"]));
}

#[test]
fn lmpop() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "RPUSH l a b c");
    run(&mut ks, T, "RPUSH d x");
    let key_elems = |k: &str, v: &[&str]| format!("*2\r\n${}\r\n{k}\r\n{}", k.len(), arr(v));
    assert_eq!(run(&mut ks, T, "LMPOP 1 l LEFT"), key_elems("l", &["a"]));
    assert_eq!(
        run(&mut ks, T, "LMPOP 2 nokey d LEFT COUNT 1"),
        key_elems("d", &["x"])
    );
    assert_eq!(
        run(&mut ks, T, "LMPOP 1 l RIGHT COUNT 5"),
        key_elems("l", &["c", "b"])
    );
    assert_eq!(run(&mut ks, T, "LMPOP 1 nokey LEFT"), "*-1\r\n");
    let numkeys = "-ERR numkeys should be greater than 0\r\n";
    let count = "-ERR count should be greater than 0\r\n";
    let syntax = "-ERR syntax error\r\n";
    for (cmd, want) in [
        ("LMPOP 0 l LEFT", numkeys),
        ("LMPOP -1 l LEFT", numkeys),
        ("LMPOP x l LEFT", numkeys),
        ("LMPOP 3 l LEFT", syntax),
        ("LMPOP 9223372036854775807 l LEFT", syntax),
        ("LMPOP 1 l MIDDLE", syntax),
        ("LMPOP 1 l LEFT COUNT 0", count),
        ("LMPOP 1 l LEFT COUNT -1", count),
        ("LMPOP 1 l LEFT COUNT x", count),
        ("LMPOP 1 l LEFT COUNT 1 COUNT 2", syntax),
        ("LMPOP 1 l LEFT FOO", syntax),
        ("LMPOP 1 l LEFT COUNT", syntax),
    ] {
        assert_eq!(run(&mut ks, T, cmd), want, "{cmd}");
    }
    run(&mut ks, T, "SET s x");
    run(&mut ks, T, "RPUSH l a");
    assert_eq!(run(&mut ks, T, "LMPOP 2 s l LEFT"), WRONGTYPE);
    assert_eq!(run(&mut ks, T, "LMPOP 2 nokey s LEFT"), WRONGTYPE);
    assert_eq!(run(&mut ks, T, "LMPOP 2 l s LEFT"), key_elems("l", &["a"]));
}

#[test]
fn an_expired_list_reads_as_missing() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "RPUSH l a b");
    run(&mut ks, T, "PEXPIRE l 10");
    assert_eq!(run(&mut ks, T + 10, "LLEN l"), ":0\r\n");
    assert!(ks.db(0).get(b"l").is_none(), "its delete was logged");
    run(&mut ks, T, "RPUSH l a b");
    run(&mut ks, T, "PEXPIRE l 10");
    assert_eq!(run(&mut ks, T + 10, "RPUSH l c"), ":1\r\n");
    assert_eq!(run(&mut ks, T + 10, "LRANGE l 0 -1"), arr(&["c"]));
    assert_eq!(run(&mut ks, T + 10, "TTL l"), ":-1\r\n");
}
