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

#[path = "gen/collections.rs"]
mod collections;
#[path = "gen/scalar.rs"]
mod scalar;

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
