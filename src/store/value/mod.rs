//! The values a key can hold besides a string: hashes, lists, sets and sorted
//! sets.
//!
//! | module    | owns                                                    |
//! |-----------|---------------------------------------------------------|
//! | `hash`    | [`Hash`]: field → value                                  |
//! | `list`    | [`List`]: a sequence, pushed and popped at both ends     |
//! | `set`     | [`Set`]: distinct members                                |
//! | `zset`    | [`ZSet`]: members ordered by score, then by bytes        |
//! | `packed`  | [`packed::Packed`]: small collections in one allocation  |
//! | `indexed` | [`indexed::Indexed`]: a persistent map whose entries have positions (random picks) |
//! | `zpack`   | the compact encoding of a small sorted set               |
//! | `zhash`   | the member → score map of a large sorted set (linear hashing) |
//! | `ztree`   | the persistent B-tree that orders a large sorted set, counting entries for ranks |
//!
//! Every collection clones in O(1) or O(entries of a small one) and a write
//! to a clone copies only the part it touches (persistent structures), so a
//! checkpoint's picture of the keyspace never costs a writer a whole copy of
//! a large collection.

pub mod hash;
pub mod indexed;
pub mod list;
pub mod packed;
pub mod set;
pub mod zhash;
pub mod zpack;
pub mod zset;
pub mod ztree;

pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use zset::ZSet;

use std::sync::Arc;

/// One element of a collection (a field, a value, a member): shared bytes,
/// so that copying a structure's node copies pointers, not the bytes.
pub type Elem = Arc<[u8]>;

/// An element holding a copy of `bytes`.
pub fn elem(bytes: &[u8]) -> Elem {
    Arc::from(bytes)
}

/// The type of a key's value, as `TYPE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    String,
    Hash,
    List,
    Set,
    ZSet,
}

impl Kind {
    /// The name `TYPE` replies with.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Hash => "hash",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
        }
    }

    /// The type byte of snapshot items (`wal-format.md` § Snapshot files).
    pub fn code(self) -> u8 {
        match self {
            Kind::String => 0,
            Kind::Hash => 1,
            Kind::List => 2,
            Kind::Set => 3,
            Kind::ZSet => 4,
        }
    }

    /// The kind of a snapshot type byte.
    pub fn from_code(code: u8) -> Option<Kind> {
        Some(match code {
            0 => Kind::String,
            1 => Kind::Hash,
            2 => Kind::List,
            3 => Kind::Set,
            4 => Kind::ZSet,
            _ => return None,
        })
    }
}

/// A collection value.
#[derive(Clone, Debug, PartialEq)]
pub enum Coll {
    Hash(Hash),
    List(List),
    Set(Set),
    ZSet(ZSet),
}

impl Coll {
    /// An empty collection of `kind` (`None` for strings).
    pub fn empty(kind: Kind) -> Option<Coll> {
        Some(match kind {
            Kind::String => return None,
            Kind::Hash => Coll::Hash(Hash::default()),
            Kind::List => Coll::List(List::default()),
            Kind::Set => Coll::Set(Set::default()),
            Kind::ZSet => Coll::ZSet(ZSet::default()),
        })
    }

    /// Its type.
    pub fn kind(&self) -> Kind {
        match self {
            Coll::Hash(_) => Kind::Hash,
            Coll::List(_) => Kind::List,
            Coll::Set(_) => Kind::Set,
            Coll::ZSet(_) => Kind::ZSet,
        }
    }

    /// Number of entries (fields, elements, members).
    pub fn len(&self) -> usize {
        match self {
            Coll::Hash(h) => h.len(),
            Coll::List(l) => l.len(),
            Coll::Set(s) => s.len(),
            Coll::ZSet(z) => z.len(),
        }
    }

    /// True when it holds nothing (a key never holds an empty collection:
    /// the write that empties it removes the key).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes it occupies, estimated (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Coll::Hash(h) => h.heap_bytes(),
            Coll::List(l) => l.heap_bytes(),
            Coll::Set(s) => s.heap_bytes(),
            Coll::ZSet(z) => z.heap_bytes(),
        }
    }

    /// Feeds its content, in an order that depends on content only, to
    /// `feed` (for the keyspace digest): each entry as one call with its
    /// byte strings. Unordered types are fed in sorted order.
    pub fn for_each_canonical(&self, feed: &mut dyn FnMut(&[&[u8]])) {
        match self {
            Coll::Hash(h) => {
                let mut v: Vec<(&[u8], &[u8])> = h.iter().collect();
                v.sort_unstable();
                v.into_iter().for_each(|(f, x)| feed(&[f, x]));
            }
            Coll::List(l) => l.iter().for_each(|e| feed(&[e])),
            Coll::Set(s) => {
                let mut v: Vec<&[u8]> = s.iter().collect();
                v.sort_unstable();
                v.into_iter().for_each(|m| feed(&[m]));
            }
            Coll::ZSet(z) => z
                .iter()
                .for_each(|(m, score)| feed(&[m, &score.to_bits().to_le_bytes()])),
        }
    }
}

/// Bytes an element takes on the heap: its bytes, the reference counts and
/// the allocator's rounding, roughly.
pub(crate) fn elem_heap_bytes(e: &[u8]) -> usize {
    (e.len() + 16).next_multiple_of(16)
}
