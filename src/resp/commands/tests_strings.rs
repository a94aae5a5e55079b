//! String commands beyond GET/SET: expiry forms, ranges, floats, bits.

use super::tests::{run, T};
use crate::store::Dbs;

#[test]
fn setex_getex_and_msetnx() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "SETEX k 10 v"), "+OK\r\n");
    assert_eq!(run(&mut ks, T, "PTTL k"), ":10000\r\n");
    assert_eq!(run(&mut ks, T, "PSETEX k 500 w"), "+OK\r\n");
    assert_eq!(run(&mut ks, T, "PTTL k"), ":500\r\n");
    assert_eq!(
        run(&mut ks, T, "SETEX k 0 v"),
        "-ERR invalid expire time in 'setex' command\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "PSETEX k -5 v"),
        "-ERR invalid expire time in 'psetex' command\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "SETEX k x v"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(run(&mut ks, T, "GETEX k"), "$1\r\nw\r\n");
    assert_eq!(run(&mut ks, T, "GETEX k PERSIST"), "$1\r\nw\r\n");
    assert_eq!(run(&mut ks, T, "TTL k"), ":-1\r\n");
    assert_eq!(run(&mut ks, T, "GETEX k EX 100"), "$1\r\nw\r\n");
    assert_eq!(run(&mut ks, T, "TTL k"), ":100\r\n");
    assert_eq!(run(&mut ks, T, "GETEX k PXAT 1000200"), "$1\r\nw\r\n");
    assert_eq!(run(&mut ks, T, "PTTL k"), ":200\r\n");
    assert_eq!(
        run(&mut ks, T, "GETEX k EX 1 PX 5"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "GETEX k EX 0"),
        "-ERR invalid expire time in 'getex' command\r\n"
    );
    assert_eq!(run(&mut ks, T, "GETEX k EXAT 5"), "$1\r\nw\r\n");
    assert!(ks.db(0).get(b"k").is_none(), "a past EXAT deletes the key");
    assert_eq!(run(&mut ks, T, "GETEX nope"), "$-1\r\n");
    assert_eq!(run(&mut ks, T, "MSETNX a 1 b 2"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "MSETNX b 3 c 4"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "EXISTS c"), ":0\r\n");
    assert_eq!(
        run(&mut ks, T, "MSETNX a"),
        "-ERR wrong number of arguments for 'msetnx' command\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "MSETNX a 1 b"),
        "-ERR wrong number of arguments for 'msetnx' command\r\n"
    );
}

#[test]
fn incrbyfloat_keeps_the_expiry_and_refuses_bad_numbers() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "INCRBYFLOAT f 10.5"), "$4\r\n10.5\r\n");
    assert_eq!(run(&mut ks, T, "INCRBYFLOAT f 0.1"), "$4\r\n10.6\r\n");
    assert_eq!(run(&mut ks, T, "INCRBYFLOAT f -5"), "$3\r\n5.6\r\n");
    // As redis-server 7.0 answers: `long double` arithmetic.
    assert_eq!(
        run(&mut ks, T, "INCRBYFLOAT f 5e3"),
        "$22\r\n5005.60000000000000009\r\n"
    );
    run(&mut ks, T, "EXPIRE f 100");
    assert_eq!(run(&mut ks, T, "INCRBYFLOAT f -5005.6"), "$1\r\n0\r\n");
    assert_eq!(run(&mut ks, T, "TTL f"), ":100\r\n");
    assert_eq!(
        run(&mut ks, T, "INCRBYFLOAT f x"),
        "-ERR value is not a valid float\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "INCRBYFLOAT f inf"),
        "-ERR increment would produce NaN or Infinity\r\n"
    );
    run(&mut ks, T, "SET s abc");
    assert_eq!(
        run(&mut ks, T, "INCRBYFLOAT s 1"),
        "-ERR value is not a valid float\r\n"
    );
    run(&mut ks, T, "SET i 3");
    assert_eq!(run(&mut ks, T, "INCRBYFLOAT i 1.5"), "$3\r\n4.5\r\n");
}

#[test]
fn ranges_read_and_write_parts_of_a_string() {
    let mut ks = Dbs::new();
    run(&mut ks, T, "SET s Hello,World");
    assert_eq!(run(&mut ks, T, "GETRANGE s 0 4"), "$5\r\nHello\r\n");
    assert_eq!(run(&mut ks, T, "GETRANGE s -5 -1"), "$5\r\nWorld\r\n");
    assert_eq!(run(&mut ks, T, "GETRANGE s 5 2"), "$0\r\n\r\n");
    assert_eq!(run(&mut ks, T, "GETRANGE s -1 -5"), "$0\r\n\r\n");
    assert_eq!(run(&mut ks, T, "GETRANGE s 3 1000"), "$8\r\nlo,World\r\n");
    assert_eq!(run(&mut ks, T, "GETRANGE s -100 1"), "$2\r\nHe\r\n");
    assert_eq!(run(&mut ks, T, "SUBSTR s 0 0"), "$1\r\nH\r\n");
    assert_eq!(run(&mut ks, T, "GETRANGE nope 0 -1"), "$0\r\n\r\n");
    assert_eq!(
        run(&mut ks, T, "GETRANGE s a 1"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(run(&mut ks, T, "SETRANGE s 6 Redis"), ":11\r\n");
    assert_eq!(run(&mut ks, T, "GET s"), "$11\r\nHello,Redis\r\n");
    assert_eq!(run(&mut ks, T, "SETRANGE n 3 ab"), ":5\r\n");
    assert_eq!(run(&mut ks, T, "GET n"), "$5\r\n\0\0\0ab\r\n");
    assert_eq!(
        run(&mut ks, T, "SETRANGE s -1 x"),
        "-ERR offset is out of range\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "SETRANGE s 536870911 xx"),
        "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    );
    run(&mut ks, T, "EXPIRE s 50");
    assert_eq!(run(&mut ks, T, "SETRANGE s 0 J"), ":11\r\n");
    assert_eq!(run(&mut ks, T, "TTL s"), ":50\r\n", "the expiry stays");
}

#[test]
fn setrange_and_setbit_log_only_the_bytes_they_write() {
    use super::{execute, lookup, Ctx};
    use crate::store::Effect;
    use bytes::Bytes;
    let mut ks = Dbs::new();
    run(&mut ks, T, "SET s aaaaaaaaaaaaaaaaaaaa");
    for (line, offset, value) in [
        ("SETRANGE s 4 xy", 4, &b"xy"[..]),
        ("SETBIT s 9 0", 1, b"\x21"),
    ] {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|a| Bytes::from(a.to_string()))
            .collect();
        let ctx = Ctx {
            dbs: &ks,
            db: 0,
            now_unix_ms: T,
        };
        let (mut out, mut fx) = (Vec::new(), Vec::new());
        execute(lookup(&args[0]).unwrap(), &args, &ctx, &mut out, &mut fx);
        match &fx[..] {
            [Effect::SetRange {
                offset: o,
                value: v,
                ..
            }] => {
                assert_eq!((*o, &v[..]), (offset, value), "{line}")
            }
            other => panic!("{line}: {other:?}"),
        }
    }
}

#[test]
fn bits_as_redis_numbers_them() {
    let mut ks = Dbs::new();
    assert_eq!(run(&mut ks, T, "SETBIT b 7 1"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "SETBIT b 7 1"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "GET b"), "$1\r\n\x01\r\n");
    assert_eq!(run(&mut ks, T, "SETBIT b 16 1"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "STRLEN b"), ":3\r\n");
    assert_eq!(run(&mut ks, T, "GETBIT b 16"), ":1\r\n");
    assert_eq!(run(&mut ks, T, "GETBIT b 1000"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "GETBIT nope 3"), ":0\r\n");
    assert_eq!(
        run(&mut ks, T, "SETBIT b -1 1"),
        "-ERR bit offset is not an integer or out of range\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "SETBIT b 4294967296 1"),
        "-ERR bit offset is not an integer or out of range\r\n"
    );
    assert_eq!(
        run(&mut ks, T, "SETBIT b 1 2"),
        "-ERR bit is not an integer or out of range\r\n"
    );
    run(&mut ks, T, "SET f foobar");
    assert_eq!(run(&mut ks, T, "BITCOUNT f"), ":26\r\n");
    assert_eq!(run(&mut ks, T, "BITCOUNT f 0 0"), ":4\r\n");
    assert_eq!(run(&mut ks, T, "BITCOUNT f 1 1"), ":6\r\n");
    assert_eq!(run(&mut ks, T, "BITCOUNT f 1 1 BYTE"), ":6\r\n");
    assert_eq!(run(&mut ks, T, "BITCOUNT f 5 30 BIT"), ":17\r\n");
    assert_eq!(run(&mut ks, T, "BITCOUNT f -1 -2"), ":0\r\n");
    assert_eq!(run(&mut ks, T, "BITCOUNT f 0"), "-ERR syntax error\r\n");
    assert_eq!(
        run(&mut ks, T, "BITCOUNT f 0 1 WORD"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(run(&mut ks, T, "BITCOUNT nope 0 1"), ":0\r\n");
    let mut ks2 = Dbs::new();
    ks2.db_mut(0).set(b"p", b"\xff\xf0\x00", None);
    assert_eq!(run(&mut ks2, T, "BITPOS p 0"), ":12\r\n");
    assert_eq!(run(&mut ks2, T, "BITPOS p 1 2"), ":-1\r\n");
    assert_eq!(run(&mut ks2, T, "BITPOS p 1 1"), ":8\r\n");
    assert_eq!(run(&mut ks2, T, "BITPOS p 0 7 15 BIT"), ":12\r\n");
    assert_eq!(run(&mut ks2, T, "BITPOS p 1 7 15 BIT"), ":7\r\n");
    ks2.db_mut(0).set(b"ones", b"\xff\xff", None);
    assert_eq!(run(&mut ks2, T, "BITPOS ones 0"), ":16\r\n");
    assert_eq!(run(&mut ks2, T, "BITPOS ones 0 0 -1"), ":-1\r\n");
    assert_eq!(run(&mut ks2, T, "BITPOS nope 0"), ":0\r\n");
    assert_eq!(run(&mut ks2, T, "BITPOS nope 1"), ":-1\r\n");
    assert_eq!(
        run(&mut ks2, T, "BITPOS p 2"),
        "-ERR The bit argument must be 1 or 0.\r\n"
    );
    ks2.db_mut(0).set(b"x", b"\x0f\x0f", None);
    ks2.db_mut(0).set(b"y", b"\xff", None);
    assert_eq!(run(&mut ks2, T, "BITOP AND d x y"), ":2\r\n");
    assert_eq!(run(&mut ks2, T, "GET d"), "$2\r\n\x0f\x00\r\n");
    assert_eq!(run(&mut ks2, T, "BITOP OR d x y"), ":2\r\n");
    assert_eq!(
        ks2.db(0).get(b"d").unwrap().as_str(),
        Some(&b"\xff\x0f"[..])
    );
    assert_eq!(run(&mut ks2, T, "BITOP XOR d x y nope"), ":2\r\n");
    assert_eq!(run(&mut ks2, T, "BITOP NOT d x"), ":2\r\n");
    assert_eq!(
        ks2.db(0).get(b"d").unwrap().as_str(),
        Some(&b"\xf0\xf0"[..])
    );
    assert_eq!(
        run(&mut ks2, T, "BITOP NOT d x y"),
        "-ERR BITOP NOT must be called with a single source key.\r\n"
    );
    assert_eq!(run(&mut ks2, T, "BITOP NAND d x"), "-ERR syntax error\r\n");
    assert_eq!(run(&mut ks2, T, "BITOP AND d nope1 nope2"), ":0\r\n");
    assert!(ks2.db(0).get(b"d").is_none(), "an empty result deletes it");
}
