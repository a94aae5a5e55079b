//! The command table and the execution of keyspace commands.
//!
//! A keyspace command reads the keyspace, writes exactly one reply and pushes
//! the [`Effect`]s it wants; it never changes the keyspace itself. The caller
//! logs the effects as one WAL record and applies them with the state machine's
//! code, so what the primary does and what replay does are the same code.
//!
//! Connection-level commands (`MULTI`, `INFO`, `CLIENT`, …) are in the table for
//! arity checks but are run by the server, which owns that state.

mod keys;
mod strings;

use crate::resp::reply::Reply;
use crate::store::{Effect, Item, Keyspace};
use bytes::Bytes;

/// Every command the server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Cmd {
    Get,
    Set,
    SetNx,
    GetSet,
    GetDel,
    Del,
    Unlink,
    Exists,
    Incr,
    IncrBy,
    Decr,
    DecrBy,
    Append,
    StrLen,
    MGet,
    MSet,
    Expire,
    PExpire,
    ExpireAt,
    PExpireAt,
    Ttl,
    PTtl,
    Persist,
    Type,
    Keys,
    Scan,
    DbSize,
    FlushDb,
    FlushAll,
    Ping,
    Echo,
    Debug,
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
    /// Changes the keyspace (`SET`, `DEL`, `EXPIRE`, `FLUSHALL`, …).
    Write,
}

/// A row of the command table.
#[derive(Debug)]
pub struct Spec {
    pub cmd: Cmd,
    /// Lower-case name, as in error messages.
    pub name: &'static str,
    /// Like Redis: `n` exactly n arguments (name included), `-n` at least n.
    pub arity: i32,
    pub scope: Scope,
    /// Whether it changes the keyspace: a standby refuses the writes.
    pub access: Access,
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
}

macro_rules! table {
    ($($cmd:ident $name:literal $arity:literal $scope:ident $access:ident),* $(,)?) => {
        /// The command table, the most frequent first.
        pub static COMMANDS: &[Spec] = &[
            $(Spec {
                cmd: Cmd::$cmd,
                name: $name,
                arity: $arity,
                scope: Scope::$scope,
                access: Access::$access,
            },)*
        ];
    };
}

table! {
    Get "get" 2 Keyspace Read,
    Set "set" -3 Keyspace Write,
    Incr "incr" 2 Keyspace Write,
    MGet "mget" -2 Keyspace Read,
    MSet "mset" -3 Keyspace Write,
    Del "del" -2 Keyspace Write,
    Ping "ping" -1 Keyspace Read,
    SetNx "setnx" 3 Keyspace Write,
    GetSet "getset" 3 Keyspace Write,
    GetDel "getdel" 2 Keyspace Write,
    Unlink "unlink" -2 Keyspace Write,
    Exists "exists" -2 Keyspace Read,
    IncrBy "incrby" 3 Keyspace Write,
    Decr "decr" 2 Keyspace Write,
    DecrBy "decrby" 3 Keyspace Write,
    Append "append" 3 Keyspace Write,
    StrLen "strlen" 2 Keyspace Read,
    Expire "expire" -3 Keyspace Write,
    PExpire "pexpire" -3 Keyspace Write,
    ExpireAt "expireat" -3 Keyspace Write,
    PExpireAt "pexpireat" -3 Keyspace Write,
    Ttl "ttl" 2 Keyspace Read,
    PTtl "pttl" 2 Keyspace Read,
    Persist "persist" 2 Keyspace Write,
    Type "type" 2 Keyspace Read,
    Keys "keys" 2 Keyspace Read,
    Scan "scan" -2 Keyspace Read,
    DbSize "dbsize" 1 Keyspace Read,
    FlushDb "flushdb" -1 Keyspace Write,
    FlushAll "flushall" -1 Keyspace Write,
    Echo "echo" 2 Keyspace Read,
    Debug "debug" -2 Keyspace Read,
    Select "select" 2 Server Read,
    Multi "multi" 1 Server Read,
    Exec "exec" 1 Server Read,
    Discard "discard" 1 Server Read,
    Info "info" -1 Server Read,
    Command "command" -1 Server Read,
    Config "config" -2 Server Read,
    Client "client" -2 Server Read,
    Quit "quit" -1 Server Read,
    Wait "wait" 3 Server Read,
    Logship "logship" -2 Server Read,
    Auth "auth" -2 Server Read,
}

/// Longest command name in the table.
const MAX_NAME_BYTES: usize = 16;

/// Finds a command by name (case-insensitive).
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    if name.len() > MAX_NAME_BYTES {
        return None;
    }
    COMMANDS
        .iter()
        .find(|s| s.name.len() == name.len() && s.name.as_bytes().eq_ignore_ascii_case(name))
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

/// What a keyspace command sees: the keys and the time, read once per command
/// so that all of a command's decisions agree.
pub struct Ctx<'k> {
    pub keyspace: &'k Keyspace,
    pub now_unix_ms: u64,
}

impl<'k> Ctx<'k> {
    /// The item under `key` if it has not expired. An expired item reads as
    /// missing, and a logged delete is queued for it.
    pub fn live<'a>(&self, key: &'a [u8], effects: &mut Vec<Effect<'a>>) -> Option<&'k Item> {
        let item = self.keyspace.get(key)?;
        if item.is_expired(self.now_unix_ms) {
            effects.push(Effect::Del {
                keys: vec![crate::store::Blob::borrowed(key)],
            });
            return None;
        }
        Some(item)
    }
}

/// Runs a keyspace command (arity already checked), writing one reply to `out`
/// and pushing the effects it wants logged and applied.
///
/// # Panics
/// If `spec.scope` is not [`Scope::Keyspace`] or the arity was not checked.
pub fn execute<'a>(
    spec: &Spec,
    args: &'a [Bytes],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
    effects: &mut Vec<Effect<'a>>,
) {
    assert!(spec.scope == Scope::Keyspace && spec.arity_ok(args.len()));
    match spec.cmd {
        Cmd::Get => strings::get(args, ctx, out, effects),
        Cmd::Set => strings::set(args, ctx, out, effects),
        Cmd::SetNx => strings::setnx(args, ctx, out, effects),
        Cmd::GetSet => strings::getset(args, ctx, out, effects),
        Cmd::GetDel => strings::getdel(args, ctx, out, effects),
        Cmd::Incr => strings::incr_by(args, 1, ctx, out, effects),
        Cmd::Decr => strings::incr_by(args, -1, ctx, out, effects),
        Cmd::IncrBy | Cmd::DecrBy => match parse_i64(&args[2]) {
            Some(n) if spec.cmd == Cmd::IncrBy => strings::incr_by(args, n, ctx, out, effects),
            Some(n) => match n.checked_neg() {
                Some(n) => strings::incr_by(args, n, ctx, out, effects),
                None => out.error("ERR decrement would overflow"),
            },
            None => out.error(errors::NOT_INTEGER),
        },
        Cmd::Append => strings::append(args, ctx, out, effects),
        Cmd::StrLen => strings::strlen(args, ctx, out, effects),
        Cmd::MGet => strings::mget(args, ctx, out, effects),
        Cmd::MSet => strings::mset(args, out, effects),
        Cmd::Del | Cmd::Unlink => keys::del(args, ctx, out, effects),
        Cmd::Exists => keys::exists(args, ctx, out, effects),
        Cmd::Expire | Cmd::PExpire | Cmd::ExpireAt | Cmd::PExpireAt => {
            keys::expire(spec, args, ctx, out, effects)
        }
        Cmd::Ttl => keys::ttl(args, 1000, ctx, out, effects),
        Cmd::PTtl => keys::ttl(args, 1, ctx, out, effects),
        Cmd::Persist => keys::persist(args, ctx, out, effects),
        Cmd::Type => keys::type_of(args, ctx, out, effects),
        Cmd::Keys => keys::keys(args, ctx, out),
        Cmd::Scan => keys::scan(args, ctx, out),
        Cmd::DbSize => out.int(ctx.keyspace.len() as i64),
        Cmd::FlushDb | Cmd::FlushAll => keys::flush(args, out, effects),
        Cmd::Ping => match args.len() {
            1 => out.simple("PONG"),
            2 => out.bulk(&args[1]),
            _ => out.error(&wrong_args(spec.name)),
        },
        Cmd::Echo => out.bulk(&args[1]),
        Cmd::Debug => match args.len() {
            2 if args[1].eq_ignore_ascii_case(b"digest") => {
                out.bulk(ctx.keyspace.digest().as_bytes())
            }
            _ => out.error("ERR DEBUG supports only DIGEST"),
        },
        _ => unreachable!("server-scope commands are not executed here"),
    }
}

#[cfg(test)]
mod tests;
