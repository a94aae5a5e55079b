//! Seeding: a standby that is empty, or older than the primary's oldest retained
//! WAL, first receives the primary's latest snapshot, then the WAL from the start
//! of the segment that holds the snapshot's LSN.
//!
//! The snapshot is opaque bytes here: [`SeedSource`] and [`SeedSink`] are
//! implemented by the node that owns the snapshot format.

use super::frame::{write_frame, FrameError};
use super::message::Message;
use std::io::Read;
use tokio::io::AsyncWriteExt;

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

/// Runs blocking disk work off the async workers.
pub(in crate::ship) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("task failed: {e}")),
    }
}

/// Sends a seed (primary side).
///
/// # Errors
/// I/O errors of the snapshot or the link.
pub(in crate::ship) async fn send<W: tokio::io::AsyncWrite + Unpin>(
    sock: &mut W,
    mut seed: Seed,
    wal_start_lsn: u64,
    system_id: u64,
    timeline: u32,
) -> Result<(), FrameError> {
    let begin = Message::SnapshotBegin {
        lsn: seed.lsn,
        wal_start_lsn,
        total_bytes: seed.total_bytes,
        system_id,
        timeline,
    };
    write_frame(sock, begin.kind(), &begin.encode()).await?;
    let mut crc = crc32fast::Hasher::new();
    let mut sent = 0u64;
    let mut buf = vec![0u8; SEED_FRAME_BYTES];
    while sent < seed.total_bytes {
        let (r, b, n) = tokio::task::spawn_blocking(move || {
            let mut r = seed.reader;
            let mut b = buf;
            let n = r.read(&mut b);
            (r, b, n)
        })
        .await
        .map_err(|e| FrameError::Io(std::io::Error::other(e)))?;
        seed.reader = r;
        buf = b;
        let n = n?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        sent += n as u64;
        write_frame(sock, 9, &buf[..n]).await?;
    }
    let end = Message::SnapshotEnd {
        crc32: crc.finalize(),
    };
    write_frame(sock, end.kind(), &end.encode()).await?;
    sock.flush().await?;
    Ok(())
}
