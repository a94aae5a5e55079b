//! Read-only RESP on a standby: reads answer from the replayed keyspace through
//! the same command code as the primary; writes are refused with Redis's words
//! for a read-only replica. Nothing here ever changes the keyspace (a read that
//! finds an expired key hides it; the primary logs the delete, and replay
//! brings it).

use super::node::Node;
use crate::primary::server_cmds::{connection_cmd, ClientInfo};
use crate::resp::auth;
use crate::resp::commands::{execute, lookup, unknown_command, wrong_args, Cmd, Ctx, Scope};
use crate::resp::{parse, Frame, Reply};
use bytes::BytesMut;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The error a write gets on a standby.
pub const READONLY: &str = "READONLY You can't write against a read only standby.";
const READ_CHUNK_BYTES: usize = 16 << 10;

/// True for the commands that change the keyspace.
pub fn is_write(cmd: Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Set
            | Cmd::SetNx
            | Cmd::GetSet
            | Cmd::GetDel
            | Cmd::Del
            | Cmd::Unlink
            | Cmd::Incr
            | Cmd::IncrBy
            | Cmd::Decr
            | Cmd::DecrBy
            | Cmd::Append
            | Cmd::MSet
            | Cmd::Expire
            | Cmd::PExpire
            | Cmd::ExpireAt
            | Cmd::PExpireAt
            | Cmd::Persist
            | Cmd::FlushDb
            | Cmd::FlushAll
    )
}

/// Accepts clients until the task is dropped.
pub async fn serve(listener: Arc<TcpListener>, node: Arc<Node>) {
    loop {
        let Ok((sock, peer)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let node = node.clone();
        tokio::spawn(async move {
            let id = node.next_client_id.fetch_add(1, Ordering::Relaxed) + 1;
            let mut c = ClientInfo::with_id(id, peer.to_string());
            c.auth = auth::AuthState::initial(node.cfg.requirepass.as_ref());
            node.monitor.clients.connected();
            if let Err(e) = client(sock, &node, &mut c).await {
                tracing::debug!(peer = %peer, error = %e, "client connection ended");
            }
            node.monitor.clients.disconnected();
        });
    }
}

async fn client(mut sock: TcpStream, node: &Node, info: &mut ClientInfo) -> std::io::Result<()> {
    let _ = sock.set_nodelay(true);
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut multi: Option<Vec<Frame>> = None;
    loop {
        let mut close = false;
        if node.promoted.load(Ordering::Acquire) && !inbuf.is_empty() {
            // The keyspace now belongs to the primary serving on this address.
            out.error("ERR this standby was promoted to primary; reconnect to write to it");
            sock.write_all(&out).await?;
            return Ok(());
        }
        loop {
            let frame = match parse(&mut inbuf, &node.cfg.limits) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    out.error(&format!("ERR {e}"));
                    close = true;
                    break;
                }
            };
            node.monitor.clients.commands(1);
            if handle(&frame, node, info, &mut out, &mut multi) {
                close = true;
                break;
            }
        }
        if !out.is_empty() {
            sock.write_all(&out).await?;
            out.clear();
        }
        if close {
            return Ok(());
        }
        let room = node.cfg.max_query_bytes.saturating_sub(inbuf.len());
        if room == 0 {
            out.error(&format!(
                "ERR Protocol error: request larger than the query buffer limit of {} bytes",
                node.cfg.max_query_bytes
            ));
            sock.write_all(&out).await?;
            return Ok(());
        }
        inbuf.reserve(READ_CHUNK_BYTES.min(room));
        if (&mut sock).take(room as u64).read_buf(&mut inbuf).await? == 0 {
            return Ok(());
        }
    }
}

/// Runs one command; true when the connection should close.
fn handle(
    frame: &Frame,
    node: &Node,
    info: &mut ClientInfo,
    out: &mut Vec<u8>,
    multi: &mut Option<Vec<Frame>>,
) -> bool {
    let spec = match lookup(&frame[0]) {
        Some(s) if s.arity_ok(frame.len()) => s,
        Some(s) => {
            out.error(&wrong_args(s.name));
            return false;
        }
        None => {
            out.error(&unknown_command(frame));
            return false;
        }
    };
    if auth::gate(
        node.cfg.requirepass.as_ref(),
        &mut info.auth,
        spec,
        frame,
        out,
    ) {
        return false;
    }
    if is_write(spec.cmd) {
        out.error(READONLY);
        return false;
    }
    if let Some(queue) = multi {
        match spec.cmd {
            Cmd::Exec => {
                let queued = std::mem::take(queue);
                *multi = None;
                out.array(queued.len());
                let st = node.lock_state();
                for f in &queued {
                    let s = lookup(&f[0]).expect("queued commands were looked up");
                    run_read(s, f, &st, node, info, out);
                }
            }
            Cmd::Discard => {
                *multi = None;
                out.ok();
            }
            Cmd::Multi => out.error("ERR MULTI calls can not be nested"),
            _ => {
                queue.push(frame.clone());
                out.simple("QUEUED");
            }
        }
        return false;
    }
    match spec.cmd {
        Cmd::Multi => {
            *multi = Some(Vec::new());
            out.ok();
        }
        Cmd::Exec => out.error("ERR EXEC without MULTI"),
        Cmd::Discard => out.error("ERR DISCARD without MULTI"),
        Cmd::Quit => {
            out.ok();
            return true;
        }
        _ => {
            let st = node.lock_state();
            run_read(spec, frame, &st, node, info, out);
        }
    }
    false
}

fn run_read(
    spec: &crate::resp::commands::Spec,
    args: &Frame,
    st: &crate::store::KvState,
    node: &Node,
    info: &mut ClientInfo,
    out: &mut Vec<u8>,
) {
    if spec.scope == Scope::Keyspace {
        let ctx = Ctx {
            keyspace: &st.keyspace,
            now_unix_ms: crate::clock::now_unix_ms(),
        };
        // Effects of a read (deleting a key found expired) are the primary's to log.
        let mut effects = Vec::new();
        execute(spec, args, &ctx, out, &mut effects);
        return;
    }
    if connection_cmd(spec, args, info, out) {
        return;
    }
    match spec.cmd {
        Cmd::Info => out.bulk(node.info_text(st).as_bytes()),
        // Nothing to report: `redis-cli` and `redis-benchmark` accept an empty answer.
        Cmd::Config => out.array(0),
        Cmd::Quit => out.ok(),
        Cmd::Logship => {
            out.error("ERR LOGSHIP control commands go to a primary; this node is a standby")
        }
        _ => out.error("ERR this command is not available on a standby"),
    }
}
