//! Archive objects: one codec for every object the archive holds (a range of
//! WAL, a snapshot, a timeline history, a gap), so `verify` checks all of them
//! the same way.
//!
//! ## Object layout (little-endian; `wal-format.md` § Archive objects)
//!
//! A 160-byte header, then the body.
//!
//! | offset | size | field                                                        |
//! |-------:|-----:|--------------------------------------------------------------|
//! | 0      | 8    | magic `b"LOGSHIPA"`                                          |
//! | 8      | 4    | object format version (`1`)                                  |
//! | 12     | 4    | header length in bytes (`160`)                               |
//! | 16     | 1    | kind: 1 WAL, 2 snapshot, 3 timeline history, 4 gap           |
//! | 17     | 1    | compression of the body: 0 none, 1 zstd                      |
//! | 18     | 1    | encryption of the body: 0 none, 1 XChaCha20-Poly1305         |
//! | 19     | 1    | reserved, zero                                               |
//! | 20     | 4    | records in the range (WAL), else zero                        |
//! | 24     | 8    | system id                                                    |
//! | 32     | 4    | timeline                                                     |
//! | 36     | 4    | reserved, zero                                               |
//! | 40     | 8    | start LSN (WAL, gap: the range's first; snapshot: its LSN)   |
//! | 48     | 8    | end LSN (exclusive; snapshot: its LSN)                       |
//! | 56     | 8    | time of the first record, Unix ms (0: none)                  |
//! | 64     | 8    | time of the last record, Unix ms (snapshot: when taken)      |
//! | 72     | 8    | heartbeat: when the archiver cut the object, Unix ms         |
//! | 80     | 8    | the durable end of the log at the heartbeat                  |
//! | 88     | 8    | raw length: bytes of the content                             |
//! | 96     | 8    | body length: bytes after the header                          |
//! | 104    | 4    | CRC-32/IEEE of the content                                   |
//! | 108    | 4    | CRC-32/IEEE of the body                                      |
//! | 112    | 24   | nonce (encrypted bodies), else zero                          |
//! | 136    | 20   | reserved, zero                                               |
//! | 156    | 4    | CRC-32/IEEE of header bytes 0..156                           |
//!
//! The **content** is, by kind: the segment header of the segment the range
//! belongs to (64 bytes) followed by the records `[start, end)` exactly as in
//! the segment; the snapshot file; the history file's text; a gap's reason
//! (UTF-8). The body is the content, compressed as byte 17 says, then
//! encrypted as byte 18 says with header bytes 0..112 as associated data (the
//! 16-byte tag follows the ciphertext). Both CRCs are checked on reading, the
//! body's before decryption, so damage is told apart from a wrong key.

use super::crypt::{ArchiveKey, NONCE_BYTES};

/// The eight bytes every archive object starts with.
pub const OBJECT_MAGIC: [u8; 8] = *b"LOGSHIPA";
/// Version of the object format written and read.
pub const OBJECT_VERSION: u32 = 1;
/// Length of the header.
pub const OBJECT_HEADER_BYTES: usize = 160;
/// Header bytes covered by the encryption's associated data.
const AAD_BYTES: usize = 112;
/// Largest content accepted when reading (checked before allocating).
pub const MAX_CONTENT_BYTES: u64 = 4 << 30;
const _: () = assert!(OBJECT_HEADER_BYTES % 8 == 0);

/// What an object holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Wal = 1,
    Snapshot = 2,
    History = 3,
    Gap = 4,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Wal,
            2 => Kind::Snapshot,
            3 => Kind::History,
            4 => Kind::Gap,
            _ => return None,
        })
    }

    /// The word `list` and `verify` print.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Wal => "wal",
            Kind::Snapshot => "snapshot",
            Kind::History => "history",
            Kind::Gap => "gap",
        }
    }
}

/// The header of an archive object: what it holds, without reading the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectHeader {
    pub kind: Kind,
    pub zstd: bool,
    pub encrypted: bool,
    pub records: u32,
    pub system_id: u64,
    pub timeline: u32,
    pub start_lsn: u64,
    pub end_lsn: u64,
    pub first_time_unix_ms: u64,
    pub last_time_unix_ms: u64,
    /// When the archiver cut the object: the log was durable up to
    /// `log_end_lsn` then, so a WAL object with `end_lsn == log_end_lsn`
    /// proves the primary alive and idle from its last record to here.
    pub heartbeat_unix_ms: u64,
    pub log_end_lsn: u64,
    pub raw_bytes: u64,
    pub body_bytes: u64,
    pub raw_crc: u32,
    pub body_crc: u32,
    pub nonce: [u8; NONCE_BYTES],
}

/// Why an object could not be read. The caller names the object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    #[error("shorter than an archive object header ({0} of 160 bytes)")]
    Truncated(usize),
    #[error("not a logship archive object (bad magic)")]
    BadMagic,
    #[error("unsupported archive object version {0} (this build reads version 1)")]
    Version(u32),
    #[error("header checksum mismatch")]
    HeaderChecksum,
    #[error("bad header: {0}")]
    Header(&'static str),
    #[error("body is {got} bytes, the header says {want}")]
    BodyLength { got: u64, want: u64 },
    #[error("body checksum mismatch (the object was damaged after it was written)")]
    BodyChecksum,
    #[error("the object is encrypted: give the archive's key (--archive-encryption-key-file)")]
    NeedKey,
    #[error("the object is not encrypted but a key was given: refusing to read cleartext where ciphertext was expected")]
    NotEncrypted,
    #[error("decryption failed: wrong key, or the object was altered")]
    Decrypt,
    #[error("decompression failed: {0}")]
    Decompress(String),
    #[error("content checksum mismatch after decoding")]
    ContentChecksum,
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

impl ObjectHeader {
    /// A header for `content` of `kind`; the lengths, CRCs and nonce are set
    /// by [`encode`].
    pub fn new(kind: Kind, system_id: u64, timeline: u32, start_lsn: u64, end_lsn: u64) -> Self {
        ObjectHeader {
            kind,
            zstd: false,
            encrypted: false,
            records: 0,
            system_id,
            timeline,
            start_lsn,
            end_lsn,
            first_time_unix_ms: 0,
            last_time_unix_ms: 0,
            heartbeat_unix_ms: 0,
            log_end_lsn: end_lsn,
            raw_bytes: 0,
            body_bytes: 0,
            raw_crc: 0,
            body_crc: 0,
            nonce: [0; NONCE_BYTES],
        }
    }

    /// The 160 header bytes.
    pub fn to_bytes(&self) -> [u8; OBJECT_HEADER_BYTES] {
        let mut b = [0u8; OBJECT_HEADER_BYTES];
        b[0..8].copy_from_slice(&OBJECT_MAGIC);
        b[8..12].copy_from_slice(&OBJECT_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(OBJECT_HEADER_BYTES as u32).to_le_bytes());
        b[16] = self.kind as u8;
        b[17] = u8::from(self.zstd);
        b[18] = u8::from(self.encrypted);
        b[20..24].copy_from_slice(&self.records.to_le_bytes());
        b[24..32].copy_from_slice(&self.system_id.to_le_bytes());
        b[32..36].copy_from_slice(&self.timeline.to_le_bytes());
        b[40..48].copy_from_slice(&self.start_lsn.to_le_bytes());
        b[48..56].copy_from_slice(&self.end_lsn.to_le_bytes());
        b[56..64].copy_from_slice(&self.first_time_unix_ms.to_le_bytes());
        b[64..72].copy_from_slice(&self.last_time_unix_ms.to_le_bytes());
        b[72..80].copy_from_slice(&self.heartbeat_unix_ms.to_le_bytes());
        b[80..88].copy_from_slice(&self.log_end_lsn.to_le_bytes());
        b[88..96].copy_from_slice(&self.raw_bytes.to_le_bytes());
        b[96..104].copy_from_slice(&self.body_bytes.to_le_bytes());
        b[104..108].copy_from_slice(&self.raw_crc.to_le_bytes());
        b[108..112].copy_from_slice(&self.body_crc.to_le_bytes());
        b[112..136].copy_from_slice(&self.nonce);
        let crc = crc32fast::hash(&b[..156]);
        b[156..160].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header.
    ///
    /// # Errors
    /// The [`ObjectError`] found first.
    pub fn decode(b: &[u8]) -> Result<ObjectHeader, ObjectError> {
        if b.len() < OBJECT_HEADER_BYTES {
            return Err(ObjectError::Truncated(b.len()));
        }
        if b[0..8] != OBJECT_MAGIC {
            return Err(ObjectError::BadMagic);
        }
        let version = u32_at(b, 8);
        if version != OBJECT_VERSION {
            return Err(ObjectError::Version(version));
        }
        if crc32fast::hash(&b[..156]) != u32_at(b, 156) {
            return Err(ObjectError::HeaderChecksum);
        }
        if u32_at(b, 12) as usize != OBJECT_HEADER_BYTES {
            return Err(ObjectError::Header("header length is not 160"));
        }
        let kind = Kind::from_u8(b[16]).ok_or(ObjectError::Header("unknown kind"))?;
        if b[17] > 1 || b[18] > 1 {
            return Err(ObjectError::Header("unknown compression or encryption"));
        }
        if b[19] != 0 || u32_at(b, 36) != 0 || b[136..156].iter().any(|&x| x != 0) {
            return Err(ObjectError::Header("reserved bytes are not zero"));
        }
        let h = ObjectHeader {
            kind,
            zstd: b[17] == 1,
            encrypted: b[18] == 1,
            records: u32_at(b, 20),
            system_id: u64_at(b, 24),
            timeline: u32_at(b, 32),
            start_lsn: u64_at(b, 40),
            end_lsn: u64_at(b, 48),
            first_time_unix_ms: u64_at(b, 56),
            last_time_unix_ms: u64_at(b, 64),
            heartbeat_unix_ms: u64_at(b, 72),
            log_end_lsn: u64_at(b, 80),
            raw_bytes: u64_at(b, 88),
            body_bytes: u64_at(b, 96),
            raw_crc: u32_at(b, 104),
            body_crc: u32_at(b, 108),
            nonce: b[112..136].try_into().expect("24 bytes"),
        };
        if h.end_lsn < h.start_lsn {
            return Err(ObjectError::Header("end LSN below start LSN"));
        }
        if h.raw_bytes > MAX_CONTENT_BYTES {
            return Err(ObjectError::Header("content length over 4 GiB"));
        }
        Ok(h)
    }
}

/// zstd level for WAL and history content: fast, as archiving runs beside
/// live traffic (the same trade as the snapshot writer's).
const ZSTD_LEVEL: i32 = 1;

/// Encodes `content` under `header` (kind, identity, positions and times
/// set by the caller): compressed with zstd when `compress` and it helps,
/// encrypted when `key` is given. Returns the whole object.
pub fn encode(
    mut header: ObjectHeader,
    content: &[u8],
    compress: bool,
    key: Option<&ArchiveKey>,
) -> Vec<u8> {
    header.raw_bytes = content.len() as u64;
    header.raw_crc = crc32fast::hash(content);
    let compressed = if compress {
        zstd::bulk::compress(content, ZSTD_LEVEL)
            .ok()
            .filter(|z| z.len() < content.len())
    } else {
        None
    };
    header.zstd = compressed.is_some();
    let plain = compressed.as_deref().unwrap_or(content);
    let body = match key {
        Some(k) => {
            header.encrypted = true;
            header.nonce = super::crypt::new_nonce();
            // The associated data is the header as it will be, without the
            // lengths and CRCs of the body (unknown until encrypted).
            let aad = header.to_bytes();
            k.seal(&header.nonce, &aad[..AAD_BYTES], plain)
        }
        None => plain.to_vec(),
    };
    header.body_bytes = body.len() as u64;
    header.body_crc = crc32fast::hash(&body);
    let mut out = Vec::with_capacity(OBJECT_HEADER_BYTES + body.len());
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(&body);
    out
}

/// Decodes a whole object: its header and its content, every checksum
/// checked.
///
/// # Errors
/// The [`ObjectError`] found first.
pub fn decode(
    object: &[u8],
    key: Option<&ArchiveKey>,
) -> Result<(ObjectHeader, Vec<u8>), ObjectError> {
    let header = ObjectHeader::decode(object)?;
    let body = &object[OBJECT_HEADER_BYTES..];
    if body.len() as u64 != header.body_bytes {
        return Err(ObjectError::BodyLength {
            got: body.len() as u64,
            want: header.body_bytes,
        });
    }
    if crc32fast::hash(body) != header.body_crc {
        return Err(ObjectError::BodyChecksum);
    }
    let plain = match (header.encrypted, key) {
        (true, None) => return Err(ObjectError::NeedKey),
        (false, Some(_)) => return Err(ObjectError::NotEncrypted),
        (true, Some(k)) => k
            .open(&header.nonce, &aad_of(&header), body)
            .ok_or(ObjectError::Decrypt)?,
        (false, None) => body.to_vec(),
    };
    let content = if header.zstd {
        zstd::bulk::decompress(&plain, header.raw_bytes as usize)
            .map_err(|e| ObjectError::Decompress(e.to_string()))?
    } else {
        plain
    };
    if content.len() as u64 != header.raw_bytes || crc32fast::hash(&content) != header.raw_crc {
        return Err(ObjectError::ContentChecksum);
    }
    Ok((header, content))
}

/// The associated data an encrypted object was sealed with: its header
/// bytes 0..112 as [`encode`] saw them (body length and CRC still zero).
fn aad_of(header: &ObjectHeader) -> Vec<u8> {
    let mut h = *header;
    h.body_bytes = 0;
    h.body_crc = 0;
    h.to_bytes()[..AAD_BYTES].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> ObjectHeader {
        let mut h = ObjectHeader::new(Kind::Wal, 0xabc, 2, 4096, 8192);
        h.records = 3;
        h.first_time_unix_ms = 10;
        h.last_time_unix_ms = 20;
        h.heartbeat_unix_ms = 30;
        h
    }

    #[test]
    fn objects_round_trip_plain_compressed_and_encrypted() {
        let content = b"records records records records records records".repeat(20);
        let key = ArchiveKey::from_bytes([7; 32]);
        for (compress, key) in [
            (false, None),
            (true, None),
            (true, Some(&key)),
            (false, Some(&key)),
        ] {
            let obj = encode(header(), &content, compress, key);
            let (h, got) = decode(&obj, key).unwrap();
            assert_eq!(got, content);
            assert_eq!(h.records, 3);
            assert_eq!(h.encrypted, key.is_some());
            assert_eq!(h.zstd, compress);
        }
    }

    #[test]
    fn encrypted_bodies_hold_no_plaintext_and_refuse_the_wrong_key() {
        let content = b"secret-value-".repeat(100);
        let key = ArchiveKey::from_bytes([1; 32]);
        let obj = encode(header(), &content, false, Some(&key));
        assert!(!obj.windows(12).any(|w| w == b"secret-value"));
        let wrong = ArchiveKey::from_bytes([2; 32]);
        assert_eq!(decode(&obj, Some(&wrong)), Err(ObjectError::Decrypt));
        assert_eq!(decode(&obj, None), Err(ObjectError::NeedKey));
        let plain = encode(header(), &content, false, None);
        assert_eq!(decode(&plain, Some(&key)), Err(ObjectError::NotEncrypted));
    }

    #[test]
    fn every_damaged_byte_is_caught() {
        let content = b"0123456789abcdef".repeat(8);
        let key = ArchiveKey::from_bytes([3; 32]);
        for key in [None, Some(&key)] {
            let obj = encode(header(), &content, true, key);
            for i in 0..obj.len() {
                let mut bad = obj.clone();
                bad[i] ^= 0x40;
                assert!(
                    decode(&bad, key).is_err(),
                    "byte {i} flipped went unnoticed"
                );
            }
            assert!(decode(&obj[..obj.len() - 1], key).is_err());
        }
    }
}
