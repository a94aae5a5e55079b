//! One key with its value and expiry.
//!
//! A string item — the most common — is packed into a single shared
//! allocation. A keyspace holds millions of these, so it is one handle
//! (`Arc<[u8]>`, 16 bytes) to one heap block:
//!
//! | offset | size | field                                            |
//! |-------:|-----:|--------------------------------------------------|
//! | 0      | 8    | expiry, Unix milliseconds, little-endian; 0 = none |
//! | 8      | 4    | key length `k`, little-endian                     |
//! | 12     | k    | key                                               |
//! | 12 + k | rest | value                                             |
//!
//! A collection item (hash, list, set, sorted set) is one shared block
//! holding the key, the expiry and the collection ([`CollItem`]).
//!
//! Cloning an item is a reference-count increment, which is what makes the
//! copy-on-write keyspace cheap to snapshot.

use super::value::{Coll, Kind};
use std::sync::Arc;

const EXPIRE_BYTES: usize = 8;
const KEY_LEN_BYTES: usize = 4;
/// Bytes in front of the key.
pub const ITEM_HEADER_BYTES: usize = EXPIRE_BYTES + KEY_LEN_BYTES;

/// Largest key length an item can hold (the key length field is a u32).
pub const MAX_KEY_BYTES: usize = u32::MAX as usize;

/// A key, its value and its expiry time.
#[derive(Clone, PartialEq)]
pub enum Item {
    /// A string, packed.
    Str(StrItem),
    /// A collection.
    Coll(Arc<CollItem>),
}

/// A collection under a key, with its expiry.
#[derive(Clone, Debug, PartialEq)]
pub struct CollItem {
    key: Box<[u8]>,
    /// Unix ms; 0 = none.
    expire: u64,
    /// The collection (never empty while in a keyspace).
    pub value: Coll,
}

impl CollItem {
    /// A collection item.
    pub fn new(key: &[u8], value: Coll, expire_at_unix_ms: Option<u64>) -> CollItem {
        CollItem {
            key: key.into(),
            expire: expire_at_unix_ms.map_or(0, |t| t.max(1)),
            value,
        }
    }
}

impl Item {
    /// Packs a string item (see [`StrItem::new`]).
    pub fn new(key: &[u8], value: &[u8], expire_at_unix_ms: Option<u64>) -> Item {
        Item::Str(StrItem::new(key, value, expire_at_unix_ms))
    }

    /// A collection item.
    pub fn coll(key: &[u8], value: Coll, expire_at_unix_ms: Option<u64>) -> Item {
        Item::Coll(Arc::new(CollItem::new(key, value, expire_at_unix_ms)))
    }

    /// The key.
    #[inline]
    pub fn key(&self) -> &[u8] {
        match self {
            Item::Str(s) => s.key(),
            Item::Coll(c) => &c.key,
        }
    }

    /// The type of the value.
    #[inline]
    pub fn kind(&self) -> Kind {
        match self {
            Item::Str(_) => Kind::String,
            Item::Coll(c) => c.value.kind(),
        }
    }

    /// The string value, or `None` for a collection.
    #[inline]
    pub fn as_str(&self) -> Option<&[u8]> {
        match self {
            Item::Str(s) => Some(s.value()),
            Item::Coll(_) => None,
        }
    }

    /// The collection, or `None` for a string.
    #[inline]
    pub fn as_coll(&self) -> Option<&Coll> {
        match self {
            Item::Str(_) => None,
            Item::Coll(c) => Some(&c.value),
        }
    }

    /// The expiry time (absolute, Unix ms), if any.
    #[inline]
    pub fn expire_at_unix_ms(&self) -> Option<u64> {
        match self {
            Item::Str(s) => s.expire_at_unix_ms(),
            Item::Coll(c) => (c.expire != 0).then_some(c.expire),
        }
    }

    /// True when the item has an expiry at or before `now_unix_ms`.
    #[inline]
    pub fn is_expired(&self, now_unix_ms: u64) -> bool {
        self.expire_at_unix_ms().is_some_and(|t| t <= now_unix_ms)
    }

    /// The same key and value with another expiry.
    pub fn with_expiry(&self, expire_at_unix_ms: Option<u64>) -> Item {
        match self {
            Item::Str(s) => Item::Str(s.with_expiry(expire_at_unix_ms)),
            Item::Coll(c) => Item::coll(&c.key, c.value.clone(), expire_at_unix_ms),
        }
    }

    /// The same value and expiry under another key.
    pub fn renamed(&self, key: &[u8]) -> Item {
        match self {
            Item::Str(s) => Item::new(key, s.value(), s.expire_at_unix_ms()),
            Item::Coll(c) => Item::coll(key, c.value.clone(), self.expire_at_unix_ms()),
        }
    }

    /// Replaces a string's value and expiry in place (see
    /// [`StrItem::overwrite`]); false for a collection.
    #[inline]
    pub fn overwrite(&mut self, value: &[u8], expire_at_unix_ms: Option<u64>) -> bool {
        match self {
            Item::Str(s) => s.overwrite(value, expire_at_unix_ms),
            Item::Coll(_) => false,
        }
    }

    /// Sets the expiry in place when this handle is the block's only owner.
    /// Returns false, changing nothing, otherwise.
    pub fn overwrite_expiry(&mut self, expire_at_unix_ms: Option<u64>) -> bool {
        match self {
            Item::Str(s) => s.overwrite_expiry(expire_at_unix_ms),
            Item::Coll(c) => match Arc::get_mut(c) {
                Some(c) => {
                    c.expire = expire_at_unix_ms.map_or(0, |t| t.max(1));
                    true
                }
                None => false,
            },
        }
    }

    /// The collection, for a change: a block a snapshot still shares is
    /// copied first (a cheap copy: collections share their structure).
    pub fn coll_mut(&mut self) -> Option<&mut Coll> {
        match self {
            Item::Str(_) => None,
            Item::Coll(c) => Some(&mut Arc::make_mut(c).value),
        }
    }

    /// Starts loading the item's header and key into the CPU cache.
    #[inline]
    pub fn prefetch(&self) {
        match self {
            Item::Str(s) => s.prefetch(),
            Item::Coll(c) => super::prefetch(Arc::as_ptr(c)),
        }
    }

    /// Heap bytes this item occupies (for memory estimates).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Item::Str(s) => s.heap_bytes(),
            Item::Coll(c) => 64 + c.key.len() + c.value.heap_bytes(),
        }
    }
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Item::Str(s) => s.fmt(f),
            Item::Coll(c) => f
                .debug_struct("Item")
                .field("key", &String::from_utf8_lossy(&c.key))
                .field("kind", &c.value.kind())
                .field("len", &c.value.len())
                .field("expire_at_unix_ms", &self.expire_at_unix_ms())
                .finish(),
        }
    }
}

/// A string key, its value and its expiry time, in one block.
#[derive(Clone, PartialEq, Eq)]
pub struct StrItem(Arc<[u8]>);

impl StrItem {
    /// Packs a key, a value and an optional expiry (absolute, Unix ms).
    ///
    /// An expiry of `Some(0)` is stored as 1 ms (0 means "none" in the packed form);
    /// both are long past, so the item reads as expired either way.
    ///
    /// # Panics
    /// If the key is longer than [`MAX_KEY_BYTES`] (callers check the WAL record
    /// limit, which is far smaller, first).
    pub fn new(key: &[u8], value: &[u8], expire_at_unix_ms: Option<u64>) -> StrItem {
        assert!(key.len() <= MAX_KEY_BYTES, "key length fits in a u32");
        let total = ITEM_HEADER_BYTES + key.len() + value.len();
        let mut block = Arc::<[u8]>::new_uninit_slice(total);
        let dst = Arc::get_mut(&mut block).expect("a new Arc is unique");
        let expire = expire_at_unix_ms.map_or(0, |t| t.max(1));
        let parts: [&[u8]; 4] = [
            &expire.to_le_bytes(),
            &(key.len() as u32).to_le_bytes(),
            key,
            value,
        ];
        let mut at = 0;
        for part in parts {
            for (d, s) in dst[at..at + part.len()].iter_mut().zip(part) {
                d.write(*s);
            }
            at += part.len();
        }
        debug_assert_eq!(at, total);
        // SAFETY: every one of the `total` bytes was written above.
        StrItem(unsafe { block.assume_init() })
    }

    fn key_len(&self) -> usize {
        let b: [u8; 4] = self.0[EXPIRE_BYTES..ITEM_HEADER_BYTES]
            .try_into()
            .expect("4 bytes");
        u32::from_le_bytes(b) as usize
    }

    /// The key.
    pub fn key(&self) -> &[u8] {
        &self.0[ITEM_HEADER_BYTES..ITEM_HEADER_BYTES + self.key_len()]
    }

    /// The value.
    pub fn value(&self) -> &[u8] {
        &self.0[ITEM_HEADER_BYTES + self.key_len()..]
    }

    /// The expiry time (absolute, Unix ms), if any.
    pub fn expire_at_unix_ms(&self) -> Option<u64> {
        let b: [u8; 8] = self.0[..EXPIRE_BYTES].try_into().expect("8 bytes");
        match u64::from_le_bytes(b) {
            0 => None,
            t => Some(t),
        }
    }

    /// True when the item has an expiry at or before `now_unix_ms`.
    pub fn is_expired(&self, now_unix_ms: u64) -> bool {
        self.expire_at_unix_ms().is_some_and(|t| t <= now_unix_ms)
    }

    /// The same key and value with another expiry.
    pub fn with_expiry(&self, expire_at_unix_ms: Option<u64>) -> StrItem {
        StrItem::new(self.key(), self.value(), expire_at_unix_ms)
    }

    /// Replaces the value and expiry in place when this handle is the block's
    /// only owner and the new value has the old one's length (an overwrite
    /// needs no allocation then). Returns false, changing nothing, otherwise:
    /// a snapshot may still share the block.
    pub fn overwrite(&mut self, value: &[u8], expire_at_unix_ms: Option<u64>) -> bool {
        let value_at = ITEM_HEADER_BYTES + self.key_len();
        if self.0.len() - value_at != value.len() {
            return false;
        }
        let Some(block) = Arc::get_mut(&mut self.0) else {
            return false;
        };
        let expire = expire_at_unix_ms.map_or(0, |t| t.max(1));
        block[..EXPIRE_BYTES].copy_from_slice(&expire.to_le_bytes());
        block[value_at..].copy_from_slice(value);
        true
    }

    /// Sets the expiry in place when this handle is the block's only owner.
    /// Returns false, changing nothing, otherwise.
    pub fn overwrite_expiry(&mut self, expire_at_unix_ms: Option<u64>) -> bool {
        let Some(block) = Arc::get_mut(&mut self.0) else {
            return false;
        };
        let expire = expire_at_unix_ms.map_or(0, |t| t.max(1));
        block[..EXPIRE_BYTES].copy_from_slice(&expire.to_le_bytes());
        true
    }

    /// Starts loading the item's header and key into the CPU cache.
    pub fn prefetch(&self) {
        super::prefetch(self.0.as_ptr());
    }

    /// Heap bytes this item occupies (for memory estimates).
    pub fn heap_bytes(&self) -> usize {
        self.0.len() + 2 * std::mem::size_of::<usize>()
    }
}

impl std::fmt::Debug for StrItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Item")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value_bytes", &self.value().len())
            .field("expire_at_unix_ms", &self.expire_at_unix_ms())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_unpacks() {
        let i = StrItem::new(b"key", b"value", Some(42));
        assert_eq!(i.key(), b"key");
        assert_eq!(i.value(), b"value");
        assert_eq!(i.expire_at_unix_ms(), Some(42));
        assert!(i.is_expired(42));
        assert!(!i.is_expired(41));
        let j = StrItem::new(b"", b"", None);
        assert_eq!(j.key(), b"");
        assert_eq!(j.value(), b"");
        assert_eq!(j.expire_at_unix_ms(), None);
        assert_eq!(i.with_expiry(None).expire_at_unix_ms(), None);
        assert_eq!(
            StrItem::new(b"k", b"v", Some(0)).expire_at_unix_ms(),
            Some(1)
        );
    }

    #[test]
    fn overwrites_in_place_only_when_unshared_and_same_length() {
        let mut i = StrItem::new(b"key", b"aaaa", None);
        assert!(i.overwrite(b"bbbb", Some(9)));
        assert_eq!(
            (i.key(), i.value(), i.expire_at_unix_ms()),
            (&b"key"[..], &b"bbbb"[..], Some(9))
        );
        assert!(
            !i.overwrite(b"ccc", None),
            "another length needs a new block"
        );
        let shared = i.clone();
        assert!(
            !i.overwrite(b"dddd", None),
            "a shared block is never written"
        );
        assert!(!i.overwrite_expiry(None));
        assert_eq!(shared.value(), b"bbbb");
        drop(shared);
        assert!(i.overwrite_expiry(None));
        assert_eq!(i.expire_at_unix_ms(), None);
    }
}
#[cfg(test)]
mod size_tests {
    /// A million small hashes are a million of these: the large forms are
    /// boxed so that they do not widen every item.
    #[test]
    fn a_collection_item_stays_small() {
        assert!(std::mem::size_of::<super::Coll>() <= 40);
        assert!(std::mem::size_of::<super::CollItem>() <= 64);
    }
}
