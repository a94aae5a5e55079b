//! Read-only RESP on a standby: the standby's part of a client session
//! ([`Role`]). Reads answer from the replayed keyspace through the same
//! command code as the primary; the commands the table marks as writes are
//! refused with Redis's words for a read-only replica. Nothing here ever
//! changes the keyspace (a read that finds an expired key hides it; the
//! primary logs the delete, and replay brings it).

use super::node::Node;
use crate::resp::commands::{execute, Cmd, Ctx, Scope, Spec};
use crate::resp::session::{self, Call, Role, Settings, Shutdown, Step};
use crate::resp::Reply;
use crate::store::KvState;
use parking_lot::MutexGuard;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The error a write gets on a standby.
pub const READONLY: &str = "READONLY You can't write against a read only standby.";
/// The error a client of the standby gets once the node is promoted.
pub const PROMOTED: &str = "ERR this standby was promoted to primary; reconnect to write to it";

/// The standby's answer to `spec` before it runs: [`READONLY`] for a write.
pub fn refusal(spec: &Spec) -> Option<&'static str> {
    spec.access.is_write().then_some(READONLY)
}

/// Accepts clients until the task is dropped. The sessions end with their
/// clients, or with the process; once the node is promoted they send
/// [`PROMOTED`] to the next request and close.
pub async fn serve(listener: Arc<TcpListener>, node: Arc<Node>) {
    let mut open = node.accept_open.subscribe();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = open.wait_for(|o| !*o) => break,
            a = listener.accept() => a,
        };
        let Ok((sock, _)) = accepted else {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let node = node.clone();
        tokio::spawn(async move {
            let id = node.next_client_id.fetch_add(1, Ordering::Relaxed) + 1;
            node.monitor.clients.connected();
            session::serve_tcp(&*node, sock, id, (), Shutdown::never()).await;
            node.monitor.clients.disconnected();
        });
    }
    node.accept_closed.send_replace(true);
}

impl Role for Node {
    type Locked<'r> = MutexGuard<'r, KvState>;
    type Conn = ();
    type Tx<'q> = ();
    /// Reads only: nothing to wait for.
    type Pending = ();
    type Deferred = Infallible;
    type Unsettled = Infallible;

    /// The output limit is the one this node will have once promoted.
    fn settings(&self) -> Settings<'_> {
        Settings {
            limits: &self.cfg.limits,
            max_query_bytes: self.cfg.max_query_bytes,
            max_output_bytes: self.cfg.as_primary.max_output_bytes,
            password: self.cfg.requirepass.as_ref(),
            role_name: "replica",
        }
    }

    fn kv<'a>(st: &'a mut MutexGuard<'_, KvState>) -> &'a mut KvState {
        st
    }

    fn lock(&self) -> MutexGuard<'_, KvState> {
        self.lock_state()
    }

    fn pending(_st: &MutexGuard<'_, KvState>) {}

    async fn settle(&self, _pending: ()) -> Result<(), Infallible> {
        Ok(())
    }

    /// The keyspace now belongs to the primary serving on this address.
    fn turned_away(&self) -> Option<&'static str> {
        self.promoted.load(Ordering::Acquire).then_some(PROMOTED)
    }

    fn refusal(&self, spec: &Spec) -> Option<&'static str> {
        refusal(spec)
    }

    fn run(
        &self,
        st: &mut MutexGuard<'_, KvState>,
        _conn: &mut (),
        call: Call<'_>,
        out: &mut Vec<u8>,
    ) -> Step<Infallible> {
        self.read(st, call, out);
        Step::Next
    }

    fn begin_exec<'q>(&self, _st: &mut MutexGuard<'_, KvState>) -> Self::Tx<'q> {}

    fn run_queued<'q>(
        &self,
        st: &mut MutexGuard<'_, KvState>,
        _tx: &mut (),
        _conn: &(),
        call: Call<'q>,
        out: &mut Vec<u8>,
    ) {
        self.read(st, call, out);
    }

    fn end_exec(
        &self,
        _st: &mut MutexGuard<'_, KvState>,
        _tx: (),
        _conn: &mut (),
        _out: &mut Vec<u8>,
        _mark: usize,
    ) {
    }

    async fn run_deferred(
        &self,
        work: Infallible,
        _conn: &mut (),
        _shutdown: &mut Shutdown,
        _out: &mut Vec<u8>,
    ) {
        match work {}
    }

    fn commands_run(&self, n: u64) {
        self.monitor.clients.commands(n);
    }

    /// Replay, waiting for the keyspace, gets it between two reads: a
    /// pipeline of reads holds up the standby's lag by one read at most.
    #[inline]
    fn between_commands(&self, st: &mut MutexGuard<'_, KvState>) {
        self.state.between_slices(st);
    }
}

impl Node {
    /// Runs a command that is not a write, in or out of a transaction.
    fn read(&self, st: &KvState, call: Call<'_>, out: &mut Vec<u8>) {
        if call.spec.scope() == Scope::Keyspace {
            let ctx = Ctx {
                dbs: &st.dbs,
                db: call.db,
                now_unix_ms: call.now_unix_ms,
            };
            // Effects of a read (deleting a key found expired) are the primary's to log.
            let mut effects = Vec::new();
            execute(call.spec, call.args, &ctx, out, &mut effects);
            return;
        }
        match call.spec.cmd {
            Cmd::Info => out.bulk(self.info_text(st).as_bytes()),
            // Nothing to report: `redis-cli` and `redis-benchmark` accept an empty answer.
            Cmd::Config => out.array(0),
            Cmd::Logship => {
                out.error("ERR LOGSHIP control commands go to a primary; this node is a standby")
            }
            _ => out.error("ERR this command is not available on a standby"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::commands::COMMANDS;

    #[test]
    fn the_standby_refuses_exactly_the_writes() {
        for spec in COMMANDS.iter() {
            let expected = spec.access.is_write().then_some(READONLY);
            assert_eq!(refusal(spec), expected, "{}", spec.name);
        }
        // Some of the commands that change the keyspace.
        for name in [
            "set", "del", "incr", "append", "expire", "persist", "flushdb", "flushall",
        ] {
            let spec = COMMANDS.iter().find(|s| s.name == name).unwrap();
            assert_eq!(refusal(spec), Some(READONLY), "{name}");
        }
    }
}
