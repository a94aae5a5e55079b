//! The command table and the execution of keyspace commands.
//!
//! A keyspace command reads the keyspace, writes exactly one reply and pushes
//! the [`Effect`]s it wants; it never changes the keyspace itself. The caller
//! logs the effects as one WAL record and applies them with the state machine's
//! code, so what the primary does and what replay does are the same code.
//!
//! Connection-level commands (`MULTI`, `INFO`, `CLIENT`, …) are in the table for
//! arity checks but are run by the server, which owns that state.

mod bits;
pub mod blocking;
mod coll_scan;
pub mod floats;
mod hashes;
mod key_info;
mod key_moves;
mod keys;
mod list_pop;
mod lists;
mod long_double;
mod sample;
mod set_algebra;
mod sets;
mod sort;
mod string_ops;
mod strings;
mod zcombine;
pub mod zpop;
mod zrange;
mod zsets;

use crate::resp::reply::Reply;
use crate::store::value::{Coll, Hash, Kind, List, Set, ZSet};
use crate::store::{Dbs, Effect, Item, Keyspace};
use bytes::Bytes;
use std::sync::LazyLock;

/// The commands the server runs itself (connection or server state). Every
/// keyspace command is [`Cmd::Keyspace`] (or [`Cmd::Block`]): its row
/// carries the function that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Cmd {
    Keyspace,
    /// A blocking pop (BLPOP, …): a keyspace command whose row runs its
    /// non-blocking form; the role makes it wait (see [`blocking`]).
    Block,
    Select,
    Multi,
    Exec,
    Discard,
    Info,
    Command,
    Config,
    Client,
    Quit,
    Wait,
    Logship,
    Auth,
    Watch,
    Unwatch,
    Hello,
}

/// Who runs a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// [`execute`] runs it against the keyspace.
    Keyspace,
    /// The server runs it (connection or server state).
    Server,
}

/// Whether a command changes the keyspace.
///
/// A read may still push an [`Effect`]: a key it finds expired is deleted
/// through the log. That delete is the primary's to log (a standby drops it;
/// replay brings the primary's), so it does not make the command a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads the keyspace or the connection's or server's state only.
    Read,
    /// Changes the keyspace without growing it (`DEL`, `EXPIRE`, `LPOP`, …).
    Write,
    /// Changes the keyspace and may grow it (`SET`, `LPUSH`, `HSET`, …):
    /// refused past `--maxmemory`, as Redis's `denyoom` commands are.
    Grow,
}

impl Access {
    /// True for commands that change the keyspace.
    pub fn is_write(self) -> bool {
        self != Access::Read
    }
}

/// Runs a keyspace command: reads through `ctx`, writes exactly one reply
/// to `out`, pushes the effects it wants logged and applied.
pub type Run = for<'a> fn(&'a [Bytes], &Ctx<'_>, &mut Vec<u8>, &mut Vec<Effect<'a>>);

/// A row of the command table.
#[derive(Debug)]
pub struct Spec {
    /// [`Cmd::Keyspace`] for a keyspace command ([`Cmd::Block`] for a
    /// blocking pop).
    pub cmd: Cmd,
    /// Lower-case name, as in error messages.
    pub name: &'static str,
    /// Like Redis: `n` exactly n arguments (name included), `-n` at least n.
    pub arity: i32,
    /// Whether it changes the keyspace: a standby refuses the writes.
    pub access: Access,
    /// The keyspace command's code (`None` for the server's commands).
    pub run: Option<Run>,
}

impl Spec {
    /// True when `argc` arguments (name included) fit the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        if self.arity >= 0 {
            argc == self.arity as usize
        } else {
            argc >= (-self.arity) as usize
        }
    }

    /// Who runs it.
    #[inline]
    pub fn scope(&self) -> Scope {
        match self.run {
            Some(_) => Scope::Keyspace,
            None => Scope::Server,
        }
    }
}

/// Rows of keyspace commands: `"name" arity Access => function`, the
/// function a [`Run`] (a path or a closure that adapts one).
#[macro_export]
#[doc(hidden)]
macro_rules! keyspace_commands {
    ($($name:literal $arity:literal $access:ident => $run:expr),* $(,)?) => {
        &[
            $($crate::resp::commands::Spec {
                cmd: $crate::resp::commands::Cmd::Keyspace,
                name: $name,
                arity: $arity,
                access: $crate::resp::commands::Access::$access,
                run: Some($run),
            },)*
        ]
    };
}
pub(crate) use keyspace_commands;

macro_rules! server_commands {
    ($($cmd:ident $name:literal $arity:literal),* $(,)?) => {
        &[
            $(Spec {
                cmd: Cmd::$cmd,
                name: $name,
                arity: $arity,
                access: Access::Read,
                run: None,
            },)*
        ]
    };
}

/// The commands the server runs itself.
static SERVER: &[Spec] = server_commands! {
    Select "select" 2,
    Multi "multi" 1,
    Exec "exec" 1,
    Discard "discard" 1,
    Info "info" -1,
    Command "command" -1,
    Config "config" -2,
    Client "client" -2,
    Quit "quit" -1,
    Wait "wait" 3,
    Logship "logship" -2,
    Auth "auth" -2,
    Watch "watch" -2,
    Unwatch "unwatch" 1,
    Hello "hello" -1,
};

/// Every family's rows.
static TABLES: &[&[Spec]] = &[
    strings::TABLE,
    string_ops::TABLE,
    bits::TABLE,
    keys::TABLE,
    lists::TABLE,
    blocking::TABLE,
    key_moves::TABLE,
    key_info::TABLE,
    sort::TABLE,
    hashes::TABLE,
    sets::TABLE,
    set_algebra::TABLE,
    zsets::TABLE,
    SERVER,
];

/// Every command, in no particular order.
pub static COMMANDS: LazyLock<Vec<&'static Spec>> =
    LazyLock::new(|| TABLES.iter().flat_map(|t| t.iter()).collect());

/// Every command by its lower-case name.
static BY_NAME: LazyLock<hashbrown::HashMap<&'static [u8], &'static Spec>> = LazyLock::new(|| {
    let mut m = hashbrown::HashMap::new();
    for spec in COMMANDS.iter() {
        let dup = m.insert(spec.name.as_bytes(), *spec);
        assert!(dup.is_none(), "command {} is in the table twice", spec.name);
    }
    m
});

/// Longest command name in the table.
const MAX_NAME_BYTES: usize = 24;

/// Finds a command by name (case-insensitive).
#[inline]
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    if name.len() > MAX_NAME_BYTES {
        return None;
    }
    // The two most frequent first, without hashing.
    for hot in &strings::TABLE[..2] {
        if hot.name.len() == name.len() && hot.name.as_bytes().eq_ignore_ascii_case(name) {
            return Some(hot);
        }
    }
    let mut lower = [0u8; MAX_NAME_BYTES];
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    BY_NAME.get(&lower[..]).copied()
}

/// `ERR wrong number of arguments for 'NAME' command`
pub fn wrong_args(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}

/// `ERR unknown command 'NAME', with args beginning with: 'a' 'b' ` (as Redis).
pub fn unknown_command(args: &[Bytes]) -> String {
    let show = |b: &Bytes| {
        let s = String::from_utf8_lossy(&b[..b.len().min(128)]).into_owned();
        s.replace(['\r', '\n'], " ")
    };
    let mut msg = format!(
        "ERR unknown command '{}', with args beginning with: ",
        show(&args[0])
    );
    for a in args.iter().skip(1).take(8) {
        msg.push_str(&format!("'{}' ", show(a)));
    }
    msg
}

/// Error texts shared by several commands.
pub mod errors {
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    pub const SYNTAX: &str = "ERR syntax error";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
}

/// The key holds a value of another type than the command works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

impl WrongType {
    /// Writes the `WRONGTYPE` error.
    pub fn reply(self, out: &mut Vec<u8>) {
        out.error(errors::WRONGTYPE);
    }
}

/// Parses an integer argument the way Redis does: optional `-`, digits, no
/// leading zeros, no spaces, within i64.
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits[0] == b'0' && (digits.len() > 1 || neg))
    {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

/// What a keyspace command sees: the databases, the one the client
/// selected, and the time, read once per command so that all of a command's
/// decisions agree.
pub struct Ctx<'k> {
    pub dbs: &'k Dbs,
    /// The client's selected database (`SELECT`); effects apply to it.
    pub db: usize,
    pub now_unix_ms: u64,
}

/// A typed view of a live collection: `None` when the key is missing,
/// `Err` when it holds another type.
pub type Typed<'k, T> = Result<Option<&'k T>, WrongType>;

impl<'k> Ctx<'k> {
    /// The selected database.
    #[inline]
    pub fn keyspace(&self) -> &'k Keyspace {
        self.dbs.db(self.db)
    }

    /// The item under `key` if it has not expired. An expired item reads as
    /// missing, and a logged delete is queued for it.
    #[inline]
    pub fn live<'a>(&self, key: &'a [u8], effects: &mut Vec<Effect<'a>>) -> Option<&'k Item> {
        let item = self.keyspace().get(key)?;
        if item.is_expired(self.now_unix_ms) {
            effects.push(Effect::Del {
                keys: vec![crate::store::Blob::borrowed(key)],
            });
            return None;
        }
        Some(item)
    }

    /// The live string under `key`.
    #[inline]
    pub fn live_str<'a>(
        &self,
        key: &'a [u8],
        effects: &mut Vec<Effect<'a>>,
    ) -> Result<Option<&'k [u8]>, WrongType> {
        match self.live(key, effects) {
            None => Ok(None),
            Some(item) => item.as_str().map(Some).ok_or(WrongType),
        }
    }

    /// The live collection of `kind` under `key`.
    pub fn live_coll<'a>(
        &self,
        key: &'a [u8],
        kind: Kind,
        effects: &mut Vec<Effect<'a>>,
    ) -> Typed<'k, Coll> {
        match self.live(key, effects) {
            None => Ok(None),
            Some(item) if item.kind() == kind => Ok(item.as_coll()),
            Some(_) => Err(WrongType),
        }
    }

    /// The live hash under `key`.
    pub fn hash<'a>(&self, key: &'a [u8], effects: &mut Vec<Effect<'a>>) -> Typed<'k, Hash> {
        Ok(match self.live_coll(key, Kind::Hash, effects)? {
            Some(Coll::Hash(h)) => Some(h),
            _ => None,
        })
    }

    /// The live list under `key`.
    pub fn list<'a>(&self, key: &'a [u8], effects: &mut Vec<Effect<'a>>) -> Typed<'k, List> {
        Ok(match self.live_coll(key, Kind::List, effects)? {
            Some(Coll::List(l)) => Some(l),
            _ => None,
        })
    }

    /// The live set under `key`.
    pub fn set<'a>(&self, key: &'a [u8], effects: &mut Vec<Effect<'a>>) -> Typed<'k, Set> {
        Ok(match self.live_coll(key, Kind::Set, effects)? {
            Some(Coll::Set(s)) => Some(s),
            _ => None,
        })
    }

    /// The live sorted set under `key`.
    pub fn zset<'a>(&self, key: &'a [u8], effects: &mut Vec<Effect<'a>>) -> Typed<'k, ZSet> {
        Ok(match self.live_coll(key, Kind::ZSet, effects)? {
            Some(Coll::ZSet(z)) => Some(z),
            _ => None,
        })
    }
}

/// Runs a keyspace command (arity already checked), writing one reply to `out`
/// and pushing the effects it wants logged and applied. The effects are
/// those of the selected database: the caller puts a `Select` in front when
/// it is not database 0.
///
/// # Panics
/// If `spec` is not a keyspace command or the arity was not checked.
#[inline]
pub fn execute<'a>(
    spec: &Spec,
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    effects: &mut Vec<Effect<'a>>,
) {
    assert!(spec.arity_ok(args.len()));
    let run = spec.run.expect("a keyspace command");
    run(args, ctx, out, effects);
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_blocking;
#[cfg(test)]
mod tests_hashes;
#[cfg(test)]
mod tests_keys;
#[cfg(test)]
mod tests_lists;
#[cfg(test)]
mod tests_sets;
#[cfg(test)]
mod tests_strings;
#[cfg(test)]
mod tests_zcombine;
#[cfg(test)]
mod tests_zranges;
#[cfg(test)]
mod tests_zsets;
