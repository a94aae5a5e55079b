//! The generator's families of string and key commands, and SELECT.

use super::{Cmp, Gen, Rand, Step, DBS};
use rand::Rng;

impl Gen {
    pub(super) fn strings(&mut self) -> Step {
        let k = self.key();
        let mut settle = false;
        let args = match self.rng.gen_range(0..15) {
            0 | 1 => v!["GET", k],
            2 | 3 => {
                let mut a = v!["SET", k, self.val()];
                if self.chance(1, 3) {
                    a.push(self.one(&["NX", "XX"]).into());
                }
                if self.chance(1, 4) {
                    a.push("GET".into());
                }
                match self.rng.gen_range(0..8) {
                    0 => a.extend(v!["EX", self.secs()]),
                    1 => {
                        let (ms, s) = self.ms();
                        settle = s;
                        a.extend(v!["PX", ms]);
                    }
                    2 => {
                        let (at, past) = self.at_secs();
                        settle = past;
                        a.extend(v!["EXAT", at]);
                    }
                    3 => {
                        let (at, past) = self.at_ms();
                        settle = past;
                        a.extend(v!["PXAT", at]);
                    }
                    4 => a.push("KEEPTTL".into()),
                    5 if self.chance(1, 4) => a.extend(v!["NX", "XX"]),
                    _ => {}
                }
                a
            }
            4 => v!["SETNX", k, self.val()],
            5 => v!["GETSET", k, self.val()],
            6 => v!["GETDEL", k],
            7 => v!["INCR", k],
            8 => v!["DECR", k],
            9 => v!["INCRBY", k, self.int()],
            10 => v!["DECRBY", k, self.int()],
            11 => v!["APPEND", k, self.val()],
            12 => v!["STRLEN", k],
            13 => {
                let mut a = v!["MGET"];
                a.extend(self.keys_n(1, 4));
                a
            }
            _ => {
                let mut a = v!["MSET"];
                for _ in 0..self.rng.gen_range(1..4) {
                    a.extend(v![self.key(), self.val()]);
                }
                a
            }
        };
        Step {
            settle,
            ..Self::step(self.maybe_arity(args))
        }
    }

    pub(super) fn strings2(&mut self) -> Step {
        let k = self.key();
        let mut settle = false;
        let args = match self.rng.gen_range(0..8) {
            0 => v!["SETEX", k, self.secs(), self.val()],
            1 => {
                let (ms, s) = self.ms();
                settle = s;
                v!["PSETEX", k, ms, self.val()]
            }
            2 => {
                let mut a = v!["GETEX", k];
                match self.rng.gen_range(0..6) {
                    0 => a.extend(v!["EX", self.secs()]),
                    1 => {
                        let (ms, s) = self.ms();
                        settle = s;
                        a.extend(v!["PX", ms]);
                    }
                    2 => {
                        let (at, past) = self.at_secs();
                        settle = past;
                        a.extend(v!["EXAT", at]);
                    }
                    3 => {
                        let (at, past) = self.at_ms();
                        settle = past;
                        a.extend(v!["PXAT", at]);
                    }
                    4 => a.push("PERSIST".into()),
                    _ => {}
                }
                a
            }
            3 => v!["GETRANGE", k, self.int(), self.int()],
            4 => {
                let off = match self.rng.gen_range(0..10) {
                    0 => self.one(&["-1", "x", "536870912"]).to_string(),
                    _ => self.rng.gen_range(0..20).to_string(),
                };
                v!["SETRANGE", k, off, self.val()]
            }
            5 => v!["INCRBYFLOAT", k, self.float()],
            _ => {
                let mut a = v!["MSETNX"];
                for _ in 0..self.rng.gen_range(1..4) {
                    a.extend(v![self.key(), self.val()]);
                }
                a
            }
        };
        Step {
            settle,
            ..Self::step(self.maybe_arity(args))
        }
    }

    pub(super) fn bit_off(&mut self) -> String {
        match self.rng.gen_range(0..12) {
            0 => self.one(&["-1", "x", "4294967296"]).into(),
            _ => self.rng.gen_range(0..40).to_string(),
        }
    }

    pub(super) fn bits(&mut self) -> Step {
        let k = self.key();
        let args = match self.rng.gen_range(0..5) {
            0 => v!["SETBIT", k, self.bit_off(), self.one(&["0", "1", "1", "2"])],
            1 => v!["GETBIT", k, self.bit_off()],
            2 => {
                let mut a = v!["BITCOUNT", k];
                if self.chance(2, 3) {
                    a.extend(v![self.int(), self.int()]);
                    if self.chance(1, 2) {
                        a.push(self.one(&["BYTE", "BIT"]).into());
                    }
                }
                a
            }
            3 => {
                let mut a = v!["BITPOS", k, self.one(&["0", "1", "2"])];
                if self.chance(2, 3) {
                    a.push(self.int());
                    if self.chance(1, 2) {
                        a.push(self.int());
                        if self.chance(1, 2) {
                            a.push(self.one(&["BYTE", "BIT"]).into());
                        }
                    }
                }
                a
            }
            _ => {
                let op = self.one(&["AND", "OR", "XOR", "NOT", "NAND"]);
                let n = if op == "NOT" && self.chance(3, 4) {
                    1
                } else {
                    self.rng.gen_range(1..4)
                };
                let mut a = v!["BITOP", op, k];
                a.extend((0..n).map(|_| self.key()));
                a
            }
        };
        Self::step(self.maybe_arity(args))
    }

    pub(super) fn keys(&mut self) -> Step {
        let k = self.key();
        let mut settle = false;
        let expiry_opt = |g: &mut Gen, a: &mut Vec<String>| {
            if g.chance(1, 3) {
                a.push(g.one(&["NX", "XX", "GT", "LT", "XX", "NX", "bogus"]).into());
            }
        };
        let (args, cmp) = match self.rng.gen_range(0..16) {
            0 | 1 => {
                let mut a = v![self.one(&["DEL", "UNLINK"])];
                a.extend(self.keys_n(1, 3));
                (a, Cmp::Exact)
            }
            2 => {
                let mut a = v!["EXISTS"];
                a.extend(self.keys_n(1, 3));
                (a, Cmp::Exact)
            }
            3 => {
                let mut a = v!["EXPIRE", k, self.secs()];
                expiry_opt(self, &mut a);
                (a, Cmp::Exact)
            }
            4 => {
                let (ms, s) = self.ms();
                settle = s;
                let mut a = v!["PEXPIRE", k, ms];
                expiry_opt(self, &mut a);
                (a, Cmp::Exact)
            }
            5 => {
                let (at, past) = self.at_secs();
                settle = past;
                let mut a = v!["EXPIREAT", k, at];
                expiry_opt(self, &mut a);
                (a, Cmp::Exact)
            }
            6 => {
                let (at, past) = self.at_ms();
                settle = past;
                let mut a = v!["PEXPIREAT", k, at];
                expiry_opt(self, &mut a);
                (a, Cmp::Exact)
            }
            7 => (v!["TTL", k], Cmp::Near(1)),
            8 => (v!["PTTL", k], Cmp::Near(1000)),
            9 => (v!["PERSIST", k], Cmp::Exact),
            10 | 11 => (v!["TYPE", k], Cmp::Exact),
            12 => {
                let p = self.one(&["*", "k[0-3]", "k?", "*1", "x*", "k[^2]*", "\\k*"]);
                (v!["KEYS", p], Cmp::Sorted)
            }
            13 => {
                let mut a = v!["SCAN", "0"];
                if self.chance(1, 2) {
                    a.extend(v!["MATCH", self.one(&["k[0-4]", "*", "k?", "z*"])]);
                }
                if self.chance(1, 2) {
                    a.extend(v!["COUNT", self.one(&["1", "3", "100", "0", "x"])]);
                }
                if self.chance(1, 3) {
                    let t = self.one(&["string", "hash", "list", "set", "zset", "none"]);
                    a.extend(v!["TYPE", t]);
                }
                (
                    a,
                    Cmp::Scan {
                        cursor_at: 1,
                        pairs: false,
                    },
                )
            }
            14 => (v!["DBSIZE"], Cmp::Exact),
            _ if self.chance(1, 4) => (v!["FLUSHDB"], Cmp::Exact),
            _ => (v!["EXISTS", k], Cmp::Exact),
        };
        Step {
            settle,
            ..Self::with(self.maybe_arity(args), cmp)
        }
    }

    pub(super) fn db(&mut self) -> String {
        match self.rng.gen_range(0..12) {
            0 => self.one(&["16", "-1", "x"]).into(),
            _ => self.rng.gen_range(0..DBS).to_string(),
        }
    }

    pub(super) fn keys2(&mut self) -> Step {
        let k = self.key();
        let (args, cmp) = match self.rng.gen_range(0..11) {
            0 => (v!["RENAME", k, self.key()], Cmp::Exact),
            1 => (v!["RENAMENX", k, self.key()], Cmp::Exact),
            2 => {
                let mut a = v!["COPY", k, self.key()];
                if self.chance(1, 2) {
                    a.extend(v!["DB", self.db()]);
                }
                if self.chance(1, 2) {
                    a.push("REPLACE".into());
                }
                (a, Cmp::Exact)
            }
            3 => {
                let mut a = v!["TOUCH"];
                a.extend(self.keys_n(1, 3));
                (a, Cmp::Exact)
            }
            4 => (v!["EXPIRETIME", k], Cmp::Near(1)),
            5 => (v!["PEXPIRETIME", k], Cmp::Near(1000)),
            6 | 7 => {
                let name = self.one(&["SORT", "SORT", "SORT_RO"]);
                let mut a = v![name, k];
                if self.chance(1, 3) {
                    a.push(self.one(&["ASC", "DESC"]).into());
                }
                if self.chance(1, 2) {
                    a.push("ALPHA".into());
                }
                if self.chance(1, 3) {
                    a.extend(v!["LIMIT", self.int(), self.int()]);
                }
                if name == "SORT" && self.chance(1, 3) {
                    a.extend(v!["STORE", self.key()]);
                }
                (a, Cmp::Exact)
            }
            8 => (v!["MOVE", k, self.db()], Cmp::Exact),
            9 => (v!["SWAPDB", self.db(), self.db()], Cmp::Exact),
            _ => (v!["RANDOMKEY"], Cmp::Random(Rand::RandomKey)),
        };
        Self::with(self.maybe_arity(args), cmp)
    }

    pub(super) fn select(&mut self) -> Step {
        let db = self.db();
        Self::step(v!["SELECT", db])
    }
}
