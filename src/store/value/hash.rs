//! A hash: field → value.
//!
//! Up to [`MAX_ENTRIES`] fields whose names and values are at most
//! [`MAX_ENTRY_BYTES`] bytes live packed in one allocation, field then
//! value (as Redis keeps small hashes in a listpack); past either limit the
//! hash turns into an indexed persistent map (O(1) clone, O(log n) lookup
//! and random pick) and stays one.

use super::indexed::Indexed;
use super::packed::{Packed, MAX_ENTRIES, MAX_ENTRY_BYTES};
use super::{elem, elem_heap_bytes, Elem};

/// Fields and their values.
#[derive(Clone, Debug, PartialEq)]
pub struct Hash {
    repr: Repr,
}

#[derive(Clone, Debug, PartialEq)]
enum Repr {
    /// Fields at even positions, each followed by its value.
    Small(Packed),
    /// Boxed: an item holding a small collection stays small.
    Large(Box<Indexed<Elem>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash {
            repr: Repr::Small(Packed::default()),
        }
    }
}

impl Hash {
    /// Number of fields.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small(p) => p.len() / 2,
            Repr::Large(m) => m.len(),
        }
    }

    /// True when it has no fields.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True while the hash is packed (`OBJECT ENCODING` says `listpack`).
    pub fn is_compact(&self) -> bool {
        matches!(self.repr, Repr::Small(_))
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Small(p) => p.find(field, 0, 2).and_then(|at| p.get(at + 1)),
            Repr::Large(m) => m.get(field).map(|v| &v[..]),
        }
    }

    /// Sets `field` to `value`; true when the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Repr::Small(p) = &mut self.repr {
            let fits = field.len() <= MAX_ENTRY_BYTES && value.len() <= MAX_ENTRY_BYTES;
            match p.find(field, 0, 2) {
                Some(at) if fits => {
                    p.set(at + 1, value);
                    return false;
                }
                None if fits && p.len() / 2 < MAX_ENTRIES => {
                    p.push(field);
                    p.push(value);
                    return true;
                }
                _ => {
                    let mut m = Indexed::default();
                    let mut it = p.iter();
                    while let (Some(f), Some(v)) = (it.next(), it.next()) {
                        m.insert(f, elem(v));
                    }
                    self.repr = Repr::Large(Box::new(m));
                }
            }
        }
        match &mut self.repr {
            Repr::Large(m) => m.insert(field, elem(value)),
            Repr::Small(_) => unreachable!("turned large above"),
        }
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Small(p) => match p.find(field, 0, 2) {
                Some(at) => {
                    p.remove(at, 2);
                    true
                }
                None => false,
            },
            Repr::Large(m) => m.remove(field).is_some(),
        }
    }

    /// The field and value at position `index` (positions are `0..len`, in
    /// no particular order): a random pick is `nth` of a random index.
    pub fn nth(&self, index: usize) -> Option<(&[u8], &[u8])> {
        match &self.repr {
            Repr::Small(p) => Some((p.get(2 * index)?, p.get(2 * index + 1)?)),
            Repr::Large(m) => m.nth(index).map(|(f, v)| (f, &v[..])),
        }
    }

    /// Every field and value, in no particular order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match &self.repr {
            Repr::Small(p) => {
                let mut it = p.iter();
                Box::new(std::iter::from_fn(move || Some((it.next()?, it.next()?))))
            }
            Repr::Large(m) => Box::new(m.iter().map(|(f, v)| (f, &v[..]))),
        }
    }

    /// Heap bytes, estimated.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Small(p) => p.heap_bytes(),
            Repr::Large(m) => m
                .iter()
                .map(|(f, v)| elem_heap_bytes(f) + elem_heap_bytes(v) + 56)
                .sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_hashes_turn_large_and_keep_their_fields() {
        for long_value in [false, true] {
            let mut h = Hash::default();
            for i in 0..10u32 {
                assert!(h.insert(format!("f{i}").as_bytes(), b"v"));
            }
            assert!(!h.insert(b"f3", b"three"));
            assert!(h.is_compact());
            assert_eq!(h.get(b"f3"), Some(&b"three"[..]));
            assert_eq!(h.get(b"v"), None, "values are not fields");
            if long_value {
                assert!(!h.insert(b"f4", &[b'x'; 65]));
            } else {
                for i in 10..200u32 {
                    h.insert(format!("f{i}").as_bytes(), b"v");
                }
            }
            assert!(!h.is_compact());
            assert_eq!(h.get(b"f3"), Some(&b"three"[..]));
            assert!(h.remove(b"f0") && !h.remove(b"f0"));
            let n = h.len();
            assert_eq!(h.iter().count(), n);
            let mut fields: Vec<&[u8]> = (0..n).map(|i| h.nth(i).unwrap().0).collect();
            fields.sort_unstable();
            fields.dedup();
            assert_eq!(fields.len(), n);
        }
        let mut s = Hash::default();
        s.insert(b"a", b"1");
        s.insert(b"b", b"2");
        assert!(s.remove(b"a"));
        assert_eq!(s.iter().collect::<Vec<_>>(), [(&b"b"[..], &b"2"[..])]);
        assert_eq!(s.nth(0), Some((&b"b"[..], &b"2"[..])));
    }
}
