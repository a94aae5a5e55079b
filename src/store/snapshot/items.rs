//! The items of a snapshot's content, every type and database
//! (`wal-format.md` § Snapshot files).
//!
//! Version 2, each item:
//!
//! | size | field                                              |
//! |-----:|----------------------------------------------------|
//! | 1    | database (0–15)                                     |
//! | 1    | type: 0 string, 1 hash, 2 list, 3 set, 4 sorted set |
//! | 4    | key length `k`                                      |
//! | 8    | expiry, Unix milliseconds; 0 = none                 |
//! | k    | key                                                 |
//! | …    | the value                                           |
//!
//! A string's value is a u32 length and the bytes; a collection's is a u32
//! count of entries, then each entry: a hash's field and value, a list's
//! element (left to right), a set's member, a sorted set's f64 score (IEEE
//! 754, little-endian) and member (lowest first), each byte string a u32
//! length and the bytes.
//!
//! Version 1 (read only): database 0, strings only, each item a u32 key
//! length, u32 value length, u64 expiry, key, value.

use super::super::dbs::{Dbs, DATABASES};
use super::super::item::Item;
use super::super::value::list::End;
use super::super::value::{Coll, Kind};
use super::{Damage, MAX_ITEM_BYTES};
use std::io::Read;

/// Appends item `item` of database `db` to `buf` (version 2).
pub(super) fn encode(db: usize, item: &Item, buf: &mut Vec<u8>) {
    let key = item.key();
    buf.push(db as u8);
    buf.push(item.kind().code());
    buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
    buf.extend_from_slice(&item.expire_at_unix_ms().unwrap_or(0).to_le_bytes());
    buf.extend_from_slice(key);
    let bytes = |buf: &mut Vec<u8>, b: &[u8]| {
        buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
        buf.extend_from_slice(b);
    };
    let count = |buf: &mut Vec<u8>, n: usize| buf.extend_from_slice(&(n as u32).to_le_bytes());
    match item {
        Item::Str(s) => bytes(buf, s.value()),
        Item::Coll(c) => match &c.value {
            Coll::Hash(h) => {
                count(buf, h.len());
                for (f, v) in h.iter() {
                    bytes(buf, f);
                    bytes(buf, v);
                }
            }
            Coll::List(l) => {
                count(buf, l.len());
                l.iter().for_each(|e| bytes(buf, e));
            }
            Coll::Set(s) => {
                count(buf, s.len());
                s.iter().for_each(|m| bytes(buf, m));
            }
            Coll::ZSet(z) => {
                count(buf, z.len());
                for (m, score) in z.iter() {
                    buf.extend_from_slice(&score.to_le_bytes());
                    bytes(buf, m);
                }
            }
        },
    }
}

/// Reads items of format `version` from `r` into databases.
pub(super) struct Decoder<R> {
    r: R,
    version: u32,
    item: u64,
    buf: Vec<u8>,
}

impl<R: Read> Decoder<R> {
    pub(super) fn new(r: R, version: u32) -> Decoder<R> {
        Decoder {
            r,
            version,
            item: 0,
            buf: Vec::new(),
        }
    }

    fn exact<const N: usize>(&mut self) -> Result<[u8; N], Damage> {
        let mut b = [0u8; N];
        let item = self.item;
        self.r
            .read_exact(&mut b)
            .map_err(|source| Damage::Item { item, source })?;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, Damage> {
        Ok(u32::from_le_bytes(self.exact()?))
    }

    /// Reads `len` bytes into the scratch buffer.
    fn bytes_of(&mut self, len: u64) -> Result<&[u8], Damage> {
        if len > MAX_ITEM_BYTES {
            return Err(Damage::ItemTooLarge {
                item: self.item,
                bytes: len,
            });
        }
        // Grown as the bytes arrive, not allocated from the declared length:
        // a damaged length costs what the file holds, not what it claims.
        self.buf.clear();
        let item = self.item;
        let got = (&mut self.r)
            .take(len)
            .read_to_end(&mut self.buf)
            .map_err(|source| Damage::Item { item, source })?;
        if (got as u64) < len {
            return Err(Damage::Item {
                item,
                source: std::io::ErrorKind::UnexpectedEof.into(),
            });
        }
        Ok(&self.buf)
    }

    /// A u32 length, then that many bytes, copied out.
    fn blob(&mut self) -> Result<Vec<u8>, Damage> {
        let len = self.u32()?;
        self.bytes_of(u64::from(len)).map(<[u8]>::to_vec)
    }

    /// Reads the next item into `dbs`.
    pub(super) fn next_into(&mut self, dbs: &mut Dbs) -> Result<(), Damage> {
        let item = self.item;
        let (db, kind) = if self.version == 1 {
            (0, Kind::String)
        } else {
            let [db, code] = self.exact::<2>()?;
            let kind = Kind::from_code(code).ok_or(Damage::ItemType { item, code })?;
            if usize::from(db) >= DATABASES {
                return Err(Damage::ItemDatabase { item, db });
            }
            (usize::from(db), kind)
        };
        let it = if self.version == 1 {
            let klen = u64::from(self.u32()?);
            let vlen = u64::from(self.u32()?);
            let expire = u64::from_le_bytes(self.exact()?);
            let kv = self.bytes_of(klen + vlen)?;
            let (k, v) = kv.split_at(klen as usize);
            Item::new(k, v, (expire != 0).then_some(expire))
        } else {
            let klen = u64::from(self.u32()?);
            let expire = u64::from_le_bytes(self.exact()?);
            let key = self.bytes_of(klen)?.to_vec();
            let expire = (expire != 0).then_some(expire);
            match Coll::empty(kind) {
                None => {
                    let v = self.blob()?;
                    Item::new(&key, &v, expire)
                }
                Some(coll) => Item::coll(&key, self.collection(coll)?, expire),
            }
        };
        if dbs.db_mut(db).insert(it).is_some() {
            return Err(Damage::DuplicateKey { item });
        }
        self.item += 1;
        Ok(())
    }

    /// Reads a collection's entries into the empty `coll`.
    fn collection(&mut self, mut coll: Coll) -> Result<Coll, Damage> {
        let item = self.item;
        let n = self.u32()?;
        for _ in 0..n {
            match &mut coll {
                Coll::Hash(h) => {
                    let f = self.blob()?;
                    let v = self.blob()?;
                    h.insert(&f, &v);
                }
                Coll::List(l) => {
                    let e = self.blob()?;
                    l.push(End::Right, &e);
                }
                Coll::Set(s) => {
                    let m = self.blob()?;
                    s.insert(&m);
                }
                Coll::ZSet(z) => {
                    let score = f64::from_le_bytes(self.exact()?);
                    if score.is_nan() {
                        return Err(Damage::NanScore { item });
                    }
                    let m = self.blob()?;
                    z.insert(&m, score);
                }
            }
        }
        if coll.len() != n as usize || coll.is_empty() {
            return Err(Damage::CollectionCount {
                item,
                count: n,
                distinct: coll.len(),
            });
        }
        Ok(coll)
    }

    /// True when nothing follows the last item.
    pub(super) fn at_end(&mut self) -> Result<bool, Damage> {
        let mut extra = [0u8; 1];
        match self.r.read(&mut extra) {
            Ok(0) => Ok(true),
            Ok(_) => Ok(false),
            Err(e) => Err(Damage::Decompress(e)),
        }
    }
}
