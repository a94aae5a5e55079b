//! The key-value state machine: keyspace, effects, applying them, snapshots.
//!
//! | module     | owns                                                          |
//! |------------|---------------------------------------------------------------|
//! | `item`     | one key, value and expiry packed into one shared allocation   |
//! | `keyspace` | the copy-on-write sharded map (O(1)-ish clone for checkpoints) |
//! | `effect`   | the logged effects and their versioned record payload         |
//! | `apply`    | [`StateMachine`]: applying records, idempotent by LSN         |
//! | `snapshot` | snapshot files: write, list, read and verify, prune           |
//!
//! `store` knows nothing of the protocol (`resp`) or of the log (`wal`); its
//! files go through [`crate::fs`].

pub mod apply;
pub mod effect;
pub mod item;
pub mod keyspace;
pub mod snapshot;

pub use apply::{apply_effect, Applied, ApplyError, Decoded, KvState, StateMachine};
pub use effect::{Blob, DecodeError, Effect};
pub use item::Item;
pub use keyspace::Keyspace;

/// Starts loading the cache line at `p` into the CPU cache without waiting for
/// it (a hint: it never faults, and does nothing on other architectures).
#[inline]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees and cannot fault,
    // whatever the address; SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
