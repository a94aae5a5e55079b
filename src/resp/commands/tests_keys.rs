//! Key, database and SORT commands.

use super::tests::{run, run_in, T};
use crate::store::Dbs;

#[test]
fn rename_copy_move_and_swapdb() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "SET a 1");
    run(&mut ks, T, "EXPIRE a 100");
    assert_eq!(run(&mut ks, T, "RENAME a b"), "+OK\r\n");
    assert_eq!(
        run(&mut ks, T, "TTL b"),
        ":100\r\n",
        "the expiry goes along"
    );
    assert_eq!(run(&mut ks, T, "RENAME a b"), "-ERR no such key\r\n");
    assert_eq!(run(&mut ks, T, "RENAMENX a b"), "-ERR no such key\r\n");
    assert_eq!(run(&mut ks, T, "RENAME b b"), "+OK\r\n");
    run(&mut ks, T, "SET c 3");
    assert_eq!(run(&mut ks, T, "RENAMENX b c"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "RENAMENX b d"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "COPY d c"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "COPY d c REPLACE"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "GET c"), "$1\r\n1\r\n");
    assert_eq!(run(&mut ks, T, "TTL c"), ":100\r\n");
    assert_eq!(
        run(&mut ks, T, "COPY d d"),
        "-ERR source and destination objects are the same\r\n"
    );
    assert_eq!(run(&mut ks, T, "COPY d d DB 3"), ":1\r\n");
    assert_eq!(run_in(&mut ks, 3, T, "GET d"), "$1\r\n1\r\n");
    assert_eq!(
        run(&mut ks, T, "COPY d d DB 16"),
        "-ERR DB index is out of range\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "COPY d d DB x"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(run(&mut ks, T, "COPY d d BOGUS"), "-ERR syntax error\r\n");
    assert_eq!(run(&mut ks, T, "COPY nope x"), ":0\r\n");
    // MOVE
    assert_eq!(
        run(&mut ks, T, "MOVE d 0"),
        "-ERR source and destination objects are the same\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "MOVE d 16"),
        "-ERR DB index is out of range\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "MOVE d x"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(run(&mut ks, T, "MOVE d 3"), ":0\r\n", "database 3 has d");
    assert_eq!(run(&mut ks, T, "MOVE c 5"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "EXISTS c"), ":0\r\n");
    assert_eq!(run_in(&mut ks, 5, T, "TTL c"), ":100\r\n");
    assert_eq!(run(&mut ks, T, "MOVE nope 5"), ":0\r\n");
    assert_eq!(run_in(&mut ks, 5, T, "MOVE c 0"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "GET c"), "$1\r\n1\r\n");
    // SWAPDB
    assert_eq!(run(&mut ks, T, "SWAPDB 0 7"), "+OK\r\n");
    assert_eq!(run(&mut ks, T, "DBSIZE"), ":0\r\n");
    assert_eq!(run_in(&mut ks, 7, T, "DBSIZE"), ":2\r\n");
    assert_eq!(
        run(&mut ks, T, "SWAPDB x 1"),
        "-ERR invalid first DB index\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "SWAPDB 1 x"),
        "-ERR invalid second DB index\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "SWAPDB 1 16"),
        "-ERR DB index is out of range\r\n"
    );
    assert_eq!(run(&mut ks, T, "SWAPDB 2 2"), "+OK\r\n");
}

#[test]
fn info_counts_keys_with_an_expiry_per_database() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "MSET a 1 b 2 c 3");
    run(&mut ks, T, "EXPIRE a 100");
    run(&mut ks, T, "SETEX b 100 x");
    run_in(&mut ks, 3, T, "SET z 1");
    assert_eq!(
        ks.info_lines(),
        "db0:keys=3,expires=2,avg_ttl=0\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n"
    );
    run(&mut ks, T, "PERSIST a");
    run(&mut ks, T, "DEL b");
    run(&mut ks, T, "PEXPIRE c 5000");
    run(&mut ks, T, "SET c 4 KEEPTTL");
    run(&mut ks, T, "MOVE c 3");
    assert_eq!(ks.db(0).expires(), 0);
    assert_eq!(ks.db(3).expires(), 1);
    run(&mut ks, T, "SWAPDB 3 4");
    run_in(&mut ks, 4, T, "RENAME c d");
    assert_eq!(ks.db(4).expires(), 1);
    run_in(&mut ks, 4, T, "SET d 1");
    assert_eq!(ks.db(4).expires(), 0);
    run(&mut ks, T, "FLUSHALL");
    assert_eq!(ks.info_lines(), "");
}

#[test]
fn expiretime_touch_randomkey_time() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "RANDOMKEY"), "$-1\r\n");
    run(&mut ks, T, "SET a 1");
    run(&mut ks, T, "PEXPIREAT a 2000600");
    run(&mut ks, T, "SET b 2");
    assert_eq!(run(&mut ks, T, "EXPIRETIME a"), ":2001\r\n");
    assert_eq!(run(&mut ks, T, "PEXPIRETIME a"), ":2000600\r\n");
    assert_eq!(run(&mut ks, T, "EXPIRETIME b"), ":-1\r\n");
    assert_eq!(run(&mut ks, T, "EXPIRETIME nope"), ":-2\r\n");
    assert_eq!(run(&mut ks, T, "TOUCH a b nope"), ":2\r\n");
    for _ in 0..20 {
        let k = run(&mut ks, T, "RANDOMKEY");
        assert!(k == "$1\r\na\r\n" || k == "$1\r\nb\r\n", "{k}");
    }
    // Only b is live then.
    for _ in 0..20 {
        assert_eq!(run(&mut ks, 2_000_600, "RANDOMKEY"), "$1\r\nb\r\n");
    }
    let t = run(&mut ks, T, "TIME");
    let parts: Vec<&str> = t.split("\r\n").collect();
    assert_eq!(parts[0], "*2");
    let secs: u64 = parts[2].parse().unwrap();
    let micros: u64 = parts[4].parse().unwrap();
    assert!(secs > 1_600_000_000 && micros < 1_000_000, "{t}");
}

#[test]
fn object_names_encodings_as_redis_7_0() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "SET i 12345");
    run(&mut ks, T, "SET e hello");
    run(&mut ks, T, &format!("SET r {}", "x".repeat(45)));
    assert_eq!(run(&mut ks, T, "OBJECT ENCODING i"), "$3\r\nint\r\n");
    assert_eq!(run(&mut ks, T, "OBJECT ENCODING e"), "$6\r\nembstr\r\n");
    assert_eq!(run(&mut ks, T, "OBJECT ENCODING r"), "$3\r\nraw\r\n");
    assert_eq!(run(&mut ks, T, "OBJECT ENCODING nope"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "object refcount i"), ":1\r\n");
    run(&mut ks, T, "SET s 5");
    assert_eq!(run(&mut ks, T, "OBJECT REFCOUNT s"), ":2147483647\r\n");
    assert_eq!(run(&mut ks, T, "OBJECT IDLETIME e"), ":0\r\n");
    assert!(run(&mut ks, T, "OBJECT FREQ e").starts_with("-ERR An LFU maxmemory policy"));
    assert_eq!(
        run(&mut ks, T, "OBJECT FOO e"),
        "-ERR unknown subcommand 'FOO'. Try OBJECT HELP.\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "OBJECT ENCODING"),
        "-ERR wrong number of arguments for 'object|encoding' command\r\n"
    );
    assert!(run(&mut ks, T, "OBJECT HELP").starts_with("*15\r\n+OBJECT <subcommand>"));
    assert_eq!(
        run(&mut ks, T, "OBJECT HELP x"),
        "-ERR wrong number of arguments for 'object|help' command\r\n"
    );
    use super::key_info::encoding;
    use crate::store::value::{list::End, Coll, Hash, List, Set, ZSet};
    use crate::store::Item;
    let mut h = Hash::default();
    h.insert(b"f", b"v");
    assert_eq!(
        encoding(&Item::coll(b"h", Coll::Hash(h.clone()), None)),
        "listpack"
    );
    h.insert(b"g", &[b'x'; 65]);
    assert_eq!(
        encoding(&Item::coll(b"h", Coll::Hash(h), None)),
        "hashtable"
    );
    let mut l = List::default();
    l.push(End::Right, b"a");
    assert_eq!(
        encoding(&Item::coll(b"l", Coll::List(l), None)),
        "quicklist"
    );
    let mut s = Set::default();
    s.insert(b"1");
    s.insert(b"2");
    assert_eq!(
        encoding(&Item::coll(b"s", Coll::Set(s.clone()), None)),
        "intset"
    );
    s.insert(b"a");
    assert_eq!(encoding(&Item::coll(b"s", Coll::Set(s), None)), "hashtable");
    let mut z = ZSet::default();
    for i in 0..128 {
        z.insert(format!("m{i}").as_bytes(), 1.0);
    }
    assert_eq!(
        encoding(&Item::coll(b"z", Coll::ZSet(z.clone()), None)),
        "listpack"
    );
    z.insert(b"one-more", 2.0);
    assert_eq!(encoding(&Item::coll(b"z", Coll::ZSet(z), None)), "skiplist");
}

/// A keyspace with a list `l` of `elems`, and the string keys given.
fn with_list(elems: &[&str], strings: &[(&str, &str)]) -> Dbs {
    use crate::store::value::{list::End, Coll, List};
    use crate::store::Item;
    let mut ks = Dbs::new();
    let mut l = List::default();
    for e in elems {
        l.push(End::Right, e.as_bytes());
    }
    ks.db_mut(0).insert(Item::coll(b"l", Coll::List(l), None));
    for (k, v) in strings {
        ks.db_mut(0).set(k.as_bytes(), v.as_bytes(), None);
    }
    ks
}

fn bulks(items: &[&str]) -> String {
    let mut s = format!("*{}\r\n", items.len());
    for i in items {
        if *i == "(nil)" {
            s.push_str("$-1\r\n");
        } else {
            s.push_str(&format!("${}\r\n{i}\r\n", i.len()));
        }
    }
    s
}

#[test]
fn sort_orders_by_value_by_pattern_and_stores() {
    let mut ks = with_list(
        &["3", "1", "2", "10"],
        &[
            ("w_1", "30"),
            ("w_2", "20"),
            ("w_3", "10"),
            ("o_1", "one"),
            ("o_2", "two"),
        ],
    );
    assert_eq!(run(&mut ks, T, "SORT l"), bulks(&["1", "2", "3", "10"]));
    assert_eq!(
        run(&mut ks, T, "SORT l DESC"),
        bulks(&["10", "3", "2", "1"])
    );
    assert_eq!(
        run(&mut ks, T, "SORT l ALPHA"),
        bulks(&["1", "10", "2", "3"])
    );
    assert_eq!(run(&mut ks, T, "SORT l LIMIT 1 2"), bulks(&["2", "3"]));
    assert_eq!(run(&mut ks, T, "SORT l LIMIT 5 2"), bulks(&[]));
    assert_eq!(
        run(&mut ks, T, "SORT l LIMIT -1 -1"),
        bulks(&["1", "2", "3", "10"])
    );
    assert_eq!(
        run(&mut ks, T, "SORT l BY nosort"),
        bulks(&["3", "1", "2", "10"])
    );
    // Missing weights count as 0, ties by the element.
    assert_eq!(
        run(&mut ks, T, "SORT l BY w_*"),
        bulks(&["10", "3", "2", "1"])
    );
    assert_eq!(
        run(&mut ks, T, "SORT l BY w_* GET # GET o_*"),
        bulks(&["10", "(nil)", "3", "(nil)", "2", "two", "1", "one"])
    );
    assert_eq!(run(&mut ks, T, "SORT l STORE dst"), ":4\r\n");
    assert_eq!(run(&mut ks, T, "TYPE dst"), "+list\r\n");
    assert_eq!(
        run(&mut ks, T, "SORT dst BY nosort"),
        bulks(&["1", "2", "3", "10"])
    );
    assert_eq!(
        run(&mut ks, T, "SORT l BY nosort GET o_* STORE dst"),
        ":4\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "SORT dst BY nosort"),
        bulks(&["", "one", "two", ""])
    );
    assert_eq!(run(&mut ks, T, "SORT nope STORE dst"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "EXISTS dst"), ":0\r\n");
    assert_eq!(
        run(&mut ks, T, "SORT_RO l STORE dst"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(run(&mut ks, T, "SORT_RO l LIMIT 0 1"), bulks(&["1"]));
    assert_eq!(run(&mut ks, T, "SORT l LIMIT 0"), "-ERR syntax error\r\n");
    assert_eq!(
        run(&mut ks, T, "SORT l LIMIT a 1"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "SORT w_1"),
        "-ERR WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
            .replacen("ERR ", "", 1)
    );
    let mut bad = with_list(&["a", "1"], &[]);
    assert_eq!(
        run(&mut bad, T, "SORT l"),
        "-ERR One or more scores can't be converted into double\r\n"
    );
    assert_eq!(run(&mut bad, T, "SORT l ALPHA DESC"), bulks(&["a", "1"]));
}

#[test]
fn sort_reads_hash_fields_sets_and_sorted_sets() {
    use crate::store::value::{Coll, Hash, Set, ZSet};
    use crate::store::Item;
    let mut ks = with_list(&["x", "y"], &[]);
    let mut hx = Hash::default();
    hx.insert(b"rank", b"2");
    hx.insert(b"name", b"ex");
    let mut hy = Hash::default();
    hy.insert(b"rank", b"1");
    ks.db_mut(0)
        .insert(Item::coll(b"h_x", Coll::Hash(hx), None));
    ks.db_mut(0)
        .insert(Item::coll(b"h_y", Coll::Hash(hy), None));
    assert_eq!(
        run(&mut ks, T, "SORT l BY h_*->rank GET h_*->name GET #"),
        bulks(&["(nil)", "y", "ex", "x"])
    );
    let mut s = Set::default();
    for m in ["b", "c", "a"] {
        s.insert(m.as_bytes());
    }
    ks.db_mut(0).insert(Item::coll(b"s", Coll::Set(s), None));
    assert_eq!(run(&mut ks, T, "SORT s ALPHA"), bulks(&["a", "b", "c"]));
    assert_eq!(run(&mut ks, T, "SORT s BY nosort STORE d"), ":3\r\n");
    assert_eq!(
        run(&mut ks, T, "SORT d BY nosort"),
        bulks(&["a", "b", "c"]),
        "sorted when stored"
    );
    let mut z = ZSet::default();
    z.insert(b"m1", 3.0);
    z.insert(b"m2", 1.0);
    z.insert(b"m3", 2.0);
    ks.db_mut(0).insert(Item::coll(b"z", Coll::ZSet(z), None));
    assert_eq!(
        run(&mut ks, T, "SORT z BY nosort"),
        bulks(&["m2", "m3", "m1"])
    );
    assert_eq!(
        run(&mut ks, T, "SORT z BY nosort DESC"),
        bulks(&["m1", "m3", "m2"])
    );
    assert_eq!(
        run(&mut ks, T, "SORT z ALPHA DESC LIMIT 0 1"),
        bulks(&["m3"])
    );
}
