//! Random picks from a collection (`HRANDFIELD`, `SRANDMEMBER`, `SPOP`),
//! and the count argument they share.
//!
//! The picks are the primary's or the standby's own: a read replies with
//! them and logs nothing; `SPOP` logs the members it removed, so replay
//! never draws a random number.

use super::parse_i64;
use rand::seq::SliceRandom;
use rand::Rng;

/// Most entries a count with repeats (a negative count) may ask for: Redis
/// has no limit and would build the whole reply in memory; 16 Mi entries is
/// already a reply of hundreds of MiB.
pub const MAX_REPEATED_PICKS: u64 = 1 << 24;

/// The count argument of `HRANDFIELD` / `SRANDMEMBER`: a positive count asks
/// for distinct entries, a negative one for that many entries with repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Up to `n` distinct entries.
    Distinct(u64),
    /// Exactly `n` entries, each drawn independently.
    WithRepeats(u64),
}

/// Parses a count as Redis does (`-LONG_MAX..=LONG_MAX`), `Err` with the
/// error reply's text.
///
/// # Errors
/// Not an integer, or `i64::MIN`.
pub fn parse_count(arg: &[u8]) -> Result<i64, &'static str> {
    match parse_i64(arg) {
        None => Err(super::errors::NOT_INTEGER),
        Some(i64::MIN) => Err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
        Some(n) => Ok(n),
    }
}

impl Count {
    /// What a parsed count asks for.
    ///
    /// # Errors
    /// More picks with repeats than [`MAX_REPEATED_PICKS`].
    pub fn of(n: i64) -> Result<Count, &'static str> {
        if n >= 0 {
            return Ok(Count::Distinct(n as u64));
        }
        let n = n.unsigned_abs();
        if n > MAX_REPEATED_PICKS {
            return Err("ERR count with repeats is above 16777216, the most one reply holds");
        }
        Ok(Count::WithRepeats(n))
    }
}

/// Picks entries of a collection of `len` entries reached by position
/// (`nth`, O(log n) on a large collection): distinct ones in random order,
/// or independent draws. Costs O(picks), never a walk of the collection.
pub fn pick<T>(len: usize, count: Count, nth: impl Fn(usize) -> Option<T>) -> Vec<T> {
    let mut rng = rand::thread_rng();
    let positions: Vec<usize> = match count {
        Count::Distinct(n) => {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            let mut at = if n >= len {
                (0..len).collect()
            } else {
                rand::seq::index::sample(&mut rng, len, n).into_vec()
            };
            at.shuffle(&mut rng);
            at
        }
        Count::WithRepeats(_) if len == 0 => Vec::new(),
        Count::WithRepeats(n) => (0..n).map(|_| rng.gen_range(0..len)).collect(),
    };
    positions.into_iter().filter_map(nth).collect()
}

/// One entry of `len` picked at random (`None` when there is none).
pub fn pick_one<T>(len: usize, nth: impl Fn(usize) -> Option<T>) -> Option<T> {
    if len == 0 {
        return None;
    }
    nth(rand::thread_rng().gen_range(0..len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_as_redis_parses_them() {
        assert_eq!(
            parse_count(b"3").and_then(Count::of),
            Ok(Count::Distinct(3))
        );
        assert_eq!(
            parse_count(b"0").and_then(Count::of),
            Ok(Count::Distinct(0))
        );
        assert_eq!(
            parse_count(b"-2").and_then(Count::of),
            Ok(Count::WithRepeats(2))
        );
        assert!(parse_count(b"x").is_err());
        assert!(parse_count(b"-9223372036854775808")
            .unwrap_err()
            .starts_with("ERR value is out of range, value must between"));
        assert!(Count::of(-(1 << 24) - 1).is_err());
        assert_eq!(Count::of(-(1 << 24)), Ok(Count::WithRepeats(1 << 24)));
    }

    #[test]
    fn picks_are_distinct_or_exactly_as_many_as_asked() {
        let v: Vec<u32> = (0..10).collect();
        let at = |i: usize| v.get(i).copied();
        let mut d = pick(10, Count::Distinct(4), at);
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), 4);
        assert_eq!(pick(10, Count::Distinct(99), at).len(), 10);
        assert_eq!(pick(10, Count::WithRepeats(25), at).len(), 25);
        assert!(pick(0, Count::WithRepeats(3), at).is_empty());
        assert!(pick_one(0, at).is_none());
        assert!(pick_one(10, at).is_some());
    }
}
