//! The primary's part of a client session ([`Role`]): keyspace commands log
//! their effects through the WAL before they are applied, a batch's replies
//! wait until the WAL has acknowledged the batch's last appended LSN, and
//! `WAIT` and `LOGSHIP` run once the replies before them are sent, and so
//! does a blocking pop's wait for something to pop.

use super::blocking::{Ticket, Woken};
use super::db::{CommitError, State};
use super::server_cmds;
use super::Shared;
use crate::resp::commands::{blocking, execute, Access, Cmd, Ctx, Scope, Spec};
use crate::resp::session::{self, Call, Role, Settings, Shutdown, Step};
use crate::resp::Reply;
use crate::store::{Cursor, Dbs, Effect};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Serves one client until it leaves, misbehaves, or the server shuts down.
pub async fn serve(stream: TcpStream, shared: Arc<Shared>, shutdown: watch::Receiver<bool>) {
    let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed) + 1;
    shared.monitor.clients.connected();
    let conn = PrimaryConn::default();
    session::serve_tcp(&*shared, stream, id, conn, Shutdown::on(shutdown)).await;
    shared.monitor.clients.disconnected();
}

/// The error a command that may grow the keyspace gets past `--maxmemory`.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// The primary's state of one connection.
#[derive(Debug, Default)]
pub struct PrimaryConn {
    /// End LSN of this client's last logged write (what `WAIT` waits for).
    last_write_end_lsn: u64,
}

/// Work that waits for the batch's replies to go out.
#[derive(Debug)]
pub enum Deferred {
    /// `WAIT numstandbys timeout`: wait for standbys, reply with how many.
    Wait {
        numstandbys: usize,
        timeout: Option<std::time::Duration>,
    },
    /// A `LOGSHIP` control request.
    Control(super::fence::Request),
    /// A blocking pop found nothing: wait to be served (registered while
    /// the command ran, under the lock), to time out, or for shutdown.
    Block(Ticket),
}

/// A batch's writes did not become durable: the log failed (a full disk, a
/// failed fsync) and the server is stopping. Sent instead of the replies.
#[derive(Debug, thiserror::Error)]
#[error("ERR the write was not made durable and the server is stopping: {0}")]
pub struct NotDurable(pub crate::wal::WalError);

/// EXEC's transaction: the keyspace as it was (put back if the record cannot
/// be logged) and the effects applied so far, logged as one record at the end.
pub struct Tx<'q> {
    before: Dbs,
    effects: Vec<Effect<'q>>,
    /// The database the record's effects so far end in.
    cursor: Cursor,
}

impl Role for Shared {
    type Locked<'r> = MutexGuard<'r, State>;
    type Conn = PrimaryConn;
    type Tx<'q> = Tx<'q>;
    /// The last appended LSN when the batch ended ("durable before visible":
    /// a read may have seen a write not yet acknowledged).
    type Pending = u64;
    type Deferred = Deferred;
    type Unsettled = NotDurable;

    fn settings(&self) -> Settings<'_> {
        Settings {
            limits: &self.cfg.limits,
            max_query_bytes: self.cfg.max_query_bytes,
            max_output_bytes: self.cfg.max_output_bytes,
            password: self.cfg.requirepass.as_ref(),
            role_name: "master",
        }
    }

    fn kv<'a>(st: &'a mut MutexGuard<'_, State>) -> &'a mut crate::store::KvState {
        &mut st.kv
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.lock_db()
    }

    fn pending(st: &MutexGuard<'_, State>) -> u64 {
        st.last_appended_end
    }

    async fn settle(&self, required_lsn: u64) -> Result<(), NotDurable> {
        if required_lsn <= self.acked_lsn() {
            return Ok(());
        }
        // The log failed: nothing in this batch may be acknowledged.
        self.wal
            .wait_acked_async(required_lsn)
            .await
            .map_err(NotDurable)
    }

    fn turned_away(&self) -> Option<&'static str> {
        None
    }

    /// Past `--maxmemory`, the commands that may grow the keyspace (as
    /// Redis refuses its `denyoom` commands).
    #[inline]
    fn refusal(&self, spec: &Spec) -> Option<&'static str> {
        (spec.access == Access::Grow && self.over_maxmemory()).then_some(OOM)
    }

    // Inlined into the session's batch loop, as the command path was before
    // it was shared: a call per command cost 1% more instructions under
    // `redis-benchmark -t set,get -P 16` (callgrind).
    #[inline]
    fn run(
        &self,
        st: &mut MutexGuard<'_, State>,
        conn: &mut PrimaryConn,
        call: Call<'_>,
        out: &mut Vec<u8>,
    ) -> Step<Deferred> {
        let (spec, args) = (call.spec, call.args);
        if spec.scope() == Scope::Keyspace {
            if spec.cmd == Cmd::Block {
                return self.run_blocking(st, conn, call, out);
            }
            self.run_one(st, conn, call, out);
            return Step::Next;
        }
        match spec.cmd {
            Cmd::Wait => match super::shipping::parse_wait(&args[1], &args[2]) {
                Ok((numstandbys, timeout)) => {
                    return Step::Then(Deferred::Wait {
                        numstandbys,
                        timeout,
                    })
                }
                Err(e) => out.error(e),
            },
            Cmd::Logship => match super::fence::parse(args) {
                Ok(req) => return Step::Then(Deferred::Control(req)),
                Err(e) => out.error(&e.to_string()),
            },
            _ => server_cmds::run(spec, args, st, self, conn.last_write_end_lsn, out),
        }
        Step::Next
    }

    fn begin_exec<'q>(&self, st: &mut MutexGuard<'_, State>) -> Tx<'q> {
        Tx {
            before: st.kv.dbs.clone(),
            effects: Vec::new(),
            cursor: Cursor::default(),
        }
    }

    /// Applies each command's effects before the next runs; they are logged
    /// together by [`end_exec`](Role::end_exec).
    fn run_queued<'q>(
        &self,
        st: &mut MutexGuard<'_, State>,
        tx: &mut Tx<'q>,
        conn: &PrimaryConn,
        call: Call<'q>,
        out: &mut Vec<u8>,
    ) {
        if call.spec.scope() != Scope::Keyspace {
            let lsn = conn.last_write_end_lsn;
            return server_cmds::run(call.spec, call.args, st, self, lsn, out);
        }
        let start = tx.effects.len();
        let ctx = Ctx {
            dbs: &st.kv.dbs,
            db: call.db,
            now_unix_ms: call.now_unix_ms,
        };
        let mut effects = Vec::new();
        execute(call.spec, call.args, &ctx, out, &mut effects);
        if !effects.is_empty() {
            if call.db != tx.cursor.db {
                tx.effects.push(Effect::Select { db: call.db as u32 });
            }
            tx.effects.append(&mut effects);
            st.apply_unlogged(&tx.effects[start..], &mut tx.cursor);
        }
    }

    /// Logs the transaction's effects as one record. If it cannot be logged,
    /// the keyspace is put back as it was and EXEC fails as a whole.
    fn end_exec(
        &self,
        st: &mut MutexGuard<'_, State>,
        tx: Tx<'_>,
        conn: &mut PrimaryConn,
        out: &mut Vec<u8>,
        mark: usize,
    ) {
        if tx.effects.is_empty() {
            return;
        }
        match st.commit_applied(&self.wal, &tx.effects) {
            Ok(end) => conn.last_write_end_lsn = end,
            Err(e) => {
                st.kv.dbs = tx.before;
                out.truncate(mark);
                out.error(&e.to_string());
            }
        }
    }

    async fn run_deferred(
        &self,
        work: Deferred,
        conn: &mut PrimaryConn,
        shutdown: &mut Shutdown,
        out: &mut Vec<u8>,
    ) {
        match work {
            Deferred::Wait {
                numstandbys,
                timeout,
            } => {
                let lsn = conn.last_write_end_lsn;
                let n = tokio::select! {
                    n = self.shipping.wait(lsn, numstandbys, timeout) => n,
                    _ = shutdown.changed() => self.shipping.acked_count(lsn),
                };
                out.int(n as i64);
            }
            Deferred::Control(req) => match super::fence::run(self, req).await {
                Ok(v) => out.bulk(v.to_string().as_bytes()),
                Err(e) => out.error(&e.to_string()),
            },
            Deferred::Block(ticket) => self.blocked(ticket, conn, shutdown, out).await,
        }
    }

    fn commands_run(&self, n: u64) {
        self.monitor.clients.commands(n);
    }
}

impl Shared {
    /// Runs one keyspace command: its effects are logged as one record, then
    /// applied; a refused write replies with why instead.
    #[inline]
    fn run_one(&self, st: &mut State, conn: &mut PrimaryConn, call: Call<'_>, out: &mut Vec<u8>) {
        let mark = out.len();
        let mut effects: Vec<Effect<'_>> = Vec::new();
        if call.db != 0 {
            effects.push(Effect::Select { db: call.db as u32 });
        }
        let ctx = Ctx {
            dbs: &st.kv.dbs,
            db: call.db,
            now_unix_ms: call.now_unix_ms,
        };
        execute(call.spec, call.args, &ctx, out, &mut effects);
        self.commit_call(st, conn, &effects, call.db, out, mark);
    }

    /// Logs and applies a command's effects (beyond its `Select`); if they
    /// cannot be logged, its reply (from `mark`) becomes why.
    fn commit_call(
        &self,
        st: &mut State,
        conn: &mut PrimaryConn,
        effects: &[Effect<'_>],
        db: usize,
        out: &mut Vec<u8>,
        mark: usize,
    ) {
        if effects.len() > usize::from(db != 0) {
            match st.commit(&self.wal, effects) {
                Ok(end) => conn.last_write_end_lsn = end,
                Err(e) => {
                    out.truncate(mark);
                    out.error(&e.to_string());
                }
            }
        }
    }

    /// A blocking pop: served now if one of its keys holds something, else
    /// the client waits, registered before the lock is let go so that no
    /// write can slip in between.
    fn run_blocking(
        &self,
        st: &mut State,
        conn: &mut PrimaryConn,
        call: Call<'_>,
        out: &mut Vec<u8>,
    ) -> Step<Deferred> {
        let b = match blocking::parse(call.spec, call.args) {
            Ok(b) => b,
            Err(e) => {
                out.error(e);
                return Step::Next;
            }
        };
        let mark = out.len();
        let mut effects: Vec<Effect<'_>> = Vec::new();
        if call.db != 0 {
            effects.push(Effect::Select { db: call.db as u32 });
        }
        let ctx = Ctx {
            dbs: &st.kv.dbs,
            db: call.db,
            now_unix_ms: call.now_unix_ms,
        };
        let served = blocking::attempt(&b, call.args, &ctx, out, &mut effects);
        // A served pop, or the deletes of keys found expired.
        self.commit_call(st, conn, &effects, call.db, out, mark);
        if served {
            return Step::Next;
        }
        if let Some(f) = &st.fenced {
            // Nothing will ever be pushed here: say so instead of waiting.
            out.error(&CommitError::Fenced(Box::new(f.clone())).to_string());
            return Step::Next;
        }
        let ticket = st.waiters.register(call.db, call.args.to_vec(), b);
        Step::Then(Deferred::Block(ticket))
    }

    /// Waits for a blocked client's turn, its timeout or shutdown, and
    /// writes its one reply: a served pop's once that pop is durable.
    async fn blocked(
        &self,
        ticket: Ticket,
        conn: &mut PrimaryConn,
        shutdown: &mut Shutdown,
        out: &mut Vec<u8>,
    ) {
        let mut wait = Withdraw {
            shared: self,
            id: ticket.id,
            rx: ticket.rx,
        };
        let deadline = ticket.deadline;
        let timeout = async move {
            let Some(at) = deadline else {
                return std::future::pending().await;
            };
            // In steps of a day at most: the timer wheel does not count
            // years ahead.
            loop {
                let left = at.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left.min(MAX_SLEEP)).await;
            }
        };
        let mut stopping = false;
        let woken = tokio::select! {
            biased;
            w = &mut wait.rx => w.ok(),
            _ = timeout => None,
            _ = shutdown.changed() => {
                stopping = true;
                None
            }
        };
        // Timed out or stopping: leave the queue, unless served meanwhile.
        let woken = woken.or_else(|| wait.withdraw());
        match woken {
            Some(Woken::Served { reply, end_lsn }) => {
                conn.last_write_end_lsn = conn.last_write_end_lsn.max(end_lsn);
                match self.settle(end_lsn).await {
                    Ok(()) => out.extend_from_slice(&reply),
                    Err(e) => out.error(&e.to_string()),
                }
            }
            Some(Woken::Failed(line)) => out.error(&line),
            None if stopping => out.error(SHUTTING_DOWN),
            None => blocking::timed_out(out),
        }
    }
}

/// Longest single sleep of a blocked client's timeout.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// What a blocked client is told when the server stops under it.
const SHUTTING_DOWN: &str =
    "ERR the server is shutting down; nothing was popped for this blocked command";

/// A blocked client's place in the queue, given up when it is dropped (the
/// client left while waiting) or withdrawn (timed out, shutdown).
struct Withdraw<'s> {
    shared: &'s Shared,
    id: u64,
    rx: tokio::sync::oneshot::Receiver<Woken>,
}

impl Withdraw<'_> {
    /// Leaves the queue; what it was sent if it had been served or failed
    /// already (the serving holds the lock, so it is in `rx` by now).
    fn withdraw(&mut self) -> Option<Woken> {
        if self.shared.lock_db().waiters.remove(self.id) {
            return None;
        }
        self.rx.try_recv().ok()
    }
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        // Closed first: a serving that still finds it sees it gone and pops
        // nothing for it.
        self.rx.close();
        self.shared.lock_db().waiters.remove(self.id);
    }
}
