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

use super::Shared;
use crate::fs::StdFs;
use crate::node::control::{Control, Fence};
use crate::ship::{ship, Acked, AuthKey, CommandProof, ShipMode, ShipOptions};
use crate::wal::timeline;
use bytes::Bytes;
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

/// A signed part of a control command.
#[derive(Debug, Clone)]
pub struct Signed {
    pub nonce: [u8; 16],
    pub unix_ms: u64,
    /// `None` for `-` (no key).
    pub proof: Option<[u8; 32]>,
}

/// A parsed `LOGSHIP` command.
#[derive(Debug, Clone)]
pub enum Request {
    Position,
    History,
    Fence {
        signed: Signed,
        ship_to: Option<String>,
        reason: String,
    },
    Unfence {
        signed: Signed,
    },
}

fn hex_array<const N: usize>(what: &str, b: &[u8]) -> Result<[u8; N], String> {
    let s = std::str::from_utf8(b).map_err(|_| format!("ERR {what} is not hex"))?;
    if s.len() != N * 2 {
        return Err(format!("ERR {what} must be {} hex digits", N * 2));
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16)
            .map_err(|_| format!("ERR {what} is not hex"))?;
    }
    Ok(out)
}

/// Lower-case hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn signed(args: &[Bytes]) -> Result<Signed, String> {
    if args.len() < 3 {
        return Err("ERR expected: nonce unix_ms proof".into());
    }
    let nonce = hex_array::<16>("nonce", &args[0])?;
    let unix_ms = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or("ERR unix_ms is not an integer")?;
    let proof = if &args[2][..] == b"-" {
        None
    } else {
        Some(hex_array::<32>("proof", &args[2])?)
    };
    Ok(Signed {
        nonce,
        unix_ms,
        proof,
    })
}

/// Parses `LOGSHIP ...` (the command name included in `args`).
///
/// # Errors
/// The RESP error text for a malformed command.
pub fn parse(args: &[Bytes]) -> Result<Request, String> {
    let sub = args
        .get(1)
        .map(|a| a.to_ascii_uppercase())
        .unwrap_or_default();
    match sub.as_slice() {
        b"POSITION" if args.len() == 2 => Ok(Request::Position),
        b"HISTORY" if args.len() == 2 => Ok(Request::History),
        b"FENCE" => {
            let signed = signed(&args[2..])?;
            let (mut ship_to, mut reason) = (None, String::from("promotion of a standby"));
            let mut rest = args[5.min(args.len())..].iter();
            while let Some(opt) = rest.next() {
                let val = rest
                    .next()
                    .ok_or_else(|| "ERR syntax error: option without a value".to_string())?;
                let text = String::from_utf8_lossy(val).into_owned();
                match opt.to_ascii_uppercase().as_slice() {
                    b"SHIPTO" => ship_to = Some(text),
                    b"REASON" => reason = text.replace(['\r', '\n', '\t'], " "),
                    _ => return Err("ERR syntax error: FENCE takes SHIPTO and REASON".into()),
                }
            }
            Ok(Request::Fence {
                signed,
                ship_to,
                reason,
            })
        }
        b"UNFENCE" if args.len() == 5 => Ok(Request::Unfence {
            signed: signed(&args[2..])?,
        }),
        _ => Err("ERR LOGSHIP takes POSITION, HISTORY, FENCE nonce unix_ms proof [SHIPTO addr] [REASON text], UNFENCE nonce unix_ms proof".into()),
    }
}

/// Makes the proof for a control command to a primary of `system_id` on
/// `timeline` (the client side of [`Signed`]).
pub fn sign(
    key: Option<&AuthKey>,
    action: &str,
    system_id: u64,
    timeline: u32,
) -> (String, String, String) {
    let nonce: [u8; 16] = rand::random();
    let unix_ms = crate::clock::now_unix_ms();
    let proof = key.map_or("-".to_string(), |k| {
        hex(&k.command_proof(&CommandProof {
            action: action.into(),
            nonce,
            unix_ms,
            system_id,
            timeline,
        }))
    });
    (hex(&nonce), unix_ms.to_string(), proof)
}

impl Fencing {
    /// Checks a signed command against the primary's ship key.
    fn check(&self, shared: &Shared, action: &str, s: &Signed) -> Result<(), String> {
        let key = shared.cfg.ship.as_ref().and_then(|c| c.key.as_ref());
        let Some(key) = key else {
            return Ok(());
        };
        let Some(proof) = &s.proof else {
            return Err(format!(
                "ERR LOGSHIP {action} needs a proof made with this primary's ship key (give promote --auth-key-file)"
            ));
        };
        let now = crate::clock::now_unix_ms();
        if now.abs_diff(s.unix_ms) > PROOF_WINDOW_MS {
            return Err(format!(
                "ERR LOGSHIP {action}: the request's clock is {} s away from this primary's; check the clocks",
                now.abs_diff(s.unix_ms) / 1000
            ));
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
            return Err(format!(
                "ERR LOGSHIP {action}: authentication failed (the proof does not match this primary's ship key, system and timeline)"
            ));
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(&s.nonce) {
            return Err(format!(
                "ERR LOGSHIP {action}: this request was already used"
            ));
        }
        if seen.len() >= MAX_SEEN_NONCES {
            seen.pop_front();
        }
        seen.push_back(s.nonce);
        Ok(())
    }
}

/// A typed answer as the JSON a client reads.
fn json<T: Serialize>(r: Result<T, String>) -> Result<Value, String> {
    serde_json::to_value(r?).map_err(|e| format!("ERR {e}"))
}

/// Runs a `LOGSHIP` request: the JSON answer, or a RESP error text.
pub async fn run(shared: &Shared, req: Request) -> Result<Value, String> {
    match req {
        Request::Position => json(Ok(position(shared))),
        Request::History => {
            let mut v = position(shared);
            let wal_dir = shared.data_dir.join(crate::node::datadir::WAL_DIR);
            let tl = shared.control.timeline;
            let h = timeline::read_history(&StdFs, &wal_dir, tl)
                .map_err(|e| format!("ERR reading the timeline history: {e}"))?;
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

async fn write_control(shared: &Shared, fenced: Option<Fence>) -> Result<(), String> {
    let c = Control {
        fenced,
        ..shared.control.clone()
    };
    let dir = shared.data_dir.clone();
    tokio::task::spawn_blocking(move || c.write(&StdFs, &dir))
        .await
        .map_err(|e| format!("ERR {e}"))?
        .map_err(|e| format!("ERR writing the control file: {e}"))
}

async fn fence(
    shared: &Shared,
    ship_to: Option<String>,
    reason: String,
) -> Result<FenceReply, String> {
    // Fencing again (a promotion re-run after a cut link) keeps the first
    // fence: its LSN and time are when writes stopped.
    let f = {
        let mut st = shared.lock_db();
        let lsn = st.last_appended_end;
        st.fenced
            .get_or_insert_with(|| Fence {
                lsn,
                timeline: shared.control.timeline,
                unix_ms: crate::clock::now_unix_ms(),
                reason: reason.clone(),
            })
            .clone()
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

async fn unfence(shared: &Shared) -> Result<UnfenceReply, String> {
    let lsn = {
        let mut st = shared.lock_db();
        if st.fenced.take().is_none() {
            return Err("ERR this primary is not fenced".into());
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
