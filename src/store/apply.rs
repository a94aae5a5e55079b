//! The state machine: applying logged effects to the keyspace.
//!
//! The same code serves the primary (for each write it makes, and for crash
//! recovery) and a standby replaying received log. Applying is deterministic and
//! idempotent by LSN: a record that starts below the applied LSN was already
//! applied and is skipped.

use super::dbs::Dbs;
use super::effect::{self, DecodeError, Effect};
use super::mutate::{apply_effect, Cursor};
use super::watch::Watches;

/// Records whose keys are prefetched ahead of the ones being applied.
pub const PREFETCH_WINDOW: usize = 32;

/// Why a record could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The record's payload is not a valid effects payload.
    #[error("record at LSN {lsn:#x}: {source}")]
    Decode {
        lsn: u64,
        #[source]
        source: DecodeError,
    },
}

/// What [`StateMachine::apply`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The record's effects are now in the state.
    Applied,
    /// The record was already applied (it starts below the applied LSN).
    Skipped,
}

/// Something that consumes data records in LSN order.
pub trait StateMachine {
    /// Applies the data record at `lsn` (ending at `end_lsn`) with `payload`.
    /// Records starting below [`applied_lsn`](Self::applied_lsn) are skipped.
    ///
    /// # Errors
    /// [`ApplyError`] when the payload cannot be decoded; nothing is applied then.
    fn apply(&mut self, lsn: u64, end_lsn: u64, payload: &[u8]) -> Result<Applied, ApplyError>;

    /// The end LSN of the last applied record: every record below it is in the
    /// state, none at or above it.
    fn applied_lsn(&self) -> u64;
}

/// A record decoded ahead of being applied (decoding needs no lock of the
/// state; applying a run of them lets their cache misses overlap).
#[derive(Debug, Clone)]
pub struct Decoded<'a> {
    /// Where the record starts.
    pub lsn: u64,
    /// Where the next record starts.
    pub end_lsn: u64,
    /// Its effects (none for records of other kinds than data).
    pub effects: Vec<Effect<'a>>,
}

impl<'a> Decoded<'a> {
    /// Decodes a data record's payload.
    ///
    /// # Errors
    /// [`ApplyError`] when the payload cannot be decoded.
    pub fn data(lsn: u64, end_lsn: u64, payload: &'a [u8]) -> Result<Decoded<'a>, ApplyError> {
        let effects =
            effect::decode(payload).map_err(|source| ApplyError::Decode { lsn, source })?;
        Ok(Decoded {
            lsn,
            end_lsn,
            effects,
        })
    }

    /// A record with no effect on the keys.
    pub fn other(lsn: u64, end_lsn: u64) -> Decoded<'a> {
        Decoded {
            lsn,
            end_lsn,
            effects: Vec::new(),
        }
    }
}

/// The key-value state machine: the databases and how far the log has been
/// applied.
#[derive(Debug, Clone, Default)]
pub struct KvState {
    /// The keys, per database.
    pub dbs: Dbs,
    /// Invariant: every record ending at or below this LSN has been applied.
    applied_lsn: u64,
    /// Clients' watched keys (`WATCH`), marked by every change applied here.
    pub watches: Watches,
}

impl KvState {
    /// A state holding `dbs`, which covers the log up to `applied_lsn`.
    pub fn new(dbs: Dbs, applied_lsn: u64) -> KvState {
        KvState {
            dbs,
            applied_lsn,
            watches: Watches::default(),
        }
    }

    /// Applies already decoded effects of the record ending at `end_lsn`.
    ///
    /// # Panics
    /// If `end_lsn` goes backwards: the caller appends records in LSN order.
    pub fn apply_effects(&mut self, effects: &[Effect<'_>], end_lsn: u64) {
        assert!(
            end_lsn >= self.applied_lsn,
            "records are applied in LSN order"
        );
        self.apply_unlogged(effects, &mut Cursor::default());
        self.applied_lsn = end_lsn;
    }

    /// Applies effects from `cur`'s database (moving it), marking the
    /// clients that watch what they change; the applied LSN stays (a
    /// transaction under construction).
    pub fn apply_unlogged(&mut self, effects: &[Effect<'_>], cur: &mut Cursor) {
        if self.watches.is_empty() {
            for e in effects {
                apply_effect(&mut self.dbs, cur, e);
            }
            return;
        }
        let start = cur.db;
        for e in effects {
            self.watches.before(&self.dbs, *cur, e);
            apply_effect(&mut self.dbs, cur, e);
        }
        self.watches.after(&self.dbs, start, effects);
    }

    /// Applies a run of decoded records in LSN order, skipping those that
    /// start below the applied LSN; returns how many were applied. The keys
    /// of the next [`PREFETCH_WINDOW`] records are prefetched while the
    /// current ones are applied, so that their cache misses overlap (as Redis
    /// prefetches the keys of a batch of commands) and are still cached when
    /// used: prefetching a whole large run first would evict its beginning.
    pub fn apply_decoded(&mut self, run: &[Decoded<'_>]) -> u64 {
        let from = self.applied_lsn;
        let prefetch = |dbs: &Dbs, window: &[Decoded<'_>]| {
            for d in window.iter().filter(|d| d.lsn >= from) {
                let mut db = 0;
                for e in &d.effects {
                    prefetch_effect(dbs, &mut db, e);
                }
            }
        };
        let mut windows = run.chunks(PREFETCH_WINDOW).peekable();
        if let Some(first) = windows.peek() {
            prefetch(&self.dbs, first);
        }
        let mut applied = 0;
        while let Some(window) = windows.next() {
            if let Some(next) = windows.peek() {
                prefetch(&self.dbs, next);
            }
            for d in window {
                if d.lsn >= self.applied_lsn {
                    self.apply_effects(&d.effects, d.end_lsn);
                    applied += 1;
                }
            }
        }
        applied
    }

    /// Moves the applied LSN forward past records that have no effect on the
    /// keys (records of other kinds), or past effects already applied one by one
    /// (a transaction being built).
    pub fn advance_to(&mut self, end_lsn: u64) {
        self.applied_lsn = self.applied_lsn.max(end_lsn);
    }
}

impl StateMachine for KvState {
    fn apply(&mut self, lsn: u64, end_lsn: u64, payload: &[u8]) -> Result<Applied, ApplyError> {
        if lsn < self.applied_lsn {
            return Ok(Applied::Skipped);
        }
        let d = Decoded::data(lsn, end_lsn, payload)?;
        self.apply_effects(&d.effects, end_lsn);
        Ok(Applied::Applied)
    }

    fn applied_lsn(&self) -> u64 {
        self.applied_lsn
    }
}

/// Starts loading into the CPU cache the item a string effect touches.
fn prefetch_effect(dbs: &Dbs, db: &mut usize, e: &Effect<'_>) {
    match e {
        Effect::Select { db: d } => *db = *d as usize,
        Effect::Set { key, .. } | Effect::Expire { key, .. } | Effect::Persist { key } => {
            dbs.db(*db).prefetch(key);
        }
        Effect::Del { keys } => keys.iter().for_each(|k| dbs.db(*db).prefetch(k)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::effect::{encode, Blob};
    use crate::store::Item;

    fn payload(effects: &[Effect<'_>]) -> Vec<u8> {
        let mut b = Vec::new();
        encode(effects, &mut b);
        b
    }

    #[test]
    fn applies_every_effect_and_skips_old_records() {
        let mut st = KvState::default();
        let p1 = payload(&[
            Effect::Set {
                key: Blob::borrowed(b"a"),
                value: Blob::borrowed(b"1"),
                expire_at_unix_ms: None,
            },
            Effect::Set {
                key: Blob::borrowed(b"b"),
                value: Blob::borrowed(b"2"),
                expire_at_unix_ms: Some(10),
            },
        ]);
        assert_eq!(st.apply(0, 64, &p1).unwrap(), Applied::Applied);
        assert_eq!(st.applied_lsn(), 64);
        assert_eq!(st.dbs.db(0).len(), 2);
        let p2 = payload(&[
            Effect::Persist {
                key: Blob::borrowed(b"b"),
            },
            Effect::Expire {
                key: Blob::borrowed(b"a"),
                at_unix_ms: 99,
            },
            Effect::Expire {
                key: Blob::borrowed(b"missing"),
                at_unix_ms: 99,
            },
        ]);
        st.apply(64, 128, &p2).unwrap();
        assert_eq!(st.dbs.db(0).get(b"b").unwrap().expire_at_unix_ms(), None);
        assert_eq!(
            st.dbs.db(0).get(b"a").unwrap().expire_at_unix_ms(),
            Some(99)
        );
        assert!(st.dbs.db(0).get(b"missing").is_none());
        // Replaying the first record again changes nothing.
        let p_del = payload(&[Effect::Del {
            keys: vec![Blob::borrowed(b"a")],
        }]);
        assert_eq!(st.apply(0, 64, &p_del).unwrap(), Applied::Skipped);
        assert!(st.dbs.db(0).get(b"a").is_some());
        st.apply(128, 200, &p_del).unwrap();
        assert!(st.dbs.db(0).get(b"a").is_none());
        st.apply(200, 240, &payload(&[Effect::FlushAll])).unwrap();
        assert!(st.dbs.db(0).is_empty());
        assert_eq!(st.applied_lsn(), 240);
    }

    #[test]
    fn a_decoded_run_applies_like_one_record_at_a_time() {
        let sets: Vec<Vec<u8>> = (0..100u32)
            .map(|i| {
                let (k, v) = (format!("k{}", i % 7), format!("v{i}"));
                payload(&[Effect::Set {
                    key: Blob::borrowed(k.as_bytes()),
                    value: Blob::borrowed(v.as_bytes()),
                    expire_at_unix_ms: None,
                }])
            })
            .chain([payload(&[Effect::Del {
                keys: vec![Blob::borrowed(b"k1"), Blob::borrowed(b"nope")],
            }])])
            .collect();
        let lsn = |i: usize| i as u64 * 64;
        let mut one = KvState::default();
        for (i, p) in sets.iter().enumerate() {
            one.apply(lsn(i), lsn(i + 1), p).unwrap();
        }
        let mut run: Vec<Decoded<'_>> = sets
            .iter()
            .enumerate()
            .map(|(i, p)| Decoded::data(lsn(i), lsn(i + 1), p).unwrap())
            .collect();
        run.insert(10, Decoded::other(lsn(10), lsn(10)));
        let mut batched = KvState::default();
        assert_eq!(batched.apply_decoded(&run[..5]), 5);
        assert_eq!(
            batched.apply_decoded(&run),
            run.len() as u64 - 5,
            "the first 5 are skipped"
        );
        assert_eq!(batched.applied_lsn(), one.applied_lsn());
        assert_eq!(batched.dbs.db(0).len(), 6);
        for k in 0..7 {
            let k = format!("k{k}");
            assert_eq!(
                batched.dbs.db(0).get(k.as_bytes()).and_then(Item::as_str),
                one.dbs.db(0).get(k.as_bytes()).and_then(Item::as_str),
                "{k}"
            );
        }
    }

    #[test]
    fn a_bad_payload_applies_nothing() {
        let mut st = KvState::default();
        let err = st.apply(8, 40, &[7, 1, 2]).unwrap_err();
        assert!(err.to_string().contains("LSN 0x8"), "{err}");
        assert_eq!(st.applied_lsn(), 0);
    }
}
