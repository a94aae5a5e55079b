//! Sorted-set range commands (by score, lex and rank; their STORE and
//! REMRANGE forms) against their replies from Redis 7.0.15, captured from a
//! real server byte for byte.

use super::tests::{run, T};
use super::*;

/// Members `m0…` of the reply, in order (scores skipped when `scored`).
pub(super) fn members(reply: &str, scored: bool) -> Vec<String> {
    let bulks: Vec<&str> = reply
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.starts_with('$') && !l.is_empty())
        .collect();
    bulks
        .iter()
        .step_by(if scored { 2 } else { 1 })
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn zcount_and_score_ranges() {
    let mut ks = Dbs::new();
    assert_eq!(
        run(
            &mut ks,
            T,
            "ZADD z -inf ninf 1 a 2 b 3 c 3 cc 4 d +inf pinf"
        ),
        ":7\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZCOUNT z -inf +inf"), ":7\r\n");
    assert_eq!(run(&mut ks, T, "ZCOUNT z 2 3"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "ZCOUNT z (2 3"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "ZCOUNT z (2 (3"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZCOUNT z 3 2"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZCOUNT z (3 3"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZCOUNT z -inf -inf"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "ZCOUNT z (-inf (+inf"), ":5\r\n");
    assert_eq!(run(&mut ks, T, "ZCOUNT z inf inf"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "ZCOUNT z 1.5 3.5"), ":3\r\n");
    assert_eq!(
        run(&mut ks, T, "ZCOUNT z x 3"),
        "-ERR min or max is not a float\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZCOUNT z 1 (x"),
        "-ERR min or max is not a float\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZCOUNT z nan 3"),
        "-ERR min or max is not a float\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZCOUNT z \"\" 3"),
        "-ERR min or max is not a float\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZCOUNT z ( 3"), ":4\r\n");
    assert_eq!(run(&mut ks, T, "ZCOUNT nokey 0 1"), ":0\r\n");
    run(&mut ks, T, "SET s v");
    assert_eq!(
        run(&mut ks, T, "ZCOUNT s 0 1"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZCOUNT s x 1"),
        "-ERR min or max is not a float\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYSCORE z (1 3"),
        "*3\r\n$1\r\nb\r\n$1\r\nc\r\n$2\r\ncc\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZRANGEBYSCORE z -inf +inf WITHSCORES"), "*14\r\n$4\r\nninf\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$2\r\ncc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$4\r\npinf\r\n$3\r\ninf\r\n");
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYSCORE z 2 +inf LIMIT 1 2"),
        "*2\r\n$1\r\nc\r\n$2\r\ncc\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYSCORE z 2 +inf LIMIT 1 -1"),
        "*4\r\n$1\r\nc\r\n$2\r\ncc\r\n$1\r\nd\r\n$4\r\npinf\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYSCORE z 2 +inf LIMIT -1 2"),
        "*0\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYSCORE z 2 +inf LIMIT 10 2"),
        "*0\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYSCORE z 2 +inf LIMIT 1 0"),
        "*0\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYSCORE z 2 +inf WITHSCORES LIMIT 0 1"),
        "*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYSCORE z 2 +inf LIMIT 0"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYSCORE z 2 +inf LIMIT x 1"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYSCORE z 2 +inf REV"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYSCORE z 2 +inf BYSCORE"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZREVRANGEBYSCORE z +inf 2"),
        "*5\r\n$4\r\npinf\r\n$1\r\nd\r\n$2\r\ncc\r\n$1\r\nc\r\n$1\r\nb\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZREVRANGEBYSCORE z 3 (1 WITHSCORES"),
        "*6\r\n$2\r\ncc\r\n$1\r\n3\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZREVRANGEBYSCORE z +inf -inf LIMIT 1 3"),
        "*3\r\n$1\r\nd\r\n$2\r\ncc\r\n$1\r\nc\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZREVRANGEBYSCORE z 2 3"), "*0\r\n");
    assert_eq!(
        run(&mut ks, T, "ZREVRANGEBYSCORE z (3 x"),
        "-ERR min or max is not a float\r\n"
    );
}

#[test]
fn zlex_ranges() {
    let mut ks = Dbs::new();
    assert_eq!(
        run(&mut ks, T, "ZADD z 0 a 0 b 0 c 0 d 0 e 0 ee 0 f"),
        ":7\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZLEXCOUNT z - +"), ":7\r\n");
    assert_eq!(run(&mut ks, T, "ZLEXCOUNT z [b [d"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "ZLEXCOUNT z (b (d"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "ZLEXCOUNT z [e +"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "ZLEXCOUNT z (e +"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "ZLEXCOUNT z + -"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZLEXCOUNT z [d [b"), ":0\r\n");
    assert_eq!(
        run(&mut ks, T, "ZLEXCOUNT z b d"),
        "-ERR min or max not valid string range item\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZLEXCOUNT z [b d"),
        "-ERR min or max not valid string range item\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZLEXCOUNT z +x +"),
        "-ERR min or max not valid string range item\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZLEXCOUNT z - -"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZLEXCOUNT nokey - +"), ":0\r\n");
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYLEX z - +"),
        "*7\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$2\r\nee\r\n$1\r\nf\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYLEX z [c +"),
        "*5\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$2\r\nee\r\n$1\r\nf\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYLEX z (c [e"),
        "*2\r\n$1\r\nd\r\n$1\r\ne\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYLEX z - + LIMIT 2 3"),
        "*3\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYLEX z - + LIMIT 2 -1"),
        "*5\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$2\r\nee\r\n$1\r\nf\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYLEX z - + WITHSCORES"),
        "-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYLEX z - x"),
        "-ERR min or max not valid string range item\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZREVRANGEBYLEX z + -"),
        "*7\r\n$1\r\nf\r\n$2\r\nee\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZREVRANGEBYLEX z [e (b"),
        "*3\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZREVRANGEBYLEX z + - LIMIT 1 2"),
        "*2\r\n$2\r\nee\r\n$1\r\ne\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZREVRANGEBYLEX z - +"), "*0\r\n");
    assert_eq!(
        run(&mut ks, T, "ZRANGE z [b [d BYLEX"),
        "*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z [d [b BYLEX REV"),
        "*3\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z + - BYLEX REV LIMIT 0 2"),
        "*2\r\n$1\r\nf\r\n$2\r\nee\r\n"
    );
    run(&mut ks, T, "SET s v");
    assert_eq!(
        run(&mut ks, T, "ZLEXCOUNT s - +"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZLEXCOUNT s x +"),
        "-ERR min or max not valid string range item\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGEBYLEX s - +"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
}

#[test]
fn zrange_by_rank_and_options() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "ZADD z 1 a 2 b 3 c 4 d 5 e"), ":5\r\n");
    assert_eq!(
        run(&mut ks, T, "ZRANGE z 0 -1"),
        "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z 1 2 WITHSCORES"),
        "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z -2 -1"),
        "*2\r\n$1\r\nd\r\n$1\r\ne\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z -100 100"),
        "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZRANGE z 3 1"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "ZRANGE z 5 10"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "ZRANGE z 0 0 REV"), "*1\r\n$1\r\ne\r\n");
    assert_eq!(
        run(&mut ks, T, "ZRANGE z 0 1 REV WITHSCORES"),
        "*4\r\n$1\r\ne\r\n$1\r\n5\r\n$1\r\nd\r\n$1\r\n4\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZRANGE z -1 -1 REV"), "*1\r\n$1\r\na\r\n");
    assert_eq!(
        run(&mut ks, T, "ZREVRANGE z 0 -1"),
        "*5\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZREVRANGE z 1 2 WITHSCORES"),
        "*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZREVRANGE z 0 -1 LIMIT 0 1"), "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n");
    assert_eq!(
        run(&mut ks, T, "ZREVRANGE z 0 -1 REV"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z x 1"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZRANGE z 0 1 LIMIT 0 1"), "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n");
    assert_eq!(
        run(&mut ks, T, "ZRANGE z 0 1 LIMIT 0 -1"),
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z 0 1 BOGUS"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z 0 1 REV REV"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z 0 1 BYSCORE BYLEX"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z (1 5 BYSCORE"),
        "*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z 5 (1 BYSCORE REV"),
        "*4\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z 5 (1 BYSCORE REV LIMIT 1 2 WITHSCORES"),
        "*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z +inf -inf BYSCORE REV LIMIT 0 2"),
        "*2\r\n$1\r\ne\r\n$1\r\nd\r\n"
    );
    assert_eq!(
        run(
            &mut ks,
            T,
            "ZRANGE z -inf +inf BYSCORE LIMIT 3 10 WITHSCORES"
        ),
        "*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\ne\r\n$1\r\n5\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z (1 x BYSCORE"),
        "-ERR min or max is not a float\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZRANGE nokey 0 -1"), "*0\r\n");
    assert_eq!(
        run(&mut ks, T, "ZRANGE nokey x y"),
        "-ERR value is not an integer or out of range\r\n"
    );
    run(&mut ks, T, "SET s v");
    assert_eq!(
        run(&mut ks, T, "ZRANGE s 0 -1"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE s x 1"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZREVRANGE s 0 -1"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
}

#[test]
fn zrangestore_replaces_the_destination() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "ZADD z 1 a 2 b 3 c 4 d 5 e"), ":5\r\n");
    run(&mut ks, T, "SET dst v");
    run(&mut ks, T, "EXPIRE dst 100");
    assert_eq!(run(&mut ks, T, "ZRANGESTORE dst z 1 2"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "TYPE dst"), "+zset\r\n");
    assert_eq!(run(&mut ks, T, "TTL dst"), ":-1\r\n");
    assert_eq!(
        run(&mut ks, T, "ZRANGE dst 0 -1 WITHSCORES"),
        "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGESTORE dst z (2 +inf BYSCORE LIMIT 0 2"),
        ":2\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE dst 0 -1 WITHSCORES"),
        "*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGESTORE dst z [c - BYLEX REV"),
        ":3\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE dst 0 -1 WITHSCORES"),
        "*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGESTORE dst z 0 -1 WITHSCORES"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZRANGESTORE dst z 5 10"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "EXISTS dst"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZRANGESTORE dst nokey 0 -1"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZRANGESTORE z z 0 1"), ":2\r\n");
    assert_eq!(
        run(&mut ks, T, "ZRANGE z 0 -1"),
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    run(&mut ks, T, "SET s v");
    assert_eq!(
        run(&mut ks, T, "ZRANGESTORE dst s 0 -1"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZRANGESTORE s z 0 -1"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "TYPE s"), "+zset\r\n");
}

#[test]
fn zremrange_family() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "ZADD z 1 a 2 b 3 c 4 d 5 e 6 f"), ":6\r\n");
    assert_eq!(run(&mut ks, T, "ZREMRANGEBYRANK z 0 0"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "ZREMRANGEBYRANK z -1 -1"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "ZREMRANGEBYRANK z 5 10"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZREMRANGEBYRANK z 2 1"), ":0\r\n");
    assert_eq!(
        run(&mut ks, T, "ZREMRANGEBYRANK z x 1"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE z 0 -1"),
        "*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZREMRANGEBYSCORE z (2 3"), ":1\r\n");
    assert_eq!(
        run(&mut ks, T, "ZREMRANGEBYSCORE z x 3"),
        "-ERR min or max is not a float\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZREMRANGEBYSCORE z 10 +inf"), ":0\r\n");
    assert_eq!(
        run(&mut ks, T, "ZRANGE z 0 -1"),
        "*3\r\n$1\r\nb\r\n$1\r\nd\r\n$1\r\ne\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZREMRANGEBYSCORE z -inf +inf"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "EXISTS z"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZADD z 0 a 0 b 0 c 0 d"), ":4\r\n");
    assert_eq!(run(&mut ks, T, "ZREMRANGEBYLEX z (a [c"), ":2\r\n");
    assert_eq!(
        run(&mut ks, T, "ZREMRANGEBYLEX z a c"),
        "-ERR min or max not valid string range item\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZREMRANGEBYLEX z + -"), ":0\r\n");
    assert_eq!(
        run(&mut ks, T, "ZRANGE z 0 -1"),
        "*2\r\n$1\r\na\r\n$1\r\nd\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZREMRANGEBYLEX z - +"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "EXISTS z"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZREMRANGEBYRANK nokey 0 -1"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZREMRANGEBYSCORE nokey 0 1"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZREMRANGEBYLEX nokey - +"), ":0\r\n");
    run(&mut ks, T, "SET s v");
    assert_eq!(
        run(&mut ks, T, "ZREMRANGEBYRANK s 0 -1"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZREMRANGEBYSCORE s 0 1"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZREMRANGEBYLEX s - +"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
}

#[test]
fn ranges_on_a_large_set_agree_with_a_sorted_list() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut ks = Dbs::new();
    let mut model: Vec<(f64, String)> = Vec::new();
    for i in 0..600 {
        let score = f64::from(rng.gen_range(0..50));
        let m = format!("m{i}");
        run(&mut ks, T, &format!("ZADD z {score} {m}"));
        model.push((score, m));
    }
    model.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    for _ in 0..200 {
        let (lo, hi) = (rng.gen_range(-5..55), rng.gen_range(-5..55));
        let (lo_ex, hi_ex) = (rng.gen_bool(0.5), rng.gen_bool(0.5));
        let bound = |v: i32, ex: bool| format!("{}{v}", if ex { "(" } else { "" });
        let (offset, count) = (rng.gen_range(0..40), rng.gen_range(-1..40));
        let want: Vec<String> = model
            .iter()
            .filter(|(s, _)| {
                let (s, lo, hi) = (*s, f64::from(lo), f64::from(hi));
                (if lo_ex { s > lo } else { s >= lo }) && (if hi_ex { s < hi } else { s <= hi })
            })
            .map(|(_, m)| m.clone())
            .collect();
        let (min, max) = (bound(lo, lo_ex), bound(hi, hi_ex));
        let got = run(&mut ks, T, &format!("ZCOUNT z {min} {max}"));
        assert_eq!(got, format!(":{}\r\n", want.len()), "{min} {max}");
        let limited = |v: &[String]| -> Vec<String> {
            let take = if count < 0 {
                usize::MAX
            } else {
                count as usize
            };
            v.iter().skip(offset).take(take).cloned().collect()
        };
        let line = format!("ZRANGE z {min} {max} BYSCORE LIMIT {offset} {count} WITHSCORES");
        assert_eq!(
            members(&run(&mut ks, T, &line), true),
            limited(&want),
            "{line}"
        );
        let rev: Vec<String> = want.iter().rev().cloned().collect();
        let line = format!("ZRANGE z {max} {min} BYSCORE REV LIMIT {offset} {count}");
        assert_eq!(
            members(&run(&mut ks, T, &line), false),
            limited(&rev),
            "{line}"
        );
        let (a, b) = (rng.gen_range(-700..700), rng.gen_range(-700..700));
        let n = model.len() as i64;
        let (s, e) = (
            if a < 0 { n + a } else { a }.max(0),
            if b < 0 { n + b } else { b },
        );
        let want: Vec<String> = model
            .iter()
            .enumerate()
            .filter(|(i, _)| (*i as i64) >= s && (*i as i64) <= e)
            .map(|(_, (_, m))| m.clone())
            .collect();
        assert_eq!(
            members(&run(&mut ks, T, &format!("ZRANGE z {a} {b}")), false),
            want
        );
        let rev: Vec<String> = model.iter().rev().map(|(_, m)| m.clone()).collect();
        let want: Vec<String> = rev
            .iter()
            .enumerate()
            .filter(|(i, _)| (*i as i64) >= s && (*i as i64) <= e)
            .map(|(_, m)| m.clone())
            .collect();
        assert_eq!(
            members(&run(&mut ks, T, &format!("ZREVRANGE z {a} {b}")), false),
            want
        );
    }
    for (rank, (_, m)) in model.iter().enumerate().step_by(37) {
        assert_eq!(
            run(&mut ks, T, &format!("ZRANK z {m}")),
            format!(":{rank}\r\n")
        );
    }
}
