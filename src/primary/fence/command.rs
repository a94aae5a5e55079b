//! The `LOGSHIP` command's words: parsing a request, signing one (the
//! client side), and the errors a client gets back.

use crate::node::control::ControlError;
use crate::ship::{AuthKey, CommandProof};
use crate::wal::WalError;
use bytes::Bytes;

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

/// Why a `LOGSHIP` command was refused or failed. Its text is the RESP error
/// the client gets.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("ERR LOGSHIP takes POSITION, HISTORY, FENCE nonce unix_ms proof [SHIPTO addr] [REASON text], UNFENCE nonce unix_ms proof")]
    Usage,
    #[error("ERR expected: nonce unix_ms proof")]
    Unsigned,
    #[error("ERR {what} is not hex")]
    NotHex { what: &'static str },
    #[error("ERR {what} must be {digits} hex digits")]
    HexLength { what: &'static str, digits: usize },
    #[error("ERR unix_ms is not an integer")]
    Time,
    #[error("ERR syntax error: option without a value")]
    OptionWithoutValue,
    #[error("ERR syntax error: FENCE takes SHIPTO and REASON")]
    UnknownOption,
    #[error("ERR LOGSHIP {action} needs a proof made with this primary's ship key (give promote --auth-key-file)")]
    ProofNeeded { action: &'static str },
    #[error("ERR LOGSHIP {action}: the request's clock is {} s away from this primary's; check the clocks", skew_ms / 1000)]
    ClockSkew { action: &'static str, skew_ms: u64 },
    #[error("ERR LOGSHIP {action}: authentication failed (the proof does not match this primary's ship key, system and timeline)")]
    BadProof { action: &'static str },
    #[error("ERR LOGSHIP {action}: this request was already used")]
    Replayed { action: &'static str },
    #[error("ERR this primary is not fenced")]
    NotFenced,
    #[error("ERR reading the timeline history: {0}")]
    History(#[source] WalError),
    #[error("ERR writing the control file: {0}")]
    Control(#[source] ControlError),
    /// The blocking task writing the control file panicked or was cancelled.
    #[error("ERR {0}")]
    Task(#[source] tokio::task::JoinError),
    #[error("ERR {0}")]
    Json(#[source] serde_json::Error),
}

fn hex_array<const N: usize>(what: &'static str, b: &[u8]) -> Result<[u8; N], CommandError> {
    let s = std::str::from_utf8(b).map_err(|_| CommandError::NotHex { what })?;
    if s.len() != N * 2 {
        return Err(CommandError::HexLength {
            what,
            digits: N * 2,
        });
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16)
            .map_err(|_| CommandError::NotHex { what })?;
    }
    Ok(out)
}

/// Lower-case hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn signed(args: &[Bytes]) -> Result<Signed, CommandError> {
    if args.len() < 3 {
        return Err(CommandError::Unsigned);
    }
    let nonce = hex_array::<16>("nonce", &args[0])?;
    let unix_ms = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or(CommandError::Time)?;
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
/// [`CommandError`] (its text the RESP error) for a malformed command.
pub fn parse(args: &[Bytes]) -> Result<Request, CommandError> {
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
                let val = rest.next().ok_or(CommandError::OptionWithoutValue)?;
                let text = String::from_utf8_lossy(val).into_owned();
                match opt.to_ascii_uppercase().as_slice() {
                    b"SHIPTO" => ship_to = Some(text),
                    b"REASON" => reason = text.replace(['\r', '\n', '\t'], " "),
                    _ => return Err(CommandError::UnknownOption),
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
        _ => Err(CommandError::Usage),
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
