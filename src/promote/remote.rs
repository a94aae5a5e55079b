//! Talking to a primary over RESP with the `LOGSHIP` control commands (see
//! [`crate::primary::fence`]): its position, its timeline history, a fence with
//! a final shipment, and lifting a fence.

use crate::client::ClientError;
use crate::primary::fence::{sign, FenceReply, PositionReply, UnfenceReply};
use crate::ship::AuthKey;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// How long connecting to the primary may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the primary could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot reach the primary at {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("the primary at {addr} refused: {reason}")]
    Refused { addr: String, reason: String },
}

/// A connection to a primary's RESP port.
pub struct Primary {
    addr: String,
    conn: redis::Connection,
}

impl Primary {
    /// Connects to the primary at `addr` (`host:port`); each answer may take up
    /// to `timeout`.
    ///
    /// # Errors
    /// [`RemoteError::Unreachable`].
    pub fn connect(addr: &str, timeout: Duration) -> Result<Primary, RemoteError> {
        let unreachable = |reason: String| RemoteError::Unreachable {
            addr: addr.to_string(),
            reason,
        };
        let target = format!("redis://{addr}/");
        let answer_timeout = timeout.max(Duration::from_secs(1));
        // The client library's connection set-up (which may send commands of its
        // own) runs on a thread, so a peer that accepts and never answers cannot
        // hold this process: it is reported unreachable after the timeout.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = redis::Client::open(target).and_then(|c| {
                let conn = c.get_connection_with_timeout(CONNECT_TIMEOUT)?;
                conn.set_read_timeout(Some(answer_timeout))?;
                conn.set_write_timeout(Some(answer_timeout))?;
                Ok(conn)
            });
            let _ = tx.send(r);
        });
        let conn = match rx.recv_timeout(CONNECT_TIMEOUT + answer_timeout) {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(unreachable(
                    ClientError::from_redis(addr, &e).reason().to_string(),
                ))
            }
            Err(_) => return Err(unreachable("no answer".into())),
        };
        Ok(Primary {
            addr: addr.to_string(),
            conn,
        })
    }

    fn call<T: DeserializeOwned>(&mut self, args: &[&str]) -> Result<T, RemoteError> {
        let mut cmd = redis::cmd("LOGSHIP");
        for a in args {
            cmd.arg(*a);
        }
        let text: String = cmd.query(&mut self.conn).map_err(|e| {
            let c = ClientError::from_redis(&self.addr, &e);
            let reason = c.reason().to_string();
            if c.is_unreachable() {
                RemoteError::Unreachable {
                    addr: self.addr.clone(),
                    reason,
                }
            } else {
                RemoteError::Refused {
                    addr: self.addr.clone(),
                    reason,
                }
            }
        })?;
        serde_json::from_str(&text).map_err(|e| RemoteError::Refused {
            addr: self.addr.clone(),
            reason: format!("unreadable answer: {e}"),
        })
    }

    /// `LOGSHIP POSITION`: system id, timeline, write/durable LSN, fenced.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn position(&mut self) -> Result<PositionReply, RemoteError> {
        self.call(&["POSITION"])
    }

    /// `LOGSHIP HISTORY`: the position plus the timeline history's text.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn history(&mut self) -> Result<PositionReply, RemoteError> {
        self.call(&["HISTORY"])
    }

    /// Fences the primary and has it ship everything durable (also to
    /// `ship_to`, a standby's ship address) before answering.
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn fence(
        &mut self,
        key: Option<&AuthKey>,
        ship_to: Option<&str>,
        reason: &str,
    ) -> Result<FenceReply, RemoteError> {
        let (sid, tl) = self.identity()?;
        let (nonce, ms, proof) = sign(key, "FENCE", sid, tl);
        let mut args = vec!["FENCE", &nonce, &ms, &proof, "REASON", reason];
        if let Some(a) = ship_to {
            args.extend(["SHIPTO", a]);
        }
        self.call(&args)
    }

    /// Lifts a fence (a promotion that did not go ahead).
    ///
    /// # Errors
    /// [`RemoteError`].
    pub fn unfence(&mut self, key: Option<&AuthKey>) -> Result<UnfenceReply, RemoteError> {
        let (sid, tl) = self.identity()?;
        let (nonce, ms, proof) = sign(key, "UNFENCE", sid, tl);
        self.call(&["UNFENCE", &nonce, &ms, &proof])
    }

    fn identity(&mut self) -> Result<(u64, u32), RemoteError> {
        let p = self.position()?;
        Ok((p.system_id().unwrap_or(0), p.timeline))
    }
}
