//! A sorted set: distinct members, each with a score, ordered by score and
//! then by member bytes (as Redis orders them).

use super::{elem, elem_heap_bytes, Elem};
use std::cmp::Ordering;

/// An entry of the order: score first, then member.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    score: f64,
    member: Elem,
}

/// Redis's order: by score (`-0` equals `0`), then by member bytes.
fn order(score: f64, member: &[u8], other: &Entry) -> Ordering {
    score
        .partial_cmp(&other.score)
        .unwrap_or(Ordering::Equal)
        .then_with(|| member.cmp(&other.member[..]))
}

/// Members by score. Clones in O(1); rank, insert and remove are
/// O(log² n) (a binary search over a persistent vector), ranges by rank
/// O(log n + k).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZSet {
    scores: imbl::HashMap<Elem, f64>,
    sorted: imbl::Vector<Entry>,
}

impl ZSet {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// True when it has no members.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Where `(score, member)` is, or would go, in the order.
    fn position(&self, score: f64, member: &[u8]) -> Result<usize, usize> {
        self.sorted
            .binary_search_by(|e| order(score, member, e).reverse())
    }

    /// Sets `member`'s score (adding it if new); true when it is new.
    /// A NaN score is the caller's to refuse.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        let new = match self.scores.get(member).copied() {
            Some(old) if old == score && old.is_sign_negative() == score.is_sign_negative() => {
                return false
            }
            Some(old) => {
                if let Ok(at) = self.position(old, member) {
                    self.sorted.remove(at);
                }
                false
            }
            None => true,
        };
        let e = elem(member);
        self.scores.insert(e.clone(), score);
        let at = self.position(score, member).unwrap_or_else(|at| at);
        self.sorted.insert(at, Entry { score, member: e });
        new
    }

    /// Removes `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let Some(score) = self.scores.remove(member) else {
            return false;
        };
        if let Ok(at) = self.position(score, member) {
            self.sorted.remove(at);
        }
        true
    }

    /// The 0-based rank of `member`, lowest score first.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        self.position(score, member).ok()
    }

    /// The member and score at rank `index`, lowest score first.
    pub fn at(&self, index: usize) -> Option<(&[u8], f64)> {
        self.sorted.get(index).map(|e| (&e.member[..], e.score))
    }

    /// Number of members ordered before `(score, member)`: with an empty
    /// member, the rank of the first entry at `score` or above.
    pub fn rank_of_position(&self, score: f64, member: &[u8]) -> usize {
        match self.position(score, member) {
            Ok(at) | Err(at) => at,
        }
    }

    /// Rank of the first member whose score is above `score`.
    pub fn rank_after_score(&self, score: f64) -> usize {
        self.partition_point(|e| {
            e.score.partial_cmp(&score).unwrap_or(Ordering::Equal) != Ordering::Greater
        })
    }

    /// Rank of the first member whose score is `score` or above.
    pub fn rank_from_score(&self, score: f64) -> usize {
        self.partition_point(|e| {
            e.score.partial_cmp(&score).unwrap_or(Ordering::Equal) == Ordering::Less
        })
    }

    /// Rank of the first member above `member` in byte order (`inclusive`:
    /// at or above). Meaningful when every score is equal, as Redis's
    /// lex ranges assume.
    pub fn rank_from_member(&self, member: &[u8], inclusive: bool) -> usize {
        self.partition_point(|e| match inclusive {
            true => &e.member[..] < member,
            false => &e.member[..] <= member,
        })
    }

    /// The first rank whose entry fails `pred` (entries passing it come
    /// first in the order): O(log² n).
    fn partition_point(&self, pred: impl Fn(&Entry) -> bool) -> usize {
        self.sorted
            .binary_search_by(|e| {
                if pred(e) {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            })
            .unwrap_or_else(|at| at)
    }

    /// Members and scores at ranks `start..end` (clamped), lowest first.
    pub fn range(
        &self,
        start: usize,
        end: usize,
    ) -> impl DoubleEndedIterator<Item = (&[u8], f64)> + '_ {
        let end = end.min(self.sorted.len());
        let start = start.min(end);
        self.sorted
            .focus()
            .narrow(start..end)
            .into_iter()
            .map(|e| (&e.member[..], e.score))
    }

    /// Every member and score, lowest score first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], f64)> + '_ {
        self.sorted.iter().map(|e| (&e.member[..], e.score))
    }

    /// Heap bytes, estimated.
    pub fn heap_bytes(&self) -> usize {
        self.iter()
            .map(|(m, _)| elem_heap_bytes(m) + 64)
            .sum::<usize>()
    }
}
