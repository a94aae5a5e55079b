//! Seeding on a standby: a snapshot received from the primary, written aside,
//! checked, installed as the newest snapshot and loaded as the state; and at
//! start-up, the newest snapshot that reads back, and the removal of what an
//! interrupted seeding left.

use super::node::Node;
use crate::durable::IoError;
use crate::fs::{fsync_dir, Fs, NewFile, StdFs};
use crate::ship::protocol::seed::{SeedSink, SeedWriter};
use crate::store::snapshot;
use crate::store::KvState;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Receives a seeding snapshot into `snapshots/` and makes it the state.
struct Seeds(Arc<Node>);

struct SeedFile {
    node: Arc<Node>,
    file: NewFile<'static>,
    /// Bytes written so far.
    len: u64,
    lsn: u64,
    system_id: u64,
}

impl SeedSink for Seeds {
    fn begin(
        &self,
        lsn: u64,
        _total: u64,
        system_id: u64,
        _timeline: u32,
    ) -> std::io::Result<Box<dyn SeedWriter>> {
        let known = self.0.system_id.load(Ordering::Acquire);
        if known != 0 && known != system_id {
            return Err(std::io::Error::other(format!(
                "snapshot of system {system_id:016x}, this standby belongs to {known:016x}"
            )));
        }
        let dir = &self.0.snap_dir;
        let file = NewFile::create_as(
            &StdFs,
            &dir.join(snapshot::file_name(lsn)),
            dir.join(SEED_TMP),
        )
        .map_err(std::io::Error::other)?;
        Ok(Box::new(SeedFile {
            node: self.0.clone(),
            file,
            len: 0,
            lsn,
            system_id,
        }))
    }
}

impl SeedWriter for SeedFile {
    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.file
            .write_at(data, self.len)
            .map_err(std::io::Error::other)?;
        self.len += data.len() as u64;
        Ok(())
    }

    fn finish(self: Box<Self>) -> std::io::Result<()> {
        let (header, keyspace) = snapshot::read(&StdFs, self.file.tmp(), self.system_id)
            .map_err(std::io::Error::other)?;
        if header.lsn != self.lsn {
            return Err(std::io::Error::other(
                "snapshot LSN differs from the one announced",
            ));
        }
        self.file.commit().map_err(std::io::Error::other)?;
        let n = keyspace.len();
        *self.node.lock_state() = KvState::new(keyspace, self.lsn);
        self.node.system_id.store(self.system_id, Ordering::Release);
        self.node
            .last_checkpoint_lsn
            .store(self.lsn, Ordering::Release);
        tracing::info!(
            lsn = self.lsn,
            keys = n,
            "seeded from the primary's snapshot"
        );
        Ok(())
    }
}

/// Where a seed's snapshot is written before it is checked and renamed.
const SEED_TMP: &str = "incoming.seed.tmp";

/// Removes what an interrupted seeding left of a snapshot: it was never
/// checked nor installed, and the next seed starts over.
pub(super) fn discard_partial_seed(fs: &dyn Fs, snap_dir: &Path) -> Result<(), IoError> {
    let tmp = snap_dir.join(SEED_TMP);
    if !fs.exists(&tmp) {
        return Ok(());
    }
    fs.remove(&tmp).map_err(IoError::at("remove", &tmp))?;
    fsync_dir(fs, snap_dir)?;
    tracing::info!(path = %tmp.display(), "removed the partial seed snapshot an interrupted seeding left");
    Ok(())
}

/// Loads the newest snapshot that reads back, or an empty state.
pub(super) fn load_state(snap_dir: &Path, system_id: u64) -> anyhow::Result<KvState> {
    if system_id == 0 {
        return Ok(KvState::default());
    }
    let mut snaps = snapshot::list(&StdFs, snap_dir)?;
    snaps.reverse();
    for (lsn, path) in snaps {
        match snapshot::read(&StdFs, &path, system_id) {
            Ok((_, ks)) => {
                tracing::info!(lsn, keys = ks.len(), "loaded snapshot");
                return Ok(KvState::new(ks, lsn));
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "snapshot unusable; trying an older one")
            }
        }
    }
    Ok(KvState::default())
}

/// The seed sink, reaching the node once it exists.
pub(super) struct LazySeeds(pub(super) std::sync::Weak<Node>);

impl SeedSink for LazySeeds {
    fn begin(
        &self,
        lsn: u64,
        total: u64,
        system_id: u64,
        timeline: u32,
    ) -> std::io::Result<Box<dyn SeedWriter>> {
        let node = self
            .0
            .upgrade()
            .ok_or_else(|| std::io::Error::other("standby is shutting down"))?;
        Seeds(node).begin(lsn, total, system_id, timeline)
    }
}
