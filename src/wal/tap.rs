//! Taps on the log: code told, on the WAL writer's own thread, of every advance
//! of the durable LSN, with the records that advance covered while the writer
//! still holds them in memory.
//!
//! A continuous shipper otherwise learns of new durable records by being
//! woken, and on a busy machine that wake-up costs more than reading,
//! compressing and sending a few kilobytes of records. A tap sends them from
//! the writer's thread, which is running anyway, right after the fsync.
//!
//! A tap must never block: the writer's next group commit waits for it. It is
//! called only after the fsync succeeded, so it never sees a record that is
//! not durable.

use super::format::SegmentHeader;
use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Records that just became durable: whole records of one segment.
#[derive(Debug, Clone, Copy)]
pub struct DurableRun<'a> {
    /// The header of the segment they are in.
    pub header: &'a SegmentHeader,
    /// LSN of the first record.
    pub start_lsn: u64,
    /// The records, exactly as written.
    pub bytes: &'a [u8],
}

/// Work on one run shared by every tap told of it in one advance: the first
/// tap that needs a result (a checked, compressed chunk frame, say) computes
/// it and the others take it, so sixteen links read and compress a run once.
#[derive(Default)]
pub struct RunMemo {
    cells: Mutex<Vec<(u64, Arc<dyn Any + Send + Sync>)>>,
}

impl RunMemo {
    /// The result stored under `key` (of type `T`), computed by `f` the
    /// first time.
    pub fn get_or_compute<T: Any + Send + Sync>(&self, key: u64, f: impl FnOnce() -> T) -> Arc<T> {
        let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        for (k, v) in cells.iter() {
            if *k == key {
                if let Ok(t) = v.clone().downcast::<T>() {
                    return t;
                }
            }
        }
        let v = Arc::new(f());
        cells.push((key, v.clone()));
        v
    }
}

/// Told of every advance of the durable LSN, on the WAL writer's thread.
pub trait DurableTap: Send + Sync {
    /// The log is durable up to `durable_lsn`. `runs` are the records the
    /// advance covered, in LSN order and contiguous, ending at `durable_lsn`;
    /// empty when the writer no longer holds them (an fsync that covered
    /// records of earlier batches). `memos[i]` is shared by every tap told of
    /// `runs[i]`. Must not block.
    fn durable(&self, durable_lsn: u64, runs: &[DurableRun<'_>], memos: &[RunMemo]);

    /// The log stopped (failed or closed): nothing more becomes durable.
    fn stopped(&self);
}

/// The taps of one log.
#[derive(Default)]
pub struct Taps {
    list: Mutex<Vec<(u64, Arc<dyn DurableTap>)>>,
    /// Whether `list` may be non-empty: the writer skips collecting runs
    /// when nobody listens.
    any: AtomicBool,
    next_id: AtomicU64,
}

/// Keeps a tap registered; dropping it removes the tap (waiting, if the writer
/// is calling it, until the call returns).
pub struct TapGuard {
    taps: Arc<Taps>,
    id: u64,
}

impl Drop for TapGuard {
    fn drop(&mut self) {
        let mut list = self.taps.lock();
        list.retain(|(id, _)| *id != self.id);
        self.taps.any.store(!list.is_empty(), Ordering::Release);
    }
}

impl Taps {
    fn lock(&self) -> MutexGuard<'_, Vec<(u64, Arc<dyn DurableTap>)>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers `tap` until the returned guard is dropped.
    pub fn add(self: &Arc<Self>, tap: Arc<dyn DurableTap>) -> TapGuard {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut list = self.lock();
        list.push((id, tap));
        self.any.store(true, Ordering::Release);
        TapGuard {
            taps: self.clone(),
            id,
        }
    }

    /// Whether any tap is registered.
    pub fn any(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// Tells every tap of a durable advance.
    pub(crate) fn durable(&self, durable_lsn: u64, runs: &[DurableRun<'_>]) {
        if self.any() {
            let memos: Vec<RunMemo> = runs.iter().map(|_| RunMemo::default()).collect();
            for (_, t) in self.lock().iter() {
                t.durable(durable_lsn, runs, &memos);
            }
        }
    }

    /// Tells every tap that the log stopped.
    pub(crate) fn stopped(&self) {
        for (_, t) in self.lock().iter() {
            t.stopped();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Seen(Mutex<Vec<(u64, usize)>>, AtomicBool);

    impl DurableTap for Seen {
        fn durable(&self, durable_lsn: u64, runs: &[DurableRun<'_>], memos: &[RunMemo]) {
            assert_eq!(runs.len(), memos.len());
            self.0.lock().unwrap().push((durable_lsn, runs.len()));
        }
        fn stopped(&self) {
            self.1.store(true, Ordering::Release);
        }
    }

    #[test]
    fn a_memo_computes_once_per_key_and_type() {
        let memo = RunMemo::default();
        let calls = AtomicU64::new(0);
        let count = || {
            calls.fetch_add(1, Ordering::Relaxed);
            7u32
        };
        assert_eq!(*memo.get_or_compute(1, count), 7);
        assert_eq!(
            *memo.get_or_compute(1, || 8u32),
            7,
            "the first result is kept"
        );
        assert_eq!(*memo.get_or_compute(2, || 9u32), 9, "another key");
        assert_eq!(*memo.get_or_compute(1, || "text"), "text", "another type");
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_tap_hears_advances_until_its_guard_drops() {
        let taps = Arc::new(Taps::default());
        assert!(!taps.any());
        let seen = Arc::new(Seen::default());
        let guard = taps.add(seen.clone());
        assert!(taps.any());
        let header = SegmentHeader {
            system_id: 1,
            timeline: 1,
            first_lsn: 0,
            segment_bytes: 1 << 20,
            created_unix_ms: 0,
        };
        let run = DurableRun {
            header: &header,
            start_lsn: 0,
            bytes: b"x",
        };
        taps.durable(1, &[run]);
        taps.stopped();
        drop(guard);
        assert!(!taps.any());
        taps.durable(2, &[]);
        assert_eq!(*seen.0.lock().unwrap(), vec![(1, 1)]);
        assert!(seen.1.load(Ordering::Acquire));
    }
}
