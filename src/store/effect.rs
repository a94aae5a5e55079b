//! Effects: what a write did to the keyspace, as logged in one WAL data record.
//!
//! A record carries effects, not commands: `INCR` is logged as the value it
//! produced and every expiry as an absolute time, so replaying a record never
//! consults the clock and always gives the same keyspace. Each write command, and
//! each `MULTI`/`EXEC` transaction, is exactly one record: all or nothing on replay.
//!
//! ## Payload layout (little-endian; `wal-format.md` § Data record payload)
//!
//! | offset | size | field                                          |
//! |-------:|-----:|------------------------------------------------|
//! | 0      | 1    | payload version ([`PAYLOAD_VERSION`] = 1)      |
//! | 1      | 8    | number of effects `n` (u64)                    |
//! | 9      | …    | `n` effects, one after another                 |
//!
//! Each effect is a u32 tag then its fields (bincode 1, fixed-width integers);
//! a byte string is a u64 length then the bytes:
//!
//! | tag | effect     | fields                                                  |
//! |----:|------------|---------------------------------------------------------|
//! | 0   | `Set`      | key, value, expiry: u8 0 (none) or u8 1 + u64 Unix ms   |
//! | 1   | `Del`      | u64 count, then that many keys                          |
//! | 2   | `Expire`   | key, u64 absolute expiry, Unix ms                       |
//! | 3   | `Persist`  | key                                                     |
//! | 4   | `FlushAll` | (none): every database                                  |
//! | 5   | `Select`   | u32 database: the effects after it, up to the next `Select`, change that database (a record starts in database 0) |
//! | 6   | `FlushDb`  | (none): the selected database                           |
//! | 7   | `SwapDb`   | u32 a, u32 b                                            |
//! | 8   | `Move`     | key, u32 database it moves to (with its expiry)         |
//! | 9   | `Rename`   | key, new key (replaced; the expiry goes along)          |
//! | 10  | `Copy`     | key, new key, u32 database of the new key (replaced)    |
//! | 11  | `SetRange` | key, u64 offset, bytes (a string, zero-padded; created if missing) |
//! | 12  | `HSet`     | key, u64 count, then that many field, value            |
//! | 13  | `HDel`     | key, u64 count, then that many fields                   |
//! | 14  | `Push`     | key, u8 end (0 left, 1 right), u64 count, then elements pushed one by one |
//! | 15  | `Pop`      | key, u8 end, u64 count                                  |
//! | 16  | `LSet`     | key, u64 index from the left, element                   |
//! | 17  | `LInsert`  | key, u64 position from the left, element                |
//! | 18  | `LRem`     | key, i64 count (as `LREM`), element                     |
//! | 19  | `LTrim`    | key, u64 first kept, u64 end (exclusive)                |
//! | 20  | `SAdd`     | key, u64 count, then that many members                  |
//! | 21  | `SRem`     | key, u64 count, then that many members                  |
//! | 22  | `ZAdd`     | key, u64 count, then that many f64 score, member (the resulting scores) |
//! | 23  | `ZRem`     | key, u64 count, then that many members                  |
//!
//! A collection effect on a key holding another type replaces it with a
//! new collection (a primary never logs one); one that empties a collection
//! removes the key. Decoding refuses a database number above 15, a NaN
//! score and a `SetRange` ending past 512 MiB.

use bincode::Options;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Longest string an effect may build (Redis's `proto-max-bulk-len`, 512 MiB):
/// a `SetRange` past it is refused when decoded, so that no record, however
/// it was made, makes replay allocate more.
pub const MAX_STRING_BYTES: u64 = 512 << 20;

/// Version byte in front of every data record payload.
pub const PAYLOAD_VERSION: u8 = 1;

/// A byte string inside an effect: borrowed from the record when decoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob<'a>(#[serde(borrow, with = "serde_bytes")] pub Cow<'a, [u8]>);

impl<'a> Blob<'a> {
    /// A blob borrowing `bytes`.
    pub fn borrowed(bytes: &'a [u8]) -> Blob<'a> {
        Blob(Cow::Borrowed(bytes))
    }

    /// A blob owning `bytes`.
    pub fn owned(bytes: Vec<u8>) -> Blob<'static> {
        Blob(Cow::Owned(bytes))
    }
}

impl std::ops::Deref for Blob<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// One change to the keyspace. The variant order is the on-disk tag: never
/// reorder, only append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Effect<'a> {
    /// Store `value` under `key` with this expiry (replacing any old one).
    Set {
        #[serde(borrow)]
        key: Blob<'a>,
        #[serde(borrow)]
        value: Blob<'a>,
        expire_at_unix_ms: Option<u64>,
    },
    /// Remove these keys (missing ones are ignored).
    Del {
        #[serde(borrow)]
        keys: Vec<Blob<'a>>,
    },
    /// Give an existing key an absolute expiry time.
    Expire {
        #[serde(borrow)]
        key: Blob<'a>,
        at_unix_ms: u64,
    },
    /// Remove an existing key's expiry.
    Persist {
        #[serde(borrow)]
        key: Blob<'a>,
    },
    /// Remove every key of every database.
    FlushAll,
    /// The effects after this one (in the same record) change database `db`.
    Select { db: u32 },
    /// Remove every key of the selected database.
    FlushDb,
    /// Exchange two databases.
    SwapDb { a: u32, b: u32 },
    /// Move a key, with its expiry, to another database (whose key it replaces).
    Move {
        #[serde(borrow)]
        key: Blob<'a>,
        to_db: u32,
    },
    /// Give a key's value and expiry another name, replacing that key.
    Rename {
        #[serde(borrow)]
        from: Blob<'a>,
        #[serde(borrow)]
        to: Blob<'a>,
    },
    /// Copy a key's value and expiry to a key of database `to_db`, replacing it.
    Copy {
        #[serde(borrow)]
        from: Blob<'a>,
        #[serde(borrow)]
        to: Blob<'a>,
        to_db: u32,
    },
    /// Overwrite a string from `offset` (zero-padded; created if missing;
    /// the expiry is kept).
    SetRange {
        #[serde(borrow)]
        key: Blob<'a>,
        offset: u64,
        #[serde(borrow)]
        value: Blob<'a>,
    },
    /// Set hash fields (creating the hash).
    HSet {
        #[serde(borrow)]
        key: Blob<'a>,
        #[serde(borrow)]
        pairs: Vec<(Blob<'a>, Blob<'a>)>,
    },
    /// Remove hash fields.
    HDel {
        #[serde(borrow)]
        key: Blob<'a>,
        #[serde(borrow)]
        fields: Vec<Blob<'a>>,
    },
    /// Push elements one by one at an end of a list (creating it).
    Push {
        #[serde(borrow)]
        key: Blob<'a>,
        end: ListEnd,
        #[serde(borrow)]
        elems: Vec<Blob<'a>>,
    },
    /// Pop up to `count` elements from an end of a list.
    Pop {
        #[serde(borrow)]
        key: Blob<'a>,
        end: ListEnd,
        count: u64,
    },
    /// Replace the list element at `index`.
    LSet {
        #[serde(borrow)]
        key: Blob<'a>,
        index: u64,
        #[serde(borrow)]
        elem: Blob<'a>,
    },
    /// Insert an element before position `index` of a list.
    LInsert {
        #[serde(borrow)]
        key: Blob<'a>,
        index: u64,
        #[serde(borrow)]
        elem: Blob<'a>,
    },
    /// Remove elements equal to `elem` as `LREM key count elem` does.
    LRem {
        #[serde(borrow)]
        key: Blob<'a>,
        count: i64,
        #[serde(borrow)]
        elem: Blob<'a>,
    },
    /// Keep only the list elements at positions `start..end`.
    LTrim {
        #[serde(borrow)]
        key: Blob<'a>,
        start: u64,
        end: u64,
    },
    /// Add set members (creating the set).
    SAdd {
        #[serde(borrow)]
        key: Blob<'a>,
        #[serde(borrow)]
        members: Vec<Blob<'a>>,
    },
    /// Remove set members.
    SRem {
        #[serde(borrow)]
        key: Blob<'a>,
        #[serde(borrow)]
        members: Vec<Blob<'a>>,
    },
    /// Set sorted-set members' scores (creating the set).
    ZAdd {
        #[serde(borrow)]
        key: Blob<'a>,
        #[serde(borrow)]
        entries: Vec<(f64, Blob<'a>)>,
    },
    /// Remove sorted-set members.
    ZRem {
        #[serde(borrow)]
        key: Blob<'a>,
        #[serde(borrow)]
        members: Vec<Blob<'a>>,
    },
}

impl Effect<'_> {
    /// The same effect owning its bytes (to keep it past the buffer it was
    /// decoded from or the arguments it borrows).
    pub fn into_owned(self) -> Effect<'static> {
        let o = |b: Blob<'_>| Blob::owned(b.0.into_owned());
        let all = |v: Vec<Blob<'_>>| v.into_iter().map(o).collect();
        match self {
            Effect::Set {
                key,
                value,
                expire_at_unix_ms,
            } => Effect::Set {
                key: o(key),
                value: o(value),
                expire_at_unix_ms,
            },
            Effect::Del { keys } => Effect::Del { keys: all(keys) },
            Effect::Expire { key, at_unix_ms } => Effect::Expire {
                key: o(key),
                at_unix_ms,
            },
            Effect::Persist { key } => Effect::Persist { key: o(key) },
            Effect::FlushAll => Effect::FlushAll,
            Effect::Select { db } => Effect::Select { db },
            Effect::FlushDb => Effect::FlushDb,
            Effect::SwapDb { a, b } => Effect::SwapDb { a, b },
            Effect::Move { key, to_db } => Effect::Move { key: o(key), to_db },
            Effect::Rename { from, to } => Effect::Rename {
                from: o(from),
                to: o(to),
            },
            Effect::Copy { from, to, to_db } => Effect::Copy {
                from: o(from),
                to: o(to),
                to_db,
            },
            Effect::SetRange { key, offset, value } => Effect::SetRange {
                key: o(key),
                offset,
                value: o(value),
            },
            Effect::HSet { key, pairs } => Effect::HSet {
                key: o(key),
                pairs: pairs.into_iter().map(|(f, v)| (o(f), o(v))).collect(),
            },
            Effect::HDel { key, fields } => Effect::HDel {
                key: o(key),
                fields: all(fields),
            },
            Effect::Push { key, end, elems } => Effect::Push {
                key: o(key),
                end,
                elems: all(elems),
            },
            Effect::Pop { key, end, count } => Effect::Pop {
                key: o(key),
                end,
                count,
            },
            Effect::LSet { key, index, elem } => Effect::LSet {
                key: o(key),
                index,
                elem: o(elem),
            },
            Effect::LInsert { key, index, elem } => Effect::LInsert {
                key: o(key),
                index,
                elem: o(elem),
            },
            Effect::LRem { key, count, elem } => Effect::LRem {
                key: o(key),
                count,
                elem: o(elem),
            },
            Effect::LTrim { key, start, end } => Effect::LTrim {
                key: o(key),
                start,
                end,
            },
            Effect::SAdd { key, members } => Effect::SAdd {
                key: o(key),
                members: all(members),
            },
            Effect::SRem { key, members } => Effect::SRem {
                key: o(key),
                members: all(members),
            },
            Effect::ZAdd { key, entries } => Effect::ZAdd {
                key: o(key),
                entries: entries.into_iter().map(|(s, m)| (s, o(m))).collect(),
            },
            Effect::ZRem { key, members } => Effect::ZRem {
                key: o(key),
                members: all(members),
            },
        }
    }
}

/// An end of a list, in an effect: one byte, 0 left, 1 right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListEnd {
    Left,
    Right,
}

impl Serialize for ListEnd {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(match self {
            ListEnd::Left => 0,
            ListEnd::Right => 1,
        })
    }
}

impl<'de> Deserialize<'de> for ListEnd {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u8::deserialize(d)? {
            0 => Ok(ListEnd::Left),
            1 => Ok(ListEnd::Right),
            n => Err(serde::de::Error::custom(format!("list end {n} (0 or 1)"))),
        }
    }
}

impl Effect<'_> {
    /// Why a decoded effect cannot be applied, if it cannot: a database
    /// number out of range or a NaN score.
    fn invalid(&self) -> Option<String> {
        let db_ok = |db: &u32| (*db as usize) < super::dbs::DATABASES;
        match self {
            Effect::Select { db }
            | Effect::Move { to_db: db, .. }
            | Effect::Copy { to_db: db, .. }
                if !db_ok(db) =>
            {
                Some(format!("database {db} (0 to 15)"))
            }
            Effect::SwapDb { a, b } if !db_ok(a) || !db_ok(b) => {
                Some(format!("database pair {a}, {b} (0 to 15)"))
            }
            Effect::ZAdd { entries, .. } if entries.iter().any(|(s, _)| s.is_nan()) => {
                Some("a NaN score".to_string())
            }
            Effect::SetRange { offset, value, .. }
                if offset.saturating_add(value.len() as u64) > MAX_STRING_BYTES =>
            {
                Some(format!(
                    "a string range ending at byte {}, past the {MAX_STRING_BYTES}-byte limit",
                    offset.saturating_add(value.len() as u64)
                ))
            }
            _ => None,
        }
    }
}

/// Why a payload could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The payload is empty (no version byte).
    #[error("empty payload")]
    Empty,
    /// A payload version this build does not know.
    #[error("unknown payload version {0} (this build reads version {PAYLOAD_VERSION})")]
    UnknownVersion(u8),
    /// The bytes after the version are not a valid list of effects.
    #[error("malformed effects: {0}")]
    Malformed(String),
}

fn codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
}

/// Bytes the payload of `effects` takes, version byte included.
pub fn encoded_len(effects: &[Effect<'_>]) -> u64 {
    1 + codec()
        .serialized_size(effects)
        .expect("effects always serialize")
}

/// Appends the payload of `effects` (version byte first) to `out`.
pub fn encode(effects: &[Effect<'_>], out: &mut Vec<u8>) {
    out.push(PAYLOAD_VERSION);
    codec()
        .serialize_into(&mut *out, effects)
        .expect("serializing into a Vec cannot fail");
}

/// Decodes a payload, borrowing byte strings from it.
///
/// # Errors
/// [`DecodeError`] for an empty payload, an unknown version or malformed bytes.
pub fn decode(payload: &[u8]) -> Result<Vec<Effect<'_>>, DecodeError> {
    let (&version, body) = payload.split_first().ok_or(DecodeError::Empty)?;
    if version != PAYLOAD_VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let effects: Vec<Effect<'_>> = codec()
        .with_limit(body.len() as u64)
        .deserialize(body)
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if let Some(why) = effects.iter().find_map(Effect::invalid) {
        return Err(DecodeError::Malformed(why));
    }
    Ok(effects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Effect<'static>> {
        vec![
            Effect::Set {
                key: Blob::owned(b"k".to_vec()),
                value: Blob::owned(b"hello".to_vec()),
                expire_at_unix_ms: Some(1_700_000_000_000),
            },
            Effect::Del {
                keys: vec![Blob::owned(b"a".to_vec()), Blob::owned(b"bc".to_vec())],
            },
            Effect::Expire {
                key: Blob::owned(b"k".to_vec()),
                at_unix_ms: 5,
            },
            Effect::Persist {
                key: Blob::owned(b"k".to_vec()),
            },
            Effect::FlushAll,
        ]
    }

    #[test]
    fn round_trips_and_length_is_exact() {
        let effects = sample();
        let mut buf = Vec::new();
        encode(&effects, &mut buf);
        assert_eq!(buf.len() as u64, encoded_len(&effects));
        assert_eq!(decode(&buf).unwrap(), effects);
    }

    #[test]
    fn layout_is_byte_exact() {
        let effects = vec![Effect::Set {
            key: Blob::borrowed(b"k"),
            value: Blob::borrowed(b"v"),
            expire_at_unix_ms: None,
        }];
        let mut buf = Vec::new();
        encode(&effects, &mut buf);
        let mut want = vec![1u8];
        want.extend(1u64.to_le_bytes());
        want.extend(0u32.to_le_bytes());
        want.extend(1u64.to_le_bytes());
        want.push(b'k');
        want.extend(1u64.to_le_bytes());
        want.push(b'v');
        want.push(0);
        assert_eq!(buf, want);
    }

    #[test]
    fn rejects_bad_payloads() {
        assert_eq!(decode(&[]), Err(DecodeError::Empty));
        assert_eq!(decode(&[9, 0]), Err(DecodeError::UnknownVersion(9)));
        let mut buf = Vec::new();
        encode(&sample(), &mut buf);
        assert!(matches!(
            decode(&buf[..buf.len() - 1]),
            Err(DecodeError::Malformed(_))
        ));
        buf.push(0);
        assert!(matches!(decode(&buf), Err(DecodeError::Malformed(_))));
        // A huge declared count must fail without allocating for it.
        let mut huge = vec![1u8];
        huge.extend(u64::MAX.to_le_bytes());
        assert!(matches!(decode(&huge), Err(DecodeError::Malformed(_))));
    }
}
