//! SORT and SORT_RO: the elements of a list, set or sorted set, sorted by
//! themselves or by other keys (`BY pattern`), with other keys' values in
//! their place (`GET pattern`), optionally stored as a list (`STORE`, logged
//! as a `Del` and a `Push` of the result).

use super::floats::parse_f64;
use super::{errors, keyspace_commands, parse_i64, Ctx, Spec};
use crate::resp::reply::Reply;
use crate::store::value::Coll;
use crate::store::{Blob, Effect, Item, ListEnd};
use bytes::Bytes;
use std::cmp::Ordering;

pub(super) static TABLE: &[Spec] = keyspace_commands! {
    "sort" -2 Grow => |a, c, o, f| sort(true, a, c, o, f),
    "sort_ro" -2 Read => |a, c, o, f| sort(false, a, c, o, f),
};

const NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

/// The options of one SORT.
struct Options<'a> {
    by: Option<&'a [u8]>,
    /// `BY` a pattern without `*` (such as `nosort`): keep the stored order.
    dont_sort: bool,
    gets: Vec<&'a [u8]>,
    /// Offset and count.
    limit: Option<(i64, i64)>,
    desc: bool,
    alpha: bool,
    store: Option<&'a [u8]>,
}

fn parse<'a>(args: &'a [Bytes], may_store: bool) -> Result<Options<'a>, &'static str> {
    let mut o = Options {
        by: None,
        dont_sort: false,
        gets: Vec::new(),
        limit: None,
        desc: false,
        alpha: false,
        store: None,
    };
    let mut i = 2;
    while i < args.len() {
        let left = args.len() - i - 1;
        let opt = args[i].to_ascii_uppercase();
        match opt.as_slice() {
            b"ASC" => o.desc = false,
            b"DESC" => o.desc = true,
            b"ALPHA" => o.alpha = true,
            b"LIMIT" if left >= 2 => {
                let (Some(off), Some(n)) = (parse_i64(&args[i + 1]), parse_i64(&args[i + 2]))
                else {
                    return Err(errors::NOT_INTEGER);
                };
                o.limit = Some((off, n));
                i += 2;
            }
            b"STORE" if left >= 1 && may_store => {
                o.store = Some(&args[i + 1]);
                i += 1;
            }
            b"BY" if left >= 1 => {
                let p = &args[i + 1][..];
                o.dont_sort = !p.contains(&b'*');
                o.by = Some(p);
                i += 1;
            }
            b"GET" if left >= 1 => {
                o.gets.push(&args[i + 1]);
                i += 1;
            }
            _ => return Err(errors::SYNTAX),
        }
        i += 1;
    }
    Ok(o)
}

/// What a pattern finds for `elem`: `#` is the element itself; otherwise
/// the first `*` is replaced by the element to name a string key, or a
/// hash's field with `key->field`. `None` when there is no such value.
fn lookup<'k>(ctx: &Ctx<'k>, pattern: &[u8], elem: &'k [u8]) -> Option<&'k [u8]> {
    if pattern == b"#" {
        return Some(elem);
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let arrow = pattern[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|p| p + star + 1)
        .filter(|&p| p + 2 < pattern.len());
    let key_end = arrow.unwrap_or(pattern.len());
    let mut key = Vec::with_capacity(key_end + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let item = ctx.keyspace().get(&key)?;
    if item.is_expired(ctx.now_unix_ms) {
        return None;
    }
    match arrow {
        None => item.as_str(),
        Some(a) => match item.as_coll() {
            Some(Coll::Hash(h)) => h.get(&pattern[a + 2..]),
            _ => None,
        },
    }
}

/// A number the way SORT reads one (`strtod`): leading spaces allowed, an
/// empty string is 0.
fn sort_score(v: &[u8]) -> Option<f64> {
    let t = v.trim_ascii_start();
    if t.is_empty() {
        return Some(0.0);
    }
    parse_f64(t)
}

/// One element and what it sorts by.
struct Entry<'k> {
    elem: &'k [u8],
    score: f64,
    by: Option<&'k [u8]>,
}

/// `SORT key [BY pattern] [LIMIT offset count] [GET pattern …] [ASC|DESC]
/// [ALPHA] [STORE destination]`; SORT_RO without STORE.
fn sort<'a>(
    may_store: bool,
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let mut o = match parse(args, may_store) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    let item: Option<&Item> = ctx.live(&args[1], fx);
    let coll = match item {
        None => None,
        Some(i) => match i.as_coll() {
            Some(c @ (Coll::List(_) | Coll::Set(_) | Coll::ZSet(_))) => Some(c),
            _ => return out.error(errors::WRONGTYPE),
        },
    };
    // A set has no order of its own: sorted anyway when stored, so that
    // primary and standby agree.
    if o.dont_sort && matches!(coll, Some(Coll::Set(_))) && o.store.is_some() {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let mut elems: Vec<&[u8]> = match coll {
        None => Vec::new(),
        Some(Coll::List(l)) => l.iter().collect(),
        Some(Coll::Set(s)) => s.iter().collect(),
        Some(Coll::ZSet(z)) => z.iter().map(|(m, _)| m).collect(),
        Some(Coll::Hash(_)) => unreachable!("refused above"),
    };
    if o.dont_sort && o.desc && matches!(coll, Some(Coll::ZSet(_))) {
        elems.reverse();
    }
    if !o.dont_sort {
        let mut entries = Vec::with_capacity(elems.len());
        for &elem in &elems {
            let by = o.by.map_or(Some(elem), |p| lookup(ctx, p, elem));
            let mut score = 0.0;
            if !o.alpha {
                if let Some(v) = by {
                    match sort_score(v) {
                        Some(s) => score = s,
                        None => return out.error(NOT_DOUBLE),
                    }
                }
            }
            entries.push(Entry { elem, score, by });
        }
        let cmp = |a: &Entry<'_>, b: &Entry<'_>| -> Ordering {
            let c = if !o.alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.elem.cmp(b.elem))
            } else {
                a.by.cmp(&b.by)
            };
            if o.desc {
                c.reverse()
            } else {
                c
            }
        };
        entries.sort_by(cmp);
        elems = entries.into_iter().map(|e| e.elem).collect();
    }
    let n = elems.len() as i64;
    let (start, end) = match o.limit {
        None => (0, n - 1),
        Some((off, count)) => {
            let start = off.max(0);
            // Wrapping, as Redis's C arithmetic does on a count near i64::MAX.
            let mut end = if count < 0 {
                n - 1
            } else {
                start.wrapping_add(count).wrapping_sub(1)
            };
            let start = if start >= n { n } else { start };
            if end >= n {
                end = n - 1;
            }
            (start, end)
        }
    };
    let picked: &[&[u8]] = if start <= end && start < n {
        &elems[start as usize..=end as usize]
    } else {
        &[]
    };
    let values: Vec<Option<&[u8]>> = if o.gets.is_empty() {
        picked.iter().map(|&e| Some(e)).collect()
    } else {
        picked
            .iter()
            .flat_map(|&e| o.gets.iter().map(move |&p| lookup(ctx, p, e)))
            .collect()
    };
    let Some(dest) = o.store else {
        out.array(values.len());
        for v in values {
            match v {
                Some(v) => out.bulk(v),
                None => out.nil(),
            }
        }
        return;
    };
    if ctx.keyspace().get(dest).is_some() {
        fx.push(Effect::Del {
            keys: vec![Blob::borrowed(dest)],
        });
    }
    if !values.is_empty() {
        fx.push(Effect::Push {
            key: Blob::borrowed(dest),
            end: ListEnd::Right,
            elems: values
                .iter()
                .map(|v| Blob::owned(v.unwrap_or_default().to_vec()))
                .collect(),
        });
    }
    out.int(values.len() as i64);
}
