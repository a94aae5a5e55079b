//! `LOGSHIP` control commands over RESP: what `logship promote --primary` and
//! `logship rejoin --from` ask of a primary.
//!
//! | command | answer (a JSON bulk string) |
//! |---------|-----------------------------|
//! | `LOGSHIP POSITION` | `system_id`, `timeline`, `write_lsn`, `durable_lsn`, `fenced` |
//! | `LOGSHIP HISTORY` | the above plus `history`: the timeline history file's text |
//! | `LOGSHIP FENCE nonce unix_ms proof [SHIPTO addr] [REASON text]` | `fenced_lsn`, `durable_lsn`, `timeline`, `shipped_to[]` |
//! | `LOGSHIP UNFENCE nonce unix_ms proof` | `unfenced_lsn` |
//!
//! FENCE and UNFENCE carry a proof made with the ship key
//! ([`AuthKey::command_proof`]): `nonce` is 32 hex digits used once, `unix_ms`
//! the sender's clock (accepted within [`PROOF_WINDOW_MS`]), `proof` 64 hex
//! digits. A primary without a ship key accepts `-` as the proof.
//!
//! Fencing, in order: every later write is refused (under the keyspace lock, so
//! nothing is logged after the fence LSN); the log is made durable; the fence is
//! written to the control file (a restart will not serve writes again); then a
//! final shipment takes everything durable to the standbys — the configured
//! ones and the one named by `SHIPTO` — before the answer.

mod command;

pub use command::{hex, parse, sign, CommandError, Request, Signed};

use super::db::CommitError;
use super::Shared;
use crate::fs::StdFs;
use crate::node::control::{Control, Fence};
use crate::ship::{ship, Acked, CommandProof, ShipMode, ShipOptions};
use crate::wal::timeline;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;
use std::net::ToSocketAddrs;
use std::sync::Mutex;
use std::time::Duration;

/// `LOGSHIP POSITION`'s answer; `LOGSHIP HISTORY` adds `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionReply {
    /// The cluster's identity, 16 hex digits.
    pub system_id: String,
    pub timeline: u32,
    pub write_lsn: u64,
    pub durable_lsn: u64,
    pub fenced: bool,
    /// With `HISTORY`: the timeline history file's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<String>,
}

impl PositionReply {
    /// The system id as a number; `None` when it is not 16 hex digits.
    pub fn system_id(&self) -> Option<u64> {
        u64::from_str_radix(&self.system_id, 16).ok()
    }
}

/// What the final shipment of a fence did for one standby.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippedTo {
    pub address: String,
    /// Everything below is durable on that standby.
    pub received_lsn: u64,
    /// `ok`, or how the shipment failed.
    pub result: String,
}

/// `LOGSHIP FENCE`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceReply {
    /// Nothing was logged past this LSN, and nothing will be.
    pub fenced_lsn: u64,
    /// Everything below is durable (and was shipped).
    pub durable_lsn: u64,
    pub timeline: u32,
    pub system_id: String,
    pub shipped_to: Vec<ShippedTo>,
}

/// `LOGSHIP UNFENCE`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnfenceReply {
    /// Writes are accepted again from this LSN on.
    pub unfenced_lsn: u64,
}

/// How far a control command's clock may be from the primary's.
pub const PROOF_WINDOW_MS: u64 = 5 * 60_000;
/// Nonces remembered to refuse a replayed proof.
const MAX_SEEN_NONCES: usize = 4096;
/// Longest wait for the log to become durable when fencing.
const DURABLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the final shipment when fencing.
pub const FINAL_SHIPMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The fencing state a primary keeps beside its keyspace.
#[derive(Default)]
pub struct Fencing {
    seen: Mutex<VecDeque<[u8; 16]>>,
    /// One FENCE/UNFENCE at a time.
    busy: tokio::sync::Mutex<()>,
}

impl Fencing {
    /// Checks a signed command against the primary's ship key.
    fn check(&self, shared: &Shared, action: &'static str, s: &Signed) -> Result<(), CommandError> {
        let key = shared.cfg.ship.as_ref().and_then(|c| c.key.as_ref());
        let Some(key) = key else {
            return Ok(());
        };
        let Some(proof) = &s.proof else {
            return Err(CommandError::ProofNeeded { action });
        };
        let skew_ms = crate::clock::now_unix_ms().abs_diff(s.unix_ms);
        if skew_ms > PROOF_WINDOW_MS {
            return Err(CommandError::ClockSkew { action, skew_ms });
        }
        let c = CommandProof {
            action: action.into(),
            nonce: s.nonce,
            unix_ms: s.unix_ms,
            system_id: shared.control.system_id,
            timeline: shared.control.timeline,
        };
        if !key.check_command(&c, proof) {
            tracing::warn!(
                action,
                "refused a LOGSHIP command: its proof does not match this primary's ship key"
            );
            return Err(CommandError::BadProof { action });
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(&s.nonce) {
            return Err(CommandError::Replayed { action });
        }
        if seen.len() >= MAX_SEEN_NONCES {
            seen.pop_front();
        }
        seen.push_back(s.nonce);
        Ok(())
    }
}

/// A typed answer as the JSON a client reads.
fn json<T: Serialize>(r: Result<T, CommandError>) -> Result<Value, CommandError> {
    serde_json::to_value(r?).map_err(CommandError::Json)
}

/// Runs a `LOGSHIP` request: the JSON answer, or the error for the client.
///
/// # Errors
/// [`CommandError`]: a refused proof, a primary not fenced, a failed write of
/// the control file.
pub async fn run(shared: &Shared, req: Request) -> Result<Value, CommandError> {
    match req {
        Request::Position => json(Ok(position(shared))),
        Request::History => {
            let mut v = position(shared);
            let wal_dir = shared.data_dir.join(crate::node::datadir::WAL_DIR);
            let tl = shared.control.timeline;
            let h = timeline::read_history(&StdFs, &wal_dir, tl).map_err(CommandError::History)?;
            v.history = Some(timeline::render(&h));
            json(Ok(v))
        }
        Request::Fence {
            signed,
            ship_to,
            reason,
        } => {
            shared.fencing.check(shared, "FENCE", &signed)?;
            let _one = shared.fencing.busy.lock().await;
            json(fence(shared, ship_to, reason).await)
        }
        Request::Unfence { signed } => {
            shared.fencing.check(shared, "UNFENCE", &signed)?;
            let _one = shared.fencing.busy.lock().await;
            json(unfence(shared).await)
        }
    }
}

fn position(shared: &Shared) -> PositionReply {
    let p = shared.wal.position();
    let fenced = shared.lock_db().fenced.is_some();
    PositionReply {
        system_id: format!("{:016x}", shared.control.system_id),
        timeline: shared.control.timeline,
        write_lsn: p.written_lsn,
        durable_lsn: p.durable_lsn,
        fenced,
        history: None,
    }
}

async fn write_control(shared: &Shared, fenced: Option<Fence>) -> Result<(), CommandError> {
    let c = Control {
        fenced,
        ..shared.control.clone()
    };
    let dir = shared.data_dir.clone();
    tokio::task::spawn_blocking(move || c.write(&StdFs, &dir))
        .await
        .map_err(CommandError::Task)?
        .map_err(CommandError::Control)
}

async fn fence(
    shared: &Shared,
    ship_to: Option<String>,
    reason: String,
) -> Result<FenceReply, CommandError> {
    // Fencing again (a promotion re-run after a cut link) keeps the first
    // fence: its LSN and time are when writes stopped.
    let f = {
        let mut st = shared.lock_db();
        let lsn = st.last_appended_end;
        let f = st
            .fenced
            .get_or_insert_with(|| Fence {
                lsn,
                timeline: shared.control.timeline,
                unix_ms: crate::clock::now_unix_ms(),
                reason: reason.clone(),
            })
            .clone();
        // Blocked clients would wait for pushes that can no longer come.
        let line = CommitError::Fenced(Box::new(f.clone())).to_string();
        st.waiters.fail_all(&line);
        f
    };
    let fence_lsn = f.lsn;
    tracing::warn!(fence_lsn, reason = %reason, "fenced: refusing writes from now on");
    // Every record logged before the fence becomes durable (and so shippable).
    let wal = shared.wal.clone();
    let durable = tokio::time::timeout(
        DURABLE_TIMEOUT,
        tokio::task::spawn_blocking(move || wal.wait_durable(fence_lsn)),
    )
    .await;
    let durable_lsn = shared.wal.position().durable_lsn;
    if !matches!(durable, Ok(Ok(Ok(())))) {
        tracing::error!(
            fence_lsn,
            durable_lsn,
            "fenced, but the log did not become durable up to the fence"
        );
    }
    write_control(shared, Some(f)).await?;
    let mut shipped = Vec::new();
    let configured = ship_to.as_deref().is_none_or(|a| {
        shared
            .shipping
            .addresses()
            .iter()
            .any(|c| same_address(c, a))
    });
    if !configured {
        let addr = ship_to.clone().unwrap_or_default();
        shipped.push(ship_once(shared, &addr).await);
    }
    shared
        .shipping
        .final_shipment(durable_lsn, FINAL_SHIPMENT_TIMEOUT)
        .await;
    for s in shared.shipping.standbys(durable_lsn) {
        shipped.push(ShippedTo {
            address: s.address,
            received_lsn: s.acked_lsn,
            result: s.last_ship_result,
        });
    }
    tracing::warn!(
        fence_lsn,
        durable_lsn,
        "fenced; final shipment done: {}",
        serde_json::to_string(&shipped).unwrap_or_default()
    );
    Ok(FenceReply {
        fenced_lsn: fence_lsn,
        durable_lsn,
        timeline: shared.control.timeline,
        system_id: format!("{:016x}", shared.control.system_id),
        shipped_to: shipped,
    })
}

async fn unfence(shared: &Shared) -> Result<UnfenceReply, CommandError> {
    let lsn = {
        let mut st = shared.lock_db();
        if st.fenced.take().is_none() {
            return Err(CommandError::NotFenced);
        }
        st.last_appended_end
    };
    write_control(shared, None).await?;
    tracing::warn!(lsn, "fence lifted: serving writes again");
    Ok(UnfenceReply { unfenced_lsn: lsn })
}

/// Whether two `host:port` strings name the same socket address.
fn same_address(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let resolve = |s: &str| -> Vec<std::net::SocketAddr> {
        s.to_socket_addrs().map(|i| i.collect()).unwrap_or_default()
    };
    let (ra, rb) = (resolve(a), resolve(b));
    ra.iter().any(|x| rb.contains(x))
}

/// One shipment of everything durable to a standby that is not configured.
async fn ship_once(shared: &Shared, addr: &str) -> ShippedTo {
    let mut opts = ShipOptions::new(addr, shared.cfg.ship.as_ref().and_then(|c| c.key.clone()));
    opts.tls = shared.cfg.ship.as_ref().and_then(|c| c.tls.clone());
    let src = super::shipping::log_source(
        &shared.wal,
        &shared.data_dir,
        shared.control.system_id,
        shared.control.timeline,
    );
    let (tx, rx) = tokio::sync::watch::channel(Acked::default());
    let r = tokio::time::timeout(
        FINAL_SHIPMENT_TIMEOUT,
        ship(&src, &opts, ShipMode::Once, &tx),
    )
    .await;
    let result = match r {
        Ok(Ok(rep)) => format!("ok: shipped up to LSN {}", rep.to_lsn),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out".into(),
    };
    let received_lsn = rx.borrow().received_lsn;
    ShippedTo {
        address: addr.to_string(),
        received_lsn,
        result,
    }
}
