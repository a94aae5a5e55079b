//! The member → score map of a large sorted set: a persistent hash table
//! grown by linear hashing, so that it never rehashes everything at once.
//!
//! Buckets are shared slices of (member, score) reached through a persistent
//! vector: a clone is O(1), a write copies the one bucket it changes (a few
//! entries) and the vector's path to it. Each insertion past the load factor
//! splits one bucket in two. An `imbl::HashMap` took 73 bytes a member
//! besides the member's bytes at 10M members (its nodes are fixed arrays of
//! 32 slots, mostly empty at the bottom of a large map); a bucket's entry is
//! 24, with the bucket's header shared by ~[`LOAD`] entries.

use super::Elem;
use std::hash::BuildHasher;
use std::sync::Arc;

/// Entries per bucket, on average, before a bucket is split.
const LOAD: usize = 4;

type Bucket = Option<Arc<[(Elem, f64)]>>;

/// Members with their scores.
#[derive(Clone, Debug, Default)]
pub struct Scores {
    /// `base + split` buckets: those below `split` and those from `base`
    /// on are addressed by one more bit of the hash than the others.
    buckets: imbl::Vector<Bucket>,
    /// A power of two.
    base: usize,
    split: usize,
    len: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl Scores {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it has none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn hash(&self, member: &[u8]) -> u64 {
        self.hasher.hash_one(member)
    }

    /// The bucket of a hash.
    fn bucket_of(&self, hash: u64) -> usize {
        let h = hash as usize;
        match h & (self.base - 1) {
            b if b < self.split => h & (2 * self.base - 1),
            b => b,
        }
    }

    /// The score of `member`.
    pub fn get(&self, member: &[u8]) -> Option<f64> {
        if self.len == 0 {
            return None;
        }
        let b = self.bucket_of(self.hash(member));
        let entries = self.buckets.get(b)?.as_deref()?;
        entries
            .iter()
            .find(|(m, _)| &m[..] == member)
            .map(|&(_, s)| s)
    }

    /// Sets the score of `member` (`make` gives its element when it is
    /// new); the old score, if it had one.
    pub fn insert(
        &mut self,
        member: &[u8],
        score: f64,
        make: impl FnOnce() -> Elem,
    ) -> Option<f64> {
        if self.base == 0 {
            self.base = 1;
            self.buckets.push_back(None);
        }
        let b = self.bucket_of(self.hash(member));
        let slot = self.buckets.get_mut(b).expect("a bucket per address");
        let entries = slot.as_deref().unwrap_or(&[]);
        if let Some(i) = entries.iter().position(|(m, _)| &m[..] == member) {
            let old = entries[i].1;
            let arc = slot.as_mut().expect("the member is in it");
            match Arc::get_mut(arc) {
                Some(own) => own[i].1 = score,
                None => {
                    let mut copy = arc.to_vec();
                    copy[i].1 = score;
                    *arc = copy.into();
                }
            }
            return Some(old);
        }
        let mut grown = Vec::with_capacity(entries.len() + 1);
        grown.extend_from_slice(entries);
        grown.push((make(), score));
        *slot = Some(grown.into());
        self.len += 1;
        if self.len > LOAD * self.buckets.len() {
            self.split_one();
        }
        None
    }

    /// Removes `member`, returning its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        if self.len == 0 {
            return None;
        }
        let b = self.bucket_of(self.hash(member));
        let slot = self.buckets.get_mut(b)?;
        let entries = slot.as_deref()?;
        let i = entries.iter().position(|(m, _)| &m[..] == member)?;
        let score = entries[i].1;
        *slot = match entries.len() {
            1 => None,
            _ => {
                let mut rest = Vec::with_capacity(entries.len() - 1);
                rest.extend_from_slice(&entries[..i]);
                rest.extend_from_slice(&entries[i + 1..]);
                Some(rest.into())
            }
        };
        self.len -= 1;
        Some(score)
    }

    /// Splits bucket `split` between itself and a new last bucket, by the
    /// next bit of the hash.
    fn split_one(&mut self) {
        let at = self.split;
        let old = self.buckets.set(at, None);
        let (mut stay, mut go) = (Vec::new(), Vec::new());
        for e in old.as_deref().unwrap_or(&[]) {
            match self.hash(&e.0) as usize & self.base {
                0 => stay.push(e.clone()),
                _ => go.push(e.clone()),
            }
        }
        let bucket = |v: Vec<(Elem, f64)>| (!v.is_empty()).then(|| v.into());
        self.buckets.set(at, bucket(stay));
        self.buckets.push_back(bucket(go));
        self.split += 1;
        if self.split == self.base {
            self.base *= 2;
            self.split = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::HashMap;

    #[test]
    fn agrees_with_a_hash_map() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (mut s, mut m) = (Scores::default(), HashMap::new());
        for step in 0..50_000 {
            let k = format!("m{}", rng.gen_range(0..5000)).into_bytes();
            let score = f64::from(rng.gen_range(0..100));
            if rng.gen_bool(0.35) {
                assert_eq!(s.remove(&k), m.remove(&k));
            } else {
                let make = || Elem::from(&k[..]);
                assert_eq!(s.insert(&k, score, make), m.insert(k.clone(), score));
            }
            assert_eq!(s.len(), m.len());
            if step % 1000 == 0 {
                let copy = s.clone();
                let before: Vec<Option<f64>> = (0..5000)
                    .map(|i| copy.get(format!("m{i}").as_bytes()))
                    .collect();
                for i in 0..5000 {
                    let k = format!("m{i}").into_bytes();
                    assert_eq!(s.get(&k), m.get(&k).copied(), "m{i}");
                    s.insert(&k, -1.0, || Elem::from(&k[..]));
                }
                let after: Vec<Option<f64>> = (0..5000)
                    .map(|i| copy.get(format!("m{i}").as_bytes()))
                    .collect();
                assert_eq!(before, after, "a clone is not changed");
                s = copy;
            }
        }
    }
}
