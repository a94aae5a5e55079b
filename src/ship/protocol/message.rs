//! The messages of the ship protocol (version 3) and their byte layouts.
//!
//! Version 3 adds one message, `Downstreams`: a standby tells the primary
//! what it knows of the standbys it ships to. A link speaks the lower of the
//! two ends' versions (the primary's `Auth` says which), and a standby sends
//! `Downstreams` only on a link of version 3 or newer.
//!
//! Version 2 frames and messages are version 1's; what changed is the log
//! they carry: its records may hold the effects of every data type and
//! database (effect tags 5 and up). A primary ships only to a standby of its
//! version or newer (an older one could not replay the log); a standby
//! accepts a primary of version 1 or 2.
//! All integers are little-endian. `wal-format.md` ("Ship protocol") mirrors this.
//! The type bytes are [`MessageKind`]'s, the refusal codes [`RefuseCode`]'s.
//!
//! | type | name    | direction | body                                                        |
//! |-----:|---------|-----------|-------------------------------------------------------------|
//! | 1    | Hello   | S → P     | version u16, nonce [32]                                     |
//! | 2    | Auth    | P → S     | version u16, system_id u64, timeline u32, nonce [32], proof [32] |
//! | 3    | Welcome | S → P     | proof [32], system_id u64 (0 = empty), timeline u32, received_lsn u64, applied_lsn u64 |
//! | 4    | Refuse  | either    | code u16, message (UTF-8, rest of body)                     |
//! | 5    | Chunk   | P → S     | compression u8, segment header [64], start_lsn u64, end_lsn u64, records u32, raw_len u32, primary_durable_lsn u64, last_timestamp_unix_ms u64, data |
//! | 6    | Ack     | S → P     | received_lsn u64 (durable), applied_lsn u64                 |
//! | 7    | Status  | P → S     | primary_durable_lsn u64, primary_write_lsn u64, unix_ms u64, done u8 |
//! | 8    | SnapshotBegin | P → S | lsn u64, wal_start_lsn u64, total_bytes u64, system_id u64, timeline u32 |
//! | 9    | SnapshotData  | P → S | data                                                  |
//! | 10   | SnapshotEnd   | P → S | crc32 u32 of all snapshot bytes                       |
//! | 11   | History       | P → S | timeline u32, the timeline's history file (UTF-8)     |
//! | 12   | Downstreams   | S → P | the standby's downstreams (version 3; [`super::tree`]) |
//!
//! `Chunk.data` is the encoded records `[start_lsn, end_lsn)` exactly as in the
//! primary's segment, compressed with zstd when `compression` is 1
//! ([`ChunkEncoding::Zstd`]; 0 is [`ChunkEncoding::Raw`]) (`raw_len` is
//! the uncompressed length, checked before decompressing; see [`super::compress`]).

use super::codes::{ChunkEncoding, MessageKind, RefuseCode};
use super::tree::DownstreamTree;
use crate::wal::format::{SegmentHeader, SEGMENT_HEADER_BYTES};

/// Protocol version spoken by this build.
pub const PROTOCOL_VERSION: u16 = 3;
/// The oldest standby a primary of this build ships to (an older one could
/// not replay every record this build logs).
pub const OLDEST_STANDBY_VERSION: u16 = 2;
/// The first version whose standbys send `Downstreams`.
pub const DOWNSTREAMS_VERSION: u16 = 3;
/// The oldest primary a standby of this build accepts (it replays every
/// older log).
pub const OLDEST_PRIMARY_VERSION: u16 = 1;
/// Largest uncompressed chunk accepted: room for the largest record the WAL
/// allows, with its header and padding.
pub const MAX_CHUNK_BYTES: usize = crate::wal::writer::MAX_RECORD_BYTES_LIMIT + 64;
const _: () = assert!(MAX_CHUNK_BYTES + 256 < super::frame::MAX_FRAME_BYTES);

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Hello {
        version: u16,
        nonce: [u8; 32],
    },
    Auth {
        version: u16,
        system_id: u64,
        timeline: u32,
        nonce: [u8; 32],
        proof: [u8; 32],
    },
    Welcome {
        proof: [u8; 32],
        /// 0 when the standby holds no log yet.
        system_id: u64,
        timeline: u32,
        received_lsn: u64,
        applied_lsn: u64,
    },
    Refuse {
        code: RefuseCode,
        message: String,
    },
    Chunk {
        /// How `data` is encoded (the `compression` byte).
        encoding: ChunkEncoding,
        header: SegmentHeader,
        start_lsn: u64,
        end_lsn: u64,
        records: u32,
        raw_len: u32,
        primary_durable_lsn: u64,
        last_timestamp_unix_ms: u64,
        data: Vec<u8>,
    },
    Ack {
        received_lsn: u64,
        applied_lsn: u64,
    },
    Status {
        primary_durable_lsn: u64,
        primary_write_lsn: u64,
        unix_ms: u64,
        /// The shipment is complete; the standby acknowledges and the link closes.
        done: bool,
    },
    SnapshotBegin {
        lsn: u64,
        wal_start_lsn: u64,
        total_bytes: u64,
        system_id: u64,
        timeline: u32,
    },
    SnapshotData(Vec<u8>),
    SnapshotEnd {
        crc32: u32,
    },
    /// The primary's timeline history, sent after Welcome when its timeline is
    /// newer than the standby's.
    History {
        timeline: u32,
        text: String,
    },
    /// What the standby knows of the standbys it ships to.
    Downstreams(DownstreamTree),
}

/// What a `Chunk` says of the records it carries, besides their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRecords {
    /// The header of the segment they come from.
    pub header: SegmentHeader,
    pub start_lsn: u64,
    /// `start_lsn` plus the records' length (uncompressed).
    pub end_lsn: u64,
    pub records: u64,
    /// The last record's timestamp.
    pub last_timestamp_unix_ms: u64,
}

/// A body that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("malformed {kind} message: {reason}")]
pub struct DecodeError {
    pub kind: &'static str,
    pub reason: String,
}

struct Cur<'a> {
    b: &'a [u8],
    kind: &'static str,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError {
                kind: self.kind,
                reason: format!("body ends {} bytes short", n - self.b.len()),
            });
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn arr32(&mut self) -> Result<[u8; 32], DecodeError> {
        Ok(self.take(32)?.try_into().expect("32"))
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.b)
    }
    fn end(&self) -> Result<(), DecodeError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(DecodeError {
                kind: self.kind,
                reason: format!("{} unexpected trailing bytes", self.b.len()),
            })
        }
    }
}

impl Message {
    /// The message's type.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Hello { .. } => MessageKind::Hello,
            Message::Auth { .. } => MessageKind::Auth,
            Message::Welcome { .. } => MessageKind::Welcome,
            Message::Refuse { .. } => MessageKind::Refuse,
            Message::Chunk { .. } => MessageKind::Chunk,
            Message::Ack { .. } => MessageKind::Ack,
            Message::Status { .. } => MessageKind::Status,
            Message::SnapshotBegin { .. } => MessageKind::SnapshotBegin,
            Message::SnapshotData(_) => MessageKind::SnapshotData,
            Message::SnapshotEnd { .. } => MessageKind::SnapshotEnd,
            Message::History { .. } => MessageKind::History,
            Message::Downstreams(_) => MessageKind::Downstreams,
        }
    }

    /// Name for logs and errors.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The `Chunk` of `of`, its data as [`compress`](super::compress::compress)
    /// returned it, sent while the primary is durable up to
    /// `primary_durable_lsn`. Every chunk is built here, whether the shipping
    /// task or the tap sends it: `raw_len` is the records' length.
    pub fn chunk(
        of: ChunkRecords,
        primary_durable_lsn: u64,
        (encoding, data): (ChunkEncoding, Vec<u8>),
    ) -> Message {
        Message::Chunk {
            encoding,
            header: of.header,
            start_lsn: of.start_lsn,
            end_lsn: of.end_lsn,
            records: of.records as u32,
            raw_len: (of.end_lsn - of.start_lsn) as u32,
            primary_durable_lsn,
            last_timestamp_unix_ms: of.last_timestamp_unix_ms,
            data,
        }
    }

    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut o = Vec::new();
        match self {
            Message::Hello { version, nonce } => {
                o.extend_from_slice(&version.to_le_bytes());
                o.extend_from_slice(nonce);
            }
            Message::Auth {
                version,
                system_id,
                timeline,
                nonce,
                proof,
            } => {
                o.extend_from_slice(&version.to_le_bytes());
                o.extend_from_slice(&system_id.to_le_bytes());
                o.extend_from_slice(&timeline.to_le_bytes());
                o.extend_from_slice(nonce);
                o.extend_from_slice(proof);
            }
            Message::Welcome {
                proof,
                system_id,
                timeline,
                received_lsn,
                applied_lsn,
            } => {
                o.extend_from_slice(proof);
                o.extend_from_slice(&system_id.to_le_bytes());
                o.extend_from_slice(&timeline.to_le_bytes());
                o.extend_from_slice(&received_lsn.to_le_bytes());
                o.extend_from_slice(&applied_lsn.to_le_bytes());
            }
            Message::Refuse { code, message } => {
                o.extend_from_slice(&(*code as u16).to_le_bytes());
                o.extend_from_slice(message.as_bytes());
            }
            Message::Chunk {
                encoding,
                header,
                start_lsn,
                end_lsn,
                records,
                raw_len,
                primary_durable_lsn,
                last_timestamp_unix_ms,
                data,
            } => {
                o.reserve(SEGMENT_HEADER_BYTES + 49 + data.len());
                o.push(*encoding as u8);
                o.extend_from_slice(&header.encode());
                o.extend_from_slice(&start_lsn.to_le_bytes());
                o.extend_from_slice(&end_lsn.to_le_bytes());
                o.extend_from_slice(&records.to_le_bytes());
                o.extend_from_slice(&raw_len.to_le_bytes());
                o.extend_from_slice(&primary_durable_lsn.to_le_bytes());
                o.extend_from_slice(&last_timestamp_unix_ms.to_le_bytes());
                o.extend_from_slice(data);
            }
            Message::Ack {
                received_lsn,
                applied_lsn,
            } => {
                o.extend_from_slice(&received_lsn.to_le_bytes());
                o.extend_from_slice(&applied_lsn.to_le_bytes());
            }
            Message::Status {
                primary_durable_lsn,
                primary_write_lsn,
                unix_ms,
                done,
            } => {
                o.extend_from_slice(&primary_durable_lsn.to_le_bytes());
                o.extend_from_slice(&primary_write_lsn.to_le_bytes());
                o.extend_from_slice(&unix_ms.to_le_bytes());
                o.push(u8::from(*done));
            }
            Message::SnapshotBegin {
                lsn,
                wal_start_lsn,
                total_bytes,
                system_id,
                timeline,
            } => {
                o.extend_from_slice(&lsn.to_le_bytes());
                o.extend_from_slice(&wal_start_lsn.to_le_bytes());
                o.extend_from_slice(&total_bytes.to_le_bytes());
                o.extend_from_slice(&system_id.to_le_bytes());
                o.extend_from_slice(&timeline.to_le_bytes());
            }
            Message::SnapshotData(d) => o.extend_from_slice(d),
            Message::SnapshotEnd { crc32 } => o.extend_from_slice(&crc32.to_le_bytes()),
            Message::History { timeline, text } => {
                o.extend_from_slice(&timeline.to_le_bytes());
                o.extend_from_slice(text.as_bytes());
            }
            Message::Downstreams(t) => o = t.encode(),
        }
        o
    }

    /// Decodes a body of message type `kind`.
    ///
    /// # Errors
    /// [`DecodeError`] for an unknown type, a short or overlong body, or an
    /// invalid field (a segment header is checked like one read from disk).
    pub fn decode(kind: u8, body: &[u8]) -> Result<Message, DecodeError> {
        let Some(kind) = MessageKind::from_u8(kind) else {
            return Err(DecodeError {
                kind: "unknown",
                reason: format!("message type {kind}"),
            });
        };
        let mut c = Cur {
            b: body,
            kind: kind.name(),
        };
        let m = match kind {
            MessageKind::Hello => Message::Hello {
                version: c.u16()?,
                nonce: c.arr32()?,
            },
            MessageKind::Auth => Message::Auth {
                version: c.u16()?,
                system_id: c.u64()?,
                timeline: c.u32()?,
                nonce: c.arr32()?,
                proof: c.arr32()?,
            },
            MessageKind::Welcome => Message::Welcome {
                proof: c.arr32()?,
                system_id: c.u64()?,
                timeline: c.u32()?,
                received_lsn: c.u64()?,
                applied_lsn: c.u64()?,
            },
            MessageKind::Refuse => {
                let code = RefuseCode::from_u16(c.u16()?);
                let message = String::from_utf8_lossy(c.rest()).into_owned();
                Message::Refuse { code, message }
            }
            MessageKind::Chunk => {
                let v = c.u8()?;
                let Some(encoding) = ChunkEncoding::from_u8(v) else {
                    return Err(DecodeError {
                        kind: "Chunk",
                        reason: format!("unknown compression {v}"),
                    });
                };
                let header = SegmentHeader::decode(c.take(SEGMENT_HEADER_BYTES)?).map_err(|e| {
                    DecodeError {
                        kind: "Chunk",
                        reason: format!("segment header: {e}"),
                    }
                })?;
                let start_lsn = c.u64()?;
                let end_lsn = c.u64()?;
                let records = c.u32()?;
                let raw_len = c.u32()?;
                let primary_durable_lsn = c.u64()?;
                let last_timestamp_unix_ms = c.u64()?;
                if raw_len as usize > MAX_CHUNK_BYTES
                    || end_lsn < start_lsn
                    || end_lsn - start_lsn != raw_len as u64
                {
                    return Err(DecodeError {
                        kind: "Chunk",
                        reason: format!(
                            "inconsistent lengths: LSN {start_lsn:#x}..{end_lsn:#x}, raw length {raw_len} (limit {MAX_CHUNK_BYTES})"
                        ),
                    });
                }
                Message::Chunk {
                    encoding,
                    header,
                    start_lsn,
                    end_lsn,
                    records,
                    raw_len,
                    primary_durable_lsn,
                    last_timestamp_unix_ms,
                    data: c.rest().to_vec(),
                }
            }
            MessageKind::Ack => Message::Ack {
                received_lsn: c.u64()?,
                applied_lsn: c.u64()?,
            },
            MessageKind::Status => Message::Status {
                primary_durable_lsn: c.u64()?,
                primary_write_lsn: c.u64()?,
                unix_ms: c.u64()?,
                done: c.u8()? != 0,
            },
            MessageKind::SnapshotBegin => Message::SnapshotBegin {
                lsn: c.u64()?,
                wal_start_lsn: c.u64()?,
                total_bytes: c.u64()?,
                system_id: c.u64()?,
                timeline: c.u32()?,
            },
            MessageKind::SnapshotData => Message::SnapshotData(c.rest().to_vec()),
            MessageKind::SnapshotEnd => Message::SnapshotEnd { crc32: c.u32()? },
            MessageKind::History => {
                let timeline = c.u32()?;
                let text = String::from_utf8(c.rest().to_vec()).map_err(|_| DecodeError {
                    kind: "History",
                    reason: "history is not UTF-8".into(),
                })?;
                Message::History { timeline, text }
            }
            MessageKind::Downstreams => {
                let t = DownstreamTree::decode(c.rest()).map_err(|e| DecodeError {
                    kind: "Downstreams",
                    reason: e.reason,
                })?;
                Message::Downstreams(t)
            }
        };
        c.end()?;
        Ok(m)
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
