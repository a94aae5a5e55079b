//! String commands: GET, SET and its options, INCR and friends, APPEND, MGET, MSET.

use super::{errors, parse_i64, wrong_args, Ctx};
use crate::resp::reply::Reply;
use crate::store::{Blob, Effect};
use bytes::Bytes;

/// Largest string a command may build (Redis's `proto-max-bulk-len` default);
/// the WAL record limit, checked when the effects are logged, is smaller.
pub const MAX_STRING_BYTES: usize = 512 << 20;

pub(super) fn get<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    match ctx.live(&args[1], fx) {
        Some(item) => out.bulk(item.value()),
        None => out.nil(),
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
            let Some(n) = parse_i64(&args[i + 1]) else {
                return out.error(errors::NOT_INTEGER);
            };
            let ms = if is("EX") || is("EXAT") {
                n.checked_mul(1000)
            } else {
                Some(n)
            };
            let invalid = "ERR invalid expire time in 'set' command";
            let Some(ms) = ms.filter(|_| n > 0) else {
                return out.error(invalid);
            };
            expiry = if is("EX") || is("PX") {
                Expiry::InMs(ms)
            } else {
                Expiry::AtMs(ms)
            };
            expiry_given = true;
            i += 1;
        } else {
            return out.error(errors::SYNTAX);
        }
        i += 1;
    }
    let key = &args[1][..];
    let cur = ctx.live(key, fx);
    let reply_old = |out: &mut Vec<u8>| match cur {
        Some(item) => out.bulk(item.value()),
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
        if ctx.keyspace.get(key).is_some() {
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
    match ctx.live(&args[1], fx) {
        Some(item) => out.bulk(item.value()),
        None => out.nil(),
    }
    fx.push(set_effect(&args[1], Blob::borrowed(&args[2]), None));
}

pub(super) fn getdel<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    match ctx.live(&args[1], fx) {
        Some(item) => {
            out.bulk(item.value());
            fx.push(Effect::Del {
                keys: vec![Blob::borrowed(&args[1])],
            });
        }
        None => out.nil(),
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
    let old = match cur {
        Some(item) => match parse_i64(item.value()) {
            Some(v) => v,
            None => return out.error(errors::NOT_INTEGER),
        },
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
    let cur = ctx.live(&args[1], fx);
    let old = cur.map_or(&[][..], |c| c.value());
    if old.len() + args[2].len() > MAX_STRING_BYTES {
        return out.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    let mut value = Vec::with_capacity(old.len() + args[2].len());
    value.extend_from_slice(old);
    value.extend_from_slice(&args[2]);
    let len = value.len() as i64;
    fx.push(set_effect(
        &args[1],
        Blob::owned(value),
        cur.and_then(|c| c.expire_at_unix_ms()),
    ));
    out.int(len);
}

pub(super) fn strlen<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    out.int(ctx.live(&args[1], fx).map_or(0, |i| i.value().len() as i64));
}

pub(super) fn mget<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    out.array(args.len() - 1);
    for key in &args[1..] {
        match ctx.live(key, fx) {
            Some(item) => out.bulk(item.value()),
            None => out.nil(),
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
