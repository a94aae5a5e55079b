//! Watched keys (`WATCH`): which clients watch which keys, and which of them
//! saw a watched key change since. Kept beside the databases so that every
//! change — a client's write, an expiry's delete, a standby's replay — marks
//! the watchers, and costs one `is_empty` test when nobody watches.
//!
//! As in Redis 7.0: a key counts as changed when an effect touches it (even
//! writing the same value), when `FLUSHDB`/`FLUSHALL`/`SWAPDB` empties or
//! replaces a database where it exists, and when it was live at `WATCH` and
//! has expired by `EXEC`. A key already expired at `WATCH` that is then
//! deleted did not change.

use super::dbs::Dbs;
use super::effect::Effect;
use super::mutate::{touches, Cursor, Touch};
use hashbrown::HashMap;

/// Who watches: the node's number for a client.
pub type WatcherId = u64;

/// Most keys one client may watch.
pub const MAX_WATCHED_KEYS: usize = 1 << 20;

#[derive(Debug, Clone)]
struct Watcher {
    who: WatcherId,
    /// The key existed but had expired when it was watched.
    expired_at_watch: bool,
}

#[derive(Debug, Clone, Default)]
struct Client {
    keys: Vec<(usize, Box<[u8]>)>,
    /// A watched key changed.
    dirty: bool,
}

/// A watched key looked up without copying it: hashes and compares as the
/// `(database, key)` it stands for.
#[derive(Hash)]
struct KeyRef<'k>(usize, &'k [u8]);

impl hashbrown::Equivalent<(usize, Box<[u8]>)> for KeyRef<'_> {
    fn equivalent(&self, k: &(usize, Box<[u8]>)) -> bool {
        self.0 == k.0 && self.1 == &*k.1
    }
}

/// The registry of watched keys.
#[derive(Debug, Clone, Default)]
pub struct Watches {
    keys: HashMap<(usize, Box<[u8]>), Vec<Watcher>>,
    clients: HashMap<WatcherId, Client>,
}

/// Why a key could not be watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ERR too many watched keys (the limit is {MAX_WATCHED_KEYS})")]
pub struct TooManyWatched;

impl Watches {
    /// True when nobody watches anything.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// `who` watches `key` of database `db` (again: no change).
    ///
    /// # Errors
    /// [`TooManyWatched`] past [`MAX_WATCHED_KEYS`] keys for one client.
    pub fn watch(
        &mut self,
        who: WatcherId,
        db: usize,
        key: &[u8],
        dbs: &Dbs,
        now_unix_ms: u64,
    ) -> Result<(), TooManyWatched> {
        let client = self.clients.entry(who).or_default();
        if client.keys.iter().any(|(d, k)| *d == db && **k == *key) {
            return Ok(());
        }
        if client.keys.len() >= MAX_WATCHED_KEYS {
            return Err(TooManyWatched);
        }
        client.keys.push((db, key.into()));
        let expired_at_watch = dbs
            .db(db)
            .get(key)
            .is_some_and(|i| i.is_expired(now_unix_ms));
        self.keys
            .entry((db, key.into()))
            .or_default()
            .push(Watcher {
                who,
                expired_at_watch,
            });
        Ok(())
    }

    /// `who` watches nothing any more (`UNWATCH`, `EXEC`, `DISCARD`, or it
    /// left).
    pub fn unwatch(&mut self, who: WatcherId) {
        let Some(client) = self.clients.remove(&who) else {
            return;
        };
        for k in client.keys {
            if let Some(ws) = self.keys.get_mut(&k) {
                ws.retain(|w| w.who != who);
                if ws.is_empty() {
                    self.keys.remove(&k);
                }
            }
        }
    }

    /// True when a key `who` watches changed, or when `who` is not known
    /// here although it watched (the registry was replaced: a standby
    /// re-seeded). A key live when watched that has expired by `now_unix_ms`
    /// counts as changed.
    pub fn changed(&self, who: WatcherId, dbs: &Dbs, now_unix_ms: u64) -> bool {
        let Some(client) = self.clients.get(&who) else {
            return true;
        };
        client.dirty
            || client.keys.iter().any(|(db, key)| {
                let expired_now = dbs
                    .db(*db)
                    .get(key)
                    .is_some_and(|i| i.is_expired(now_unix_ms));
                expired_now
                    && self
                        .keys
                        .get(&KeyRef(*db, key))
                        .is_some_and(|ws| ws.iter().any(|w| w.who == who && !w.expired_at_watch))
            })
    }

    fn mark(&mut self, who: WatcherId) {
        if let Some(c) = self.clients.get_mut(&who) {
            c.dirty = true;
        }
    }

    /// Called before `effect` is applied at `cur`: marks the watchers of
    /// keys a whole-database effect empties or replaces.
    pub fn before(&mut self, dbs: &Dbs, cur: Cursor, effect: &Effect<'_>) {
        let pairs: &[(usize, usize)] = match effect {
            Effect::FlushDb => &[(cur.db, cur.db)],
            Effect::SwapDb { a, b } => &[(*a as usize, *b as usize), (*b as usize, *a as usize)],
            Effect::FlushAll => {
                for d in 0..super::DATABASES {
                    self.before(dbs, Cursor { db: d }, &Effect::FlushDb);
                }
                return;
            }
            _ => return,
        };
        let mut hit = Vec::new();
        for &(emptied, replaced_with) in pairs {
            for ((db, key), ws) in self.keys.iter_mut().filter(|((d, _), _)| *d == emptied) {
                let in_emptied = dbs.db(*db).get(key).is_some();
                let in_replacement =
                    replaced_with != emptied && dbs.db(replaced_with).get(key).is_some();
                if !in_emptied && !in_replacement {
                    continue;
                }
                for w in ws.iter_mut() {
                    if w.expired_at_watch && !in_replacement {
                        // An expired key now gone: no logical change.
                        w.expired_at_watch = false;
                    } else {
                        hit.push(w.who);
                    }
                }
            }
        }
        hit.into_iter().for_each(|who| self.mark(who));
    }

    /// Called after `effects` (of one record, from database `start`) were
    /// applied: marks the watchers of every key they touched.
    pub fn after(&mut self, dbs: &Dbs, start: usize, effects: &[Effect<'_>]) {
        let mut hit = Vec::new();
        touches(effects, start, |t| {
            let Touch::Key(db, key) = t else {
                return;
            };
            let Some(ws) = self.keys.get_mut(&KeyRef(db, key)) else {
                return;
            };
            let gone = dbs.db(db).get(key).is_none();
            for w in ws.iter_mut() {
                if w.expired_at_watch && gone {
                    w.expired_at_watch = false;
                } else {
                    hit.push(w.who);
                }
            }
        });
        hit.into_iter().for_each(|who| self.mark(who));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Blob, KvState};

    fn set(k: &'static str, exp: Option<u64>) -> Effect<'static> {
        Effect::Set {
            key: Blob::borrowed(k.as_bytes()),
            value: Blob::borrowed(b"v"),
            expire_at_unix_ms: exp,
        }
    }

    #[test]
    fn a_touched_key_marks_only_its_watchers() {
        let mut kv = KvState::default();
        assert!(kv.watches.is_empty());
        kv.watches.watch(1, 0, b"a", &kv.dbs, 10).unwrap();
        kv.watches.watch(1, 0, b"a", &kv.dbs, 10).unwrap();
        kv.watches.watch(2, 3, b"a", &kv.dbs, 10).unwrap();
        kv.apply_effects(&[set("a", None)], 8);
        assert!(kv.watches.changed(1, &kv.dbs, 10));
        assert!(
            !kv.watches.changed(2, &kv.dbs, 10),
            "database 3's a is another key"
        );
        kv.apply_effects(&[Effect::Select { db: 3 }, set("b", None)], 16);
        assert!(!kv.watches.changed(2, &kv.dbs, 10));
        kv.watches.unwatch(1);
        kv.watches.unwatch(2);
        assert!(kv.watches.is_empty());
        assert!(
            kv.watches.changed(9, &kv.dbs, 10),
            "an unknown watcher aborts"
        );
    }

    #[test]
    fn flushes_and_swaps_touch_the_keys_that_exist() {
        let mut kv = KvState::default();
        kv.apply_effects(&[set("here", None)], 8);
        kv.watches.watch(1, 0, b"here", &kv.dbs, 10).unwrap();
        kv.watches.watch(2, 0, b"absent", &kv.dbs, 10).unwrap();
        kv.apply_effects(&[Effect::FlushAll], 16);
        assert!(kv.watches.changed(1, &kv.dbs, 10));
        assert!(!kv.watches.changed(2, &kv.dbs, 10));
        // SWAPDB brings a key into the watched database.
        kv.apply_effects(&[Effect::Select { db: 4 }, set("absent", None)], 24);
        kv.apply_effects(&[Effect::SwapDb { a: 0, b: 4 }], 32);
        assert!(kv.watches.changed(2, &kv.dbs, 10));
    }

    #[test]
    fn expiry_counts_only_for_keys_live_when_watched() {
        let mut kv = KvState::default();
        kv.apply_effects(&[set("live", Some(100)), set("gone", Some(5))], 8);
        kv.watches.watch(1, 0, b"live", &kv.dbs, 10).unwrap();
        kv.watches.watch(2, 0, b"gone", &kv.dbs, 10).unwrap();
        assert!(!kv.watches.changed(1, &kv.dbs, 99));
        assert!(kv.watches.changed(1, &kv.dbs, 100), "expired since WATCH");
        assert!(
            !kv.watches.changed(2, &kv.dbs, 100),
            "already expired at WATCH"
        );
        // Deleting the key that had already expired is no change.
        kv.apply_effects(
            &[Effect::Del {
                keys: vec![Blob::borrowed(b"gone")],
            }],
            16,
        );
        assert!(!kv.watches.changed(2, &kv.dbs, 100));
        kv.apply_effects(&[set("gone", None)], 24);
        assert!(kv.watches.changed(2, &kv.dbs, 100), "then written again");
    }
}
