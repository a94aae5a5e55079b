//! Seeding from the primary's snapshots: the newest valid snapshot file in
//! `snapshots/`, handed to the shipper as opaque bytes.
//!
//! "Valid" means its header decodes, belongs to this system, and its content
//! has the length and CRC the header states (checked by streaming the file,
//! without decompressing it). A damaged newest snapshot is skipped with a
//! warning and the next older one is offered.
//!
//! The file is opened before it is checked and the same handle is returned, so
//! a checkpoint removing it meanwhile does not cut the seed short.

use crate::ship::protocol::seed::{Seed, SeedSource};
use crate::store::snapshot::{self, SnapshotHeader, SNAPSHOT_HEADER_BYTES};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The snapshots of one data directory, as a [`SeedSource`].
#[derive(Debug, Clone)]
pub struct SnapshotSeeds {
    pub dir: PathBuf,
    pub system_id: u64,
}

impl SnapshotSeeds {
    pub fn new(dir: impl Into<PathBuf>, system_id: u64) -> SnapshotSeeds {
        SnapshotSeeds {
            dir: dir.into(),
            system_id,
        }
    }
}

/// Opens `path` and checks it is a whole snapshot of `system_id`; returns the
/// header and the file positioned at its start.
///
/// # Errors
/// `InvalidData` naming the file and the damage; other I/O errors.
pub fn open_checked(path: &Path, system_id: u64) -> io::Result<(SnapshotHeader, File)> {
    let bad = |reason: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("snapshot {}: {reason}", path.display()),
        )
    };
    let mut f = File::open(path)?;
    let mut head = [0u8; SNAPSHOT_HEADER_BYTES];
    f.read_exact(&mut head)
        .map_err(|e| bad(format!("reading the header: {e}")))?;
    let h = SnapshotHeader::decode(&head).map_err(bad)?;
    if h.system_id != system_id {
        return Err(bad(format!(
            "belongs to system {:016x}, not {system_id:016x}",
            h.system_id
        )));
    }
    let len = f.metadata()?.len();
    if len != SNAPSHOT_HEADER_BYTES as u64 + h.content_bytes {
        return Err(bad(format!(
            "file is {len} bytes, the header says {}",
            SNAPSHOT_HEADER_BYTES as u64 + h.content_bytes
        )));
    }
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
    }
    if crc.finalize() != h.content_crc {
        return Err(bad("content checksum mismatch".into()));
    }
    f.seek(SeekFrom::Start(0))?;
    Ok((h, f))
}

impl SeedSource for SnapshotSeeds {
    fn latest(&self) -> io::Result<Option<Seed>> {
        let list = snapshot::list(&self.dir).map_err(io::Error::other)?;
        for (_, path) in list.iter().rev() {
            match open_checked(path, self.system_id) {
                Ok((h, f)) => {
                    return Ok(Some(Seed {
                        lsn: h.lsn,
                        total_bytes: SNAPSHOT_HEADER_BYTES as u64 + h.content_bytes,
                        reader: Box::new(f),
                    }))
                }
                // Removed by a checkpoint between listing and opening: try the next.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    tracing::warn!(error = %e, "not seeding from a damaged snapshot");
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Item, Keyspace};

    #[test]
    fn the_newest_whole_snapshot_is_offered() {
        let d = tempfile::tempdir().unwrap();
        let src = SnapshotSeeds::new(d.path(), 7);
        assert!(src.latest().unwrap().is_none());
        let mut ks = Keyspace::new();
        ks.insert(Item::new(b"k", b"v", None));
        snapshot::write(d.path(), &ks, 7, 100, 1).unwrap();
        let new = snapshot::write(d.path(), &ks, 7, 200, 1).unwrap();
        let mut s = src.latest().unwrap().unwrap();
        assert_eq!(s.lsn, 200);
        let mut bytes = Vec::new();
        s.reader.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, std::fs::read(&new.path).unwrap());
        assert_eq!(s.total_bytes, bytes.len() as u64);
        // A damaged newest snapshot falls back to the older one.
        let mut b = std::fs::read(&new.path).unwrap();
        let last = b.len() - 1;
        b[last] ^= 1;
        std::fs::write(&new.path, &b).unwrap();
        assert_eq!(src.latest().unwrap().unwrap().lsn, 100);
        // Another system's snapshots are never offered.
        assert!(SnapshotSeeds::new(d.path(), 8).latest().unwrap().is_none());
    }
}
