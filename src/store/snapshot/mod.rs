//! Snapshot files: the keyspace as of an LSN, zstd-compressed, checksummed.
//!
//! ## File layout (little-endian; `wal-format.md` § Snapshot files)
//!
//! A 64-byte header, then the content: one zstd frame.
//!
//! | offset | size | field                                                  |
//! |-------:|-----:|--------------------------------------------------------|
//! | 0      | 8    | magic `b"LOGSHIPS"`                                     |
//! | 8      | 4    | format version (`2`; `1` is still read)                |
//! | 12     | 4    | header length in bytes (`64`)                          |
//! | 16     | 8    | system id                                              |
//! | 24     | 8    | LSN covered: every record below it is in the snapshot |
//! | 32     | 4    | timeline at the covered LSN                            |
//! | 36     | 4    | reserved, zero                                         |
//! | 40     | 8    | number of items                                        |
//! | 48     | 8    | content length in bytes (file length − 64)             |
//! | 56     | 4    | CRC-32/IEEE of the content                             |
//! | 60     | 4    | CRC-32/IEEE of header bytes 0..60                      |
//!
//! Decompressed, the content is the items one after another, each with its
//! database and type (`items`).
//!
//! Files are named `snap-LLLLLLLLLLLLLLLL.lss` (the covered LSN, 16 lower-case hex digits)
//! and written as `*.tmp`, fsynced, renamed into place, then the directory is
//! fsynced: a snapshot either exists whole or not at all.

mod items;

use super::dbs::Dbs;
use crate::durable::IoError;
use crate::fs::{Fs, NewFile};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The eight bytes every snapshot file starts with.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"LOGSHIPS";
/// Version of the snapshot format written.
pub const SNAPSHOT_VERSION: u32 = 2;
/// The oldest version still read.
pub const OLDEST_SNAPSHOT_VERSION: u32 = 1;
/// Length of the header.
pub const SNAPSHOT_HEADER_BYTES: usize = 64;
/// Largest key plus value accepted when reading (checked before allocating).
pub const MAX_ITEM_BYTES: u64 = 1 << 30;
const _: () = assert!(SNAPSHOT_HEADER_BYTES % 8 == 0);

/// zstd level: fast, as a checkpoint runs beside live traffic.
const ZSTD_LEVEL: i32 = 1;

/// Errors of snapshot files, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("damaged snapshot {path}: {damage}")]
    Corrupt { path: PathBuf, damage: Damage },
    #[error("snapshot {path} belongs to system {found:016x}, not {expected:016x}")]
    Foreign {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
}

/// What is wrong with a damaged snapshot file.
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    #[error("file is {bytes} bytes, shorter than a header")]
    ShortHeader { bytes: usize },
    #[error("bad magic (not a logship snapshot)")]
    Magic,
    #[error("header checksum mismatch")]
    HeaderChecksum,
    #[error("unknown snapshot version {0}")]
    Version(u32),
    #[error("unexpected header length {0}")]
    HeaderLength(u32),
    #[error("content is {found} bytes, the header says {expected}")]
    ContentLength { found: u64, expected: u64 },
    #[error("content checksum mismatch")]
    ContentChecksum,
    /// The content does not decompress (checksummed, so written damaged).
    #[error("decompress: {0}")]
    Decompress(#[source] io::Error),
    /// The items end early or do not decompress.
    #[error("item {item}: {source}")]
    Item {
        item: u64,
        #[source]
        source: io::Error,
    },
    #[error("item {item}: {bytes} bytes exceed the limit of {MAX_ITEM_BYTES}")]
    ItemTooLarge { item: u64, bytes: u64 },
    #[error("item {item}: duplicate key")]
    DuplicateKey { item: u64 },
    #[error("item {item}: unknown type {code}")]
    ItemType { item: u64, code: u8 },
    #[error("item {item}: database {db} (0 to 15)")]
    ItemDatabase { item: u64, db: u8 },
    #[error("item {item}: a NaN score")]
    NanScore { item: u64 },
    #[error("item {item}: {count} entries declared, {distinct} distinct")]
    CollectionCount {
        item: u64,
        count: u32,
        distinct: usize,
    },
    #[error("data after the last item")]
    TrailingData,
}

impl SnapshotError {
    fn corrupt(path: &Path) -> impl Fn(Damage) -> SnapshotError + Copy + '_ {
        move |damage| SnapshotError::Corrupt {
            path: path.to_path_buf(),
            damage,
        }
    }
}

/// The header of a snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// The format version the file was written in.
    pub version: u32,
    pub system_id: u64,
    /// Every record below this LSN is in the snapshot; replay continues here.
    pub lsn: u64,
    pub timeline: u32,
    pub items: u64,
    pub content_bytes: u64,
    pub content_crc: u32,
}

impl SnapshotHeader {
    /// Encodes the header (its own checksum included).
    pub fn encode(&self) -> [u8; SNAPSHOT_HEADER_BYTES] {
        let mut b = [0u8; SNAPSHOT_HEADER_BYTES];
        b[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&(SNAPSHOT_HEADER_BYTES as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.system_id.to_le_bytes());
        b[24..32].copy_from_slice(&self.lsn.to_le_bytes());
        b[32..36].copy_from_slice(&self.timeline.to_le_bytes());
        b[40..48].copy_from_slice(&self.items.to_le_bytes());
        b[48..56].copy_from_slice(&self.content_bytes.to_le_bytes());
        b[56..60].copy_from_slice(&self.content_crc.to_le_bytes());
        let crc = crc32fast::hash(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header.
    ///
    /// # Errors
    /// The [`Damage`] when the magic, version, length or checksum is wrong.
    pub fn decode(b: &[u8]) -> Result<SnapshotHeader, Damage> {
        if b.len() < SNAPSHOT_HEADER_BYTES {
            return Err(Damage::ShortHeader { bytes: b.len() });
        }
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        if b[0..8] != SNAPSHOT_MAGIC {
            return Err(Damage::Magic);
        }
        if crc32fast::hash(&b[..60]) != u32_at(60) {
            return Err(Damage::HeaderChecksum);
        }
        let version = u32_at(8);
        if !(OLDEST_SNAPSHOT_VERSION..=SNAPSHOT_VERSION).contains(&version) {
            return Err(Damage::Version(version));
        }
        if u32_at(12) as usize != SNAPSHOT_HEADER_BYTES {
            return Err(Damage::HeaderLength(u32_at(12)));
        }
        Ok(SnapshotHeader {
            version,
            system_id: u64_at(16),
            lsn: u64_at(24),
            timeline: u32_at(32),
            items: u64_at(40),
            content_bytes: u64_at(48),
            content_crc: u32_at(56),
        })
    }

    /// Checks that the snapshot at `path`, whose file is `file_bytes` long,
    /// belongs to `system_id` and is as long as this header says.
    ///
    /// # Errors
    /// [`SnapshotError::Foreign`], [`SnapshotError::Corrupt`].
    pub fn check(&self, path: &Path, system_id: u64, file_bytes: u64) -> Result<(), SnapshotError> {
        if self.system_id != system_id {
            return Err(SnapshotError::Foreign {
                path: path.to_path_buf(),
                found: self.system_id,
                expected: system_id,
            });
        }
        let found = file_bytes.saturating_sub(SNAPSHOT_HEADER_BYTES as u64);
        if found != self.content_bytes {
            return Err(SnapshotError::corrupt(path)(Damage::ContentLength {
                found,
                expected: self.content_bytes,
            }));
        }
        Ok(())
    }
}

/// The file name of the snapshot covering `lsn`.
pub fn file_name(lsn: u64) -> String {
    format!("snap-{lsn:016x}.lss")
}

/// The covered LSN of a snapshot file name, or `None` for other files.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("snap-")?.strip_suffix(".lss")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Snapshot files in `dir`, oldest (lowest LSN) first.
///
/// # Errors
/// [`SnapshotError::Io`] when the directory cannot be read.
pub fn list(fs: &dyn Fs, dir: &Path) -> Result<Vec<(u64, PathBuf)>, SnapshotError> {
    let names = fs.list(dir).map_err(IoError::at("read directory", dir))?;
    let mut out: Vec<(u64, PathBuf)> = names
        .iter()
        .filter_map(|n| Some((parse_file_name(n)?, dir.join(n))))
        .collect();
    out.sort();
    Ok(out)
}

/// Removes `*.lss.tmp` files left by a checkpoint that did not finish (a crash
/// or a full disk), then fsyncs the directory. Returns how many were removed.
///
/// # Errors
/// [`SnapshotError::Io`].
pub fn remove_leftovers(fs: &dyn Fs, dir: &Path) -> Result<usize, SnapshotError> {
    let names = fs.list(dir).map_err(IoError::at("read directory", dir))?;
    let leftovers = names
        .iter()
        .filter(|n| n.strip_suffix(".tmp").and_then(parse_file_name).is_some());
    remove_synced(fs, dir, leftovers.map(|n| dir.join(n)))
}

/// What [`keep_newest`] left in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    /// Snapshots removed.
    pub removed: usize,
    /// The covered LSN of the oldest snapshot kept (`None`: there is none).
    pub oldest_lsn: Option<u64>,
}

/// Removes all but the newest `keep` snapshots of `dir` (`keep` ≥ 1), then
/// fsyncs the directory.
///
/// # Errors
/// [`SnapshotError::Io`]; the snapshots removed until then stay removed.
pub fn keep_newest(fs: &dyn Fs, dir: &Path, keep: usize) -> Result<Kept, SnapshotError> {
    assert!(keep >= 1, "the newest snapshot is always kept");
    let snaps = list(fs, dir)?;
    let cut = snaps.len().saturating_sub(keep);
    let removed = remove_synced(fs, dir, snaps[..cut].iter().map(|s| s.1.clone()))?;
    Ok(Kept {
        removed,
        oldest_lsn: snaps.get(cut).map(|s| s.0),
    })
}

/// Removes the files `paths` of `dir`, then (if there were any) fsyncs `dir`.
fn remove_synced(
    fs: &dyn Fs,
    dir: &Path,
    paths: impl Iterator<Item = PathBuf>,
) -> Result<usize, SnapshotError> {
    let mut n = 0;
    for p in paths {
        fs.remove(&p).map_err(IoError::at("remove", &p))?;
        n += 1;
    }
    if n > 0 {
        crate::fs::fsync_dir(fs, dir)?;
    }
    Ok(n)
}

/// A writer that counts and checksums what passes through it.
struct CrcWriter<W> {
    inner: W,
    crc: crc32fast::Hasher,
    bytes: u64,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What [`write`] produced.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub header: SnapshotHeader,
}

/// Writes the databases `dbs` as the snapshot covering `lsn` into `dir`, durably
/// (tmp file, fsync, rename, directory fsync: [`NewFile`]). A failed write
/// leaves the directory's snapshots as they were.
///
/// # Errors
/// [`SnapshotError::Io`] naming the file.
pub fn write(
    fs: &dyn Fs,
    dir: &Path,
    dbs: &Dbs,
    system_id: u64,
    lsn: u64,
    timeline: u32,
) -> Result<Written, SnapshotError> {
    let mut file = NewFile::create(fs, &dir.join(file_name(lsn)))?;
    let tmp = file.tmp().to_path_buf();
    file.write_at(&[0u8; SNAPSHOT_HEADER_BYTES], 0)?;
    let counter = CrcWriter {
        inner: BufWriter::with_capacity(1 << 20, file.appender(SNAPSHOT_HEADER_BYTES as u64)),
        crc: crc32fast::Hasher::new(),
        bytes: 0,
    };
    let mut enc = zstd::Encoder::new(counter, ZSTD_LEVEL).map_err(IoError::at("compress", &tmp))?;
    let mut items = 0u64;
    let mut buf = Vec::with_capacity(1 << 16);
    for (db, item) in dbs
        .iter()
        .flat_map(|(db, ks)| ks.iter().map(move |i| (db, i)))
    {
        items::encode(db, item, &mut buf);
        items += 1;
        if buf.len() >= 1 << 16 {
            enc.write_all(&buf).map_err(IoError::at("write", &tmp))?;
            buf.clear();
        }
    }
    enc.write_all(&buf).map_err(IoError::at("write", &tmp))?;
    let mut counter = enc.finish().map_err(IoError::at("compress", &tmp))?;
    counter.flush().map_err(IoError::at("write", &tmp))?;
    let header = SnapshotHeader {
        version: SNAPSHOT_VERSION,
        system_id,
        lsn,
        timeline,
        items,
        content_bytes: counter.bytes,
        content_crc: counter.crc.clone().finalize(),
    };
    drop(counter);
    file.write_at(&header.encode(), 0)?;
    let path = file.commit()?;
    Ok(Written { path, header })
}

/// Reads and fully verifies a snapshot of system `system_id`.
///
/// # Errors
/// [`SnapshotError::Corrupt`] for any damage (checksums, lengths, counts),
/// [`SnapshotError::Foreign`] for another system's snapshot, [`SnapshotError::Io`].
pub fn read(
    fs: &dyn Fs,
    path: &Path,
    system_id: u64,
) -> Result<(SnapshotHeader, Dbs), SnapshotError> {
    let corrupt = SnapshotError::corrupt(path);
    let data = fs.read(path).map_err(IoError::at("read", path))?;
    let header = SnapshotHeader::decode(&data).map_err(corrupt)?;
    header.check(path, system_id, data.len() as u64)?;
    let content = &data[SNAPSHOT_HEADER_BYTES..];
    if crc32fast::hash(content) != header.content_crc {
        return Err(corrupt(Damage::ContentChecksum));
    }
    let dbs = decode_content(content, header.version, header.items).map_err(corrupt)?;
    Ok((header, dbs))
}

/// The databases held by the `items` items of format `version` in the
/// compressed `content` (checksummed by the caller). Every byte is checked:
/// lengths against [`MAX_ITEM_BYTES`] before allocating, types, databases,
/// scores, counts, duplicates, trailing data.
///
/// # Errors
/// The [`Damage`] found first.
pub fn decode_content(content: &[u8], version: u32, items: u64) -> Result<Dbs, Damage> {
    let dec = zstd::Decoder::with_buffer(content).map_err(Damage::Decompress)?;
    let mut d = items::Decoder::new(BufReader::with_capacity(1 << 16, dec), version);
    let mut dbs = Dbs::new();
    for _ in 0..items {
        d.next_into(&mut dbs)?;
    }
    if d.at_end()? {
        Ok(dbs)
    } else {
        Err(Damage::TrailingData)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::StdFs;
    use crate::store::effect::{Blob, Effect, ListEnd};
    use crate::store::{Cursor, Item};

    /// Databases holding every type, in several databases, some with expiries.
    fn every_type() -> Dbs {
        let mut dbs = Dbs::new();
        let b = |s: &str| Blob::owned(s.as_bytes().to_vec());
        for i in 0..3000u32 {
            let exp = (i % 3 == 0).then_some(1_000 + i as u64);
            dbs.db_mut(0)
                .insert(Item::new(format!("k{i}").as_bytes(), &i.to_le_bytes(), exp));
        }
        let effects = [
            Effect::Select { db: 2 },
            Effect::HSet {
                key: b("h"),
                pairs: vec![(b("f1"), b("v1")), (b("f2"), b(""))],
            },
            Effect::Push {
                key: b("l"),
                end: ListEnd::Left,
                elems: vec![b("a"), b("b"), b("a")],
            },
            Effect::Expire {
                key: b("l"),
                at_unix_ms: 77,
            },
            Effect::Select { db: 15 },
            Effect::SAdd {
                key: b("s"),
                members: vec![b("x"), b("y")],
            },
            Effect::ZAdd {
                key: b("z"),
                entries: vec![(1.5, b("m")), (-0.0, b("n")), (f64::INFINITY, b("o"))],
            },
            Effect::Set {
                key: b("k1"),
                value: b("other db"),
                expire_at_unix_ms: None,
            },
        ];
        let mut cur = Cursor::default();
        for e in &effects {
            crate::store::apply_effect(&mut dbs, &mut cur, e);
        }
        dbs
    }

    #[test]
    fn writes_reads_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let dbs = every_type();
        let w = write(&StdFs, dir.path(), &dbs, 77, 4096, 1).unwrap();
        assert_eq!(w.header.items, 3005);
        assert_eq!(
            list(&StdFs, dir.path()).unwrap(),
            vec![(4096, w.path.clone())]
        );
        let (h, back) = read(&StdFs, &w.path, 77).unwrap();
        assert_eq!((h.lsn, h.timeline, h.items), (4096, 1, 3005));
        assert_eq!(back.len(), 3005);
        assert_eq!(back.digest(), dbs.digest());
        for (db, ks) in dbs.iter() {
            for item in ks.iter() {
                assert_eq!(back.db(db).get(item.key()), Some(item), "db {db}");
            }
        }
        assert!(matches!(
            read(&StdFs, &w.path, 78),
            Err(SnapshotError::Foreign { .. })
        ));
        let mut bytes = std::fs::read(&w.path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        std::fs::write(&w.path, &bytes).unwrap();
        let err = read(&StdFs, &w.path, 77).unwrap_err();
        assert!(err.to_string().contains("content checksum"), "{err}");
        bytes[30] ^= 1;
        std::fs::write(&w.path, &bytes).unwrap();
        let err = read(&StdFs, &w.path, 77).unwrap_err();
        assert!(err.to_string().contains("header checksum"), "{err}");
    }

    #[test]
    fn version_1_files_still_load() {
        // A version 1 file as the previous release wrote it: strings only.
        let mut content = Vec::new();
        for (k, v, exp) in [(&b"a"[..], &b"1"[..], 0u64), (b"bb", b"", 99)] {
            content.extend((k.len() as u32).to_le_bytes());
            content.extend((v.len() as u32).to_le_bytes());
            content.extend(exp.to_le_bytes());
            content.extend(k);
            content.extend(v);
        }
        let z = zstd::encode_all(&content[..], 1).unwrap();
        let header = SnapshotHeader {
            version: 1,
            system_id: 5,
            lsn: 64,
            timeline: 1,
            items: 2,
            content_bytes: z.len() as u64,
            content_crc: crc32fast::hash(&z),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file_name(64));
        std::fs::write(&path, [&header.encode()[..], &z].concat()).unwrap();
        let (h, dbs) = read(&StdFs, &path, 5).unwrap();
        assert_eq!(h.version, 1);
        assert_eq!(dbs.len(), 2);
        let bb = dbs.db(0).get(b"bb").unwrap();
        assert_eq!(
            (bb.as_str(), bb.expire_at_unix_ms()),
            (Some(&b""[..]), Some(99))
        );
    }

    #[test]
    fn damaged_items_are_named() {
        let mut buf = Vec::new();
        let dbs = every_type();
        for (db, ks) in dbs.iter() {
            ks.iter().for_each(|i| items::encode(db, i, &mut buf));
        }
        let n = dbs.len() as u64;
        let z = |b: &[u8]| zstd::encode_all(b, 1).unwrap();
        assert!(decode_content(&z(&buf), 2, n).is_ok());
        assert!(matches!(
            decode_content(&z(&buf), 2, n + 1),
            Err(Damage::Item { .. })
        ));
        assert!(matches!(
            decode_content(&z(&buf), 2, n - 1),
            Err(Damage::TrailingData)
        ));
        let mut bad_db = Vec::new();
        items::encode(16, dbs.db(0).iter().next().unwrap(), &mut bad_db);
        assert!(matches!(
            decode_content(&z(&bad_db), 2, 1),
            Err(Damage::ItemDatabase { db: 16, .. })
        ));
        let mut dup = Vec::new();
        let z_item = dbs.db(15).get(b"z").unwrap();
        items::encode(15, z_item, &mut dup);
        let at = dup.len() - 8 - 4 - 1; // the last member's score
        dup[at..at + 8].copy_from_slice(&f64::NAN.to_le_bytes());
        assert!(matches!(
            decode_content(&z(&dup), 2, 1),
            Err(Damage::NanScore { .. })
        ));
    }

    #[test]
    fn unfinished_files_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join(format!("{}.tmp", file_name(64)));
        std::fs::write(&tmp, b"half").unwrap();
        std::fs::write(dir.path().join("notes.tmp"), b"x").unwrap();
        assert_eq!(remove_leftovers(&StdFs, dir.path()).unwrap(), 1);
        assert!(!tmp.exists());
        assert!(dir.path().join("notes.tmp").exists());
        assert_eq!(remove_leftovers(&StdFs, dir.path()).unwrap(), 0);
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_file_name(&file_name(0xABC)), Some(0xABC));
        assert_eq!(parse_file_name("snap-XYZ.lss"), None);
        assert_eq!(parse_file_name("snap-0000000000000abc.lss.tmp"), None);
    }
}
