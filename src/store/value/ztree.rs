//! The order of a large sorted set: a persistent B-tree of entries that
//! counts the entries under each child, so that finding by rank, inserting
//! and removing at a rank are O(log n) whatever the position (a persistent
//! vector's insertion in the middle splits and concatenates trees, which
//! measured ~150 µs per member at 1.7M members; this is a path copy).
//!
//! Clones in O(1) (the root is shared); a write copies only the nodes on
//! its path that are shared. Nodes emptied by removals go away; nodes left
//! small by removals are not merged.

use std::sync::Arc;

/// Most entries in a leaf and children in a branch; one more splits it.
const MAX_FANOUT: usize = 64;

#[derive(Clone, Debug)]
struct Child<T> {
    /// Entries under `node`.
    len: usize,
    node: Arc<Node<T>>,
}

#[derive(Clone, Debug)]
enum Node<T> {
    Leaf(Vec<T>),
    /// Never empty; no child is empty.
    Branch(Vec<Child<T>>),
}

/// Entries in order, addressed by rank.
#[derive(Clone, Debug)]
pub struct Tree<T> {
    root: Arc<Node<T>>,
    len: usize,
}

impl<T> Default for Tree<T> {
    fn default() -> Self {
        Tree {
            root: Arc::new(Node::Leaf(Vec::new())),
            len: 0,
        }
    }
}

/// The child of `children` holding rank `i` (the last one for `i == len`),
/// and the rank inside it.
fn child_at<T>(children: &[Child<T>], mut i: usize) -> (usize, usize) {
    for (k, c) in children.iter().enumerate() {
        if i < c.len || k + 1 == children.len() {
            return (k, i);
        }
        i -= c.len;
    }
    unreachable!("a branch has children")
}

/// Makes room for one more item, and no more: a node's spare capacity would
/// be most of a large set's memory otherwise (a `Vec` doubles; a capacity
/// of [`MAX_FANOUT`] + 1 from the start left the leaves of a 10M-member set
/// half empty). Growing by one reallocates in place while the allocator's
/// size class has room, which is most of the time.
fn reserve_one<X>(v: &mut Vec<X>) {
    if v.len() == v.capacity() {
        v.reserve_exact(1);
    }
}

/// Moves the upper half of a full node's items to a new node's, leaving
/// each node no more capacity than it holds.
fn split_half<X>(v: &mut Vec<X>) -> Vec<X> {
    let at = v.len() / 2;
    let mut right = Vec::with_capacity(v.len() - at);
    right.extend(v.drain(at..));
    v.shrink_to_fit();
    right
}

impl<T: Clone> Tree<T> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entry at rank `i`.
    pub fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        let (mut node, mut i) = (&*self.root, i);
        loop {
            match node {
                Node::Leaf(v) => return v.get(i),
                Node::Branch(cs) => {
                    let (k, sub) = child_at(cs, i);
                    (node, i) = (&cs[k].node, sub);
                }
            }
        }
    }

    /// The last entry under `node`.
    fn last(mut node: &Node<T>) -> Option<&T> {
        loop {
            match node {
                Node::Leaf(v) => return v.last(),
                Node::Branch(cs) => node = &cs.last()?.node,
            }
        }
    }

    /// The number of leading entries passing `pred` (which passes a prefix
    /// of the order and fails the rest).
    pub fn partition_point(&self, pred: impl Fn(&T) -> bool) -> usize {
        let (mut node, mut before) = (&*self.root, 0);
        loop {
            match node {
                Node::Leaf(v) => return before + v.partition_point(&pred),
                Node::Branch(cs) => {
                    let k = cs.partition_point(|c| Self::last(&c.node).is_some_and(&pred));
                    before += cs[..k].iter().map(|c| c.len).sum::<usize>();
                    match cs.get(k) {
                        Some(c) => node = &c.node,
                        None => return before,
                    }
                }
            }
        }
    }

    /// Inserts `value` at rank `i` (at most `len`).
    pub fn insert(&mut self, i: usize, value: T) {
        assert!(i <= self.len, "insert at rank {i} of {}", self.len);
        if let Some(right) = Self::insert_in(&mut self.root, i, value) {
            let left = Child {
                len: self.len + 1 - right.len,
                node: self.root.clone(),
            };
            self.root = Arc::new(Node::Branch(vec![left, right]));
        }
        self.len += 1;
    }

    /// Inserts under `node`; the right half when it split.
    fn insert_in(node: &mut Arc<Node<T>>, i: usize, value: T) -> Option<Child<T>> {
        match Arc::make_mut(node) {
            Node::Leaf(v) => {
                reserve_one(v);
                v.insert(i, value);
                if v.len() <= MAX_FANOUT {
                    return None;
                }
                let right = split_half(v);
                Some(Child {
                    len: right.len(),
                    node: Arc::new(Node::Leaf(right)),
                })
            }
            Node::Branch(cs) => {
                let (k, sub) = child_at(cs, i);
                cs[k].len += 1;
                if let Some(split) = Self::insert_in(&mut cs[k].node, sub, value) {
                    cs[k].len -= split.len;
                    reserve_one(cs);
                    cs.insert(k + 1, split);
                }
                if cs.len() <= MAX_FANOUT {
                    return None;
                }
                let right = split_half(cs);
                Some(Child {
                    len: right.iter().map(|c| c.len).sum(),
                    node: Arc::new(Node::Branch(right)),
                })
            }
        }
    }

    /// Removes and returns the entry at rank `i`.
    pub fn remove(&mut self, i: usize) -> Option<T> {
        if i >= self.len {
            return None;
        }
        let value = Self::remove_in(&mut self.root, i);
        self.len -= 1;
        // A root with one child gives way to it.
        while let Node::Branch(cs) = &*self.root {
            if cs.len() != 1 {
                break;
            }
            self.root = cs[0].node.clone();
        }
        Some(value)
    }

    fn remove_in(node: &mut Arc<Node<T>>, i: usize) -> T {
        match Arc::make_mut(node) {
            Node::Leaf(v) => v.remove(i),
            Node::Branch(cs) => {
                let (k, sub) = child_at(cs, i);
                let value = Self::remove_in(&mut cs[k].node, sub);
                cs[k].len -= 1;
                if cs[k].len == 0 {
                    cs.remove(k);
                }
                value
            }
        }
    }

    /// The leaf slices holding ranks `start..end`, in order.
    pub fn slices(&self, start: usize, end: usize) -> Vec<&[T]> {
        let mut out = Vec::new();
        let end = end.min(self.len);
        if start < end {
            Self::slices_in(&self.root, start, end, &mut out);
        }
        out
    }

    fn slices_in<'a>(node: &'a Node<T>, start: usize, end: usize, out: &mut Vec<&'a [T]>) {
        match node {
            Node::Leaf(v) => out.push(&v[start..end]),
            Node::Branch(cs) => {
                let mut at = 0;
                for c in cs {
                    let (lo, hi) = (at, at + c.len);
                    if hi > start && lo < end {
                        Self::slices_in(&c.node, start.max(lo) - lo, end.min(hi) - lo, out);
                    }
                    at = hi;
                    if at >= end {
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn agrees_with_a_vec() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let (mut t, mut v) = (Tree::default(), Vec::new());
        for step in 0..20_000 {
            if v.is_empty() || rng.gen_bool(0.6) {
                let i = rng.gen_range(0..=v.len());
                t.insert(i, step);
                v.insert(i, step);
            } else {
                let i = rng.gen_range(0..v.len());
                assert_eq!(t.remove(i), Some(v.remove(i)));
            }
            assert_eq!(t.len(), v.len());
            if step % 97 == 0 {
                let copy = t.clone();
                let all: Vec<i32> = t.slices(0, usize::MAX).concat();
                assert_eq!(all, v);
                let (a, b) = (rng.gen_range(0..=v.len()), rng.gen_range(0..=v.len()));
                let part: Vec<i32> = t.slices(a, b).concat();
                assert_eq!(part, v[a.min(b)..b.max(a.min(b))].to_vec());
                for _ in 0..10 {
                    let i = rng.gen_range(0..v.len() + 1);
                    assert_eq!(t.get(i), v.get(i));
                }
                t.insert(0, -1);
                assert_eq!(copy.len(), v.len(), "a clone is not changed");
                t.remove(0);
            }
        }
        let mut sorted = Tree::default();
        for x in 0..5000 {
            sorted.insert(x, x * 2);
        }
        for probe in [0, 1, 2, 4999, 5000, 9998, 9999, 20000] {
            let want = (0..5000).filter(|x| x * 2 < probe).count();
            assert_eq!(sorted.partition_point(|x| *x < probe), want, "{probe}");
        }
    }
}
