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
//! Neither side ever sleeps while the other runs a slice or a read.

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
        let g = loop {
            if let Some(g) = self.inner.try_lock() {
                break g;
            }
            if since.elapsed() >= READER_SPIN {
                break self.inner.lock();
            }
            std::hint::spin_loop();
        };
        self.spinning.fetch_sub(1, Ordering::SeqCst);
        g
    }

    /// Between two slices of a writer's work: lets spinning readers take the
    /// lock (waiting at most [`WRITER_PAUSE`] for them), hands it to a
    /// sleeping one if there is one, and returns with it held again.
    pub fn between_slices(&self, g: &mut MutexGuard<'_, T>) {
        if self.spinning.load(Ordering::SeqCst) == 0 {
            MutexGuard::bump(g);
            return;
        }
        MutexGuard::unlocked(g, || {
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
    use std::sync::Arc;

    #[test]
    fn a_spinning_reader_gets_in_between_two_slices() {
        // The writer holds the lock through slices of 2 ms each; a reader
        // that arrives during one gets it at that slice's end, never after
        // the writer's whole run (50 slices). A reader
        // scheduled late on a loaded machine may sleep instead, and is then
        // handed the lock between two slices: either way it gets in early.
        let lock = Arc::new(StateLock::new(0u32));
        let mut g = lock.lock();
        let l = lock.clone();
        let reader = std::thread::spawn(move || *l.lock());
        for slice in 1..=50 {
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(2) {
                std::hint::spin_loop();
            }
            *g = slice;
            lock.between_slices(&mut g);
        }
        drop(g);
        let seen = reader.join().unwrap();
        assert!(seen < 50, "the reader waited for the writer's whole run");
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
