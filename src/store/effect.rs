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
//! | 4   | `FlushAll` | (none)                                                  |

use bincode::Options;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Remove every key.
    FlushAll,
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
    codec()
        .with_limit(body.len() as u64)
        .deserialize(body)
        .map_err(|e| DecodeError::Malformed(e.to_string()))
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
