//! The numbered databases (`SELECT 0`–`15`): one keyspace each.

use super::keyspace::{hex_lanes, Keyspace};

/// Number of databases, as Redis's default `databases 16`.
pub const DATABASES: usize = 16;

/// Every database's keyspace. `Clone` copies each one's shard pointers.
#[derive(Clone, Debug)]
pub struct Dbs {
    dbs: Vec<Keyspace>,
}

impl Default for Dbs {
    fn default() -> Self {
        Dbs::new()
    }
}

impl Dbs {
    /// Sixteen empty databases.
    pub fn new() -> Dbs {
        Dbs {
            dbs: (0..DATABASES).map(|_| Keyspace::new()).collect(),
        }
    }

    /// Database 0 holding `keyspace`, the others empty.
    pub fn with_db0(keyspace: Keyspace) -> Dbs {
        let mut dbs = Dbs::new();
        dbs.dbs[0] = keyspace;
        dbs
    }

    /// Database `index` (`index < DATABASES`).
    ///
    /// # Panics
    /// On an index out of range: callers check `SELECT`'s argument and the
    /// effect decoder checks logged ones.
    #[inline]
    pub fn db(&self, index: usize) -> &Keyspace {
        &self.dbs[index]
    }

    /// Database `index`, for a change.
    #[inline]
    pub fn db_mut(&mut self, index: usize) -> &mut Keyspace {
        &mut self.dbs[index]
    }

    /// Two different databases, for a change to both.
    pub fn pair_mut(&mut self, a: usize, b: usize) -> (&mut Keyspace, &mut Keyspace) {
        assert_ne!(a, b, "two different databases");
        if a < b {
            let (lo, hi) = self.dbs.split_at_mut(b);
            (&mut lo[a], &mut hi[0])
        } else {
            let (lo, hi) = self.dbs.split_at_mut(a);
            (&mut hi[0], &mut lo[b])
        }
    }

    /// Exchanges two databases' contents (`SWAPDB`).
    pub fn swap(&mut self, a: usize, b: usize) {
        self.dbs.swap(a, b);
    }

    /// Empties every database (`FLUSHALL`).
    pub fn clear(&mut self) {
        self.dbs.iter_mut().for_each(Keyspace::clear);
    }

    /// Keys in all databases, expired ones included.
    pub fn len(&self) -> usize {
        self.dbs.iter().map(Keyspace::len).sum()
    }

    /// True when every database is empty.
    pub fn is_empty(&self) -> bool {
        self.dbs.iter().all(Keyspace::is_empty)
    }

    /// `INFO keyspace`'s lines as Redis prints them,
    /// `dbN:keys=K,expires=E,avg_ttl=0`, for each database holding keys
    /// (the average time to live is not sampled).
    pub fn info_lines(&self) -> String {
        let mut s = String::new();
        for (i, ks) in self.iter().filter(|(_, ks)| !ks.is_empty()) {
            s.push_str(&format!(
                "db{i}:keys={},expires={},avg_ttl=0\r\n",
                ks.len(),
                ks.expires()
            ));
        }
        s
    }

    /// Each database with its number.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Keyspace)> + '_ {
        self.dbs.iter().enumerate()
    }

    /// A digest of every database's content (see [`Keyspace::digest`]):
    /// database 0's lanes as they are, each other database's hashed with its
    /// number first, so the same keys in another database digest otherwise.
    /// All zeros when every database is empty.
    pub fn digest(&self) -> String {
        use sha2::{Digest as _, Sha256};
        let mut lanes = self.dbs[0].digest_lanes();
        for (i, ks) in self.iter().skip(1).filter(|(_, ks)| !ks.is_empty()) {
            let mut h = Sha256::new();
            h.update((i as u64).to_le_bytes());
            for l in ks.digest_lanes() {
                h.update(l.to_le_bytes());
            }
            for (lane, chunk) in lanes.iter_mut().zip(h.finalize().chunks_exact(8)) {
                let v = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                *lane = lane.wrapping_add(v);
            }
        }
        hex_lanes(&lanes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_are_apart_and_digest_names_them() {
        let mut a = Dbs::new();
        assert_eq!(a.digest(), "0".repeat(64));
        a.db_mut(0).set(b"k", b"v", None);
        let only0 = a.digest();
        assert_eq!(
            only0,
            a.db(0).digest(),
            "database 0 alone digests as before"
        );
        let mut b = Dbs::new();
        b.db_mut(3).set(b"k", b"v", None);
        assert_ne!(
            b.digest(),
            only0,
            "the same key in another database differs"
        );
        b.swap(0, 3);
        assert_eq!(b.digest(), only0);
        assert_eq!(b.len(), 1);
        let (x, y) = b.pair_mut(5, 0);
        assert!(x.is_empty() && y.len() == 1);
        b.clear();
        assert!(b.is_empty());
    }
}
