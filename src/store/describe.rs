//! Effects described for a reader (`logship dump`): a name, the keys, and a
//! short text or JSON object, like pg_waldump's record descriptions.
//!
//! | effect (tag)      | text                                        | JSON fields beyond `effect`, `db`, `keys` |
//! |-------------------|---------------------------------------------|-------------------------------------------|
//! | `Set` (0)         | `SET k (5 bytes, expires 2026-…Z)`          | `bytes`, `expires_unix_ms` (or null)     |
//! | `Del` (1)         | `DEL a b`                                   |                                           |
//! | `Expire` (2)      | `EXPIRE k (at 2026-…Z)`                     | `expires_unix_ms`                         |
//! | `Persist` (3)     | `PERSIST k`                                 |                                           |
//! | `FlushAll` (4)    | `FLUSHALL`                                  |                                           |
//! | `Select` (5)      | `SELECT 3`                                  | (`db` is the database selected)           |
//! | `FlushDb` (6)     | `FLUSHDB`                                   |                                           |
//! | `SwapDb` (7)      | `SWAPDB 0 1`                                | `dbs`                                     |
//! | `Move` (8)        | `MOVE k (to db 3)`                          | `to_db`                                   |
//! | `Rename` (9)      | `RENAME a b`                                |                                           |
//! | `Copy` (10)       | `COPY a b (to db 2)`                        | `to_db`                                   |
//! | `SetRange` (11)   | `SETRANGE k (at byte 10, 5 bytes)`          | `offset`, `bytes`                         |
//! | `HSet` (12)       | `HSET h (2 fields)`                         | `count`                                   |
//! | `HDel` (13)       | `HDEL h (1 field)`                          | `count`                                   |
//! | `Push` (14)       | `LPUSH q (3 elements)` or `RPUSH`           | `count`                                   |
//! | `Pop` (15)        | `LPOP q (up to 2 elements)` or `RPOP`       | `count`                                   |
//! | `LSet` (16)       | `LSET q (index 3, 5 bytes)`                 | `index`, `bytes`                          |
//! | `LInsert` (17)    | `LINSERT q (before index 2, 5 bytes)`       | `index`, `bytes`                          |
//! | `LRem` (18)       | `LREM q x (count -2)`                       | `element`, `count`                        |
//! | `LTrim` (19)      | `LTRIM q (keep 0..10)`                      | `start`, `end`                            |
//! | `SAdd` (20)       | `SADD s (2 members)`                        | `count`                                   |
//! | `SRem` (21)       | `SREM s (1 member)`                         | `count`                                   |
//! | `ZAdd` (22)       | `ZADD z (2 members)`                        | `count`                                   |
//! | `ZRem` (23)       | `ZREM z (1 member)`                         | `count`                                   |
//!
//! Times are RFC 3339 UTC with milliseconds. Keys (and `LREM`'s element) are
//! shown as [`show_bytes`] does: bare when plain text, quoted with
//! redis-cli's escapes (`"a b"`, `"\x00"`) otherwise, and cut after
//! [`SHOWN_BYTES`] bytes with an ellipsis and their length.

use super::effect::{Effect, ListEnd};
use crate::clock;
use serde_json::{json, Map, Value};

/// Bytes of a key or element shown before it is cut (`…(N bytes)`): enough
/// for any key a person reads, short enough to keep a record on one line.
pub const SHOWN_BYTES: usize = 64;

/// The name of every effect, as `dump` prints and filters them (`--effect`).
/// `Push` and `Pop` have one name per end of the list.
pub const EFFECT_NAMES: [&str; 26] = [
    "set", "del", "expire", "persist", "flushall", "select", "flushdb", "swapdb", "move", "rename",
    "copy", "setrange", "hset", "hdel", "lpush", "rpush", "lpop", "rpop", "lset", "linsert",
    "lrem", "ltrim", "sadd", "srem", "zadd", "zrem",
];

/// The name of an effect (one of [`EFFECT_NAMES`]).
pub fn name(e: &Effect<'_>) -> &'static str {
    let end = |end: &ListEnd, left, right| match end {
        ListEnd::Left => left,
        ListEnd::Right => right,
    };
    match e {
        Effect::Set { .. } => "set",
        Effect::Del { .. } => "del",
        Effect::Expire { .. } => "expire",
        Effect::Persist { .. } => "persist",
        Effect::FlushAll => "flushall",
        Effect::Select { .. } => "select",
        Effect::FlushDb => "flushdb",
        Effect::SwapDb { .. } => "swapdb",
        Effect::Move { .. } => "move",
        Effect::Rename { .. } => "rename",
        Effect::Copy { .. } => "copy",
        Effect::SetRange { .. } => "setrange",
        Effect::HSet { .. } => "hset",
        Effect::HDel { .. } => "hdel",
        Effect::Push { end: e, .. } => end(e, "lpush", "rpush"),
        Effect::Pop { end: e, .. } => end(e, "lpop", "rpop"),
        Effect::LSet { .. } => "lset",
        Effect::LInsert { .. } => "linsert",
        Effect::LRem { .. } => "lrem",
        Effect::LTrim { .. } => "ltrim",
        Effect::SAdd { .. } => "sadd",
        Effect::SRem { .. } => "srem",
        Effect::ZAdd { .. } => "zadd",
        Effect::ZRem { .. } => "zrem",
    }
}

/// The keys an effect names, in its order (both names of a `RENAME` or
/// `COPY`; none for the effects on whole databases).
pub fn keys<'e>(e: &'e Effect<'_>) -> Vec<&'e [u8]> {
    match e {
        Effect::FlushAll | Effect::Select { .. } | Effect::FlushDb | Effect::SwapDb { .. } => {
            Vec::new()
        }
        Effect::Del { keys } => keys.iter().map(|k| &k[..]).collect(),
        Effect::Rename { from, to } | Effect::Copy { from, to, .. } => vec![from, to],
        Effect::Set { key, .. }
        | Effect::Expire { key, .. }
        | Effect::Persist { key }
        | Effect::Move { key, .. }
        | Effect::SetRange { key, .. }
        | Effect::HSet { key, .. }
        | Effect::HDel { key, .. }
        | Effect::Push { key, .. }
        | Effect::Pop { key, .. }
        | Effect::LSet { key, .. }
        | Effect::LInsert { key, .. }
        | Effect::LRem { key, .. }
        | Effect::LTrim { key, .. }
        | Effect::SAdd { key, .. }
        | Effect::SRem { key, .. }
        | Effect::ZAdd { key, .. }
        | Effect::ZRem { key, .. } => vec![key],
    }
}

/// One effect described: built once, shown as text or JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    /// One of [`EFFECT_NAMES`].
    pub name: &'static str,
    /// The database the effect changes (for `SELECT`, the one it selects).
    pub db: u32,
    /// Its keys as [`show_bytes`] shows them.
    pub keys: Vec<String>,
    /// Its keys as [`show_json`] shows them.
    pub json_keys: Vec<String>,
    /// Words after the keys (`SELECT 3`, `SWAPDB 0 1`, `LREM q x`).
    args: Vec<String>,
    /// Notes in parentheses (`5 bytes`, `to db 3`).
    notes: Vec<String>,
    /// The JSON fields beyond `effect`, `db` and `keys`.
    fields: Map<String, Value>,
}

impl Description {
    /// `SET k (5 bytes, expires 2026-12-05T23:10:00.000Z)`.
    pub fn text(&self) -> String {
        let mut s = self.name.to_ascii_uppercase();
        for word in self.keys.iter().chain(&self.args) {
            s.push(' ');
            s.push_str(word);
        }
        if !self.notes.is_empty() {
            s.push_str(&format!(" ({})", self.notes.join(", ")));
        }
        s
    }

    /// `{"effect": "set", "db": 0, "keys": ["k"], "bytes": 5, ...}`.
    pub fn json(&self) -> Value {
        let mut o = Map::new();
        o.insert("effect".into(), json!(self.name));
        o.insert("db".into(), json!(self.db));
        o.insert("keys".into(), json!(self.json_keys));
        o.extend(self.fields.clone());
        Value::Object(o)
    }

    fn note(&mut self, text: String, field: &str, value: Value) -> &mut Self {
        self.notes.push(text);
        self.fields.insert(field.into(), value);
        self
    }

    fn bytes(&mut self, n: usize) -> &mut Self {
        let s = if n == 1 { "" } else { "s" };
        self.note(format!("{n} byte{s}"), "bytes", json!(n))
    }

    /// `2 fields`, `1 field`.
    fn count(&mut self, n: usize, unit: &str) -> &mut Self {
        let s = if n == 1 { "" } else { "s" };
        self.note(format!("{n} {unit}{s}"), "count", json!(n))
    }

    fn moved_to(&mut self, db: u32) -> &mut Self {
        self.note(format!("to db {db}"), "to_db", json!(db))
    }
}

/// Describes `e`, which changes database `db` (the one a record's last
/// `Select` before it chose; 0 if none).
pub fn describe(e: &Effect<'_>, db: u32) -> Description {
    let named = keys(e);
    let mut d = Description {
        name: name(e),
        db,
        keys: named.iter().map(|k| show_bytes(k)).collect(),
        json_keys: named.iter().map(|k| show_json(k)).collect(),
        args: Vec::new(),
        notes: Vec::new(),
        fields: Map::new(),
    };
    match e {
        Effect::Set {
            value,
            expire_at_unix_ms,
            ..
        } => {
            d.bytes(value.len());
            if let Some(t) = expire_at_unix_ms {
                let text = format!("expires {}", clock::rfc3339_ms(*t));
                d.note(text, "expires_unix_ms", json!(t));
            } else {
                d.fields.insert("expires_unix_ms".into(), Value::Null);
            }
        }
        Effect::Expire { at_unix_ms, .. } => {
            d.note(
                format!("at {}", clock::rfc3339_ms(*at_unix_ms)),
                "expires_unix_ms",
                json!(at_unix_ms),
            );
        }
        Effect::Del { .. }
        | Effect::Persist { .. }
        | Effect::FlushAll
        | Effect::FlushDb
        | Effect::Rename { .. } => {}
        Effect::Select { db } => {
            d.db = *db;
            d.args.push(db.to_string());
        }
        Effect::SwapDb { a, b } => {
            d.args.extend([a.to_string(), b.to_string()]);
            d.fields.insert("dbs".into(), json!([a, b]));
        }
        Effect::Move { to_db, .. } | Effect::Copy { to_db, .. } => {
            d.moved_to(*to_db);
        }
        Effect::SetRange { offset, value, .. } => {
            d.note(format!("at byte {offset}"), "offset", json!(offset))
                .bytes(value.len());
        }
        Effect::HSet { pairs, .. } => {
            d.count(pairs.len(), "field");
        }
        Effect::HDel { fields, .. } => {
            d.count(fields.len(), "field");
        }
        Effect::Push { elems, .. } => {
            d.count(elems.len(), "element");
        }
        Effect::Pop { count, .. } => {
            let s = if *count == 1 { "" } else { "s" };
            d.note(format!("up to {count} element{s}"), "count", json!(count));
        }
        Effect::LSet { index, elem, .. } => {
            d.note(format!("index {index}"), "index", json!(index))
                .bytes(elem.len());
        }
        Effect::LInsert { index, elem, .. } => {
            d.note(format!("before index {index}"), "index", json!(index))
                .bytes(elem.len());
        }
        Effect::LRem { count, elem, .. } => {
            d.fields.insert("element".into(), json!(show_json(elem)));
            d.args.push(show_bytes(elem));
            d.note(format!("count {count}"), "count", json!(count));
        }
        Effect::LTrim { start, end, .. } => {
            d.notes.push(format!("keep {start}..{end}"));
            d.fields.insert("start".into(), json!(start));
            d.fields.insert("end".into(), json!(end));
        }
        Effect::SAdd { members, .. }
        | Effect::SRem { members, .. }
        | Effect::ZRem { members, .. } => {
            d.count(members.len(), "member");
        }
        Effect::ZAdd { entries, .. } => {
            d.count(entries.len(), "member");
        }
    }
    d
}

/// Describes a record's effects, following its `Select`s from database 0.
pub fn describe_all(effects: &[Effect<'_>]) -> Vec<Description> {
    let mut db = 0;
    effects
        .iter()
        .map(|e| {
            if let Effect::Select { db: d } = e {
                db = *d;
            }
            describe(e, db)
        })
        .collect()
}

/// Bytes as a person reads them, as redis-cli shows them: plain text bare
/// (`user:17`); anything else in double quotes, with `\"`, `\\`, `\n`, `\r`,
/// `\t`, `\a`, `\b` and `\xHH` for other control bytes and bytes that are
/// not UTF-8 (`"a b"`, `"\x00\xff"`). Past [`SHOWN_BYTES`] bytes the rest is
/// cut: `…(300 bytes)`.
pub fn show_bytes(bytes: &[u8]) -> String {
    let head = head(bytes);
    let plain = match std::str::from_utf8(head) {
        Ok(s) => !s.is_empty() && !s.chars().any(needs_quotes),
        Err(_) => false,
    };
    let mut out = if plain {
        String::from_utf8_lossy(head).into_owned()
    } else {
        format!("\"{}\"", escape(head))
    };
    if bytes.len() > head.len() {
        out.push_str(&format!("…({} bytes)", bytes.len()));
    }
    out
}

/// Bytes as a JSON string: the text itself when they are UTF-8; otherwise
/// [`show_bytes`]'s escapes without the quotes (`\x00\xff`, a backslash
/// doubled). Cut as [`show_bytes`] cuts.
pub fn show_json(bytes: &[u8]) -> String {
    let head = head(bytes);
    let mut out = match std::str::from_utf8(bytes) {
        Ok(_) => String::from_utf8_lossy(head).into_owned(),
        Err(_) => escape(head),
    };
    if bytes.len() > head.len() {
        out.push_str(&format!("…({} bytes)", bytes.len()));
    }
    out
}

/// The first [`SHOWN_BYTES`] bytes, fewer if that would split a UTF-8
/// character.
fn head(bytes: &[u8]) -> &[u8] {
    let head = &bytes[..bytes.len().min(SHOWN_BYTES)];
    match std::str::from_utf8(head) {
        Err(e) if e.error_len().is_none() && head.len() < bytes.len() => &head[..e.valid_up_to()],
        _ => head,
    }
}

/// A character that makes [`show_bytes`] quote: one that would read as the
/// end of the key, a quote, or one not printed as itself.
fn needs_quotes(c: char) -> bool {
    c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\')
}

/// redis-cli's escapes (`sdscatrepr`), keeping printable UTF-8 as it is.
fn escape(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                c if c.is_control() => {
                    let mut buf = [0; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
#[path = "describe_tests.rs"]
mod tests;
