//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN, …): who waits on which
//! key of which database, in the order they blocked, and serving them when a
//! committed record gives their keys something to pop.
//!
//! Served as Redis serves them: per key, first blocked first served; a
//! waiter on several keys is served by the first of them that becomes ready
//! and leaves every queue. Each served pop is logged as its own record (the
//! `Pop`/`ZRem` it performed, and the `Push` of a move), and the waiter is
//! sent its reply with that record's end LSN: it replies only once the pop
//! is durable. A served move's push may in turn serve waiters on its
//! destination.

use crate::resp::commands::blocking::{self, Blocking};
use crate::resp::commands::Ctx;
use crate::store::{touches, Dbs, Effect, Touch, DATABASES};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;
use tokio::sync::oneshot;

/// What a blocked client is sent.
#[derive(Debug)]
pub enum Woken {
    /// It was served: its reply, sent once the log acknowledged `end_lsn`.
    Served { reply: Vec<u8>, end_lsn: u64 },
    /// It cannot be served (fenced, the log failed): an error line.
    Failed(String),
}

/// A blocked client's side: its place in the registry and what it waits on.
#[derive(Debug)]
pub struct Ticket {
    pub id: u64,
    pub rx: oneshot::Receiver<Woken>,
    /// When it times out (`None`: never).
    pub deadline: Option<Instant>,
}

struct Waiter {
    db: usize,
    args: Vec<Bytes>,
    block: Blocking,
    tx: oneshot::Sender<Woken>,
}

/// The blocked clients, by key and in the order they blocked.
pub struct Waiters {
    next_id: u64,
    /// Per database: key → waiters' ids, first blocked first.
    queues: Vec<HashMap<Bytes, VecDeque<u64>>>,
    waiting: HashMap<u64, Waiter>,
}

impl Default for Waiters {
    fn default() -> Waiters {
        Waiters {
            next_id: 0,
            queues: (0..DATABASES).map(|_| HashMap::new()).collect(),
            waiting: HashMap::new(),
        }
    }
}

impl Waiters {
    /// True when no client is blocked (the common case: nothing to do after
    /// a write).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Number of blocked clients.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Queues a client of database `db` blocked by `args` (parsed as
    /// `block`) on each of its keys.
    pub fn register(&mut self, db: usize, args: Vec<Bytes>, block: Blocking) -> Ticket {
        self.next_id += 1;
        let id = self.next_id;
        for key in block.keys(&args) {
            let q = self.queues[db].entry(key.clone()).or_default();
            if !q.contains(&id) {
                q.push_back(id);
            }
        }
        let (tx, rx) = oneshot::channel();
        // A deadline past what the clock can count is never reached.
        let deadline = block.timeout.and_then(|d| Instant::now().checked_add(d));
        self.waiting.insert(
            id,
            Waiter {
                db,
                args,
                block,
                tx,
            },
        );
        Ticket { id, rx, deadline }
    }

    /// Takes waiter `id` out of every queue; `None` when it is not waiting
    /// any more (served, failed, or removed already).
    fn take(&mut self, id: u64) -> Option<Waiter> {
        let w = self.waiting.remove(&id)?;
        let queues = &mut self.queues[w.db];
        for key in w.block.keys(&w.args) {
            if let Some(q) = queues.get_mut(key) {
                q.retain(|x| *x != id);
                if q.is_empty() {
                    queues.remove(key);
                }
            }
        }
        Some(w)
    }

    /// Removes waiter `id` (it timed out or left); false when it was no
    /// longer waiting: it was sent what it gets.
    pub fn remove(&mut self, id: u64) -> bool {
        self.take(id).is_some()
    }

    /// Sends every waiter `line` (an error) and forgets them all: the
    /// primary was fenced.
    pub fn fail_all(&mut self, line: &str) {
        for (_, w) in self.waiting.drain() {
            let _ = w.tx.send(Woken::Failed(line.to_string()));
        }
        self.queues.iter_mut().for_each(HashMap::clear);
    }

    /// The first waiter on `key` of `db`.
    fn first(&self, db: usize, key: &[u8]) -> Option<u64> {
        self.queues[db].get(key).and_then(|q| q.front().copied())
    }

    /// Appends to `ready` the keys with waiters that a record's `effects`
    /// touched.
    fn touched(&self, effects: &[Effect<'_>], ready: &mut VecDeque<(usize, Bytes)>) {
        let all_of = |db: usize, ready: &mut VecDeque<(usize, Bytes)>| {
            ready.extend(self.queues[db].keys().map(|k| (db, k.clone())));
        };
        touches(effects, 0, |t| match t {
            Touch::Key(db, key) => {
                if let Some((k, _)) = self.queues[db].get_key_value(key) {
                    ready.push_back((db, k.clone()));
                }
            }
            Touch::Db(db) => all_of(db, ready),
            Touch::All => (0..DATABASES).for_each(|db| all_of(db, ready)),
        });
    }
}

/// What serving waiters needs of the primary's keyspace.
pub trait Host {
    /// Why a served pop could not be logged; its text is the error line the
    /// client gets.
    type Refused: std::fmt::Display;
    /// The databases as they are now.
    fn dbs(&self) -> &Dbs;
    /// The registry.
    fn waiters(&mut self) -> &mut Waiters;
    /// Logs `effects` as one record and applies them: the record's end LSN,
    /// or why it was refused.
    fn commit_served(&mut self, effects: &[Effect<'_>]) -> Result<u64, Self::Refused>;
    /// End LSN of the last record appended.
    fn last_appended_end(&self) -> u64;
}

/// Serves the clients blocked on what a committed record's `effects`
/// touched, first blocked first, for as long as their keys hold something.
pub fn wake(host: &mut impl Host, effects: &[Effect<'_>]) {
    if host.waiters().is_empty() {
        return;
    }
    let mut ready = VecDeque::new();
    host.waiters().touched(effects, &mut ready);
    while let Some((db, key)) = ready.pop_front() {
        while let Some(id) = host.waiters().first(db, &key) {
            if !serve(host, id, db, &key, &mut ready) {
                break;
            }
        }
    }
}

/// Serves waiter `id` from `key`: false when the key holds nothing for it
/// (it keeps waiting).
fn serve(
    host: &mut impl Host,
    id: u64,
    db: usize,
    key: &[u8],
    ready: &mut VecDeque<(usize, Bytes)>,
) -> bool {
    let (args, block) = match host.waiters().waiting.get(&id) {
        // It left (its connection closed): forget it, pop nothing for it.
        Some(w) if w.tx.is_closed() => {
            host.waiters().take(id);
            return true;
        }
        Some(w) => (w.args.clone(), w.block.clone()),
        None => return true,
    };
    let mut reply = Vec::new();
    let mut fx = Vec::new();
    if db != 0 {
        fx.push(Effect::Select { db: db as u32 });
    }
    let ctx = Ctx {
        dbs: host.dbs(),
        db,
        now_unix_ms: crate::clock::now_unix_ms(),
    };
    if !blocking::serve_key(&block, &args, key, &ctx, &mut reply, &mut fx) {
        return false;
    }
    let waiter = host.waiters().take(id).expect("found just above");
    let woken = if fx.len() > usize::from(db != 0) {
        match host.commit_served(&fx) {
            Ok(end_lsn) => {
                host.waiters().touched(&fx, ready);
                Woken::Served { reply, end_lsn }
            }
            Err(why) => Woken::Failed(why.to_string()),
        }
    } else {
        // An error reply (a destination of another type): nothing popped.
        let end_lsn = host.last_appended_end();
        Woken::Served { reply, end_lsn }
    };
    let _ = waiter.tx.send(woken);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::commands::lookup;
    use crate::store::Blob;

    fn block(w: &mut Waiters, db: usize, line: &str) -> Ticket {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        let b = blocking::parse(lookup(&args[0]).unwrap(), &args).unwrap();
        w.register(db, args, b)
    }

    fn ready(w: &Waiters, effects: &[Effect<'_>]) -> Vec<(usize, Vec<u8>)> {
        let mut r = VecDeque::new();
        w.touched(effects, &mut r);
        r.into_iter().map(|(db, k)| (db, k.to_vec())).collect()
    }

    #[test]
    fn renames_moves_swaps_and_flushes_make_keys_ready() {
        let mut w = Waiters::default();
        let _a = block(&mut w, 0, "BLPOP a b 0");
        let _c = block(&mut w, 2, "BLPOP c 0");
        let k = |s: &'static str| Blob::borrowed(s.as_bytes());
        let rename = [Effect::Rename {
            from: k("x"),
            to: k("a"),
        }];
        assert_eq!(ready(&w, &rename), [(0, b"a".to_vec())]);
        let moved = [Effect::Move {
            key: k("c"),
            to_db: 2,
        }];
        assert_eq!(ready(&w, &moved), [(2, b"c".to_vec())]);
        let elsewhere = [Effect::Select { db: 1 }, Effect::Del { keys: vec![k("a")] }];
        assert!(ready(&w, &elsewhere).is_empty(), "another database's key");
        let swapped = ready(&w, &[Effect::SwapDb { a: 2, b: 5 }]);
        assert_eq!(swapped, [(2, b"c".to_vec())]);
        assert_eq!(ready(&w, &[Effect::FlushAll]).len(), 3);
    }

    #[test]
    fn waiters_leave_every_queue_and_a_fence_fails_them_all() {
        let mut w = Waiters::default();
        let a = block(&mut w, 0, "BLPOP a b 0");
        let b = block(&mut w, 0, "BRPOP b 0.5");
        assert!(b.deadline.is_some() && a.deadline.is_none());
        assert_eq!(w.first(0, b"b"), Some(a.id), "first blocked first");
        assert!(w.remove(a.id));
        assert!(!w.remove(a.id), "gone already");
        assert_eq!(w.first(0, b"a"), None);
        assert_eq!(w.first(0, b"b"), Some(b.id));
        let mut rx = b.rx;
        w.fail_all("FENCED at LSN 1");
        assert!(w.is_empty() && w.first(0, b"b").is_none());
        match rx.try_recv() {
            Ok(Woken::Failed(line)) => assert_eq!(line, "FENCED at LSN 1"),
            other => panic!("{other:?}"),
        }
    }
}
