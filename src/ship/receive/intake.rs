//! The standby's receiving state, shared by its connections, its group
//! commit, seeding and the node around them: what has been received
//! ([`Received`]), the mirror it goes into, the hooks the node sets (inline
//! apply, identity, refusals, seeding), how a shipment may end
//! ([`ReceiveError`]), and the first steps of a handshake.

use super::limit::{HandshakeLimiter, LimitPolicy};
use crate::clock::now_unix_ms;
use crate::ship::protocol::auth::AuthKey;
use crate::ship::protocol::codes::RefuseCode;
use crate::ship::protocol::frame::{
    read_frame_limited, write_frame, FrameError, MAX_HANDSHAKE_FRAME_BYTES,
};
use crate::ship::protocol::message::{DecodeError, Message};
use crate::ship::protocol::seed::SeedSink;
use crate::ship::protocol::tls::{looks_like_tls, HandshakeError, ShipIo, ShipTls};
use crate::ship::protocol::tree::DownstreamTree;
use crate::wal::format::SegmentHeader;
use crate::wal::{Mirror, Record, WalError};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;
use tokio::io::AsyncReadExt;
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
    /// Offered the records of small chunks once they are checked and written
    /// (their fsync may still be under way), on the receiving task: applies
    /// them now if replay is exactly at `start_lsn` and nothing holds them
    /// back, and otherwise leaves them to replay, which reads them from the
    /// log.
    fn offer(&self, start_lsn: u64, records: &[Record]);
}

/// Makes a standby's identity durable before it keeps any log: called (on a
/// blocking thread) with the header of the first chunk each connection
/// brings, before that chunk is written or acknowledged. It must be cheap
/// once the identity is on disk, and returns the error that stops the
/// standby when it cannot be written (the node's own type: this module knows
/// nothing of the node).
pub type IdentityHook = Arc<dyn Fn(&SegmentHeader) -> Result<(), HookError> + Send + Sync>;

/// The error of an [`IdentityHook`].
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// What this node knows of the standbys it ships to, for its primary
/// (`Downstreams`); set by a cascading standby.
pub type DownstreamsHook = Arc<dyn Fn() -> DownstreamTree + Send + Sync>;

/// Called with each refusal: its code, the peer and the message.
pub type RefuseHook = Arc<dyn Fn(RefuseCode, &str, &str) + Send + Sync>;

/// State shared between the receiver, the replayer and status.
pub struct ReceiverShared {
    pub mirror: Arc<Mutex<Mirror>>,
    pub received: watch::Sender<Received>,
    /// `received_lsn`, told at every advance: `received` wakes its watchers
    /// only when replay has something to apply, and a cascade ships what is
    /// durable as soon as it is.
    pub durable: watch::Sender<u64>,
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
    pub(super) busy: tokio::sync::Mutex<()>,
    /// Where small chunks go once written, besides the log.
    inline_apply: std::sync::OnceLock<Arc<dyn InlineApply>>,
    /// Makes the identity durable before the first chunk (see [`IdentityHook`]).
    pub(super) identity: std::sync::OnceLock<IdentityHook>,
    /// Tells what this node knows of its downstreams (see [`DownstreamsHook`]).
    downstreams: std::sync::OnceLock<DownstreamsHook>,
    /// Tells the receiving connection to give way to a newer one.
    pub(super) preempt: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    /// How the last shipment that ended badly ended: when (Unix ms) and why.
    last_error: Mutex<Option<(u64, String)>>,
    /// Shipments in a row that ended badly (a cut link, say); a clean end
    /// starts it over.
    ended_badly_in_row: std::sync::atomic::AtomicU64,
}

impl ReceiverShared {
    /// Records how a shipment ended badly (for status).
    pub fn record_error(&self, what: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some((now_unix_ms(), what));
    }

    /// Counts a shipment that ended badly; returns how many did in a row.
    pub(super) fn ended_badly(&self) -> u64 {
        use std::sync::atomic::Ordering;
        self.ended_badly_in_row.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A shipment ended cleanly: the next bad end is the first in a row.
    pub(super) fn ended_cleanly(&self) {
        use std::sync::atomic::Ordering;
        self.ended_badly_in_row.store(0, Ordering::Relaxed);
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
            durable: watch::channel(r.received_lsn).0,
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
            downstreams: std::sync::OnceLock::new(),
            preempt: Mutex::new(None),
            last_error: Mutex::new(None),
            ended_badly_in_row: Default::default(),
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

    /// Tells each primary of protocol version 3 or newer what this node knows
    /// of the standbys it ships to.
    pub fn set_downstreams_hook(&self, hook: DownstreamsHook) {
        let _ = self.downstreams.set(hook);
    }

    pub(super) fn downstreams_hook(&self) -> Option<&DownstreamsHook> {
        self.downstreams.get()
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
    /// [`StillWriting`] when a chunk is still being written at the timeout.
    pub async fn close(&self, why: String, timeout: Duration) -> Result<(), StillWriting> {
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
            Err(_) => Err(StillWriting { timeout }),
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

    /// Why receipt is closed, while it is.
    pub fn refusal(&self) -> Option<String> {
        self.refusing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Receipt did not stop in time: [`ReceiverShared::close`].
#[derive(Debug, thiserror::Error)]
#[error("a shipment is still being written (after {timeout:?})")]
pub struct StillWriting {
    pub timeout: Duration,
}

/// Why a shipment ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("timed out waiting for the primary")]
    Timeout,
    /// The standby refused the primary; `message` is what it was told.
    #[error("refused the primary: {message}")]
    Refused { code: RefuseCode, message: String },
    /// One side uses TLS, the other does not.
    #[error("{0}")]
    Mismatch(Mismatch),
    #[error(transparent)]
    Tls(#[from] HandshakeError),
    /// The peer IP is blocked after failed handshakes (logged once per burst).
    #[error("refused: too many failed handshakes")]
    Blocked,
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// What was received cannot be stored: the standby must stop.
    #[error("fatal: {0}")]
    Fatal(#[from] Fatal),
}

/// One end of the ship link uses TLS, the other does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("the primary speaks TLS, but this standby was started without --tls-cert/--tls-key/--tls-ca")]
    PrimaryTls,
    #[error("this standby requires TLS on the ship link, but the primary is not using it: start the primary with --tls-cert, --tls-key and --tls-ca")]
    PrimaryPlain,
}

/// A primary that does not follow the protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("expected {expected}, got {got}")]
    Expected {
        expected: &'static str,
        got: &'static str,
    },
    #[error("unexpected {got} {during}")]
    Unexpected {
        got: &'static str,
        during: &'static str,
    },
    #[error("this node does not accept snapshots")]
    NoSeeding,
    #[error("snapshot of {total_bytes} bytes at LSN {lsn:#x} with WAL from {wal_start_lsn:#x} is not acceptable")]
    SnapshotSize {
        total_bytes: u64,
        lsn: u64,
        wal_start_lsn: u64,
    },
    #[error("snapshot longer than announced")]
    SnapshotLong,
    #[error(
        "snapshot damaged in transit ({got} of {total_bytes} bytes, checksum mismatch or short)"
    )]
    SnapshotDamaged { got: u64, total_bytes: u64 },
}

/// Why a standby must stop receiving: what arrived cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    #[error("cannot write the received log: {0}")]
    WriteLog(#[source] WalError),
    /// The node could not make its identity durable ([`IdentityHook`]).
    #[error("{0}")]
    Identity(#[source] HookError),
    #[error("cannot store the snapshot: {0}")]
    StoreSnapshot(#[source] Blocking),
    #[error("cannot install the snapshot: {0}")]
    InstallSnapshot(#[source] Blocking),
    #[error("cannot restart the received log: {0}")]
    RestartLog(#[source] Blocking),
    /// The ship listener could not be handed to the receiving thread.
    #[error("ship listener: {0}")]
    Listener(#[source] std::io::Error),
    /// A task writing, fsyncing or making the identity durable panicked.
    #[error("{what} task failed: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Blocking disk work that failed, or whose task did.
#[derive(Debug, thiserror::Error)]
pub enum Blocking {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
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
    let _ = write_frame(sock, m.kind().into(), &m.encode()).await;
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
    Ok(Message::decode(k, &body).map_err(ProtocolError::Decode)?)
}

/// Reads the `Auth` frame, recognising a TLS handshake where it should be.
pub(super) async fn recv_auth<S: ShipIo>(sock: &mut S) -> Result<Message, ReceiveError> {
    let mut head = [0u8; 4];
    tokio::time::timeout(HANDSHAKE_TIMEOUT, sock.read_exact(&mut head))
        .await
        .map_err(|_| ReceiveError::Timeout)?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => ReceiveError::Frame(FrameError::Closed),
            _ => ReceiveError::Frame(FrameError::Io(e)),
        })?;
    if looks_like_tls(&head) {
        return Err(ReceiveError::Mismatch(Mismatch::PrimaryTls));
    }
    let mut whole = (&head[..]).chain(&mut *sock);
    recv_handshake(&mut whole, HANDSHAKE_TIMEOUT).await
}

/// Records a failed handshake from `peer`; logs once when it starts a block.
pub(super) fn handshake_failed(shared: &ReceiverShared, peer: SocketAddr) {
    if let Some(b) = shared.limiter.failed(peer.ip(), Instant::now()) {
        tracing::warn!(
            "authentication failed from {}: {} failures in the last {} s; refusing for {} s",
            peer.ip(),
            b.failures,
            b.window.as_secs(),
            b.block.as_secs()
        );
    }
}
