//! The standby's end of the ship link: authenticates the primary, checks identity
//! and timeline, writes received chunks through the [`Mirror`] (checked, written,
//! fsynced) and acknowledges the durable received LSN.

use super::commit::{GroupCommit, Outcome, PendingChunk};
use super::history::accept_history;
use super::intake::*;
use super::report::DownstreamReport;
use crate::clock::now_unix_ms;
use crate::ship::protocol::auth::{nonce, Challenge, Side};
use crate::ship::protocol::codes::RefuseCode;
use crate::ship::protocol::compress::decompress;
use crate::ship::protocol::frame::{write_frame, FrameError, FrameReader};
use crate::ship::protocol::message::{Message, OLDEST_PRIMARY_VERSION, PROTOCOL_VERSION};
use crate::ship::protocol::tls::ShipIo;
use crate::wal::ChunkError;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Reads a message through a [`FrameReader`]: cancel-safe.
async fn recv_frame<R: tokio::io::AsyncRead + Unpin>(
    frames: &mut FrameReader<R>,
    timeout: Duration,
) -> Result<Message, ReceiveError> {
    let (k, body) = tokio::time::timeout(timeout, frames.read())
        .await
        .map_err(|_| ReceiveError::Timeout)??;
    Ok(Message::decode(k, &body).map_err(ProtocolError::Decode)?)
}

async fn send<S: AsyncWrite + Unpin>(sock: &mut S, m: &Message) -> Result<(), ReceiveError> {
    write_frame(sock, m.kind().into(), &m.encode())
        .await
        .map_err(|e| ReceiveError::Frame(FrameError::Io(e)))?;
    sock.flush()
        .await
        .map_err(|e| ReceiveError::Frame(FrameError::Io(e)))
}

/// One connection from a primary; however it ends, the standby closes its
/// side in order (TLS `close_notify`) before dropping it.
pub(super) async fn handle<S: ShipIo + 'static>(
    mut sock: S,
    peer: SocketAddr,
    shared: &Arc<ReceiverShared>,
) -> Result<(), ReceiveError> {
    let res = session(&mut sock, peer, shared).await;
    crate::ship::protocol::tls::close_link(&mut sock).await;
    res
}

/// The protocol of one connection, from `Hello` to the end of the link.
async fn session<S: ShipIo>(
    sock: &mut S,
    peer: SocketAddr,
    shared: &Arc<ReceiverShared>,
) -> Result<(), ReceiveError> {
    let ns = nonce();
    send(
        &mut *sock,
        &Message::Hello {
            version: PROTOCOL_VERSION,
            nonce: ns,
        },
    )
    .await?;
    let (system_id, timeline, np, link_version) = match recv_auth(&mut *sock).await? {
        Message::Auth {
            version,
            system_id,
            timeline,
            nonce: np,
            proof,
        } => {
            if !(OLDEST_PRIMARY_VERSION..=PROTOCOL_VERSION).contains(&version) {
                let m = format!("the primary speaks ship protocol version {version}, newer than this standby's {PROTOCOL_VERSION}: this standby could not replay its log; upgrade standbys first");
                return Err(refuse(&mut *sock, RefuseCode::Version, m).await);
            }
            if let Some(key) = &shared.key {
                let c = Challenge {
                    standby_nonce: ns,
                    primary_nonce: np,
                    system_id,
                    timeline,
                };
                if !key.check(Side::Primary, &c, &proof) {
                    handshake_failed(shared, peer);
                    return Err(refuse(&mut *sock, RefuseCode::Auth, "authentication failed: the primary's proof does not match this standby's key".into()).await);
                }
            }
            shared.limiter.succeeded(peer.ip());
            (system_id, timeline, np, version)
        }
        other => {
            return Err(ProtocolError::Expected {
                expected: "Auth",
                got: other.name(),
            }
            .into())
        }
    };
    if let Some(why) = shared.refusal() {
        let state = *shared.received.borrow();
        if let Some(m) = timeline_refusal(shared, timeline, state.timeline) {
            return Err(refuse(&mut *sock, RefuseCode::Timeline, m).await);
        }
        return Err(refuse(&mut *sock, RefuseCode::Busy, why).await);
    }
    // The newest authenticated connection wins: an older one may be a dead link
    // the primary has already given up on.
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let older = shared
        .preempt
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .replace(stop_tx);
    if let Some(old) = older {
        let _ = old.send(());
    }
    let _busy = tokio::select! {
        g = tokio::time::timeout(HANDSHAKE_TIMEOUT, shared.busy.lock()) => match g {
            Ok(g) => g,
            Err(_) => {
                let m = "another primary connection is still receiving".to_string();
                return Err(refuse(&mut *sock, RefuseCode::Busy, m).await);
            }
        },
        _ = &mut stop_rx => return Ok(()),
    };
    if let Some(why) = shared.refusal() {
        return Err(refuse(&mut *sock, RefuseCode::Busy, why).await);
    }
    let state = *shared.received.borrow();
    if state.system_id != 0 && state.system_id != system_id {
        let m = format!("system id mismatch: this standby holds system {:016x}, the primary is system {system_id:016x}", state.system_id);
        return Err(refuse(&mut *sock, RefuseCode::SystemId, m).await);
    }
    if let Some(m) = timeline_refusal(shared, timeline, state.timeline) {
        return Err(refuse(&mut *sock, RefuseCode::Timeline, m).await);
    }
    let challenge = Challenge {
        standby_nonce: ns,
        primary_nonce: np,
        system_id,
        timeline,
    };
    let proof = shared
        .key
        .as_ref()
        .map_or([0u8; 32], |k| k.proof(Side::Standby, &challenge));
    let applied = *shared.applied.borrow();
    send(
        &mut *sock,
        &Message::Welcome {
            proof,
            system_id: state.system_id,
            timeline: state.timeline,
            received_lsn: state.received_lsn,
            applied_lsn: applied,
        },
    )
    .await?;
    tracing::info!(
        system_id = format!("{system_id:016x}"),
        timeline,
        from_lsn = state.received_lsn,
        "primary connected"
    );
    let (rd, mut wr) = tokio::io::split(sock);
    let mut frames = FrameReader::new(rd);
    let mut commit = GroupCommit::new(shared.clone());
    let mut report = DownstreamReport::new(shared, link_version);
    let res = receive(
        &mut frames,
        &mut wr,
        shared,
        &mut commit,
        &mut stop_rx,
        &mut report,
        (system_id, timeline),
    )
    .await;
    // However the connection ends, what it wrote is durable before the next
    // one (which resumes from the durable LSN) may start.
    commit.abandon().await;
    res
}

/// Sends the acknowledgement of `durable_lsn`.
async fn ack<W: AsyncWrite + Unpin>(
    wr: &mut W,
    shared: &ReceiverShared,
    durable_lsn: u64,
) -> Result<(), ReceiveError> {
    let applied = *shared.applied.borrow();
    send(
        wr,
        &Message::Ack {
            received_lsn: durable_lsn,
            applied_lsn: applied,
        },
    )
    .await
}

/// Acknowledges a finished batch, or refuses its refused chunk.
async fn batch_done<W: AsyncWrite + Unpin>(
    wr: &mut W,
    shared: &ReceiverShared,
    out: Result<Outcome, Fatal>,
) -> Result<(), ReceiveError> {
    let out = match out {
        Ok(o) => o,
        Err(fatal) => {
            let _ = refuse(wr, RefuseCode::Internal, fatal.to_string()).await;
            return Err(ReceiveError::Fatal(fatal));
        }
    };
    if let Some(e) = out.refused {
        let code = match e {
            ChunkError::Gap { .. } => RefuseCode::Gap,
            ChunkError::SystemId { .. } => RefuseCode::SystemId,
            ChunkError::NoSpace { .. } => RefuseCode::NoSpace,
            _ => RefuseCode::Corrupt,
        };
        return Err(refuse(wr, code, e.to_string()).await);
    }
    ack(wr, shared, out.durable_lsn).await
}

/// The messages after the handshake, until the link ends or a newer
/// connection takes over. Chunks are checked as they arrive and written in
/// batches by `commit`; any other message waits until the chunks before it are
/// durable and acknowledged.
async fn receive<R, W>(
    frames: &mut FrameReader<R>,
    wr: &mut W,
    shared: &Arc<ReceiverShared>,
    commit: &mut GroupCommit,
    stop_rx: &mut tokio::sync::oneshot::Receiver<()>,
    report: &mut DownstreamReport,
    (system_id, timeline): (u64, u32),
) -> Result<(), ReceiveError>
where
    R: tokio::io::AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // The identity is made durable before this connection's first chunk:
    // a standby stopped at any moment after it acknowledged something must
    // find its control file on restart.
    let mut identity_pending = shared.identity.get().cloned();
    loop {
        if let Err(f) = commit.start() {
            return batch_done(wr, shared, Err(f)).await;
        }
        let msg = tokio::select! {
            biased;
            _ = &mut *stop_rx => {
                tracing::info!("a newer connection from the primary took over");
                return Ok(());
            }
            out = commit.finished(), if commit.busy() => {
                match out {
                    Ok(None) => {}
                    Ok(Some(o)) => batch_done(wr, shared, Ok(o)).await?,
                    Err(f) => return batch_done(wr, shared, Err(f)).await,
                }
                tell_downstreams(wr, shared, report).await?;
                continue;
            }
            m = recv_frame(frames, IDLE_TIMEOUT), if commit.has_room() => m?,
        };
        let msg = match msg {
            Message::Chunk {
                encoding,
                header,
                start_lsn,
                end_lsn,
                raw_len,
                primary_durable_lsn,
                data,
                ..
            } => {
                if header.system_id != system_id || header.timeline > timeline {
                    return Err(refuse(wr, RefuseCode::Protocol, format!("chunk of system {:016x} timeline {} on a link of system {system_id:016x} timeline {timeline}", header.system_id, header.timeline)).await);
                }
                if header.timeline != timeline {
                    let closed = shared
                        .closed_timelines
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone();
                    let ended = closed
                        .iter()
                        .find(|(t, _)| *t == header.timeline)
                        .map(|(_, e)| *e);
                    if ended.is_none_or(|e| end_lsn > e) {
                        let m = format!(
                            "chunk of timeline {} up to LSN {end_lsn:#x} is not part of the history of timeline {timeline}",
                            header.timeline
                        );
                        return Err(refuse(wr, RefuseCode::Timeline, m).await);
                    }
                }
                let bytes = match decompress(encoding, data, raw_len) {
                    Ok(b) => b,
                    Err(e) => {
                        return Err(refuse(
                            wr,
                            RefuseCode::Corrupt,
                            format!("chunk at LSN {start_lsn:#x}: {e}"),
                        )
                        .await)
                    }
                };
                if bytes.len() as u64 != end_lsn.saturating_sub(start_lsn) {
                    let m = format!(
                        "chunk at LSN {start_lsn:#x} holds {} bytes, its LSN range {}",
                        bytes.len(),
                        end_lsn.saturating_sub(start_lsn)
                    );
                    return Err(refuse(wr, RefuseCode::Corrupt, m).await);
                }
                if let Some(hook) = identity_pending.take() {
                    let out = match tokio::task::spawn_blocking(move || hook(&header)).await {
                        Ok(r) => r.map_err(Fatal::Identity),
                        Err(source) => Err(Fatal::Task {
                            what: "the identity",
                            source,
                        }),
                    };
                    if let Err(fatal) = out {
                        return batch_done(wr, shared, Err(fatal)).await;
                    }
                }
                commit.push(PendingChunk {
                    header,
                    start_lsn,
                    bytes: Bytes::from(bytes),
                    primary_durable_lsn,
                });
                continue;
            }
            // A continuous link's heartbeat asks for nothing: it does not wait
            // for the chunks before it (under load that would hold up the
            // chunks after it for a whole fsync, once a second).
            Message::Status {
                primary_durable_lsn,
                done: false,
                ..
            } => {
                note_status(shared, primary_durable_lsn);
                tell_downstreams(wr, shared, report).await?;
                continue;
            }
            other => other,
        };
        // Everything before this message is written and acknowledged first.
        match commit.settle().await {
            Ok(Some(out)) => batch_done(wr, shared, Ok(out)).await?,
            Ok(None) => {}
            Err(fatal) => return batch_done(wr, shared, Err(fatal)).await,
        }
        match msg {
            Message::Status {
                primary_durable_lsn,
                done,
                ..
            } => {
                note_status(shared, primary_durable_lsn);
                if done {
                    // Before the Ack: the primary closes the link once the
                    // Ack covers the shipment.
                    tell_downstreams(wr, shared, report).await?;
                    let r = *shared.received.borrow();
                    ack(wr, shared, r.received_lsn).await?;
                }
            }
            Message::History { timeline: tl, text } => {
                if let Err(e) = accept_history(shared, timeline, tl, &text).await {
                    return Err(refuse(wr, RefuseCode::Timeline, e.to_string()).await);
                }
            }
            Message::SnapshotBegin {
                lsn,
                wal_start_lsn,
                total_bytes,
                system_id: sid,
                timeline: tl,
            } => {
                super::seed::receive(frames, shared, lsn, wal_start_lsn, total_bytes, sid, tl)
                    .await?;
            }
            other => {
                return Err(ProtocolError::Unexpected {
                    got: other.name(),
                    during: "from the primary",
                }
                .into())
            }
        }
    }
}

/// Sends the primary a `Downstreams` when the tree changed.
async fn tell_downstreams<W: AsyncWrite + Unpin>(
    wr: &mut W,
    shared: &ReceiverShared,
    report: &mut DownstreamReport,
) -> Result<(), ReceiveError> {
    match report.due(shared) {
        Some(m) => send(wr, &m).await,
        None => Ok(()),
    }
}

/// Takes note of a Status: the primary's durable LSN, and contact.
fn note_status(shared: &ReceiverShared, primary_durable_lsn: u64) {
    shared.received.send_modify(|r| {
        r.primary_durable_lsn = r.primary_durable_lsn.max(primary_durable_lsn);
        r.last_receive_unix_ms = now_unix_ms();
    });
}

/// The refusal message when `timeline` may not be received here.
fn timeline_refusal(shared: &ReceiverShared, timeline: u32, ours: u32) -> Option<String> {
    let closed = shared
        .closed_timelines
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some((tl, end)) = closed.iter().find(|(tl, _)| *tl == timeline) {
        return Some(format!(
            "timeline {tl} ended at LSN {} (promoted); this node is on timeline {ours}",
            crate::wal::format_lsn(*end)
        ));
    }
    if ours != 0 && timeline < ours {
        return Some(format!(
            "the primary is on timeline {timeline}, older than this node's timeline {ours}"
        ));
    }
    None
}
