//! How much one standby's link sends at a time: the chunk size, adapted to
//! what the link carries before it is cut, and an optional bandwidth cap.
//!
//! A standby keeps every whole chunk it received, even from a connection that
//! was cut before it could acknowledge (it makes them durable as the
//! connection ends, and its next Welcome says how far it got). A chunk cut
//! short is lost and sent again. So on a link cut every few hundred kilobytes,
//! 1 MiB chunks never arrive and the standby never moves, however long the
//! primary tries. [`ChunkPace`] measures what each connection that ended
//! badly delivered — the standby's received LSN at the next Welcome, minus
//! the one at the start of that connection — and shrinks the chunks until a
//! connection carries several of them ([`CHUNKS_PER_LINK`]): at most a
//! quarter of what a cut link carried is then lost to the cut. Chunks grow
//! back, doubling, each time a link acknowledges [`GROW_AFTER_CHUNKS`] chunks'
//! worth without a cut, up to the configured size.
//!
//! PostgreSQL streams WAL in messages of at most 128 KiB and keeps every byte
//! received; here the unit stays a checked chunk of whole records, and its
//! size follows the link.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The smallest chunk: a few records. Below this, frame and handshake
/// overhead would outweigh what a cut wastes.
pub const MIN_CHUNK_BYTES: usize = 4 << 10;
/// A cut link should have carried this many chunks whole.
pub const CHUNKS_PER_LINK: u64 = 4;
/// Chunks acknowledged without a cut before the chunk size doubles.
pub const GROW_AFTER_CHUNKS: u64 = 8;

/// The chunk size of one standby's links, kept across reconnects.
#[derive(Debug)]
pub struct ChunkPace {
    /// The configured (largest) chunk size.
    max_bytes: usize,
    /// The size in force: `MIN_CHUNK_BYTES.min(max_bytes) ..= max_bytes`.
    bytes: AtomicUsize,
    state: Mutex<PaceState>,
    /// Links that came up (a standby's Welcome), ever.
    links_started: AtomicU64,
}

#[derive(Debug, Default)]
struct PaceState {
    /// The standby's received LSN when the current link started; `None`
    /// when no link is open or the last one ended cleanly.
    link_start_lsn: Option<u64>,
    /// The newest acknowledged LSN on the current link.
    acked_lsn: u64,
    /// Bytes acknowledged since the chunk size last changed.
    clean_bytes: u64,
}

impl ChunkPace {
    /// Starts at `max_bytes` (at least one byte).
    pub fn new(max_bytes: usize) -> ChunkPace {
        let max_bytes = max_bytes.max(1);
        ChunkPace {
            max_bytes,
            bytes: AtomicUsize::new(max_bytes),
            state: Mutex::new(PaceState::default()),
            links_started: AtomicU64::new(0),
        }
    }

    /// The chunk size to use now.
    pub fn chunk_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    fn floor(&self) -> usize {
        MIN_CHUNK_BYTES.min(self.max_bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PaceState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A link is up: the standby holds everything below `received_lsn`. When
    /// the link before it ended badly, what that link delivered sets the size.
    pub fn link_started(&self, received_lsn: u64) {
        self.links_started.fetch_add(1, Ordering::Relaxed);
        let mut st = self.lock();
        if let Some(start) = st.link_start_lsn {
            let delivered = received_lsn.saturating_sub(start);
            let now = self.chunk_bytes();
            if delivered < CHUNKS_PER_LINK * now as u64 {
                // Halve at least; straight to a quarter of what the link
                // carried when that is smaller. A link that delivered nothing
                // says only that the chunks were too large: halve.
                let fit = (delivered / CHUNKS_PER_LINK) as usize;
                let fit = if fit == 0 {
                    usize::MAX
                } else {
                    1 << fit.ilog2()
                };
                let next = (now / 2).min(fit).max(self.floor());
                if next < now {
                    tracing::info!(
                        from_bytes = now,
                        to_bytes = next,
                        delivered_bytes = delivered,
                        "the link was cut before it carried enough: smaller chunks"
                    );
                    self.bytes.store(next, Ordering::Relaxed);
                }
            }
            st.clean_bytes = 0;
        }
        st.link_start_lsn = Some(received_lsn);
        st.acked_lsn = received_lsn;
    }

    /// The standby acknowledged everything below `received_lsn`.
    pub fn acked(&self, received_lsn: u64) {
        let mut st = self.lock();
        let advanced = received_lsn.saturating_sub(st.acked_lsn);
        if advanced == 0 {
            return;
        }
        st.acked_lsn = received_lsn;
        st.clean_bytes += advanced;
        let now = self.chunk_bytes();
        if now < self.max_bytes && st.clean_bytes >= GROW_AFTER_CHUNKS * now as u64 {
            let next = (now * 2).min(self.max_bytes);
            self.bytes.store(next, Ordering::Relaxed);
            st.clean_bytes = 0;
        }
    }

    /// How many links came up so far (each standby's Welcome counts one).
    pub fn links_started(&self) -> u64 {
        self.links_started.load(Ordering::Relaxed)
    }

    /// The standby's received LSN when the current (or last, unfinished)
    /// link came up; `None` before any, or after one that finished.
    pub fn link_start_lsn(&self) -> Option<u64> {
        self.lock().link_start_lsn
    }

    /// The link ended as planned (a one-shot shipment finished): the next
    /// one starts with nothing to judge.
    pub fn link_finished(&self) {
        self.lock().link_start_lsn = None;
    }
}

/// A bandwidth cap on one link: each send waits until the bytes sent so far
/// fit the rate since the link started.
#[derive(Debug)]
pub struct RateCap {
    bytes_per_sec: u64,
    start: Instant,
    spent: u64,
}

impl RateCap {
    /// A cap of `bytes_per_sec` (at least 1) from now.
    pub fn new(bytes_per_sec: u64) -> RateCap {
        RateCap {
            bytes_per_sec: bytes_per_sec.max(1),
            start: Instant::now(),
            spent: 0,
        }
    }

    /// The largest chunk that keeps sends smooth: a tenth of a second's worth
    /// (a whole 1 MiB chunk on a 1 MiB/s cap would leave in one burst).
    pub fn chunk_bytes(&self, configured: usize) -> usize {
        let tenth = (self.bytes_per_sec / 10) as usize;
        configured.min(tenth.max(MIN_CHUNK_BYTES))
    }

    /// Waits until `n` more bytes may go.
    pub async fn take(&mut self, n: usize) {
        let due = Duration::from_secs_f64(self.spent as f64 / self.bytes_per_sec as f64);
        self.spent += n as u64;
        let elapsed = self.start.elapsed();
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_cut_before_a_whole_chunk_halves_the_chunks_down_to_the_floor() {
        let p = ChunkPace::new(1 << 20);
        p.link_started(0);
        // Cut with nothing delivered, again and again.
        let mut sizes = Vec::new();
        for _ in 0..12 {
            p.link_started(0);
            sizes.push(p.chunk_bytes());
        }
        assert_eq!(sizes[0], 512 << 10);
        assert_eq!(sizes[1], 256 << 10);
        assert_eq!(*sizes.last().unwrap(), MIN_CHUNK_BYTES);
    }

    #[test]
    fn a_cut_link_that_delivered_something_sizes_chunks_to_a_quarter_of_it() {
        let p = ChunkPace::new(1 << 20);
        p.link_started(1000);
        p.link_started(1000 + 100_000);
        // 100 kB delivered: a quarter is 25 kB, so 16 KiB chunks.
        assert_eq!(p.chunk_bytes(), 16 << 10);
        // A link that carries four chunks' worth keeps the size.
        p.link_started(1000 + 100_000 + 4 * (16 << 10));
        assert_eq!(p.chunk_bytes(), 16 << 10);
    }

    #[test]
    fn clean_acknowledgements_grow_chunks_back_and_a_clean_end_judges_nothing() {
        let p = ChunkPace::new(64 << 10);
        p.link_started(0);
        p.link_started(0);
        p.link_started(0);
        assert_eq!(p.chunk_bytes(), 16 << 10);
        let mut lsn = 0;
        while p.chunk_bytes() < 64 << 10 {
            lsn += 4096;
            p.acked(lsn);
            assert!(lsn < 10 << 20, "never grew back");
        }
        assert_eq!(p.chunk_bytes(), 64 << 10, "never past the configured size");
        p.link_finished();
        p.link_started(lsn);
        assert_eq!(p.chunk_bytes(), 64 << 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_cap_spaces_sends_by_their_size() {
        let mut cap = RateCap::new(100_000);
        let t = tokio::time::Instant::now();
        for _ in 0..10 {
            cap.take(10_000).await;
        }
        // The first send leaves at once; the tenth after 0.9 s.
        let e = t.elapsed();
        assert!(
            e >= Duration::from_millis(890) && e <= Duration::from_millis(910),
            "{e:?}"
        );
        assert_eq!(cap.chunk_bytes(1 << 20), 10_000usize.max(MIN_CHUNK_BYTES));
    }
}
