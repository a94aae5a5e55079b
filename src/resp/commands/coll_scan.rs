//! `HSCAN` and `SSCAN`: a cursor over the entries of one collection.
//!
//! The cursor is a position in the order of a fixed 64-bit hash of each
//! entry's bytes (a field, a member). A call returns the entries whose hash
//! is at least the cursor, about COUNT of them with the smallest hashes
//! (entries sharing a hash always come together), and the cursor after the
//! largest hash returned. So every entry present for the whole scan is
//! returned exactly once, whatever is added or removed meanwhile, and the
//! same cursor means the same place on the primary and on a standby.
//!
//! A call costs one pass over the collection (Redis's hash-table scan costs
//! about COUNT): the persistent structures cannot be entered at a hash.

use super::{errors, parse_i64};
use crate::resp::glob::Pattern;
use bytes::Bytes;

/// COUNT when none is given (as Redis).
pub const DEFAULT_COUNT: usize = 10;

/// A scan call's cursor and options.
pub struct ScanArgs {
    /// 0 starts a scan; a reply's cursor continues it.
    pub cursor: u64,
    /// Entries to look at, at least 1.
    pub count: usize,
    /// Only entries matching it are returned (after counting them).
    pub pattern: Option<Pattern>,
}

/// Parses `cursor [MATCH pattern] [COUNT n]` (`args[2..]` of
/// `HSCAN key cursor …`).
///
/// # Errors
/// The error reply's text: a cursor that is not a u64, an unknown option, a
/// COUNT that is not an integer or below 1.
pub fn parse(args: &[Bytes]) -> Result<ScanArgs, &'static str> {
    let cursor = std::str::from_utf8(&args[2])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or("ERR invalid cursor")?;
    let mut scan = ScanArgs {
        cursor,
        count: DEFAULT_COUNT,
        pattern: None,
    };
    let mut i = 3;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Err(errors::SYNTAX);
        }
        let value = &args[i + 1];
        match args[i].to_ascii_uppercase().as_slice() {
            b"MATCH" => scan.pattern = Some(Pattern::new(value)),
            b"COUNT" => match parse_i64(value) {
                Some(n) if n >= 1 => scan.count = usize::try_from(n).unwrap_or(usize::MAX),
                Some(_) => return Err(errors::SYNTAX),
                None => return Err(errors::NOT_INTEGER),
            },
            _ => return Err(errors::SYNTAX),
        }
        i += 2;
    }
    Ok(scan)
}

/// The entries of one call and the next cursor (0 when the scan is over).
/// `entries` lists `(bytes the cursor orders by, payload)`.
pub fn page<'e, T>(
    entries: impl Iterator<Item = (&'e [u8], T)>,
    scan: &ScanArgs,
) -> (u64, Vec<(&'e [u8], T)>) {
    let mut left: Vec<(u64, &'e [u8], T)> = entries
        .map(|(b, t)| (entry_hash(b), b, t))
        .filter(|(h, _, _)| *h >= scan.cursor)
        .collect();
    let next = if left.len() <= scan.count {
        0
    } else {
        let (_, nth, _) = left.select_nth_unstable_by_key(scan.count - 1, |(h, _, _)| *h);
        let last = nth.0;
        left.retain(|(h, _, _)| *h <= last);
        // `last` is u64::MAX only when every entry left was taken.
        last.wrapping_add(1)
    };
    left.sort_unstable_by_key(|(h, _, _)| *h);
    let found = left
        .into_iter()
        .filter(|(_, b, _)| scan.pattern.as_ref().is_none_or(|p| p.matches(b)))
        .map(|(_, b, t)| (b, t))
        .collect();
    (next, found)
}

/// A fixed hash of an entry's bytes: FNV-1a, then a 64-bit finaliser
/// (splitmix64) to spread short entries over the whole range. Fixed so
/// that a cursor means the same on every node and in every build.
pub fn entry_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn options_parse_as_redis_parses_them() {
        let a = parse(&args("SSCAN k 7 MATCH a* COUNT 3")).ok().unwrap();
        assert_eq!((a.cursor, a.count), (7, 3));
        assert!(a.pattern.unwrap().matches(b"ab"));
        for (line, err) in [
            ("SSCAN k x", "ERR invalid cursor"),
            ("SSCAN k 18446744073709551616", "ERR invalid cursor"),
            ("SSCAN k 0 COUNT 0", errors::SYNTAX),
            ("SSCAN k 0 COUNT x", errors::NOT_INTEGER),
            ("SSCAN k 0 MATCH", errors::SYNTAX),
            ("SSCAN k 0 NOVALUES", errors::SYNTAX),
        ] {
            assert_eq!(parse(&args(line)).err(), Some(err), "{line}");
        }
    }

    #[test]
    fn a_scan_returns_every_entry_present_throughout_once() {
        let mut set: std::collections::BTreeSet<Vec<u8>> =
            (0..1000).map(|i| format!("m{i}").into_bytes()).collect();
        let keep: Vec<Vec<u8>> = set.iter().step_by(3).cloned().collect();
        let mut scan = parse(&args("SSCAN k 0 COUNT 7")).ok().unwrap();
        let mut seen = std::collections::HashMap::new();
        for round in 0.. {
            assert!(round < 10_000, "the scan ends");
            let (next, found) = page(set.iter().map(|m| (&m[..], ())), &scan);
            for (m, ()) in found {
                *seen.entry(m.to_vec()).or_insert(0) += 1;
            }
            // Churn: remove some entries not in `keep`, add new ones.
            let gone: Vec<Vec<u8>> = set
                .iter()
                .filter(|m| !keep.contains(m))
                .take(2)
                .cloned()
                .collect();
            for m in gone {
                set.remove(&m);
            }
            set.insert(format!("new{round}").into_bytes());
            if next == 0 {
                break;
            }
            scan.cursor = next;
        }
        for m in &keep {
            assert_eq!(seen.get(m), Some(&1), "{}", String::from_utf8_lossy(m));
        }
        assert!(seen.values().all(|&n| n == 1), "never twice");
    }
}
