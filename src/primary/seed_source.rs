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

use crate::durable::IoError;
use crate::fs::StdFs;
use crate::ship::protocol::seed::{Seed, SeedSource};
use crate::store::snapshot::{self, Damage, SnapshotError, SnapshotHeader, SNAPSHOT_HEADER_BYTES};
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
/// The file is read with `std::fs` rather than through [`crate::fs::Fs`]:
/// the seed streams from this handle for as long as the shipment takes, and a
/// memory map would turn a file cut short meanwhile into a crash.
///
/// # Errors
/// [`SnapshotError::Corrupt`] and [`SnapshotError::Foreign`] naming the file
/// and the damage; [`SnapshotError::Io`].
pub fn open_checked(path: &Path, system_id: u64) -> Result<(SnapshotHeader, File), SnapshotError> {
    let corrupt = |damage| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        damage,
    };
    let mut f = File::open(path).map_err(IoError::at("open", path))?;
    let len = f.metadata().map_err(IoError::at("stat", path))?.len();
    let mut head = [0u8; SNAPSHOT_HEADER_BYTES];
    let got = read_full(&mut f, &mut head).map_err(IoError::at("read", path))?;
    let h = SnapshotHeader::decode(&head[..got]).map_err(corrupt)?;
    h.check(path, system_id, len)?;
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(IoError::at("read", path))?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
    }
    if crc.finalize() != h.content_crc {
        return Err(corrupt(Damage::ContentChecksum));
    }
    f.seek(SeekFrom::Start(0))
        .map_err(IoError::at("seek", path))?;
    Ok((h, f))
}

/// Reads into `buf` until it is full or the file ends; returns the bytes read.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

impl SeedSource for SnapshotSeeds {
    fn latest(&self) -> io::Result<Option<Seed>> {
        let list = snapshot::list(&StdFs, &self.dir).map_err(io::Error::other)?;
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
                Err(SnapshotError::Io(e)) if e.source.kind() == io::ErrorKind::NotFound => continue,
                Err(e @ (SnapshotError::Corrupt { .. } | SnapshotError::Foreign { .. })) => {
                    tracing::warn!(error = %e, "not seeding from a damaged snapshot");
                    continue;
                }
                Err(e) => return Err(io::Error::other(e)),
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
        snapshot::write(
            &StdFs,
            d.path(),
            &crate::store::Dbs::with_db0(ks.clone()),
            7,
            100,
            1,
        )
        .unwrap();
        let new = snapshot::write(
            &StdFs,
            d.path(),
            &crate::store::Dbs::with_db0(ks.clone()),
            7,
            200,
            1,
        )
        .unwrap();
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
