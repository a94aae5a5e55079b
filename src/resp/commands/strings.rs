//! String commands: GET, SET and its options, INCR and friends, APPEND, MGET, MSET.

use super::{errors, keyspace_commands, parse_i64, wrong_args, Ctx, Spec};
use crate::resp::reply::Reply;
use crate::store::{Blob, Effect};
use bytes::Bytes;

/// Largest string a command may build (Redis's `proto-max-bulk-len` default;
/// replay refuses a longer one); the WAL record limit, checked when the
/// effects are logged, is smaller.
pub const MAX_STRING_BYTES: usize = crate::store::effect::MAX_STRING_BYTES as usize;

/// String commands. `GET` and `SET` first: the lookup tries them before
/// hashing a name.
pub(super) static TABLE: &[Spec] = keyspace_commands! {
    "get" 2 Read => get,
    "set" -3 Grow => set,
    "incr" 2 Grow => |a, c, o, f| incr_by(a, 1, c, o, f),
    "decr" 2 Grow => |a, c, o, f| incr_by(a, -1, c, o, f),
    "incrby" 3 Grow => |a, c, o, f| match parse_i64(&a[2]) {
        Some(n) => incr_by(a, n, c, o, f),
        None => o.error(errors::NOT_INTEGER),
    },
    "decrby" 3 Grow => |a, c, o, f| match parse_i64(&a[2]).map(i64::checked_neg) {
        Some(Some(n)) => incr_by(a, n, c, o, f),
        Some(None) => o.error("ERR decrement would overflow"),
        None => o.error(errors::NOT_INTEGER),
    },
    "mget" -2 Read => mget,
    "mset" -3 Grow => |a, _, o, f| mset(a, o, f),
    "setnx" 3 Grow => setnx,
    "getset" 3 Grow => getset,
    "getdel" 2 Write => getdel,
    "append" 3 Grow => append,
    "strlen" 2 Read => strlen,
};

pub(super) fn get<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    match ctx.live_str(&args[1], fx) {
        Ok(Some(v)) => out.bulk(v),
        Ok(None) => out.nil(),
        Err(e) => e.reply(out),
    }
}

fn set_effect<'a>(key: &'a [u8], value: Blob<'a>, expire_at_unix_ms: Option<u64>) -> Effect<'a> {
    Effect::Set {
        key: Blob::borrowed(key),
        value,
        expire_at_unix_ms,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Condition {
    Always,
    IfMissing,
    IfExists,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// Clear any expiry.
    None,
    /// Keep the key's current expiry.
    Keep,
    /// Relative, milliseconds from now.
    InMs(i64),
    /// Absolute, Unix milliseconds.
    AtMs(i64),
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`
pub(super) fn set<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let mut cond = Condition::Always;
    let mut expiry = Expiry::None;
    let mut expiry_given = false;
    let mut get = false;
    // EX|PX|EXAT|PXAT's option and value, checked once every option is read
    // (as Redis does: a syntax error comes before a bad time).
    let mut timed: Option<(&[u8], &[u8])> = None;
    let mut i = 3;
    while i < args.len() {
        let opt = &args[i][..];
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        if is("NX") && cond != Condition::IfExists {
            cond = Condition::IfMissing;
        } else if is("XX") && cond != Condition::IfMissing {
            cond = Condition::IfExists;
        } else if is("GET") {
            get = true;
        } else if is("KEEPTTL") && !expiry_given {
            expiry = Expiry::Keep;
            expiry_given = true;
        } else if (is("EX") || is("PX") || is("EXAT") || is("PXAT"))
            && !expiry_given
            && i + 1 < args.len()
        {
            timed = Some((opt, &args[i + 1][..]));
            expiry_given = true;
            i += 1;
        } else {
            return out.error(errors::SYNTAX);
        }
        i += 1;
    }
    if let Some((opt, value)) = timed {
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        let Some(n) = parse_i64(value) else {
            return out.error(errors::NOT_INTEGER);
        };
        let ms = if is("EX") || is("EXAT") {
            n.checked_mul(1000)
        } else {
            Some(n)
        };
        let Some(ms) = ms.filter(|_| n > 0) else {
            return out.error("ERR invalid expire time in 'set' command");
        };
        expiry = if is("EX") || is("PX") {
            Expiry::InMs(ms)
        } else {
            Expiry::AtMs(ms)
        };
    }
    let key = &args[1][..];
    let cur = ctx.live(key, fx);
    let old = match cur.map(|i| i.as_str()) {
        Some(None) if get => return out.error(errors::WRONGTYPE),
        old => old.flatten(),
    };
    let reply_old = |out: &mut Vec<u8>| match old {
        Some(v) => out.bulk(v),
        None => out.nil(),
    };
    let blocked = match cond {
        Condition::Always => false,
        Condition::IfMissing => cur.is_some(),
        Condition::IfExists => cur.is_none(),
    };
    if blocked {
        return if get { reply_old(out) } else { out.nil() };
    }
    let expire_at = match expiry {
        Expiry::None => None,
        Expiry::Keep => cur.and_then(|c| c.expire_at_unix_ms()),
        Expiry::InMs(ms) => match (ctx.now_unix_ms as i64).checked_add(ms) {
            Some(at) => Some(at as u64),
            None => return out.error("ERR invalid expire time in 'set' command"),
        },
        Expiry::AtMs(at) => Some(at as u64),
    };
    if expire_at.is_some_and(|at| at <= ctx.now_unix_ms) {
        // Already expired: the key ends up absent.
        if ctx.keyspace().get(key).is_some() {
            fx.push(Effect::Del {
                keys: vec![Blob::borrowed(key)],
            });
        }
    } else {
        fx.push(set_effect(key, Blob::borrowed(&args[2]), expire_at));
    }
    if get {
        reply_old(out)
    } else {
        out.ok()
    }
}

pub(super) fn setnx<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    if ctx.live(&args[1], fx).is_some() {
        return out.int(0);
    }
    fx.push(set_effect(&args[1], Blob::borrowed(&args[2]), None));
    out.int(1);
}

pub(super) fn getset<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    match ctx.live_str(&args[1], fx) {
        Ok(Some(v)) => out.bulk(v),
        Ok(None) => out.nil(),
        Err(e) => return e.reply(out),
    }
    fx.push(set_effect(&args[1], Blob::borrowed(&args[2]), None));
}

pub(super) fn getdel<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    match ctx.live_str(&args[1], fx) {
        Ok(Some(v)) => {
            out.bulk(v);
            fx.push(Effect::Del {
                keys: vec![Blob::borrowed(&args[1])],
            });
        }
        Ok(None) => out.nil(),
        Err(e) => e.reply(out),
    }
}

pub(super) fn incr_by<'a>(
    args: &'a [Bytes],
    by: i64,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let cur = ctx.live(&args[1], fx);
    let old = match cur.map(|i| i.as_str()) {
        Some(Some(v)) => match parse_i64(v) {
            Some(v) => v,
            None => return out.error(errors::NOT_INTEGER),
        },
        Some(None) => return out.error(errors::WRONGTYPE),
        None => 0,
    };
    let Some(new) = old.checked_add(by) else {
        return out.error(errors::OVERFLOW);
    };
    let text = itoa::Buffer::new().format(new).as_bytes().to_vec();
    fx.push(set_effect(
        &args[1],
        Blob::owned(text),
        cur.and_then(|c| c.expire_at_unix_ms()),
    ));
    out.int(new);
}

pub(super) fn append<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let old = match ctx.live_str(&args[1], fx) {
        Ok(old) => old,
        Err(e) => return e.reply(out),
    };
    let Some(old) = old else {
        fx.push(set_effect(&args[1], Blob::borrowed(&args[2]), None));
        return out.int(args[2].len() as i64);
    };
    if old.len() + args[2].len() > MAX_STRING_BYTES {
        return out.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    // Logged as the bytes appended, not the whole new value.
    if !args[2].is_empty() {
        fx.push(Effect::SetRange {
            key: Blob::borrowed(&args[1]),
            offset: old.len() as u64,
            value: Blob::borrowed(&args[2]),
        });
    }
    out.int((old.len() + args[2].len()) as i64);
}

pub(super) fn strlen<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    match ctx.live_str(&args[1], fx) {
        Ok(v) => out.int(v.map_or(0, |v| v.len() as i64)),
        Err(e) => e.reply(out),
    }
}

pub(super) fn mget<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    out.array(args.len() - 1);
    for key in &args[1..] {
        match ctx.live_str(key, fx) {
            Ok(Some(v)) => out.bulk(v),
            _ => out.nil(),
        }
    }
}

pub(super) fn mset<'a>(args: &'a [Bytes], out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    if args.len() % 2 != 1 {
        return out.error(&wrong_args("mset"));
    }
    for pair in args[1..].chunks_exact(2) {
        fx.push(set_effect(&pair[0], Blob::borrowed(&pair[1]), None));
    }
    out.ok();
}
