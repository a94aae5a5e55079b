//! List commands: pushes, LLEN, LRANGE, LINDEX, LSET, LINSERT, LREM, LTRIM,
//! LPOS. The pops and moves (LPOP, LMOVE, LMPOP, …) are in `list_pop`.
//!
//! Every write is logged as the change it makes at the position it resolved
//! (`LSet`, `LInsert` and `LTrim` carry indexes from the left), never as the
//! whole list.

use super::list_pop;
use super::{errors, keyspace_commands, parse_i64, Ctx, Spec};
use crate::resp::reply::Reply;
use crate::store::value::List;
use crate::store::{Blob, Effect, ListEnd};
use bytes::Bytes;

/// List commands.
pub(super) static TABLE: &[Spec] = keyspace_commands! {
    "lpush" -3 Grow => |a, c, o, f| push(a, ListEnd::Left, false, c, o, f),
    "rpush" -3 Grow => |a, c, o, f| push(a, ListEnd::Right, false, c, o, f),
    "lpushx" -3 Grow => |a, c, o, f| push(a, ListEnd::Left, true, c, o, f),
    "rpushx" -3 Grow => |a, c, o, f| push(a, ListEnd::Right, true, c, o, f),
    "lpop" -2 Write => |a, c, o, f| list_pop::pop(a, ListEnd::Left, c, o, f),
    "rpop" -2 Write => |a, c, o, f| list_pop::pop(a, ListEnd::Right, c, o, f),
    "llen" 2 Read => llen,
    "lrange" 4 Read => lrange,
    "lindex" 3 Read => lindex,
    "lset" 4 Grow => lset,
    "linsert" 5 Grow => linsert,
    "lrem" 4 Write => lrem,
    "ltrim" 4 Write => ltrim,
    "lpos" -3 Read => lpos,
    "lmove" 5 Grow => list_pop::lmove,
    "rpoplpush" 3 Grow => list_pop::rpoplpush,
    "lmpop" -4 Write => list_pop::lmpop,
};

/// A Redis index (negative from the end) as a position, if inside `len`.
fn position(index: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if index < 0 { index + len } else { index };
    (0..len).contains(&i).then_some(i as usize)
}

/// A Redis range `start..=stop` (negative from the end) as `start..end`
/// positions inside `len`; empty when nothing is in it.
fn span(start: i64, stop: i64, len: usize) -> (usize, usize) {
    let n = len as i64;
    let start = if start < 0 { (start + n).max(0) } else { start };
    let stop = if stop < 0 { stop + n } else { stop };
    if start > stop || start >= n {
        return (0, 0);
    }
    (start as usize, (stop.min(n - 1) + 1) as usize)
}

/// `LPUSH|RPUSH key element…`, and the `X` forms (only onto a list that exists).
fn push<'a>(
    args: &'a [Bytes],
    end: ListEnd,
    only_existing: bool,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let key = &args[1];
    let len = match ctx.list(key, fx) {
        Err(e) => return e.reply(out),
        Ok(None) if only_existing => return out.int(0),
        Ok(l) => l.map_or(0, List::len),
    };
    let elems: Vec<Blob<'a>> = args[2..].iter().map(|e| Blob::borrowed(e)).collect();
    out.int((len + elems.len()) as i64);
    fx.push(Effect::Push {
        key: Blob::borrowed(key),
        end,
        elems,
    });
}

fn llen<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    match ctx.list(&args[1], fx) {
        Ok(l) => out.int(l.map_or(0, List::len) as i64),
        Err(e) => e.reply(out),
    }
}

/// `LRANGE key start stop`
fn lrange<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let (Some(start), Some(stop)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return out.error(errors::NOT_INTEGER);
    };
    let list = match ctx.list(&args[1], fx) {
        Err(e) => return e.reply(out),
        Ok(None) => return out.array(0),
        Ok(Some(l)) => l,
    };
    let (from, to) = span(start, stop, list.len());
    out.array(to - from);
    for e in list.range(from, to) {
        out.bulk(e);
    }
}

/// `LINDEX key index` (the key is looked up before the index is read, as
/// Redis does).
fn lindex<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let list = match ctx.list(&args[1], fx) {
        Err(e) => return e.reply(out),
        Ok(None) => return out.nil(),
        Ok(Some(l)) => l,
    };
    let Some(index) = parse_i64(&args[2]) else {
        return out.error(errors::NOT_INTEGER);
    };
    match position(index, list.len()).and_then(|i| list.get(i)) {
        Some(e) => out.bulk(e),
        None => out.nil(),
    }
}

/// `LSET key index element`, logged with the index from the left.
fn lset<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let list = match ctx.list(&args[1], fx) {
        Err(e) => return e.reply(out),
        Ok(None) => return out.error("ERR no such key"),
        Ok(Some(l)) => l,
    };
    let Some(index) = parse_i64(&args[2]) else {
        return out.error(errors::NOT_INTEGER);
    };
    let Some(at) = position(index, list.len()) else {
        return out.error("ERR index out of range");
    };
    out.ok();
    fx.push(Effect::LSet {
        key: Blob::borrowed(&args[1]),
        index: at as u64,
        elem: Blob::borrowed(&args[3]),
    });
}

/// `LINSERT key BEFORE|AFTER pivot element`, logged as an insert at the
/// position it resolved.
fn linsert<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let after = if args[2].eq_ignore_ascii_case(b"after") {
        true
    } else if args[2].eq_ignore_ascii_case(b"before") {
        false
    } else {
        return out.error(errors::SYNTAX);
    };
    let list = match ctx.list(&args[1], fx) {
        Err(e) => return e.reply(out),
        Ok(None) => return out.int(0),
        Ok(Some(l)) => l,
    };
    let Some(pivot) = list.iter().position(|e| e == &args[3][..]) else {
        return out.int(-1);
    };
    out.int(list.len() as i64 + 1);
    fx.push(Effect::LInsert {
        key: Blob::borrowed(&args[1]),
        index: (pivot + usize::from(after)) as u64,
        elem: Blob::borrowed(&args[4]),
    });
}

/// `LREM key count element`, logged as itself when it removes something.
fn lrem<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let Some(count) = parse_i64(&args[2]) else {
        return out.error(errors::NOT_INTEGER);
    };
    let list = match ctx.list(&args[1], fx) {
        Err(e) => return e.reply(out),
        Ok(None) => return out.int(0),
        Ok(Some(l)) => l,
    };
    let limit = match count {
        0 => usize::MAX,
        n => n.unsigned_abs().try_into().unwrap_or(usize::MAX),
    };
    let elem = &args[3][..];
    let removed = list.iter().filter(|e| *e == elem).take(limit).count();
    out.int(removed as i64);
    if removed > 0 {
        fx.push(Effect::LRem {
            key: Blob::borrowed(&args[1]),
            count,
            elem: Blob::borrowed(elem),
        });
    }
}

/// `LTRIM key start stop`, logged with the range it resolved.
fn ltrim<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let (Some(start), Some(stop)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return out.error(errors::NOT_INTEGER);
    };
    let list = match ctx.list(&args[1], fx) {
        Err(e) => return e.reply(out),
        Ok(None) => return out.ok(),
        Ok(Some(l)) => l,
    };
    let (from, to) = span(start, stop, list.len());
    out.ok();
    if (from, to) != (0, list.len()) {
        fx.push(Effect::LTrim {
            key: Blob::borrowed(&args[1]),
            start: from as u64,
            end: to as u64,
        });
    }
}

/// `LPOS`'s options.
struct PosOptions {
    rank: i64,
    /// `None`: reply with one position; `Some(0)`: every match.
    count: Option<u64>,
    /// Elements compared at most (0: all).
    maxlen: u64,
}

const RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";

fn pos_options(args: &[Bytes]) -> Result<PosOptions, &'static str> {
    let mut o = PosOptions {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let mut i = 3;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return Err(errors::SYNTAX);
        };
        let name = &args[i];
        let non_negative = |what| {
            parse_i64(value)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or(what)
        };
        if name.eq_ignore_ascii_case(b"rank") {
            o.rank = parse_i64(value).ok_or(errors::NOT_INTEGER)?;
            if o.rank == 0 {
                return Err(RANK_ZERO);
            }
        } else if name.eq_ignore_ascii_case(b"count") {
            o.count = Some(non_negative("ERR COUNT can't be negative")?);
        } else if name.eq_ignore_ascii_case(b"maxlen") {
            o.maxlen = non_negative("ERR MAXLEN can't be negative")?;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 2;
    }
    Ok(o)
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`
fn lpos<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let o = match pos_options(args) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    let list = match ctx.list(&args[1], fx) {
        Err(e) => return e.reply(out),
        Ok(l) => l,
    };
    let found = list.map_or_else(Vec::new, |l| matches(l, &args[2], &o));
    match o.count {
        None => match found.first() {
            Some(&at) => out.int(at as i64),
            None => out.nil(),
        },
        Some(_) => {
            out.array(found.len());
            found.iter().for_each(|&at| out.int(at as i64));
        }
    }
}

/// The positions `LPOS` replies with, in the order it finds them.
fn matches(list: &List, elem: &[u8], o: &PosOptions) -> Vec<usize> {
    let len = list.len();
    let scanned = match o.maxlen {
        0 => len,
        m => len.min(usize::try_from(m).unwrap_or(usize::MAX)),
    };
    let skip = usize::try_from(o.rank.unsigned_abs() - 1).unwrap_or(usize::MAX);
    let wanted = match o.count {
        None => 1,
        Some(0) => usize::MAX,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let hits = |it: &mut dyn Iterator<Item = (usize, &[u8])>| -> Vec<usize> {
        it.take(scanned)
            .filter(|(_, e)| *e == elem)
            .skip(skip)
            .take(wanted)
            .map(|(i, _)| i)
            .collect()
    };
    if o.rank > 0 {
        hits(&mut list.iter().enumerate())
    } else {
        hits(&mut list.iter().rev().enumerate().map(|(i, e)| (len - 1 - i, e)))
    }
}
