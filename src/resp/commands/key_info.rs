//! Commands that read about keys: RANDOMKEY, TOUCH, EXPIRETIME, PEXPIRETIME,
//! OBJECT; and TIME.

use super::{keyspace_commands, wrong_args, Ctx, Spec};
use crate::resp::reply::Reply;
use crate::store::keyspace::SHARDS;
use crate::store::value::Coll;
use crate::store::{Effect, Item};
use bytes::Bytes;
use rand::Rng;

pub(super) static TABLE: &[Spec] = keyspace_commands! {
    "randomkey" 1 Read => |_, c, o, _| random_key(c, o),
    "touch" -2 Read => |a, c, o, f| {
        let n = a[1..].iter().filter(|k| c.live(k, f).is_some()).count();
        o.int(n as i64)
    },
    "expiretime" 2 Read => |a, c, o, f| super::keys::ttl(a, 1000, true, c, o, f),
    "pexpiretime" 2 Read => |a, c, o, f| super::keys::ttl(a, 1, true, c, o, f),
    "object" -2 Read => object,
    "time" 1 Read => |_, _, o, _| time(o),
};

/// A live key picked at random: a random shard, then a random live key of
/// the first shard from there that has one.
fn random_key(ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let ks = ctx.keyspace();
    if ks.is_empty() {
        return out.nil();
    }
    let mut rng = rand::thread_rng();
    let first = rng.gen_range(0..SHARDS);
    for s in (first..SHARDS).chain(0..first) {
        let live: Vec<&Item> = ks
            .shard_items(s)
            .filter(|i| !i.is_expired(ctx.now_unix_ms))
            .collect();
        if !live.is_empty() {
            return out.bulk(live[rng.gen_range(0..live.len())].key());
        }
    }
    out.nil()
}

/// `TIME`: Unix seconds and microseconds, read from the clock.
fn time(out: &mut Vec<u8>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    out.array(2);
    out.bulk(itoa::Buffer::new().format(now.as_secs()).as_bytes());
    out.bulk(itoa::Buffer::new().format(now.subsec_micros()).as_bytes());
}

/// Redis's `*-max-listpack-entries` and `*-max-listpack-value` defaults:
/// a collection this small is stored compactly.
const COMPACT_MAX_ENTRIES: usize = 128;
const COMPACT_MAX_VALUE_BYTES: usize = 64;
/// `set-max-intset-entries`.
const INTSET_MAX_ENTRIES: usize = 512;
/// Strings this short are `embstr` (one allocation with the object header).
const EMBSTR_MAX_BYTES: usize = 44;
/// Redis shares the integer objects 0 to 9999 (`OBJ_SHARED_INTEGERS`).
const SHARED_INTEGERS: i64 = 10_000;
/// The reference count Redis reports for a shared object.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// The encoding Redis 7.0 would use for an item of this size and content.
pub(super) fn encoding(item: &Item) -> &'static str {
    fn small(n: usize, mut lens: impl Iterator<Item = usize>) -> bool {
        n <= COMPACT_MAX_ENTRIES && lens.all(|l| l <= COMPACT_MAX_VALUE_BYTES)
    }
    match item {
        Item::Str(s) => {
            let v = s.value();
            if v.len() <= 20 && super::parse_i64(v).is_some() {
                "int"
            } else if v.len() <= EMBSTR_MAX_BYTES {
                "embstr"
            } else {
                "raw"
            }
        }
        Item::Coll(c) => match &c.value {
            Coll::Hash(h) => {
                if small(h.len(), h.iter().flat_map(|(f, v)| [f.len(), v.len()])) {
                    "listpack"
                } else {
                    "hashtable"
                }
            }
            // Redis 7.0 keeps every list in a quicklist (listpack lists came in 7.2).
            Coll::List(_) => "quicklist",
            // Redis 7.0 sets are intsets or hash tables (listpack sets came in 7.2).
            Coll::Set(s) => {
                if s.len() <= INTSET_MAX_ENTRIES && s.iter().all(|m| super::parse_i64(m).is_some())
                {
                    "intset"
                } else {
                    "hashtable"
                }
            }
            Coll::ZSet(z) => {
                if small(z.len(), z.iter().map(|(m, _)| m.len())) {
                    "listpack"
                } else {
                    "skiplist"
                }
            }
        },
    }
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// `OBJECT ENCODING|REFCOUNT|IDLETIME|FREQ key` and `OBJECT HELP`.
fn object<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let sub = args[1].to_ascii_lowercase();
    if sub == b"help" && args.len() == 2 {
        out.array(OBJECT_HELP.len());
        for line in OBJECT_HELP {
            out.simple(line);
        }
        return;
    }
    let known = matches!(
        sub.as_slice(),
        b"encoding" | b"refcount" | b"idletime" | b"freq" | b"help"
    );
    if !known {
        let sub = String::from_utf8_lossy(&args[1]);
        return out.error(&format!("ERR unknown subcommand '{sub}'. Try OBJECT HELP."));
    }
    if args.len() != 3 || sub == b"help" {
        let name = format!("object|{}", String::from_utf8_lossy(&sub));
        return out.error(&wrong_args(&name));
    }
    let Some(item) = ctx.live(&args[2], fx) else {
        return out.nil();
    };
    match sub.as_slice() {
        b"encoding" => out.bulk(encoding(item).as_bytes()),
        b"refcount" => {
            let shared = item
                .as_str()
                .and_then(super::parse_i64)
                .is_some_and(|n| (0..SHARED_INTEGERS).contains(&n));
            out.int(if shared { SHARED_REFCOUNT } else { 1 })
        }
        // Access times are not kept: every key reads as just used.
        b"idletime" => out.int(0),
        _ => out.error(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ),
    }
}
