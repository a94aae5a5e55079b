//! One RESP client session, for every role: read what is available, run every
//! complete command in order under one lock of the keyspace, let the role
//! confirm what the replies depend on (the primary: the WAL acknowledged the
//! batch's last appended LSN), then send all the replies in one write.
//!
//! The same for every role, here: the bounded parser, the query buffer and
//! output limits, the AUTH gate, MULTI/EXEC/DISCARD with its queue limit and
//! EXECABORT, WATCH/UNWATCH (the keys are kept in the role's [`KvState`],
//! whose every applied change marks their watchers), QUIT, the connection
//! commands, protocol errors and shutdown.
//!
//! [`KvState`]: crate::store::KvState
//! What differs — how the keyspace is locked, what a command does, which
//! commands are refused, work that waits for the replies — comes through
//! [`Role`].
//!
//! | module | owns                                                   |
//! |--------|--------------------------------------------------------|
//! | `role` | the [`Role`] trait and what crosses it                 |

mod role;

pub use role::{Call, Role, Settings, Shutdown, Step};

use super::auth;
use super::client::{connection_cmd, hello, ClientInfo};
use super::commands::{lookup, unknown_command, wrong_args, Cmd, Scope};
use super::{parse, Frame, Reply};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most commands one transaction may queue.
pub const MAX_QUEUED_COMMANDS: usize = 100_000;
/// What one read asks for; the input and output buffers start this big.
const READ_CHUNK_BYTES: usize = 16 << 10;

/// Serves one TCP client until it leaves, misbehaves, or the node shuts down.
/// `client_id` is the node's number for it.
pub async fn serve_tcp<R: Role>(
    role: &R,
    stream: TcpStream,
    client_id: u64,
    conn: R::Conn,
    shutdown: Shutdown,
) {
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let client = ClientInfo::new(client_id, peer.clone(), role.settings().password);
    if let Err(e) = serve(role, stream, client, conn, shutdown).await {
        tracing::debug!(peer = %peer, error = %e, "connection ended");
    }
}

/// Serves one client on any byte stream.
///
/// # Errors
/// The stream failed; the session is over.
pub async fn serve<R, S>(
    role: &R,
    stream: S,
    client: ClientInfo,
    conn: R::Conn,
    shutdown: Shutdown,
) -> std::io::Result<()>
where
    R: Role,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut session = Session {
        role,
        stream,
        inbuf: BytesMut::with_capacity(READ_CHUNK_BYTES),
        out: Vec::with_capacity(READ_CHUNK_BYTES),
        multi: None,
        multi_dirty: false,
        watching: false,
        client,
        conn,
        shutdown,
    };
    let result = session.run().await;
    if session.watching {
        let mut st = role.lock();
        R::kv(&mut st).watches.unwatch(session.client.id);
    }
    result
}

/// What a batch asks of the session afterwards.
enum After<D> {
    /// Read more input.
    Read,
    /// Output limit reached with input left: run another batch first.
    Continue,
    /// Send the replies and close (QUIT, a protocol error, turned away).
    Close,
    /// Send the replies, then run the role's deferred work and reply.
    Then(D),
}

struct Session<'r, R: Role, S> {
    role: &'r R,
    stream: S,
    inbuf: BytesMut,
    out: Vec<u8>,
    /// Commands queued since MULTI (at most [`MAX_QUEUED_COMMANDS`]).
    multi: Option<Vec<Frame>>,
    /// A command was refused inside MULTI: EXEC must abort.
    multi_dirty: bool,
    /// The client watches keys (WATCH since the last EXEC, DISCARD or
    /// UNWATCH): they are registered under its id.
    watching: bool,
    client: ClientInfo,
    conn: R::Conn,
    shutdown: Shutdown,
}

impl<'r, R: Role, S: AsyncRead + AsyncWrite + Unpin> Session<'r, R, S> {
    async fn run(&mut self) -> std::io::Result<()> {
        let role = self.role;
        let settings = role.settings();
        loop {
            let (pending, after) = self.run_batch(&settings);
            if !self.out.is_empty() {
                if let Some(pending) = pending {
                    if let Err(why) = role.settle(pending).await {
                        // Nothing of this batch may be acknowledged: say why
                        // instead of only closing.
                        self.out.clear();
                        self.out.error(&why.to_string());
                        let _ = self.stream.write_all(&self.out).await;
                        return Ok(());
                    }
                }
                self.stream.write_all(&self.out).await?;
                self.out.clear();
                if self.out.capacity() > settings.max_output_bytes {
                    self.out = Vec::with_capacity(READ_CHUNK_BYTES);
                }
            }
            match after {
                After::Close => return Ok(()),
                After::Continue => continue,
                After::Then(work) => {
                    if !self.run_deferred(work, &settings).await? {
                        // The client left while waiting.
                        return Ok(());
                    }
                    continue;
                }
                After::Read => {}
            }
            if self.shutdown.is_set() {
                return Ok(());
            }
            let room = settings.max_query_bytes.saturating_sub(self.inbuf.len());
            if room == 0 {
                let msg = format!(
                    "ERR Protocol error: request larger than the query buffer limit of {} bytes",
                    settings.max_query_bytes
                );
                self.out.error(&msg);
                self.stream.write_all(&self.out).await?;
                return Ok(());
            }
            if self.inbuf.capacity() - self.inbuf.len() < READ_CHUNK_BYTES / 4 {
                self.inbuf.reserve(READ_CHUNK_BYTES);
            }
            // Never buffer more than the limit, however much the client sends.
            let mut limited = (&mut self.stream).take(room as u64);
            tokio::select! {
                biased;
                r = limited.read_buf(&mut self.inbuf) => {
                    if r? == 0 {
                        return Ok(());
                    }
                }
                _ = self.shutdown.changed() => return Ok(()),
            }
        }
    }

    /// Runs the role's deferred work (a `WAIT`, a blocked pop) while
    /// watching the client: what it sends meanwhile is buffered for after
    /// (as Redis does), and if it leaves, the work is dropped (a blocked
    /// client leaves its queue and is served nothing). False when it left.
    async fn run_deferred(
        &mut self,
        work: R::Deferred,
        settings: &Settings<'_>,
    ) -> std::io::Result<bool> {
        let Session {
            role,
            stream,
            inbuf,
            out,
            conn,
            shutdown,
            ..
        } = self;
        let work = role.run_deferred(work, conn, shutdown, out);
        tokio::pin!(work);
        loop {
            let room = settings.max_query_bytes.saturating_sub(inbuf.len());
            if room == 0 {
                work.await;
                return Ok(true);
            }
            if inbuf.capacity() - inbuf.len() < READ_CHUNK_BYTES / 4 {
                inbuf.reserve(READ_CHUNK_BYTES);
            }
            let mut limited = (&mut *stream).take(room as u64);
            tokio::select! {
                biased;
                () = &mut work => return Ok(true),
                r = limited.read_buf(inbuf) => {
                    if r? == 0 {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// Runs every complete command in the input buffer (up to the output
    /// limit) under one lock. Returns what the replies wait for (`None` when
    /// no command ran) and what to do next.
    fn run_batch(&mut self, settings: &Settings<'_>) -> (Option<R::Pending>, After<R::Deferred>) {
        let role = self.role;
        if !self.inbuf.is_empty() {
            if let Some(line) = role.turned_away() {
                self.out.error(line);
                return (None, After::Close);
            }
        }
        let mut guard: Option<R::Locked<'r>> = None;
        let now = crate::clock::now_unix_ms();
        let mut after = After::Read;
        let mut commands = 0;
        loop {
            if self.out.len() >= settings.max_output_bytes {
                after = After::Continue;
                break;
            }
            let frame = match parse(&mut self.inbuf, settings.limits) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    self.out.error(&format!("ERR {e}"));
                    after = After::Close;
                    break;
                }
            };
            let st = match &mut guard {
                Some(st) => {
                    role.between_commands(st);
                    st
                }
                None => guard.insert(role.lock()),
            };
            commands += 1;
            match self.handle(frame, st, now, settings) {
                After::Read => {}
                stop => {
                    after = stop;
                    break;
                }
            }
        }
        let pending = guard.as_ref().map(R::pending);
        role.commands_run(commands);
        (pending, after)
    }

    fn handle(
        &mut self,
        frame: Frame,
        st: &mut R::Locked<'r>,
        now: u64,
        settings: &Settings<'_>,
    ) -> After<R::Deferred> {
        let spec = match lookup(&frame[0]) {
            Some(spec) if spec.arity_ok(frame.len()) => spec,
            found => {
                self.multi_dirty |= self.multi.is_some();
                let msg = match found {
                    Some(spec) => wrong_args(spec.name),
                    None => unknown_command(&frame),
                };
                self.out.error(&msg);
                return After::Read;
            }
        };
        if auth::gate(
            settings.password,
            &mut self.client.auth,
            spec,
            &frame,
            &mut self.out,
        ) {
            return After::Read;
        }
        if let Some(line) = self.role.refusal(spec) {
            self.multi_dirty |= self.multi.is_some();
            self.out.error(line);
            return After::Read;
        }
        if let Some(queue) = &mut self.multi {
            match spec.cmd {
                Cmd::Exec => self.exec(st, now, settings),
                Cmd::Discard => {
                    self.multi = None;
                    self.unwatch(st);
                    self.out.ok();
                }
                Cmd::Multi => self.out.error("ERR MULTI calls can not be nested"),
                Cmd::Watch => self.out.error("ERR WATCH inside MULTI is not allowed"),
                _ if queue.len() >= MAX_QUEUED_COMMANDS => {
                    self.multi_dirty = true;
                    self.out.error(&format!(
                        "ERR too many commands in one transaction (the limit is {MAX_QUEUED_COMMANDS})"
                    ));
                }
                _ => {
                    queue.push(frame);
                    self.out.simple("QUEUED");
                }
            }
            return After::Read;
        }
        match spec.cmd {
            Cmd::Multi => {
                self.multi = Some(Vec::new());
                self.multi_dirty = false;
                self.out.ok();
            }
            Cmd::Exec => self.out.error("ERR EXEC without MULTI"),
            Cmd::Watch => self.watch(st, &frame[1..], now),
            Cmd::Hello => hello(
                &frame,
                &mut self.client,
                settings.password,
                settings.role_name,
                &mut self.out,
            ),
            Cmd::Unwatch => {
                self.unwatch(st);
                self.out.ok();
            }
            Cmd::Discard => self.out.error("ERR DISCARD without MULTI"),
            Cmd::Quit => {
                self.out.ok();
                return After::Close;
            }
            _ if spec.scope() == Scope::Server
                && connection_cmd(spec, &frame, &mut self.client, &mut self.out) => {}
            _ => {
                let call = Call {
                    spec,
                    args: &frame,
                    db: self.client.db,
                    now_unix_ms: now,
                };
                if let Step::Then(work) = self.role.run(st, &mut self.conn, call, &mut self.out) {
                    return After::Then(work);
                }
            }
        }
        After::Read
    }

    /// WATCH: registers the keys of the selected database.
    fn watch(&mut self, st: &mut R::Locked<'r>, keys: &[bytes::Bytes], now: u64) {
        let kv = R::kv(st);
        self.watching = true;
        for key in keys {
            let done = kv
                .watches
                .watch(self.client.id, self.client.db, key, &kv.dbs, now);
            if let Err(e) = done {
                return self.out.error(&e.to_string());
            }
        }
        self.out.ok();
    }

    /// Forgets the client's watched keys.
    fn unwatch(&mut self, st: &mut R::Locked<'r>) {
        if std::mem::take(&mut self.watching) {
            R::kv(st).watches.unwatch(self.client.id);
        }
    }

    /// EXEC: aborts if a command was refused while queueing, answers a nil
    /// array if a watched key changed; otherwise runs the queued commands in
    /// the role's transaction, one reply each. Unwatches either way.
    fn exec(&mut self, st: &mut R::Locked<'r>, now: u64, settings: &Settings<'_>) {
        let queued = self.multi.take().unwrap_or_default();
        let changed = self.watching && {
            let kv = R::kv(st);
            kv.watches.changed(self.client.id, &kv.dbs, now)
        };
        self.unwatch(st);
        if std::mem::take(&mut self.multi_dirty) {
            self.out
                .error("EXECABORT Transaction discarded because of previous errors.");
            return;
        }
        if changed {
            self.out.extend_from_slice(b"*-1\r\n");
            return;
        }
        let role = self.role;
        let mark = self.out.len();
        self.out.array(queued.len());
        let mut tx = role.begin_exec(st);
        for args in &queued {
            let spec = lookup(&args[0]).expect("queued commands were looked up");
            match spec.cmd {
                // Everything was unwatched as EXEC began.
                Cmd::Quit | Cmd::Unwatch => self.out.ok(),
                Cmd::Hello => hello(
                    args,
                    &mut self.client,
                    settings.password,
                    settings.role_name,
                    &mut self.out,
                ),
                _ if spec.scope() == Scope::Server
                    && connection_cmd(spec, args, &mut self.client, &mut self.out) => {}
                _ => {
                    let call = Call {
                        spec,
                        args,
                        db: self.client.db,
                        now_unix_ms: now,
                    };
                    role.run_queued(st, &mut tx, &self.conn, call, &mut self.out);
                }
            }
        }
        role.end_exec(st, tx, &mut self.conn, &mut self.out, mark);
    }
}

#[cfg(test)]
mod tests;
