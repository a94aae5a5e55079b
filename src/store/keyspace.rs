//! The keyspace: a hash map from key to [`Item`], split into shards that are
//! shared copy-on-write.
//!
//! Cloning a [`Keyspace`] copies [`SHARDS`] reference-counted pointers and nothing
//! else, so a checkpoint can take a consistent picture of millions of keys in
//! microseconds while holding the writers' lock. A later write to a shard the
//! picture still shares copies that one shard first (about a thousand items per
//! million keys: a reference-count increment each), so writers never wait for
//! the checkpoint to finish.

use super::item::Item;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;
use std::sync::Arc;

/// Number of copy-on-write shards (a power of two).
pub const SHARDS: usize = 1024;
const _: () = assert!(SHARDS.is_power_of_two());

type Shard = HashTable<Item>;

/// A map from key to item. `Clone` is O([`SHARDS`]).
#[derive(Clone)]
pub struct Keyspace {
    shards: Vec<Arc<Shard>>,
    hasher: DefaultHashBuilder,
    /// Number of items, expired ones included (they are removed by logged deletes).
    len: usize,
    /// Number of items with an expiry (`INFO keyspace`'s `expires`), kept up
    /// to date by every change so that nothing has to count them.
    expires: usize,
}

impl Default for Keyspace {
    fn default() -> Self {
        Keyspace::new()
    }
}

impl std::fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace").field("len", &self.len).finish()
    }
}

impl Keyspace {
    /// An empty keyspace.
    pub fn new() -> Keyspace {
        Keyspace {
            shards: (0..SHARDS).map(|_| Arc::new(Shard::new())).collect(),
            hasher: DefaultHashBuilder::default(),
            len: 0,
            expires: 0,
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard of a hash. Uses bits 32.. so that neither the bucket index (low
    /// bits) nor the control byte (top 7 bits) of the shard's table loses entropy.
    fn shard_of(hash: u64) -> usize {
        (hash >> 32) as usize & (SHARDS - 1)
    }

    /// Starts loading into the CPU cache what a write of `key` touches: its
    /// shard's table, the slots its probe reads, the item stored under it.
    /// Called for each key of a run of writes before making them, it lets
    /// the cache misses of all of them overlap instead of following one
    /// another (each write otherwise waits for three or four in a row).
    pub fn prefetch(&self, key: &[u8]) {
        let h = self.hash(key);
        let shard = &self.shards[Self::shard_of(h)];
        // The probe reads the control bytes and slots; `eq` prefetches each
        // candidate item without reading it and answers no, so the probe ends
        // at the first empty slot.
        let _ = shard.find(h, |i| {
            i.prefetch();
            false
        });
    }

    /// Number of items (expired ones included until they are deleted).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Number of items with an expiry (expired ones included until they
    /// are deleted).
    pub fn expires(&self) -> usize {
        self.expires
    }

    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The item stored under `key`, expired or not.
    pub fn get(&self, key: &[u8]) -> Option<&Item> {
        let h = self.hash(key);
        self.shards[Self::shard_of(h)].find(h, |i| i.key() == key)
    }

    /// Stores `item`, returning the item it replaced.
    pub fn insert(&mut self, item: Item) -> Option<Item> {
        let h = self.hash(item.key());
        self.expires += usize::from(item.expire_at_unix_ms().is_some());
        let hasher = &self.hasher;
        let shard = Arc::make_mut(&mut self.shards[Self::shard_of(h)]);
        match shard.entry(h, |i| i.key() == item.key(), |i| hasher.hash_one(i.key())) {
            hashbrown::hash_table::Entry::Occupied(mut slot) => {
                let old = std::mem::replace(slot.get_mut(), item);
                self.expires -= usize::from(old.expire_at_unix_ms().is_some());
                Some(old)
            }
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(item);
                self.len += 1;
                None
            }
        }
    }

    /// Stores `value` under `key` with this expiry. An unshared item of the same
    /// value length is overwritten in place; otherwise a new item replaces it.
    pub fn set(&mut self, key: &[u8], value: &[u8], expire_at_unix_ms: Option<u64>) {
        let h = self.hash(key);
        let s = Self::shard_of(h);
        let shard = Arc::make_mut(&mut self.shards[s]);
        self.expires += usize::from(expire_at_unix_ms.is_some());
        if let Some(slot) = shard.find_mut(h, |i| i.key() == key) {
            self.expires -= usize::from(slot.expire_at_unix_ms().is_some());
            if !slot.overwrite(value, expire_at_unix_ms) {
                *slot = Item::new(key, value, expire_at_unix_ms);
            }
            return;
        }
        let hasher = &self.hasher;
        shard.insert_unique(h, Item::new(key, value, expire_at_unix_ms), |i| {
            hasher.hash_one(i.key())
        });
        self.len += 1;
    }

    /// The item under `key`, for a change of its value (its shard is copied
    /// first when a snapshot still shares it; a miss copies nothing). Its
    /// expiry must be changed with [`set_expiry`](Self::set_expiry) only,
    /// which keeps the count of expiring keys.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Item> {
        let h = self.hash(key);
        let s = Self::shard_of(h);
        self.shards[s].find(h, |i| i.key() == key)?;
        Arc::make_mut(&mut self.shards[s]).find_mut(h, |i| i.key() == key)
    }

    /// Sets the expiry of an existing key; returns false if it is absent.
    pub fn set_expiry(&mut self, key: &[u8], expire_at_unix_ms: Option<u64>) -> bool {
        let h = self.hash(key);
        let s = Self::shard_of(h);
        // Look first: a miss must not copy a shared shard.
        let Some(cur) = self.shards[s].find(h, |i| i.key() == key) else {
            return false;
        };
        if cur.expire_at_unix_ms() == expire_at_unix_ms {
            return true;
        }
        if expire_at_unix_ms.is_some() {
            self.expires += 1;
        } else {
            self.expires -= 1;
        }
        let shard = Arc::make_mut(&mut self.shards[s]);
        let slot = shard
            .find_mut(h, |i| i.key() == key)
            .expect("found just above");
        if !slot.overwrite_expiry(expire_at_unix_ms) {
            *slot = slot.with_expiry(expire_at_unix_ms);
        }
        true
    }

    /// Removes `key`, returning its item.
    pub fn remove(&mut self, key: &[u8]) -> Option<Item> {
        let h = self.hash(key);
        let s = Self::shard_of(h);
        // Look first: a miss must not copy a shared shard.
        self.shards[s].find(h, |i| i.key() == key)?;
        let shard = Arc::make_mut(&mut self.shards[s]);
        let entry = shard.find_entry(h, |i| i.key() == key).ok()?;
        let (item, _) = entry.remove();
        self.len -= 1;
        self.expires -= usize::from(item.expire_at_unix_ms().is_some());
        Some(item)
    }

    /// Removes every item.
    pub fn clear(&mut self) {
        *self = Keyspace {
            hasher: self.hasher,
            ..Keyspace::new()
        };
    }

    /// Every item, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Item> + '_ {
        self.shards.iter().flat_map(|s| s.iter())
    }

    /// The items of shard `index` (`index < SHARDS`), for cursor-based scans.
    pub fn shard_items(&self, index: usize) -> impl Iterator<Item = &Item> + '_ {
        self.shards[index].iter()
    }

    /// A digest of the whole keyspace (every key, value and expiry), the same for
    /// equal keyspaces whatever their history or hash seed: the SHA-256 of each
    /// item, summed lane by lane (four little-endian u64 lanes, wrapping), so the
    /// order of items does not matter. 64 hex digits; all zeros when empty.
    /// Primary and standby compare it at equal LSNs (`DEBUG DIGEST`).
    pub fn digest(&self) -> String {
        hex_lanes(&self.digest_lanes())
    }

    /// The digest as four lanes (see [`digest`](Self::digest)).
    pub fn digest_lanes(&self) -> [u64; 4] {
        use sha2::{Digest as _, Sha256};
        let mut lanes = [0u64; 4];
        for item in self.iter() {
            let mut h = Sha256::new();
            h.update((item.key().len() as u64).to_le_bytes());
            h.update(item.key());
            match item {
                Item::Str(s) => {
                    h.update((s.value().len() as u64).to_le_bytes());
                    h.update(s.value());
                }
                Item::Coll(c) => {
                    // A type byte and the entries, each byte string with its
                    // length: no string item hashes the same way (its next
                    // eight bytes are a length, never starting with 0xff).
                    h.update([0xff, c.value.kind().code()]);
                    c.value.for_each_canonical(&mut |parts| {
                        for p in parts {
                            h.update((p.len() as u64).to_le_bytes());
                            h.update(p);
                        }
                    });
                }
            }
            h.update(item.expire_at_unix_ms().unwrap_or(0).to_le_bytes());
            let sum = h.finalize();
            for (lane, chunk) in lanes.iter_mut().zip(sum.chunks_exact(8)) {
                let v = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                *lane = lane.wrapping_add(v);
            }
        }
        lanes
    }
}

/// The digest's text: each lane as 16 hex digits.
pub fn hex_lanes(lanes: &[u64; 4]) -> String {
    lanes.iter().map(|l| format!("{l:016x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_and_cheap_clone() {
        let mut ks = Keyspace::new();
        for i in 0..5000u32 {
            assert!(ks.insert(Item::new(&i.to_le_bytes(), b"v", None)).is_none());
        }
        assert_eq!(ks.len(), 5000);
        let picture = ks.clone();
        assert!(ks
            .insert(Item::new(&7u32.to_le_bytes(), b"w", None))
            .is_some());
        assert!(ks.remove(&8u32.to_le_bytes()).is_some());
        assert!(ks.remove(&8u32.to_le_bytes()).is_none());
        assert_eq!(ks.len(), 4999);
        assert_eq!(
            ks.get(&7u32.to_le_bytes()).unwrap().as_str(),
            Some(&b"w"[..])
        );
        // The picture taken before is unchanged.
        assert_eq!(picture.len(), 5000);
        assert_eq!(
            picture.get(&7u32.to_le_bytes()).unwrap().as_str(),
            Some(&b"v"[..])
        );
        assert!(picture.get(&8u32.to_le_bytes()).is_some());
        assert_eq!(picture.iter().count(), 5000);
        ks.set(b"s", b"12", None);
        ks.set(b"s", b"34", Some(5));
        ks.set(b"s", b"567", None);
        assert_eq!(ks.get(b"s").unwrap().as_str(), Some(&b"567"[..]));
        assert!(ks.set_expiry(b"s", Some(8)));
        assert!(!ks.set_expiry(b"nope", Some(8)));
        assert_eq!(ks.get(b"s").unwrap().expire_at_unix_ms(), Some(8));
        let picture2 = ks.clone();
        ks.set(b"s", b"890", None);
        assert!(ks.set_expiry(b"s", Some(1)));
        assert_eq!(picture2.get(b"s").unwrap().as_str(), Some(&b"567"[..]));
        assert_eq!(picture2.get(b"s").unwrap().expire_at_unix_ms(), Some(8));
        assert!(ks.remove(b"s").is_some());
        let per_shard: usize = (0..SHARDS).map(|s| ks.shard_items(s).count()).sum();
        assert_eq!(per_shard, 4999);
        ks.clear();
        assert!(ks.is_empty());
        assert_eq!(picture.len(), 5000);
    }

    #[test]
    fn digest_depends_on_content_only() {
        let empty = Keyspace::new();
        assert_eq!(empty.digest(), "0".repeat(64));
        let (mut a, mut b) = (Keyspace::new(), Keyspace::new());
        for i in 0..300u32 {
            a.set(&i.to_le_bytes(), b"v", None);
        }
        for i in (0..300u32).rev() {
            b.set(&i.to_le_bytes(), b"v", None);
        }
        assert_eq!(a.digest(), b.digest(), "insertion order does not matter");
        b.set(&7u32.to_le_bytes(), b"w", None);
        assert_ne!(a.digest(), b.digest(), "a value changes it");
        b.set(&7u32.to_le_bytes(), b"v", Some(9));
        assert_ne!(a.digest(), b.digest(), "an expiry changes it");
        b.set(&7u32.to_le_bytes(), b"v", None);
        assert_eq!(a.digest(), b.digest());
        // Moving bytes between key and value changes it.
        let (mut c, mut d) = (Keyspace::new(), Keyspace::new());
        c.set(b"ab", b"c", None);
        d.set(b"a", b"bc", None);
        assert_ne!(c.digest(), d.digest());
    }
}
