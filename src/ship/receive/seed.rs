//! The standby's side of seeding: a snapshot received after `SnapshotBegin`,
//! handed to the node's [`SeedSink`](crate::ship::protocol::seed::SeedSink) off the async workers, then the received
//! log restarted where the snapshot's WAL begins.

use super::intake::{ReceiveError, ReceiverShared};
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
        let (k, body) = tokio::time::timeout(super::intake::IDLE_TIMEOUT, frames.read())
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
