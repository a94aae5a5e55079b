//! Hash commands: HSET, HMSET, HSETNX, HGET, HMGET, HDEL, HLEN, HSTRLEN,
//! HEXISTS, HKEYS, HVALS, HGETALL, HINCRBY, HINCRBYFLOAT, HRANDFIELD, HSCAN.
//!
//! Writes log `HSet` with the fields they set (an increment logs the value
//! it produced) and `HDel` with the fields they removed.

use super::long_double::LongDouble;
use super::sample::{self, Count};
use super::{coll_scan, errors, keyspace_commands, parse_i64, wrong_args, Ctx, Spec};
use crate::resp::reply::Reply;
use crate::store::value::Hash;
use crate::store::{Blob, Effect};
use bytes::Bytes;
use std::collections::HashSet;

/// Hash commands.
pub(super) static TABLE: &[Spec] = keyspace_commands! {
    "hset" -4 Grow => |a, c, o, f| hset("hset", a, c, o, f),
    "hmset" -4 Grow => |a, c, o, f| hset("hmset", a, c, o, f),
    "hsetnx" 4 Grow => hsetnx,
    "hget" 3 Read => |a, c, o, f| match c.hash(&a[1], f) {
        Ok(h) => match h.and_then(|h| h.get(&a[2])) {
            Some(v) => o.bulk(v),
            None => o.nil(),
        },
        Err(e) => e.reply(o),
    },
    "hmget" -3 Read => hmget,
    "hdel" -3 Write => hdel,
    "hlen" 2 Read => |a, c, o, f| with_hash(a, c, o, f, |h, o| o.int(h.map_or(0, Hash::len) as i64)),
    "hstrlen" 3 Read => |a, c, o, f| with_hash(a, c, o, f, |h, o| {
        o.int(h.and_then(|h| h.get(&a[2])).map_or(0, <[u8]>::len) as i64)
    }),
    "hexists" 3 Read => |a, c, o, f| with_hash(a, c, o, f, |h, o| {
        o.int(i64::from(h.is_some_and(|h| h.get(&a[2]).is_some())))
    }),
    "hkeys" 2 Read => |a, c, o, f| with_hash(a, c, o, f, |h, o| {
        reply_pairs(o, h.into_iter().flat_map(Hash::iter), Show::Fields, h.map_or(0, Hash::len))
    }),
    "hvals" 2 Read => |a, c, o, f| with_hash(a, c, o, f, |h, o| {
        reply_pairs(o, h.into_iter().flat_map(Hash::iter), Show::Values, h.map_or(0, Hash::len))
    }),
    "hgetall" 2 Read => |a, c, o, f| with_hash(a, c, o, f, |h, o| {
        reply_pairs(o, h.into_iter().flat_map(Hash::iter), Show::Both, h.map_or(0, Hash::len))
    }),
    "hincrby" 4 Grow => hincrby,
    "hincrbyfloat" 4 Grow => hincrbyfloat,
    "hrandfield" -2 Read => hrandfield,
    "hscan" -3 Read => hscan,
};

/// Runs `f` with the live hash under `args[1]` (`None` when missing), or
/// replies `WRONGTYPE`.
fn with_hash<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
    f: impl FnOnce(Option<&Hash>, &mut Vec<u8>),
) {
    match ctx.hash(&args[1], fx) {
        Ok(h) => f(h, out),
        Err(e) => e.reply(out),
    }
}

/// What of each field–value pair a reply shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Show {
    Fields,
    Values,
    Both,
}

/// An array of `n` pairs, showing `show` of each.
fn reply_pairs<'h>(
    out: &mut Vec<u8>,
    pairs: impl Iterator<Item = (&'h [u8], &'h [u8])>,
    show: Show,
    n: usize,
) {
    out.array(if show == Show::Both { 2 * n } else { n });
    for (f, v) in pairs {
        if show != Show::Values {
            out.bulk(f);
        }
        if show != Show::Fields {
            out.bulk(v);
        }
    }
}

/// `HSET key field value [field value …]` (replies with the number of new
/// fields) and `HMSET` (replies `OK`).
fn hset<'a>(
    name: &str,
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    if args.len() % 2 != 0 {
        return out.error(&wrong_args(name));
    }
    let hash = match ctx.hash(&args[1], fx) {
        Ok(h) => h,
        Err(e) => return e.reply(out),
    };
    let mut new: HashSet<&[u8]> = HashSet::new();
    let mut pairs = Vec::with_capacity((args.len() - 2) / 2);
    for pair in args[2..].chunks_exact(2) {
        let (field, value) = (&pair[0][..], &pair[1][..]);
        if hash.is_none_or(|h| h.get(field).is_none()) {
            new.insert(field);
        }
        pairs.push((Blob::borrowed(field), Blob::borrowed(value)));
    }
    fx.push(Effect::HSet {
        key: Blob::borrowed(&args[1][..]),
        pairs,
    });
    if name == "hmset" {
        out.ok();
    } else {
        out.int(new.len() as i64);
    }
}

/// `HSETNX key field value`
fn hsetnx<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    match ctx.hash(&args[1], fx) {
        Err(e) => e.reply(out),
        Ok(Some(h)) if h.get(&args[2]).is_some() => out.int(0),
        Ok(_) => {
            fx.push(Effect::HSet {
                key: Blob::borrowed(&args[1][..]),
                pairs: vec![(Blob::borrowed(&args[2][..]), Blob::borrowed(&args[3][..]))],
            });
            out.int(1);
        }
    }
}

/// `HMGET key field [field …]`
fn hmget<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    with_hash(args, ctx, out, fx, |h, out| {
        out.array(args.len() - 2);
        for field in &args[2..] {
            match h.and_then(|h| h.get(field)) {
                Some(v) => out.bulk(v),
                None => out.nil(),
            }
        }
    });
}

/// `HDEL key field [field …]`: logs the fields that were there.
fn hdel<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let hash = match ctx.hash(&args[1], fx) {
        Ok(Some(h)) => h,
        Ok(None) => return out.int(0),
        Err(e) => return e.reply(out),
    };
    let mut seen: HashSet<&[u8]> = HashSet::new();
    let fields: Vec<Blob<'a>> = args[2..]
        .iter()
        .filter(|f| hash.get(f).is_some() && seen.insert(&f[..]))
        .map(|f| Blob::borrowed(&f[..]))
        .collect();
    out.int(fields.len() as i64);
    if !fields.is_empty() {
        fx.push(Effect::HDel {
            key: Blob::borrowed(&args[1][..]),
            fields,
        });
    }
}

/// Logs `field` of the hash under `key` set to `value`.
fn set_field<'a>(key: &'a [u8], field: &'a [u8], value: Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    fx.push(Effect::HSet {
        key: Blob::borrowed(key),
        pairs: vec![(Blob::borrowed(field), Blob::owned(value))],
    });
}

/// `HINCRBY key field increment`: logs the value it produced.
fn hincrby<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let Some(by) = parse_i64(&args[3]) else {
        return out.error(errors::NOT_INTEGER);
    };
    let old = match ctx.hash(&args[1], fx) {
        Ok(h) => h.and_then(|h| h.get(&args[2])),
        Err(e) => return e.reply(out),
    };
    let old = match old.map(parse_i64) {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => return out.error("ERR hash value is not an integer"),
    };
    let Some(new) = old.checked_add(by) else {
        return out.error(errors::OVERFLOW);
    };
    let text = itoa::Buffer::new().format(new).as_bytes().to_vec();
    set_field(&args[1], &args[2], text, fx);
    out.int(new);
}

/// `HINCRBYFLOAT key field increment`: logs the value it produced, as text,
/// added in `long double` as Redis adds it.
fn hincrbyfloat<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let Some(by) = LongDouble::parse(&args[3]) else {
        return out.error(errors::NOT_FLOAT);
    };
    if by.is_infinite() {
        return out.error("ERR value is NaN or Infinity");
    }
    let old = match ctx.hash(&args[1], fx) {
        Ok(h) => h.and_then(|h| h.get(&args[2])),
        Err(e) => return e.reply(out),
    };
    let old = match old.map(LongDouble::parse) {
        None => LongDouble::ZERO,
        Some(Some(v)) => v,
        Some(None) => return out.error("ERR hash value is not a float"),
    };
    let new = match old.add(&by) {
        Some(v) if !v.is_infinite() => v,
        _ => return out.error("ERR increment would produce NaN or Infinity"),
    };
    let text = new.to_human().into_bytes();
    out.bulk(&text);
    set_field(&args[1], &args[2], text, fx);
}

/// `HRANDFIELD key [count [WITHVALUES]]`
fn hrandfield<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    if args.len() == 2 {
        return with_hash(args, ctx, out, fx, |h, out| {
            match h.and_then(|h| sample::pick_one(h.len(), |i| h.nth(i))) {
                Some((f, _)) => out.bulk(f),
                None => out.nil(),
            }
        });
    }
    let n = match sample::parse_count(&args[2]) {
        Ok(n) => n,
        Err(e) => return out.error(e),
    };
    let with_values = match args.get(3) {
        None => false,
        Some(a) if args.len() == 4 && a.eq_ignore_ascii_case(b"withvalues") => true,
        Some(_) => return out.error(errors::SYNTAX),
    };
    // Redis refuses a count whose doubled reply length would overflow.
    if with_values && n.unsigned_abs() > i64::MAX as u64 / 2 {
        return out.error("ERR value is out of range");
    }
    let count = match Count::of(n) {
        Ok(c) => c,
        Err(e) => return out.error(e),
    };
    with_hash(args, ctx, out, fx, |h, out| {
        let picked = h.map_or_else(Vec::new, |h| sample::pick(h.len(), count, |i| h.nth(i)));
        let show = if with_values {
            Show::Both
        } else {
            Show::Fields
        };
        reply_pairs(out, picked.iter().copied(), show, picked.len());
    });
}

/// `HSCAN key cursor [MATCH pattern] [COUNT n]` (see [`coll_scan`]).
fn hscan<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let scan = match coll_scan::parse(args) {
        Ok(s) => s,
        Err(e) => return out.error(e),
    };
    with_hash(args, ctx, out, fx, |h, out| {
        let (next, found) = coll_scan::page(h.into_iter().flat_map(Hash::iter), &scan);
        out.array(2);
        out.bulk(itoa::Buffer::new().format(next).as_bytes());
        let n = found.len();
        reply_pairs(out, found.into_iter(), Show::Both, n);
    });
}
