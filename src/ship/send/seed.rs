//! The primary's side of seeding: the newest snapshot, when the WAL after it
//! is still retained, sent as `SnapshotBegin`, its bytes in `SnapshotData`
//! frames of [`SEED_FRAME_BYTES`], and `SnapshotEnd` with their checksum.

use super::error::{NoSeed, ShipError};
use super::link::Link;
use super::options::LogSource;
use crate::ship::protocol::codes::MessageKind;
use crate::ship::protocol::frame::{write_frame, FrameError};
use crate::ship::protocol::message::Message;
use crate::ship::protocol::seed::{Seed, SEED_FRAME_BYTES};
use crate::wal::scan::list_segments;
use std::io::Read;
use tokio::io::AsyncWriteExt;

/// Sends a seed (primary side).
///
/// # Errors
/// I/O errors of the snapshot or the link.
async fn send<W: tokio::io::AsyncWrite + Unpin>(
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
    write_frame(sock, begin.kind().into(), &begin.encode()).await?;
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
        // The data goes out as read: no copy into a `SnapshotData` message.
        write_frame(sock, MessageKind::SnapshotData.into(), &buf[..n]).await?;
    }
    let end = Message::SnapshotEnd {
        crc32: crc.finalize(),
    };
    write_frame(sock, end.kind().into(), &end.encode()).await?;
    sock.flush().await?;
    Ok(())
}

/// Sends the newest snapshot and returns the LSN the WAL continues from.
pub(super) async fn seed_standby(
    src: &LogSource,
    link: &mut Link,
    addr: &str,
) -> Result<u64, ShipError> {
    let needs = |why: NoSeed| ShipError::NeedsSeed {
        addr: addr.to_string(),
        why,
    };
    let Some(source) = src.seed.clone() else {
        return Err(needs(NoSeed::NoSnapshots));
    };
    let seed = tokio::task::spawn_blocking(move || source.latest())
        .await
        .map_err(|e| needs(NoSeed::Task(e)))?
        .map_err(|e| needs(NoSeed::Read(e)))?
        .ok_or_else(|| needs(NoSeed::NoneYet))?;
    let segments = list_segments(&*src.fs, &src.wal_dir).map_err(|source| ShipError::Wal {
        addr: addr.to_string(),
        source,
    })?;
    let wal_start = segments
        .iter()
        .rev()
        .find(|s| s.first_lsn <= seed.lsn)
        .map_or(seed.lsn, |s| s.first_lsn);
    if segments.first().is_some_and(|s| s.first_lsn > wal_start) {
        return Err(needs(NoSeed::NotRetained { lsn: seed.lsn }));
    }
    let lsn = seed.lsn;
    tracing::info!(
        standby = addr,
        lsn,
        bytes = seed.total_bytes,
        "seeding standby with snapshot"
    );
    send(&mut link.w, seed, wal_start, src.system_id, src.timeline)
        .await
        .map_err(|source| ShipError::Link {
            addr: addr.to_string(),
            source,
        })?;
    Ok(wal_start)
}
