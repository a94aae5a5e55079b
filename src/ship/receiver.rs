//! The standby's end of the ship link: authenticates the primary, checks identity
//! and timeline, writes received chunks through the [`Mirror`] (checked, written,
//! fsynced) and acknowledges the durable received LSN.

pub use super::accept::serve;
use super::auth::{nonce, AuthKey, Challenge, Side};
use super::commit::{Fatal, GroupCommit, Outcome, PendingChunk};
use super::frame::{
    read_frame_limited, write_frame, FrameError, FrameReader, MAX_HANDSHAKE_FRAME_BYTES,
};
use super::limit::{HandshakeLimiter, LimitPolicy};
use super::message::{decompress, Message, RefuseCode, PROTOCOL_VERSION};
use super::seed::SeedSink;
use super::tls::{ShipIo, ShipTls};
use crate::clock::now_unix_ms;
use crate::wal::format::SegmentHeader;
use crate::wal::{ChunkError, Mirror};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

/// How long a handshake step may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connected primary may stay silent.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the standby knows about the log it receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    /// Everything below is durable on the standby.
    pub received_lsn: u64,
    /// Everything below is verified and written (`>= received_lsn`; the bytes
    /// above `received_lsn` are being fsynced): replay applies up to here.
    pub written_lsn: u64,
    /// The primary's durable LSN at the last message from it.
    pub primary_durable_lsn: u64,
    /// When the last chunk or status arrived.
    pub last_receive_unix_ms: u64,
    /// Append time of the newest received record.
    pub last_record_unix_ms: u64,
    /// System id of the log (0 while empty).
    pub system_id: u64,
    /// Timeline of the newest received segment (0 while empty).
    pub timeline: u32,
}

impl Received {
    /// Where replay may apply up to: everything verified and written, durable
    /// or being fsynced.
    pub fn replayable_lsn(&self) -> u64 {
        self.written_lsn.max(self.received_lsn)
    }
}

/// Takes freshly received chunks straight to replay (see
/// [`ReceiverShared::set_inline_apply`]).
pub trait InlineApply: Send + Sync {
    /// Offered each small chunk once it is checked and written (its fsync may
    /// still be under way), on the receiving task: applies its records now if
    /// replay is exactly at `start_lsn` and nothing holds them back, and
    /// otherwise leaves them to replay, which reads them from the log.
    fn offer(&self, header: &SegmentHeader, start_lsn: u64, bytes: &Bytes);
}

/// Makes a standby's identity durable before it keeps any log: called (on a
/// blocking thread) with the header of the first chunk each connection
/// brings, before that chunk is written or acknowledged. It must be cheap
/// once the identity is on disk, and returns the error that stops the
/// standby when it cannot be written.
pub type IdentityHook = Arc<dyn Fn(&SegmentHeader) -> Result<(), String> + Send + Sync>;

/// Called with each refusal: its code, the peer and the message.
pub type RefuseHook = Arc<dyn Fn(RefuseCode, &str, &str) + Send + Sync>;

/// State shared between the receiver, the replayer and status.
pub struct ReceiverShared {
    pub mirror: Arc<Mutex<Mirror>>,
    pub received: watch::Sender<Received>,
    /// The replayer publishes its applied LSN here.
    pub applied: watch::Receiver<u64>,
    /// `None` only with `--insecure-no-auth`.
    pub key: Option<AuthKey>,
    /// Seeding target for a standby that needs a snapshot.
    pub seed: Option<Arc<dyn SeedSink>>,
    /// Timelines this node knows to be closed: `(timeline, end_lsn)`.
    pub closed_timelines: Mutex<Vec<(u32, u64)>>,
    /// Set while the node is being promoted, and after: every primary is
    /// refused with this text (or the closed timeline's, when it names one).
    refusing: Mutex<Option<String>>,
    /// Told of every refusal (code, peer, message): event hooks.
    refuse_hook: Mutex<Option<RefuseHook>>,
    /// TLS on the link; `None`: plain TCP.
    pub tls: Option<ShipTls>,
    /// Failed handshakes per peer IP.
    pub limiter: HandshakeLimiter,
    /// Held by the connection that is receiving.
    busy: tokio::sync::Mutex<()>,
    /// Where small chunks go once written, besides the log.
    inline_apply: std::sync::OnceLock<Arc<dyn InlineApply>>,
    /// Makes the identity durable before the first chunk (see [`IdentityHook`]).
    identity: std::sync::OnceLock<IdentityHook>,
    /// Tells the receiving connection to give way to a newer one.
    preempt: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    /// How the last shipment that ended badly ended: when (Unix ms) and why.
    last_error: Mutex<Option<(u64, String)>>,
}

impl ReceiverShared {
    /// Records how a shipment ended badly (for status).
    pub(super) fn record_error(&self, what: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some((now_unix_ms(), what));
    }

    /// When (Unix ms) and how the last shipment that ended badly ended.
    pub fn last_error(&self) -> Option<(u64, String)> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Tells `hook` of every refusal from now on (it must not block).
    pub fn on_refuse(&self, hook: RefuseHook) {
        *self.refuse_hook.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// The refusal hook, if one is set.
    pub(super) fn refuse_hook(&self) -> Option<RefuseHook> {
        self.refuse_hook
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Shared state around an opened mirror.
    pub fn new(
        mirror: Mirror,
        applied: watch::Receiver<u64>,
        key: Option<AuthKey>,
        seed: Option<Arc<dyn SeedSink>>,
    ) -> Arc<ReceiverShared> {
        ReceiverShared::with_tls(mirror, applied, key, seed, None)
    }

    /// Shared state around an opened mirror, receiving over TLS when `tls` is set.
    pub fn with_tls(
        mirror: Mirror,
        applied: watch::Receiver<u64>,
        key: Option<AuthKey>,
        seed: Option<Arc<dyn SeedSink>>,
        tls: Option<ShipTls>,
    ) -> Arc<ReceiverShared> {
        let r = Received {
            received_lsn: mirror.durable_lsn(),
            written_lsn: mirror.durable_lsn(),
            last_record_unix_ms: mirror.last_timestamp_unix_ms(),
            system_id: mirror.system_id().unwrap_or(0),
            timeline: mirror.timeline().unwrap_or(0),
            ..Received::default()
        };
        Arc::new(ReceiverShared {
            mirror: Arc::new(Mutex::new(mirror)),
            received: watch::channel(r).0,
            applied,
            key,
            seed,
            closed_timelines: Mutex::new(Vec::new()),
            refusing: Mutex::new(None),
            refuse_hook: Mutex::new(None),
            tls,
            limiter: HandshakeLimiter::new(LimitPolicy::default()),
            busy: tokio::sync::Mutex::new(()),
            inline_apply: std::sync::OnceLock::new(),
            identity: std::sync::OnceLock::new(),
            preempt: Mutex::new(None),
            last_error: Mutex::new(None),
        })
    }

    /// Hands each small chunk, once written, to `apply` as well: when replay
    /// is caught up it applies the records right away, which spares a
    /// freshly shipped write the hand-over to the replay thread (continuous
    /// shipping). Set once.
    pub fn set_inline_apply(&self, apply: Arc<dyn InlineApply>) {
        let _ = self.inline_apply.set(apply);
    }

    /// Makes the identity durable before the first chunk of each connection
    /// is written (see [`IdentityHook`]). Set once.
    pub fn set_identity_hook(&self, hook: IdentityHook) {
        let _ = self.identity.set(hook);
    }

    /// The inline applier, if one is set.
    pub(super) fn inline_apply(&self) -> Option<&Arc<dyn InlineApply>> {
        self.inline_apply.get()
    }
}

impl ReceiverShared {
    /// Stops receiving: refuses new primaries with `why`, makes the receiving
    /// connection give way, and waits (up to `timeout`) until no chunk is being
    /// written. Receipt stays closed until [`reopen`](Self::reopen).
    ///
    /// # Errors
    /// `Err` with a message when a chunk is still being written at the timeout.
    pub async fn close(&self, why: String, timeout: Duration) -> Result<(), String> {
        *self.refusing.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        if let Some(tx) = self
            .preempt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = tx.send(());
        }
        match tokio::time::timeout(timeout, self.busy.lock()).await {
            Ok(_guard) => Ok(()),
            Err(_) => Err("a shipment is still being written".into()),
        }
    }

    /// Receives again after [`close`](Self::close).
    pub fn reopen(&self) {
        *self.refusing.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// After promotion: the node is a primary on `timeline`, and `closed` are
    /// the timelines its history ends; every shipment is refused from now on.
    pub fn promoted(&self, timeline: u32, closed: Vec<(u32, u64)>) {
        *self
            .closed_timelines
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = closed;
        self.received.send_modify(|r| r.timeline = timeline);
        *self.refusing.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!(
            "this node was promoted: it is a primary on timeline {timeline} and receives no shipments"
        ));
    }

    fn refusal(&self) -> Option<String> {
        self.refusing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Why a shipment ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("timed out waiting for the primary")]
    Timeout,
    #[error("refused the primary: {message}")]
    Refused { code: RefuseCode, message: String },
    /// One side uses TLS, the other does not.
    #[error("{0}")]
    Mismatch(String),
    #[error("{0}")]
    Tls(String),
    /// The peer IP is blocked after failed handshakes (logged once per burst).
    #[error("refused: too many failed handshakes")]
    Blocked,
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Writing the received log failed: the standby must stop.
    #[error("fatal: {0}")]
    Fatal(String),
}

pub(super) async fn refuse<S: AsyncWrite + Unpin>(
    sock: &mut S,
    code: RefuseCode,
    message: String,
) -> ReceiveError {
    let m = Message::Refuse {
        code,
        message: message.clone(),
    };
    let _ = write_frame(sock, m.kind(), &m.encode()).await;
    let _ = sock.flush().await;
    ReceiveError::Refused { code, message }
}

/// Reads the first message of a link, before the peer is authenticated: its
/// frame may be at most [`MAX_HANDSHAKE_FRAME_BYTES`].
pub(super) async fn recv_handshake<S: tokio::io::AsyncRead + Unpin>(
    sock: &mut S,
    timeout: Duration,
) -> Result<Message, ReceiveError> {
    let (k, body) =
        tokio::time::timeout(timeout, read_frame_limited(sock, MAX_HANDSHAKE_FRAME_BYTES))
            .await
            .map_err(|_| ReceiveError::Timeout)??;
    Message::decode(k, &body).map_err(|e| ReceiveError::Protocol(e.to_string()))
}

/// Reads a message through a [`FrameReader`]: cancel-safe.
async fn recv_frame<R: tokio::io::AsyncRead + Unpin>(
    frames: &mut FrameReader<R>,
    timeout: Duration,
) -> Result<Message, ReceiveError> {
    let (k, body) = tokio::time::timeout(timeout, frames.read())
        .await
        .map_err(|_| ReceiveError::Timeout)??;
    Message::decode(k, &body).map_err(|e| ReceiveError::Protocol(e.to_string()))
}

async fn send<S: AsyncWrite + Unpin>(sock: &mut S, m: &Message) -> Result<(), ReceiveError> {
    write_frame(sock, m.kind(), &m.encode())
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
    super::accept::close(&mut sock).await;
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
    let (system_id, timeline, np) = match super::accept::recv_auth(&mut *sock).await? {
        Message::Auth {
            version,
            system_id,
            timeline,
            nonce: np,
            proof,
        } => {
            if version != PROTOCOL_VERSION {
                let m = format!("protocol version {version} is not supported (this standby speaks {PROTOCOL_VERSION})");
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
                    super::accept::handshake_failed(shared, peer);
                    return Err(refuse(&mut *sock, RefuseCode::Auth, "authentication failed: the primary's proof does not match this standby's key".into()).await);
                }
            }
            shared.limiter.succeeded(peer.ip());
            (system_id, timeline, np)
        }
        other => {
            return Err(ReceiveError::Protocol(format!(
                "expected Auth, got {}",
                other.name()
            )))
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
    let res = receive(
        &mut frames,
        &mut wr,
        shared,
        &mut commit,
        &mut stop_rx,
        system_id,
        timeline,
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
        Err(Fatal(m)) => {
            let _ = refuse(wr, RefuseCode::Internal, m.clone()).await;
            return Err(ReceiveError::Fatal(m));
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
    system_id: u64,
    timeline: u32,
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
                continue;
            }
            m = recv_frame(frames, IDLE_TIMEOUT), if commit.has_room() => m?,
        };
        let msg = match msg {
            Message::Chunk {
                compressed,
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
                let bytes = match decompress(compressed, data, raw_len) {
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
                    let out = tokio::task::spawn_blocking(move || hook(&header))
                        .await
                        .unwrap_or_else(|e| Err(format!("the identity task failed: {e}")));
                    if let Err(m) = out {
                        return batch_done(wr, shared, Err(Fatal(m))).await;
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
                    let r = *shared.received.borrow();
                    ack(wr, shared, r.received_lsn).await?;
                }
            }
            Message::History { timeline: tl, text } => {
                if let Err(m) = accept_history(shared, timeline, tl, &text).await {
                    return Err(refuse(wr, RefuseCode::Timeline, m).await);
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
                return Err(ReceiveError::Protocol(format!(
                    "unexpected {} from the primary",
                    other.name()
                )))
            }
        }
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

/// Checks a primary's timeline history against what this standby holds, then
/// installs it durably and fences the timelines it closes.
async fn accept_history(
    shared: &ReceiverShared,
    link_timeline: u32,
    timeline: u32,
    text: &str,
) -> Result<(), String> {
    use crate::wal::timeline;
    if timeline != link_timeline {
        return Err(format!(
            "history of timeline {timeline} on a link of timeline {link_timeline}"
        ));
    }
    let (fs, dir) = {
        let m = shared.mirror.lock().unwrap_or_else(|p| p.into_inner());
        (m.fs().clone(), m.dir().to_path_buf())
    };
    let path = dir.join(timeline::history_file_name(timeline));
    let history = timeline::parse(&path, text).map_err(|e| e.to_string())?;
    let state = *shared.received.borrow();
    if state.timeline != 0 && state.timeline < timeline {
        match history.iter().find(|s| s.timeline == state.timeline) {
            Some(s) if state.received_lsn > s.switch_lsn => {
                return Err(format!(
                    "this standby received timeline {} up to LSN {}, past where that timeline ended ({}) in the primary's history: it diverged and must be rejoined or re-seeded",
                    state.timeline,
                    crate::wal::format_lsn(state.received_lsn),
                    crate::wal::format_lsn(s.switch_lsn)
                ));
            }
            Some(_) => {}
            None => {
                return Err(format!(
                    "this standby is on timeline {}, which is not in the history of the primary's timeline {timeline}",
                    state.timeline
                ))
            }
        }
    }
    let h = history.clone();
    tokio::task::spawn_blocking(move || timeline::install(&*fs, &dir, timeline, &h))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    *shared
        .closed_timelines
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = timeline::closed(&history);
    Ok(())
}
