//! Sorted-set commands against their replies from Redis 7.0.15 (captured
//! from a real server, byte for byte), and what they log.

use super::tests::{run, T};
use super::tests_zranges::members;
use super::*;

/// Makes `key` a set of `members` (the set commands are another table's).
pub(super) fn sadd(ks: &mut Dbs, key: &str, members: &[&str]) {
    let effect = Effect::SAdd {
        key: crate::store::Blob::borrowed(key.as_bytes()),
        members: members
            .iter()
            .map(|m| crate::store::Blob::borrowed(m.as_bytes()))
            .collect(),
    };
    crate::store::apply_effect(ks, &mut crate::store::Cursor::default(), &effect);
}

#[test]
fn zadd_options_and_errors() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "ZADD z 1 a 2 b 3 c"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z 1 a"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z CH 5 a 2 b 7 d"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "ZRANGE z 0 -1 WITHSCORES"), "*8\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\na\r\n$1\r\n5\r\n$1\r\nd\r\n$1\r\n7\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z NX 10 a 11 e"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z XX 10 a 11 f"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z XX CH 10 a 11 f"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z GT CH 1 a 20 b"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z LT CH 100 a 0 b"), ":1\r\n");
    assert_eq!(
        run(&mut ks, T, "ZADD z NX XX 1 a"),
        "-ERR XX and NX options at the same time are not compatible\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZADD z GT LT 1 a"),
        "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZADD z NX GT 1 a"),
        "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZADD z NX LT 1 a"),
        "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZADD z INCR 1 a 2 b"),
        "-ERR INCR option supports a single increment-element pair\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZADD z 1 a 2"), "-ERR syntax error\r\n");
    assert_eq!(
        run(&mut ks, T, "ZADD z nx"),
        "-ERR wrong number of arguments for 'zadd' command\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZADD z x a"),
        "-ERR value is not a valid float\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZADD z 1 a nan b"),
        "-ERR value is not a valid float\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZADD z 1e400 a"),
        "-ERR value is not a valid float\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZADD z inf a -inf b +inf c"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZRANGE z 0 -1 WITHSCORES"), "*10\r\n$1\r\nb\r\n$4\r\n-inf\r\n$1\r\nd\r\n$1\r\n7\r\n$1\r\ne\r\n$2\r\n11\r\n$1\r\na\r\n$3\r\ninf\r\n$1\r\nc\r\n$3\r\ninf\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z 1 x 2 x"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "ZSCORE z x"), "$1\r\n2\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z -0 zero"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "ZSCORE z zero"), "$1\r\n0\r\n");
    assert_eq!(run(&mut ks, T, "ZADD nokey XX 1 a"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "EXISTS nokey"), ":0\r\n");
    run(&mut ks, T, "SET s v");
    assert_eq!(
        run(&mut ks, T, "ZADD s 1 a"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZADD s x a"),
        "-ERR value is not a valid float\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZADD z GT nx 1 a"),
        "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZADD z ch ch 3 q"), ":1\r\n");
}

#[test]
fn zadd_incr_and_zincrby() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "ZADD z INCR 5 a"), "$1\r\n5\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z INCR 2.5 a"), "$3\r\n7.5\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z INCR NX 1 a"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z INCR XX 1 nope"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z INCR GT -1 a"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z INCR LT -1 a"), "$3\r\n6.5\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z INCR 0 a"), "$3\r\n6.5\r\n");
    assert_eq!(run(&mut ks, T, "ZINCRBY z 1.5 b"), "$3\r\n1.5\r\n");
    assert_eq!(
        run(&mut ks, T, "ZINCRBY z 0.1 b"),
        "$18\r\n1.6000000000000001\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZINCRBY z x b"),
        "-ERR value is not a valid float\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZINCRBY z inf b"), "$3\r\ninf\r\n");
    assert_eq!(
        run(&mut ks, T, "ZINCRBY z -inf b"),
        "-ERR resulting score is not a number (NaN)\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZINCRBY z 1 c d"),
        "-ERR wrong number of arguments for 'zincrby' command\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZSCORE z b"), "$3\r\ninf\r\n");
    run(&mut ks, T, "SET s v");
    assert_eq!(
        run(&mut ks, T, "ZINCRBY s 1 a"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZINCRBY nokey 1e17 m"), "$5\r\n1e+17\r\n");
    assert_eq!(
        run(&mut ks, T, "ZINCRBY nokey 1e-5 n"),
        "$22\r\n1.0000000000000001e-05\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE nokey 0 -1 WITHSCORES"),
        "*4\r\n$1\r\nn\r\n$22\r\n1.0000000000000001e-05\r\n$1\r\nm\r\n$5\r\n1e+17\r\n"
    );
}

#[test]
fn zrem_card_score_rank() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "ZADD z 1 a 2 b 3 c 4 d"), ":4\r\n");
    assert_eq!(run(&mut ks, T, "ZCARD z"), ":4\r\n");
    assert_eq!(run(&mut ks, T, "ZCARD nokey"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZREM z a a x"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "ZREM z x"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZREM nokey a"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZCARD z"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "ZSCORE z b"), "$1\r\n2\r\n");
    assert_eq!(run(&mut ks, T, "ZSCORE z a"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "ZSCORE nokey a"), "$-1\r\n");
    assert_eq!(
        run(&mut ks, T, "ZMSCORE z b x c"),
        "*3\r\n$1\r\n2\r\n$-1\r\n$1\r\n3\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZMSCORE nokey a b"), "*2\r\n$-1\r\n$-1\r\n");
    assert_eq!(run(&mut ks, T, "ZRANK z b"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZRANK z d"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "ZREVRANK z b"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "ZREVRANK z d"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZRANK z x"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "ZREVRANK nokey x"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "ZREM z b c d"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "EXISTS z"), ":0\r\n");
    run(&mut ks, T, "SET s v");
    assert_eq!(
        run(&mut ks, T, "ZREM s a"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZCARD s"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZSCORE s a"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZMSCORE s a"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANK s a"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZREVRANK s a"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
}

#[test]
fn zpop_and_zmpop() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "ZADD z 1 a 2 b 3 c 4 d 5 e"), ":5\r\n");
    assert_eq!(run(&mut ks, T, "ZPOPMIN z"), "*2\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(run(&mut ks, T, "ZPOPMAX z"), "*2\r\n$1\r\ne\r\n$1\r\n5\r\n");
    assert_eq!(
        run(&mut ks, T, "ZPOPMIN z 2"),
        "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZPOPMAX z 0"), "*0\r\n");
    assert_eq!(
        run(&mut ks, T, "ZPOPMIN z -1"),
        "-ERR value is out of range, must be positive\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZPOPMIN z x"),
        "-ERR value is out of range, must be positive\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZPOPMIN z 1 2"), "-ERR syntax error\r\n");
    assert_eq!(
        run(&mut ks, T, "ZPOPMAX z 10"),
        "*2\r\n$1\r\nd\r\n$1\r\n4\r\n"
    );
    assert_eq!(run(&mut ks, T, "EXISTS z"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZPOPMIN z"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "ZPOPMAX nokey 3"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z 1 a 2 b 3 c"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "ZADD y 10 x"), ":1\r\n");
    assert_eq!(
        run(&mut ks, T, "ZMPOP 2 nokey z MIN"),
        "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZMPOP 2 nokey z MAX COUNT 10"),
        "*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZMPOP 2 z y MAX COUNT 10"),
        "*2\r\n$1\r\ny\r\n*1\r\n*2\r\n$1\r\nx\r\n$2\r\n10\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZMPOP 2 z y MIN"), "*-1\r\n");
    assert_eq!(
        run(&mut ks, T, "ZMPOP 0 z MIN"),
        "-ERR numkeys should be greater than 0\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZMPOP x z MIN"),
        "-ERR numkeys should be greater than 0\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZMPOP 3 z MIN"), "-ERR syntax error\r\n");
    assert_eq!(run(&mut ks, T, "ZMPOP 1 z LEFT"), "-ERR syntax error\r\n");
    assert_eq!(
        run(&mut ks, T, "ZMPOP 1 z MIN COUNT 0"),
        "-ERR count should be greater than 0\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZMPOP 1 z MIN COUNT"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZMPOP 1 z MIN COUNT 1 COUNT 1"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZMPOP 1 z MIN BOGUS"),
        "-ERR syntax error\r\n"
    );
    run(&mut ks, T, "SET s v");
    assert_eq!(
        run(&mut ks, T, "ZPOPMIN s"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZPOPMIN s 0"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZMPOP 2 nokey s MIN"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZADD z 1 a"), ":1\r\n");
    assert_eq!(
        run(&mut ks, T, "ZMPOP 2 z s MIN"),
        "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
}

#[test]
fn zrandmember_arguments() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "ZADD z 1 a 2 b 3 c"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "ZRANDMEMBER nokey"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "ZRANDMEMBER nokey 5"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "ZRANDMEMBER nokey -5 WITHSCORES"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "ZRANDMEMBER z 0"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "ZRANDMEMBER z 0 WITHSCORES"), "*0\r\n");
    assert_eq!(
        run(&mut ks, T, "ZRANDMEMBER z 3 WITHSCORES"),
        "*6\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANDMEMBER z 10"),
        "*3\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANDMEMBER z x"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANDMEMBER z 1 BOGUS"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANDMEMBER z 1 WITHSCORES x"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZRANDMEMBER z -9223372036854775808"), "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n");
    assert_eq!(
        run(&mut ks, T, "ZRANDMEMBER z 9223372036854775807 WITHSCORES"),
        "-ERR value is out of range\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANDMEMBER z -4611686018427387904 WITHSCORES"),
        "-ERR value is out of range\r\n"
    );
    run(&mut ks, T, "SET s v");
    assert_eq!(
        run(&mut ks, T, "ZRANDMEMBER s"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANDMEMBER s 1"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANDMEMBER s 0"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
}

#[test]
fn zscan_small() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "ZADD z 1 a 2 b 0.1 c"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "ZSCAN z 0"), "*2\r\n$1\r\n0\r\n*6\r\n$1\r\nc\r\n$19\r\n0.10000000000000001\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n");
    assert_eq!(
        run(&mut ks, T, "ZSCAN z 0 MATCH a*"),
        "*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZSCAN z 0 COUNT 1"), "*2\r\n$1\r\n0\r\n*6\r\n$1\r\nc\r\n$19\r\n0.10000000000000001\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n");
    assert_eq!(run(&mut ks, T, "ZSCAN z x"), "-ERR invalid cursor\r\n");
    assert_eq!(
        run(&mut ks, T, "ZSCAN z 0 COUNT 0"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZSCAN z 0 COUNT x"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZSCAN z 0 MATCH"), "-ERR syntax error\r\n");
    assert_eq!(
        run(&mut ks, T, "ZSCAN z 0 TYPE zset"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZSCAN nokey 0"), "*2\r\n$1\r\n0\r\n*0\r\n");
    run(&mut ks, T, "SET s v");
    assert_eq!(
        run(&mut ks, T, "ZSCAN s 0"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZSCAN s x"), "-ERR invalid cursor\r\n");
}
/// The effects `line` pushes against `ks` (nothing applied).
fn effects_of(ks: &Dbs, line: &str) -> Vec<Effect<'static>> {
    let args: Vec<Bytes> = line
        .split(' ')
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect();
    let ctx = Ctx {
        dbs: ks,
        db: 0,
        now_unix_ms: T,
    };
    let (mut out, mut fx) = (Vec::new(), Vec::new());
    execute(lookup(&args[0]).unwrap(), &args, &ctx, &mut out, &mut fx);
    fx.into_iter().map(Effect::into_owned).collect()
}

fn zadd_effect(key: &str, entries: &[(f64, &str)]) -> Effect<'static> {
    Effect::ZAdd {
        key: Blob::owned(key.into()),
        entries: entries
            .iter()
            .map(|(s, m)| (*s, Blob::owned(m.as_bytes().to_vec())))
            .collect(),
    }
}

fn zrem_effect(key: &str, members: &[&str]) -> Effect<'static> {
    Effect::ZRem {
        key: Blob::owned(key.into()),
        members: members
            .iter()
            .map(|m| Blob::owned(m.as_bytes().to_vec()))
            .collect(),
    }
}

use crate::store::Blob;

#[test]
fn outcomes_are_logged_as_results() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "ZADD z 1 a 2 b 3 c 0 d 0 e");
    assert_eq!(
        effects_of(&ks, "ZINCRBY z 0.5 a"),
        [zadd_effect("z", &[(1.5, "a")])]
    );
    assert_eq!(
        effects_of(&ks, "ZADD z GT CH 5 a 1 b 9 new"),
        [zadd_effect("z", &[(5.0, "a"), (9.0, "new")])]
    );
    assert_eq!(effects_of(&ks, "ZADD z 1 a 2 b"), []);
    run(&mut ks, T, "ZADD lex 0 a 0 b 0 c 0 d");
    assert_eq!(
        effects_of(&ks, "ZREMRANGEBYLEX lex (a [c"),
        [zrem_effect("lex", &["b", "c"])]
    );
    assert_eq!(
        effects_of(&ks, "ZREMRANGEBYSCORE z (1 +inf"),
        [zrem_effect("z", &["b", "c"])]
    );
    assert_eq!(
        effects_of(&ks, "ZPOPMAX z 2"),
        [zrem_effect("z", &["c", "b"])]
    );
    assert_eq!(effects_of(&ks, "ZPOPMIN z 0"), []);
    assert_eq!(effects_of(&ks, "ZREM z x a a"), [zrem_effect("z", &["a"])]);
    run(&mut ks, T, "ZADD dst 7 old");
    assert_eq!(
        effects_of(&ks, "ZUNIONSTORE dst 1 z WEIGHTS 2"),
        [
            Effect::Del {
                keys: vec![Blob::owned(b"dst".to_vec())]
            },
            zadd_effect(
                "dst",
                &[(0.0, "d"), (0.0, "e"), (2.0, "a"), (4.0, "b"), (6.0, "c")]
            ),
        ]
    );
    assert_eq!(
        effects_of(&ks, "ZRANGESTORE new z 1 1"),
        [zadd_effect("new", &[(0.0, "e")])]
    );
    assert_eq!(effects_of(&ks, "ZRANGESTORE new z 9 9"), []);
    for read in [
        "ZRANGE z 0 -1",
        "ZRANDMEMBER z -5",
        "ZSCAN z 0",
        "ZUNION 1 z",
        "ZINTERCARD 1 z",
    ] {
        assert_eq!(effects_of(&ks, read), [], "{read}");
    }
}

#[test]
fn an_expired_sorted_set_reads_as_missing() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "ZADD z 1 a");
    run(&mut ks, T, "PEXPIRE z 10");
    assert_eq!(run(&mut ks, T + 10, "ZCARD z"), ":0\r\n");
    assert!(ks.db(0).get(b"z").is_none());
    run(&mut ks, T, "ZADD z 1 a");
    run(&mut ks, T, "PEXPIRE z 10");
    assert_eq!(run(&mut ks, T + 10, "ZADD z 2 b"), ":1\r\n");
    assert_eq!(run(&mut ks, T + 10, "ZRANGE z 0 -1"), "*1\r\n$1\r\nb\r\n");
}

#[test]
fn zscan_of_a_large_set_returns_every_member_once() {
    let mut ks = Dbs::new();
    for i in 0..1000 {
        run(&mut ks, T, &format!("ZADD z {i} m{i}"));
    }
    let (mut cursor, mut seen, mut calls) = ("0".to_string(), Vec::new(), 0);
    loop {
        let r = run(&mut ks, T, &format!("ZSCAN z {cursor} COUNT 64 MATCH m*"));
        let lines: Vec<&str> = r.split("\r\n").collect();
        cursor = lines[2].to_string();
        seen.extend(members(&lines[3..].join("\r\n"), true));
        calls += 1;
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(calls, 16);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 1000);
}

#[test]
fn zrandmember_picks_distinct_members_or_repeats_for_a_negative_count() {
    let mut ks = Dbs::new();
    for i in 0..200 {
        run(&mut ks, T, &format!("ZADD z {i} m{i}"));
    }
    let mut picked = members(&run(&mut ks, T, "ZRANDMEMBER z 50 WITHSCORES"), true);
    assert_eq!(picked.len(), 50);
    picked.sort();
    picked.dedup();
    assert_eq!(picked.len(), 50, "distinct");
    let many = members(&run(&mut ks, T, "ZRANDMEMBER z -500"), false);
    assert_eq!(many.len(), 500);
    assert!(many.iter().all(|m| m.starts_with('m')));
    let one = run(&mut ks, T, "ZRANDMEMBER z");
    assert!(one.starts_with('$'), "{one}");
}
