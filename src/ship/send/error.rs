//! Why a shipment failed ([`ShipError`]), naming the standby.

use crate::ship::protocol::codes::RefuseCode;
use crate::ship::protocol::frame::FrameError;
use crate::ship::protocol::message::{DecodeError, OLDEST_STANDBY_VERSION, PROTOCOL_VERSION};
use crate::ship::protocol::tls::HandshakeError;
use crate::wal::WalError;

/// Why a shipment failed.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error("cannot connect to standby {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("standby {addr}: timed out waiting for {what}")]
    Timeout { addr: String, what: &'static str },
    #[error("standby {addr} refused: {message}")]
    Refused {
        addr: String,
        code: RefuseCode,
        message: String,
    },
    #[error("standby {addr}: the standby could not prove it holds the shared key")]
    Auth { addr: String },
    #[error("standby {addr}: {source}")]
    Tls {
        addr: String,
        #[source]
        source: HandshakeError,
    },
    #[error("standby {addr}: protocol error: {violation}")]
    Protocol {
        addr: String,
        #[source]
        violation: Violation,
    },
    #[error("standby {addr} is ahead of this primary: it has received up to LSN {standby:#x}, this primary's durable LSN is {primary:#x}")]
    StandbyAhead {
        addr: String,
        standby: u64,
        primary: u64,
    },
    #[error("standby {addr} diverged: it received timeline {timeline} up to LSN {received_lsn:#x}, but that timeline ended at {} in this primary's history; rejoin or re-seed it", switch_lsn.map_or("an LSN not in this history".to_string(), |l| format!("LSN {l:#x}")))]
    Diverged {
        addr: String,
        timeline: u32,
        received_lsn: u64,
        switch_lsn: Option<u64>,
    },
    #[error("standby {addr} needs seeding: {why}")]
    NeedsSeed {
        addr: String,
        #[source]
        why: NoSeed,
    },
    #[error("standby {addr}: reading the log: {source}")]
    Wal {
        addr: String,
        #[source]
        source: WalError,
    },
    #[error("standby {addr}: link failed: {source}")]
    Link {
        addr: String,
        #[source]
        source: FrameError,
    },
}

/// How a standby broke the protocol (or the link under it did).
#[derive(Debug, thiserror::Error)]
pub enum Violation {
    /// Reading the standby's messages failed.
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("the standby speaks ship protocol version {standby}, older than version {OLDEST_STANDBY_VERSION}, the oldest this primary (version {PROTOCOL_VERSION}) ships to: it could not replay every record this primary logs; upgrade standbys first")]
    Version { standby: u16 },
    #[error("expected {expected}, got {got}")]
    Expected {
        expected: &'static str,
        got: &'static str,
    },
    #[error("the primary's log closed")]
    LogClosed,
}

/// Why a standby that needs a snapshot cannot be seeded.
#[derive(Debug, thiserror::Error)]
pub enum NoSeed {
    #[error("its position is older than this primary's oldest WAL and no snapshots are available")]
    NoSnapshots,
    #[error("snapshot task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    #[error("reading the latest snapshot: {0}")]
    Read(#[source] std::io::Error),
    #[error("no snapshot exists yet")]
    NoneYet,
    #[error("the WAL after snapshot LSN {lsn:#x} is no longer retained")]
    NotRetained { lsn: u64 },
}

impl ShipError {
    /// A short, stable reason label for metrics and status.
    pub fn reason(&self) -> &'static str {
        match self {
            ShipError::Connect { .. } => "connect",
            ShipError::Timeout { .. } => "timeout",
            ShipError::Refused { code, .. } => match code {
                RefuseCode::Auth => "auth",
                RefuseCode::SystemId => "system_id",
                RefuseCode::Timeline => "timeline",
                RefuseCode::Gap => "gap",
                RefuseCode::Corrupt => "corrupt",
                RefuseCode::NoSpace => "no_space",
                _ => "refused",
            },
            ShipError::Auth { .. } => "auth",
            ShipError::Tls { .. } => "tls",
            ShipError::Protocol { .. } => "protocol",
            ShipError::StandbyAhead { .. } => "standby_ahead",
            ShipError::NeedsSeed { .. } => "needs_seed",
            ShipError::Diverged { .. } => "diverged",
            ShipError::Wal { .. } => "wal",
            ShipError::Link { .. } => "link",
        }
    }
}
