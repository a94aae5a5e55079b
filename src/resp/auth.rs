//! `requirepass` for RESP, with Redis's semantics: until a successful `AUTH`,
//! every command but `AUTH` and `QUIT` answers `-NOAUTH`; `AUTH pass` and
//! `AUTH default pass` log in; a wrong password answers `-WRONGPASS`. The
//! comparison takes the same time whatever the password given (both sides are
//! hashed, the digests compared in constant time). Primary and standby share
//! this gate.

use super::commands::{Cmd, Spec};
use super::Reply;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::path::Path;
use subtle::ConstantTimeEq;

/// The answer to any command before `AUTH` on a protected node.
pub const NOAUTH: &str = "NOAUTH Authentication required.";
/// The answer to a wrong password (or a user other than `default`).
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
/// `AUTH pass` on a node without a password (Redis's words).
pub const NO_PASSWORD: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
/// Largest password file read.
pub const MAX_PASSWORD_FILE_BYTES: u64 = 64 << 10;

/// The password clients must give. Its `Debug` form never shows it.
#[derive(Clone)]
pub struct Password(Vec<u8>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<hidden>)")
    }
}

/// Why a password file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password file: {0}")]
    Io(#[from] crate::durable::IoError),
    #[error("password file {path} is empty")]
    Empty { path: String },
    #[error("password file {path} is larger than {MAX_PASSWORD_FILE_BYTES} bytes")]
    TooLarge { path: String },
}

impl Password {
    /// Reads `--requirepass-file`: the content less one trailing newline
    /// (`\n` or `\r\n`).
    ///
    /// # Errors
    /// [`PasswordError`] when the file is unreadable, empty or too large.
    pub fn from_file(path: &Path) -> Result<Password, PasswordError> {
        let p = path.display().to_string();
        let Some(mut raw) = crate::durable::read_small(path, MAX_PASSWORD_FILE_BYTES)? else {
            return Err(PasswordError::TooLarge { path: p });
        };
        if raw.ends_with(b"\r\n") {
            raw.truncate(raw.len() - 2);
        } else if raw.ends_with(b"\n") {
            raw.truncate(raw.len() - 1);
        }
        if raw.is_empty() {
            return Err(PasswordError::Empty { path: p });
        }
        Ok(Password(raw))
    }

    /// A password from bytes (tests).
    pub fn from_bytes(b: &[u8]) -> Password {
        Password(b.to_vec())
    }

    /// True when `given` is the password; the time taken does not depend on
    /// where they differ, nor on their lengths beyond hashing.
    pub fn matches(&self, given: &[u8]) -> bool {
        let a = Sha256::digest(&self.0);
        let b = Sha256::digest(given);
        a.ct_eq(&b).into()
    }
}

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthState {
    /// The node has no password.
    Open,
    /// A password is set and the client has not given it yet.
    Required,
    /// The client gave the password.
    Authenticated,
}

impl AuthState {
    /// The state of a new connection.
    pub fn initial(password: Option<&Password>) -> AuthState {
        match password {
            Some(_) => AuthState::Required,
            None => AuthState::Open,
        }
    }
}

/// Runs the gate before a command (arity already checked). True when the
/// command was answered here: `AUTH` itself, or `NOAUTH` for anything else
/// before a successful `AUTH` (`QUIT` always passes, and so does `LOGSHIP`:
/// its control commands carry their own proof made with the ship key, and
/// promotion must be able to fence a primary whose password it does not hold).
/// `HELLO` passes too: it logs in itself (`HELLO 2 AUTH user pass`).
pub fn gate(
    password: Option<&Password>,
    state: &mut AuthState,
    spec: &Spec,
    args: &[Bytes],
    out: &mut Vec<u8>,
) -> bool {
    if spec.cmd == Cmd::Auth {
        auth(password, state, args, out);
        return true;
    }
    if *state == AuthState::Required && !matches!(spec.cmd, Cmd::Quit | Cmd::Logship | Cmd::Hello) {
        out.error(NOAUTH);
        return true;
    }
    false
}

/// `AUTH pass` or `AUTH default pass`.
fn auth(password: Option<&Password>, state: &mut AuthState, args: &[Bytes], out: &mut Vec<u8>) {
    let (user, given) = match args.len() {
        2 => (None, &args[1]),
        3 => (Some(&args[1]), &args[2]),
        _ => return out.error("ERR syntax error"),
    };
    match login(password, state, user.map(|u| &u[..]), given) {
        Ok(()) => out.ok(),
        Err(e) => out.error(e),
    }
}

/// Checks a user and password (`user` `None`: the default user), as `AUTH`
/// and `HELLO … AUTH` do; the state turns authenticated when they are right.
///
/// # Errors
/// The reply line for a wrong pair, or for a password given to a node
/// without one.
pub fn login(
    password: Option<&Password>,
    state: &mut AuthState,
    user: Option<&[u8]>,
    given: &[u8],
) -> Result<(), &'static str> {
    let default_user = user.is_none_or(|u| u == b"default");
    match password {
        // Redis: the default user has no password; naming it logs in.
        None if user.is_some() && default_user => Ok(()),
        None if user.is_none() => Err(NO_PASSWORD),
        None => Err(WRONGPASS),
        Some(p) => {
            // Always compare, so a wrong user takes as long as a wrong password.
            let right = p.matches(given);
            if right && default_user {
                *state = AuthState::Authenticated;
                Ok(())
            } else {
                Err(WRONGPASS)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::commands::lookup;

    fn run(pw: Option<&Password>, st: &mut AuthState, args: &[&str]) -> (bool, String) {
        let frame: Vec<Bytes> = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let spec = lookup(&frame[0]).unwrap();
        let mut out = Vec::new();
        let handled = gate(pw, st, spec, &frame, &mut out);
        (handled, String::from_utf8(out).unwrap())
    }

    #[test]
    fn the_gate_follows_redis() {
        let pw = Password::from_bytes(b"s3cret pass");
        let mut st = AuthState::initial(Some(&pw));
        assert_eq!(
            run(Some(&pw), &mut st, &["GET", "k"]).1,
            format!("-{NOAUTH}\r\n")
        );
        assert_eq!(run(Some(&pw), &mut st, &["QUIT"]), (false, String::new()));
        assert_eq!(
            run(Some(&pw), &mut st, &["AUTH", "wrong"]).1,
            format!("-{WRONGPASS}\r\n")
        );
        assert_eq!(
            run(Some(&pw), &mut st, &["AUTH", "bob", "s3cret pass"]).1,
            format!("-{WRONGPASS}\r\n")
        );
        assert_eq!(st, AuthState::Required);
        assert_eq!(
            run(Some(&pw), &mut st, &["AUTH", "s3cret pass"]).1,
            "+OK\r\n"
        );
        assert_eq!(
            run(Some(&pw), &mut st, &["GET", "k"]),
            (false, String::new())
        );
        let mut st = AuthState::initial(Some(&pw));
        assert_eq!(
            run(Some(&pw), &mut st, &["AUTH", "default", "s3cret pass"]).1,
            "+OK\r\n"
        );
        assert_eq!(st, AuthState::Authenticated);
        // Without a password.
        let mut st = AuthState::initial(None);
        assert_eq!(run(None, &mut st, &["GET", "k"]), (false, String::new()));
        assert!(run(None, &mut st, &["AUTH", "x"])
            .1
            .starts_with("-ERR AUTH"));
        assert_eq!(run(None, &mut st, &["AUTH", "default", "x"]).1, "+OK\r\n");
    }

    #[test]
    fn password_files_lose_one_newline_and_must_not_be_empty() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("pw");
        std::fs::write(&f, "pass word\n\n").unwrap();
        let p = Password::from_file(&f).unwrap();
        assert!(p.matches(b"pass word\n") && !p.matches(b"pass word"));
        std::fs::write(&f, "abc\r\n").unwrap();
        assert!(Password::from_file(&f).unwrap().matches(b"abc"));
        std::fs::write(&f, "\n").unwrap();
        assert!(matches!(
            Password::from_file(&f),
            Err(PasswordError::Empty { .. })
        ));
        assert!(!format!("{:?}", Password::from_bytes(b"abc")).contains("abc"));
    }
}
