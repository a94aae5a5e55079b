//! The log delivered by something on this node instead of a link (a standby
//! that follows an archive): the same checks, group commit, replay hand-over,
//! identity and history handling as a connection's chunks, so replay, status
//! and promotion see no difference.

use super::commit::{GroupCommit, PendingChunk};
use super::history::{accept_history, HistoryRefusal};
use super::intake::{Fatal, ReceiverShared};
use crate::wal::format::SegmentHeader;
use crate::wal::ChunkError;
use bytes::Bytes;
use std::sync::Arc;

/// Whole records `[start_lsn, start_lsn + bytes.len())` of the segment
/// `header` describes, as a connection's chunk carries them.
#[derive(Debug, Clone)]
pub struct LocalChunk {
    pub header: SegmentHeader,
    pub start_lsn: u64,
    pub bytes: Bytes,
    /// The end of the source's log as far as it is known (at least the
    /// chunk's end): what status counts the lag against.
    pub source_end_lsn: u64,
}

/// Why chunks delivered locally were not written.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// Receipt is closed (a promotion is running or done): `0` says why.
    #[error("{0}")]
    Closed(String),
    /// A chunk failed its checks; nothing of it was written (the chunks
    /// before it were, and are durable).
    #[error(transparent)]
    Refused(ChunkError),
    /// What arrived cannot be stored: the standby must stop.
    #[error(transparent)]
    Fatal(#[from] Fatal),
}

/// Writes `chunks` in order, exactly as a connection would (the receiving
/// lock held throughout, so a promotion waits for it), and returns once they
/// are durable. Returns the durable received LSN.
///
/// # Errors
/// [`DeliverError`].
pub async fn deliver(
    shared: &Arc<ReceiverShared>,
    chunks: Vec<LocalChunk>,
) -> Result<u64, DeliverError> {
    if let Some(why) = shared.refusal() {
        return Err(DeliverError::Closed(why));
    }
    let _busy = shared.busy.lock().await;
    if let Some(why) = shared.refusal() {
        return Err(DeliverError::Closed(why));
    }
    if let (Some(hook), Some(first)) = (shared.identity.get().cloned(), chunks.first()) {
        let header = first.header;
        match tokio::task::spawn_blocking(move || hook(&header)).await {
            Ok(r) => r.map_err(Fatal::Identity)?,
            Err(source) => {
                return Err(Fatal::Task {
                    what: "the identity",
                    source,
                }
                .into())
            }
        }
    }
    let mut commit = GroupCommit::new(shared.clone());
    for c in chunks {
        assert!(
            c.source_end_lsn >= c.start_lsn,
            "source end below the chunk"
        );
        commit.push(PendingChunk {
            header: c.header,
            start_lsn: c.start_lsn,
            bytes: c.bytes,
            primary_durable_lsn: c.source_end_lsn,
        });
    }
    let out = commit.settle().await;
    commit.abandon().await;
    if let Some(refused) = out?.and_then(|o| o.refused) {
        return Err(DeliverError::Refused(refused));
    }
    Ok(shared.received.borrow().received_lsn)
}

/// Takes note that the source's log is known to reach `end_lsn` (a heartbeat
/// with no records): status counts the lag against it.
pub fn note_source_end(shared: &ReceiverShared, end_lsn: u64, unix_ms: u64) {
    // Nothing for replay to apply: its watcher is not woken (readers
    // borrow the values when they need them).
    shared.received.send_if_modified(|r| {
        r.primary_durable_lsn = r.primary_durable_lsn.max(end_lsn);
        r.last_receive_unix_ms = r.last_receive_unix_ms.max(unix_ms);
        false
    });
}

/// Checks the history of `timeline` against what this node holds, installs
/// it durably and fences the timelines it closes, as a connection does with a
/// primary's history.
///
/// # Errors
/// [`HistoryRefusal`] saying why it does not fit.
pub async fn adopt_history(
    shared: &ReceiverShared,
    timeline: u32,
    text: &str,
) -> Result<(), HistoryRefusal> {
    accept_history(shared, timeline, timeline, text).await
}
