//! Set commands against a keyspace: replies as Redis 7.0 gives them, and
//! the keyspace their logged effects leave.

use super::tests::{run, sorted_elems, T, WRONGTYPE};
use crate::store::Dbs;

#[test]
fn members_are_added_checked_and_removed() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "SADD s a b a c"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "SADD s a d"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "SADD s a"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "SCARD s"), ":4\r\n");
    assert_eq!(run(&mut ks, T, "SISMEMBER s a"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "SISMEMBER s z"), ":0\r\n");
    assert_eq!(
        run(&mut ks, T, "SMISMEMBER s a z d"),
        "*3\r\n:1\r\n:0\r\n:1\r\n"
    );
    assert_eq!(run(&mut ks, T, "SMISMEMBER nokey a"), "*1\r\n:0\r\n");
    assert_eq!(
        sorted_elems(&run(&mut ks, T, "SMEMBERS s")),
        ["a", "b", "c", "d"]
    );
    assert_eq!(run(&mut ks, T, "SREM s a a z"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "SREM nokey a"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "SREM s b c d"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "EXISTS s"), ":0\r\n", "emptied, removed");
    assert_eq!(run(&mut ks, T, "SMEMBERS s"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "SCARD s"), ":0\r\n");
    run(&mut ks, T, "SADD s x");
    assert_eq!(run(&mut ks, T, "TYPE s"), "+set\r\n");
}

#[test]
fn type_errors_match_redis() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "SET str x");
    run(&mut ks, T, "SADD s a");
    for line in [
        "SADD str a",
        "SREM str a",
        "SISMEMBER str a",
        "SMISMEMBER str a",
        "SCARD str",
        "SMEMBERS str",
        "SPOP str",
        "SPOP str 1",
        "SRANDMEMBER str",
        "SRANDMEMBER str 2",
        "SMOVE str s a",
        "SMOVE s str a",
        "SINTER s nokey str",
        "SUNION str",
        "SDIFF nokey str",
        "SINTERCARD 2 nokey str",
        "SINTERSTORE d s str",
        "SUNIONSTORE d s str",
        "SDIFFSTORE d s str",
        "SSCAN str 0",
    ] {
        assert_eq!(run(&mut ks, T, line), WRONGTYPE, "{line}");
    }
    assert_eq!(run(&mut ks, T, "EXISTS d"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "SMOVE nokey str a"), ":0\r\n", "no source");
}

#[test]
fn spop_logs_the_members_it_drew() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "SPOP s"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "SPOP s 2"), "*0\r\n");
    run(&mut ks, T, "SADD s a b c d e");
    assert_eq!(
        run(&mut ks, T, "SPOP s -1"),
        "-ERR value is out of range, must be positive\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "SPOP s x"),
        "-ERR value is out of range, must be positive\r\n"
    );
    assert_eq!(run(&mut ks, T, "SPOP s 1 2"), "-ERR syntax error\r\n");
    assert_eq!(run(&mut ks, T, "SPOP s 0"), "*0\r\n");
    let one = run(&mut ks, T, "SPOP s");
    let m = one.split("\r\n").nth(1).unwrap().to_string();
    assert_eq!(run(&mut ks, T, &format!("SISMEMBER s {m}")), ":0\r\n");
    let two = sorted_elems(&run(&mut ks, T, "SPOP s 2"));
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1]);
    assert_eq!(run(&mut ks, T, "SCARD s"), ":2\r\n");
    assert_eq!(sorted_elems(&run(&mut ks, T, "SPOP s 9")).len(), 2);
    assert_eq!(run(&mut ks, T, "EXISTS s"), ":0\r\n");
}

#[test]
fn srandmember_follows_the_count() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "SRANDMEMBER s"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "SRANDMEMBER s -3"), "*0\r\n");
    run(&mut ks, T, "SADD s a b c");
    assert!(run(&mut ks, T, "SRANDMEMBER s").starts_with("$1\r\n"));
    assert_eq!(
        sorted_elems(&run(&mut ks, T, "SRANDMEMBER s 10")),
        ["a", "b", "c"]
    );
    assert_eq!(run(&mut ks, T, "SRANDMEMBER s 0"), "*0\r\n");
    assert!(run(&mut ks, T, "SRANDMEMBER s -10").starts_with("*10\r\n"));
    assert_eq!(run(&mut ks, T, "SCARD s"), ":3\r\n", "a read");
    assert_eq!(
        run(&mut ks, T, "SRANDMEMBER s 1 2"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "SRANDMEMBER s -9223372036854775808"),
        "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"
    );
}

#[test]
fn smove_moves_one_member() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "SADD a x y");
    run(&mut ks, T, "SADD b y");
    assert_eq!(run(&mut ks, T, "SMOVE a b x"), ":1\r\n");
    assert_eq!(sorted_elems(&run(&mut ks, T, "SMEMBERS b")), ["x", "y"]);
    assert_eq!(run(&mut ks, T, "SMOVE a b zz"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "SMOVE a a y"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "SMOVE a a zz"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "SMOVE a b y"), ":1\r\n", "already there");
    assert_eq!(run(&mut ks, T, "EXISTS a"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "SMOVE b c x"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "SMEMBERS c"), "*1\r\n$1\r\nx\r\n");
}

#[test]
fn algebra_and_stores() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "SADD s1 a b c");
    run(&mut ks, T, "SADD s2 b c d");
    assert_eq!(sorted_elems(&run(&mut ks, T, "SINTER s1 s2")), ["b", "c"]);
    assert_eq!(run(&mut ks, T, "SINTER s1 nokey"), "*0\r\n");
    assert_eq!(
        sorted_elems(&run(&mut ks, T, "SUNION s1 nokey s2")),
        ["a", "b", "c", "d"]
    );
    assert_eq!(sorted_elems(&run(&mut ks, T, "SDIFF s1 s2")), ["a"]);
    assert_eq!(run(&mut ks, T, "SDIFF nokey s1"), "*0\r\n");
    assert_eq!(run(&mut ks, T, "SINTERCARD 2 s1 s2"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "SINTERCARD 2 s1 s2 LIMIT 1"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "SINTERCARD 2 s1 s2 limit 0"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "SINTERCARD 1 s1"), ":3\r\n");
    for (line, err) in [
        ("SINTERCARD 0 s1", "ERR numkeys should be greater than 0"),
        ("SINTERCARD x s1", "ERR numkeys should be greater than 0"),
        (
            "SINTERCARD 3 s1 s2",
            "ERR Number of keys can't be greater than number of args",
        ),
        ("SINTERCARD 1 s1 LIMIT -1", "ERR LIMIT can't be negative"),
        ("SINTERCARD 1 s1 LIMIT x", "ERR LIMIT can't be negative"),
        ("SINTERCARD 1 s1 LIMIT", "ERR syntax error"),
        ("SINTERCARD 1 s1 FOO 1", "ERR syntax error"),
    ] {
        assert_eq!(run(&mut ks, T, line), format!("-{err}\r\n"), "{line}");
    }
    run(&mut ks, T, "SET d x");
    run(&mut ks, T, "EXPIRE d 100");
    assert_eq!(run(&mut ks, T, "SINTERSTORE d s1 s2"), ":2\r\n");
    assert_eq!(run(&mut ks, T, "TYPE d"), "+set\r\n");
    assert_eq!(run(&mut ks, T, "TTL d"), ":-1\r\n", "replaced, expiry gone");
    assert_eq!(run(&mut ks, T, "SUNIONSTORE d d s1"), ":3\r\n");
    assert_eq!(
        sorted_elems(&run(&mut ks, T, "SMEMBERS d")),
        ["a", "b", "c"]
    );
    assert_eq!(run(&mut ks, T, "SDIFFSTORE d s2 nokey"), ":3\r\n");
    assert_eq!(
        sorted_elems(&run(&mut ks, T, "SMEMBERS d")),
        ["b", "c", "d"]
    );
    assert_eq!(run(&mut ks, T, "SINTERSTORE d s1 nokey"), ":0\r\n");
    assert_eq!(
        run(&mut ks, T, "EXISTS d"),
        ":0\r\n",
        "an empty result removes it"
    );
    assert_eq!(run(&mut ks, T, "SUNIONSTORE d nokey"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "EXISTS d"), ":0\r\n");
}

#[test]
fn sscan_walks_a_large_set() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "SSCAN s 0"), "*2\r\n$1\r\n0\r\n*0\r\n");
    for i in 0..500 {
        run(&mut ks, T, &format!("SADD s m{i}"));
    }
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        let r = run(&mut ks, T, &format!("SSCAN s {cursor}"));
        let lines: Vec<&str> = r.split("\r\n").collect();
        cursor = lines[2].to_string();
        for m in lines[4..].iter().filter(|l| l.starts_with('m')) {
            assert!(seen.insert(m.to_string()), "{m} twice");
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 500);
}
