//! A list: a sequence of elements, pushed and popped at both ends.
//!
//! Up to [`MAX_ENTRIES`] elements of at most [`MAX_ENTRY_BYTES`] bytes live
//! packed in one allocation (as Redis keeps small lists in a listpack); past
//! either limit the list turns into a persistent vector (clones in O(1),
//! pushes and pops at the ends O(1) amortized, indexing O(log n)) and stays
//! one.

use super::packed::{Packed, MAX_ENTRIES, MAX_ENTRY_BYTES};
use super::{elem, elem_heap_bytes, Elem};

/// A sequence of elements.
#[derive(Clone, Debug, PartialEq)]
pub struct List {
    repr: Repr,
}

#[derive(Clone, Debug, PartialEq)]
enum Repr {
    Small(Packed),
    /// Boxed: an item holding a small collection stays small.
    Large(Box<imbl::Vector<Elem>>),
}

impl Default for List {
    fn default() -> Self {
        List {
            repr: Repr::Small(Packed::default()),
        }
    }
}

/// An end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl List {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small(p) => p.len(),
            Repr::Large(v) => v.len(),
        }
    }

    /// True when it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True while the list is packed (`OBJECT ENCODING` says `listpack`).
    pub fn is_compact(&self) -> bool {
        matches!(self.repr, Repr::Small(_))
    }

    /// The packed form, when `adding` more elements (the longest `longest`
    /// bytes) still fit it; the list turns large otherwise.
    fn small_for(&mut self, adding: usize, longest: usize) -> Option<&mut Packed> {
        if let Repr::Small(p) = &self.repr {
            if p.len() + adding <= MAX_ENTRIES && longest <= MAX_ENTRY_BYTES {
                let Repr::Small(p) = &mut self.repr else {
                    unreachable!("checked just above")
                };
                return Some(p);
            }
            let v: imbl::Vector<Elem> = p.iter().map(elem).collect();
            self.repr = Repr::Large(Box::new(v));
        }
        None
    }

    fn large(&mut self) -> &mut imbl::Vector<Elem> {
        match &mut self.repr {
            Repr::Large(v) => v,
            Repr::Small(_) => unreachable!("small_for turned it large"),
        }
    }

    /// Pushes `e` at `end`.
    pub fn push(&mut self, end: End, e: &[u8]) {
        if let Some(p) = self.small_for(1, e.len()) {
            match end {
                End::Left => p.insert(0, e),
                End::Right => p.push(e),
            }
            return;
        }
        let v = self.large();
        match end {
            End::Left => v.push_front(elem(e)),
            End::Right => v.push_back(elem(e)),
        }
    }

    /// Pops the element at `end`.
    pub fn pop(&mut self, end: End) -> Option<Elem> {
        match &mut self.repr {
            Repr::Small(p) => {
                let at = match end {
                    End::Left => 0,
                    End::Right => p.len().checked_sub(1)?,
                };
                let e = elem(p.get(at)?);
                p.remove(at, 1);
                Some(e)
            }
            Repr::Large(v) => match end {
                End::Left => v.pop_front(),
                End::Right => v.pop_back(),
            },
        }
    }

    /// The element at `index` (0-based from the left).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        match &self.repr {
            Repr::Small(p) => p.get(index),
            Repr::Large(v) => v.get(index).map(|e| &e[..]),
        }
    }

    /// Replaces the element at `index`; false when out of range.
    pub fn set(&mut self, index: usize, e: &[u8]) -> bool {
        if index >= self.len() {
            return false;
        }
        if let Some(p) = self.small_for(0, e.len()) {
            return p.set(index, e);
        }
        self.large().set(index, elem(e));
        true
    }

    /// Inserts `e` before position `index` (`index == len` appends).
    pub fn insert(&mut self, index: usize, e: &[u8]) {
        let index = index.min(self.len());
        if let Some(p) = self.small_for(1, e.len()) {
            return p.insert(index, e);
        }
        self.large().insert(index, elem(e));
    }

    /// Removes the element at `index`.
    pub fn remove(&mut self, index: usize) -> Option<Elem> {
        if index >= self.len() {
            return None;
        }
        match &mut self.repr {
            Repr::Small(p) => {
                let e = elem(p.get(index)?);
                p.remove(index, 1);
                Some(e)
            }
            Repr::Large(v) => Some(v.remove(index)),
        }
    }

    /// Keeps only the elements at positions `start..end` (clamped).
    pub fn keep(&mut self, start: usize, end: usize) {
        match &mut self.repr {
            Repr::Small(p) => p.keep(start, end),
            Repr::Large(v) => {
                let end = end.min(v.len());
                if start >= end {
                    v.clear();
                    return;
                }
                v.truncate(end);
                **v = v.split_off(start);
            }
        }
    }

    /// Every element, left to right.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.range(0, usize::MAX)
    }

    /// The elements at positions `start..end` (clamped), left to right.
    pub fn range(&self, start: usize, end: usize) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        let end = end.min(self.len());
        let start = start.min(end);
        match &self.repr {
            // At most MAX_ENTRIES: collecting them costs less than walking a
            // packed buffer backwards.
            Repr::Small(p) => Iter::Small(
                p.iter()
                    .skip(start)
                    .take(end - start)
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            Repr::Large(v) => Iter::Large(v.focus().narrow(start..end).into_iter()),
        }
    }

    /// Heap bytes, estimated.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Small(p) => p.heap_bytes(),
            Repr::Large(v) => v.iter().map(|e| elem_heap_bytes(e) + 16).sum(),
        }
    }
}

/// The elements of a [`List`] range.
enum Iter<'a> {
    Small(std::vec::IntoIter<&'a [u8]>),
    Large(imbl::vector::Iter<'a, Elem, imbl::shared_ptr::DefaultSharedPtr>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Iter::Small(s) => s.next(),
            Iter::Large(l) => l.next().map(|e| &e[..]),
        }
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Small(s) => s.next_back(),
            Iter::Large(l) => l.next_back().map(|e| &e[..]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(l: &List) -> Vec<String> {
        l.iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    #[test]
    fn small_and_large_lists_behave_alike() {
        for long in [false, true] {
            let mut l = List::default();
            for i in 0..200 {
                l.push(End::Right, format!("{i}").as_bytes());
            }
            if long {
                l.push(End::Left, &[b'x'; 100]);
                l.pop(End::Left);
            }
            assert!(!l.is_compact(), "200 elements are past the packed limit");
            let mut s = List::default();
            for i in (0..5).rev() {
                s.push(End::Left, format!("{i}").as_bytes());
            }
            assert!(s.is_compact());
            assert_eq!(items(&s), ["0", "1", "2", "3", "4"]);
            assert_eq!(s.pop(End::Right).as_deref(), Some(&b"4"[..]));
            assert!(s.set(0, b"zero"));
            s.insert(1, b"half");
            assert_eq!(s.remove(2).as_deref(), Some(&b"1"[..]));
            assert_eq!(items(&s), ["zero", "half", "2", "3"]);
            assert_eq!(
                s.range(1, 3).rev().collect::<Vec<_>>(),
                [&b"2"[..], b"half"]
            );
            s.keep(1, 3);
            assert_eq!(items(&s), ["half", "2"]);
            s.push(End::Right, &[b'y'; 65]);
            assert!(!s.is_compact(), "a long element turns it large");
            assert_eq!(s.len(), 3);
            assert_eq!(s.get(2).map(<[u8]>::len), Some(65));
            assert_eq!(l.range(198, 500).collect::<Vec<_>>(), [&b"198"[..], b"199"]);
            assert_eq!(l.iter().next_back(), Some(&b"199"[..]));
            l.keep(10, 12);
            assert_eq!(items(&l), ["10", "11"]);
        }
    }
}
