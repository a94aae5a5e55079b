//! Applying one effect to the databases: the only code that changes a
//! keyspace, for the primary's writes, crash recovery and a standby's replay
//! alike. Deterministic: it never reads the clock or a random source.

use super::dbs::Dbs;
use super::effect::{Blob, Effect, ListEnd};
use super::item::Item;
use super::keyspace::Keyspace;
use super::value::list::End;
use super::value::{Coll, Kind, List};

/// Where a record's effects apply: the database selected so far. A record
/// starts in database 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub db: usize,
}

/// Applies one effect to the databases, at `cur`'s database (a `Select`
/// moves `cur`).
pub fn apply_effect(dbs: &mut Dbs, cur: &mut Cursor, e: &Effect<'_>) {
    match e {
        Effect::Select { db } => cur.db = *db as usize,
        Effect::FlushAll => dbs.clear(),
        Effect::SwapDb { a, b } => dbs.swap(*a as usize, *b as usize),
        Effect::Move { key, to_db } => {
            let to = *to_db as usize;
            if to != cur.db {
                if let Some(item) = dbs.db_mut(cur.db).remove(key) {
                    dbs.db_mut(to).insert(item);
                }
            }
        }
        Effect::Copy { from, to, to_db } => {
            let Some(item) = dbs.db(cur.db).get(from) else {
                return;
            };
            let copy = item.renamed(to);
            dbs.db_mut(*to_db as usize).insert(copy);
        }
        _ => apply_in_db(dbs.db_mut(cur.db), e),
    }
}

/// Applies an effect that changes one database.
fn apply_in_db(ks: &mut Keyspace, e: &Effect<'_>) {
    match e {
        Effect::Set {
            key,
            value,
            expire_at_unix_ms,
        } => ks.set(key, value, *expire_at_unix_ms),
        Effect::Del { keys } => {
            for k in keys {
                ks.remove(k);
            }
        }
        Effect::Expire { key, at_unix_ms } => {
            ks.set_expiry(key, Some(*at_unix_ms));
        }
        Effect::Persist { key } => {
            ks.set_expiry(key, None);
        }
        Effect::FlushDb => ks.clear(),
        Effect::Rename { from, to } => {
            if let Some(item) = ks.remove(from) {
                ks.insert(item.renamed(to));
            }
        }
        Effect::SetRange { key, offset, value } => set_range(ks, key, *offset, value),
        Effect::HSet { key, pairs } => change(ks, key, Kind::Hash, |c| {
            if let Coll::Hash(h) = c {
                for (f, v) in pairs {
                    h.insert(f, v);
                }
            }
        }),
        Effect::HDel { key, fields } => change(ks, key, Kind::Hash, |c| {
            if let Coll::Hash(h) = c {
                for f in fields {
                    h.remove(f);
                }
            }
        }),
        Effect::Push { key, end, elems } => change(ks, key, Kind::List, |c| {
            if let Coll::List(l) = c {
                for x in elems {
                    l.push(end_of(*end), x);
                }
            }
        }),
        Effect::Pop { key, end, count } => change(ks, key, Kind::List, |c| {
            if let Coll::List(l) = c {
                for _ in 0..*count {
                    if l.pop(end_of(*end)).is_none() {
                        break;
                    }
                }
            }
        }),
        Effect::LSet { key, index, elem } => change(ks, key, Kind::List, |c| {
            if let Coll::List(l) = c {
                l.set(*index as usize, elem);
            }
        }),
        Effect::LInsert { key, index, elem } => change(ks, key, Kind::List, |c| {
            if let Coll::List(l) = c {
                l.insert(*index as usize, elem);
            }
        }),
        Effect::LRem { key, count, elem } => change(ks, key, Kind::List, |c| {
            if let Coll::List(l) = c {
                list_rem(l, *count, elem);
            }
        }),
        Effect::LTrim { key, start, end } => change(ks, key, Kind::List, |c| {
            if let Coll::List(l) = c {
                l.keep(*start as usize, *end as usize);
            }
        }),
        Effect::SAdd { key, members } => change(ks, key, Kind::Set, |c| {
            if let Coll::Set(s) = c {
                for m in members {
                    s.insert(m);
                }
            }
        }),
        Effect::SRem { key, members } => change(ks, key, Kind::Set, |c| {
            if let Coll::Set(s) = c {
                for m in members {
                    s.remove(m);
                }
            }
        }),
        Effect::ZAdd { key, entries } => change(ks, key, Kind::ZSet, |c| {
            if let Coll::ZSet(z) = c {
                for (score, m) in entries {
                    z.insert(m, *score);
                }
            }
        }),
        Effect::ZRem { key, members } => change(ks, key, Kind::ZSet, |c| {
            if let Coll::ZSet(z) = c {
                for m in members {
                    z.remove(m);
                }
            }
        }),
        Effect::FlushAll
        | Effect::Select { .. }
        | Effect::SwapDb { .. }
        | Effect::Move { .. }
        | Effect::Copy { .. } => unreachable!("applied across databases"),
    }
}

fn end_of(end: ListEnd) -> End {
    match end {
        ListEnd::Left => End::Left,
        ListEnd::Right => End::Right,
    }
}

/// Changes the collection of `kind` under `key` with `f`: creates it when
/// missing (or holding another type), removes the key when `f` empties it.
fn change(ks: &mut Keyspace, key: &Blob<'_>, kind: Kind, f: impl FnOnce(&mut Coll)) {
    let holds_kind = ks.get(key).is_some_and(|i| i.kind() == kind);
    if !holds_kind {
        let Some(mut coll) = Coll::empty(kind) else {
            return;
        };
        f(&mut coll);
        if coll.is_empty() {
            ks.remove(key);
        } else {
            ks.insert(Item::coll(key, coll, None));
        }
        return;
    }
    let item = ks.get_mut(key).expect("found just above");
    let coll = item.coll_mut().expect("a collection of this kind");
    f(coll);
    if coll.is_empty() {
        ks.remove(key);
    }
}

/// `LREM`: removes up to |count| elements equal to `elem`, from the left
/// for a positive count, from the right for a negative one, all for 0.
pub fn list_rem(l: &mut List, count: i64, elem: &[u8]) -> usize {
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    let mut at: Vec<usize> = Vec::new();
    if count >= 0 {
        for (i, x) in l.iter().enumerate() {
            if at.len() == limit {
                break;
            }
            if x == elem {
                at.push(i);
            }
        }
    } else {
        let n = l.len();
        for (i, x) in l.iter().rev().enumerate() {
            if at.len() == limit {
                break;
            }
            if x == elem {
                at.push(n - 1 - i);
            }
        }
        at.reverse();
    }
    for &i in at.iter().rev() {
        l.remove(i);
    }
    at.len()
}

/// `SETRANGE`: writes `value` at `offset` of the string under `key`,
/// zero-padding; creates the string when missing, keeps its expiry.
fn set_range(ks: &mut Keyspace, key: &[u8], offset: u64, value: &[u8]) {
    let (mut bytes, expiry) = match ks.get(key) {
        Some(Item::Str(s)) => (s.value().to_vec(), s.expire_at_unix_ms()),
        _ => (Vec::new(), None),
    };
    let offset = offset as usize;
    if bytes.len() < offset + value.len() {
        bytes.resize(offset + value.len(), 0);
    }
    bytes[offset..offset + value.len()].copy_from_slice(value);
    ks.set(key, &bytes, expiry);
}

/// What an effect changes, for those who watch keys (`WATCH`, clients
/// blocked on a list or sorted set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch<'e> {
    /// One key of a database.
    Key(usize, &'e [u8]),
    /// Every key of a database (`FLUSHDB`, either side of `SWAPDB`).
    Db(usize),
    /// Every key of every database (`FLUSHALL`).
    All,
}

/// Calls `f` with what each of a record's `effects` changes, following its
/// `Select`s from database `start`.
pub fn touches<'e>(effects: &'e [Effect<'_>], start: usize, mut f: impl FnMut(Touch<'e>)) {
    let mut db = start;
    for e in effects {
        match e {
            Effect::Select { db: d } => db = *d as usize,
            Effect::FlushAll => f(Touch::All),
            Effect::FlushDb => f(Touch::Db(db)),
            Effect::SwapDb { a, b } => {
                f(Touch::Db(*a as usize));
                f(Touch::Db(*b as usize));
            }
            Effect::Del { keys } => keys.iter().for_each(|k| f(Touch::Key(db, k))),
            Effect::Move { key, to_db } => {
                f(Touch::Key(db, key));
                f(Touch::Key(*to_db as usize, key));
            }
            Effect::Rename { from, to } => {
                f(Touch::Key(db, from));
                f(Touch::Key(db, to));
            }
            Effect::Copy { to, to_db, .. } => f(Touch::Key(*to_db as usize, to)),
            Effect::Set { key, .. }
            | Effect::Expire { key, .. }
            | Effect::Persist { key }
            | Effect::SetRange { key, .. }
            | Effect::HSet { key, .. }
            | Effect::HDel { key, .. }
            | Effect::Push { key, .. }
            | Effect::Pop { key, .. }
            | Effect::LSet { key, .. }
            | Effect::LInsert { key, .. }
            | Effect::LRem { key, .. }
            | Effect::LTrim { key, .. }
            | Effect::SAdd { key, .. }
            | Effect::SRem { key, .. }
            | Effect::ZAdd { key, .. }
            | Effect::ZRem { key, .. } => f(Touch::Key(db, key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Blob;

    #[test]
    fn touches_follow_the_selected_database() {
        let b = |s: &'static str| Blob::borrowed(s.as_bytes());
        let effects = [
            Effect::Del { keys: vec![b("a")] },
            Effect::Select { db: 3 },
            Effect::Rename {
                from: b("x"),
                to: b("y"),
            },
            Effect::SwapDb { a: 1, b: 2 },
            Effect::FlushAll,
        ];
        let mut seen = Vec::new();
        touches(&effects, 0, |t| seen.push(t));
        assert_eq!(
            seen,
            [
                Touch::Key(0, b"a"),
                Touch::Key(3, b"x"),
                Touch::Key(3, b"y"),
                Touch::Db(1),
                Touch::Db(2),
                Touch::All
            ]
        );
    }
}
