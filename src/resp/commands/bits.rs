//! Bit commands on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP.
//!
//! Bits are numbered from the most significant bit of the first byte, as in
//! Redis. SETBIT is logged as the one byte it changes (`SetRange`).

use super::strings::MAX_STRING_BYTES;
use super::{errors, keyspace_commands, parse_i64, Ctx, Spec};
use crate::resp::reply::Reply;
use crate::store::{Blob, Effect};
use bytes::Bytes;

pub(super) static TABLE: &[Spec] = keyspace_commands! {
    "setbit" 4 Grow => setbit,
    "getbit" 3 Read => getbit,
    "bitcount" -2 Read => bitcount,
    "bitpos" -3 Read => bitpos,
    "bitop" -4 Grow => bitop,
};

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_BIT: &str = "ERR bit is not an integer or out of range";

/// A bit offset argument: at least 0, inside the largest string.
fn bit_offset(b: &[u8]) -> Option<u64> {
    parse_i64(b)
        .filter(|&n| n >= 0 && ((n as u64) >> 3) < MAX_STRING_BYTES as u64)
        .map(|n| n as u64)
}

fn bit_at(v: &[u8], bit: u64) -> u8 {
    v.get((bit >> 3) as usize)
        .map_or(0, |byte| (byte >> (7 - (bit & 7))) & 1)
}

/// `SETBIT key offset 0|1`: replies with the bit's old value.
fn setbit<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let Some(offset) = bit_offset(&args[2]) else {
        return out.error(BAD_OFFSET);
    };
    let on = match parse_i64(&args[3]) {
        Some(b @ (0 | 1)) => b as u8,
        _ => return out.error(BAD_BIT),
    };
    let v = match ctx.live_str(&args[1], fx) {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => return e.reply(out),
    };
    let old = bit_at(v, offset);
    let at = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let byte = v.get(at).copied().unwrap_or(0);
    let byte = if on == 1 { byte | mask } else { byte & !mask };
    // Logged even when the bit does not change: the string may grow.
    fx.push(Effect::SetRange {
        key: Blob::borrowed(&args[1]),
        offset: at as u64,
        value: Blob::owned(vec![byte]),
    });
    out.int(i64::from(old));
}

/// `GETBIT key offset`
fn getbit<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let Some(offset) = bit_offset(&args[2]) else {
        return out.error(BAD_OFFSET);
    };
    match ctx.live_str(&args[1], fx) {
        Ok(v) => out.int(i64::from(bit_at(v.unwrap_or_default(), offset))),
        Err(e) => e.reply(out),
    }
}

/// Whether a range counts bytes or bits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeUnit {
    Byte,
    Bit,
}

fn range_unit(b: &[u8]) -> Option<RangeUnit> {
    if b.eq_ignore_ascii_case(b"byte") {
        Some(RangeUnit::Byte)
    } else if b.eq_ignore_ascii_case(b"bit") {
        Some(RangeUnit::Bit)
    } else {
        None
    }
}

/// The bits `[first, last]` of a `len`-byte string that a `start end`
/// range names in `unit`, negative indexes from the end; `None` when empty.
fn bit_range(start: i64, end: i64, len: usize, unit: RangeUnit) -> Option<(u64, u64)> {
    let total = match unit {
        RangeUnit::Byte => len as i64,
        RangeUnit::Bit => len as i64 * 8,
    };
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let fix = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (fix(start), fix(end).min(total - 1));
    if start > end || total == 0 {
        return None;
    }
    Some(match unit {
        RangeUnit::Byte => (start as u64 * 8, end as u64 * 8 + 7),
        RangeUnit::Bit => (start as u64, end as u64),
    })
}

/// Set bits of `v` in bits `[first, last]`.
fn count_ones(v: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    let mut n: u64 = v[fb..=lb].iter().map(|b| u64::from(b.count_ones())).sum();
    // Take off the bits of the edge bytes outside the range.
    let head = v[fb] & !(0xffu8 >> (first & 7));
    let tail = v[lb] & (0xffu8.checked_shr(1 + (last & 7) as u32).unwrap_or(0));
    n -= u64::from(head.count_ones()) + u64::from(tail.count_ones());
    n
}

/// `BITCOUNT key [start end [BYTE|BIT]]`
fn bitcount<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    // The key first, as Redis 7.0 looks it up: a missing key counts 0
    // whatever the arguments after it.
    let v = match ctx.live_str(&args[1], fx) {
        Ok(Some(v)) => v,
        Ok(None) => return out.int(0),
        Err(e) => return e.reply(out),
    };
    let (s, e, unit) = match args.len() {
        2 => (0, -1, RangeUnit::Byte),
        4 | 5 => {
            let (Some(s), Some(e)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
                return out.error(errors::NOT_INTEGER);
            };
            let unit = match args.get(4) {
                None => RangeUnit::Byte,
                Some(u) => match range_unit(u) {
                    Some(u) => u,
                    None => return out.error(errors::SYNTAX),
                },
            };
            (s, e, unit)
        }
        _ => return out.error(errors::SYNTAX),
    };
    match bit_range(s, e, v.len(), unit) {
        Some((first, last)) => out.int(count_ones(v, first, last) as i64),
        None => out.int(0),
    }
}

/// `BITPOS key 0|1 [start [end [BYTE|BIT]]]`
fn bitpos<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let Some(bit) = parse_i64(&args[2]) else {
        return out.error(errors::NOT_INTEGER);
    };
    if bit != 0 && bit != 1 {
        return out.error("ERR The bit argument must be 1 or 0.");
    }
    let v = match ctx.live_str(&args[1], fx) {
        Ok(Some(v)) => v,
        Ok(None) => return out.int(if bit == 1 { -1 } else { 0 }),
        Err(e) => return e.reply(out),
    };
    if args.len() > 6 {
        return out.error(errors::SYNTAX);
    }
    let mut start = 0;
    let mut end = -1;
    let end_given = args.len() >= 5;
    if args.len() >= 4 {
        let Some(s) = parse_i64(&args[3]) else {
            return out.error(errors::NOT_INTEGER);
        };
        start = s;
    }
    let unit = match args.get(5) {
        None => RangeUnit::Byte,
        Some(u) => match range_unit(u) {
            Some(u) => u,
            None => return out.error(errors::SYNTAX),
        },
    };
    if end_given {
        let Some(e) = parse_i64(&args[4]) else {
            return out.error(errors::NOT_INTEGER);
        };
        end = e;
    }
    let Some((first, last)) = bit_range(start, end, v.len(), unit) else {
        return out.int(-1);
    };
    let want = bit as u8;
    match (first..=last).find(|&b| bit_at(v, b) == want) {
        Some(pos) => out.int(pos as i64),
        // Past the end of the string, bits read as 0: the first clear bit
        // is right after it, unless the range was given an end.
        None if want == 0 && !end_given => out.int(((last >> 3) + 1) as i64 * 8),
        None => out.int(-1),
    }
}

/// `BITOP AND|OR|XOR|NOT destkey key [key …]`: the destination is replaced
/// with the result (its expiry dropped), or deleted when the result is
/// empty; replies with its length.
fn bitop<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let op = args[1].to_ascii_uppercase();
    if !matches!(op.as_slice(), b"AND" | b"OR" | b"XOR" | b"NOT") {
        return out.error(errors::SYNTAX);
    }
    if op == b"NOT" && args.len() != 4 {
        return out.error("ERR BITOP NOT must be called with a single source key.");
    }
    let mut srcs: Vec<&[u8]> = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        match ctx.live_str(key, fx) {
            Ok(v) => srcs.push(v.unwrap_or_default()),
            Err(e) => return e.reply(out),
        }
    }
    let len = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let byte = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let result: Vec<u8> = (0..len)
        .map(|i| {
            let mut it = srcs.iter().map(|s| byte(s, i));
            let first = it.next().unwrap_or(0);
            match op.as_slice() {
                b"AND" => it.fold(first, |a, b| a & b),
                b"OR" => it.fold(first, |a, b| a | b),
                b"XOR" => it.fold(first, |a, b| a ^ b),
                _ => !first,
            }
        })
        .collect();
    let dest = &args[2][..];
    if result.is_empty() {
        if ctx.keyspace().get(dest).is_some() {
            fx.push(Effect::Del {
                keys: vec![Blob::borrowed(dest)],
            });
        }
    } else {
        fx.push(Effect::Set {
            key: Blob::borrowed(dest),
            value: Blob::owned(result),
            expire_at_unix_ms: None,
        });
    }
    out.int(len as i64);
}
