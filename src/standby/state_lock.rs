//! The lock of the standby's keyspace, shared by replay (the writer, applying
//! records a slice at a time) and the clients' reads.
//!
//! A read waiting for a plain mutex sleeps, and is woken when the lock is free:
//! on a busy machine that wake-up costs far more than the slice it waited for
//! (a slice takes microseconds, a wake-up tens to hundreds of them). So a
//! reader that finds the lock taken first spins for up to [`READER_SPIN`], and
//! says so; between two slices, replay lets the spinning readers in and waits
//! (spinning too, at most [`WRITER_PAUSE`]) until they have taken the lock.
//! A reader that spun in vain — the writer was preempted holding the lock —
//! sleeps, and replay hands it the lock between two slices (a fair hand-over).
//! Unless the holder is preempted, neither side sleeps while the other runs
//! a slice or a read.

use parking_lot::{Mutex, MutexGuard};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a reader spins for the lock before it sleeps.
pub const READER_SPIN: Duration = Duration::from_micros(50);
/// How long the writer waits between two slices for spinning readers to take
/// the lock.
pub const WRITER_PAUSE: Duration = Duration::from_micros(20);

/// A mutex that lets readers in between a writer's slices without sleeping.
#[derive(Debug, Default)]
pub struct StateLock<T> {
    inner: Mutex<T>,
    /// Readers spinning for the lock now.
    spinning: AtomicUsize,
}

impl<T> StateLock<T> {
    pub fn new(value: T) -> StateLock<T> {
        StateLock {
            inner: Mutex::new(value),
            spinning: AtomicUsize::new(0),
        }
    }

    /// Locks for a read (or any short hold): spins for up to
    /// [`READER_SPIN`], then sleeps until the lock is free.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        if let Some(g) = self.inner.try_lock() {
            return g;
        }
        self.spinning.fetch_add(1, Ordering::SeqCst);
        let since = Instant::now();
        loop {
            if let Some(g) = self.inner.try_lock() {
                self.spinning.fetch_sub(1, Ordering::SeqCst);
                return g;
            }
            if since.elapsed() >= READER_SPIN {
                // A sleeping reader no longer counts as spinning: the writer
                // hands it the lock instead of waiting for it.
                self.spinning.fetch_sub(1, Ordering::SeqCst);
                return self.inner.lock();
            }
            std::hint::spin_loop();
        }
    }

    /// Between two slices of a writer's work: hands the lock to a sleeping
    /// reader if there is one, lets spinning readers take it (waiting at most
    /// [`WRITER_PAUSE`] for them), and returns with it held again.
    pub fn between_slices(&self, g: &mut MutexGuard<'_, T>) {
        if self.spinning.load(Ordering::SeqCst) == 0 {
            MutexGuard::bump(g);
            return;
        }
        MutexGuard::unlocked_fair(g, || {
            let since = Instant::now();
            while self.spinning.load(Ordering::SeqCst) > 0 && since.elapsed() < WRITER_PAUSE {
                std::hint::spin_loop();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// A writer holds the lock through slices of `slice` each, until a reader
    /// has started waiting and 100 ms more (time for a busy machine to run
    /// the reader at all); returns the slice the reader saw and the writer's
    /// last.
    fn reader_during_slices(slice: Duration) -> (u32, u32) {
        let lock = Arc::new(StateLock::new(0u32));
        let started = Arc::new(AtomicBool::new(false));
        let mut g = lock.lock();
        let (l, s) = (lock.clone(), started.clone());
        let reader = std::thread::spawn(move || {
            s.store(true, Ordering::SeqCst);
            *l.lock()
        });
        let mut until = None;
        loop {
            let t = Instant::now();
            while t.elapsed() < slice {
                std::hint::spin_loop();
            }
            *g += 1;
            if until.is_none() && started.load(Ordering::SeqCst) {
                until = Some(Instant::now() + Duration::from_millis(100));
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                break;
            }
            lock.between_slices(&mut g);
        }
        let last = *g;
        drop(g);
        (reader.join().unwrap(), last)
    }

    #[test]
    fn a_reader_spinning_for_the_lock_gets_in_between_two_short_slices() {
        let (seen, last) = reader_during_slices(Duration::from_micros(10));
        assert!(
            seen < last,
            "the reader waited for the writer's whole run ({last} slices)"
        );
    }

    #[test]
    fn a_reader_asleep_on_the_lock_is_handed_it_between_two_long_slices() {
        let (seen, last) = reader_during_slices(Duration::from_millis(1));
        assert!(
            seen < last,
            "the reader waited for the writer's whole run ({last} slices)"
        );
    }

    #[test]
    fn between_slices_without_readers_keeps_the_lock() {
        let lock = StateLock::new(1u32);
        let mut g = lock.lock();
        lock.between_slices(&mut g);
        *g += 1;
        drop(g);
        assert_eq!(*lock.lock(), 2);
        assert_eq!(lock.spinning.load(Ordering::SeqCst), 0);
    }
}
