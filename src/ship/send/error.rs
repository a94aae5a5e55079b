//! Why a shipment failed ([`ShipError`]), naming the standby.

use crate::ship::protocol::codes::RefuseCode;
use crate::ship::protocol::frame::FrameError;
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
    #[error("standby {addr}: {reason}")]
    Auth { addr: String, reason: String },
    #[error("standby {addr}: {reason}")]
    Tls { addr: String, reason: String },
    #[error("standby {addr}: protocol error: {reason}")]
    Protocol { addr: String, reason: String },
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
    #[error("standby {addr} needs seeding: {reason}")]
    NeedsSeed { addr: String, reason: String },
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
