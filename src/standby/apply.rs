//! Replay's target on a standby: received records decoded and applied to the
//! keyspace through the primary's apply code, in slices under a fair lock so
//! reads get in between.

use super::node::Node;
use super::replay::ReplayTarget;
use super::state_lock::StateLock;
use crate::store::{ApplyError, Decoded, KvState, StateMachine};
use crate::wal::{Record, RecordKind};
use parking_lot::MutexGuard;
use std::sync::Arc;

/// Replay into the node's keyspace: the primary's apply code.
pub(super) struct Target(pub(super) Arc<Node>);

impl ReplayTarget for Target {
    fn applied_lsn(&self) -> u64 {
        self.0.lock_state().applied_lsn()
    }

    fn apply_batch(&self, records: &[Record]) -> Result<u64, ApplyError> {
        let (decoded, bad) = decode_all(records);
        let state = &self.0.state;
        let applied = apply_locked(state, &mut state.lock(), &decoded);
        bad.map_or(Ok(applied), Err)
    }

    fn apply_batch_at(&self, start_lsn: u64, records: &[Record]) -> Result<bool, ApplyError> {
        let (decoded, bad) = decode_all(records);
        let state = &self.0.state;
        let mut st = state.lock();
        if st.applied_lsn() != start_lsn {
            return Ok(false);
        }
        apply_locked(state, &mut st, &decoded);
        bad.map_or(Ok(true), Err)
    }
}

/// Decodes `records` (before the state is locked) up to the first whose
/// payload cannot be decoded, and names that one.
fn decode_all(records: &[Record]) -> (Vec<Decoded<'_>>, Option<ApplyError>) {
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        if r.kind != RecordKind::Data {
            out.push(Decoded::other(r.lsn, r.end_lsn));
            continue;
        }
        match Decoded::data(r.lsn, r.end_lsn, &r.payload) {
            Ok(d) => out.push(d),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// Records applied per hold of the state's lock. Between two slices readers
/// waiting for the lock get it ([`StateLock::between_slices`]), so a GET waits
/// for one slice at most, never for a whole chunk or batch: under a write load
/// a chunk holds dozens of records, each costing a few cache misses.
pub const APPLY_SLICE_RECORDS: usize = 16;

/// Applies decoded records to the locked state, a slice at a time (records
/// below its applied LSN are skipped: already applied, or covered by a seed
/// installed while the lock was handed over between slices); returns how many
/// were applied.
fn apply_locked(
    lock: &StateLock<KvState>,
    st: &mut MutexGuard<'_, KvState>,
    records: &[Decoded<'_>],
) -> u64 {
    let mut applied = 0;
    for (i, slice) in records.chunks(APPLY_SLICE_RECORDS).enumerate() {
        if i > 0 {
            lock.between_slices(st);
        }
        applied += st.apply_decoded(slice);
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::effect::{encode, Blob, Effect};
    use bytes::Bytes;
    use std::time::Duration;

    /// Data records SETting `k{i}` to `v{i}`, 64 bytes apart from LSN 0.
    fn sets(n: u64) -> Vec<Record> {
        (0..n)
            .map(|i| {
                let (k, v) = (format!("k{i}"), format!("v{i}"));
                let mut payload = Vec::new();
                encode(
                    &[Effect::Set {
                        key: Blob::borrowed(k.as_bytes()),
                        value: Blob::borrowed(v.as_bytes()),
                        expire_at_unix_ms: None,
                    }],
                    &mut payload,
                );
                Record {
                    lsn: i * 64,
                    end_lsn: (i + 1) * 64,
                    timeline: 1,
                    timestamp_unix_ms: 0,
                    kind: RecordKind::Data,
                    payload: Bytes::from(payload),
                    crc: 0,
                }
            })
            .collect()
    }

    #[test]
    fn a_reader_waiting_for_the_state_gets_it_between_two_slices_of_a_batch() {
        let records = sets(3 * APPLY_SLICE_RECORDS as u64);
        let (decoded, bad) = decode_all(&records);
        assert!(bad.is_none());
        // The reader must be waiting for the lock when the first slice ends;
        // a loaded machine may start it late, so the scene is replayed.
        for _ in 0..20 {
            let state = Arc::new(StateLock::new(KvState::default()));
            let mut st = state.lock();
            let s = state.clone();
            let reader = std::thread::spawn(move || s.lock().applied_lsn());
            std::thread::sleep(Duration::from_millis(100));
            assert_eq!(
                apply_locked(&state, &mut st, &decoded),
                records.len() as u64
            );
            assert_eq!(st.applied_lsn(), records.last().unwrap().end_lsn);
            assert_eq!(st.dbs.len(), records.len());
            drop(st);
            let seen = reader.join().unwrap();
            if seen == records[APPLY_SLICE_RECORDS - 1].end_lsn {
                return;
            }
            assert_eq!(
                seen,
                records.last().unwrap().end_lsn,
                "only slice ends are seen"
            );
        }
        panic!("the waiting reader never got the state between two slices");
    }

    #[test]
    fn records_already_applied_are_skipped_and_a_bad_payload_stops_the_batch_there() {
        let mut records = sets(5);
        records[3].payload = Bytes::from_static(&[0xEE, 1, 2]);
        let (decoded, bad) = decode_all(&records);
        assert_eq!(decoded.len(), 3, "the records before the bad one");
        let bad = bad.unwrap().to_string();
        assert!(bad.contains("LSN 0xc0"), "{bad}");
        let state = StateLock::new(KvState::default());
        let mut st = state.lock();
        assert_eq!(apply_locked(&state, &mut st, &decoded[..1]), 1);
        assert_eq!(
            apply_locked(&state, &mut st, &decoded),
            2,
            "k0 was applied already"
        );
        assert_eq!(st.applied_lsn(), 3 * 64);
        assert_eq!(st.dbs.db(0).get(b"k2").unwrap().as_str(), Some(&b"v2"[..]));
        assert!(st.dbs.db(0).get(b"k3").is_none());
    }
}
