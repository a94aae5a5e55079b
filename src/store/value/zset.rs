//! A sorted set: distinct members, each with a score, ordered by score and
//! then by member bytes (as Redis orders them).
//!
//! Two encodings behind one API, as Redis has: a small set (up to
//! [`zpack::MAX_ENTRIES`] members of up to [`zpack::MAX_MEMBER_BYTES`]
//! bytes) is [`Packed`] in one buffer; a write past either limit turns it
//! into a large one, a persistent sorted vector with a member → score map.
//! A large set stays large when it shrinks (as in Redis).

use super::zhash::Scores;
use super::zpack::{self, order, Packed};
use super::ztree::Tree;
use super::{elem, elem_heap_bytes, Elem};
use std::cmp::Ordering;

/// An entry of the order: score first, then member.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    score: f64,
    member: Elem,
}

/// A large sorted set. Clones in O(1); rank, insert and remove are
/// O(log n) (a counted persistent B-tree), ranges by rank O(log n + k).
#[derive(Clone, Debug, Default)]
struct Large {
    scores: Scores,
    sorted: Tree<Entry>,
}

impl Large {
    /// The large form of a packed set.
    fn from_packed(p: &Packed) -> Large {
        let mut l = Large::default();
        for (m, score) in p.iter() {
            let mut member = None;
            l.scores.insert(m, score, || member.insert(elem(m)).clone());
            let member = member.expect("the members of a set are distinct");
            l.sorted.insert(l.sorted.len(), Entry { score, member });
        }
        l
    }

    /// Where `(score, member)` is, or would go, in the order.
    fn position(&self, score: f64, member: &[u8]) -> Result<usize, usize> {
        let at = self
            .sorted
            .partition_point(|e| order((e.score, &e.member), (score, member)).is_lt());
        match self.sorted.get(at) {
            Some(e) if order((e.score, &e.member), (score, member)).is_eq() => Ok(at),
            _ => Err(at),
        }
    }

    fn insert(&mut self, member: &[u8], score: f64) -> bool {
        let mut made = None;
        let old = self
            .scores
            .insert(member, score, || made.insert(elem(member)).clone());
        let (e, new) = match old {
            Some(old) if old.to_bits() == score.to_bits() => return false,
            Some(old) => {
                // The tree's element is the map's: one copy of the bytes.
                let moved = match self.position(old, member) {
                    Ok(at) => self.sorted.remove(at).map(|e| e.member),
                    Err(_) => None,
                };
                (moved.unwrap_or_else(|| elem(member)), false)
            }
            None => (made.expect("a new member's element is made"), true),
        };
        let at = self.position(score, member).unwrap_or_else(|at| at);
        self.sorted.insert(at, Entry { score, member: e });
        new
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        let Some(score) = self.scores.remove(member) else {
            return false;
        };
        if let Ok(at) = self.position(score, member) {
            self.sorted.remove(at);
        }
        true
    }

    /// The first rank whose entry fails `pred`: O(log n) probes.
    fn partition_point(&self, pred: impl Fn(&[u8], f64) -> bool) -> usize {
        self.sorted.partition_point(|e| pred(&e.member, e.score))
    }
}

#[derive(Clone, Debug)]
enum Repr {
    Small(Packed),
    /// Boxed: a small set does not carry the large one's size.
    Large(Box<Large>),
}

/// Members by score.
#[derive(Clone, Debug)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> ZSet {
        ZSet {
            repr: Repr::Small(Packed::default()),
        }
    }
}

impl PartialEq for ZSet {
    /// Same members with the same scores, whatever the encodings.
    fn eq(&self, other: &ZSet) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|((m, s), (n, t))| m == n && s.to_bits() == t.to_bits())
    }
}

/// Members and scores of a sorted set, in order (or reversed).
pub struct Entries<'a>(Inner<'a>);

enum Inner<'a> {
    Small(std::vec::IntoIter<(&'a [u8], f64)>),
    Large {
        entries: std::iter::Flatten<std::vec::IntoIter<&'a [Entry]>>,
        left: usize,
    },
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Inner::Small(i) => i.next(),
            Inner::Large { entries, left } => {
                *left = left.saturating_sub(1);
                entries.next().map(|e| (&e.member[..], e.score))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            Inner::Small(i) => i.size_hint(),
            Inner::Large { left, .. } => (*left, Some(*left)),
        }
    }
}

impl DoubleEndedIterator for Entries<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Inner::Small(i) => i.next_back(),
            Inner::Large { entries, left } => {
                *left = left.saturating_sub(1);
                entries.next_back().map(|e| (&e.member[..], e.score))
            }
        }
    }
}

impl ExactSizeIterator for Entries<'_> {}

impl ZSet {
    /// Number of members.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small(p) => p.len(),
            Repr::Large(l) => l.scores.len(),
        }
    }

    /// True when it has no members.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True while it is in the compact encoding.
    pub fn is_packed(&self) -> bool {
        matches!(self.repr, Repr::Small(_))
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Small(p) => p.score(member),
            Repr::Large(l) => l.scores.get(member),
        }
    }

    /// Sets `member`'s score (adding it if new); true when it is new.
    /// A NaN score is the caller's to refuse.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        if let Repr::Small(p) = &mut self.repr {
            let fits = member.len() <= zpack::MAX_MEMBER_BYTES
                && (p.len() < zpack::MAX_ENTRIES || p.score(member).is_some());
            if fits {
                return p.insert(member, score);
            }
            self.repr = Repr::Large(Box::new(Large::from_packed(p)));
        }
        match &mut self.repr {
            Repr::Small(_) => unreachable!("converted just above"),
            Repr::Large(l) => l.insert(member, score),
        }
    }

    /// Removes `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Small(p) => p.remove(member),
            Repr::Large(l) => l.remove(member),
        }
    }

    /// The 0-based rank of `member`, lowest score first.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.repr {
            Repr::Small(p) => p.rank(member),
            Repr::Large(l) => {
                let score = l.scores.get(member)?;
                l.position(score, member).ok()
            }
        }
    }

    /// The member and score at rank `index`, lowest score first.
    pub fn at(&self, index: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Small(p) => p.iter().nth(index),
            Repr::Large(l) => l.sorted.get(index).map(|e| (&e.member[..], e.score)),
        }
    }

    /// The number of leading members (in order) that pass `pred`; `pred`
    /// must pass a prefix of the order and fail the rest.
    fn partition_point(&self, pred: impl Fn(&[u8], f64) -> bool) -> usize {
        match &self.repr {
            Repr::Small(p) => p.partition_point(pred),
            Repr::Large(l) => l.partition_point(pred),
        }
    }

    /// Number of members ordered before `(score, member)`: with an empty
    /// member, the rank of the first entry at `score` or above.
    pub fn rank_of_position(&self, score: f64, member: &[u8]) -> usize {
        self.partition_point(|m, s| order((s, m), (score, member)).is_lt())
    }

    /// Rank of the first member whose score is above `score`.
    pub fn rank_after_score(&self, score: f64) -> usize {
        self.partition_point(|_, s| s.partial_cmp(&score) != Some(Ordering::Greater))
    }

    /// Rank of the first member whose score is `score` or above.
    pub fn rank_from_score(&self, score: f64) -> usize {
        self.partition_point(|_, s| s.partial_cmp(&score) == Some(Ordering::Less))
    }

    /// Rank of the first member above `member` in byte order (`inclusive`:
    /// at or above). Meaningful when every score is equal, as Redis's
    /// lex ranges assume.
    pub fn rank_from_member(&self, member: &[u8], inclusive: bool) -> usize {
        self.partition_point(|m, _| match inclusive {
            true => m < member,
            false => m <= member,
        })
    }

    /// Members and scores at ranks `start..end` (clamped), lowest first.
    pub fn range(&self, start: usize, end: usize) -> Entries<'_> {
        let end = end.min(self.len());
        let start = start.min(end);
        Entries(match &self.repr {
            Repr::Small(p) => {
                let v: Vec<_> = p.iter().skip(start).take(end - start).collect();
                Inner::Small(v.into_iter())
            }
            Repr::Large(l) => Inner::Large {
                entries: l.sorted.slices(start, end).into_iter().flatten(),
                left: end - start,
            },
        })
    }

    /// Every member and score, lowest score first.
    pub fn iter(&self) -> Entries<'_> {
        self.range(0, usize::MAX)
    }

    /// Heap bytes, estimated.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Small(p) => p.buffer_bytes().next_multiple_of(16),
            Repr::Large(_) => self
                .iter()
                .map(|(m, _)| elem_heap_bytes(m) + 64)
                .sum::<usize>(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model: the members sorted by (score, member).
    fn model(z: &ZSet) -> Vec<(Vec<u8>, f64)> {
        z.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    #[test]
    fn a_small_set_is_packed_until_a_limit_is_passed() {
        let mut z = ZSet::default();
        for i in 0..128 {
            assert!(z.insert(format!("m{i:03}").as_bytes(), f64::from(127 - i)));
        }
        assert!(z.is_packed());
        assert!(!z.insert(b"m000", 500.0), "an update keeps it packed");
        assert!(z.is_packed());
        assert_eq!(z.at(127), Some((&b"m000"[..], 500.0)));
        assert_eq!(z.rank(b"m127"), Some(0));
        let before = model(&z);
        assert!(z.insert(b"extra", -1.0));
        assert!(!z.is_packed(), "the 129th member");
        assert_eq!(z.len(), 129);
        assert_eq!(model(&z)[1..], before[..]);
        assert_eq!(z.rank(b"extra"), Some(0));

        let mut long = ZSet::default();
        long.insert(b"a", 1.0);
        long.insert(&[b'x'; 64], 2.0);
        assert!(long.is_packed(), "64 bytes fit");
        long.insert(&[b'y'; 65], 3.0);
        assert!(!long.is_packed(), "65 bytes do not");
        assert_eq!(long.len(), 3);
        assert_eq!(long.score(&[b'y'; 65]), Some(3.0));
    }

    #[test]
    fn both_encodings_answer_alike() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut small = ZSet::default();
        let mut large = ZSet {
            repr: Repr::Large(Box::default()),
        };
        for _ in 0..2000 {
            let m = format!("k{}", rng.gen_range(0..100));
            let score = f64::from(rng.gen_range(-20..20)) / 4.0;
            if rng.gen_bool(0.3) {
                assert_eq!(small.remove(m.as_bytes()), large.remove(m.as_bytes()));
            } else {
                let s = if rng.gen_bool(0.05) { -0.0 } else { score };
                assert_eq!(small.insert(m.as_bytes(), s), large.insert(m.as_bytes(), s));
            }
            assert!(small.is_packed());
            assert_eq!(small, large);
            assert_eq!(small.len(), large.len());
            let m = format!("k{}", rng.gen_range(0..100));
            assert_eq!(small.rank(m.as_bytes()), large.rank(m.as_bytes()));
            assert_eq!(small.score(m.as_bytes()), large.score(m.as_bytes()));
            assert_eq!(small.rank_from_score(score), large.rank_from_score(score));
            assert_eq!(small.rank_after_score(score), large.rank_after_score(score));
            assert_eq!(
                small.rank_of_position(score, m.as_bytes()),
                large.rank_of_position(score, m.as_bytes())
            );
            let (a, b) = (rng.gen_range(0..110), rng.gen_range(0..110));
            assert!(small.range(a, b).eq(large.range(a, b)));
            assert!(small.range(a, b).rev().eq(large.range(a, b).rev()));
            assert_eq!(small.at(a), large.at(a));
        }
        assert_eq!(small.heap_bytes() > 0, !small.is_empty());
    }

    #[test]
    fn a_packed_set_keeps_members_in_order() {
        let mut z = ZSet::default();
        for (m, s) in [("b", 1.0), ("a", 1.0), ("c", 0.0), ("d", f64::INFINITY)] {
            z.insert(m.as_bytes(), s);
        }
        z.insert(b"e", f64::NEG_INFINITY);
        let names: Vec<&[u8]> = z.iter().map(|(m, _)| m).collect();
        assert_eq!(names, [&b"e"[..], b"c", b"a", b"b", b"d"]);
        assert!(z.remove(b"a") && !z.remove(b"a"));
        z.insert(b"c", 5.0);
        assert_eq!(z.rank(b"c"), Some(2));
        assert_eq!(z.len(), 4);
    }
}
