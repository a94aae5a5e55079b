//! Commands that give a value another name or database: RENAME, RENAMENX,
//! COPY, MOVE, SWAPDB.

use super::{errors, keyspace_commands, parse_i64, Ctx, Spec};
use crate::resp::reply::Reply;
use crate::store::{Blob, Effect, DATABASES};
use bytes::Bytes;

pub(super) static TABLE: &[Spec] = keyspace_commands! {
    "rename" 3 Write => |a, c, o, f| rename(false, a, c, o, f),
    "renamenx" 3 Write => |a, c, o, f| rename(true, a, c, o, f),
    "copy" -3 Grow => copy,
    "move" 3 Write => move_key,
    "swapdb" 3 Write => swapdb,
};

const SAME_OBJECT: &str = "ERR source and destination objects are the same";
const DB_RANGE: &str = "ERR DB index is out of range";

/// A database number argument: `Err` with the reply for a bad one.
fn db_index(b: &[u8], not_integer: &'static str) -> Result<usize, &'static str> {
    match parse_i64(b) {
        None => Err(not_integer),
        Some(n) if (0..DATABASES as i64).contains(&n) => Ok(n as usize),
        Some(_) => Err(DB_RANGE),
    }
}

/// `RENAME key newkey` and `RENAMENX key newkey` (`only_new`).
fn rename<'a>(
    only_new: bool,
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let (from, to) = (&args[1][..], &args[2][..]);
    if ctx.live(from, fx).is_none() {
        return out.error("ERR no such key");
    }
    let reply_done = |out: &mut Vec<u8>| if only_new { out.int(1) } else { out.ok() };
    if from == to {
        return if only_new { out.int(0) } else { out.ok() };
    }
    if only_new && ctx.live(to, fx).is_some() {
        return out.int(0);
    }
    fx.push(Effect::Rename {
        from: Blob::borrowed(from),
        to: Blob::borrowed(to),
    });
    reply_done(out);
}

/// `COPY source destination [DB n] [REPLACE]`
fn copy<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let mut to_db = ctx.db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        let opt = args[i].to_ascii_uppercase();
        if opt == b"REPLACE" {
            replace = true;
        } else if opt == b"DB" && i + 1 < args.len() {
            match db_index(&args[i + 1], errors::NOT_INTEGER) {
                Ok(db) => to_db = db,
                Err(e) => return out.error(e),
            }
            i += 1;
        } else {
            return out.error(errors::SYNTAX);
        }
        i += 1;
    }
    let (from, to) = (&args[1][..], &args[2][..]);
    if from == to && to_db == ctx.db {
        return out.error(SAME_OBJECT);
    }
    if ctx.live(from, fx).is_none() {
        return out.int(0);
    }
    let dest = ctx.dbs.db(to_db).get(to);
    if dest.is_some_and(|d| !d.is_expired(ctx.now_unix_ms)) && !replace {
        return out.int(0);
    }
    fx.push(Effect::Copy {
        from: Blob::borrowed(from),
        to: Blob::borrowed(to),
        to_db: to_db as u32,
    });
    out.int(1);
}

/// `MOVE key db`: moves the key with its expiry unless the other database
/// has a live key of that name.
fn move_key<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let to_db = match db_index(&args[2], errors::NOT_INTEGER) {
        Ok(db) => db,
        Err(e) => return out.error(e),
    };
    if to_db == ctx.db {
        return out.error(SAME_OBJECT);
    }
    let key = &args[1][..];
    if ctx.live(key, fx).is_none() {
        return out.int(0);
    }
    let there = ctx.dbs.db(to_db).get(key);
    if there.is_some_and(|d| !d.is_expired(ctx.now_unix_ms)) {
        return out.int(0);
    }
    fx.push(Effect::Move {
        key: Blob::borrowed(key),
        to_db: to_db as u32,
    });
    out.int(1);
}

/// `SWAPDB index1 index2`
fn swapdb<'a>(args: &'a [Bytes], _ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let a = match db_index(&args[1], "ERR invalid first DB index") {
        Ok(a) => a,
        Err(e) => return out.error(e),
    };
    let b = match db_index(&args[2], "ERR invalid second DB index") {
        Ok(b) => b,
        Err(e) => return out.error(e),
    };
    if a != b {
        fx.push(Effect::SwapDb {
            a: a as u32,
            b: b as u32,
        });
    }
    out.ok();
}
