//! Set commands on one set: SADD, SREM, SISMEMBER, SMISMEMBER, SCARD,
//! SMEMBERS, SPOP, SRANDMEMBER, SMOVE, SSCAN. (Intersections, unions and
//! differences are in `set_algebra`.)
//!
//! Writes log `SAdd` with the members they added and `SRem` with the members
//! they removed; `SPOP` logs the members it drew, so replay draws nothing.

use super::sample::{self, Count};
use super::{coll_scan, errors, keyspace_commands, Ctx, Spec};
use crate::resp::reply::Reply;
use crate::store::value::Set;
use crate::store::{Blob, Effect};
use bytes::Bytes;
use std::collections::HashSet;

/// Set commands on one set.
pub(super) static TABLE: &[Spec] = keyspace_commands! {
    "sadd" -3 Grow => sadd,
    "srem" -3 Write => srem,
    "sismember" 3 Read => |a, c, o, f| with_set(a, c, o, f, |s, o| {
        o.int(i64::from(s.is_some_and(|s| s.contains(&a[2]))))
    }),
    "smismember" -3 Read => |a, c, o, f| with_set(a, c, o, f, |s, o| {
        o.array(a.len() - 2);
        for m in &a[2..] {
            o.int(i64::from(s.is_some_and(|s| s.contains(m))));
        }
    }),
    "scard" 2 Read => |a, c, o, f| with_set(a, c, o, f, |s, o| o.int(s.map_or(0, Set::len) as i64)),
    "smembers" 2 Read => |a, c, o, f| with_set(a, c, o, f, |s, o| {
        reply_members(o, s.into_iter().flat_map(Set::iter), s.map_or(0, Set::len))
    }),
    "spop" -2 Write => spop,
    "srandmember" -2 Read => srandmember,
    "smove" 4 Write => smove,
    "sscan" -3 Read => sscan,
};

/// Runs `f` with the live set under `args[1]` (`None` when missing), or
/// replies `WRONGTYPE`.
fn with_set<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
    f: impl FnOnce(Option<&Set>, &mut Vec<u8>),
) {
    match ctx.set(&args[1], fx) {
        Ok(s) => f(s, out),
        Err(e) => e.reply(out),
    }
}

/// An array of the `n` members `members` lists.
pub(super) fn reply_members<'s>(
    out: &mut Vec<u8>,
    members: impl Iterator<Item = &'s [u8]>,
    n: usize,
) {
    out.array(n);
    members.for_each(|m| out.bulk(m));
}

/// `SADD key member [member …]`: logs the members given (adding one that
/// is there changes nothing), replies with the number that are new.
fn sadd<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let set = match ctx.set(&args[1], fx) {
        Ok(s) => s,
        Err(e) => return e.reply(out),
    };
    let mut new: HashSet<&[u8]> = HashSet::new();
    for m in &args[2..] {
        if set.is_none_or(|s| !s.contains(m)) {
            new.insert(m);
        }
    }
    if !new.is_empty() {
        fx.push(Effect::SAdd {
            key: Blob::borrowed(&args[1][..]),
            members: new.iter().map(|m| Blob::borrowed(m)).collect(),
        });
    }
    out.int(new.len() as i64);
}

/// `SREM key member [member …]`: logs the members that were there.
fn srem<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let set = match ctx.set(&args[1], fx) {
        Ok(Some(s)) => s,
        Ok(None) => return out.int(0),
        Err(e) => return e.reply(out),
    };
    let mut seen: HashSet<&[u8]> = HashSet::new();
    let members: Vec<Blob<'a>> = args[2..]
        .iter()
        .filter(|m| set.contains(m) && seen.insert(&m[..]))
        .map(|m| Blob::borrowed(&m[..]))
        .collect();
    out.int(members.len() as i64);
    if !members.is_empty() {
        fx.push(Effect::SRem {
            key: Blob::borrowed(&args[1][..]),
            members,
        });
    }
}

/// `SPOP key [count]`: removes members drawn at random and logs which (all
/// of them as a `Del` of the key, which is smaller).
fn spop<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    if args.len() > 3 {
        return out.error(errors::SYNTAX);
    }
    let count = match args.get(2) {
        None => None,
        Some(a) => match super::parse_i64(a) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => return out.error("ERR value is out of range, must be positive"),
        },
    };
    let set = match ctx.set(&args[1], fx) {
        Ok(s) => s,
        Err(e) => return e.reply(out),
    };
    let key = Blob::borrowed(&args[1][..]);
    let Some(count) = count else {
        match set.and_then(|s| sample::pick_one(s.len(), |i| s.nth(i))) {
            Some(m) => {
                out.bulk(m);
                fx.push(Effect::SRem {
                    key,
                    members: vec![Blob::owned(m.to_vec())],
                });
            }
            None => out.nil(),
        }
        return;
    };
    let Some(set) = set.filter(|_| count > 0) else {
        return out.array(0);
    };
    let picked = sample::pick(set.len(), Count::Distinct(count), |i| set.nth(i));
    reply_members(out, picked.iter().copied(), picked.len());
    if picked.len() == set.len() {
        fx.push(Effect::Del { keys: vec![key] });
    } else {
        fx.push(Effect::SRem {
            key,
            members: picked.iter().map(|m| Blob::owned(m.to_vec())).collect(),
        });
    }
}

/// `SRANDMEMBER key [count]`
fn srandmember<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    if args.len() > 3 {
        return out.error(errors::SYNTAX);
    }
    let Some(count) = args.get(2) else {
        return with_set(args, ctx, out, fx, |s, out| {
            match s.and_then(|s| sample::pick_one(s.len(), |i| s.nth(i))) {
                Some(m) => out.bulk(m),
                None => out.nil(),
            }
        });
    };
    let count = match sample::parse_count(count).and_then(Count::of) {
        Ok(c) => c,
        Err(e) => return out.error(e),
    };
    with_set(args, ctx, out, fx, |s, out| {
        let picked = s.map_or_else(Vec::new, |s| sample::pick(s.len(), count, |i| s.nth(i)));
        reply_members(out, picked.iter().copied(), picked.len());
    });
}

/// `SMOVE source destination member`
fn smove<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let (src, dst, member) = (&args[1][..], &args[2][..], &args[3][..]);
    let (from, to) = match (ctx.set(src, fx), ctx.set(dst, fx)) {
        (Ok(from), Ok(to)) => (from, to),
        (Ok(None), _) => return out.int(0),
        (Err(e), _) | (_, Err(e)) => return e.reply(out),
    };
    if !from.is_some_and(|s| s.contains(member)) {
        return out.int(0);
    }
    if src != dst {
        fx.push(Effect::SRem {
            key: Blob::borrowed(src),
            members: vec![Blob::borrowed(member)],
        });
        if to.is_none_or(|s| !s.contains(member)) {
            fx.push(Effect::SAdd {
                key: Blob::borrowed(dst),
                members: vec![Blob::borrowed(member)],
            });
        }
    }
    out.int(1);
}

/// `SSCAN key cursor [MATCH pattern] [COUNT n]` (see [`coll_scan`]).
fn sscan<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let scan = match coll_scan::parse(args) {
        Ok(s) => s,
        Err(e) => return out.error(e),
    };
    with_set(args, ctx, out, fx, |s, out| {
        let members = s.into_iter().flat_map(Set::iter).map(|m| (m, ()));
        let (next, found) = coll_scan::page(members, &scan);
        out.array(2);
        out.bulk(itoa::Buffer::new().format(next).as_bytes());
        reply_members(out, found.iter().map(|(m, ())| *m), found.len());
    });
}
