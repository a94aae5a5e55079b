//! One key with its value and expiry, packed into a single shared allocation.
//!
//! A keyspace holds millions of these, so an item is one pointer-sized handle
//! (`Arc<[u8]>`, 16 bytes) to one heap block:
//!
//! | offset | size | field                                            |
//! |-------:|-----:|--------------------------------------------------|
//! | 0      | 8    | expiry, Unix milliseconds, little-endian; 0 = none |
//! | 8      | 4    | key length `k`, little-endian                     |
//! | 12     | k    | key                                               |
//! | 12 + k | rest | value                                             |
//!
//! Cloning an item is a reference-count increment, which is what makes the
//! copy-on-write keyspace cheap to snapshot.

use std::sync::Arc;

const EXPIRE_BYTES: usize = 8;
const KEY_LEN_BYTES: usize = 4;
/// Bytes in front of the key.
pub const ITEM_HEADER_BYTES: usize = EXPIRE_BYTES + KEY_LEN_BYTES;

/// Largest key length an item can hold (the key length field is a u32).
pub const MAX_KEY_BYTES: usize = u32::MAX as usize;

/// A key, its value and its expiry time.
#[derive(Clone, PartialEq, Eq)]
pub struct Item(Arc<[u8]>);

impl Item {
    /// Packs a key, a value and an optional expiry (absolute, Unix ms).
    ///
    /// An expiry of `Some(0)` is stored as 1 ms (0 means "none" in the packed form);
    /// both are long past, so the item reads as expired either way.
    ///
    /// # Panics
    /// If the key is longer than [`MAX_KEY_BYTES`] (callers check the WAL record
    /// limit, which is far smaller, first).
    pub fn new(key: &[u8], value: &[u8], expire_at_unix_ms: Option<u64>) -> Item {
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
        Item(unsafe { block.assume_init() })
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
    pub fn with_expiry(&self, expire_at_unix_ms: Option<u64>) -> Item {
        Item::new(self.key(), self.value(), expire_at_unix_ms)
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

impl std::fmt::Debug for Item {
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
        let i = Item::new(b"key", b"value", Some(42));
        assert_eq!(i.key(), b"key");
        assert_eq!(i.value(), b"value");
        assert_eq!(i.expire_at_unix_ms(), Some(42));
        assert!(i.is_expired(42));
        assert!(!i.is_expired(41));
        let j = Item::new(b"", b"", None);
        assert_eq!(j.key(), b"");
        assert_eq!(j.value(), b"");
        assert_eq!(j.expire_at_unix_ms(), None);
        assert_eq!(i.with_expiry(None).expire_at_unix_ms(), None);
        assert_eq!(Item::new(b"k", b"v", Some(0)).expire_at_unix_ms(), Some(1));
    }

    #[test]
    fn overwrites_in_place_only_when_unshared_and_same_length() {
        let mut i = Item::new(b"key", b"aaaa", None);
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
