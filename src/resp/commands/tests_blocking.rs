//! The blocking pops where they do not block (the table's rows, as inside
//! MULTI), their arguments and timeouts, against Redis 7.0.15's replies.

use super::blocking::{attempt, parse, parse_timeout, serve_key};
use super::tests::{run, T, WRONGTYPE};
use super::*;
use std::time::Duration;

fn args(line: &str) -> Vec<Bytes> {
    line.split(' ')
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

#[test]
fn timeouts_read_as_redis_reads_them() {
    let ms = |n| Ok(Some(Duration::from_millis(n)));
    assert_eq!(parse_timeout(b"0"), Ok(None));
    assert_eq!(parse_timeout(b"-0"), Ok(None));
    assert_eq!(parse_timeout(b"-0.0001"), Ok(None), "rounds up to 0");
    assert_eq!(parse_timeout(b"1"), ms(1000));
    assert_eq!(parse_timeout(b"0.1"), ms(100));
    assert_eq!(parse_timeout(b".5"), ms(500));
    assert_eq!(parse_timeout(b"1."), ms(1000));
    assert_eq!(parse_timeout(b"1e3"), ms(1_000_000));
    assert_eq!(
        parse_timeout(b"0.0001"),
        ms(1),
        "rounded up to a millisecond"
    );
    assert_eq!(parse_timeout(b"1e-10"), ms(1));
    let negative = Err("ERR timeout is negative");
    let not_float = Err("ERR timeout is not a float or out of range");
    assert_eq!(parse_timeout(b"-1"), negative);
    assert_eq!(parse_timeout(b"inf"), negative);
    assert_eq!(parse_timeout(b"1e400"), negative);
    assert_eq!(parse_timeout(b"9223372036854775807"), negative);
    assert_eq!(parse_timeout(b"9223372036854776"), negative);
    assert_eq!(
        parse_timeout(b"9223372036854775"),
        ms(9_223_372_036_854_775_000),
        "blocks (practically) forever, as Redis does"
    );
    assert_eq!(parse_timeout(b"abc"), not_float);
    assert_eq!(parse_timeout(b"nan"), not_float);
    assert_eq!(parse_timeout(b"1a"), not_float);
    assert_eq!(parse_timeout(b" 1"), not_float);
    assert_eq!(parse_timeout(b""), not_float);
}

#[test]
fn argument_errors_come_in_redis_order() {
    let mut ks = Dbs::new();
    for (cmd, want) in [
        ("BLPOP nokey -1", "-ERR timeout is negative\r\n"),
        (
            "BLPOP nokey abc",
            "-ERR timeout is not a float or out of range\r\n",
        ),
        ("BLMOVE d l LEFT UP 0", "-ERR syntax error\r\n"),
        ("BLMOVE d l LEFT UP x", "-ERR syntax error\r\n"),
        (
            "BLMOVE d l LEFT LEFT x",
            "-ERR timeout is not a float or out of range\r\n",
        ),
        (
            "BRPOPLPUSH d l x",
            "-ERR timeout is not a float or out of range\r\n",
        ),
        (
            "BLMPOP 0.1 0 l LEFT",
            "-ERR numkeys should be greater than 0\r\n",
        ),
        (
            "BLMPOP x 0 z FOO",
            "-ERR numkeys should be greater than 0\r\n",
        ),
        (
            "BLMPOP 0.1 x l LEFT",
            "-ERR numkeys should be greater than 0\r\n",
        ),
        (
            "BLMPOP x 1 l LEFT",
            "-ERR timeout is not a float or out of range\r\n",
        ),
        (
            "BLMPOP 0.1 1 l LEFT COUNT 0",
            "-ERR count should be greater than 0\r\n",
        ),
        ("BLMPOP -1 1 l LEFT", "-ERR timeout is negative\r\n"),
        ("BLMPOP 0.1 5 l LEFT", "-ERR syntax error\r\n"),
        ("BZMPOP x 1 z FOO", "-ERR syntax error\r\n"),
        ("BZMPOP 1 1 s LEFT", "-ERR syntax error\r\n"),
        (
            "BZMPOP 0 1 z MIN COUNT 0",
            "-ERR count should be greater than 0\r\n",
        ),
        (
            "BZPOPMIN nokey x",
            "-ERR timeout is not a float or out of range\r\n",
        ),
        (
            "BLPOP",
            "-ERR wrong number of arguments for 'blpop' command\r\n",
        ),
        (
            "BLPOP k",
            "-ERR wrong number of arguments for 'blpop' command\r\n",
        ),
        (
            "BLMPOP 0 1 k",
            "-ERR wrong number of arguments for 'blmpop' command\r\n",
        ),
    ] {
        assert_eq!(run(&mut ks, T, cmd), want, "{cmd}");
    }
}

#[test]
fn without_blocking_they_pop_or_reply_a_null_array() {
    let mut ks = Dbs::new();
    // Inside MULTI, as redis-server 7.0 answers: a move's null is a bulk
    // string's, the others' an array's.
    for cmd in [
        "BLMOVE nokey dst LEFT RIGHT 0.1",
        "BRPOPLPUSH nokey dst 0.1",
    ] {
        assert_eq!(run(&mut ks, T, cmd), "$-1\r\n", "{cmd}");
    }
    for cmd in [
        "BLPOP nokey 0.1",
        "BRPOP nokey other 0",
        "BLMPOP 0.1 1 nokey LEFT",
        "BZPOPMIN nokey 0.1",
        "BZPOPMAX nokey 0",
        "BZMPOP 0.1 1 nokey MIN",
    ] {
        assert_eq!(run(&mut ks, T, cmd), "*-1\r\n", "{cmd}");
    }
    run(&mut ks, T, "RPUSH l a b c");
    assert_eq!(
        run(&mut ks, T, "BLPOP nokey l 0"),
        "*2\r\n$1\r\nl\r\n$1\r\na\r\n"
    );
    assert_eq!(run(&mut ks, T, "BRPOP l 0"), "*2\r\n$1\r\nl\r\n$1\r\nc\r\n");
    assert_eq!(run(&mut ks, T, "BLMOVE l d LEFT RIGHT 0"), "$1\r\nb\r\n");
    assert_eq!(run(&mut ks, T, "BRPOPLPUSH d d 0"), "$1\r\nb\r\n");
    assert_eq!(
        run(&mut ks, T, "BLMPOP 0 2 l d RIGHT COUNT 5"),
        "*2\r\n$1\r\nd\r\n*1\r\n$1\r\nb\r\n"
    );
    // Sorted sets: scores as Redis prints them.
    let mut z = Dbs::new();
    let zadd = |z: &mut Dbs| {
        z.db_mut(0).insert(crate::store::Item::coll(
            b"z",
            {
                let mut s = crate::store::value::ZSet::default();
                for (m, sc) in [("a", 1.0), ("b", 2.0), ("c", 3.0), ("x", 1.5)] {
                    s.insert(m.as_bytes(), sc);
                }
                Coll::ZSet(s)
            },
            None,
        ))
    };
    zadd(&mut z);
    assert_eq!(
        run(&mut z, T, "BZPOPMIN z 0"),
        "*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
    assert_eq!(
        run(&mut z, T, "BZPOPMAX z 0"),
        "*3\r\n$1\r\nz\r\n$1\r\nc\r\n$1\r\n3\r\n"
    );
    assert_eq!(
        run(&mut z, T, "BZPOPMIN nokey z 0"),
        "*3\r\n$1\r\nz\r\n$1\r\nx\r\n$3\r\n1.5\r\n"
    );
    assert_eq!(
        run(&mut z, T, "BZMPOP 0 1 z MIN COUNT 5"),
        "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert!(z.db(0).get(b"z").is_none(), "the last pop removes the key");
    zadd(&mut z);
    assert_eq!(
        run(&mut z, T, "BZMPOP 0 1 z MAX"),
        "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n"
    );
    run(&mut z, T, "SET s x");
    assert_eq!(run(&mut z, T, "BZPOPMIN s z 0"), WRONGTYPE);
    assert_eq!(run(&mut z, T, "BLPOP s 0"), WRONGTYPE);
    assert_eq!(run(&mut z, T, "BLPOP nokey s 0"), WRONGTYPE);
    assert_eq!(run(&mut z, T, "BLMPOP 0 1 s LEFT"), WRONGTYPE);
}

#[test]
fn a_waiter_is_served_only_from_a_key_of_its_type() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "SET s x");
    run(&mut ks, T, "RPUSH a 1");
    run(&mut ks, T, "RPUSH b 2");
    let a = args("BLPOP s a b 0");
    let spec = lookup(&a[0]).unwrap();
    let block = parse(spec, &a).unwrap();
    assert_eq!(block.timeout, None);
    let ctx = Ctx {
        dbs: &ks,
        db: 0,
        now_unix_ms: T,
    };
    let (mut out, mut fx) = (Vec::new(), Vec::new());
    assert!(!serve_key(&block, &a, b"s", &ctx, &mut out, &mut fx));
    assert!(!serve_key(&block, &a, b"nope", &ctx, &mut out, &mut fx));
    assert!(out.is_empty() && fx.is_empty());
    // Served from the key that became ready, not the first in its list.
    assert!(serve_key(&block, &a, b"b", &ctx, &mut out, &mut fx));
    assert_eq!(out, b"*2\r\n$1\r\nb\r\n$1\r\n2\r\n");
    // Trying every key in order stops at the one of another type.
    let (mut out, mut fx) = (Vec::new(), Vec::new());
    assert!(attempt(&block, &a, &ctx, &mut out, &mut fx));
    assert_eq!(String::from_utf8(out).unwrap(), WRONGTYPE);
    // A move whose destination holds another type is served an error and
    // moves nothing.
    let m = args("BLMOVE a s LEFT LEFT 0");
    let block = parse(lookup(&m[0]).unwrap(), &m).unwrap();
    let (mut out, mut fx) = (Vec::new(), Vec::new());
    assert!(serve_key(&block, &m, b"a", &ctx, &mut out, &mut fx));
    assert_eq!(String::from_utf8(out).unwrap(), WRONGTYPE);
    assert!(fx.is_empty());
}
