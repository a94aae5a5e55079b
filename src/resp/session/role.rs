//! What a session asks of the role it serves: the [`Role`] trait, and the
//! small types that cross it.

use crate::resp::auth::Password;
use crate::resp::commands::Spec;
use crate::resp::Limits;
use crate::store::KvState;
use bytes::Bytes;
use std::future::Future;
use tokio::sync::watch;

/// The limits and the password a session works under.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// The parser's limits on one request.
    pub limits: &'a Limits,
    /// Most bytes buffered from one client without a complete command.
    pub max_query_bytes: usize,
    /// Replies buffered before they are sent (commands past it wait for the
    /// next round).
    pub max_output_bytes: usize,
    /// The password clients must give (`--requirepass-file`).
    pub password: Option<&'a Password>,
    /// What `HELLO` says this node is: `master` or `replica`.
    pub role_name: &'static str,
}

/// One command for the role to run: its row of the table (arity checked),
/// its arguments (the name first), and the batch's time.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub spec: &'static Spec,
    pub args: &'a [Bytes],
    /// The client's selected database (`SELECT`).
    pub db: usize,
    /// Read once per batch, so that every command of a batch agrees.
    pub now_unix_ms: u64,
}

/// What a command asks of the session once it ran.
#[derive(Debug)]
pub enum Step<D> {
    /// Run the next command.
    Next,
    /// End the batch: send its replies, then run `D` with
    /// [`Role::run_deferred`] and send what it answers (the primary's `WAIT`
    /// and `LOGSHIP`, which must not hold the keyspace's lock).
    Then(D),
}

/// Tells a session that the node is shutting down: it finishes the batch in
/// hand, sends its replies and closes.
#[derive(Debug)]
pub struct Shutdown(Option<watch::Receiver<bool>>);

impl Shutdown {
    /// Shutdown begins when `rx` turns true (or its sender is dropped).
    pub fn on(rx: watch::Receiver<bool>) -> Shutdown {
        Shutdown(Some(rx))
    }

    /// Never: the sessions end with their clients or the process.
    pub fn never() -> Shutdown {
        Shutdown(None)
    }

    /// True once shutdown has begun.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.0.as_ref().is_some_and(|rx| *rx.borrow())
    }

    /// Resolves when the signal changes (shutdown begins); never for
    /// [`Shutdown::never`].
    pub async fn changed(&mut self) {
        match &mut self.0 {
            Some(rx) => {
                let _ = rx.changed().await;
            }
            None => std::future::pending().await,
        }
    }
}

/// The part of a RESP session that differs between the primary and the
/// standby. Every method is called with concrete types (the session is
/// generic over its role): nothing is boxed or dispatched at run time.
///
/// Order of a command in the session: table lookup and arity, the AUTH gate,
/// [`refusal`](Role::refusal), then MULTI's queue, then MULTI/EXEC/DISCARD,
/// QUIT and the connection commands (SELECT, COMMAND, CLIENT), which the
/// session runs itself; everything else goes to [`run`](Role::run), or, in
/// EXEC, to [`run_queued`](Role::run_queued).
pub trait Role: Sync {
    /// The keyspace held locked for one batch of commands.
    type Locked<'r>
    where
        Self: 'r;
    /// The role's own state of a connection.
    type Conn: Send;
    /// A transaction under way in EXEC; its lifetime is that of the queued
    /// commands' arguments.
    type Tx<'q>;
    /// What a batch's replies wait for, read under the batch's lock.
    type Pending: Send;
    /// Work that must wait until the batch's replies are sent.
    type Deferred: Send;
    /// Why a batch's replies cannot be sent (see [`settle`](Role::settle)).
    type Unsettled: std::fmt::Display + Send;

    /// The limits and password of this node's sessions.
    fn settings(&self) -> Settings<'_>;

    /// Locks the keyspace for a batch (taken at the batch's first command,
    /// released before its replies are sent).
    fn lock(&self) -> Self::Locked<'_>;

    /// The state machine behind the lock: the session keeps its clients'
    /// watched keys there (`WATCH`), where every applied change marks them.
    fn kv<'a>(st: &'a mut Self::Locked<'_>) -> &'a mut KvState;

    /// What the replies of the batch that held `st` depend on.
    fn pending(st: &Self::Locked<'_>) -> Self::Pending;

    /// Waits until the replies may be sent; an error is sent instead of
    /// them (its text a whole reply line, e.g. `ERR …`), and the session
    /// closes.
    fn settle(
        &self,
        pending: Self::Pending,
    ) -> impl Future<Output = Result<(), Self::Unsettled>> + Send;

    /// An error that turns the client away before its next batch runs (the
    /// connection closes after it), or `None` to serve it.
    fn turned_away(&self) -> Option<&'static str>;

    /// The error refusing `spec` on this node, or `None` to run it. A refusal
    /// inside MULTI makes EXEC abort.
    fn refusal(&self, spec: &Spec) -> Option<&'static str>;

    /// Runs one command outside a transaction, writing exactly one reply
    /// (or none when it returns [`Step::Then`], whose work replies).
    fn run(
        &self,
        st: &mut Self::Locked<'_>,
        conn: &mut Self::Conn,
        call: Call<'_>,
        out: &mut Vec<u8>,
    ) -> Step<Self::Deferred>;

    /// Starts EXEC's transaction (the session has written the array header).
    fn begin_exec<'q>(&self, st: &mut Self::Locked<'_>) -> Self::Tx<'q>;

    /// Runs one queued command inside EXEC, writing exactly one reply.
    fn run_queued<'q>(
        &self,
        st: &mut Self::Locked<'_>,
        tx: &mut Self::Tx<'q>,
        conn: &Self::Conn,
        call: Call<'q>,
        out: &mut Vec<u8>,
    );

    /// Ends EXEC's transaction. If it fails as a whole, the role truncates
    /// `out` to `mark` (before EXEC's array header) and writes one error.
    fn end_exec(
        &self,
        st: &mut Self::Locked<'_>,
        tx: Self::Tx<'_>,
        conn: &mut Self::Conn,
        out: &mut Vec<u8>,
        mark: usize,
    );

    /// Runs the work a command deferred, without the lock, writing its one
    /// reply. `shutdown` cuts a wait short. The session keeps reading the
    /// client meanwhile and drops the future, unfinished, if the client
    /// leaves: the work must give up what it holds when dropped.
    fn run_deferred(
        &self,
        work: Self::Deferred,
        conn: &mut Self::Conn,
        shutdown: &mut Shutdown,
        out: &mut Vec<u8>,
    ) -> impl Future<Output = ()> + Send;

    /// Counts the commands a batch ran (metrics).
    fn commands_run(&self, n: u64);

    /// Called between two commands of a batch (a whole EXEC is one): a role
    /// whose keyspace has another writer (the standby's replay) lets it in
    /// here, so that a long pipeline of reads never holds it up for more
    /// than one command. By default the batch keeps its lock.
    #[inline]
    fn between_commands(&self, _st: &mut Self::Locked<'_>) {}
}
