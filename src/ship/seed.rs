//! Seeding: a standby that is empty, or older than the primary's oldest retained
//! WAL, first receives the primary's latest snapshot, then the WAL from the start
//! of the segment that holds the snapshot's LSN.
//!
//! The snapshot is opaque bytes here: [`SeedSource`] and [`SeedSink`] are
//! implemented by the node that owns the snapshot format.

use super::frame::{write_frame, FrameError};
use super::message::Message;
use super::receiver::{ReceiveError, ReceiverShared};
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

/// Receives a snapshot after `SnapshotBegin`, installs it, and restarts the
/// received log at `wal_start_lsn`.
pub(super) async fn receive<R: tokio::io::AsyncRead + Unpin>(
    frames: &mut super::frame::FrameReader<R>,
    shared: &ReceiverShared,
    lsn: u64,
    wal_start_lsn: u64,
    total_bytes: u64,
    system_id: u64,
    timeline: u32,
) -> Result<(), ReceiveError> {
    let Some(sink) = shared.seed.clone() else {
        return Err(ReceiveError::Protocol(
            "this node does not accept snapshots".into(),
        ));
    };
    if total_bytes > MAX_SEED_BYTES || wal_start_lsn > lsn {
        return Err(ReceiveError::Protocol(format!(
            "snapshot of {total_bytes} bytes at LSN {lsn:#x} with WAL from {wal_start_lsn:#x} is not acceptable"
        )));
    }
    tracing::info!(lsn, total_bytes, "seeding: receiving snapshot");
    let store_err = |e: String| ReceiveError::Fatal(format!("cannot store the snapshot: {e}"));
    let mut w = blocking(move || sink.begin(lsn, total_bytes, system_id, timeline))
        .await
        .map_err(store_err)?;
    let mut got = 0u64;
    let mut crc = crc32fast::Hasher::new();
    // A bar when a person watches; periodic log lines otherwise.
    let mut progress = crate::progress::Progress::new("seeding", total_bytes);
    loop {
        let (k, body) = tokio::time::timeout(super::receiver::IDLE_TIMEOUT, frames.read())
            .await
            .map_err(|_| ReceiveError::Timeout)??;
        match Message::decode(k, &body).map_err(|e| ReceiveError::Protocol(e.to_string()))? {
            Message::SnapshotData(d) => {
                got += d.len() as u64;
                if got > total_bytes {
                    return Err(ReceiveError::Protocol(
                        "snapshot longer than announced".into(),
                    ));
                }
                crc.update(&d);
                w = blocking(move || w.write(&d).map(|_| w))
                    .await
                    .map_err(store_err)?;
                progress.set(got, Some(lsn));
            }
            Message::SnapshotEnd { crc32 } => {
                if got != total_bytes || crc.clone().finalize() != crc32 {
                    return Err(ReceiveError::Protocol(format!(
                        "snapshot damaged in transit ({got} of {total_bytes} bytes, checksum mismatch or short)"
                    )));
                }
                break;
            }
            other => {
                return Err(ReceiveError::Protocol(format!(
                    "unexpected {} during seeding",
                    other.name()
                )))
            }
        }
    }
    blocking(move || w.finish())
        .await
        .map_err(|e| ReceiveError::Fatal(format!("cannot install the snapshot: {e}")))?;
    let mirror = shared.mirror.clone();
    blocking(move || {
        let mut m = mirror.lock().unwrap_or_else(|p| p.into_inner());
        m.restart_at(wal_start_lsn).map_err(std::io::Error::other)
    })
    .await
    .map_err(|e| ReceiveError::Fatal(format!("cannot restart the received log: {e}")))?;
    shared.received.send_modify(|r| {
        r.received_lsn = wal_start_lsn;
        r.written_lsn = wal_start_lsn;
        r.system_id = system_id;
        r.timeline = timeline;
    });
    tracing::info!(
        lsn,
        wal_start_lsn,
        "seeding: snapshot installed; receiving the WAL after it"
    );
    Ok(())
}

/// Sends a seed (primary side).
///
/// # Errors
/// I/O errors of the snapshot or the link.
/// Runs blocking disk work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("task failed: {e}")),
    }
}

pub(super) async fn send<W: tokio::io::AsyncWrite + Unpin>(
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
