//! The standby's side of seeding: a snapshot received after `SnapshotBegin`,
//! handed to the node's [`SeedSink`](crate::ship::protocol::seed::SeedSink) off the async workers, then the received
//! log restarted where the snapshot's WAL begins.

use super::intake::{Blocking, Fatal, ProtocolError, ReceiveError, ReceiverShared};
use crate::ship::protocol::message::Message;
use crate::ship::protocol::seed::MAX_SEED_BYTES;

/// Receives a snapshot after `SnapshotBegin`, installs it, and restarts the
/// received log at `wal_start_lsn`.
pub(super) async fn receive<R: tokio::io::AsyncRead + Unpin>(
    frames: &mut crate::ship::protocol::frame::FrameReader<R>,
    shared: &ReceiverShared,
    lsn: u64,
    wal_start_lsn: u64,
    total_bytes: u64,
    system_id: u64,
    timeline: u32,
) -> Result<(), ReceiveError> {
    let Some(sink) = shared.seed.clone() else {
        return Err(ProtocolError::NoSeeding.into());
    };
    if total_bytes > MAX_SEED_BYTES || wal_start_lsn > lsn {
        return Err(ProtocolError::SnapshotSize {
            total_bytes,
            lsn,
            wal_start_lsn,
        }
        .into());
    }
    tracing::info!(lsn, total_bytes, "seeding: receiving snapshot");
    let mut w = blocking(move || sink.begin(lsn, total_bytes, system_id, timeline))
        .await
        .map_err(Fatal::StoreSnapshot)?;
    let mut got = 0u64;
    let mut crc = crc32fast::Hasher::new();
    // A bar when a person watches; periodic log lines otherwise.
    let mut progress = crate::progress::Progress::new("seeding", total_bytes);
    loop {
        let (k, body) = tokio::time::timeout(super::intake::IDLE_TIMEOUT, frames.read())
            .await
            .map_err(|_| ReceiveError::Timeout)??;
        match Message::decode(k, &body).map_err(ProtocolError::Decode)? {
            Message::SnapshotData(d) => {
                got += d.len() as u64;
                if got > total_bytes {
                    return Err(ProtocolError::SnapshotLong.into());
                }
                crc.update(&d);
                w = blocking(move || w.write(&d).map(|_| w))
                    .await
                    .map_err(Fatal::StoreSnapshot)?;
                progress.set(got, Some(lsn));
            }
            Message::SnapshotEnd { crc32 } => {
                if got != total_bytes || crc.clone().finalize() != crc32 {
                    return Err(ProtocolError::SnapshotDamaged { got, total_bytes }.into());
                }
                break;
            }
            other => {
                return Err(ProtocolError::Unexpected {
                    got: other.name(),
                    during: "during seeding",
                }
                .into())
            }
        }
    }
    blocking(move || w.finish())
        .await
        .map_err(Fatal::InstallSnapshot)?;
    let mirror = shared.mirror.clone();
    blocking(move || {
        let mut m = mirror.lock().unwrap_or_else(|p| p.into_inner());
        m.restart_at(wal_start_lsn).map_err(std::io::Error::other)
    })
    .await
    .map_err(Fatal::RestartLog)?;
    shared.received.send_modify(|r| {
        r.received_lsn = wal_start_lsn;
        r.written_lsn = wal_start_lsn;
        r.system_id = system_id;
        r.timeline = timeline;
    });
    shared.durable.send_replace(wal_start_lsn);
    tracing::info!(
        lsn,
        wal_start_lsn,
        "seeding: snapshot installed; receiving the WAL after it"
    );
    Ok(())
}

/// Runs blocking disk work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, Blocking> {
    Ok(tokio::task::spawn_blocking(f).await??)
}
