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

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthKey(<{} bytes, hidden>)", self.0.len())
    }
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("auth key file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
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
        let meta = std::fs::metadata(path).map_err(|source| KeyError::Io {
            path: p.clone(),
            source,
        })?;
        if meta.len() > MAX_KEY_BYTES as u64 {
            return Err(KeyError::TooLong { path: p });
        }
        let raw = std::fs::read(path).map_err(|source| KeyError::Io {
            path: p.clone(),
            source,
        })?;
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

    fn mac(
        &self,
        role: &str,
        a: &[u8; 32],
        b: &[u8; 32],
        system_id: u64,
        timeline: u32,
    ) -> Hmac<Sha256> {
        let mut m =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(b"logship-ship-v1 ");
        m.update(role.as_bytes());
        m.update(a);
        m.update(b);
        m.update(&system_id.to_le_bytes());
        m.update(&timeline.to_le_bytes());
        m
    }

    /// The primary's proof for the standby's nonce `ns` and its own nonce `np`.
    pub fn primary_proof(
        &self,
        ns: &[u8; 32],
        np: &[u8; 32],
        system_id: u64,
        timeline: u32,
    ) -> [u8; 32] {
        self.mac("primary", ns, np, system_id, timeline)
            .finalize()
            .into_bytes()
            .into()
    }

    /// The standby's proof.
    pub fn standby_proof(
        &self,
        ns: &[u8; 32],
        np: &[u8; 32],
        system_id: u64,
        timeline: u32,
    ) -> [u8; 32] {
        self.mac("standby", np, ns, system_id, timeline)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Checks the primary's proof in constant time.
    pub fn check_primary(
        &self,
        ns: &[u8; 32],
        np: &[u8; 32],
        system_id: u64,
        timeline: u32,
        proof: &[u8; 32],
    ) -> bool {
        self.mac("primary", ns, np, system_id, timeline)
            .verify_slice(proof)
            .is_ok()
    }

    /// Checks the standby's proof in constant time.
    pub fn check_standby(
        &self,
        ns: &[u8; 32],
        np: &[u8; 32],
        system_id: u64,
        timeline: u32,
        proof: &[u8; 32],
    ) -> bool {
        self.mac("standby", np, ns, system_id, timeline)
            .verify_slice(proof)
            .is_ok()
    }
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
        let (ns, np) = (nonce(), nonce());
        let p = k.primary_proof(&ns, &np, 5, 1);
        assert!(k.check_primary(&ns, &np, 5, 1, &p));
        assert!(!other.check_primary(&ns, &np, 5, 1, &p));
        assert!(!k.check_primary(&ns, &np, 6, 1, &p));
        assert!(
            !k.check_standby(&ns, &np, 5, 1, &p),
            "roles are not interchangeable"
        );
        let s = k.standby_proof(&ns, &np, 5, 1);
        assert!(k.check_standby(&ns, &np, 5, 1, &s));
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
            Err(KeyError::Io { .. })
        ));
    }
}
