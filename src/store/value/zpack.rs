//! The compact encoding of a small sorted set: its entries packed one after
//! another in one buffer, in the set's order (as Redis keeps a sorted set of
//! up to 128 members of up to 64 bytes in a listpack).
//!
//! ## Layout of the buffer
//!
//! | size      | field                                                   |
//! |----------:|---------------------------------------------------------|
//! | 1         | `kind × 65 + n`: `n` the member length (at most [`MAX_MEMBER_BYTES`]), `kind` how the score is stored |
//! | 8, 2 or 4 | score: kind 0 an f64, kind 1 an i16, kind 2 an i32 (little-endian; a whole score that fits, never `-0`) |
//! | `n`       | member                                                  |
//!
//! repeated for each entry, ordered by score then member bytes. Every
//! operation walks the buffer (at most [`MAX_ENTRIES`] entries, a few
//! kilobytes); a write builds a new buffer.

use std::cmp::Ordering;
use std::ops::Range;

/// Most entries a packed set holds; one more and it becomes a large set.
pub const MAX_ENTRIES: usize = 128;
/// Longest member a packed set holds; a longer one makes it a large set.
pub const MAX_MEMBER_BYTES: usize = 64;
/// Member lengths per score kind in the header byte.
const LENGTHS: u8 = MAX_MEMBER_BYTES as u8 + 1;
const _: () = assert!(3 * (MAX_MEMBER_BYTES + 1) <= u8::MAX as usize + 1);
const _: () = assert!(MAX_ENTRIES <= u8::MAX as usize);

/// How a score is stored: its kind and its bytes.
fn encode_score(score: f64, out: &mut Vec<u8>) -> u8 {
    let whole = score.fract() == 0.0 && !(score == 0.0 && score.is_sign_negative());
    if whole && f64::from(score as i16) == score {
        out.extend_from_slice(&(score as i16).to_le_bytes());
        1
    } else if whole && f64::from(score as i32) == score {
        out.extend_from_slice(&(score as i32).to_le_bytes());
        2
    } else {
        out.extend_from_slice(&score.to_le_bytes());
        0
    }
}

/// The score of `kind` at the start of `b`, and its size.
fn decode_score(kind: u8, b: &[u8]) -> Option<(f64, usize)> {
    Some(match kind {
        1 => (
            f64::from(i16::from_le_bytes(b.get(..2)?.try_into().ok()?)),
            2,
        ),
        2 => (
            f64::from(i32::from_le_bytes(b.get(..4)?.try_into().ok()?)),
            4,
        ),
        _ => (f64::from_le_bytes(b.get(..8)?.try_into().ok()?), 8),
    })
}

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

    /// Every entry with the bytes it spans, in order.
    fn entries(&self) -> impl Iterator<Item = (Range<usize>, &[u8], f64)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let b = &self.bytes;
            if at >= b.len() {
                return None;
            }
            let (kind, n) = (b[at] / LENGTHS, usize::from(b[at] % LENGTHS));
            let (score, size) = decode_score(kind, &b[at + 1..])?;
            let start = at;
            let member = &b[at + 1 + size..at + 1 + size + n];
            at += 1 + size + n;
            Some((start..at, member, score))
        })
    }

    /// Every member and score, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.entries().map(|(_, m, s)| (m, s))
    }

    fn find(&self, member: &[u8]) -> Option<Found> {
        self.entries()
            .find(|(_, m, _)| *m == member)
            .map(|(span, _, score)| Found {
                start: span.start,
                end: span.end,
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
            .map_or(self.bytes.len(), |(span, _, _)| span.start);
        let mut b = Vec::with_capacity(self.bytes.len() + 9 + member.len());
        b.extend_from_slice(&self.bytes[..at]);
        b.push(0);
        let kind = encode_score(score, &mut b);
        b[at] = kind * LENGTHS + member.len() as u8;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_scores_take_fewer_bytes_and_every_score_reads_back() {
        let scores = [
            1.0,
            -32768.0,
            32767.0,
            32768.0,
            -2147483648.0,
            2147483648.0,
            1.5,
            -0.0,
            0.0,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let mut p = Packed::default();
        for (i, s) in scores.iter().enumerate() {
            assert!(p.insert(format!("m{i}").as_bytes(), *s));
        }
        for (i, s) in scores.iter().enumerate() {
            let got = p.score(format!("m{i}").as_bytes()).unwrap();
            assert_eq!(got.to_bits(), s.to_bits(), "{s}");
        }
        // A header byte each, members m0…m9 and m10, m11; four i16 scores
        // (1, -32768, 32767, 0), two i32 (32768, -2³¹), six f64.
        assert_eq!(
            p.buffer_bytes(),
            12 + (10 * 2 + 2 * 3) + 4 * 2 + 2 * 4 + 6 * 8
        );
        let order: Vec<f64> = p.iter().map(|(_, s)| s).collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    }
}
