//! What the appenders and the writer thread share: the queue of encoded
//! records, the published position, the log's state, and the waits on them.

use super::options::{WalOptions, MAX_WRITE_BYTES};
use super::spare::SpareState;
use super::tap::Taps;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use tokio::sync::watch;

/// Where the log stands. Invariant: `durable_lsn <= written_lsn <= next LSN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Everything below this LSN has been handed to the OS (`write`).
    pub written_lsn: u64,
    /// Everything below this LSN has been `fdatasync`ed.
    pub durable_lsn: u64,
    /// Set once the writer stopped on a fatal error.
    pub failed: bool,
    /// Set once the log is closed: nothing below `written_lsn` is pending and
    /// nothing more will be written.
    pub closed: bool,
}

pub(super) struct Chunk {
    /// Records in the chunk.
    pub(super) records: usize,
    /// First LSN of the segment this chunk belongs to.
    pub(super) segment_first_lsn: u64,
    /// LSN of the chunk's first byte.
    pub(super) start_lsn: u64,
    pub(super) bytes: Vec<u8>,
    /// The chunk ends with the segment's seal record.
    pub(super) seals: bool,
}

pub(super) struct Queue {
    pub(super) chunks: Vec<Chunk>,
    pub(super) pending_bytes: usize,
    pub(super) next_lsn: u64,
    pub(super) segment_first_lsn: u64,
    pub(super) segment_capacity_end: u64,
    pub(super) closed: bool,
    pub(super) failed: Option<String>,
    /// Records queued (not yet taken by the writer).
    pub(super) pending_records: usize,
    /// Appenders wake the writer once `pending_records` reaches this
    /// (`usize::MAX` while the writer is busy).
    pub(super) wake_at_records: usize,
    pub(super) spare: Vec<Vec<u8>>,
}

pub(super) struct Inner {
    pub(super) opts: WalOptions,
    pub(super) max_record: usize,
    pub(super) queue: Mutex<Queue>,
    /// The writer waits here for work.
    pub(super) work_cv: Condvar,
    /// Appenders wait here for queue space.
    pub(super) space_cv: Condvar,
    pub(super) progress: Mutex<()>,
    pub(super) progress_cv: Condvar,
    pub(super) written: AtomicU64,
    pub(super) durable: AtomicU64,
    pub(super) failed: AtomicBool,
    /// Woken once, when `failed` is set.
    pub(super) failed_notify: tokio::sync::Notify,
    /// Set when the writer thread has finished after a close.
    pub(super) finished: AtomicBool,
    pub(super) watch: watch::Sender<Position>,
    pub(super) fsyncs: AtomicU64,
    pub(super) batches: AtomicU64,
    /// Whether the next segment can be prepared (a full disk refuses writes
    /// that need it, without stopping the log).
    pub(super) spare: Arc<SpareState>,
    /// Told of durable records on this thread ([`super::tap`]).
    pub(super) taps: Arc<Taps>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The chunk appenders write into, starting a new one when needed.
pub(super) fn open_chunk(q: &mut Queue, footprint: usize) -> &mut Chunk {
    let seg = q.segment_first_lsn;
    let reuse = matches!(q.chunks.last(), Some(c) if c.segment_first_lsn == seg
        && !c.seals
        && (c.bytes.is_empty() || c.bytes.len() + footprint <= MAX_WRITE_BYTES));
    if !reuse {
        let mut bytes = q.spare.pop().unwrap_or_default();
        bytes.clear();
        let start_lsn = q.next_lsn;
        q.chunks.push(Chunk {
            segment_first_lsn: seg,
            start_lsn,
            bytes,
            seals: false,
            records: 0,
        });
    }
    q.chunks.last_mut().expect("a chunk was just ensured")
}
