//! Snapshot files: the keyspace as of an LSN, zstd-compressed, checksummed.
//!
//! ## File layout (little-endian; `wal-format.md` § Snapshot files)
//!
//! A 64-byte header, then the content: one zstd frame.
//!
//! | offset | size | field                                                  |
//! |-------:|-----:|--------------------------------------------------------|
//! | 0      | 8    | magic `b"LOGSHIPS"`                                     |
//! | 8      | 4    | format version (`1`)                                   |
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
//! Decompressed, the content is the items one after another:
//!
//! | size | field                                        |
//! |-----:|----------------------------------------------|
//! | 4    | key length `k`                               |
//! | 4    | value length `v`                             |
//! | 8    | expiry, Unix milliseconds; 0 = none          |
//! | k    | key                                          |
//! | v    | value                                        |
//!
//! Files are named `snap-LLLLLLLLLLLLLLLL.lss` (the covered LSN, 16 lower-case hex digits)
//! and written as `*.tmp`, fsynced, renamed into place, then the directory is
//! fsynced: a snapshot either exists whole or not at all.

use super::item::Item;
use super::keyspace::Keyspace;
use std::fs::OpenOptions;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The eight bytes every snapshot file starts with.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"LOGSHIPS";
/// Version of the snapshot format.
pub const SNAPSHOT_VERSION: u32 = 1;
/// Length of the header.
pub const SNAPSHOT_HEADER_BYTES: usize = 64;
/// Largest key plus value accepted when reading (checked before allocating).
pub const MAX_ITEM_BYTES: u64 = 1 << 30;
const ITEM_PREFIX_BYTES: usize = 16;
const _: () = assert!(SNAPSHOT_HEADER_BYTES % 8 == 0);

/// zstd level: fast, as a checkpoint runs beside live traffic.
const ZSTD_LEVEL: i32 = 1;

/// Errors of snapshot files, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Io(#[from] crate::durable::IoError),
    #[error("damaged snapshot {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("snapshot {path} belongs to system {found:016x}, not {expected:016x}")]
    Foreign {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SnapshotError + 'a {
    move |source| SnapshotError::Io(crate::durable::IoError::new(op, path, source))
}

/// The header of a snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotHeader {
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
        b[8..12].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
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
    /// A reason string when the magic, version, length or checksum is wrong.
    pub fn decode(b: &[u8]) -> Result<SnapshotHeader, String> {
        if b.len() < SNAPSHOT_HEADER_BYTES {
            return Err(format!("file is {} bytes, shorter than a header", b.len()));
        }
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        if b[0..8] != SNAPSHOT_MAGIC {
            return Err("bad magic (not a logship snapshot)".into());
        }
        if crc32fast::hash(&b[..60]) != u32_at(60) {
            return Err("header checksum mismatch".into());
        }
        if u32_at(8) != SNAPSHOT_VERSION {
            return Err(format!("unknown snapshot version {}", u32_at(8)));
        }
        if u32_at(12) as usize != SNAPSHOT_HEADER_BYTES {
            return Err(format!("unexpected header length {}", u32_at(12)));
        }
        Ok(SnapshotHeader {
            system_id: u64_at(16),
            lsn: u64_at(24),
            timeline: u32_at(32),
            items: u64_at(40),
            content_bytes: u64_at(48),
            content_crc: u32_at(56),
        })
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
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, SnapshotError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("read directory", dir))? {
        let entry = entry.map_err(io_err("read directory", dir))?;
        if let Some(lsn) = entry.file_name().to_str().and_then(parse_file_name) {
            out.push((lsn, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Removes `*.lss.tmp` files left by a checkpoint that did not finish (a crash
/// or a full disk), then fsyncs the directory. Returns how many were removed.
///
/// # Errors
/// [`SnapshotError::Io`].
pub fn remove_leftovers(dir: &Path) -> Result<usize, SnapshotError> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).map_err(io_err("read directory", dir))? {
        let entry = entry.map_err(io_err("read directory", dir))?;
        let name = entry.file_name();
        let is_tmp = name
            .to_str()
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(parse_file_name)
            .is_some();
        if is_tmp {
            let p = entry.path();
            std::fs::remove_file(&p).map_err(io_err("remove", &p))?;
            n += 1;
        }
    }
    if n > 0 {
        crate::durable::sync_dir(dir)?;
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

/// Writes `keyspace` as the snapshot covering `lsn` into `dir`, durably
/// (tmp file, fsync, rename, directory fsync).
///
/// # Errors
/// [`SnapshotError::Io`] naming the file.
pub fn write(
    dir: &Path,
    keyspace: &Keyspace,
    system_id: u64,
    lsn: u64,
    timeline: u32,
) -> Result<Written, SnapshotError> {
    let tmp = dir.join(format!("{}.tmp", file_name(lsn)));
    let written = write_via(dir, &tmp, keyspace, system_id, lsn, timeline);
    if written.is_err() {
        // A full disk, say: what was written of it would hold that space
        // until the next start.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// [`write`] through the temporary file `tmp`.
fn write_via(
    dir: &Path,
    tmp: &Path,
    keyspace: &Keyspace,
    system_id: u64,
    lsn: u64,
    timeline: u32,
) -> Result<Written, SnapshotError> {
    let path = dir.join(file_name(lsn));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .map_err(io_err("create", tmp))?;
    file.write_all(&[0u8; SNAPSHOT_HEADER_BYTES])
        .map_err(io_err("write", tmp))?;
    let counter = CrcWriter {
        inner: BufWriter::with_capacity(1 << 20, &mut file),
        crc: crc32fast::Hasher::new(),
        bytes: 0,
    };
    let mut enc = zstd::Encoder::new(counter, ZSTD_LEVEL).map_err(io_err("compress", tmp))?;
    let mut items = 0u64;
    let mut buf = Vec::with_capacity(1 << 16);
    for item in keyspace.iter() {
        let (k, v) = (item.key(), item.value());
        buf.extend_from_slice(&(k.len() as u32).to_le_bytes());
        buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
        buf.extend_from_slice(&item.expire_at_unix_ms().unwrap_or(0).to_le_bytes());
        buf.extend_from_slice(k);
        buf.extend_from_slice(v);
        items += 1;
        if buf.len() >= 1 << 16 {
            enc.write_all(&buf).map_err(io_err("write", tmp))?;
            buf.clear();
        }
    }
    enc.write_all(&buf).map_err(io_err("write", tmp))?;
    let mut counter = enc.finish().map_err(io_err("compress", tmp))?;
    counter.flush().map_err(io_err("write", tmp))?;
    let header = SnapshotHeader {
        system_id,
        lsn,
        timeline,
        items,
        content_bytes: counter.bytes,
        content_crc: counter.crc.clone().finalize(),
    };
    drop(counter);
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.write_all(&header.encode()))
        .map_err(io_err("write header", tmp))?;
    file.sync_all().map_err(io_err("fsync", tmp))?;
    drop(file);
    std::fs::rename(tmp, &path).map_err(io_err("rename", tmp))?;
    crate::durable::sync_dir(dir)?;
    Ok(Written { path, header })
}

/// Reads and fully verifies a snapshot of system `system_id`.
///
/// # Errors
/// [`SnapshotError::Corrupt`] for any damage (checksums, lengths, counts),
/// [`SnapshotError::Foreign`] for another system's snapshot, [`SnapshotError::Io`].
pub fn read(path: &Path, system_id: u64) -> Result<(SnapshotHeader, Keyspace), SnapshotError> {
    let corrupt = |reason: String| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let data = std::fs::read(path).map_err(io_err("read", path))?;
    let header = SnapshotHeader::decode(&data).map_err(corrupt)?;
    if header.system_id != system_id {
        return Err(SnapshotError::Foreign {
            path: path.to_path_buf(),
            found: header.system_id,
            expected: system_id,
        });
    }
    let content = &data[SNAPSHOT_HEADER_BYTES..];
    if content.len() as u64 != header.content_bytes {
        return Err(corrupt(format!(
            "content is {} bytes, the header says {}",
            content.len(),
            header.content_bytes
        )));
    }
    if crc32fast::hash(content) != header.content_crc {
        return Err(corrupt("content checksum mismatch".into()));
    }
    let dec = zstd::Decoder::with_buffer(content).map_err(|e| corrupt(e.to_string()))?;
    let mut r = BufReader::with_capacity(1 << 16, dec);
    let mut ks = Keyspace::new();
    let mut buf = Vec::new();
    for n in 0..header.items {
        let mut prefix = [0u8; ITEM_PREFIX_BYTES];
        r.read_exact(&mut prefix)
            .map_err(|e| corrupt(format!("item {n}: {e}")))?;
        let klen = u32::from_le_bytes(prefix[0..4].try_into().expect("4 bytes")) as usize;
        let vlen = u32::from_le_bytes(prefix[4..8].try_into().expect("4 bytes")) as usize;
        let expire = u64::from_le_bytes(prefix[8..16].try_into().expect("8 bytes"));
        if (klen + vlen) as u64 > MAX_ITEM_BYTES {
            return Err(corrupt(format!(
                "item {n}: {} bytes exceed the limit of {MAX_ITEM_BYTES}",
                klen + vlen
            )));
        }
        buf.resize(klen + vlen, 0);
        r.read_exact(&mut buf)
            .map_err(|e| corrupt(format!("item {n}: {e}")))?;
        let item = Item::new(&buf[..klen], &buf[klen..], (expire != 0).then_some(expire));
        if ks.insert(item).is_some() {
            return Err(corrupt(format!("item {n}: duplicate key")));
        }
    }
    let mut extra = [0u8; 1];
    match r.read(&mut extra) {
        Ok(0) => {}
        Ok(_) => return Err(corrupt("data after the last item".into())),
        Err(e) => return Err(corrupt(e.to_string())),
    }
    Ok((header, ks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reads_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut ks = Keyspace::new();
        for i in 0..3000u32 {
            let exp = (i % 3 == 0).then_some(1_000 + i as u64);
            ks.insert(Item::new(format!("k{i}").as_bytes(), &i.to_le_bytes(), exp));
        }
        let w = write(dir.path(), &ks, 77, 4096, 1).unwrap();
        assert_eq!(w.header.items, 3000);
        assert_eq!(list(dir.path()).unwrap(), vec![(4096, w.path.clone())]);
        let (h, back) = read(&w.path, 77).unwrap();
        assert_eq!((h.lsn, h.timeline, h.items), (4096, 1, 3000));
        assert_eq!(back.len(), 3000);
        for item in ks.iter() {
            assert_eq!(back.get(item.key()), Some(item));
        }
        assert!(matches!(
            read(&w.path, 78),
            Err(SnapshotError::Foreign { .. })
        ));
        let mut bytes = std::fs::read(&w.path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        std::fs::write(&w.path, &bytes).unwrap();
        let err = read(&w.path, 77).unwrap_err();
        assert!(err.to_string().contains("content checksum"), "{err}");
        bytes[30] ^= 1;
        std::fs::write(&w.path, &bytes).unwrap();
        let err = read(&w.path, 77).unwrap_err();
        assert!(err.to_string().contains("header checksum"), "{err}");
    }

    #[test]
    fn unfinished_files_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join(format!("{}.tmp", file_name(64)));
        std::fs::write(&tmp, b"half").unwrap();
        std::fs::write(dir.path().join("notes.tmp"), b"x").unwrap();
        assert_eq!(remove_leftovers(dir.path()).unwrap(), 1);
        assert!(!tmp.exists());
        assert!(dir.path().join("notes.tmp").exists());
        assert_eq!(remove_leftovers(dir.path()).unwrap(), 0);
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_file_name(&file_name(0xABC)), Some(0xABC));
        assert_eq!(parse_file_name("snap-XYZ.lss"), None);
        assert_eq!(parse_file_name("snap-0000000000000abc.lss.tmp"), None);
    }
}
