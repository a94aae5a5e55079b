//! The generator's families of hash, list (and blocking pop), set and
//! sorted-set commands.

use super::{Cmp, Gen, Rand, Step};
use rand::Rng;

impl Gen {
    pub(super) fn hash(&mut self) -> Step {
        let k = self.key();
        let (args, cmp) = match self.rng.gen_range(0..16) {
            0..=2 => {
                let name = self.one(&["HSET", "HSET", "HMSET"]);
                let mut a = v![name, k];
                for _ in 0..self.rng.gen_range(1..4) {
                    a.extend(v![self.field(), self.val()]);
                }
                (a, Cmp::Exact)
            }
            3 => (v!["HSETNX", k, self.field(), self.val()], Cmp::Exact),
            4 => (v!["HGET", k, self.field()], Cmp::Exact),
            5 => {
                let mut a = v!["HMGET", k];
                a.extend((0..self.rng.gen_range(1..4)).map(|_| self.field()));
                (a, Cmp::Exact)
            }
            6 => (v!["HGETALL", k], Cmp::Pairs),
            7 => {
                let mut a = v!["HDEL", k];
                a.extend((0..self.rng.gen_range(1..3)).map(|_| self.field()));
                (a, Cmp::Exact)
            }
            8 => (v![self.one(&["HLEN", "HLEN"]), k], Cmp::Exact),
            9 => (v!["HEXISTS", k, self.field()], Cmp::Exact),
            10 => (v![self.one(&["HKEYS", "HVALS"]), k], Cmp::Sorted),
            11 => (v!["HINCRBY", k, self.field(), self.int()], Cmp::Exact),
            12 => (
                v!["HINCRBYFLOAT", k, self.field(), self.float()],
                Cmp::Exact,
            ),
            13 => (v!["HSTRLEN", k, self.field()], Cmp::Exact),
            14 => {
                let mut a = v!["HRANDFIELD", k];
                if self.chance(2, 3) {
                    a.push(self.rng.gen_range(-4..6).to_string());
                    if self.chance(1, 2) {
                        a.push("WITHVALUES".into());
                    }
                }
                (a, Cmp::Random(Rand::HRandField))
            }
            _ => {
                let mut a = v!["HSCAN", k, "0"];
                if self.chance(1, 2) {
                    a.extend(v!["MATCH", self.one(&["f[0-2]", "*", "x*"])]);
                }
                if self.chance(1, 2) {
                    a.extend(v!["COUNT", self.one(&["1", "2", "100"])]);
                }
                (
                    a,
                    Cmp::Scan {
                        cursor_at: 2,
                        pairs: true,
                    },
                )
            }
        };
        let args = if matches!(cmp, Cmp::Random(_) | Cmp::Scan { .. }) {
            args
        } else {
            self.maybe_arity(args)
        };
        Self::with(args, cmp)
    }

    pub(super) fn end(&mut self) -> String {
        self.one(&["LEFT", "RIGHT", "LEFT", "RIGHT", "UP"]).into()
    }

    pub(super) fn list(&mut self) -> Step {
        let k = self.key();
        let args = match self.rng.gen_range(0..18) {
            0..=2 => {
                let mut a = v![self.one(&["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), k];
                a.extend((0..self.rng.gen_range(1..4)).map(|_| self.member()));
                a
            }
            3 => {
                let mut a = v![self.one(&["LPOP", "RPOP"]), k];
                if self.chance(1, 2) {
                    a.push(self.count());
                }
                a
            }
            4 => v!["LLEN", k],
            5 | 6 => v!["LRANGE", k, self.int(), self.int()],
            7 => v!["LINDEX", k, self.int()],
            8 => v!["LSET", k, self.int(), self.member()],
            9 => {
                let w = self.one(&["BEFORE", "AFTER", "AFTER", "MIDDLE"]);
                v!["LINSERT", k, w, self.member(), self.member()]
            }
            10 => v!["LREM", k, self.int(), self.member()],
            11 => v!["LTRIM", k, self.int(), self.int()],
            12 => {
                let mut a = v!["LPOS", k, self.member()];
                if self.chance(1, 2) {
                    a.extend(v!["RANK", self.one(&["1", "2", "-1", "-2", "0", "x"])]);
                }
                if self.chance(1, 2) {
                    a.extend(v!["COUNT", self.count()]);
                }
                if self.chance(1, 3) {
                    a.extend(v!["MAXLEN", self.count()]);
                }
                a
            }
            13 | 14 => v!["LMOVE", k, self.key(), self.end(), self.end()],
            15 => v!["RPOPLPUSH", k, self.key()],
            _ => {
                let n = self.rng.gen_range(1..4);
                let mut a = v!["LMPOP", self.one(&["1", "2", "3", "0", "x"])];
                a.extend((0..n).map(|_| self.key()));
                a.push(self.end());
                if self.chance(1, 2) {
                    a.extend(v!["COUNT", self.count()]);
                }
                a
            }
        };
        Self::step(self.maybe_arity(args))
    }

    pub(super) fn timeout(&mut self) -> String {
        self.one(&["0.01", "0.01", "0.01", "-1", "x"]).into()
    }

    pub(super) fn blocking(&mut self) -> Step {
        let args = match self.rng.gen_range(0..8) {
            0 | 1 => {
                let mut a = v![self.one(&["BLPOP", "BRPOP"])];
                a.extend(self.keys_n(1, 3));
                a.push(self.timeout());
                a
            }
            2 => {
                let (s, d, a, b) = (self.key(), self.key(), self.end(), self.end());
                v!["BLMOVE", s, d, a, b, self.timeout()]
            }
            3 => v!["BRPOPLPUSH", self.key(), self.key(), self.timeout()],
            4 => {
                let n = self.rng.gen_range(1..4);
                let mut a = v!["BLMPOP", self.timeout(), n];
                a.extend((0..n).map(|_| self.key()));
                a.push(self.end());
                if self.chance(1, 2) {
                    a.extend(v!["COUNT", self.count()]);
                }
                a
            }
            5 | 6 => {
                let mut a = v![self.one(&["BZPOPMIN", "BZPOPMAX"])];
                a.extend(self.keys_n(1, 3));
                a.push(self.timeout());
                a
            }
            _ => {
                let n = self.rng.gen_range(1..4);
                let mut a = v!["BZMPOP", self.timeout(), n];
                a.extend((0..n).map(|_| self.key()));
                a.push(self.one(&["MIN", "MAX", "MID"]).into());
                if self.chance(1, 2) {
                    a.extend(v!["COUNT", self.count()]);
                }
                a
            }
        };
        Self::step(args)
    }

    pub(super) fn set(&mut self) -> Step {
        let k = self.key();
        let several = |g: &mut Gen, name: &str| {
            let mut a = v![name];
            a.extend(g.keys_n(1, 3));
            a
        };
        let (args, cmp) = match self.rng.gen_range(0..18) {
            0..=2 => {
                let mut a = v!["SADD", k];
                a.extend((0..self.rng.gen_range(1..4)).map(|_| self.member()));
                (a, Cmp::Exact)
            }
            3 => {
                let mut a = v!["SREM", k];
                a.extend((0..self.rng.gen_range(1..3)).map(|_| self.member()));
                (a, Cmp::Exact)
            }
            4 => (v!["SMEMBERS", k], Cmp::Sorted),
            5 => (v!["SISMEMBER", k, self.member()], Cmp::Exact),
            6 => {
                let mut a = v!["SMISMEMBER", k];
                a.extend((0..self.rng.gen_range(1..4)).map(|_| self.member()));
                (a, Cmp::Exact)
            }
            7 => (v!["SCARD", k], Cmp::Exact),
            8 => {
                let mut a = v!["SPOP", k];
                if self.chance(1, 2) {
                    a.push(self.count());
                }
                (a, Cmp::Random(Rand::SPop))
            }
            9 => {
                let mut a = v!["SRANDMEMBER", k];
                if self.chance(2, 3) {
                    a.push(self.rng.gen_range(-4..6).to_string());
                }
                (a, Cmp::Random(Rand::SRandMember))
            }
            10 => (v!["SMOVE", k, self.key(), self.member()], Cmp::Exact),
            11 => (several(self, "SINTER"), Cmp::Sorted),
            12 => (several(self, "SUNION"), Cmp::Sorted),
            13 => (several(self, "SDIFF"), Cmp::Sorted),
            14 => {
                let n = self.rng.gen_range(1..4);
                let mut a = v!["SINTERCARD", self.one(&["1", "2", "3", "0", "x"])];
                a.extend((0..n).map(|_| self.key()));
                if self.chance(1, 2) {
                    a.extend(v!["LIMIT", self.count()]);
                }
                (a, Cmp::Exact)
            }
            15 | 16 => {
                let name = self.one(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]);
                let mut a = v![name, k];
                a.extend(self.keys_n(1, 3));
                (a, Cmp::Exact)
            }
            _ => {
                let mut a = v!["SSCAN", k, "0"];
                if self.chance(1, 2) {
                    a.extend(v!["MATCH", self.one(&["[a-c]", "*", "1*"])]);
                }
                if self.chance(1, 2) {
                    a.extend(v!["COUNT", self.one(&["1", "2", "100"])]);
                }
                (
                    a,
                    Cmp::Scan {
                        cursor_at: 2,
                        pairs: false,
                    },
                )
            }
        };
        let args = if matches!(cmp, Cmp::Random(_) | Cmp::Scan { .. }) {
            args
        } else {
            self.maybe_arity(args)
        };
        Self::with(args, cmp)
    }

    pub(super) fn score(&mut self) -> String {
        match self.rng.gen_range(0..10) {
            0..=2 => "0".into(),
            3 => self.one(&["inf", "-inf", "nan", "x", "1e2", "0.5"]).into(),
            _ => self.rng.gen_range(-3..8).to_string(),
        }
    }

    pub(super) fn score_bound(&mut self) -> String {
        self.one(&[
            "-inf", "+inf", "0", "1", "(1", "2", "(0", "-1", "5", "x", "(x", "inf",
        ])
        .into()
    }

    pub(super) fn lex_bound(&mut self) -> String {
        self.one(&["-", "+", "[a", "(a", "[c", "(d", "[1", "a", "[", "(ab"])
            .into()
    }

    /// `numkeys key…`, numkeys sometimes wrong.
    pub(super) fn numkeys(&mut self, a: &mut Vec<String>) {
        let n = self.rng.gen_range(1..4);
        let shown = match self.rng.gen_range(0..12) {
            0 => "0".to_string(),
            1 => (n + 1).to_string(),
            2 => "x".to_string(),
            _ => n.to_string(),
        };
        a.push(shown);
        a.extend((0..n).map(|_| self.key()));
    }

    pub(super) fn zset(&mut self) -> Step {
        let k = self.key();
        let (args, cmp) = match self.rng.gen_range(0..34) {
            0..=3 => {
                let mut a = v!["ZADD", k];
                for opt in ["NX", "XX", "GT", "LT", "CH", "INCR"] {
                    if self.chance(1, 8) {
                        a.push(opt.into());
                    }
                }
                for _ in 0..self.rng.gen_range(1..4) {
                    a.extend(v![self.score(), self.member()]);
                }
                (a, Cmp::Exact)
            }
            4 => (v!["ZINCRBY", k, self.score(), self.member()], Cmp::Exact),
            5 => {
                let mut a = v!["ZREM", k];
                a.extend((0..self.rng.gen_range(1..3)).map(|_| self.member()));
                (a, Cmp::Exact)
            }
            6 => (v!["ZCARD", k], Cmp::Exact),
            7 => (
                v!["ZCOUNT", k, self.score_bound(), self.score_bound()],
                Cmp::Exact,
            ),
            8 => (
                v!["ZLEXCOUNT", k, self.lex_bound(), self.lex_bound()],
                Cmp::Exact,
            ),
            9 => (v!["ZSCORE", k, self.member()], Cmp::Exact),
            10 => {
                let mut a = v!["ZMSCORE", k];
                a.extend((0..self.rng.gen_range(1..4)).map(|_| self.member()));
                (a, Cmp::Exact)
            }
            11 => (
                v![self.one(&["ZRANK", "ZREVRANK"]), k, self.member()],
                Cmp::Exact,
            ),
            12..=14 => {
                let store = self.chance(1, 4);
                let mut a = if store {
                    v!["ZRANGESTORE", self.key(), k]
                } else {
                    v!["ZRANGE", k]
                };
                match self.rng.gen_range(0..3) {
                    0 => a.extend(v![self.score_bound(), self.score_bound(), "BYSCORE"]),
                    1 => a.extend(v![self.lex_bound(), self.lex_bound(), "BYLEX"]),
                    _ => a.extend(v![self.int(), self.int()]),
                }
                if self.chance(1, 3) {
                    a.push("REV".into());
                }
                if self.chance(1, 3) {
                    a.extend(v!["LIMIT", self.int(), self.int()]);
                }
                if !store && self.chance(1, 2) {
                    a.push("WITHSCORES".into());
                }
                (a, Cmp::Exact)
            }
            15 | 16 => {
                let rev = self.chance(1, 2);
                let mut a = v![
                    if rev {
                        "ZREVRANGEBYSCORE"
                    } else {
                        "ZRANGEBYSCORE"
                    },
                    k,
                    self.score_bound(),
                    self.score_bound()
                ];
                if self.chance(1, 2) {
                    a.push("WITHSCORES".into());
                }
                if self.chance(1, 3) {
                    a.extend(v!["LIMIT", self.int(), self.int()]);
                }
                (a, Cmp::Exact)
            }
            17 => {
                let name = self.one(&["ZRANGEBYLEX", "ZREVRANGEBYLEX"]);
                let mut a = v![name, k, self.lex_bound(), self.lex_bound()];
                if self.chance(1, 3) {
                    a.extend(v!["LIMIT", self.int(), self.int()]);
                }
                (a, Cmp::Exact)
            }
            18 => {
                let mut a = v!["ZREVRANGE", k, self.int(), self.int()];
                if self.chance(1, 2) {
                    a.push("WITHSCORES".into());
                }
                (a, Cmp::Exact)
            }
            19 => (v!["ZREMRANGEBYRANK", k, self.int(), self.int()], Cmp::Exact),
            20 => (
                v![
                    "ZREMRANGEBYSCORE",
                    k,
                    self.score_bound(),
                    self.score_bound()
                ],
                Cmp::Exact,
            ),
            21 => (
                v!["ZREMRANGEBYLEX", k, self.lex_bound(), self.lex_bound()],
                Cmp::Exact,
            ),
            22 => {
                let mut a = v![self.one(&["ZPOPMIN", "ZPOPMAX"]), k];
                if self.chance(1, 2) {
                    a.push(self.count());
                }
                (a, Cmp::Exact)
            }
            23 => {
                let mut a = v!["ZMPOP"];
                self.numkeys(&mut a);
                a.push(self.one(&["MIN", "MAX", "MAX", "MID"]).into());
                if self.chance(1, 2) {
                    a.extend(v!["COUNT", self.count()]);
                }
                (a, Cmp::Exact)
            }
            24 => {
                let mut a = v!["ZRANDMEMBER", k];
                if self.chance(2, 3) {
                    a.push(self.rng.gen_range(-4..6).to_string());
                    if self.chance(1, 2) {
                        a.push("WITHSCORES".into());
                    }
                }
                (a, Cmp::Random(Rand::ZRandMember))
            }
            25..=27 => {
                let name = self.one(&["ZUNION", "ZINTER", "ZDIFF"]);
                let mut a = v![name];
                self.numkeys(&mut a);
                if name != "ZDIFF" {
                    self.weights_aggregate(&mut a);
                }
                if self.chance(1, 2) {
                    a.push("WITHSCORES".into());
                }
                (a, Cmp::Exact)
            }
            28..=30 => {
                let name = self.one(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]);
                let mut a = v![name, k];
                self.numkeys(&mut a);
                if name != "ZDIFFSTORE" {
                    self.weights_aggregate(&mut a);
                }
                (a, Cmp::Exact)
            }
            31 => {
                let mut a = v!["ZINTERCARD"];
                self.numkeys(&mut a);
                if self.chance(1, 2) {
                    a.extend(v!["LIMIT", self.count()]);
                }
                (a, Cmp::Exact)
            }
            _ => {
                let mut a = v!["ZSCAN", k, "0"];
                if self.chance(1, 2) {
                    a.extend(v!["MATCH", self.one(&["[a-c]", "*", "1*"])]);
                }
                if self.chance(1, 2) {
                    a.extend(v!["COUNT", self.one(&["1", "2", "100"])]);
                }
                (
                    a,
                    Cmp::Scan {
                        cursor_at: 2,
                        pairs: true,
                    },
                )
            }
        };
        let args = if matches!(cmp, Cmp::Random(_) | Cmp::Scan { .. }) {
            args
        } else {
            self.maybe_arity(args)
        };
        Self::with(args, cmp)
    }

    /// `[WEIGHTS w…] [AGGREGATE SUM|MIN|MAX]` after `numkeys key…`.
    pub(super) fn weights_aggregate(&mut self, a: &mut Vec<String>) {
        let n: usize = a.iter().rev().take_while(|s| s.starts_with('k')).count();
        if self.chance(1, 3) {
            a.push("WEIGHTS".into());
            let extra = usize::from(self.chance(1, 10));
            for _ in 0..n + extra {
                let w = self.one(&["1", "2", "0", "-1", "0.5", "x", "inf"]);
                a.push(w.into());
            }
        }
        if self.chance(1, 3) {
            a.extend(v!["AGGREGATE", self.one(&["SUM", "MIN", "MAX", "AVG"])]);
        }
    }
}
