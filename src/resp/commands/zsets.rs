//! Sorted-set commands: the table, adding and removing members (`ZADD`,
//! `ZINCRBY`, `ZREM`), reading them (`ZCARD`, `ZSCORE`, `ZMSCORE`, `ZRANK`,
//! `ZREVRANK`, `ZRANDMEMBER`, `ZSCAN`) and popping them (`ZPOPMIN`,
//! `ZPOPMAX`, `ZMPOP`). Ranges are in `zrange`, unions, intersections and
//! differences in `zcombine`.
//!
//! A float or random outcome is logged as its result (`ZAdd` with the final
//! score, `ZRem` of the members popped), never computed again on replay.

use super::floats::{fmt_double, parse_f64};
use super::zcombine::{zcombine, Op};
use super::zpop::{zpop, ZEnd};
use super::zrange::{reply_members, zcount, zrange, zremrange, By, Form};
use super::{coll_scan, errors, keyspace_commands, parse_i64, Ctx, Spec, WrongType};
use crate::resp::reply::Reply;
use crate::store::{Blob, Effect};
use bytes::Bytes;
use rand::Rng;
use std::collections::HashMap;

/// `ZRANGE`'s forms: where the source key is, what the command fixes.
const fn form(by: Option<By>, rev: Option<bool>) -> Form {
    Form {
        by,
        rev,
        src: 1,
        store: false,
    }
}

/// Sorted-set commands.
pub(super) static TABLE: &[Spec] = keyspace_commands! {
    "zadd" -4 Grow => |a, c, o, f| zadd(a, 2, false, c, o, f),
    "zincrby" 4 Grow => |a, c, o, f| zadd(a, 2, true, c, o, f),
    "zrem" -3 Write => zrem,
    "zcard" 2 Read => |a, c, o, f| match c.zset(&a[1], f) {
        Ok(z) => o.int(z.map_or(0, |z| z.len() as i64)),
        Err(e) => e.reply(o),
    },
    "zscore" 3 Read => |a, c, o, f| match c.zset(&a[1], f) {
        Ok(z) => reply_score(o, z.and_then(|z| z.score(&a[2]))),
        Err(e) => e.reply(o),
    },
    "zmscore" -3 Read => |a, c, o, f| match c.zset(&a[1], f) {
        Ok(z) => {
            o.array(a.len() - 2);
            for m in &a[2..] {
                reply_score(o, z.and_then(|z| z.score(m)));
            }
        }
        Err(e) => e.reply(o),
    },
    "zrank" 3 Read => |a, c, o, f| zrank(a, false, c, o, f),
    "zrevrank" 3 Read => |a, c, o, f| zrank(a, true, c, o, f),
    "zcount" 4 Read => |a, c, o, f| zcount(By::Score, a, c, o, f),
    "zlexcount" 4 Read => |a, c, o, f| zcount(By::Lex, a, c, o, f),
    "zrange" -4 Read => |a, c, o, f| zrange(form(None, None), a, c, o, f),
    "zrangestore" -5 Grow => |a, c, o, f| {
        let store = Form { by: None, rev: None, src: 2, store: true };
        zrange(store, a, c, o, f)
    },
    "zrangebyscore" -4 Read => |a, c, o, f| zrange(form(Some(By::Score), Some(false)), a, c, o, f),
    "zrevrangebyscore" -4 Read => |a, c, o, f| zrange(form(Some(By::Score), Some(true)), a, c, o, f),
    "zrangebylex" -4 Read => |a, c, o, f| zrange(form(Some(By::Lex), Some(false)), a, c, o, f),
    "zrevrangebylex" -4 Read => |a, c, o, f| zrange(form(Some(By::Lex), Some(true)), a, c, o, f),
    "zrevrange" -4 Read => |a, c, o, f| zrange(form(Some(By::Rank), Some(true)), a, c, o, f),
    "zremrangebyrank" 4 Write => |a, c, o, f| zremrange(By::Rank, a, c, o, f),
    "zremrangebyscore" 4 Write => |a, c, o, f| zremrange(By::Score, a, c, o, f),
    "zremrangebylex" 4 Write => |a, c, o, f| zremrange(By::Lex, a, c, o, f),
    "zpopmin" -2 Write => |a, c, o, f| pop_command(a, ZEnd::Min, c, o, f),
    "zpopmax" -2 Write => |a, c, o, f| pop_command(a, ZEnd::Max, c, o, f),
    "zmpop" -4 Write => zmpop,
    "zrandmember" -2 Read => zrandmember,
    "zunion" -3 Read => |a, c, o, f| zcombine(Op::Union, false, a, c, o, f),
    "zunionstore" -4 Grow => |a, c, o, f| zcombine(Op::Union, true, a, c, o, f),
    "zinter" -3 Read => |a, c, o, f| zcombine(Op::Inter, false, a, c, o, f),
    "zinterstore" -4 Grow => |a, c, o, f| zcombine(Op::Inter, true, a, c, o, f),
    "zintercard" -3 Read => |a, c, o, f| zcombine(Op::InterCard, false, a, c, o, f),
    "zdiff" -3 Read => |a, c, o, f| zcombine(Op::Diff, false, a, c, o, f),
    "zdiffstore" -4 Grow => |a, c, o, f| zcombine(Op::Diff, true, a, c, o, f),
    "zscan" -3 Read => zscan,
};

/// A score as a bulk string, or nil.
fn reply_score(out: &mut Vec<u8>, score: Option<f64>) {
    match score {
        Some(s) => out.bulk(fmt_double(s).as_bytes()),
        None => out.nil(),
    }
}

/// `ZADD`'s options.
#[derive(Clone, Copy, Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member …` and, with `incr`
/// fixed, `ZINCRBY key increment member`. Scores are logged as they end up.
fn zadd<'a>(
    args: &'a [Bytes],
    mut at: usize,
    incr_only: bool,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let mut f = AddFlags {
        incr: incr_only,
        ..AddFlags::default()
    };
    while !incr_only && at < args.len() {
        let flag = match args[at].to_ascii_uppercase().as_slice() {
            b"NX" => &mut f.nx,
            b"XX" => &mut f.xx,
            b"GT" => &mut f.gt,
            b"LT" => &mut f.lt,
            b"CH" => &mut f.ch,
            b"INCR" => &mut f.incr,
            _ => break,
        };
        *flag = true;
        at += 1;
    }
    let pairs = &args[at..];
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return out.error(errors::SYNTAX);
    }
    if f.nx && f.xx {
        return out.error("ERR XX and NX options at the same time are not compatible");
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return out.error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if f.incr && pairs.len() > 2 {
        return out.error("ERR INCR option supports a single increment-element pair");
    }
    let mut scores = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks(2) {
        match parse_f64(&pair[0]) {
            Some(s) => scores.push(s),
            None => return out.error(errors::NOT_FLOAT),
        }
    }
    let key = &args[1][..];
    let z = match ctx.zset(key, fx) {
        Ok(z) => z,
        Err(e) => return e.reply(out),
    };
    // Members this command already set, as later pairs must see them.
    let mut now: HashMap<&[u8], f64> = HashMap::new();
    let (mut added, mut updated, mut processed) = (0, 0, 0);
    let mut entries = Vec::new();
    let mut last = 0.0;
    if z.is_some() || !f.xx {
        for (pair, &given) in pairs.chunks(2).zip(&scores) {
            let member = &pair[1][..];
            let current = now
                .get(member)
                .copied()
                .or_else(|| z.and_then(|z| z.score(member)));
            let score = match current {
                None if f.xx => continue,
                None => given,
                Some(_) if f.nx => continue,
                Some(cur) => {
                    let score = if f.incr { cur + given } else { given };
                    if score.is_nan() {
                        return out.error("ERR resulting score is not a number (NaN)");
                    }
                    if (f.lt && score >= cur) || (f.gt && score <= cur) {
                        continue;
                    }
                    if score == cur {
                        processed += 1;
                        last = score;
                        continue;
                    }
                    updated += 1;
                    score
                }
            };
            if current.is_none() {
                added += 1;
            }
            processed += 1;
            last = score;
            now.insert(member, score);
            entries.push((score, Blob::borrowed(member)));
        }
    }
    if !entries.is_empty() {
        fx.push(Effect::ZAdd {
            key: Blob::borrowed(key),
            entries,
        });
    }
    match (f.incr, processed) {
        (true, 0) => out.nil(),
        (true, _) => out.bulk(fmt_double(last).as_bytes()),
        (false, _) => out.int(if f.ch { added + updated } else { added }),
    }
}

/// `ZREM key member …`
fn zrem<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let z = match ctx.zset(&args[1], fx) {
        Ok(Some(z)) => z,
        Ok(None) => return out.int(0),
        Err(e) => return e.reply(out),
    };
    let mut seen = std::collections::HashSet::new();
    let members: Vec<Blob<'a>> = args[2..]
        .iter()
        .filter(|m| z.score(m).is_some() && seen.insert(&m[..]))
        .map(|m| Blob::borrowed(&m[..]))
        .collect();
    out.int(members.len() as i64);
    if !members.is_empty() {
        fx.push(Effect::ZRem {
            key: Blob::borrowed(&args[1]),
            members,
        });
    }
}

/// `ZRANK key member` and `ZREVRANK key member`.
fn zrank<'a>(
    args: &'a [Bytes],
    rev: bool,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    match ctx.zset(&args[1], fx) {
        Ok(z) => match z.and_then(|z| Some((z.rank(&args[2])?, z.len()))) {
            Some((r, len)) => out.int(if rev { len - 1 - r } else { r } as i64),
            None => out.nil(),
        },
        Err(e) => e.reply(out),
    }
}

/// Members popped from the sorted set under `key`, in the order popped.
pub(super) struct Popped<'a> {
    pub key: &'a [u8],
    pub entries: Vec<(Vec<u8>, f64)>,
}

/// Pops up to `count` members from `end` of the first sorted set among
/// `keys` ([`zpop`], which logs the `ZRem`; nothing for a count of 0).
/// `Ok(None)` when every key is missing; `Err` when a key before the first
/// sorted set holds another type.
pub(super) fn pop<'a>(
    keys: &'a [Bytes],
    end: ZEnd,
    count: usize,
    ctx: &Ctx<'_>,
    fx: &mut Vec<Effect<'a>>,
) -> Result<Option<Popped<'a>>, WrongType> {
    for key in keys {
        if let Some(z) = ctx.zset(key, fx)? {
            let entries = zpop(key, z, end, count, fx);
            return Ok(Some(Popped { key, entries }));
        }
    }
    Ok(None)
}

/// A count that must be positive: `ERR value is out of range, must be
/// positive` otherwise (Redis's `getPositiveLongFromObjectOrReply`).
fn positive(arg: &[u8]) -> Result<i64, &'static str> {
    match parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n),
        _ => Err("ERR value is out of range, must be positive"),
    }
}

/// `ZPOPMIN key [count]` and `ZPOPMAX key [count]`: a flat array of
/// member, score.
fn pop_command<'a>(
    args: &'a [Bytes],
    end: ZEnd,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    if args.len() > 3 {
        return out.error(errors::SYNTAX);
    }
    let count = match args.get(2).map(|a| positive(a)) {
        None => 1,
        Some(Ok(n)) => usize::try_from(n).unwrap_or(usize::MAX),
        Some(Err(e)) => return out.error(e),
    };
    match pop(&args[1..2], end, count, ctx, fx) {
        Ok(Some(p)) => reply_members(out, p.entries.iter().map(|(m, s)| (&m[..], *s)), true),
        Ok(None) => out.array(0),
        Err(e) => e.reply(out),
    }
}

/// A count of at least 1, or `msg` (Redis's `getRangeLongFromObjectOrReply`
/// with a message).
fn at_least_one(arg: &[u8], msg: &'static str) -> Result<usize, &'static str> {
    match parse_i64(arg) {
        Some(n) if n >= 1 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err(msg),
    }
}

/// `ZMPOP numkeys key … MIN|MAX [COUNT count]`: `[key, [[member, score] …]]`,
/// or a nil array when every key is missing.
fn zmpop<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let numkeys = match at_least_one(&args[1], "ERR numkeys should be greater than 0") {
        Ok(n) => n,
        Err(e) => return out.error(e),
    };
    let Some(where_at) = numkeys.checked_add(2).filter(|&w| w < args.len()) else {
        return out.error(errors::SYNTAX);
    };
    let Some(end) = ZEnd::parse(&args[where_at]) else {
        return out.error(errors::SYNTAX);
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if count.is_none() && args[j].eq_ignore_ascii_case(b"COUNT") && j + 1 < args.len() {
            match at_least_one(&args[j + 1], "ERR count should be greater than 0") {
                Ok(n) => count = Some(n),
                Err(e) => return out.error(e),
            }
            j += 2;
        } else {
            return out.error(errors::SYNTAX);
        }
    }
    match pop(&args[2..where_at], end, count.unwrap_or(1), ctx, fx) {
        Ok(Some(p)) => {
            out.array(2);
            out.bulk(p.key);
            out.array(p.entries.len());
            for (m, s) in p.entries {
                out.array(2);
                out.bulk(&m);
                out.bulk(fmt_double(s).as_bytes());
            }
        }
        Ok(None) => out.extend_from_slice(b"*-1\r\n"),
        Err(e) => e.reply(out),
    }
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`: a negative count may repeat
/// members; a positive one gives distinct members.
fn zrandmember<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let Some(count_arg) = args.get(2) else {
        return match ctx.zset(&args[1], fx) {
            Ok(Some(z)) => {
                let i = rand::thread_rng().gen_range(0..z.len());
                out.bulk(z.at(i).map_or(&b""[..], |(m, _)| m));
            }
            Ok(None) => out.nil(),
            Err(e) => e.reply(out),
        };
    };
    let count = match parse_i64(count_arg) {
        Some(i64::MIN) => {
            return out.error(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            )
        }
        Some(n) => n,
        None => return out.error(errors::NOT_INTEGER),
    };
    let with_scores = match &args[3..] {
        [] => false,
        [w] if w.eq_ignore_ascii_case(b"WITHSCORES") => {
            if count.unsigned_abs() > (i64::MAX / 2) as u64 {
                return out.error("ERR value is out of range");
            }
            true
        }
        _ => return out.error(errors::SYNTAX),
    };
    let z = match ctx.zset(&args[1], fx) {
        Ok(Some(z)) => z,
        Ok(None) => return out.array(0),
        Err(e) => return e.reply(out),
    };
    let len = z.len();
    let mut rng = rand::thread_rng();
    if count < 0 {
        // Written as drawn: the reply is the only thing that grows.
        let n = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        out.array(n * if with_scores { 2 } else { 1 });
        for _ in 0..n {
            let (m, s) = z.at(rng.gen_range(0..len)).unwrap_or_default();
            out.bulk(m);
            if with_scores {
                out.bulk(fmt_double(s).as_bytes());
            }
        }
        return;
    }
    let picked: Vec<(&[u8], f64)> = if count as u64 >= len as u64 {
        // The whole set, highest first (as Redis 7.0 gives a small one).
        z.iter().rev().collect()
    } else {
        let ranks = rand::seq::index::sample(&mut rng, len, count as usize);
        ranks.into_iter().filter_map(|i| z.at(i)).collect()
    };
    reply_members(out, picked.into_iter(), with_scores);
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`: a packed set whole in
/// one call (as Redis scans a listpack), a large one through [`coll_scan`]
/// (a cursor in the order of a fixed hash of each member).
fn zscan<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let scan = match coll_scan::parse(args) {
        Ok(s) => s,
        Err(e) => return out.error(e),
    };
    let z = match ctx.zset(&args[1], fx) {
        Ok(Some(z)) => z,
        Ok(None) => return out.extend_from_slice(b"*2\r\n$1\r\n0\r\n*0\r\n"),
        Err(e) => return e.reply(out),
    };
    let (next, found) = match z.is_packed() {
        true => {
            let matching = z
                .iter()
                .filter(|(m, _)| scan.pattern.as_ref().is_none_or(|p| p.matches(m)));
            (0, matching.collect())
        }
        false => coll_scan::page(z.iter(), &scan),
    };
    out.array(2);
    out.bulk(itoa::Buffer::new().format(next).as_bytes());
    reply_members(out, found.into_iter(), true);
}
