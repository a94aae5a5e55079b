//! Combining sorted sets: `ZUNION`, `ZINTER`, `ZDIFF`, their `…STORE`
//! forms and `ZINTERCARD`, as Redis 7.0 does them: a set counts as a sorted
//! set whose members all score 1, a missing key as an empty one; a product
//! or a sum that is NaN (`inf × 0`, `inf + -inf`) counts as 0.

use super::floats::parse_f64;
use super::zrange::{reply_members, store_entries};
use super::{errors, parse_i64, Ctx, WrongType};
use crate::resp::reply::Reply;
use crate::store::value::{Coll, Set, ZSet};
use crate::store::{Blob, Effect};
use bytes::Bytes;
use std::cmp::Ordering;
use std::collections::HashMap;

/// What to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Union,
    Inter,
    /// `ZINTERCARD`: the size of the intersection only.
    InterCard,
    Diff,
}

/// How the scores of a member found in several inputs combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Aggregate::Sum => zero_if_nan(a + b),
            Aggregate::Min => a.min(b),
            Aggregate::Max => a.max(b),
        }
    }
}

fn zero_if_nan(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// An input: a sorted set, a set (every member scores 1) or nothing.
#[derive(Clone, Copy)]
enum Input<'k> {
    Missing,
    Sorted(&'k ZSet),
    Plain(&'k Set),
}

impl<'k> Input<'k> {
    fn len(self) -> usize {
        match self {
            Input::Missing => 0,
            Input::Sorted(z) => z.len(),
            Input::Plain(s) => s.len(),
        }
    }

    fn score(self, member: &[u8]) -> Option<f64> {
        match self {
            Input::Missing => None,
            Input::Sorted(z) => z.score(member),
            Input::Plain(s) => s.contains(member).then_some(1.0),
        }
    }

    fn entries(self) -> Box<dyn Iterator<Item = (&'k [u8], f64)> + 'k> {
        match self {
            Input::Missing => Box::new(std::iter::empty()),
            Input::Sorted(z) => Box::new(z.iter()),
            Input::Plain(s) => Box::new(s.iter().map(|m| (m, 1.0))),
        }
    }
}

/// The input under `key`.
fn input<'a, 'k>(
    key: &'a [u8],
    ctx: &Ctx<'k>,
    fx: &mut Vec<Effect<'a>>,
) -> Result<Input<'k>, WrongType> {
    match ctx.live(key, fx).map(|i| i.as_coll()) {
        None => Ok(Input::Missing),
        Some(Some(Coll::ZSet(z))) => Ok(Input::Sorted(z)),
        Some(Some(Coll::Set(s))) => Ok(Input::Plain(s)),
        Some(_) => Err(WrongType),
    }
}

/// An input with its weight.
struct Weighted<'k> {
    input: Input<'k>,
    weight: f64,
}

/// The options after the keys.
struct Options {
    aggregate: Aggregate,
    with_scores: bool,
    /// `ZINTERCARD`'s `LIMIT` (0: none).
    limit: usize,
}

/// Reads the options after the keys, in Redis's order of checks.
fn options(
    op: Op,
    store: bool,
    rest: &[Bytes],
    inputs: &mut [Weighted<'_>],
) -> Result<Options, &'static str> {
    let mut o = Options {
        aggregate: Aggregate::Sum,
        with_scores: false,
        limit: 0,
    };
    let scored = op != Op::Diff && op != Op::InterCard;
    let mut j = 0;
    while j < rest.len() {
        let left = rest.len() - j;
        let is = |name: &str| rest[j].eq_ignore_ascii_case(name.as_bytes());
        if scored && left > inputs.len() && is("WEIGHTS") {
            for (w, arg) in inputs.iter_mut().zip(&rest[j + 1..]) {
                w.weight = parse_f64(arg).ok_or("ERR weight value is not a float")?;
            }
            j += 1 + inputs.len();
        } else if scored && left >= 2 && is("AGGREGATE") {
            o.aggregate = match rest[j + 1].to_ascii_uppercase().as_slice() {
                b"SUM" => Aggregate::Sum,
                b"MIN" => Aggregate::Min,
                b"MAX" => Aggregate::Max,
                _ => return Err(errors::SYNTAX),
            };
            j += 2;
        } else if !store && op != Op::InterCard && is("WITHSCORES") {
            o.with_scores = true;
            j += 1;
        } else if op == Op::InterCard && left >= 2 && is("LIMIT") {
            o.limit = match parse_i64(&rest[j + 1]) {
                Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                _ => return Err("ERR LIMIT can't be negative"),
            };
            j += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    Ok(o)
}

/// `ZUNION|ZINTER|ZDIFF numkeys key … [WEIGHTS w …] [AGGREGATE SUM|MIN|MAX]
/// [WITHSCORES]`, the `…STORE dst numkeys key …` forms (which replace `dst`:
/// `Del` then `ZAdd`) and `ZINTERCARD numkeys key … [LIMIT n]`.
pub(super) fn zcombine<'a>(
    op: Op,
    store: bool,
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let numkeys_at = if store { 2 } else { 1 };
    let Some(numkeys) = parse_i64(&args[numkeys_at]) else {
        return out.error(errors::NOT_INTEGER);
    };
    if numkeys < 1 {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        return out.error(&format!(
            "ERR at least 1 input key is needed for '{name}' command"
        ));
    }
    let first = numkeys_at + 1;
    if numkeys as u64 > (args.len() - first) as u64 {
        return out.error(errors::SYNTAX);
    }
    let keys = &args[first..first + numkeys as usize];
    let mut inputs = Vec::with_capacity(keys.len());
    for key in keys {
        match input(key, ctx, fx) {
            Ok(input) => inputs.push(Weighted { input, weight: 1.0 }),
            Err(e) => return e.reply(out),
        }
    }
    let o = match options(op, store, &args[first + keys.len()..], &mut inputs) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    if op == Op::InterCard {
        return out.int(intersection(&mut inputs, o.aggregate, o.limit).len() as i64);
    }
    let mut result = match op {
        Op::Union => union(&mut inputs, o.aggregate),
        Op::Diff => difference(&inputs),
        _ => intersection(&mut inputs, o.aggregate, 0),
    };
    result.sort_unstable_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.0.cmp(b.0))
    });
    if store {
        let n = result.len();
        let entries = result
            .into_iter()
            .map(|(m, s)| (s, Blob::owned(m.to_vec())))
            .collect();
        store_entries(&args[1], entries, ctx, fx);
        return out.int(n as i64);
    }
    reply_members(out, result.into_iter(), o.with_scores);
}

/// Smallest inputs first, as Redis orders them (it changes only the order
/// in which sums are taken).
fn by_size(inputs: &mut [Weighted<'_>]) {
    inputs.sort_by_key(|w| w.input.len());
}

fn union<'k>(inputs: &mut [Weighted<'k>], agg: Aggregate) -> Vec<(&'k [u8], f64)> {
    by_size(inputs);
    let mut acc: HashMap<&'k [u8], f64> = HashMap::new();
    for w in inputs.iter() {
        for (m, s) in w.input.entries() {
            let s = zero_if_nan(w.weight * s);
            acc.entry(m)
                .and_modify(|v| *v = agg.apply(*v, s))
                .or_insert(s);
        }
    }
    acc.into_iter().collect()
}

/// Members in every input; with `limit` > 0, stops at that many.
fn intersection<'k>(
    inputs: &mut [Weighted<'k>],
    agg: Aggregate,
    limit: usize,
) -> Vec<(&'k [u8], f64)> {
    by_size(inputs);
    let Some((smallest, others)) = inputs.split_first() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    'members: for (m, s) in smallest.input.entries() {
        let mut score = zero_if_nan(smallest.weight * s);
        for w in others {
            match w.input.score(m) {
                Some(s) => score = agg.apply(score, zero_if_nan(w.weight * s)),
                None => continue 'members,
            }
        }
        found.push((m, score));
        if found.len() == limit {
            break;
        }
    }
    found
}

/// Members of the first input in none of the others, with their scores.
fn difference<'k>(inputs: &[Weighted<'k>]) -> Vec<(&'k [u8], f64)> {
    let Some((first, others)) = inputs.split_first() else {
        return Vec::new();
    };
    first
        .input
        .entries()
        .filter(|(m, _)| others.iter().all(|w| w.input.score(m).is_none()))
        .collect()
}
