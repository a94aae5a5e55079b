//! Sorted-set ranges: score and lex bounds as Redis 7.0 reads them, the ranks
//! they select, and the commands that take them: `ZRANGE` and its older
//! forms, `ZRANGESTORE`, `ZCOUNT`, `ZLEXCOUNT`, `ZREMRANGEBY{RANK,SCORE,LEX}`.
//!
//! Every range becomes a span of ranks found by binary search, so a range
//! costs O(log² n + k) however large the set.

use super::floats::fmt_double;
use super::{errors, Ctx};
use crate::resp::reply::Reply;
use crate::store::value::ZSet;
use crate::store::{Blob, Effect};
use bytes::Bytes;

pub(super) const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
pub(super) const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";

/// One end of a score range: the score, and whether it is excluded (`(`).
#[derive(Clone, Copy, Debug, PartialEq)]
struct ScoreBound {
    score: f64,
    exclusive: bool,
}

/// A bound as `strtod` reads it over the whole argument: leading white
/// space skipped, an empty argument is 0 (nothing converted, nothing left
/// over), an overflow is an infinity, NaN refused.
fn score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (exclusive, num) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    let score = if num.is_empty() {
        0.0
    } else {
        let start = num.iter().position(|c| !c.is_ascii_whitespace())?;
        std::str::from_utf8(&num[start..]).ok()?.parse().ok()?
    };
    (!f64::is_nan(score)).then_some(ScoreBound { score, exclusive })
}

/// A score range `min max`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct ScoreRange {
    min: ScoreBound,
    max: ScoreBound,
}

impl ScoreRange {
    /// Reads `min max` (`ERR min or max is not a float` when `None`).
    pub(super) fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        Some(ScoreRange {
            min: score_bound(min)?,
            max: score_bound(max)?,
        })
    }

    /// The ranks `start..end` of the members in the range.
    pub(super) fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let start = match self.min.exclusive {
            true => z.rank_after_score(self.min.score),
            false => z.rank_from_score(self.min.score),
        };
        let end = match self.max.exclusive {
            true => z.rank_from_score(self.max.score),
            false => z.rank_after_score(self.max.score),
        };
        (start, end.max(start))
    }
}

/// One end of a lex range.
#[derive(Clone, Copy, Debug, PartialEq)]
enum LexBound<'a> {
    /// `-`: below every member.
    Lowest,
    /// `+`: above every member.
    Highest,
    /// `[m`
    Inclusive(&'a [u8]),
    /// `(m`
    Exclusive(&'a [u8]),
}

impl<'a> LexBound<'a> {
    fn parse(arg: &'a [u8]) -> Option<LexBound<'a>> {
        match arg {
            b"-" => Some(LexBound::Lowest),
            b"+" => Some(LexBound::Highest),
            [b'[', m @ ..] => Some(LexBound::Inclusive(m)),
            [b'(', m @ ..] => Some(LexBound::Exclusive(m)),
            _ => None,
        }
    }

    /// The rank of the first member above this bound taken as a minimum.
    fn start(self, z: &ZSet) -> usize {
        match self {
            LexBound::Lowest => 0,
            LexBound::Highest => z.len(),
            LexBound::Inclusive(m) => z.rank_from_member(m, true),
            LexBound::Exclusive(m) => z.rank_from_member(m, false),
        }
    }

    /// The rank after the last member below this bound taken as a maximum.
    fn end(self, z: &ZSet) -> usize {
        match self {
            LexBound::Lowest => 0,
            LexBound::Highest => z.len(),
            LexBound::Inclusive(m) => z.rank_from_member(m, false),
            LexBound::Exclusive(m) => z.rank_from_member(m, true),
        }
    }
}

/// A lex range `min max` (members compared as bytes; meaningful when
/// every score is equal).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct LexRange<'a> {
    min: LexBound<'a>,
    max: LexBound<'a>,
}

impl<'a> LexRange<'a> {
    /// Reads `min max` (`ERR min or max not valid string range item` when
    /// `None`).
    pub(super) fn parse(min: &'a [u8], max: &'a [u8]) -> Option<LexRange<'a>> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    /// The ranks `start..end` of the members in the range.
    pub(super) fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let start = self.min.start(z);
        (start, self.max.end(z).max(start))
    }
}

/// Redis's rank range: negative ranks count from the end, clamped to the
/// set; `start..end` (empty when nothing is selected).
pub(super) fn rank_span(start: i64, stop: i64, len: usize) -> (usize, usize) {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return (0, 0);
    }
    (start as usize, (stop.min(len - 1) + 1) as usize)
}

/// What a range selects.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Range<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

/// How a range is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum By {
    Rank,
    Score,
    Lex,
}

/// A fixed part of a range command: `ZRANGEBYSCORE` is `By::Score` and
/// forward, `ZRANGE` leaves both to its options.
#[derive(Clone, Copy, Debug)]
pub(super) struct Form {
    pub by: Option<By>,
    pub rev: Option<bool>,
    /// Where the source key is; the destination key is just before it
    /// when `store`.
    pub src: usize,
    pub store: bool,
}

/// A parsed range request.
struct Request<'a> {
    range: Range<'a>,
    rev: bool,
    offset: i64,
    /// -1: no limit (as Redis: only -1 means "not given").
    limit: i64,
    with_scores: bool,
}

/// Reads the options and the range of a range command, in Redis's order
/// of checks; `Err` is the error to reply.
fn request<'a>(args: &'a [Bytes], form: Form) -> Result<Request<'a>, &'static str> {
    let (mut by, mut rev) = (form.by, form.rev);
    let (mut offset, mut limit, mut with_scores) = (0, -1, false);
    let mut j = form.src + 3;
    while j < args.len() {
        let opt = &args[j][..];
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        let left = args.len() - j - 1;
        if !form.store && is("WITHSCORES") {
            with_scores = true;
        } else if is("LIMIT") && left >= 2 {
            let n = |i: usize| super::parse_i64(&args[i]).ok_or(errors::NOT_INTEGER);
            offset = n(j + 1)?;
            limit = n(j + 2)?;
            j += 2;
        } else if rev.is_none() && is("REV") {
            rev = Some(true);
        } else if by.is_none() && is("BYLEX") {
            by = Some(By::Lex);
        } else if by.is_none() && is("BYSCORE") {
            by = Some(By::Score);
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    let by = by.unwrap_or(By::Rank);
    let rev = rev.unwrap_or(false);
    if limit != -1 && by == By::Rank {
        return Err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if with_scores && by == By::Lex {
        return Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let (mut lo, mut hi) = (&args[form.src + 1][..], &args[form.src + 2][..]);
    if rev && by != By::Rank {
        // Given as `max min`.
        std::mem::swap(&mut lo, &mut hi);
    }
    Ok(Request {
        range: Range::parse(by, lo, hi)?,
        rev,
        offset,
        limit,
        with_scores,
    })
}

impl Request<'_> {
    /// The ranks `start..end` it selects, walked backwards when `rev`.
    fn span(&self, z: &ZSet) -> (usize, usize) {
        let len = z.len();
        let (lo, hi) = self.range.ranks(z);
        if let Range::Rank(..) = self.range {
            // Counted from the highest when `rev`.
            return match self.rev {
                false => (lo, hi),
                true => (len - hi, len - lo),
            };
        }
        if self.offset < 0 {
            return (0, 0);
        }
        let offset = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let take = |n: usize| match self.limit {
            l if l < 0 => n,
            l => n.min(usize::try_from(l).unwrap_or(usize::MAX)),
        };
        match self.rev {
            false => {
                let s = lo.saturating_add(offset).min(hi);
                (s, s + take(hi - s))
            }
            true => {
                let e = hi.saturating_sub(offset).max(lo);
                (e - take(e - lo), e)
            }
        }
    }
}

/// Writes members (and their scores when `with_scores`) as one flat array.
pub(super) fn reply_members<'m>(
    out: &mut Vec<u8>,
    entries: impl ExactSizeIterator<Item = (&'m [u8], f64)>,
    with_scores: bool,
) {
    out.array(entries.len() * if with_scores { 2 } else { 1 });
    for (m, score) in entries {
        out.bulk(m);
        if with_scores {
            out.bulk(fmt_double(score).as_bytes());
        }
    }
}

/// Replaces `dst` with a sorted set of `entries` (deleting it when there are
/// none): a `Del` when it exists, then a `ZAdd`.
pub(super) fn store_entries<'a>(
    dst: &'a [u8],
    entries: Vec<(f64, Blob<'a>)>,
    ctx: &Ctx<'_>,
    fx: &mut Vec<Effect<'a>>,
) {
    if ctx.keyspace().get(dst).is_some() {
        fx.push(Effect::Del {
            keys: vec![Blob::borrowed(dst)],
        });
    }
    if !entries.is_empty() {
        fx.push(Effect::ZAdd {
            key: Blob::borrowed(dst),
            entries,
        });
    }
}

/// `ZRANGE`, `ZRANGESTORE`, `Z[REV]RANGE[BYSCORE|BYLEX]`, as `form` fixes.
pub(super) fn zrange<'a>(
    form: Form,
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let req = match request(args, form) {
        Ok(r) => r,
        Err(e) => return out.error(e),
    };
    let z = match ctx.zset(&args[form.src], fx) {
        Ok(z) => z,
        Err(e) => return e.reply(out),
    };
    let (start, end) = z.map_or((0, 0), |z| req.span(z));
    let selected: Vec<(&[u8], f64)> = match (z, req.rev) {
        (None, _) => Vec::new(),
        (Some(z), false) => z.range(start, end).collect(),
        (Some(z), true) => z.range(start, end).rev().collect(),
    };
    if form.store {
        let n = selected.len();
        let entries = selected
            .into_iter()
            .map(|(m, s)| (s, Blob::owned(m.to_vec())))
            .collect();
        store_entries(&args[form.src - 1], entries, ctx, fx);
        return out.int(n as i64);
    }
    reply_members(out, selected.into_iter(), req.with_scores);
}

impl Range<'_> {
    /// Reads `min max` of a range `by` rank, score or lex.
    fn parse<'a>(by: By, min: &'a [u8], max: &'a [u8]) -> Result<Range<'a>, &'static str> {
        Ok(match by {
            By::Rank => match (super::parse_i64(min), super::parse_i64(max)) {
                (Some(a), Some(b)) => Range::Rank(a, b),
                _ => return Err(errors::NOT_INTEGER),
            },
            By::Score => Range::Score(ScoreRange::parse(min, max).ok_or(NOT_FLOAT_RANGE)?),
            By::Lex => Range::Lex(LexRange::parse(min, max).ok_or(NOT_LEX_RANGE)?),
        })
    }

    /// The ranks `start..end` it selects, lowest first.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        match self {
            Range::Rank(a, b) => rank_span(*a, *b, z.len()),
            Range::Score(r) => r.ranks(z),
            Range::Lex(r) => r.ranks(z),
        }
    }
}

/// `ZCOUNT key min max` and `ZLEXCOUNT key min max`.
pub(super) fn zcount<'a>(
    by: By,
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let range = match Range::parse(by, &args[2], &args[3]) {
        Ok(r) => r,
        Err(e) => return out.error(e),
    };
    match ctx.zset(&args[1], fx) {
        Ok(Some(z)) => {
            let (s, e) = range.ranks(z);
            out.int((e - s) as i64)
        }
        Ok(None) => out.int(0),
        Err(e) => e.reply(out),
    }
}

/// `ZREMRANGEBYRANK|ZREMRANGEBYSCORE|ZREMRANGEBYLEX key min max`, logged as
/// the `ZRem` of the members removed.
pub(super) fn zremrange<'a>(
    by: By,
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    fx: &mut Vec<Effect<'a>>,
) {
    let range = match Range::parse(by, &args[2], &args[3]) {
        Ok(r) => r,
        Err(e) => return out.error(e),
    };
    let z = match ctx.zset(&args[1], fx) {
        Ok(Some(z)) => z,
        Ok(None) => return out.int(0),
        Err(e) => return e.reply(out),
    };
    let (start, end) = range.ranks(z);
    if start < end {
        fx.push(Effect::ZRem {
            key: Blob::borrowed(&args[1]),
            members: z
                .range(start, end)
                .map(|(m, _)| Blob::owned(m.to_vec()))
                .collect(),
        });
    }
    out.int((end - start) as i64);
}
