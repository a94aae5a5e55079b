//! One client connection: read what is available, run every complete command in
//! order under one lock, wait once for the WAL to acknowledge what those commands
//! depend on, then send all the replies in one write.

use super::db::State;
use super::server_cmds::{self, ClientInfo};
use super::Shared;
use crate::resp::auth;
use crate::resp::commands::{execute, lookup, unknown_command, wrong_args, Cmd, Ctx, Scope, Spec};
use crate::resp::{parse, Frame, Reply};
use crate::store::Effect;
use bytes::BytesMut;
use std::sync::{Arc, MutexGuard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Most commands one transaction may queue.
pub const MAX_QUEUED_COMMANDS: usize = 100_000;
const READ_CHUNK_BYTES: usize = 16 << 10;

/// What the batch asks of the connection afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Read more input.
    Read,
    /// Output limit reached with input left: run another batch first.
    Continue,
    /// Send the replies and close (QUIT or a protocol error).
    Close,
    /// Send the replies, then wait for standbys (`WAIT`) and reply.
    Wait {
        numstandbys: usize,
        timeout: Option<std::time::Duration>,
    },
    /// Send the replies, then run the `LOGSHIP` request in `Conn::control`.
    Control,
}

struct Conn {
    stream: TcpStream,
    inbuf: BytesMut,
    out: Vec<u8>,
    /// Commands queued since MULTI.
    multi: Option<Vec<Frame>>,
    /// A queued command was refused: EXEC must abort.
    multi_dirty: bool,
    client: ClientInfo,
    /// A `LOGSHIP` request waiting for the batch's replies to go out.
    control: Option<super::fence::Request>,
}

/// Serves one client until it leaves, misbehaves, or the server shuts down.
pub async fn serve(stream: TcpStream, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut conn = Conn {
        stream,
        inbuf: BytesMut::with_capacity(READ_CHUNK_BYTES),
        out: Vec::with_capacity(READ_CHUNK_BYTES),
        multi: None,
        multi_dirty: false,
        client: ClientInfo::new(&shared, peer.clone()),
        control: None,
    };
    shared.monitor.clients.connected();
    if let Err(e) = conn.run(&shared, &mut shutdown).await {
        tracing::debug!(peer = %peer, error = %e, "connection ended");
    }
    shared.monitor.clients.disconnected();
}

impl Conn {
    async fn run(
        &mut self,
        shared: &Shared,
        shutdown: &mut watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        loop {
            let (required_lsn, after) = self.run_batch(shared);
            if !self.out.is_empty() {
                let acked = shared.acked_lsn();
                if required_lsn > acked {
                    if let Err(e) = shared.wal.wait_acked_async(required_lsn).await {
                        // The log failed: nothing in this batch may be acknowledged.
                        // Say why (a full disk, a failed fsync) instead of only closing.
                        self.out.clear();
                        self.out.error(&format!(
                            "ERR the write was not made durable and the server is stopping: {e}"
                        ));
                        let _ = self.stream.write_all(&self.out).await;
                        return Ok(());
                    }
                }
                self.stream.write_all(&self.out).await?;
                self.out.clear();
                if self.out.capacity() > shared.cfg.max_output_bytes {
                    self.out = Vec::with_capacity(READ_CHUNK_BYTES);
                }
            }
            match after {
                After::Close => return Ok(()),
                After::Continue => continue,
                After::Wait {
                    numstandbys,
                    timeout,
                } => {
                    let lsn = self.client.last_write_end_lsn;
                    let n = tokio::select! {
                        n = shared.shipping.wait(lsn, numstandbys, timeout) => n,
                        _ = shutdown.changed() => shared.shipping.acked_count(lsn),
                    };
                    self.out.int(n as i64);
                    continue;
                }
                After::Control => {
                    if let Some(req) = self.control.take() {
                        match super::fence::run(shared, req).await {
                            Ok(v) => self.out.bulk(v.to_string().as_bytes()),
                            Err(e) => self.out.error(&e.to_string()),
                        }
                    }
                    continue;
                }
                After::Read => {}
            }
            if *shutdown.borrow() {
                return Ok(());
            }
            let room = shared.cfg.max_query_bytes.saturating_sub(self.inbuf.len());
            if room == 0 {
                let msg = format!(
                    "ERR Protocol error: request larger than the query buffer limit of {} bytes",
                    shared.cfg.max_query_bytes
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
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }

    /// Runs every complete command in the input buffer (up to the output limit)
    /// under one lock. Returns the LSN the WAL must acknowledge before the replies
    /// may be sent.
    fn run_batch(&mut self, shared: &Shared) -> (u64, After) {
        let mut guard: Option<MutexGuard<'_, State>> = None;
        let now = crate::clock::now_unix_ms();
        let mut after = After::Read;
        let mut commands = 0;
        loop {
            if self.out.len() >= shared.cfg.max_output_bytes {
                after = After::Continue;
                break;
            }
            let frame = match parse(&mut self.inbuf, &shared.cfg.limits) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    self.out.error(&format!("ERR {e}"));
                    after = After::Close;
                    break;
                }
            };
            let st = guard.get_or_insert_with(|| shared.lock_db());
            commands += 1;
            match self.handle(frame, st, shared, now) {
                After::Read => {}
                stop => {
                    after = stop;
                    break;
                }
            }
        }
        let required = guard.map_or(0, |g| g.last_appended_end);
        shared.monitor.clients.commands(commands);
        (required, after)
    }

    fn handle(&mut self, frame: Frame, st: &mut State, shared: &Shared, now: u64) -> After {
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
        let password = shared.cfg.requirepass.as_ref();
        if auth::gate(password, &mut self.client.auth, spec, &frame, &mut self.out) {
            return After::Read;
        }
        if let Some(queue) = &mut self.multi {
            match spec.cmd {
                Cmd::Exec => self.exec(st, shared, now),
                Cmd::Discard => {
                    self.multi = None;
                    self.out.ok();
                }
                Cmd::Multi => self.out.error("ERR MULTI calls can not be nested"),
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
            Cmd::Discard => self.out.error("ERR DISCARD without MULTI"),
            Cmd::Quit => {
                self.out.ok();
                return After::Close;
            }
            Cmd::Wait => match super::shipping::parse_wait(&frame[1], &frame[2]) {
                Ok((numstandbys, timeout)) => {
                    return After::Wait {
                        numstandbys,
                        timeout,
                    }
                }
                Err(e) => self.out.error(e),
            },
            Cmd::Logship => match super::fence::parse(&frame) {
                Ok(req) => {
                    self.control = Some(req);
                    return After::Control;
                }
                Err(e) => self.out.error(&e.to_string()),
            },
            _ if spec.scope == Scope::Keyspace => self.run_one(spec, &frame, st, shared, now),
            _ => server_cmds::run(spec, &frame, st, shared, &mut self.client, &mut self.out),
        }
        After::Read
    }

    fn run_one(&mut self, spec: &Spec, args: &Frame, st: &mut State, shared: &Shared, now: u64) {
        let mark = self.out.len();
        let mut effects: Vec<Effect<'_>> = Vec::new();
        let ctx = Ctx {
            keyspace: &st.kv.keyspace,
            now_unix_ms: now,
        };
        execute(spec, args, &ctx, &mut self.out, &mut effects);
        if !effects.is_empty() {
            match st.commit(&shared.wal, &effects) {
                Ok(end) => self.client.last_write_end_lsn = end,
                Err(e) => {
                    self.out.truncate(mark);
                    self.out.error(&e.to_string());
                }
            }
        }
    }

    /// EXEC: runs the queued commands, applying each one's effects before the
    /// next runs, and logs all of them as one record. If the record cannot be
    /// logged, the keyspace is put back as it was and EXEC fails as a whole.
    fn exec(&mut self, st: &mut State, shared: &Shared, now: u64) {
        let queued = self.multi.take().unwrap_or_default();
        if std::mem::take(&mut self.multi_dirty) {
            self.out
                .error("EXECABORT Transaction discarded because of previous errors.");
            return;
        }
        let before = st.kv.keyspace.clone();
        let mark = self.out.len();
        self.out.array(queued.len());
        let mut effects: Vec<Effect<'_>> = Vec::new();
        for args in &queued {
            let spec = lookup(&args[0]).expect("queued commands were looked up");
            if spec.scope == Scope::Keyspace {
                let start = effects.len();
                let ctx = Ctx {
                    keyspace: &st.kv.keyspace,
                    now_unix_ms: now,
                };
                execute(spec, args, &ctx, &mut self.out, &mut effects);
                st.apply_unlogged(&effects[start..]);
            } else if spec.cmd == Cmd::Quit {
                self.out.ok();
            } else {
                server_cmds::run(spec, args, st, shared, &mut self.client, &mut self.out);
            }
        }
        if !effects.is_empty() {
            match st.commit_applied(&shared.wal, &effects) {
                Ok(end) => self.client.last_write_end_lsn = end,
                Err(e) => {
                    st.kv.keyspace = before;
                    self.out.truncate(mark);
                    self.out.error(&e.to_string());
                }
            }
        }
    }
}
