//! Authentication of the ship link: HMAC-SHA256 challenge–response over a shared
//! key, in both directions. The key never crosses the wire.
//!
//! - the standby sends a random 32-byte nonce `Ns`;
//! - the primary answers with its own nonce `Np` and
//!   `HMAC(key, "logship-ship-v1 primary" ‖ Ns ‖ Np ‖ system_id ‖ timeline)`;
//! - the standby checks it, then proves itself with
//!   `HMAC(key, "logship-ship-v1 standby" ‖ Np ‖ Ns ‖ system_id ‖ timeline)`
//!   over the same values, which the primary checks.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;

/// Shortest key accepted.
pub const MIN_KEY_BYTES: usize = 16;
/// Largest key file read.
pub const MAX_KEY_BYTES: usize = 4096;

/// The shared secret of a cluster. Its `Debug` form never shows the bytes.
#[derive(Clone)]
pub struct AuthKey(Vec<u8>);

impl AuthKey {
    /// A digest of the key that tells two keys apart without showing either
    /// (a reload compares the old key with the new one this way).
    pub fn fingerprint(&self) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(&self.0).into()
    }
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthKey(<{} bytes, hidden>)", self.0.len())
    }
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("auth key file: {0}")]
    Io(#[from] crate::durable::IoError),
    #[error("auth key file {path}: key is {len} bytes; at least {MIN_KEY_BYTES} are required")]
    TooShort { path: String, len: usize },
    #[error("auth key file {path}: larger than {MAX_KEY_BYTES} bytes")]
    TooLong { path: String },
}

impl AuthKey {
    /// Reads a key file; surrounding whitespace (a trailing newline) is ignored.
    ///
    /// # Errors
    /// [`KeyError`] when the file is unreadable, too short or too long.
    pub fn from_file(path: &Path) -> Result<AuthKey, KeyError> {
        let p = path.display().to_string();
        let Some(raw) = crate::durable::read_small(path, MAX_KEY_BYTES as u64)? else {
            return Err(KeyError::TooLong { path: p });
        };
        let key = raw.trim_ascii().to_vec();
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort {
                path: p,
                len: key.len(),
            });
        }
        Ok(AuthKey(key))
    }

    /// A key from bytes (tests, generated keys).
    pub fn from_bytes(b: &[u8]) -> AuthKey {
        AuthKey(b.to_vec())
    }

    fn mac(&self, side: Side, c: &Challenge) -> Hmac<Sha256> {
        let mut m =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        // Each side proves itself over the other side's nonce first.
        let (label, first, second) = match side {
            Side::Primary => (&b"primary"[..], &c.standby_nonce, &c.primary_nonce),
            Side::Standby => (&b"standby"[..], &c.primary_nonce, &c.standby_nonce),
        };
        m.update(b"logship-ship-v1 ");
        m.update(label);
        m.update(first);
        m.update(second);
        m.update(&c.system_id.to_le_bytes());
        m.update(&c.timeline.to_le_bytes());
        m
    }

    /// The proof `side` sends for this handshake.
    pub fn proof(&self, side: Side, c: &Challenge) -> [u8; 32] {
        self.mac(side, c).finalize().into_bytes().into()
    }

    /// Checks, in constant time, the proof `side` sent for this handshake.
    pub fn check(&self, side: Side, c: &Challenge, proof: &[u8; 32]) -> bool {
        self.mac(side, c).verify_slice(proof).is_ok()
    }

    fn command_mac(&self, c: &CommandProof) -> Hmac<Sha256> {
        let mut m =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(b"logship-cmd-v1 ");
        m.update(c.action.as_bytes());
        m.update(b" ");
        m.update(&c.nonce);
        m.update(&c.unix_ms.to_le_bytes());
        m.update(&c.system_id.to_le_bytes());
        m.update(&c.timeline.to_le_bytes());
        m
    }

    /// The proof that authorises a control command (`LOGSHIP FENCE`, …) sent to
    /// a primary over RESP by someone holding the ship key.
    pub fn command_proof(&self, c: &CommandProof) -> [u8; 32] {
        self.command_mac(c).finalize().into_bytes().into()
    }

    /// Checks a control command's proof (in constant time).
    pub fn check_command(&self, c: &CommandProof, proof: &[u8; 32]) -> bool {
        self.command_mac(c).verify_slice(proof).is_ok()
    }
}

/// Which end of the link a proof comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Primary,
    Standby,
}

/// The values one handshake's proofs cover.
#[derive(Debug, Clone, Copy)]
pub struct Challenge {
    /// The standby's nonce (sent in Hello).
    pub standby_nonce: [u8; 32],
    /// The primary's nonce (sent in Auth).
    pub primary_nonce: [u8; 32],
    /// The system id the primary announced.
    pub system_id: u64,
    /// The timeline the primary announced.
    pub timeline: u32,
}

/// What a control command's proof covers: the action, a fresh nonce and the
/// time (a proof is accepted once, within a few minutes), and the system and
/// timeline of the primary it is meant for.
#[derive(Debug, Clone)]
pub struct CommandProof {
    pub action: String,
    pub nonce: [u8; 16],
    pub unix_ms: u64,
    pub system_id: u64,
    pub timeline: u32,
}

/// A fresh random nonce.
pub fn nonce() -> [u8; 32] {
    rand::random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_check_only_with_the_same_key_and_values() {
        let k = AuthKey::from_bytes(b"0123456789abcdef-secret");
        let other = AuthKey::from_bytes(b"0123456789abcdef-SECRET");
        let c = Challenge {
            standby_nonce: nonce(),
            primary_nonce: nonce(),
            system_id: 5,
            timeline: 1,
        };
        let p = k.proof(Side::Primary, &c);
        assert!(k.check(Side::Primary, &c, &p));
        assert!(!other.check(Side::Primary, &c, &p));
        assert!(!k.check(Side::Primary, &Challenge { system_id: 6, ..c }, &p));
        assert!(
            !k.check(Side::Standby, &c, &p),
            "roles are not interchangeable"
        );
        let s = k.proof(Side::Standby, &c);
        assert!(k.check(Side::Standby, &c, &s));
        assert!(!format!("{k:?}").contains("secret"));
    }

    #[test]
    fn key_files_are_checked() {
        let d = tempfile::tempdir().unwrap();
        let short = d.path().join("short");
        std::fs::write(&short, "abc\n").unwrap();
        assert!(matches!(
            AuthKey::from_file(&short),
            Err(KeyError::TooShort { len: 3, .. })
        ));
        let good = d.path().join("good");
        std::fs::write(&good, "  a-long-enough-shared-key \n").unwrap();
        assert!(AuthKey::from_file(&good).is_ok());
        assert!(matches!(
            AuthKey::from_file(&d.path().join("missing")),
            Err(KeyError::Io(_))
        ));
    }
}
