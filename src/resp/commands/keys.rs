//! Key commands: DEL, EXISTS, expiry (EXPIRE…, TTL, PERSIST), TYPE, KEYS, SCAN,
//! FLUSHDB/FLUSHALL.

use super::{errors, parse_i64, Cmd, Ctx, Spec};
use crate::resp::glob::Pattern;
use crate::resp::reply::Reply;
use crate::store::keyspace::SHARDS;
use crate::store::{Blob, Effect};
use bytes::Bytes;
use std::collections::HashSet;

pub(super) fn del<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let mut seen: HashSet<&[u8]> = HashSet::new();
    let mut keys = Vec::new();
    let mut live = 0;
    for key in &args[1..] {
        if !seen.insert(&key[..]) {
            continue;
        }
        if let Some(item) = ctx.keyspace.get(key) {
            if !item.is_expired(ctx.now_unix_ms) {
                live += 1;
            }
            keys.push(Blob::borrowed(&key[..]));
        }
    }
    if !keys.is_empty() {
        fx.push(Effect::Del { keys });
    }
    out.int(live);
}

pub(super) fn exists<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let n = args[1..]
        .iter()
        .filter(|k| ctx.live(k, fx).is_some())
        .count();
    out.int(n as i64);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum When {
    Always,
    NoExpiry,
    HasExpiry,
    Greater,
    Less,
}

/// `EXPIRE|PEXPIRE|EXPIREAT|PEXPIREAT key time [NX|XX|GT|LT]`
pub(super) fn expire<'a>(
    spec: &Spec,
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let Some(n) = parse_i64(&args[2]) else {
        return out.error(errors::NOT_INTEGER);
    };
    let mut when = When::Always;
    for opt in &args[3..] {
        let new = match opt.to_ascii_uppercase().as_slice() {
            b"NX" => When::NoExpiry,
            b"XX" => When::HasExpiry,
            b"GT" => When::Greater,
            b"LT" => When::Less,
            _ => {
                return out.error(&format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(opt)
                ))
            }
        };
        if when != When::Always && when != new {
            return out.error(
                if matches!(
                    (when, new),
                    (When::Greater, When::Less) | (When::Less, When::Greater)
                ) {
                    "ERR GT and LT options at the same time are not compatible"
                } else {
                    "ERR NX and XX, GT or LT options at the same time are not compatible"
                },
            );
        }
        when = new;
    }
    let now = ctx.now_unix_ms as i64;
    let at = match spec.cmd {
        Cmd::Expire => n.checked_mul(1000).and_then(|ms| ms.checked_add(now)),
        Cmd::PExpire => n.checked_add(now),
        Cmd::ExpireAt => n.checked_mul(1000),
        _ => Some(n),
    };
    let Some(at) = at else {
        return out.error(&format!(
            "ERR invalid expire time in '{}' command",
            spec.name
        ));
    };
    let Some(item) = ctx.live(&args[1], fx) else {
        return out.int(0);
    };
    let cur = item.expire_at_unix_ms().map(|t| t as i64);
    let allowed = match when {
        When::Always => true,
        When::NoExpiry => cur.is_none(),
        When::HasExpiry => cur.is_some(),
        When::Greater => cur.is_some_and(|c| at > c),
        When::Less => cur.is_none_or(|c| at < c),
    };
    if !allowed {
        return out.int(0);
    }
    let key = Blob::borrowed(&args[1][..]);
    if at <= now {
        fx.push(Effect::Del { keys: vec![key] });
    } else {
        fx.push(Effect::Expire {
            key,
            at_unix_ms: at as u64,
        });
    }
    out.int(1);
}

/// TTL (`unit_ms` 1000) and PTTL (`unit_ms` 1).
pub(super) fn ttl<'a>(
    args: &'a [Bytes],
    unit_ms: u64,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    match ctx.live(&args[1], fx) {
        None => out.int(-2),
        Some(item) => match item.expire_at_unix_ms() {
            None => out.int(-1),
            Some(at) => {
                let left = at.saturating_sub(ctx.now_unix_ms);
                out.int(((left + unit_ms / 2) / unit_ms) as i64)
            }
        },
    }
}

pub(super) fn persist<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    match ctx.live(&args[1], fx) {
        Some(item) if item.expire_at_unix_ms().is_some() => {
            fx.push(Effect::Persist {
                key: Blob::borrowed(&args[1][..]),
            });
            out.int(1);
        }
        _ => out.int(0),
    }
}

pub(super) fn type_of<'a>(
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    if ctx.live(&args[1], fx).is_some() {
        out.simple("string")
    } else {
        out.simple("none")
    }
}

pub(super) fn keys(args: &[Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let pat = Pattern::new(&args[1]);
    let found: Vec<&[u8]> = ctx
        .keyspace
        .iter()
        .filter(|i| !i.is_expired(ctx.now_unix_ms) && pat.matches(i.key()))
        .map(|i| i.key())
        .collect();
    out.array(found.len());
    for k in found {
        out.bulk(k);
    }
}

/// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE t]`. The cursor is the next shard
/// to visit; each call visits whole shards until it has looked at COUNT items, so
/// every key present for the whole scan is returned (exactly once).
pub(super) fn scan(args: &[Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let Some(cursor) = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return out.error("ERR invalid cursor");
    };
    let mut pattern = None;
    let mut count = 10usize;
    let mut type_ok = true;
    let mut i = 2;
    while i < args.len() {
        if i + 1 >= args.len() {
            return out.error(errors::SYNTAX);
        }
        let opt = args[i].to_ascii_uppercase();
        match opt.as_slice() {
            b"MATCH" => pattern = Some(Pattern::new(&args[i + 1])),
            b"COUNT" => match parse_i64(&args[i + 1]) {
                Some(n) if n >= 1 => count = n as usize,
                Some(_) => return out.error(errors::SYNTAX),
                None => return out.error(errors::NOT_INTEGER),
            },
            b"TYPE" => type_ok = args[i + 1].eq_ignore_ascii_case(b"string"),
            _ => return out.error(errors::SYNTAX),
        }
        i += 2;
    }
    let mut shard = cursor.min(SHARDS as u64) as usize;
    let mut visited = 0;
    let mut found: Vec<&[u8]> = Vec::new();
    while shard < SHARDS && visited < count {
        for item in ctx.keyspace.shard_items(shard) {
            visited += 1;
            if type_ok
                && !item.is_expired(ctx.now_unix_ms)
                && pattern.as_ref().is_none_or(|p| p.matches(item.key()))
            {
                found.push(item.key());
            }
        }
        shard += 1;
    }
    let next = if shard >= SHARDS { 0 } else { shard };
    out.array(2);
    out.bulk(itoa::Buffer::new().format(next).as_bytes());
    out.array(found.len());
    for k in found {
        out.bulk(k);
    }
}

pub(super) fn flush<'a>(args: &'a [Bytes], out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    match args.get(1).map(|a| a.to_ascii_uppercase()) {
        None => {}
        Some(a) if a == b"ASYNC" || a == b"SYNC" => {}
        Some(_) => return out.error(errors::SYNTAX),
    }
    if args.len() > 2 {
        return out.error(errors::SYNTAX);
    }
    fx.push(Effect::FlushAll);
    out.ok();
}
