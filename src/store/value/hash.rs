//! A hash: field → value.

use super::{elem, elem_heap_bytes, Elem};

/// Fields and their values. Clones in O(1); a write to a clone copies only
/// the path it touches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hash {
    map: imbl::HashMap<Elem, Elem>,
}

impl Hash {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when it has no fields.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.map.get(field).map(|v| &v[..])
    }

    /// Sets `field` to `value`; true when the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        self.map.insert(elem(field), elem(value)).is_none()
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        self.map.remove(field).is_some()
    }

    /// Every field and value, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.map.iter().map(|(f, v)| (&f[..], &v[..]))
    }

    /// Heap bytes, estimated.
    pub fn heap_bytes(&self) -> usize {
        self.iter()
            .map(|(f, v)| elem_heap_bytes(f) + elem_heap_bytes(v) + 40)
            .sum::<usize>()
    }
}
