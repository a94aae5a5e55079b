//! The key-value state machine: keyspace, effects, applying them, snapshots.
//!
//! | module     | owns                                                          |
//! |------------|---------------------------------------------------------------|
//! | `item`     | one key, value and expiry packed into one shared allocation   |
//! | `keyspace` | the copy-on-write sharded map (O(1)-ish clone for checkpoints) |
//! | `effect`   | the logged effects and their versioned record payload         |
//! | `apply`    | [`StateMachine`]: applying records, idempotent by LSN         |
//! | `snapshot` | snapshot files: write, list, read and verify                  |
//!
//! `store` knows nothing of the protocol (`resp`) or of the log (`wal`).

pub mod apply;
pub mod effect;
pub mod item;
pub mod keyspace;
pub mod snapshot;

pub use apply::{apply_effect, Applied, ApplyError, KvState, StateMachine};
pub use effect::{Blob, DecodeError, Effect};
pub use item::Item;
pub use keyspace::Keyspace;
