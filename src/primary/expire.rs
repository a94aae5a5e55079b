//! Active expiry: a sweep that finds expired keys nobody reads and removes them
//! with a logged delete (readers already treat them as absent).

use super::Shared;
use crate::store::keyspace::SHARDS;
use crate::store::{Blob, Effect};
use std::sync::Arc;
use std::time::Duration;

/// Time between sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// Shards looked at per sweep (a full pass takes SHARDS / this sweeps).
pub const SHARDS_PER_SWEEP: usize = 16;
/// Most keys deleted by one sweep (one record).
pub const MAX_KEYS_PER_SWEEP: usize = 1000;

/// Sweeps until the WAL stops or `stop` flips.
pub async fn run(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut next_shard = 0usize;
    let mut failing = false;
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() || shared.wal.position().failed {
            return;
        }
        next_shard = sweep(&shared, next_shard, &mut failing);
    }
}

/// One sweep from shard `from`; returns where the next one starts. A failure to
/// log the delete (a full disk) is logged once, not at every sweep, until a
/// delete succeeds again; the keys stay and the next sweeps retry.
fn sweep(shared: &Shared, from: usize, failing: &mut bool) -> usize {
    let now = crate::clock::now_unix_ms();
    let mut st = shared.lock_db();
    let mut keys: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut shard = from;
    for _ in 0..SHARDS_PER_SWEEP {
        for (db, ks) in st.kv.dbs.iter().filter(|(_, ks)| !ks.is_empty()) {
            for item in ks.shard_items(shard) {
                if keys.len() < MAX_KEYS_PER_SWEEP && item.is_expired(now) {
                    keys.push((db, item.key().to_vec()));
                }
            }
        }
        shard = (shard + 1) % SHARDS;
    }
    if !keys.is_empty() && st.fenced.is_none() {
        // One record: a delete per database, each after its `Select`.
        keys.sort();
        let mut effects = Vec::new();
        for run in keys.chunk_by(|a, b| a.0 == b.0) {
            if run[0].0 != 0 {
                effects.push(Effect::Select {
                    db: run[0].0 as u32,
                });
            }
            effects.push(Effect::Del {
                keys: run.iter().map(|(_, k)| Blob::borrowed(k)).collect(),
            });
        }
        match st.commit(&shared.wal, &effects) {
            Ok(_) if std::mem::take(failing) => {
                tracing::info!("active expiry logs its deletes again");
            }
            Ok(_) => {}
            Err(e) if !*failing => {
                *failing = true;
                tracing::error!(error = %e, "active expiry could not log its delete; retrying at each sweep");
            }
            Err(_) => {}
        }
    }
    shard
}
