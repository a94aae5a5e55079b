//! The compact encoding of a small sorted set: its entries packed one after
//! another in one buffer, in the set's order (as Redis keeps a sorted set of
//! up to 128 members of up to 64 bytes in a listpack).
//!
//! ## Layout of the buffer
//!
//! | size | field                                            |
//! |-----:|--------------------------------------------------|
//! | 8    | score, f64 little-endian                         |
//! | 1    | member length `n` (at most [`MAX_MEMBER_BYTES`]) |
//! | `n`  | member                                           |
//!
//! repeated for each entry, ordered by score then member bytes. Every
//! operation walks the buffer (at most [`MAX_ENTRIES`] entries, a few
//! kilobytes); a write builds a new buffer.

use std::cmp::Ordering;

/// Most entries a packed set holds; one more and it becomes a large set.
pub const MAX_ENTRIES: usize = 128;
/// Longest member a packed set holds; a longer one makes it a large set.
pub const MAX_MEMBER_BYTES: usize = 64;
const SCORE_BYTES: usize = 8;
/// Bytes in front of each member: the score and the length byte.
const ENTRY_HEADER_BYTES: usize = SCORE_BYTES + 1;
const _: () = assert!(MAX_MEMBER_BYTES <= u8::MAX as usize);
const _: () = assert!(MAX_ENTRIES <= u8::MAX as usize);

/// Redis's order: by score (`-0` equals `0`), then by member bytes.
pub(super) fn order(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.partial_cmp(&b.0)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.1.cmp(b.1))
}

/// A small sorted set in one buffer. Invariants: at most [`MAX_ENTRIES`]
/// entries, members at most [`MAX_MEMBER_BYTES`] long and distinct, in
/// order; `len` is the number of entries.
#[derive(Clone, Debug, Default)]
pub struct Packed {
    bytes: Box<[u8]>,
    len: u8,
}

/// An entry found in the buffer: where it starts and ends, its score.
struct Found {
    start: usize,
    end: usize,
    score: f64,
}
impl Packed {
    /// Number of entries.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when it has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the buffer.
    pub fn buffer_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Every entry with its byte offset, in order.
    fn entries(&self) -> impl Iterator<Item = (usize, &[u8], f64)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let b = &self.bytes;
            if at >= b.len() {
                return None;
            }
            let score = f64::from_le_bytes(b[at..at + SCORE_BYTES].try_into().ok()?);
            let n = usize::from(b[at + SCORE_BYTES]);
            let start = at;
            let member = &b[at + ENTRY_HEADER_BYTES..at + ENTRY_HEADER_BYTES + n];
            at += ENTRY_HEADER_BYTES + n;
            Some((start, member, score))
        })
    }

    /// Every member and score, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.entries().map(|(_, m, s)| (m, s))
    }

    fn find(&self, member: &[u8]) -> Option<Found> {
        self.entries()
            .find(|(_, m, _)| *m == member)
            .map(|(start, m, score)| Found {
                start,
                end: start + ENTRY_HEADER_BYTES + m.len(),
                score,
            })
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|f| f.score)
    }

    /// The 0-based rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        self.iter().position(|(m, _)| m == member)
    }

    /// The number of leading entries passing `pred`.
    pub fn partition_point(&self, pred: impl Fn(&[u8], f64) -> bool) -> usize {
        self.iter().take_while(|(m, s)| pred(m, *s)).count()
    }

    /// Sets `member`'s score (adding it if new); true when it is new.
    ///
    /// # Panics
    /// If `member` is longer than [`MAX_MEMBER_BYTES`], or it is new and
    /// the set is full: the caller converts to a large set first.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        assert!(member.len() <= MAX_MEMBER_BYTES, "a packed member fits");
        let new = match self.score(member) {
            Some(old) if old.to_bits() == score.to_bits() => return false,
            Some(_) => !self.remove(member),
            None => {
                assert!(self.len() < MAX_ENTRIES, "a packed set has room");
                true
            }
        };
        let at = self
            .entries()
            .find(|(_, m, s)| order((*s, m), (score, member)).is_gt())
            .map_or(self.bytes.len(), |(start, _, _)| start);
        let mut b = Vec::with_capacity(self.bytes.len() + ENTRY_HEADER_BYTES + member.len());
        b.extend_from_slice(&self.bytes[..at]);
        b.extend_from_slice(&score.to_le_bytes());
        b.push(member.len() as u8);
        b.extend_from_slice(member);
        b.extend_from_slice(&self.bytes[at..]);
        self.bytes = b.into_boxed_slice();
        self.len += 1;
        new
    }

    /// Removes `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let Some(f) = self.find(member) else {
            return false;
        };
        let mut b = Vec::with_capacity(self.bytes.len() - (f.end - f.start));
        b.extend_from_slice(&self.bytes[..f.start]);
        b.extend_from_slice(&self.bytes[f.end..]);
        self.bytes = b.into_boxed_slice();
        self.len -= 1;
        true
    }
}
