//! Random command sequences over Redis's types, by family, on a small key
//! space (8 keys, databases 0 to 2) so that commands collide: wrong types,
//! bad arguments (non-integers, bad floats, wrong arity), short and long
//! expiries, SELECT, MULTI/EXEC/DISCARD and WATCH with a second client.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

/// A group of commands that one branch of the product brings; the test
/// enables a list of them (`DIFF_FAMILIES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// GET SET(+options) SETNX GETSET GETDEL INCR… APPEND STRLEN MGET MSET
    Strings,
    /// SETEX PSETEX GETEX GETRANGE SETRANGE INCRBYFLOAT MSETNX
    Strings2,
    /// SETBIT GETBIT BITCOUNT BITPOS BITOP
    Bits,
    /// DEL UNLINK EXISTS EXPIRE… TTL PTTL PERSIST TYPE KEYS SCAN DBSIZE FLUSHDB
    Keys,
    /// RENAME RENAMENX COPY TOUCH EXPIRETIME PEXPIRETIME SORT MOVE SWAPDB RANDOMKEY
    Keys2,
    /// SELECT
    Select,
    Hash,
    List,
    /// BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP, 0.01 s
    Blocking,
    Set,
    ZSet,
    /// MULTI EXEC DISCARD
    Multi,
    /// WATCH UNWATCH, and a second client writing keys
    Watch,
}

pub const ALL: [(&str, Family); 13] = [
    ("strings", Family::Strings),
    ("strings2", Family::Strings2),
    ("bits", Family::Bits),
    ("keys", Family::Keys),
    ("keys2", Family::Keys2),
    ("select", Family::Select),
    ("hash", Family::Hash),
    ("list", Family::List),
    ("blocking", Family::Blocking),
    ("set", Family::Set),
    ("zset", Family::ZSet),
    ("multi", Family::Multi),
    ("watch", Family::Watch),
];

/// Families named in `spec` ("all", or names separated by commas).
pub fn parse_families(spec: &str) -> Vec<Family> {
    if spec.trim() == "all" {
        return ALL.iter().map(|(_, f)| *f).collect();
    }
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            ALL.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, f)| *f)
                .unwrap_or_else(|| panic!("unknown family {name:?}; known: {ALL:?}"))
        })
        .collect()
}

/// How two replies to a step are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// Equal values.
    Exact,
    /// Equal as multisets (an array whose order Redis leaves open).
    Sorted,
    /// Equal as multisets of (field, value) pairs (HGETALL).
    Pairs,
    /// Integers within this distance (TTLs); negative codes exactly.
    Near(i64),
    /// A whole scan (cursor loop), compared by what it returned in all;
    /// `pairs` for HSCAN/ZSCAN; the cursor is argument `cursor_at`.
    Scan { cursor_at: usize, pairs: bool },
    /// An outcome Redis leaves to chance: checked by invariants, then the
    /// two sides brought back in step.
    Random(Rand),
}

/// The commands with random outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rand {
    SPop,
    SRandMember,
    HRandField,
    ZRandMember,
    RandomKey,
}

/// One command of a sequence.
#[derive(Debug, Clone)]
pub struct Step {
    pub args: Vec<String>,
    pub cmp: Cmp,
    /// Sent by the second client (database 0, never in a transaction).
    pub other: bool,
    /// Sets an expiry of a few milliseconds: wait until it has passed.
    pub settle: bool,
    /// A transaction is open after this step.
    pub in_multi_after: bool,
}

impl Step {
    pub fn show(&self) -> String {
        let who = if self.other { "[other] " } else { "" };
        format!("{who}{}", self.args.join(" "))
    }
}

/// Keys of the sequences: few, so that commands collide.
pub const KEYS: usize = 8;
/// Databases the sequences use.
pub const DBS: usize = 3;

pub struct Gen {
    rng: StdRng,
    families: Vec<Family>,
    exclude: Vec<String>,
    in_multi: bool,
    /// The open transaction sets a short or past expiry: no DBSIZE in it
    /// (Redis counts such a key until it is touched or collected).
    multi_expires: bool,
}

macro_rules! v {
    ($($e:expr),* $(,)?) => { vec![$($e.to_string()),*] };
}

impl Gen {
    pub fn new(rng: StdRng, families: Vec<Family>, exclude: Vec<String>) -> Gen {
        assert!(!families.is_empty(), "no command family enabled");
        Gen {
            rng,
            families,
            exclude,
            in_multi: false,
            multi_expires: false,
        }
    }

    fn has(&self, f: Family) -> bool {
        self.families.contains(&f)
    }

    /// The next step.
    pub fn next_step(&mut self) -> Step {
        for _ in 0..1000 {
            let mut s = self.pick();
            if self.in_multi && matches!(s.cmp, Cmp::Scan { .. } | Cmp::Random(_)) {
                continue;
            }
            let name = s.args[0].to_ascii_uppercase();
            if self.exclude.contains(&name) {
                continue;
            }
            if self.in_multi && self.multi_expires && name == "DBSIZE" {
                continue;
            }
            if !s.other {
                match name.as_str() {
                    "MULTI" => self.in_multi = true,
                    "EXEC" | "DISCARD" => {
                        self.in_multi = false;
                        self.multi_expires = false;
                    }
                    _ => self.multi_expires |= self.in_multi && s.settle,
                }
            }
            s.in_multi_after = self.in_multi;
            return s;
        }
        panic!("every command excluded? {:?}", self.exclude);
    }

    /// The step that ends an open transaction (at the end of a sequence).
    pub fn close(&mut self) -> Option<Step> {
        if !self.in_multi {
            return None;
        }
        self.in_multi = false;
        Some(Self::step(v!["DISCARD"]))
    }

    fn pick(&mut self) -> Step {
        if self.in_multi && self.has(Family::Multi) && self.rng.gen_ratio(1, 6) {
            let c = if self.rng.gen_ratio(4, 5) {
                "EXEC"
            } else {
                "DISCARD"
            };
            return Self::step(v![c]);
        }
        let f = *self.families.choose(&mut self.rng).unwrap();
        match f {
            Family::Strings => self.strings(),
            Family::Strings2 => self.strings2(),
            Family::Bits => self.bits(),
            Family::Keys => self.keys(),
            Family::Keys2 => self.keys2(),
            Family::Select => self.select(),
            Family::Hash => self.hash(),
            Family::List => self.list(),
            Family::Blocking => self.blocking(),
            Family::Set => self.set(),
            Family::ZSet => self.zset(),
            Family::Multi => self.multi(),
            Family::Watch => self.watch(),
        }
    }

    fn step(args: Vec<String>) -> Step {
        Step {
            args,
            cmp: Cmp::Exact,
            other: false,
            settle: false,
            in_multi_after: false,
        }
    }

    fn with(args: Vec<String>, cmp: Cmp) -> Step {
        Step {
            cmp,
            ..Self::step(args)
        }
    }

    fn one<'a>(&mut self, of: &[&'a str]) -> &'a str {
        of.choose(&mut self.rng).unwrap()
    }

    fn chance(&mut self, n: u32, d: u32) -> bool {
        self.rng.gen_ratio(n, d)
    }

    fn key(&mut self) -> String {
        format!("k{}", self.rng.gen_range(0..KEYS))
    }

    fn keys_n(&mut self, lo: usize, hi: usize) -> Vec<String> {
        let n = self.rng.gen_range(lo..=hi);
        (0..n).map(|_| self.key()).collect()
    }

    /// An integer argument: mostly small, sometimes extreme or not an integer.
    fn int(&mut self) -> String {
        match self.rng.gen_range(0..20) {
            0 => self
                .one(&[
                    "9223372036854775807",
                    "-9223372036854775808",
                    "4611686018427387904",
                ])
                .into(),
            1 => self
                .one(&["abc", "1.5", "", "01", " 2", "+1", "1e3"])
                .into(),
            _ => self.rng.gen_range(-3..12).to_string(),
        }
    }

    /// A count: mostly 0..6, sometimes negative or not an integer.
    fn count(&mut self) -> String {
        match self.rng.gen_range(0..16) {
            0 => self.one(&["-1", "-3", "x"]).into(),
            _ => self.rng.gen_range(0..6).to_string(),
        }
    }

    /// A float argument, good or bad.
    fn float(&mut self) -> String {
        self.one(&[
            "0", "1", "-1", "1.5", "-2.25", "10", "1e2", "0.1", "3", "inf", "-inf", "+inf", "abc",
            "nan", "1e400", "7",
        ])
        .into()
    }

    /// A string value; numbers often, so INCR and friends meet them.
    fn val(&mut self) -> String {
        match self.rng.gen_range(0..14) {
            0..=4 => self.rng.gen_range(-5..20).to_string(),
            5 => "3.5".into(),
            6 => "".into(),
            7 => "9223372036854775807".into(),
            8 => "hello world".into(),
            _ => self.one(&["a", "b", "abc", "xyz", "k1"]).into(),
        }
    }

    fn member(&mut self) -> String {
        self.one(&["a", "b", "c", "d", "e", "f", "1", "2", "10", "-3", "ab"])
            .into()
    }

    fn field(&mut self) -> String {
        format!("f{}", self.rng.gen_range(0..5))
    }

    /// A relative expiry in milliseconds: a few (then `settle`) or minutes.
    fn ms(&mut self) -> (String, bool) {
        if self.chance(1, 3) {
            (self.rng.gen_range(1..15).to_string(), true)
        } else {
            (self.rng.gen_range(100_000..900_000).to_string(), false)
        }
    }

    /// A relative expiry in seconds (minutes: seconds never pass in a test).
    fn secs(&mut self) -> String {
        match self.rng.gen_range(0..12) {
            0 => self.one(&["0", "-1", "abc", "9999999999999999"]).into(),
            _ => self.rng.gen_range(100..900).to_string(),
        }
    }

    fn now_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }

    /// An absolute expiry in seconds: past or minutes ahead. A past one
    /// makes the step settle: Redis may keep such a key (SET … EXAT) until
    /// it is touched or collected, and count it in DBSIZE meanwhile.
    fn at_secs(&mut self) -> (String, bool) {
        let now = Self::now_ms() / 1000;
        match self.rng.gen_range(0..4) {
            0 => ((now - 100).to_string(), true),
            _ => ((now + self.rng.gen_range(100..900)).to_string(), false),
        }
    }

    fn at_ms(&mut self) -> (String, bool) {
        let now = Self::now_ms();
        match self.rng.gen_range(0..4) {
            0 => ((now - 100_000).to_string(), true),
            _ => (
                (now + self.rng.gen_range(100_000..900_000)).to_string(),
                false,
            ),
        }
    }

    /// A step sometimes given one argument too few (its last dropped) or
    /// one too many.
    fn maybe_arity(&mut self, mut args: Vec<String>) -> Vec<String> {
        match self.rng.gen_range(0..40) {
            0 if args.len() > 1 => {
                args.pop();
            }
            1 => args.push("extra".into()),
            _ => {}
        }
        args
    }

    fn strings(&mut self) -> Step {
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

    fn strings2(&mut self) -> Step {
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

    fn bit_off(&mut self) -> String {
        match self.rng.gen_range(0..12) {
            0 => self.one(&["-1", "x", "4294967296"]).into(),
            _ => self.rng.gen_range(0..40).to_string(),
        }
    }

    fn bits(&mut self) -> Step {
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

    fn keys(&mut self) -> Step {
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

    fn db(&mut self) -> String {
        match self.rng.gen_range(0..12) {
            0 => self.one(&["16", "-1", "x"]).into(),
            _ => self.rng.gen_range(0..DBS).to_string(),
        }
    }

    fn keys2(&mut self) -> Step {
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

    fn select(&mut self) -> Step {
        let db = self.db();
        Self::step(v!["SELECT", db])
    }

    fn hash(&mut self) -> Step {
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

    fn end(&mut self) -> String {
        self.one(&["LEFT", "RIGHT", "LEFT", "RIGHT", "UP"]).into()
    }

    fn list(&mut self) -> Step {
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

    fn timeout(&mut self) -> String {
        self.one(&["0.01", "0.01", "0.01", "-1", "x"]).into()
    }

    fn blocking(&mut self) -> Step {
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

    fn set(&mut self) -> Step {
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

    fn score(&mut self) -> String {
        match self.rng.gen_range(0..10) {
            0..=2 => "0".into(),
            3 => self.one(&["inf", "-inf", "nan", "x", "1e2", "0.5"]).into(),
            _ => self.rng.gen_range(-3..8).to_string(),
        }
    }

    fn score_bound(&mut self) -> String {
        self.one(&[
            "-inf", "+inf", "0", "1", "(1", "2", "(0", "-1", "5", "x", "(x", "inf",
        ])
        .into()
    }

    fn lex_bound(&mut self) -> String {
        self.one(&["-", "+", "[a", "(a", "[c", "(d", "[1", "a", "[", "(ab"])
            .into()
    }

    /// `numkeys key…`, numkeys sometimes wrong.
    fn numkeys(&mut self, a: &mut Vec<String>) {
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

    fn zset(&mut self) -> Step {
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
    fn weights_aggregate(&mut self, a: &mut Vec<String>) {
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

    fn multi(&mut self) -> Step {
        let c = match self.rng.gen_range(0..10) {
            0..=5 => "MULTI",
            6..=8 => "EXEC",
            _ => "DISCARD",
        };
        Self::step(v![c])
    }

    fn watch(&mut self) -> Step {
        match self.rng.gen_range(0..10) {
            0..=3 => {
                let mut a = v!["WATCH"];
                a.extend(self.keys_n(1, 2));
                Self::step(a)
            }
            4 => Self::step(v!["UNWATCH"]),
            _ => {
                // The other client writes a key of database 0.
                let k = self.key();
                let args = match self.rng.gen_range(0..4) {
                    0 => v!["SET", k, self.val()],
                    1 => v!["DEL", k],
                    2 => v!["EXPIRE", k, "500"],
                    _ => v!["GET", k],
                };
                Step {
                    other: true,
                    ..Self::step(args)
                }
            }
        }
    }
}
