//! Intersections, unions and differences of sets: SINTER, SUNION, SDIFF,
//! SINTERCARD, and the `…STORE` forms.
//!
//! Every key named is type-checked before anything is computed (as Redis
//! 7.0: `SINTER missing string` is `WRONGTYPE`); a missing key is an empty
//! set. A `…STORE` logs a `Del` of the destination (when it exists) and an
//! `SAdd` of the result: the change is the whole new value.

use super::sets::reply_members;
use super::{keyspace_commands, parse_i64, Ctx, Spec, WrongType};
use crate::resp::reply::Reply;
use crate::store::value::Set;
use crate::store::{Blob, Effect};
use bytes::Bytes;
use std::collections::HashSet;

/// Set algebra commands.
pub(super) static TABLE: &[Spec] = keyspace_commands! {
    "sinter" -2 Read => |a, c, o, f| show(Op::Inter, a, c, o, f),
    "sunion" -2 Read => |a, c, o, f| show(Op::Union, a, c, o, f),
    "sdiff" -2 Read => |a, c, o, f| show(Op::Diff, a, c, o, f),
    "sintercard" -3 Read => sintercard,
    "sinterstore" -3 Grow => |a, c, o, f| store(Op::Inter, a, c, o, f),
    "sunionstore" -3 Grow => |a, c, o, f| store(Op::Union, a, c, o, f),
    "sdiffstore" -3 Grow => |a, c, o, f| store(Op::Diff, a, c, o, f),
};

/// Which combination of the sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Members of every set.
    Inter,
    /// Members of any set.
    Union,
    /// Members of the first set and of none of the others.
    Diff,
}

/// The live sets under `keys`, in order (`None` for a missing key).
///
/// # Errors
/// One of the keys holds another type.
fn sets_of<'k, 'a>(
    keys: &'a [Bytes],
    ctx: &Ctx<'k>,
    fx: &mut Vec<Effect<'a>>,
) -> Result<Vec<Option<&'k Set>>, WrongType> {
    keys.iter().map(|k| ctx.set(k, fx)).collect()
}

/// The members `op` gives of `sets`, at most `limit` of them.
fn combine<'k>(op: Op, sets: &[Option<&'k Set>], limit: usize) -> Vec<&'k [u8]> {
    match op {
        Op::Inter => {
            let Some(mut all) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
                return Vec::new();
            };
            // Walk the smallest set, look the members up in the others.
            all.sort_unstable_by_key(|s| s.len());
            let Some((smallest, rest)) = all.split_first() else {
                return Vec::new();
            };
            smallest
                .iter()
                .filter(|m| rest.iter().all(|s| s.contains(m)))
                .take(limit)
                .collect()
        }
        Op::Union => {
            let mut seen: HashSet<&[u8]> = HashSet::new();
            let mut found = Vec::new();
            for m in sets.iter().flatten().flat_map(|s| s.iter()) {
                if found.len() == limit {
                    break;
                }
                if seen.insert(m) {
                    found.push(m);
                }
            }
            found
        }
        Op::Diff => {
            let Some((Some(first), rest)) = sets.split_first() else {
                return Vec::new();
            };
            first
                .iter()
                .filter(|m| rest.iter().flatten().all(|s| !s.contains(m)))
                .take(limit)
                .collect()
        }
    }
}

/// `SINTER|SUNION|SDIFF key [key …]`: replies with the members.
fn show<'a>(op: Op, args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    match sets_of(&args[1..], ctx, fx) {
        Ok(sets) => {
            let found = combine(op, &sets, usize::MAX);
            reply_members(out, found.iter().copied(), found.len());
        }
        Err(e) => e.reply(out),
    }
}

/// `SINTERSTORE|SUNIONSTORE|SDIFFSTORE destination key [key …]`: replaces
/// the destination with the result (removes it when the result is empty),
/// replies with the result's size.
fn store<'a>(
    op: Op,
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let sets = match sets_of(&args[2..], ctx, fx) {
        Ok(sets) => sets,
        Err(e) => return e.reply(out),
    };
    let found = combine(op, &sets, usize::MAX);
    let dst = &args[1][..];
    if ctx.keyspace().get(dst).is_some() {
        fx.push(Effect::Del {
            keys: vec![Blob::borrowed(dst)],
        });
    }
    if !found.is_empty() {
        fx.push(Effect::SAdd {
            key: Blob::borrowed(dst),
            members: found.iter().map(|m| Blob::owned(m.to_vec())).collect(),
        });
    }
    out.int(found.len() as i64);
}

/// `SINTERCARD numkeys key [key …] [LIMIT limit]`: the size of the
/// intersection, counting up to `limit` (0: no limit).
fn sintercard<'a>(args: &'a [Bytes], ctx: &Ctx<'_>, out: &mut Vec<u8>, fx: &mut Vec<Effect<'a>>) {
    let numkeys = match parse_i64(&args[1]) {
        Some(n) if n > 0 => n as u64,
        _ => return out.error("ERR numkeys should be greater than 0"),
    };
    if numkeys > (args.len() - 2) as u64 {
        return out.error("ERR Number of keys can't be greater than number of args");
    }
    let keys_end = 2 + numkeys as usize;
    let mut limit = usize::MAX;
    let mut i = keys_end;
    while i < args.len() {
        if !args[i].eq_ignore_ascii_case(b"LIMIT") || i + 1 >= args.len() {
            return out.error(super::errors::SYNTAX);
        }
        limit = match parse_i64(&args[i + 1]) {
            Some(0) => usize::MAX,
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return out.error("ERR LIMIT can't be negative"),
        };
        i += 2;
    }
    match sets_of(&args[2..keys_end], ctx, fx) {
        Ok(sets) => out.int(combine(Op::Inter, &sets, limit).len() as i64),
        Err(e) => e.reply(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(members: &[&str]) -> Set {
        let mut s = Set::default();
        members.iter().for_each(|m| {
            s.insert(m.as_bytes());
        });
        s
    }

    fn sorted(mut v: Vec<&[u8]>) -> Vec<&[u8]> {
        v.sort_unstable();
        v
    }

    #[test]
    fn combinations_treat_a_missing_set_as_empty() {
        let (a, b) = (set(&["x", "y", "z"]), set(&["y", "z", "w"]));
        let both = [Some(&a), Some(&b)];
        let yz: Vec<&[u8]> = vec![b"y", b"z"];
        assert_eq!(sorted(combine(Op::Inter, &both, usize::MAX)), yz);
        assert_eq!(combine(Op::Inter, &both, 1).len(), 1);
        assert_eq!(combine(Op::Union, &both, usize::MAX).len(), 4);
        assert_eq!(combine(Op::Diff, &both, usize::MAX), vec![&b"x"[..]]);
        assert!(combine(Op::Inter, &[Some(&a), None], usize::MAX).is_empty());
        assert_eq!(combine(Op::Union, &[None, Some(&b)], usize::MAX).len(), 3);
        assert_eq!(combine(Op::Diff, &[Some(&a), None], usize::MAX).len(), 3);
        assert!(combine(Op::Diff, &[None, Some(&a)], usize::MAX).is_empty());
    }
}
