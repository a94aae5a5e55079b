//! Client-side encryption of archive objects (`--archive-encryption-key-file`):
//! XChaCha20-Poly1305 with a random 24-byte nonce per object, so a bucket
//! handed to a cloud provider holds no readable data.
//!
//! The key file holds a secret of at least 16 bytes (surrounding whitespace
//! ignored, as for the ship key); the cipher key is
//! `SHA-256("logship-archive-key-v1" ‖ secret)`. A key file that cannot be
//! read stops the archiver: it never falls back to cleartext.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Length of a nonce.
pub const NONCE_BYTES: usize = 24;
/// Shortest secret accepted in a key file.
pub const MIN_SECRET_BYTES: usize = 16;
/// Largest key file read.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// The archive's encryption key. Its `Debug` form never shows the bytes.
#[derive(Clone)]
pub struct ArchiveKey([u8; 32]);

impl std::fmt::Debug for ArchiveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ArchiveKey(<hidden>)")
    }
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveKeyError {
    #[error("archive encryption key file: {0}")]
    Io(#[from] crate::durable::IoError),
    #[error("archive encryption key file {path}: the secret is {len} bytes; at least {MIN_SECRET_BYTES} are required")]
    TooShort { path: String, len: usize },
    #[error("archive encryption key file {path}: larger than {MAX_KEY_FILE_BYTES} bytes")]
    TooLong { path: String },
}

impl ArchiveKey {
    /// Reads a key file.
    ///
    /// # Errors
    /// [`ArchiveKeyError`] when the file is unreadable, too short or too long.
    pub fn from_file(path: &Path) -> Result<ArchiveKey, ArchiveKeyError> {
        let p = path.display().to_string();
        let Some(raw) = crate::durable::read_small(path, MAX_KEY_FILE_BYTES)? else {
            return Err(ArchiveKeyError::TooLong { path: p });
        };
        let secret = raw.trim_ascii();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ArchiveKeyError::TooShort {
                path: p,
                len: secret.len(),
            });
        }
        let mut h = Sha256::new();
        h.update(b"logship-archive-key-v1");
        h.update(secret);
        Ok(ArchiveKey(h.finalize().into()))
    }

    /// A key from its 32 bytes (tests).
    pub fn from_bytes(b: [u8; 32]) -> ArchiveKey {
        ArchiveKey(b)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }

    /// Encrypts `plain`, binding `aad`; the tag follows the ciphertext.
    pub fn seal(&self, nonce: &[u8; NONCE_BYTES], aad: &[u8], plain: &[u8]) -> Vec<u8> {
        self.cipher()
            .encrypt(XNonce::from_slice(nonce), Payload { msg: plain, aad })
            .expect("XChaCha20-Poly1305 encrypts any length an object can have")
    }

    /// Decrypts what [`seal`](Self::seal) made; `None` for a wrong key or
    /// altered bytes.
    pub fn open(&self, nonce: &[u8; NONCE_BYTES], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad })
            .ok()
    }
}

/// A fresh random nonce (192 bits: random nonces never repeat in practice).
pub fn new_nonce() -> [u8; NONCE_BYTES] {
    use rand::RngCore;
    let mut n = [0u8; NONCE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut n);
    n
}
