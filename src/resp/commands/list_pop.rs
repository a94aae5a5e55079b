//! Popping lists: LPOP/RPOP, LMOVE/RPOPLPUSH, LMPOP, and the pieces the
//! blocking forms (`blocking`) serve a waiter with.
//!
//! A pop is logged as `Pop { end, count }` and a move as that `Pop` and a
//! `Push` of the element onto the destination: proportional to the change.

use super::{errors, parse_i64, Ctx, WrongType};
use crate::resp::reply::Reply;
use crate::store::value::List;
use crate::store::{Blob, Effect, ListEnd};
use bytes::Bytes;

/// `*-1`: the null array RESP2 replies with where Redis 7.0 does.
pub(super) fn null_array(out: &mut Vec<u8>) {
    out.extend_from_slice(b"*-1\r\n");
}

/// `LEFT` or `RIGHT` (any case).
pub(super) fn parse_end(b: &[u8]) -> Option<ListEnd> {
    if b.eq_ignore_ascii_case(b"left") {
        Some(ListEnd::Left)
    } else if b.eq_ignore_ascii_case(b"right") {
        Some(ListEnd::Right)
    } else {
        None
    }
}

/// How a pop from one of several keys replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// `[key, element]` (BLPOP, BRPOP).
    KeyElem,
    /// `[key, [element…]]` with at most this many elements (LMPOP, BLMPOP).
    KeyElems(usize),
}

/// Writes the first `n` elements from `end` of `list` (the list under `key`)
/// as bulk strings, in the order they are popped, and logs their pop.
fn take<'a>(
    key: &'a [u8],
    list: &List,
    end: ListEnd,
    n: usize,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    match end {
        ListEnd::Left => list.range(0, n).for_each(|e| out.bulk(e)),
        ListEnd::Right => list.iter().rev().take(n).for_each(|e| out.bulk(e)),
    }
    fx.push(Effect::Pop {
        key: Blob::borrowed(key),
        end,
        count: n as u64,
    });
}

/// Pops from the list under `key` and replies in `shape`: `Ok(false)` (and
/// nothing written) when there is no list there.
///
/// # Errors
/// The key holds another type (nothing written).
pub(super) fn pop_from<'a>(
    key: &'a [u8],
    end: ListEnd,
    shape: Shape,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) -> Result<bool, WrongType> {
    let Some(list) = ctx.list(key, fx)? else {
        return Ok(false);
    };
    out.array(2);
    out.bulk(key);
    let n = match shape {
        Shape::KeyElem => 1,
        Shape::KeyElems(count) => {
            let n = count.min(list.len());
            out.array(n);
            n
        }
    };
    take(key, list, end, n, out, fx);
    Ok(true)
}

/// `LPOP|RPOP key [count]`
pub(super) fn pop<'a>(
    args: &'a [Bytes],
    end: ListEnd,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    if args.len() > 3 {
        return out.error(&super::wrong_args(if end == ListEnd::Left {
            "lpop"
        } else {
            "rpop"
        }));
    }
    let count = match args.get(2) {
        None => None,
        Some(c) => match parse_i64(c).and_then(|n| usize::try_from(n).ok()) {
            Some(n) => Some(n),
            None => return out.error("ERR value is out of range, must be positive"),
        },
    };
    let key = &args[1];
    let list = match ctx.list(key, fx) {
        Err(e) => return e.reply(out),
        Ok(None) if count.is_some() => return null_array(out),
        Ok(None) => return out.nil(),
        Ok(Some(l)) => l,
    };
    match count {
        None => take(key, list, end, 1, out, fx),
        Some(0) => out.array(0),
        Some(c) => {
            let n = c.min(list.len());
            out.array(n);
            take(key, list, end, n, out, fx);
        }
    }
}

/// Moves one element from `end` of the list under `src` to `to` of the
/// list under `dst`, replying with it: `Ok(false)` (nothing written) when
/// there is no list under `src`. A destination of another type replies
/// `WRONGTYPE` and moves nothing.
///
/// The same key on both sides is logged as the push, then the pop, so the
/// list is never empty in between (it keeps its expiry, as in Redis).
///
/// # Errors
/// `src` holds another type (nothing written).
pub(super) fn move_from<'a>(
    src: &'a [u8],
    dst: &'a [u8],
    from: ListEnd,
    to: ListEnd,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) -> Result<bool, WrongType> {
    let Some(list) = ctx.list(src, fx)? else {
        return Ok(false);
    };
    if let Err(e) = ctx.list(dst, fx) {
        e.reply(out);
        return Ok(true);
    }
    let elem = match from {
        ListEnd::Left => list.get(0),
        ListEnd::Right => list.get(list.len() - 1),
    }
    .expect("a key never holds an empty list");
    out.bulk(elem);
    let pop = Effect::Pop {
        key: Blob::borrowed(src),
        end: from,
        count: 1,
    };
    let push = Effect::Push {
        key: Blob::borrowed(dst),
        end: to,
        elems: vec![Blob::owned(elem.to_vec())],
    };
    if src == dst {
        fx.extend([push, pop]);
    } else {
        fx.extend([pop, push]);
    }
    Ok(true)
}

/// The reply of a move that found no list to move from.
fn moved(r: Result<bool, WrongType>, out: &mut Vec<u8>) {
    match r {
        Ok(true) => {}
        Ok(false) => out.nil(),
        Err(e) => e.reply(out),
    }
}

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT`
pub(super) fn lmove<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let (Some(from), Some(to)) = (parse_end(&args[3]), parse_end(&args[4])) else {
        return out.error(errors::SYNTAX);
    };
    moved(move_from(&args[1], &args[2], from, to, ctx, out, fx), out);
}

/// `RPOPLPUSH source destination`
pub(super) fn rpoplpush<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let r = move_from(
        &args[1],
        &args[2],
        ListEnd::Right,
        ListEnd::Left,
        ctx,
        out,
        fx,
    );
    moved(r, out);
}

/// The arguments of `LMPOP`/`ZMPOP` and their blocking forms after the
/// timeout: `numkeys key… where [COUNT count]`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Mpop<W> {
    /// Positions of the keys in the arguments.
    pub keys: std::ops::Range<usize>,
    pub end: W,
    pub count: usize,
}

/// Parses `numkeys key… where [COUNT count]` from `args[at..]`, `where`
/// read by `end`.
///
/// # Errors
/// The error line Redis 7.0 replies with.
pub(super) fn parse_mpop<W>(
    args: &[Bytes],
    at: usize,
    end: impl Fn(&[u8]) -> Option<W>,
) -> Result<Mpop<W>, &'static str> {
    let positive = |b: &[u8], what| {
        parse_i64(b)
            .filter(|n| *n > 0)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(what)
    };
    let numkeys = positive(&args[at], "ERR numkeys should be greater than 0")?;
    let where_at = (at + 1).saturating_add(numkeys);
    let w = args
        .get(where_at)
        .and_then(|b| end(b))
        .ok_or(errors::SYNTAX)?;
    let mut count = None;
    let mut i = where_at + 1;
    while i < args.len() {
        match args.get(i + 1) {
            Some(n) if count.is_none() && args[i].eq_ignore_ascii_case(b"count") => {
                count = Some(positive(n, "ERR count should be greater than 0")?);
            }
            _ => return Err(errors::SYNTAX),
        }
        i += 2;
    }
    Ok(Mpop {
        keys: at + 1..where_at,
        end: w,
        count: count.unwrap_or(1),
    })
}

/// `LMPOP numkeys key… LEFT|RIGHT [COUNT count]`
pub(super) fn lmpop<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let m = match parse_mpop(args, 1, parse_end) {
        Ok(m) => m,
        Err(e) => return out.error(e),
    };
    for key in &args[m.keys] {
        match pop_from(key, m.end, Shape::KeyElems(m.count), ctx, out, fx) {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => return e.reply(out),
        }
    }
    null_array(out);
}
