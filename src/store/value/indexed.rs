//! A persistent map whose entries can also be reached by position: the keys
//! in a vector, each key's position and value in a hash map. Large sets and
//! hashes use it, so that `SPOP`, `SRANDMEMBER` and `HRANDFIELD` pick an
//! entry in O(log n) rather than walking the collection. Removing an entry
//! moves the last one into its place.

use super::{elem, Elem};

/// Keys with values, each also at a position `0..len`.
#[derive(Clone, Debug, PartialEq)]
pub struct Indexed<V: Clone> {
    keys: imbl::Vector<Elem>,
    map: imbl::HashMap<Elem, (u32, V)>,
}

impl<V: Clone> Default for Indexed<V> {
    fn default() -> Self {
        Indexed {
            keys: imbl::Vector::new(),
            map: imbl::HashMap::new(),
        }
    }
}

impl<V: Clone> Indexed<V> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when it has none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.map.get(key).map(|(_, v)| v)
    }

    /// Sets `key` to `value`; true when the key is new.
    pub fn insert(&mut self, key: &[u8], value: V) -> bool {
        if let Some((_, v)) = self.map.get_mut(key) {
            *v = value;
            return false;
        }
        let k = elem(key);
        let at = u32::try_from(self.keys.len()).expect("fewer than 2^32 entries");
        self.keys.push_back(k.clone());
        self.map.insert(k, (at, value));
        true
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        let (at, v) = self.map.remove(key)?;
        let last = self.keys.pop_back().expect("a key was there");
        if (at as usize) < self.keys.len() {
            // The last key takes the removed one's place.
            if let Some(entry) = self.map.get_mut(&last[..]) {
                entry.0 = at;
            }
            self.keys.set(at as usize, last);
        }
        Some(v)
    }

    /// The entry at position `index`.
    pub fn nth(&self, index: usize) -> Option<(&[u8], &V)> {
        let k = self.keys.get(index)?;
        let (_, v) = self.map.get(&k[..])?;
        Some((&k[..], v))
    }

    /// Every entry, in position order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        self.keys
            .iter()
            .filter_map(|k| self.map.get(&k[..]).map(|(_, v)| (&k[..], v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_stay_dense_through_removals() {
        let mut m: Indexed<u8> = Indexed::default();
        for i in 0..10u8 {
            assert!(m.insert(&[i], i));
        }
        assert!(!m.insert(&[3], 33));
        assert_eq!(m.get(&[3]), Some(&33));
        let before = m.clone();
        assert_eq!(m.remove(&[0]), Some(0));
        assert_eq!(m.remove(&[9]), Some(9));
        assert_eq!(m.remove(&[42]), None);
        assert_eq!(m.len(), 8);
        let mut seen: Vec<u8> = (0..m.len()).map(|i| m.nth(i).unwrap().0[0]).collect();
        seen.sort_unstable();
        assert_eq!(seen, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(m.nth(8).is_none());
        assert_eq!(m.iter().count(), 8);
        assert_eq!(before.len(), 10, "a clone is untouched");
        for k in 1..9u8 {
            assert!(m.remove(&[k]).is_some());
        }
        assert!(m.is_empty());
    }
}
