//! The key-value state machine: databases, keyspaces, values, effects,
//! applying them, snapshots.
//!
//! | module     | owns                                                          |
//! |------------|---------------------------------------------------------------|
//! | `value`    | the collections a key can hold: hash, list, set, sorted set   |
//! | `item`     | one key, value and expiry (a string packed into one allocation) |
//! | `keyspace` | the copy-on-write sharded map (O(1)-ish clone for checkpoints) |
//! | `dbs`      | the sixteen numbered databases, one keyspace each             |
//! | `effect`   | the logged effects and their versioned record payload         |
//! | `describe` | effects described for a reader: name, keys, text, JSON (`dump`) |
//! | `mutate`   | applying one effect to the databases                          |
//! | `apply`    | [`StateMachine`]: applying records, idempotent by LSN         |
//! | `snapshot` | snapshot files: write, list, read and verify, prune           |
//! | `watch`    | clients' watched keys (`WATCH`), marked by every applied change |
//!
//! `store` knows nothing of the protocol (`resp`) or of the log (`wal`); its
//! files go through [`crate::fs`].

pub mod apply;
pub mod dbs;
pub mod describe;
pub mod effect;
pub mod item;
pub mod keyspace;
pub mod mutate;
pub mod snapshot;
pub mod value;
pub mod watch;

pub use apply::{Applied, ApplyError, Decoded, KvState, StateMachine};
pub use dbs::{Dbs, DATABASES};
pub use effect::{Blob, DecodeError, Effect, ListEnd};
pub use item::Item;
pub use keyspace::Keyspace;
pub use mutate::{apply_effect, touches, Cursor, Touch};
pub use value::{Coll, Kind};

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
