//! Key commands: DEL, EXISTS, expiry (EXPIRE…, TTL, PERSIST), TYPE, KEYS, SCAN,
//! FLUSHDB/FLUSHALL.

use super::{errors, keyspace_commands, parse_i64, wrong_args, Ctx, Spec};
use crate::resp::glob::Pattern;
use crate::resp::reply::Reply;
use crate::store::keyspace::SHARDS;
use crate::store::{Blob, Effect, Kind};
use bytes::Bytes;
use std::collections::HashSet;

/// Key commands, and the keyspace-wide ones (`PING`, `ECHO`, `DEBUG`).
pub(super) static TABLE: &[Spec] = keyspace_commands! {
    "del" -2 Write => del,
    "unlink" -2 Write => del,
    "exists" -2 Read => exists,
    "expire" -3 Write => |a, c, o, f| expire("expire", Unit::RelativeSeconds, a, c, o, f),
    "pexpire" -3 Write => |a, c, o, f| expire("pexpire", Unit::RelativeMs, a, c, o, f),
    "expireat" -3 Write => |a, c, o, f| expire("expireat", Unit::AtSeconds, a, c, o, f),
    "pexpireat" -3 Write => |a, c, o, f| expire("pexpireat", Unit::AtMs, a, c, o, f),
    "ttl" 2 Read => |a, c, o, f| ttl(a, 1000, false, c, o, f),
    "pttl" 2 Read => |a, c, o, f| ttl(a, 1, false, c, o, f),
    "persist" 2 Write => persist,
    "type" 2 Read => type_of,
    "keys" 2 Read => |a, c, o, _| keys(a, c, o),
    "scan" -2 Read => |a, c, o, _| scan(a, c, o),
    "dbsize" 1 Read => |_, c, o, _| o.int(c.keyspace().len() as i64),
    "flushdb" -1 Write => |a, _, o, f| flush(a, Effect::FlushDb, o, f),
    "flushall" -1 Write => |a, _, o, f| flush(a, Effect::FlushAll, o, f),
    "ping" -1 Read => |a, _, o, _| match a.len() {
        1 => o.simple("PONG"),
        2 => o.bulk(&a[1]),
        _ => o.error(&wrong_args("ping")),
    },
    "echo" 2 Read => |a, _, o, _| o.bulk(&a[1]),
    "debug" -2 Read => |a, c, o, _| match a.len() {
        2 if a[1].eq_ignore_ascii_case(b"digest") => o.bulk(c.dbs.digest().as_bytes()),
        _ => o.error("ERR DEBUG supports only DIGEST"),
    },
};

/// How an expiry command's time argument counts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Unit {
    RelativeSeconds,
    RelativeMs,
    AtSeconds,
    AtMs,
}

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
        if let Some(item) = ctx.keyspace().get(key) {
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
    name: &str,
    unit: Unit,
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
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
    // The options are checked before the time, as Redis checks them.
    let Some(n) = parse_i64(&args[2]) else {
        return out.error(errors::NOT_INTEGER);
    };
    let now = ctx.now_unix_ms as i64;
    let at = match unit {
        Unit::RelativeSeconds => n.checked_mul(1000).and_then(|ms| ms.checked_add(now)),
        Unit::RelativeMs => n.checked_add(now),
        Unit::AtSeconds => n.checked_mul(1000),
        Unit::AtMs => Some(n),
    };
    let Some(at) = at else {
        return out.error(&format!("ERR invalid expire time in '{name}' command"));
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

/// TTL (`unit_ms` 1000) and PTTL (`unit_ms` 1): the time left; with
/// `absolute`, EXPIRETIME and PEXPIRETIME: the expiry itself.
pub(super) fn ttl<'a>(
    args: &'a [Bytes],
    unit_ms: u64,
    absolute: bool,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    match ctx.live(&args[1], fx) {
        None => out.int(-2),
        Some(item) => match item.expire_at_unix_ms() {
            None => out.int(-1),
            Some(at) => {
                let left = if absolute {
                    at
                } else {
                    at.saturating_sub(ctx.now_unix_ms)
                };
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
    match ctx.live(&args[1], fx) {
        Some(item) => out.simple(item.kind().name()),
        None => out.simple("none"),
    }
}

pub(super) fn keys(args: &[Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let pat = Pattern::new(&args[1]);
    let found: Vec<&[u8]> = ctx
        .keyspace()
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
    let mut kind: Option<Option<Kind>> = None;
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
            b"TYPE" => {
                let name = args[i + 1].to_ascii_lowercase();
                kind = Some(
                    [Kind::String, Kind::Hash, Kind::List, Kind::Set, Kind::ZSet]
                        .into_iter()
                        .find(|k| k.name().as_bytes() == name),
                );
            }
            _ => return out.error(errors::SYNTAX),
        }
        i += 2;
    }
    let mut shard = cursor.min(SHARDS as u64) as usize;
    let mut visited = 0;
    let mut found: Vec<&[u8]> = Vec::new();
    while shard < SHARDS && visited < count {
        for item in ctx.keyspace().shard_items(shard) {
            visited += 1;
            if kind.is_none_or(|k| k == Some(item.kind()))
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

/// `FLUSHDB` and `FLUSHALL`, logged as `effect`.
pub(super) fn flush<'a>(
    args: &'a [Bytes],
    effect: Effect<'a>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    match args.get(1).map(|a| a.to_ascii_uppercase()) {
        None => {}
        Some(a) if a == b"ASYNC" || a == b"SYNC" => {}
        Some(_) => return out.error(errors::SYNTAX),
    }
    if args.len() > 2 {
        return out.error(errors::SYNTAX);
    }
    fx.push(effect);
    out.ok();
}
