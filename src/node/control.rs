//! The control file: a node's identity and role, written atomically.
//!
//! ## Format
//!
//! Two lines of UTF-8 text:
//!
//! ```text
//! {"version":1,"system_id":"8d1c…","role":"primary","timeline":1,"segment_bytes":67108864,…}
//! crc32 1a2b3c4d
//! ```
//!
//! The first line is a JSON object ([`Control`]); the second is the CRC-32/IEEE of
//! the first line's bytes (without its newline) as 8 hex digits. Readers ignore
//! fields they do not know and give absent new fields their default, so later
//! versions add fields without breaking older files. The file is replaced
//! atomically: written to `control.tmp`, fsynced, renamed, directory fsynced.

use crate::durable::IoError;
use crate::fs::Fs;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Current control file version.
pub const CONTROL_VERSION: u32 = 1;
/// Name of the control file in a data directory.
pub const CONTROL_FILE: &str = "control";
/// Largest control file accepted (checked before reading it).
pub const MAX_CONTROL_BYTES: u64 = 64 << 10;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Standby,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Primary => "primary",
            Role::Standby => "standby",
        })
    }
}

/// The content of the control file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// Format version of this file.
    pub version: u32,
    /// The cluster's identity: 16 hex digits, never zero.
    #[serde(with = "hex_u64")]
    pub system_id: u64,
    pub role: Role,
    /// Current timeline, from 1.
    pub timeline: u32,
    /// WAL segment size in bytes.
    pub segment_bytes: u64,
    /// When the directory was initialised, Unix milliseconds.
    #[serde(default)]
    pub created_unix_ms: u64,
    /// Set when a promotion elsewhere fenced this primary: it refuses writes and
    /// will not start as a primary again (`logship rejoin` makes it a standby).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenced: Option<Fence>,
    /// Set by `logship restore --then stop`: this standby was recovered to
    /// exactly this LSN and never advances (it receives nothing and follows
    /// nothing); it serves reads and can be promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halted_at: Option<u64>,
}

/// Why and where a primary was fenced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fence {
    /// The end of its log when it was fenced: nothing was written after it.
    pub lsn: u64,
    /// The timeline that ended at `lsn` on this node.
    pub timeline: u32,
    /// When the fence was put up, Unix milliseconds (the primary's clock).
    pub unix_ms: u64,
    /// Why (`promotion of a standby`, or what `LOGSHIP FENCE … REASON` said).
    pub reason: String,
}

impl Fence {
    /// The error clients get for a write, and the reason a start is refused:
    /// when, where, why.
    pub fn describe(&self) -> String {
        format!(
            "this primary was fenced at {} at LSN {} (tl {}) ({}): a standby was promoted in its place",
            crate::clock::utc_text(self.unix_ms),
            crate::wal::format_lsn(self.lsn),
            self.timeline,
            self.reason
        )
    }
}

mod hex_u64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:016x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        u64::from_str_radix(&s, 16).map_err(serde::de::Error::custom)
    }
}

/// Errors reading or writing the control file.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("damaged control file {path}: {damage}")]
    Corrupt {
        path: PathBuf,
        damage: ControlDamage,
    },
}

/// What is wrong with a damaged control file.
#[derive(Debug, thiserror::Error)]
pub enum ControlDamage {
    #[error("{bytes} bytes, larger than any control file")]
    TooLarge { bytes: u64 },
    #[error("not UTF-8 text")]
    NotText,
    #[error("missing checksum line")]
    NoChecksum,
    #[error("checksum mismatch")]
    Checksum,
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    #[error("version {0} is not supported (this build reads up to {CONTROL_VERSION})")]
    Version(u32),
    #[error("system id and timeline must be nonzero")]
    Zero,
}

impl Control {
    /// Encodes the file content.
    pub fn encode(&self) -> String {
        let json = serde_json::to_string(self).expect("a control struct always serializes");
        format!("{json}\ncrc32 {:08x}\n", crc32fast::hash(json.as_bytes()))
    }

    /// Decodes and checks file content read from `path`.
    ///
    /// # Errors
    /// [`ControlError::Corrupt`] when the checksum, the JSON or a value is wrong.
    pub fn decode(text: &str, path: &Path) -> Result<Control, ControlError> {
        Control::check(text).map_err(|damage| ControlError::Corrupt {
            path: path.to_path_buf(),
            damage,
        })
    }

    /// [`Control::decode`] without the path.
    fn check(text: &str) -> Result<Control, ControlDamage> {
        let mut lines = text.lines();
        let json = lines.next().unwrap_or("");
        let crc = lines
            .next()
            .and_then(|l| l.strip_prefix("crc32 "))
            .and_then(|h| u32::from_str_radix(h.trim(), 16).ok())
            .ok_or(ControlDamage::NoChecksum)?;
        if crc32fast::hash(json.as_bytes()) != crc {
            return Err(ControlDamage::Checksum);
        }
        let c: Control = serde_json::from_str(json).map_err(ControlDamage::Json)?;
        if c.version == 0 || c.version > CONTROL_VERSION {
            return Err(ControlDamage::Version(c.version));
        }
        if c.system_id == 0 || c.timeline == 0 {
            return Err(ControlDamage::Zero);
        }
        Ok(c)
    }

    /// Reads the control file of data directory `dir`.
    ///
    /// # Errors
    /// [`ControlError`] naming the file.
    pub fn read(fs: &dyn Fs, dir: &Path) -> Result<Control, ControlError> {
        let path = dir.join(CONTROL_FILE);
        let corrupt = |damage| ControlError::Corrupt {
            path: path.clone(),
            damage,
        };
        let bytes = fs.read(&path).map_err(IoError::at("read", &path))?;
        if bytes.len() as u64 > MAX_CONTROL_BYTES {
            return Err(corrupt(ControlDamage::TooLarge {
                bytes: bytes.len() as u64,
            }));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| corrupt(ControlDamage::NotText))?;
        Control::decode(text, &path)
    }

    /// Writes the control file of `dir` atomically (tmp, fsync, rename, dir
    /// fsync: [`crate::fs::NewFile`]); a failed write leaves the old file.
    ///
    /// # Errors
    /// [`ControlError::Io`] naming the file.
    pub fn write(&self, fs: &dyn Fs, dir: &Path) -> Result<(), ControlError> {
        crate::fs::replace(fs, &dir.join(CONTROL_FILE), self.encode().as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::StdFs;

    #[test]
    fn round_trips_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let c = Control {
            version: 1,
            system_id: 0xdead_beef_0000_0001,
            role: Role::Primary,
            timeline: 1,
            segment_bytes: 1 << 20,
            created_unix_ms: 5,
            fenced: None,
            halted_at: None,
        };
        c.write(&StdFs, dir.path()).unwrap();
        assert_eq!(Control::read(&StdFs, dir.path()).unwrap(), c);
        let text = std::fs::read_to_string(dir.path().join(CONTROL_FILE)).unwrap();
        assert!(
            text.contains("\"system_id\":\"deadbeef00000001\""),
            "{text}"
        );
        let bad = text.replace("\"timeline\":1", "\"timeline\":2");
        assert!(Control::decode(&bad, Path::new("x")).is_err());
        // Unknown fields from a later version are ignored when the crc is right.
        let json = text.lines().next().unwrap().replace('}', ",\"future\":7}");
        let more = format!("{json}\ncrc32 {:08x}\n", crc32fast::hash(json.as_bytes()));
        assert_eq!(Control::decode(&more, Path::new("x")).unwrap(), c);
    }
}
