//! How much memory the process uses, from the allocator's own statistics
//! (jemalloc's `stats.allocated`: bytes the program holds, as Redis's
//! `used_memory`), and the gauge that `--maxmemory` compares against.
//!
//! Reading the statistics means refreshing jemalloc's snapshot of them
//! (`epoch`), a few microseconds: the gauge is refreshed in the background
//! every [`REFRESH_EVERY`], never per command.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How often the gauge is refreshed.
pub const REFRESH_EVERY: Duration = Duration::from_millis(100);

/// Bytes allocated through jemalloc now, or `None` when the statistics
/// cannot be read (jemalloc is not the allocator: 0 is read then).
pub fn allocated_bytes() -> Option<u64> {
    tikv_jemalloc_ctl::epoch::advance().ok()?;
    tikv_jemalloc_ctl::stats::allocated::read()
        .ok()
        .map(|n| n as u64)
}

/// The last reading of [`allocated_bytes`], shared by the connections.
#[derive(Debug, Default)]
pub struct UsedMemory {
    bytes: AtomicU64,
}

impl UsedMemory {
    /// A gauge read once now.
    pub fn new() -> UsedMemory {
        let g = UsedMemory::default();
        g.refresh();
        g
    }

    /// Reads the statistics again.
    pub fn refresh(&self) {
        if let Some(n) = allocated_bytes() {
            self.bytes.store(n, Ordering::Relaxed);
        }
    }

    /// Bytes in use at the last refresh.
    #[inline]
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// Bytes as Redis's `*_human` INFO fields print them (`1.50M`).
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    const UNITS: [(u32, &str); 5] = [(50, "P"), (40, "T"), (30, "G"), (20, "M"), (10, "K")];
    for (shift, unit) in UNITS {
        let size = (1u64 << shift) as f64;
        if b >= size {
            return format!("{:.2}{unit}", b / size);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_read_as_redis_prints_them() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1023), "1023B");
        assert_eq!(human(1536), "1.50K");
        assert_eq!(human(100 << 20), "100.00M");
        assert_eq!(human(3 << 30), "3.00G");
    }
}
