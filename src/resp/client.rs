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

/// The server version `HELLO` and `INFO` report.
pub const REDIS_VERSION: &str = "7.0.0";

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`: RESP2 only (`HELLO 3`
/// answers `NOPROTO`); logs in and names the client, then replies with
/// Redis 7's map (as a flat array in RESP2). `role_name` is `master` or
/// `replica`.
pub fn hello(
    args: &[Bytes],
    client: &mut ClientInfo,
    password: Option<&super::auth::Password>,
    role_name: &str,
    out: &mut Vec<u8>,
) {
    if let Some(v) = args.get(1) {
        match parse_i64(v) {
            Some(2) => {}
            Some(_) => return out.error("NOPROTO unsupported protocol version"),
            None => return out.error("ERR Protocol version is not an integer or out of range"),
        }
    }
    let mut login = None;
    let mut name = None;
    let mut i = 2;
    while i < args.len() {
        let left = args.len() - i - 1;
        if args[i].eq_ignore_ascii_case(b"AUTH") && left >= 2 {
            login = Some((&args[i + 1][..], &args[i + 2][..]));
            i += 3;
        } else if args[i].eq_ignore_ascii_case(b"SETNAME") && left >= 1 {
            name = Some(&args[i + 1][..]);
            i += 2;
        } else {
            let opt = String::from_utf8_lossy(&args[i]);
            return out.error(&format!("ERR Syntax error in HELLO option '{opt}'"));
        }
    }
    if let Some((user, pass)) = login {
        if let Err(e) = super::auth::login(password, &mut client.auth, Some(user), pass) {
            return out.error(e);
        }
    }
    if client.auth == super::auth::AuthState::Required {
        return out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(n) = name {
        if n.iter().any(|&b| b <= b' ' || b > b'~') {
            return out
                .error("ERR Client names cannot contain spaces, newlines or special characters.");
        }
        client.name = (!n.is_empty()).then(|| n.to_vec());
    }
    out.array(14);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(2);
    out.bulk(b"id");
    out.int(client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(role_name.as_bytes());
    out.bulk(b"modules");
    out.array(0);
}
