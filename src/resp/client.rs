//! What a RESP connection is to every role: its id, peer, name and AUTH
//! state, and the commands that depend on nothing else (SELECT, COMMAND,
//! CLIENT).

use super::auth::AuthState;
use super::commands::{errors, parse_i64, Cmd, Spec, COMMANDS};
use super::Reply;
use crate::store::DATABASES;
use bytes::Bytes;

/// Per-connection facts shown by CLIENT and INFO.
#[derive(Debug)]
pub struct ClientInfo {
    /// Unique on this node, from 1 (the node numbers its clients).
    pub id: u64,
    pub peer: String,
    pub name: Option<Vec<u8>>,
    /// Whether the client still owes the password (`--requirepass-file`).
    pub auth: AuthState,
    /// The selected database (`SELECT`), 0 to 15.
    pub db: usize,
}

impl ClientInfo {
    /// A new client, owing the password if the node has one.
    pub fn new(id: u64, peer: String, password: Option<&super::auth::Password>) -> ClientInfo {
        ClientInfo {
            id,
            peer,
            name: None,
            auth: AuthState::initial(password),
            db: 0,
        }
    }
}

/// `ERR unknown subcommand 'SUB'. Try CMD HELP.` (as Redis).
pub fn unknown_subcommand(args: &[Bytes], cmd: &str, out: &mut Vec<u8>) {
    let sub = String::from_utf8_lossy(args.get(1).map_or(&b""[..], |a| &a[..])).into_owned();
    out.error(&format!("ERR unknown subcommand '{sub}'. Try {cmd} HELP."));
}

/// Runs SELECT, COMMAND and CLIENT, which depend only on the connection; true
/// when `spec` was one of them. Every role shares these.
pub fn connection_cmd(
    spec: &Spec,
    args: &[Bytes],
    client: &mut ClientInfo,
    out: &mut Vec<u8>,
) -> bool {
    let sub = || {
        args.get(1)
            .map(|a| a.to_ascii_uppercase())
            .unwrap_or_default()
    };
    match spec.cmd {
        Cmd::Select => match parse_i64(&args[1]) {
            Some(n) if (0..DATABASES as i64).contains(&n) => {
                client.db = n as usize;
                out.ok();
            }
            Some(_) => out.error("ERR DB index is out of range"),
            None => out.error(errors::NOT_INTEGER),
        },
        Cmd::Command => match sub().as_slice() {
            b"" | b"DOCS" | b"INFO" | b"LIST" => out.array(0),
            b"COUNT" => out.int(COMMANDS.len() as i64),
            _ => unknown_subcommand(args, "COMMAND", out),
        },
        Cmd::Client => {
            match sub().as_slice() {
                b"SETNAME" if args.len() == 3 => {
                    if args[2].iter().any(|&b| b <= b' ' || b > b'~') {
                        out.error("ERR Client names cannot contain spaces, newlines or special characters.");
                    } else {
                        client.name = (!args[2].is_empty()).then(|| args[2].to_vec());
                        out.ok();
                    }
                }
                b"GETNAME" => match &client.name {
                    Some(n) => out.bulk(n),
                    None => out.nil(),
                },
                b"ID" => out.int(client.id as i64),
                b"SETINFO" | b"NO-EVICT" | b"NO-TOUCH" => out.ok(),
                b"INFO" | b"LIST" => {
                    let name = client
                        .name
                        .as_deref()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    let line = format!(
                        "id={} addr={} name={name} db={}\n",
                        client.id, client.peer, client.db
                    );
                    out.bulk(line.as_bytes());
                }
                _ => unknown_subcommand(args, "CLIENT", out),
            }
        }
        _ => return false,
    }
    true
}
