//! The blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP — their arguments, and one pop from one key.
//!
//! Their rows are [`Cmd::Block`]: the table's function is the command as it
//! runs where it may not block (inside MULTI: it pops if it can and replies
//! with a null array otherwise, as Redis does). Outside a transaction the
//! role parses the command ([`parse`]), tries it ([`attempt`]) and, when no
//! key holds anything, keeps the client waiting; whenever a write touches
//! one of its keys it is served with [`serve_key`].

use super::list_pop::{move_from, null_array, parse_end, parse_mpop, pop_from, Shape};
use super::zpop::{zpop, ZEnd};
use super::{errors, floats, Access, Cmd, Ctx, Spec, WrongType};
use crate::resp::reply::Reply;
use crate::store::{Effect, ListEnd};
use bytes::Bytes;
use std::ops::Range;
use std::time::Duration;

macro_rules! blocking_commands {
    ($($name:literal $arity:literal $access:ident),* $(,)?) => {
        &[
            $(Spec {
                cmd: Cmd::Block,
                name: $name,
                arity: $arity,
                access: Access::$access,
                run: Some(run_without_blocking),
            },)*
        ]
    };
}

/// The blocking commands.
pub(super) static TABLE: &[Spec] = blocking_commands! {
    "blpop" -3 Write,
    "brpop" -3 Write,
    "blmove" 6 Grow,
    "brpoplpush" 4 Grow,
    "blmpop" -5 Write,
    "bzpopmin" -3 Write,
    "bzpopmax" -3 Write,
    "bzmpop" -5 Write,
};

/// What a blocking command pops.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    /// One element from a list: `[key, element]`.
    Pop(ListEnd),
    /// One element from the list `args[1]` onto the list `args[2]`.
    Move { from: ListEnd, to: ListEnd },
    /// Up to `count` elements from a list: `[key, [element…]]`.
    MPop { end: ListEnd, count: usize },
    /// The member with the lowest or highest score: `[key, member, score]`.
    ZPop(ZEnd),
    /// Up to `count` members: `[key, [[member, score]…]]`.
    ZMPop { end: ZEnd, count: usize },
}

/// A parsed blocking command: what it pops, from which keys, how long it
/// waits.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocking {
    op: Op,
    /// Positions in the arguments of the keys it waits on, in order.
    keys: Range<usize>,
    /// `None`: forever (a timeout of 0).
    pub timeout: Option<Duration>,
}

impl Blocking {
    /// The keys it waits on, in the order it tries them.
    pub fn keys<'a>(&self, args: &'a [Bytes]) -> &'a [Bytes] {
        &args[self.keys.clone()]
    }
}

/// A timeout in seconds as Redis 7.0 reads it: a float, fractions allowed,
/// rounded up to a millisecond; 0 waits forever.
///
/// # Errors
/// `ERR timeout is not a float or out of range`, `ERR timeout is negative`
/// (also for one too large to count in milliseconds, as Redis says).
pub fn parse_timeout(b: &[u8]) -> Result<Option<Duration>, &'static str> {
    const NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
    let s = std::str::from_utf8(b).map_err(|_| NOT_FLOAT)?;
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_whitespace()) {
        return Err(NOT_FLOAT);
    }
    // Whole seconds exactly (Redis reads them as a `long double`, which
    // holds every 64-bit integer; an f64 does not).
    if let Some(secs) = super::parse_i64(b) {
        return match secs.checked_mul(1000) {
            Some(ms) if ms >= 0 => Ok((ms > 0).then(|| Duration::from_millis(ms as u64))),
            _ => Err("ERR timeout is negative"),
        };
    }
    let secs: f64 = s.parse().map_err(|_| NOT_FLOAT)?;
    if secs.is_nan() {
        return Err(NOT_FLOAT);
    }
    let ms = (secs * 1000.0).ceil();
    // 2^63 milliseconds and more do not fit Redis's `long long`.
    if !(0.0..9_223_372_036_854_775_808.0).contains(&ms) {
        return Err("ERR timeout is negative");
    }
    Ok((ms > 0.0).then(|| Duration::from_millis(ms as u64)))
}

/// Parses a blocking command (arity checked).
///
/// # Errors
/// The error line Redis 7.0 replies with.
pub fn parse(spec: &Spec, args: &[Bytes]) -> Result<Blocking, &'static str> {
    let last = args.len() - 1;
    let keys_then_timeout = |op| {
        Ok(Blocking {
            op,
            keys: 1..last,
            timeout: parse_timeout(&args[last])?,
        })
    };
    match spec.name {
        "blpop" => keys_then_timeout(Op::Pop(ListEnd::Left)),
        "brpop" => keys_then_timeout(Op::Pop(ListEnd::Right)),
        "bzpopmin" => keys_then_timeout(Op::ZPop(ZEnd::Min)),
        "bzpopmax" => keys_then_timeout(Op::ZPop(ZEnd::Max)),
        "brpoplpush" | "blmove" => {
            let (from, to) = match spec.name {
                "blmove" => match (parse_end(&args[3]), parse_end(&args[4])) {
                    (Some(f), Some(t)) => (f, t),
                    _ => return Err(errors::SYNTAX),
                },
                _ => (ListEnd::Right, ListEnd::Left),
            };
            Ok(Blocking {
                op: Op::Move { from, to },
                keys: 1..2,
                timeout: parse_timeout(&args[last])?,
            })
        }
        "blmpop" => {
            let m = parse_mpop(args, 2, parse_end)?;
            Ok(Blocking {
                op: Op::MPop {
                    end: m.end,
                    count: m.count,
                },
                keys: m.keys,
                timeout: parse_timeout(&args[1])?,
            })
        }
        "bzmpop" => {
            let m = parse_mpop(args, 2, ZEnd::parse)?;
            Ok(Blocking {
                op: Op::ZMPop {
                    end: m.end,
                    count: m.count,
                },
                keys: m.keys,
                timeout: parse_timeout(&args[1])?,
            })
        }
        other => unreachable!("{other} is not a blocking command"),
    }
}

/// Tries the keys in order: true when one served the command (or a key of
/// another type ended it with `WRONGTYPE`), its reply written; false, with
/// nothing written, when none holds anything to pop.
pub fn attempt<'a>(
    b: &Blocking,
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) -> bool {
    for at in b.keys.clone() {
        match serve_at(b, args, at, ctx, out, fx) {
            Ok(false) => {}
            Ok(true) => return true,
            Err(e) => {
                e.reply(out);
                return true;
            }
        }
    }
    false
}

/// Serves a waiting command from `key`, one of its keys that a write
/// touched: true when `key` held something to pop and the reply is written
/// (a destination of another type for BLMOVE replies `WRONGTYPE`); false,
/// with nothing written, when it holds nothing of the type waited for.
pub fn serve_key<'a>(
    b: &Blocking,
    args: &'a [Bytes],
    key: &[u8],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) -> bool {
    match b.keys.clone().find(|&at| args[at] == key) {
        Some(at) => serve_at(b, args, at, ctx, out, fx) == Ok(true),
        None => false,
    }
}

/// The reply of a blocking command that timed out.
pub fn timed_out(out: &mut Vec<u8>) {
    null_array(out);
}

/// One pop from the key at `args[at]`.
fn serve_at<'a>(
    b: &Blocking,
    args: &'a [Bytes],
    at: usize,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) -> Result<bool, WrongType> {
    let key = &args[at];
    match b.op {
        Op::Pop(end) => pop_from(key, end, Shape::KeyElem, ctx, out, fx),
        Op::MPop { end, count } => pop_from(key, end, Shape::KeyElems(count), ctx, out, fx),
        Op::Move { from, to } => move_from(&args[1], &args[2], from, to, ctx, out, fx),
        Op::ZPop(end) | Op::ZMPop { end, .. } => {
            let Some(z) = ctx.zset(key, fx)? else {
                return Ok(false);
            };
            let count = match b.op {
                Op::ZMPop { count, .. } => count,
                _ => 1,
            };
            let taken = zpop(key, z, end, count, fx);
            out.array(if matches!(b.op, Op::ZPop(_)) { 3 } else { 2 });
            out.bulk(key);
            if matches!(b.op, Op::ZMPop { .. }) {
                out.array(taken.len());
            }
            for (member, score) in &taken {
                if matches!(b.op, Op::ZMPop { .. }) {
                    out.array(2);
                }
                out.bulk(member);
                out.bulk(floats::fmt_double(*score).as_bytes());
            }
            Ok(true)
        }
    }
}

/// The table's function: the command where it may not block (inside
/// MULTI, as Redis): it pops if it can, else replies with a null array.
fn run_without_blocking<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let spec = super::lookup(&args[0]).expect("a blocking command's row");
    match parse(spec, args) {
        Ok(b) if attempt(&b, args, ctx, out, fx) => {}
        Ok(_) => timed_out(out),
        Err(e) => out.error(e),
    }
}
