//! More string commands: SETEX, PSETEX, GETEX, MSETNX, INCRBYFLOAT, and the
//! ranges (GETRANGE, SUBSTR, SETRANGE).

use super::long_double::LongDouble;
use super::strings::MAX_STRING_BYTES;
use super::{errors, keyspace_commands, parse_i64, wrong_args, Ctx, Spec};
use crate::resp::reply::Reply;
use crate::store::{Blob, Effect};
use bytes::Bytes;

pub(super) static TABLE: &[Spec] = keyspace_commands! {
    "setex" 4 Grow => |a, c, o, f| setex("setex", 1000, a, c, o, f),
    "psetex" 4 Grow => |a, c, o, f| setex("psetex", 1, a, c, o, f),
    "getex" -2 Write => getex,
    "msetnx" -3 Grow => msetnx,
    "incrbyfloat" 3 Grow => incr_by_float,
    "getrange" 4 Read => getrange,
    "substr" 4 Read => getrange,
    "setrange" 4 Grow => setrange,
};

const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/// `SETEX key seconds value` (`unit_ms` 1000) and `PSETEX key ms value` (1).
fn setex<'a>(
    name: &str,
    unit_ms: i64,
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let Some(n) = parse_i64(&args[2]) else {
        return out.error(errors::NOT_INTEGER);
    };
    let at = n
        .checked_mul(unit_ms)
        .and_then(|ms| ms.checked_add(ctx.now_unix_ms as i64))
        .filter(|_| n > 0);
    let Some(at) = at else {
        return out.error(&format!("ERR invalid expire time in '{name}' command"));
    };
    fx.push(Effect::Set {
        key: Blob::borrowed(&args[1]),
        value: Blob::borrowed(&args[3]),
        expire_at_unix_ms: Some(at as u64),
    });
    out.ok();
}

/// What GETEX does to the expiry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GetexTtl {
    Unchanged,
    Persist,
    /// Absolute, Unix ms (may be in the past: the key is deleted).
    At(i64),
}

/// `GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]`
fn getex<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    // As Redis 7.0: the options' syntax, then the key, then the time.
    let mut persist = false;
    let mut timed: Option<(Vec<u8>, &[u8])> = None;
    let mut i = 2;
    while i < args.len() {
        let opt = args[i].to_ascii_uppercase();
        let is_timed = matches!(opt.as_slice(), b"EX" | b"PX" | b"EXAT" | b"PXAT");
        if opt == b"PERSIST" && !persist && timed.is_none() {
            persist = true;
        } else if is_timed && !persist && timed.is_none() && i + 1 < args.len() {
            timed = Some((opt, &args[i + 1][..]));
            i += 1;
        } else {
            return out.error(errors::SYNTAX);
        }
        i += 1;
    }
    let key = &args[1][..];
    let item = ctx.live(key, fx);
    let value = match item.map(|i| i.as_str()) {
        None => return out.nil(),
        Some(None) => return out.error(errors::WRONGTYPE),
        Some(Some(v)) => v,
    };
    let ttl = match timed {
        None if persist => GetexTtl::Persist,
        None => GetexTtl::Unchanged,
        Some((opt, value)) => {
            let Some(n) = parse_i64(value) else {
                return out.error(errors::NOT_INTEGER);
            };
            let ms = match opt.as_slice() {
                b"EX" | b"EXAT" => n.checked_mul(1000),
                _ => Some(n),
            };
            let at = match opt.as_slice() {
                b"EX" | b"PX" => ms.and_then(|ms| ms.checked_add(ctx.now_unix_ms as i64)),
                _ => ms,
            };
            let Some(at) = at.filter(|_| n > 0) else {
                return out.error("ERR invalid expire time in 'getex' command");
            };
            GetexTtl::At(at)
        }
    };
    out.bulk(value);
    let had_expiry = item.and_then(|i| i.expire_at_unix_ms()).is_some();
    match ttl {
        GetexTtl::Unchanged => {}
        GetexTtl::Persist if had_expiry => fx.push(Effect::Persist {
            key: Blob::borrowed(key),
        }),
        GetexTtl::Persist => {}
        GetexTtl::At(at) if at <= ctx.now_unix_ms as i64 => fx.push(Effect::Del {
            keys: vec![Blob::borrowed(key)],
        }),
        GetexTtl::At(at) => fx.push(Effect::Expire {
            key: Blob::borrowed(key),
            at_unix_ms: at as u64,
        }),
    }
}

/// `MSETNX key value [key value …]`: all or none.
fn msetnx<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    if args.len() % 2 != 1 {
        return out.error(&wrong_args("msetnx"));
    }
    let mut expired = Vec::new();
    let any_live = args[1..]
        .chunks_exact(2)
        .any(|pair| ctx.live(&pair[0], &mut expired).is_some());
    fx.append(&mut expired);
    if any_live {
        return out.int(0);
    }
    for pair in args[1..].chunks_exact(2) {
        fx.push(Effect::Set {
            key: Blob::borrowed(&pair[0]),
            value: Blob::borrowed(&pair[1]),
            expire_at_unix_ms: None,
        });
    }
    out.int(1);
}

/// `INCRBYFLOAT key increment`: logged as the resulting value, expiry kept.
fn incr_by_float<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let item = ctx.live(&args[1], fx);
    let old = match item.map(|i| i.as_str()) {
        None => LongDouble::ZERO,
        Some(None) => return out.error(errors::WRONGTYPE),
        Some(Some(v)) => match LongDouble::parse(v) {
            Some(v) => v,
            None => return out.error(errors::NOT_FLOAT),
        },
    };
    let Some(by) = LongDouble::parse(&args[2]) else {
        return out.error(errors::NOT_FLOAT);
    };
    // Added in `long double`, as Redis adds: the text logged is Redis's.
    let new = match old.add(&by) {
        Some(v) if !v.is_infinite() => v,
        _ => return out.error("ERR increment would produce NaN or Infinity"),
    };
    let text = new.to_human().into_bytes();
    out.bulk(&text);
    fx.push(Effect::Set {
        key: Blob::borrowed(&args[1]),
        value: Blob::owned(text),
        expire_at_unix_ms: item.and_then(|i| i.expire_at_unix_ms()),
    });
}

/// The byte range `[start, end]` of a `len`-byte string that GETRANGE's
/// (or BITCOUNT's) indexes name, negative ones counting from the end;
/// `None` when it is empty.
pub(super) fn clamp_range(start: i64, end: i64, len: i64) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let fix = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (start, end) = (fix(start), fix(end).min(len - 1));
    (start <= end && len > 0).then_some((start as usize, end as usize))
}

/// `GETRANGE key start end` (and `SUBSTR`).
fn getrange<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let (Some(start), Some(end)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return out.error(errors::NOT_INTEGER);
    };
    let v = match ctx.live_str(&args[1], fx) {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => return e.reply(out),
    };
    match clamp_range(start, end, v.len() as i64) {
        Some((s, e)) => out.bulk(&v[s..=e]),
        None => out.bulk(b""),
    }
}

/// `SETRANGE key offset value`: logged as the bytes written, never the
/// whole value.
fn setrange<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let Some(offset) = parse_i64(&args[2]) else {
        return out.error(errors::NOT_INTEGER);
    };
    if offset < 0 {
        return out.error("ERR offset is out of range");
    }
    let old_len = match ctx.live_str(&args[1], fx) {
        Ok(v) => v.map_or(0, <[u8]>::len),
        Err(e) => return e.reply(out),
    };
    let value = &args[3];
    if value.is_empty() {
        return out.int(old_len as i64);
    }
    let offset = offset as u64;
    let end = offset.saturating_add(value.len() as u64);
    if end > MAX_STRING_BYTES as u64 {
        return out.error(TOO_BIG);
    }
    fx.push(Effect::SetRange {
        key: Blob::borrowed(&args[1]),
        offset,
        value: Blob::borrowed(value),
    });
    out.int(end.max(old_len as u64) as i64);
}
