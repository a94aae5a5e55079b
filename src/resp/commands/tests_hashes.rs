//! Hash commands against a keyspace: replies as Redis 7.0 gives them, and
//! the keyspace their logged effects leave.

use super::tests::{run, sorted_elems, T, WRONGTYPE};
use crate::store::Dbs;

#[test]
fn fields_are_set_read_and_removed() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "HSET h a 1 b 2 a 3"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "HGET h a"), "$1\r\n3\r\n");
    assert_eq!(run(&mut ks, T, "HSET h a 4 c 5"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "HMSET h d 6"), "+OK\r\n");
    assert_eq!(run(&mut ks, T, "HSETNX h a 9"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "HSETNX h e 7"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "HLEN h"), ":5\r\n");
    assert_eq!(run(&mut ks, T, "HSTRLEN h a"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "HSTRLEN h zz"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "HEXISTS h a"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "HEXISTS h zz"), ":0\r\n");
    assert_eq!(
        run(&mut ks, T, "HMGET h a zz b"),
        "*3\r\n$1\r\n4\r\n$-1\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        sorted_elems(&run(&mut ks, T, "HKEYS h")),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        sorted_elems(&run(&mut ks, T, "HVALS h")),
        ["2", "4", "5", "6", "7"]
    );
    let all = run(&mut ks, T, "HGETALL h");
    assert!(all.starts_with("*10\r\n"), "{all}");
    assert!(all.contains("$1\r\nd\r\n$1\r\n6\r\n"), "{all}");
    assert_eq!(run(&mut ks, T, "HDEL h a a zz b"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "HDEL h a"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "HDEL h c d e"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "EXISTS h"), ":0\r\n", "emptied, removed");
    assert_eq!(run(&mut ks, T, "HGETALL h"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "HGET h a"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "HLEN h"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "HDEL h a"), ":0\r\n");
}

#[test]
fn arity_and_type_errors_match_redis() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "SET s x");
    for line in ["HSET h a", "HSET h a 1 b"] {
        assert_eq!(
            run(&mut ks, T, line),
            "-ERR wrong number of arguments for 'hset' command\r\n"
        );
    }
    assert_eq!(
        run(&mut ks, T, "HMSET h a 1 b"),
        "-ERR wrong number of arguments for 'hmset' command\r\n"
    );
    for line in [
        "HSET s a 1",
        "HMSET s a 1",
        "HSETNX s a 1",
        "HGET s a",
        "HMGET s a",
        "HDEL s a",
        "HLEN s",
        "HSTRLEN s a",
        "HEXISTS s a",
        "HKEYS s",
        "HVALS s",
        "HGETALL s",
        "HINCRBY s a 1",
        "HINCRBYFLOAT s a 1",
        "HRANDFIELD s",
        "HRANDFIELD s 1",
        "HSCAN s 0",
    ] {
        assert_eq!(run(&mut ks, T, line), WRONGTYPE, "{line}");
    }
    assert_eq!(run(&mut ks, T, "GET s"), "$1\r\nx\r\n", "left alone");
    run(&mut ks, T, "HSET h a 1");
    assert_eq!(run(&mut ks, T, "GET h"), WRONGTYPE);
    assert_eq!(run(&mut ks, T, "TYPE h"), "+hash\r\n");
}

#[test]
fn increments_log_the_value_they_produce() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "HINCRBY h n 5"), ":5\r\n");
    assert_eq!(run(&mut ks, T, "HINCRBY h n -7"), ":-2\r\n");
    assert_eq!(run(&mut ks, T, "HGET h n"), "$2\r\n-2\r\n");
    assert_eq!(
        run(&mut ks, T, "HINCRBY h n x"),
        "-ERR value is not an integer or out of range\r\n"
    );
    run(&mut ks, T, "HSET h s abc big 9223372036854775807");
    assert_eq!(
        run(&mut ks, T, "HINCRBY h s 1"),
        "-ERR hash value is not an integer\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "HINCRBY h big 1"),
        "-ERR increment or decrement would overflow\r\n"
    );
    assert_eq!(run(&mut ks, T, "HINCRBYFLOAT h f 10.5"), "$4\r\n10.5\r\n");
    assert_eq!(run(&mut ks, T, "HINCRBYFLOAT h f 0.1"), "$4\r\n10.6\r\n");
    assert_eq!(run(&mut ks, T, "HINCRBYFLOAT h g 3.0e3"), "$4\r\n3000\r\n");
    assert_eq!(run(&mut ks, T, "HINCRBYFLOAT h n 1"), "$2\r\n-1\r\n");
    assert_eq!(
        run(&mut ks, T, "HINCRBYFLOAT h s 1"),
        "-ERR hash value is not a float\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "HINCRBYFLOAT h f x"),
        "-ERR value is not a valid float\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "HINCRBYFLOAT h f inf"),
        "-ERR value is NaN or Infinity\r\n"
    );
    run(&mut ks, T, "HSET h huge 1e4932");
    assert_eq!(
        run(&mut ks, T, "HINCRBYFLOAT h huge 1e4932"),
        "-ERR increment would produce NaN or Infinity\r\n"
    );
    // The increment is checked before the type, as Redis does.
    run(&mut ks, T, "SET str x");
    assert_eq!(
        run(&mut ks, T, "HINCRBY str f x"),
        "-ERR value is not an integer or out of range\r\n"
    );
}

#[test]
fn a_hash_keeps_its_expiry_and_expires_as_a_whole() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "HSET h a 1");
    assert_eq!(run(&mut ks, T, "PEXPIRE h 100"), ":1\r\n");
    run(&mut ks, T, "HSET h b 2");
    run(&mut ks, T, "HDEL h b");
    assert_eq!(run(&mut ks, T, "PTTL h"), ":100\r\n");
    assert_eq!(run(&mut ks, T + 100, "HGET h a"), "$-1\r\n");
    assert!(ks.db(0).get(b"h").is_none(), "the read logged its delete");
    run(&mut ks, T, "HSET h a 1");
    run(&mut ks, T, "PEXPIRE h 100");
    assert_eq!(run(&mut ks, T + 100, "HSET h b 2"), ":1\r\n");
    assert_eq!(run(&mut ks, T + 100, "HLEN h"), ":1\r\n", "a new hash");
    assert_eq!(run(&mut ks, T + 100, "PTTL h"), ":-1\r\n");
}

#[test]
fn random_fields_follow_the_count() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "HRANDFIELD h"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "HRANDFIELD h 2"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "HRANDFIELD h -2 WITHVALUES"), "*0\r\n");
    run(&mut ks, T, "HSET h a 1 b 2 c 3");
    let one = run(&mut ks, T, "HRANDFIELD h");
    assert!(["$1\r\na\r\n", "$1\r\nb\r\n", "$1\r\nc\r\n"].contains(&one.as_str()));
    assert_eq!(run(&mut ks, T, "HRANDFIELD h 0"), "*0\r\n");
    assert_eq!(
        sorted_elems(&run(&mut ks, T, "HRANDFIELD h 5")),
        ["a", "b", "c"]
    );
    let two = run(&mut ks, T, "HRANDFIELD h 2 WITHVALUES");
    assert!(two.starts_with("*4\r\n"), "{two}");
    let e = sorted_elems(&two);
    assert_eq!(e.len(), 4);
    assert_ne!(e[2], e[3], "distinct fields");
    assert!(run(&mut ks, T, "HRANDFIELD h -7").starts_with("*7\r\n"));
    assert!(run(&mut ks, T, "HRANDFIELD h -7 withvalues").starts_with("*14\r\n"));
    assert_eq!(
        run(&mut ks, T, "HRANDFIELD h 2 WITHVALUE"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "HRANDFIELD h 2 WITHVALUES x"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "HRANDFIELD h x"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "HRANDFIELD h -9223372036854775808"),
        "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "HRANDFIELD h 9223372036854775807 WITHVALUES"),
        "-ERR value is out of range\r\n"
    );
}

#[test]
fn hscan_walks_a_large_hash_and_pairs_fields_with_values() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "HSCAN h 0"), "*2\r\n$1\r\n0\r\n*0\r\n");
    for i in 0..300 {
        run(&mut ks, T, &format!("HSET h f{i} v{i}"));
    }
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        let r = run(&mut ks, T, &format!("HSCAN h {cursor} COUNT 20"));
        let lines: Vec<&str> = r.split("\r\n").collect();
        cursor = lines[2].to_string();
        let elems: Vec<&str> = lines[4..]
            .iter()
            .copied()
            .filter(|l| !l.starts_with('$') && !l.is_empty())
            .collect();
        for pair in elems.chunks(2) {
            assert_eq!(pair[0].replace('f', "v"), pair[1]);
            assert!(seen.insert(pair[0].to_string()), "{} twice", pair[0]);
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 300);
    let m = run(&mut ks, T, "HSCAN h 0 MATCH f1? COUNT 1000");
    assert!(m.starts_with("*2\r\n$1\r\n0\r\n*20\r\n"), "{m}");
    assert_eq!(run(&mut ks, T, "HSCAN h x"), "-ERR invalid cursor\r\n");
    assert_eq!(
        run(&mut ks, T, "HSCAN h 0 COUNT 0"),
        "-ERR syntax error\r\n"
    );
}
