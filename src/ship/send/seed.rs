//! The primary's side of seeding: the snapshot sent as `SnapshotBegin`, its
//! bytes in `SnapshotData` frames of [`SEED_FRAME_BYTES`], and `SnapshotEnd`
//! with their checksum.

use crate::ship::protocol::frame::{write_frame, FrameError};
use crate::ship::protocol::message::Message;
use crate::ship::protocol::seed::{Seed, SEED_FRAME_BYTES};
use std::io::Read;
use tokio::io::AsyncWriteExt;

/// Sends a seed (primary side).
///
/// # Errors
/// I/O errors of the snapshot or the link.
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
