//! A set: distinct members.
//!
//! Up to [`MAX_ENTRIES`] members of at most [`MAX_ENTRY_BYTES`] bytes live
//! packed in one allocation (as Redis keeps small sets in a listpack or an
//! intset); past either limit the set turns into an indexed persistent map
//! (O(1) clone, O(log n) membership and random pick) and stays one.

use super::elem_heap_bytes;
use super::indexed::Indexed;
use super::packed::{Packed, MAX_ENTRIES, MAX_ENTRY_BYTES};

/// Distinct members.
#[derive(Clone, Debug, PartialEq)]
pub struct Set {
    repr: Repr,
}

#[derive(Clone, Debug, PartialEq)]
enum Repr {
    Small(Packed),
    /// Boxed: an item holding a small collection stays small.
    Large(Box<Indexed<()>>),
}

impl Default for Set {
    fn default() -> Self {
        Set {
            repr: Repr::Small(Packed::default()),
        }
    }
}

impl Set {
    /// Number of members.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small(p) => p.len(),
            Repr::Large(m) => m.len(),
        }
    }

    /// True when it has no members.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True while the set is packed (`OBJECT ENCODING` says `listpack`).
    pub fn is_compact(&self) -> bool {
        matches!(self.repr, Repr::Small(_))
    }

    /// True when `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Small(p) => p.find(member, 0, 1).is_some(),
            Repr::Large(m) => m.get(member).is_some(),
        }
    }

    /// Adds `member`; true when it is new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if self.contains(member) {
            return false;
        }
        if let Repr::Small(p) = &mut self.repr {
            if p.len() < MAX_ENTRIES && member.len() <= MAX_ENTRY_BYTES {
                p.push(member);
                return true;
            }
            let mut m = Indexed::default();
            for x in p.iter() {
                m.insert(x, ());
            }
            self.repr = Repr::Large(Box::new(m));
        }
        match &mut self.repr {
            Repr::Large(m) => m.insert(member, ()),
            Repr::Small(_) => unreachable!("turned large above"),
        }
    }

    /// Removes `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Small(p) => match p.find(member, 0, 1) {
                Some(at) => {
                    p.remove(at, 1);
                    true
                }
                None => false,
            },
            Repr::Large(m) => m.remove(member).is_some(),
        }
    }

    /// The member at position `index` (positions are `0..len`, in no
    /// particular order): a random pick is `nth` of a random index.
    pub fn nth(&self, index: usize) -> Option<&[u8]> {
        match &self.repr {
            Repr::Small(p) => p.get(index),
            Repr::Large(m) => m.nth(index).map(|(k, _)| k),
        }
    }

    /// Every member, in no particular order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match &self.repr {
            Repr::Small(p) => Box::new(p.iter()),
            Repr::Large(m) => Box::new(m.iter().map(|(k, _)| k)),
        }
    }

    /// Heap bytes, estimated.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Small(p) => p.heap_bytes(),
            Repr::Large(m) => m.iter().map(|(k, _)| elem_heap_bytes(k) + 48).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sets_turn_large_and_keep_their_members() {
        let mut s = Set::default();
        for i in 0..300u32 {
            assert!(s.insert(format!("m{i}").as_bytes()));
            assert!(!s.insert(format!("m{i}").as_bytes()));
            if i == 100 {
                assert!(s.is_compact());
            }
        }
        assert!(!s.is_compact());
        assert_eq!(s.len(), 300);
        assert!(s.contains(b"m299") && !s.contains(b"m300"));
        assert!(s.remove(b"m7") && !s.remove(b"m7"));
        let mut all: Vec<&[u8]> = (0..s.len()).map(|i| s.nth(i).unwrap()).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 299);
        assert_eq!(s.iter().count(), 299);
        let mut t = Set::default();
        t.insert(&[b'x'; 65]);
        assert!(!t.is_compact(), "a long member turns it large");
        assert!(t.contains(&[b'x'; 65]));
    }
}
