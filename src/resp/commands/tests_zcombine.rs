//! Sorted-set union, intersection and difference (`ZUNION`, `ZINTER`,
//! `ZDIFF`, their STORE forms, `ZINTERCARD`) against their replies from
//! Redis 7.0.15, captured from a real server byte for byte.

use super::tests::{run, T};
use super::tests_zsets::sadd;
use super::*;

#[test]
fn zunion_inter_diff() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "ZADD a 1 x 2 y 3 z"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "ZADD b 10 y 20 z 30 w"), ":3\r\n");
    sadd(&mut ks, "s", &["y", "w", "q"]);
    assert_eq!(
        run(&mut ks, T, "ZUNION 2 a b"),
        "*4\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n$1\r\nw\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZUNION 2 a b WITHSCORES"), "*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n23\r\n$1\r\nw\r\n$2\r\n30\r\n");
    assert_eq!(run(&mut ks, T, "ZUNION 2 a b WEIGHTS 2 -1 WITHSCORES"), "*8\r\n$1\r\nw\r\n$3\r\n-30\r\n$1\r\nz\r\n$3\r\n-14\r\n$1\r\ny\r\n$2\r\n-6\r\n$1\r\nx\r\n$1\r\n2\r\n");
    assert_eq!(run(&mut ks, T, "ZUNION 2 a b AGGREGATE MIN WITHSCORES"), "*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$1\r\n2\r\n$1\r\nz\r\n$1\r\n3\r\n$1\r\nw\r\n$2\r\n30\r\n");
    assert_eq!(run(&mut ks, T, "ZUNION 2 a b AGGREGATE MAX WEIGHTS 1 0.5 WITHSCORES"), "*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$1\r\n5\r\n$1\r\nz\r\n$2\r\n10\r\n$1\r\nw\r\n$2\r\n15\r\n");
    assert_eq!(run(&mut ks, T, "ZUNION 3 a b s WITHSCORES"), "*10\r\n$1\r\nq\r\n$1\r\n1\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n13\r\n$1\r\nz\r\n$2\r\n23\r\n$1\r\nw\r\n$2\r\n31\r\n");
    assert_eq!(run(&mut ks, T, "ZUNION 3 a nokey s WITHSCORES"), "*10\r\n$1\r\nq\r\n$1\r\n1\r\n$1\r\nw\r\n$1\r\n1\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$1\r\n3\r\n$1\r\nz\r\n$1\r\n3\r\n");
    assert_eq!(
        run(&mut ks, T, "ZINTER 2 a b WITHSCORES"),
        "*4\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n23\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZINTER 2 a b AGGREGATE max WITHSCORES"),
        "*4\r\n$1\r\ny\r\n$2\r\n10\r\n$1\r\nz\r\n$2\r\n20\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZINTER 3 a b s WITHSCORES"),
        "*2\r\n$1\r\ny\r\n$2\r\n13\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZINTER 2 a nokey"), "*0\r\n");
    assert_eq!(
        run(&mut ks, T, "ZINTER 2 b s WEIGHTS 0 2 WITHSCORES"),
        "*4\r\n$1\r\nw\r\n$1\r\n2\r\n$1\r\ny\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZDIFF 2 a b WITHSCORES"),
        "*2\r\n$1\r\nx\r\n$1\r\n1\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZDIFF 2 b s WITHSCORES"),
        "*2\r\n$1\r\nz\r\n$2\r\n20\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZDIFF 1 s WITHSCORES"),
        "*6\r\n$1\r\nq\r\n$1\r\n1\r\n$1\r\nw\r\n$1\r\n1\r\n$1\r\ny\r\n$1\r\n1\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZDIFF 2 nokey a"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "ZINTERCARD 2 a b"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "ZINTERCARD 2 a b LIMIT 1"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "ZINTERCARD 2 a b LIMIT 0"), ":2\r\n");
    assert_eq!(
        run(&mut ks, T, "ZINTERCARD 2 a b LIMIT -1"),
        "-ERR LIMIT can't be negative\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZINTERCARD 2 a nokey"), ":0\r\n");
    assert_eq!(
        run(&mut ks, T, "ZINTERCARD 0 a"),
        "-ERR at least 1 input key is needed for 'zintercard' command\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZINTERCARD 2 a b WITHSCORES"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZUNION 0 a"),
        "-ERR at least 1 input key is needed for 'zunion' command\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZUNION -1 a"),
        "-ERR at least 1 input key is needed for 'zunion' command\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZUNION x a"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZUNION 3 a b"), "-ERR syntax error\r\n");
    assert_eq!(
        run(&mut ks, T, "ZUNION 2 a b WEIGHTS 1"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZUNION 2 a b WEIGHTS 1 x"),
        "-ERR weight value is not a float\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZUNION 2 a b AGGREGATE avg"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZUNION 2 a b AGGREGATE"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZDIFF 2 a b WEIGHTS 1 2"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZDIFF 2 a b AGGREGATE SUM"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZINTER 2 a b BOGUS"),
        "-ERR syntax error\r\n"
    );
    run(&mut ks, T, "SET str v");
    assert_eq!(
        run(&mut ks, T, "ZUNION 2 a str"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZINTER 2 nokey str"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZUNION 2 a str WEIGHTS x y"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZINTERCARD 1 str"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
}

#[test]
fn zinf_and_nan_aggregates() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "ZADD a inf x -inf y 1 z"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "ZADD b -inf x inf y 1 z"), ":3\r\n");
    assert_eq!(
        run(&mut ks, T, "ZUNION 2 a b WITHSCORES"),
        "*6\r\n$1\r\nx\r\n$1\r\n0\r\n$1\r\ny\r\n$1\r\n0\r\n$1\r\nz\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZINTER 2 a b WEIGHTS 0 1 WITHSCORES"),
        "*6\r\n$1\r\nx\r\n$4\r\n-inf\r\n$1\r\nz\r\n$1\r\n1\r\n$1\r\ny\r\n$3\r\ninf\r\n"
    );
    assert_eq!(
        run(
            &mut ks,
            T,
            "ZUNION 2 a b WEIGHTS 0 0 AGGREGATE MAX WITHSCORES"
        ),
        "*6\r\n$1\r\nx\r\n$1\r\n0\r\n$1\r\ny\r\n$1\r\n0\r\n$1\r\nz\r\n$1\r\n0\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZINTER 2 a b AGGREGATE MIN WITHSCORES"),
        "*6\r\n$1\r\nx\r\n$4\r\n-inf\r\n$1\r\ny\r\n$4\r\n-inf\r\n$1\r\nz\r\n$1\r\n1\r\n"
    );
}

#[test]
fn zstore_forms() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "ZADD a 1 x 2 y 3 z"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "ZADD b 10 y 20 z 30 w"), ":3\r\n");
    run(&mut ks, T, "SET dst v");
    run(&mut ks, T, "EXPIRE dst 100");
    assert_eq!(
        run(&mut ks, T, "ZUNIONSTORE dst 2 a b WEIGHTS 1 2"),
        ":4\r\n"
    );
    assert_eq!(run(&mut ks, T, "TTL dst"), ":-1\r\n");
    assert_eq!(run(&mut ks, T, "ZRANGE dst 0 -1 WITHSCORES"), "*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n22\r\n$1\r\nz\r\n$2\r\n43\r\n$1\r\nw\r\n$2\r\n60\r\n");
    assert_eq!(
        run(&mut ks, T, "ZINTERSTORE dst 2 a b AGGREGATE MIN"),
        ":2\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZRANGE dst 0 -1 WITHSCORES"),
        "*4\r\n$1\r\ny\r\n$1\r\n2\r\n$1\r\nz\r\n$1\r\n3\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZDIFFSTORE dst 2 a b"), ":1\r\n");
    assert_eq!(
        run(&mut ks, T, "ZRANGE dst 0 -1 WITHSCORES"),
        "*2\r\n$1\r\nx\r\n$1\r\n1\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZINTERSTORE dst 2 a nokey"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "EXISTS dst"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "ZUNIONSTORE a 2 a b"), ":4\r\n");
    assert_eq!(run(&mut ks, T, "ZRANGE a 0 -1 WITHSCORES"), "*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n23\r\n$1\r\nw\r\n$2\r\n30\r\n");
    assert_eq!(
        run(&mut ks, T, "ZUNIONSTORE dst 2 a b WITHSCORES"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZUNIONSTORE dst 0 a"),
        "-ERR at least 1 input key is needed for 'zunionstore' command\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZINTERSTORE dst 0 a"),
        "-ERR at least 1 input key is needed for 'zinterstore' command\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "ZDIFFSTORE dst 0 a"),
        "-ERR at least 1 input key is needed for 'zdiffstore' command\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZDIFFSTORE dst 1 nokey"), ":0\r\n");
    run(&mut ks, T, "SET str v");
    assert_eq!(
        run(&mut ks, T, "ZUNIONSTORE dst 1 str"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(run(&mut ks, T, "ZDIFFSTORE str 1 b"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "TYPE str"), "+zset\r\n");
}
