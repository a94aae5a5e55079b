//! A list: a sequence of elements, pushed and popped at both ends.

use super::{elem, elem_heap_bytes, Elem};

/// A sequence. Clones in O(1); pushes and pops at the ends are O(1)
/// amortized, indexing O(log n).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct List {
    items: imbl::Vector<Elem>,
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
        self.items.len()
    }

    /// True when it has no elements.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Pushes `e` at `end`.
    pub fn push(&mut self, end: End, e: &[u8]) {
        match end {
            End::Left => self.items.push_front(elem(e)),
            End::Right => self.items.push_back(elem(e)),
        }
    }

    /// Pops the element at `end`.
    pub fn pop(&mut self, end: End) -> Option<Elem> {
        match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }
    }

    /// The element at `index` (0-based from the left).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.items.get(index).map(|e| &e[..])
    }

    /// Replaces the element at `index`; false when out of range.
    pub fn set(&mut self, index: usize, e: &[u8]) -> bool {
        if index >= self.items.len() {
            return false;
        }
        self.items.set(index, elem(e));
        true
    }

    /// Inserts `e` before position `index` (`index == len` appends).
    pub fn insert(&mut self, index: usize, e: &[u8]) {
        self.items.insert(index.min(self.items.len()), elem(e));
    }

    /// Removes the element at `index`.
    pub fn remove(&mut self, index: usize) -> Option<Elem> {
        (index < self.items.len()).then(|| self.items.remove(index))
    }

    /// Keeps only the elements at positions `start..end` (clamped).
    pub fn keep(&mut self, start: usize, end: usize) {
        let end = end.min(self.items.len());
        if start >= end {
            self.items.clear();
            return;
        }
        self.items.truncate(end);
        self.items = self.items.split_off(start);
    }

    /// Every element, left to right.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.items.iter().map(|e| &e[..])
    }

    /// The elements at positions `start..end` (clamped), left to right.
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let end = end.min(self.items.len());
        let start = start.min(end);
        self.items
            .focus()
            .narrow(start..end)
            .into_iter()
            .map(|e| &e[..])
    }

    /// Heap bytes, estimated.
    pub fn heap_bytes(&self) -> usize {
        self.iter().map(|e| elem_heap_bytes(e) + 16).sum::<usize>()
    }
}
