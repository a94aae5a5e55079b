//! Popping a sorted set by score: what BZPOPMIN, BZPOPMAX and BZMPOP (and
//! ZPOPMIN, ZPOPMAX, ZMPOP) take, and the one `ZRem` that logs it.

use crate::store::value::ZSet;
use crate::store::{Blob, Effect};

/// Which end of the order a pop takes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZEnd {
    /// Lowest score first (`MIN`).
    Min,
    /// Highest score first (`MAX`).
    Max,
}

impl ZEnd {
    /// `MIN` or `MAX` (any case).
    pub fn parse(b: &[u8]) -> Option<ZEnd> {
        if b.eq_ignore_ascii_case(b"min") {
            Some(ZEnd::Min)
        } else if b.eq_ignore_ascii_case(b"max") {
            Some(ZEnd::Max)
        } else {
            None
        }
    }
}

/// Takes up to `count` members from `end` of `z` (the sorted set under
/// `key`), in the order they are popped, and logs their removal as one
/// `ZRem`. Nothing is logged when nothing is taken.
pub fn zpop<'a>(
    key: &'a [u8],
    z: &ZSet,
    end: ZEnd,
    count: usize,
    fx: &mut Vec<Effect<'a>>,
) -> Vec<(Vec<u8>, f64)> {
    let n = count.min(z.len());
    let taken: Vec<(Vec<u8>, f64)> = (0..n)
        .filter_map(|i| match end {
            ZEnd::Min => z.at(i),
            ZEnd::Max => z.at(z.len() - 1 - i),
        })
        .map(|(m, score)| (m.to_vec(), score))
        .collect();
    if !taken.is_empty() {
        fx.push(Effect::ZRem {
            key: Blob::borrowed(key),
            members: taken.iter().map(|(m, _)| Blob::owned(m.clone())).collect(),
        });
    }
    taken
}
