//! Seeding: a standby that is empty, or older than the primary's oldest retained
//! WAL, first receives the primary's latest snapshot, then the WAL from the start
//! of the segment that holds the snapshot's LSN.
//!
//! The snapshot is opaque bytes here: [`SeedSource`] and [`SeedSink`] are
//! implemented by the node that owns the snapshot format. The primary's side
//! is [`crate::ship::send::seed`], the standby's [`crate::ship::receive::seed`].

use std::io::Read;

/// Bytes of snapshot per `SnapshotData` frame.
pub const SEED_FRAME_BYTES: usize = 1 << 20;
/// Largest snapshot accepted.
pub const MAX_SEED_BYTES: u64 = 1 << 40;

/// A snapshot the primary can seed a standby with.
pub struct Seed {
    /// The snapshot covers the log up to this LSN.
    pub lsn: u64,
    /// Size of the snapshot file.
    pub total_bytes: u64,
    /// The snapshot's bytes.
    pub reader: Box<dyn Read + Send>,
}

/// The primary's side: where seeds come from.
pub trait SeedSource: Send + Sync {
    /// The newest snapshot, if there is one.
    ///
    /// # Errors
    /// I/O errors reading the snapshot directory.
    fn latest(&self) -> std::io::Result<Option<Seed>>;
}

/// The standby's side: where a received snapshot goes.
pub trait SeedSink: Send + Sync {
    /// Starts receiving a snapshot taken at `lsn` of `system_id`/`timeline`.
    ///
    /// # Errors
    /// I/O errors creating the temporary snapshot file.
    fn begin(
        &self,
        lsn: u64,
        total_bytes: u64,
        system_id: u64,
        timeline: u32,
    ) -> std::io::Result<Box<dyn SeedWriter>>;
}

/// A snapshot being received.
pub trait SeedWriter: Send {
    /// Appends bytes.
    ///
    /// # Errors
    /// I/O errors.
    fn write(&mut self, data: &[u8]) -> std::io::Result<()>;
    /// Makes the snapshot durable and current (the replayer restarts from it).
    ///
    /// # Errors
    /// I/O errors, or a snapshot that does not load.
    fn finish(self: Box<Self>) -> std::io::Result<()>;
}
