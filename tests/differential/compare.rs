//! How replies and keyspaces are compared: order-free where Redis leaves
//! the order open, random outcomes by invariants, whole scans, and dumps of
//! every key (type, value, PTTL).

use super::common::resp::{Conn, Value};
use super::gen::{Cmp, Rand};
use std::collections::{BTreeMap, BTreeSet};

/// Tolerance on PTTLs in the dumps (the two dumps are taken a moment apart).
pub const DUMP_PTTL_MS: i64 = 5_000;
/// `v` sorted where the order is open.
pub fn normalize(cmp: Cmp, v: &Value) -> Value {
    match (cmp, v) {
        (Cmp::Sorted, Value::Array(Some(items))) => {
            let mut items = items.clone();
            items.sort();
            Value::Array(Some(items))
        }
        (Cmp::Pairs, Value::Array(Some(items))) if items.len() % 2 == 0 => {
            let mut pairs: Vec<&[Value]> = items.chunks(2).collect();
            pairs.sort();
            Value::Array(Some(pairs.concat()))
        }
        _ => v.clone(),
    }
}

/// Whether two replies agree under `cmp`.
pub fn agree(cmp: Cmp, r: &Value, l: &Value) -> bool {
    match (cmp, r, l) {
        (Cmp::Near(tol), &Value::Int(a), &Value::Int(b)) if a >= 0 && b >= 0 => {
            (a - b).abs() <= tol
        }
        _ => normalize(cmp, r) == normalize(cmp, l),
    }
}

/// What a random command draws from: members (with their values or
/// scores), or the keys of the database for RANDOMKEY. `None`: no such key
/// (or of another type).
pub fn contents(c: &mut Conn, kind: Rand, key: &str) -> Option<BTreeMap<Vec<u8>, Vec<u8>>> {
    let flat = |v: Value, pairs: bool| -> BTreeMap<Vec<u8>, Vec<u8>> {
        let items = v.items().map(<[Value]>::to_vec).unwrap_or_default();
        if pairs {
            items
                .chunks(2)
                .map(|p| {
                    (
                        p[0].bytes().unwrap().to_vec(),
                        p[1].bytes().unwrap().to_vec(),
                    )
                })
                .collect()
        } else {
            items
                .iter()
                .map(|m| (m.bytes().unwrap().to_vec(), Vec::new()))
                .collect()
        }
    };
    if kind == Rand::RandomKey {
        return Some(flat(c.cmd(&["KEYS", "*"]), false));
    }
    let want = match kind {
        Rand::SPop | Rand::SRandMember => "set",
        Rand::HRandField => "hash",
        _ => "zset",
    };
    if c.cmd(&["TYPE", key]) != Value::Simple(want.into()) {
        return None;
    }
    Some(match kind {
        Rand::HRandField => flat(c.cmd(&["HGETALL", key]), true),
        Rand::ZRandMember => flat(c.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"]), true),
        _ => flat(c.cmd(&["SMEMBERS", key]), false),
    })
}

/// Checks a random command's reply `v` against the contents `before`.
pub fn check_random(
    kind: Rand,
    args: &[String],
    before: &Option<BTreeMap<Vec<u8>, Vec<u8>>>,
    v: &Value,
) -> Result<(), String> {
    let empty = BTreeMap::new();
    let m = before.as_ref().unwrap_or(&empty);
    let count: Option<i64> = match args.get(2).map(|c| c.parse()) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(_)) => return Err(format!("accepted the count {:?}: {v}", args[2])),
    };
    if kind == Rand::SPop && count.is_some_and(|c| c < 0) {
        return Err(format!("accepted a negative count: {v}"));
    }
    let with = args.len() > 3;
    let show = |why: &str| {
        format!(
            "{why}: {v} from {:?}",
            m.keys()
                .map(|k| String::from_utf8_lossy(k))
                .collect::<Vec<_>>()
        )
    };
    if kind == Rand::RandomKey {
        return match v {
            Value::Bulk(None) if m.is_empty() => Ok(()),
            Value::Bulk(Some(k)) if m.contains_key(k) => Ok(()),
            _ => Err(show("RANDOMKEY gave no existing key")),
        };
    }
    let Some(count) = count else {
        return match v {
            Value::Bulk(None) if m.is_empty() => Ok(()),
            Value::Bulk(Some(k)) if m.contains_key(k) => Ok(()),
            _ => Err(show("not a member")),
        };
    };
    let items = v.items().ok_or_else(|| show("not an array"))?;
    let stride = if with { 2 } else { 1 };
    let n = items.len() / stride;
    let mut seen = BTreeSet::new();
    for e in items.chunks(stride) {
        let mem = e[0].bytes().ok_or_else(|| show("not a bulk"))?;
        let Some(val) = m.get(mem) else {
            return Err(show("not a member"));
        };
        if with {
            let got = e[1].bytes().ok_or_else(|| show("no value"))?;
            let same = match kind {
                Rand::ZRandMember => {
                    let p = |b: &[u8]| String::from_utf8_lossy(b).parse::<f64>().ok();
                    p(got) == p(val)
                }
                _ => got == &val[..],
            };
            if !same {
                return Err(show("a value or score that is not the member's"));
            }
        }
        seen.insert(mem.to_vec());
    }
    let card = m.len() as i64;
    let ok = if count >= 0 {
        n as i64 == count.min(card) && seen.len() == n
    } else {
        n as i64 == if card == 0 { 0 } else { -count }
    };
    if ok {
        Ok(())
    } else {
        Err(show(&format!("count {count} of {card} gave {n}")))
    }
}

/// Everything a whole scan returns (cursor at `cursor_at`), deduplicated;
/// an error reply as itself.
pub fn full_scan(
    c: &mut Conn,
    args: &[String],
    cursor_at: usize,
    pairs: bool,
) -> Result<BTreeSet<Vec<Value>>, Value> {
    let mut args = args.to_vec();
    let mut out = BTreeSet::new();
    for _ in 0..10_000 {
        let v = c.call(&args);
        let parts = v.items().ok_or_else(|| v.clone())?;
        let cursor = String::from_utf8_lossy(parts[0].bytes().expect("a cursor")).into_owned();
        let elems = parts[1].items().expect("scan elements");
        if pairs {
            out.extend(elems.chunks(2).map(<[Value]>::to_vec));
        } else {
            out.extend(elems.iter().map(|e| vec![e.clone()]));
        }
        if cursor == "0" {
            return Ok(out);
        }
        args[cursor_at] = cursor;
    }
    panic!("a scan of {args:?} did not end in 10000 calls");
}

/// One key as dumped: database, key, type, value, PTTL.
pub type Dumped = (usize, Vec<u8>, String, Value, i64);

/// Every key of every database with its type, value and PTTL.
pub fn dump(c: &mut Conn) -> Vec<Dumped> {
    let mut out = Vec::new();
    for db in 0..16 {
        let sel = c.cmd(&["SELECT", &db.to_string()]);
        assert_eq!(sel, Value::Simple("OK".into()), "SELECT {db} on {}", c.addr);
        let keys = c.cmd(&["KEYS", "*"]);
        let mut keys: Vec<Vec<u8>> = keys
            .items()
            .unwrap_or_else(|| panic!("KEYS * on {}: {keys}", c.addr))
            .iter()
            .map(|k| k.bytes().unwrap().to_vec())
            .collect();
        keys.sort();
        for k in keys {
            let Value::Simple(t) = c.call(&[&b"TYPE"[..], &k]) else {
                panic!("TYPE");
            };
            let get = |c: &mut Conn, args: &[&[u8]]| {
                let mut a: Vec<&[u8]> = args.to_vec();
                a.insert(1, &k);
                c.call(&a)
            };
            let value = match t.as_str() {
                "string" => get(c, &[b"GET"]),
                "hash" => normalize(Cmp::Pairs, &get(c, &[b"HGETALL"])),
                "list" => get(c, &[b"LRANGE", b"0", b"-1"]),
                "set" => normalize(Cmp::Sorted, &get(c, &[b"SMEMBERS"])),
                "zset" => get(c, &[b"ZRANGE", b"0", b"-1", b"WITHSCORES"]),
                _ => Value::Simple(format!("type {t}")),
            };
            let Value::Int(pttl) = get(c, &[b"PTTL"]) else {
                panic!("PTTL");
            };
            out.push((db, k, t, value, pttl));
        }
    }
    c.cmd(&["SELECT", "0"]);
    out
}

/// The differences between two dumps, PTTLs within a tolerance.
pub fn dump_diff(redis: &[Dumped], other: &[Dumped]) -> Vec<String> {
    let index = |d: &[Dumped]| -> BTreeMap<(usize, Vec<u8>), (String, Value, i64)> {
        d.iter()
            .map(|(db, k, t, v, p)| ((*db, k.clone()), (t.clone(), v.clone(), *p)))
            .collect()
    };
    let (a, b) = (index(redis), index(other));
    let mut out = Vec::new();
    for key in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
        let name = format!("db {} key {:?}", key.0, String::from_utf8_lossy(&key.1));
        match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) => {
                let ttl_ok = (x.2 < 0 && x.2 == y.2)
                    || (x.2 >= 0 && y.2 >= 0 && (x.2 - y.2).abs() <= DUMP_PTTL_MS);
                if x.0 != y.0 || x.1 != y.1 || !ttl_ok {
                    out.push(format!(
                        "{name}: redis {} {} pttl {} / logship {} {} pttl {}",
                        x.0, x.1, x.2, y.0, y.1, y.2
                    ));
                }
            }
            (Some(x), None) => out.push(format!("{name}: only in redis ({} {})", x.0, x.1)),
            (None, Some(y)) => out.push(format!("{name}: only in logship ({} {})", y.0, y.1)),
            (None, None) => unreachable!(),
        }
    }
    out
}
