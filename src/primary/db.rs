//! The primary's keyspace behind its lock, and the one way to change it: log the
//! effects as one WAL record, then apply them, both under the lock, so the log's
//! order is the order the keyspace saw.

use super::blocking::{self, Waiters};
use crate::node::control::Fence;
use crate::store::{effect, Cursor, Dbs, Effect, KvState, StateMachine};
use crate::wal::{Wal, WalError};

/// Why a write was refused. Nothing was logged or applied.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("ERR write too large: its WAL record would be {len} bytes, above the limit of {limit} bytes")]
    TooLarge { len: u64, limit: usize },
    #[error("ERR the write-ahead log is unavailable: {0}")]
    Wal(#[from] WalError),
    /// A promotion elsewhere fenced this primary.
    #[error("FENCED {}; send writes to the new primary", .0.describe())]
    Fenced(Box<Fence>),
}

/// What the lock protects.
pub struct State {
    pub kv: KvState,
    /// End LSN of the last record appended (acknowledged or not). A reply may be
    /// sent once the WAL has acknowledged up to this LSN as it was when the
    /// command ran ("durable before visible").
    pub last_appended_end: u64,
    /// Set when this primary is fenced: every write is refused (saying so),
    /// so nothing is logged past the fence LSN.
    pub fenced: Option<Fence>,
    /// Clients blocked on keys (BLPOP, …), served after each committed
    /// record that touches their keys.
    pub waiters: Waiters,
    scratch: Vec<u8>,
}

impl State {
    /// A state recovered up to `kv.applied_lsn()`.
    pub fn new(kv: KvState) -> State {
        State {
            last_appended_end: kv.applied_lsn(),
            kv,
            fenced: None,
            waiters: Waiters::default(),
            scratch: Vec::new(),
        }
    }

    /// Logs `effects` as one record and applies them, then serves the
    /// clients blocked on keys it touched (each served pop its own record
    /// after it). Returns the record's end LSN.
    ///
    /// # Errors
    /// [`CommitError::TooLarge`] (checked before anything is written) or a WAL
    /// error; in both cases the keyspace is unchanged.
    pub fn commit(&mut self, wal: &Wal, effects: &[Effect<'_>]) -> Result<u64, CommitError> {
        let end = self.log(wal, effects)?;
        self.kv.apply_effects(effects, end);
        self.wake(wal, effects);
        Ok(end)
    }

    /// Logs effects that were already applied one by one (a transaction), and
    /// moves the applied LSN past the record.
    ///
    /// # Errors
    /// As [`commit`](Self::commit); the caller undoes the applied effects.
    pub fn commit_applied(
        &mut self,
        wal: &Wal,
        effects: &[Effect<'_>],
    ) -> Result<u64, CommitError> {
        let end = self.log(wal, effects)?;
        self.kv.advance_to(end);
        self.wake(wal, effects);
        Ok(end)
    }

    /// Serves the blocked clients a committed record's `effects` can serve.
    #[inline]
    fn wake(&mut self, wal: &Wal, effects: &[Effect<'_>]) {
        if !self.waiters.is_empty() {
            blocking::wake(&mut Serving { st: self, wal }, effects);
        }
    }

    fn log(&mut self, wal: &Wal, effects: &[Effect<'_>]) -> Result<u64, CommitError> {
        if let Some(f) = &self.fenced {
            return Err(CommitError::Fenced(Box::new(f.clone())));
        }
        let limit = wal.options().effective_max_record_bytes();
        let len = effect::encoded_len(effects);
        if len > limit as u64 {
            return Err(CommitError::TooLarge { len, limit });
        }
        self.scratch.clear();
        effect::encode(effects, &mut self.scratch);
        let appended = wal.append(&self.scratch)?;
        if self.scratch.capacity() > 1 << 20 {
            self.scratch = Vec::new();
        }
        self.last_appended_end = appended.end_lsn;
        Ok(appended.end_lsn)
    }

    /// Applies effects to the keyspace without logging them (a transaction under
    /// construction; [`commit_applied`](Self::commit_applied) logs them),
    /// starting at `cur`'s database and moving it.
    pub fn apply_unlogged(&mut self, effects: &[Effect<'_>], cur: &mut Cursor) {
        self.kv.apply_unlogged(effects, cur);
    }
}

/// The keyspace as blocked clients are served from it: each served pop is
/// logged and applied as its own record.
struct Serving<'s> {
    st: &'s mut State,
    wal: &'s Wal,
}

impl blocking::Host for Serving<'_> {
    fn dbs(&self) -> &Dbs {
        &self.st.kv.dbs
    }

    fn waiters(&mut self) -> &mut Waiters {
        &mut self.st.waiters
    }

    type Refused = CommitError;

    fn commit_served(&mut self, effects: &[Effect<'_>]) -> Result<u64, CommitError> {
        let end = self.st.log(self.wal, effects)?;
        self.st.kv.apply_effects(effects, end);
        Ok(end)
    }

    fn last_appended_end(&self) -> u64 {
        self.st.last_appended_end
    }
}
