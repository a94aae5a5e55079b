//! A compact sequence of byte strings in one allocation, for small
//! collections (as Redis's listpack): each entry is its length as a LEB128
//! varint, then its bytes. Finding an entry walks from the front, which for
//! the at most [`MAX_ENTRIES`] entries of a small collection costs less than
//! the cache misses of a pointer-based structure, and takes a fraction of
//! its memory.

/// Most entries a small collection holds before it turns into its large
/// structure (Redis's `*-max-listpack-entries`, 128; a hash's field and
/// value are two entries each, so its limit is counted in pairs by the
/// caller).
pub const MAX_ENTRIES: usize = 128;
/// Longest entry a small collection holds (Redis's `*-max-listpack-value`).
pub const MAX_ENTRY_BYTES: usize = 64;

/// Entries packed back to back.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Packed {
    buf: Vec<u8>,
    len: u32,
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Reads the varint at `at`: (value, bytes it took).
#[inline]
fn read_len(buf: &[u8], at: usize) -> (usize, usize) {
    let (mut v, mut shift, mut i) = (0usize, 0, at);
    loop {
        let b = buf[i];
        v |= usize::from(b & 0x7f) << shift;
        i += 1;
        if b & 0x80 == 0 {
            return (v, i - at);
        }
        shift += 7;
    }
}

/// Appends `n` as a varint.
fn write_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// The encoded form of one entry.
fn encode(e: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(e.len() + 2);
    write_len(&mut v, e.len());
    v.extend_from_slice(e);
    v
}

impl Packed {
    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes it takes.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// The entries, front to back.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            at: 0,
        }
    }

    /// Byte offset of entry `index` (`len` gives the end).
    fn offset(&self, index: usize) -> usize {
        let mut at = 0;
        for _ in 0..index {
            let (n, w) = read_len(&self.buf, at);
            at += w + n;
        }
        at
    }

    /// The entry at `index`.
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.iter().nth(index)
    }

    /// The index of the first entry equal to `e`, looking at entries
    /// `start, start + step, …` (a step of 2 finds a hash's fields).
    pub fn find(&self, e: &[u8], start: usize, step: usize) -> Option<usize> {
        self.iter()
            .enumerate()
            .skip(start)
            .step_by(step)
            .find(|(_, x)| *x == e)
            .map(|(i, _)| i)
    }

    /// Inserts `e` before entry `index` (`len` appends).
    pub fn insert(&mut self, index: usize, e: &[u8]) {
        let at = self.offset(index.min(self.len()));
        let enc = encode(e);
        self.buf.reserve_exact(enc.len());
        self.buf.splice(at..at, enc);
        self.len += 1;
    }

    /// Appends `e`.
    pub fn push(&mut self, e: &[u8]) {
        let enc = encode(e);
        self.buf.reserve_exact(enc.len());
        self.buf.extend_from_slice(&enc);
        self.len += 1;
    }

    /// Removes entries `index..index + count` (clamped).
    pub fn remove(&mut self, index: usize, count: usize) {
        let end = (index + count).min(self.len());
        if index >= end {
            return;
        }
        let (a, b) = (self.offset(index), self.offset(end));
        self.buf.drain(a..b);
        self.len -= (end - index) as u32;
        if self.buf.capacity() > 2 * self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
    }

    /// Replaces entry `index` with `e`; false when out of range.
    pub fn set(&mut self, index: usize, e: &[u8]) -> bool {
        if index >= self.len() {
            return false;
        }
        let a = self.offset(index);
        let (n, w) = read_len(&self.buf, a);
        let enc = encode(e);
        self.buf.splice(a..a + w + n, enc);
        true
    }

    /// Keeps only entries `start..end` (clamped).
    pub fn keep(&mut self, start: usize, end: usize) {
        let end = end.min(self.len());
        if start >= end {
            *self = Packed::default();
            return;
        }
        self.remove(end, self.len() - end);
        self.remove(0, start);
    }
}

/// The entries of a [`Packed`], front to back.
#[derive(Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.buf.len() {
            return None;
        }
        let (n, w) = read_len(self.buf, self.at);
        let start = self.at + w;
        self.at = start + n;
        Some(&self.buf[start..start + n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_go_in_and_out_in_place() {
        let mut p = Packed::default();
        let long = vec![7u8; 300];
        p.push(b"b");
        p.insert(0, b"a");
        p.push(&long);
        p.push(b"");
        p.insert(2, b"c");
        let all: Vec<&[u8]> = p.iter().collect();
        assert_eq!(all, [&b"a"[..], b"b", b"c", &long[..], b""]);
        assert_eq!(p.len(), 5);
        assert_eq!(p.get(3), Some(&long[..]));
        assert_eq!(p.get(5), None);
        assert_eq!(p.find(b"c", 0, 1), Some(2));
        assert_eq!(p.find(b"c", 1, 2), None);
        assert_eq!(p.find(b"b", 1, 2), Some(1));
        assert!(p.set(1, b"bbbb"));
        assert!(!p.set(9, b"x"));
        p.remove(3, 1);
        let all: Vec<&[u8]> = p.iter().collect();
        assert_eq!(all, [&b"a"[..], b"bbbb", b"c", b""]);
        p.keep(1, 3);
        let all: Vec<&[u8]> = p.iter().collect();
        assert_eq!(all, [&b"bbbb"[..], b"c"]);
        p.keep(5, 9);
        assert!(p.is_empty());
        assert_eq!(p.iter().count(), 0);
    }
}
