//! A set: distinct members.

use super::{elem, elem_heap_bytes, Elem};

/// Distinct members. Clones in O(1); a write to a clone copies only the
/// path it touches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Set {
    members: imbl::HashSet<Elem>,
}

impl Set {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when it has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// True when `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        self.members.contains(member)
    }

    /// Adds `member`; true when it is new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if self.contains(member) {
            return false;
        }
        self.members.insert(elem(member));
        true
    }

    /// Removes `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        self.members.remove(member).is_some()
    }

    /// Every member, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.members.iter().map(|m| &m[..])
    }

    /// Heap bytes, estimated.
    pub fn heap_bytes(&self) -> usize {
        self.iter().map(|m| elem_heap_bytes(m) + 24).sum::<usize>()
    }
}
