//! Chunks read and compressed ahead of the link.
//!
//! Shipping a backlog is a chain of steps for each chunk: read and check its
//! records, compress, send. Done one after another on the shipping task, the
//! compression of one chunk (the costliest step) waits for the send of the one
//! before, and only one core works on the sending side. [`ReadAhead`] reads the
//! next chunks in order (each starts where the one before ends) and compresses
//! each on a blocking thread of its own, up to [`DEPTH`] chunks ahead of the
//! one being sent, so compression runs on every core while the link carries
//! what is ready.
//!
//! Finding where each chunk ends has to happen in order, so it follows the
//! record headers alone ([`RawReader::cut`]); the checksums, which cost as much
//! as the rest of the reading, are checked by each chunk's job
//! ([`RawChunk::verify`]) before it compresses, on every core as well. A chunk
//! that fails them is never sent.
//!
//! A few freshly durable records (continuous shipping) are read and compressed
//! on the shipping task itself: that takes microseconds, where a hand-over to a
//! blocking thread and back may take longer on a busy machine.

use crate::ship::protocol::codes::ChunkEncoding;
use crate::ship::protocol::compress::{compress, Compression};
use crate::wal::raw::{RawChunk, RawReader};
use crate::wal::WalError;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Chunks of at most this many bytes are read and compressed on the shipping
/// task itself when nothing is queued ahead.
pub const INLINE_CHUNK_BYTES: u64 = 64 << 10;
/// Chunks read and compressed ahead of the one being sent, at most.
pub const DEPTH: usize = 3;

/// A chunk ready for the link.
pub struct Prepared {
    pub chunk: RawChunk,
    /// How `data` is encoded.
    pub encoding: ChunkEncoding,
    /// What goes on the wire.
    pub data: Vec<u8>,
}

type Job = JoinHandle<Result<Option<Prepared>, WalError>>;

/// Reads and compresses chunks of one log in LSN order, ahead of their use.
pub struct ReadAhead {
    raw: Arc<Mutex<RawReader>>,
    chunk_bytes: usize,
    compression: Compression,
    /// Jobs for consecutive chunks, the first starting at `queued_from`.
    queue: VecDeque<Job>,
    queued_from: u64,
    /// Where the chunk after the queued ones starts; `None` once a queued read
    /// found nothing more or failed (nothing is queued after it).
    queued_until: Option<u64>,
}

impl ReadAhead {
    pub fn new(raw: Arc<Mutex<RawReader>>, chunk_bytes: usize, compression: Compression) -> Self {
        ReadAhead {
            raw,
            chunk_bytes,
            compression,
            queue: VecDeque::new(),
            queued_from: 0,
            queued_until: None,
        }
    }

    /// Chunks read from now on hold at most `chunk_bytes` (those queued
    /// already keep their size).
    pub fn set_chunk_bytes(&mut self, chunk_bytes: usize) {
        self.chunk_bytes = chunk_bytes;
    }

    /// Chunks being read or compressed ahead.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The chunk that starts at `from` (records below `until` only), or `None`
    /// when the log holds no record there yet. Queues reads of the chunks after
    /// it, up to `until`.
    ///
    /// # Errors
    /// What reading the log reported ([`RawReader::chunk`]).
    pub async fn next(&mut self, from: u64, until: u64) -> Result<Option<Prepared>, WalError> {
        if !self.queue.is_empty() && self.queued_from != from {
            // The link restarted elsewhere: what was read ahead is of no use.
            self.queue.clear();
        }
        if self.queue.is_empty() {
            if until.saturating_sub(from) <= INLINE_CHUNK_BYTES {
                return prepare(&self.raw, from, until, self.chunk_bytes, self.compression);
            }
            self.queued_from = from;
            self.queued_until = Some(from);
        }
        self.fill(until).await;
        let job = self
            .queue
            .pop_front()
            .expect("fill queues at least one job");
        let out = job
            .await
            .unwrap_or_else(|e| Err(WalError::Stopped(format!("reading a chunk failed: {e}"))));
        match &out {
            Ok(Some(p)) => self.queued_from = p.chunk.end_lsn,
            _ => self.queue.clear(),
        }
        out
    }

    /// Queues jobs until [`DEPTH`] are queued or `until` is reached. Each job
    /// reports where its chunk ends as soon as it is read, so the next one can
    /// start while it compresses.
    async fn fill(&mut self, until: u64) {
        while self.queue.len() < DEPTH {
            let Some(from) = self.queued_until else { break };
            if from >= until && !self.queue.is_empty() {
                break;
            }
            let (raw, chunk_bytes, compression) =
                (self.raw.clone(), self.chunk_bytes, self.compression);
            let (end_tx, end_rx) = oneshot::channel();
            self.queue.push_back(tokio::task::spawn_blocking(move || {
                let chunk =
                    raw.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .cut(from, until, chunk_bytes);
                let _ = end_tx.send(
                    chunk
                        .as_ref()
                        .ok()
                        .and_then(|c| c.as_ref())
                        .map(|c| c.end_lsn),
                );
                chunk?.map(|c| finish(c, compression)).transpose()
            }));
            // Nothing more, or an error the job will report: queue no further.
            self.queued_until = end_rx.await.ok().flatten();
        }
    }
}

/// Reads and compresses the chunk at `from` right here.
fn prepare(
    raw: &Mutex<RawReader>,
    from: u64,
    until: u64,
    chunk_bytes: usize,
    compression: Compression,
) -> Result<Option<Prepared>, WalError> {
    let chunk = raw
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .cut(from, until, chunk_bytes)?;
    chunk.map(|c| finish(c, compression)).transpose()
}

/// Checks a chunk cut by [`RawReader::cut`] and compresses it.
fn finish(chunk: RawChunk, compression: Compression) -> Result<Prepared, WalError> {
    chunk.verify()?;
    let (encoding, data) = compress(&chunk.bytes, compression);
    Ok(Prepared {
        chunk,
        encoding,
        data,
    })
}
