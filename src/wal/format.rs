//! Byte layouts of the segment header and the record header.
//!
//! Everything is little-endian. `wal-format.md` mirrors these tables byte for byte.
//!
//! ## Segment header (64 bytes, at file offset 0)
//!
//! | offset | size | type     | field                               |
//! |-------:|-----:|----------|-------------------------------------|
//! | 0      | 8    | bytes    | magic `b"LOGSHIPW"`                 |
//! | 8      | 4    | u32 LE   | format version (`1`)                |
//! | 12     | 4    | u32 LE   | header length in bytes (`64`)       |
//! | 16     | 8    | u64 LE   | system id                           |
//! | 24     | 4    | u32 LE   | timeline                            |
//! | 28     | 4    | u32 LE   | reserved, zero                      |
//! | 32     | 8    | u64 LE   | first LSN of the segment            |
//! | 40     | 8    | u64 LE   | segment size in bytes (file length) |
//! | 48     | 8    | u64 LE   | creation time, Unix milliseconds    |
//! | 56     | 4    | u32 LE   | reserved, zero                      |
//! | 60     | 4    | u32 LE   | CRC-32/IEEE of bytes 0..60          |
//!
//! ## Record header (32 bytes, 8-byte aligned, followed by the payload)
//!
//! | offset | size | type     | field                                               |
//! |-------:|-----:|----------|-----------------------------------------------------|
//! | 0      | 4    | u32 LE   | CRC-32/IEEE of header bytes 4..32, then the payload |
//! | 4      | 4    | u32 LE   | payload length in bytes                             |
//! | 8      | 8    | u64 LE   | LSN of this record                                  |
//! | 16     | 8    | u64 LE   | time the record was appended, Unix milliseconds     |
//! | 24     | 1    | u8       | kind (see [`RecordKind`])                           |
//! | 25     | 1    | u8       | flags, zero (reserved)                              |
//! | 26     | 2    | u16 LE   | reserved, zero                                      |
//! | 28     | 4    | u32 LE   | timeline                                            |
//!
//! The payload follows, then zero padding up to the next multiple of 8. The next
//! record's LSN is `lsn + 32 + align8(payload length)`. A record at LSN `L` in a
//! segment whose first LSN is `F` starts at file offset `64 + (L - F)`.

/// The eight bytes every segment file starts with.
pub const SEGMENT_MAGIC: [u8; 8] = *b"LOGSHIPW";
/// Version of this on-disk format.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the segment header.
pub const SEGMENT_HEADER_BYTES: usize = 64;
/// Length of a record header.
pub const RECORD_HEADER_BYTES: usize = 32;
/// Records start at multiples of this (relative to the segment's first LSN).
pub const RECORD_ALIGN: u64 = 8;
/// Bytes a seal record occupies (header only; it has no payload).
pub const SEAL_RECORD_BYTES: u64 = RECORD_HEADER_BYTES as u64;
/// Smallest segment size accepted: room for a header, one small record and a seal.
pub const MIN_SEGMENT_BYTES: u64 = 4096;
/// Largest segment size accepted (1 GiB, like PostgreSQL's limit).
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;

const _: () = assert!(SEGMENT_HEADER_BYTES % 8 == 0);
const _: () = assert!(RECORD_HEADER_BYTES as u64 % RECORD_ALIGN == 0);

/// What a record is. Kinds from 0x80 up are informational: a reader that does not
/// know one may skip it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// An application record: one transaction of the state machine.
    Data,
    /// The last record of a full segment; the log continues in the next segment at
    /// `lsn + 32`.
    Seal,
    /// A kind this version does not know but may skip (0x80..=0xFF).
    Skippable(u8),
}

impl RecordKind {
    /// The kind's byte on disk.
    pub fn to_byte(self) -> u8 {
        match self {
            RecordKind::Data => 1,
            RecordKind::Seal => 2,
            RecordKind::Skippable(b) => b,
        }
    }

    /// The kind for a byte on disk, or `None` when the byte names no kind.
    pub fn from_byte(b: u8) -> Option<RecordKind> {
        match b {
            1 => Some(RecordKind::Data),
            2 => Some(RecordKind::Seal),
            0x80..=0xFF => Some(RecordKind::Skippable(b)),
            _ => None,
        }
    }

    /// Short lower-case name, as `dump` prints it.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Data => "data",
            RecordKind::Seal => "seal",
            RecordKind::Skippable(_) => "skippable",
        }
    }
}

/// Rounds `n` up to the record alignment.
#[inline]
pub fn align8(n: u64) -> u64 {
    (n + (RECORD_ALIGN - 1)) & !(RECORD_ALIGN - 1)
}

/// Bytes a record with `payload_bytes` of payload occupies in the log.
#[inline]
pub fn record_footprint(payload_bytes: usize) -> u64 {
    RECORD_HEADER_BYTES as u64 + align8(payload_bytes as u64)
}

/// The decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The cluster's identity; every segment of a log carries the same one.
    pub system_id: u64,
    /// Timeline the segment was written on.
    pub timeline: u32,
    /// LSN of the first record in the segment.
    pub first_lsn: u64,
    /// File length; records never cross `first_lsn + segment_bytes - 64`.
    pub segment_bytes: u64,
    /// When the segment was created (Unix milliseconds).
    pub created_unix_ms: u64,
}

/// Why a segment header could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("file is shorter than a segment header ({0} of 64 bytes)")]
    Truncated(usize),
    #[error("not a logship WAL segment (bad magic)")]
    BadMagic,
    #[error("unsupported WAL format version {0} (this build reads version 1)")]
    Version(u32),
    #[error("segment header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum { stored: u32, computed: u32 },
    #[error("segment header has an invalid field: {0}")]
    Field(&'static str),
}

impl SegmentHeader {
    /// Encodes the header into its 64 bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut b = [0u8; SEGMENT_HEADER_BYTES];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(SEGMENT_HEADER_BYTES as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.system_id.to_le_bytes());
        b[24..28].copy_from_slice(&self.timeline.to_le_bytes());
        b[32..40].copy_from_slice(&self.first_lsn.to_le_bytes());
        b[40..48].copy_from_slice(&self.segment_bytes.to_le_bytes());
        b[48..56].copy_from_slice(&self.created_unix_ms.to_le_bytes());
        let crc = crc32fast::hash(&b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a segment header from the start of `bytes`.
    ///
    /// # Errors
    /// [`HeaderError`] when the bytes are short, foreign, of another version, fail
    /// their checksum or hold an impossible field.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, HeaderError> {
        if bytes.len() < SEGMENT_HEADER_BYTES {
            return Err(HeaderError::Truncated(bytes.len()));
        }
        let b = &bytes[..SEGMENT_HEADER_BYTES];
        if b[0..8] != SEGMENT_MAGIC {
            return Err(HeaderError::BadMagic);
        }
        let version = u32_at(b, 8);
        if version != FORMAT_VERSION {
            return Err(HeaderError::Version(version));
        }
        let stored = u32_at(b, 60);
        let computed = crc32fast::hash(&b[0..60]);
        if stored != computed {
            return Err(HeaderError::Checksum { stored, computed });
        }
        if u32_at(b, 12) as usize != SEGMENT_HEADER_BYTES {
            return Err(HeaderError::Field("header length"));
        }
        let h = SegmentHeader {
            system_id: u64_at(b, 16),
            timeline: u32_at(b, 24),
            first_lsn: u64_at(b, 32),
            segment_bytes: u64_at(b, 40),
            created_unix_ms: u64_at(b, 48),
        };
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&h.segment_bytes) {
            return Err(HeaderError::Field("segment size"));
        }
        if h.first_lsn % RECORD_ALIGN != 0 {
            return Err(HeaderError::Field("first LSN not 8-byte aligned"));
        }
        if h.first_lsn.checked_add(h.segment_bytes).is_none() {
            return Err(HeaderError::Field("first LSN + segment size overflows"));
        }
        if h.timeline == 0 {
            return Err(HeaderError::Field("timeline 0"));
        }
        Ok(h)
    }

    /// One past the last LSN that fits in this segment. Cannot overflow for a
    /// decoded header ([`decode`](Self::decode) refuses one that would).
    pub fn end_capacity_lsn(&self) -> u64 {
        self.first_lsn + self.segment_bytes - SEGMENT_HEADER_BYTES as u64
    }
}

/// A decoded record header (the payload is kept apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// CRC-32/IEEE over header bytes 4..32 and the payload.
    pub crc: u32,
    /// Payload length in bytes.
    pub payload_len: u32,
    /// This record's position in the log.
    pub lsn: u64,
    /// When the record was appended (Unix milliseconds).
    pub timestamp_unix_ms: u64,
    /// Raw kind byte (see [`RecordKind::from_byte`]).
    pub kind: u8,
    /// Raw flags byte.
    pub flags: u8,
    /// The two reserved bytes at offset 26.
    pub reserved: u16,
    /// Timeline the record was written on.
    pub timeline: u32,
}

/// Why the bytes at a position are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record header cut short ({0} of 32 bytes)")]
    TruncatedHeader(usize),
    #[error("zeroed space (no record)")]
    Zero,
    #[error("record payload length {len} exceeds the {limit}-byte limit")]
    TooLong { len: u64, limit: u64 },
    #[error("record payload cut short ({have} of {len} bytes)")]
    TruncatedPayload { have: u64, len: u64 },
    #[error("record checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum { stored: u32, computed: u32 },
    #[error("record LSN {found:#x} where {expected:#x} was expected")]
    Lsn { found: u64, expected: u64 },
    #[error("unknown record kind {0:#04x}")]
    Kind(u8),
    #[error("reserved record header bits are set")]
    Reserved,
    #[error("record of timeline {found} in a segment of timeline {expected}")]
    Timeline { found: u32, expected: u32 },
}

impl RecordHeader {
    /// Decodes the 32 header bytes at the start of `b` without checking anything.
    pub fn parse(b: &[u8]) -> Result<RecordHeader, RecordError> {
        if b.len() < RECORD_HEADER_BYTES {
            return Err(RecordError::TruncatedHeader(b.len()));
        }
        Ok(RecordHeader {
            crc: u32_at(b, 0),
            payload_len: u32_at(b, 4),
            lsn: u64_at(b, 8),
            timestamp_unix_ms: u64_at(b, 16),
            kind: b[24],
            flags: b[25],
            reserved: u16::from_le_bytes([b[26], b[27]]),
            timeline: u32_at(b, 28),
        })
    }
}

/// Writes one record (header, payload, zero padding) to the end of `out` and returns
/// the number of bytes appended.
///
/// # Panics
/// If `payload` is longer than `u32::MAX` bytes (callers check their limit first).
pub fn encode_record(
    out: &mut Vec<u8>,
    lsn: u64,
    timeline: u32,
    timestamp_unix_ms: u64,
    kind: RecordKind,
    payload: &[u8],
) -> usize {
    assert!(payload.len() <= u32::MAX as usize, "payload over u32::MAX");
    assert!(lsn % RECORD_ALIGN == 0, "record LSN must be 8-byte aligned");
    let start = out.len();
    let footprint = record_footprint(payload.len()) as usize;
    out.reserve(footprint);
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(&timestamp_unix_ms.to_le_bytes());
    out.extend_from_slice(&[kind.to_byte(), 0, 0, 0]);
    out.extend_from_slice(&timeline.to_le_bytes());
    out.extend_from_slice(payload);
    let mut h = crc32fast::Hasher::new();
    h.update(&out[start + 4..]);
    let crc = h.finalize();
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    out.resize(start + footprint, 0);
    footprint
}

/// A record checked in place: its header and the payload's range in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedRecord {
    pub header: RecordHeader,
    /// Byte offset of the payload within the slice given to [`check_record`].
    pub payload_offset: usize,
    /// Bytes the record occupies (header, payload, padding).
    pub footprint: u64,
}

impl CheckedRecord {
    /// The record's kind (always a known or skippable one once checked).
    pub fn kind(&self) -> RecordKind {
        RecordKind::from_byte(self.header.kind).expect("checked record has a valid kind")
    }
}

/// Checks the record that starts at `b[0]` and is expected at `expected_lsn`.
///
/// `max_payload` bounds the length before anything is read past the header. The
/// padding after the payload may be missing at the very end of `b` only if
/// `b` ends exactly there (the footprint is still reported in full).
///
/// # Errors
/// [`RecordError`] naming the first thing wrong.
pub fn check_record(
    b: &[u8],
    expected_lsn: u64,
    max_payload: u64,
) -> Result<CheckedRecord, RecordError> {
    check_record_with(b, expected_lsn, max_payload, true)
}

/// [`check_record`] without the checksum: the header's fields only. For
/// finding record boundaries in bytes whose checksums are checked apart
/// ([`check_record`] over the same bytes reports the same boundaries).
///
/// # Errors
/// [`RecordError`] naming the first thing wrong, never `Checksum`.
pub fn check_record_header(
    b: &[u8],
    expected_lsn: u64,
    max_payload: u64,
) -> Result<CheckedRecord, RecordError> {
    check_record_with(b, expected_lsn, max_payload, false)
}

fn check_record_with(
    b: &[u8],
    expected_lsn: u64,
    max_payload: u64,
    checksum: bool,
) -> Result<CheckedRecord, RecordError> {
    let header = RecordHeader::parse(b)?;
    if header.crc == 0 && header.payload_len == 0 && header.kind == 0 && header.lsn == 0 {
        return Err(RecordError::Zero);
    }
    let len = header.payload_len as u64;
    if len > max_payload {
        return Err(RecordError::TooLong {
            len,
            limit: max_payload,
        });
    }
    let have = (b.len() - RECORD_HEADER_BYTES) as u64;
    if have < len {
        return Err(RecordError::TruncatedPayload { have, len });
    }
    if checksum {
        let computed = crc32fast::hash(&b[4..RECORD_HEADER_BYTES + len as usize]);
        if computed != header.crc {
            return Err(RecordError::Checksum {
                stored: header.crc,
                computed,
            });
        }
    }
    if header.lsn != expected_lsn {
        return Err(RecordError::Lsn {
            found: header.lsn,
            expected: expected_lsn,
        });
    }
    if RecordKind::from_byte(header.kind).is_none() {
        return Err(RecordError::Kind(header.kind));
    }
    if header.flags != 0 || header.reserved != 0 {
        return Err(RecordError::Reserved);
    }
    Ok(CheckedRecord {
        header,
        payload_offset: RECORD_HEADER_BYTES,
        footprint: record_footprint(len as usize),
    })
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The file name of the segment that starts at `first_lsn` on `timeline`:
/// `{timeline:08x}-{first_lsn:016x}.wal`, so that name order is log order.
pub fn segment_file_name(timeline: u32, first_lsn: u64) -> String {
    format!("{timeline:08x}-{first_lsn:016x}.wal")
}

/// Parses a segment file name back into `(timeline, first_lsn)`.
pub fn parse_segment_file_name(name: &str) -> Option<(u32, u64)> {
    let stem = name.strip_suffix(".wal")?;
    let (tl, lsn) = stem.split_once('-')?;
    if tl.len() != 8 || lsn.len() != 16 {
        return None;
    }
    let timeline = u32::from_str_radix(tl, 16).ok()?;
    let first_lsn = u64::from_str_radix(lsn, 16).ok()?;
    Some((timeline, first_lsn))
}

/// Formats an LSN the way PostgreSQL users read them: `HIGH/LOW` in hex.
pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = SegmentHeader {
            system_id: 0x1122_3344_5566_7788,
            timeline: 3,
            first_lsn: 4096,
            segment_bytes: 1 << 20,
            created_unix_ms: 1_700_000_000_000,
        };
        let b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        for i in 0..SEGMENT_HEADER_BYTES {
            let mut d = b;
            d[i] ^= 0x10;
            assert!(
                SegmentHeader::decode(&d).is_err(),
                "flip at byte {i} accepted"
            );
        }
        assert_eq!(
            SegmentHeader::decode(&b[..10]),
            Err(HeaderError::Truncated(10))
        );
    }

    #[test]
    fn record_round_trips_and_every_bit_flip_is_caught() {
        let mut out = Vec::new();
        let n = encode_record(&mut out, 64, 1, 7, RecordKind::Data, b"hello world");
        assert_eq!(n, 32 + 16);
        assert_eq!(out.len(), n);
        let r = check_record(&out, 64, 1 << 20).unwrap();
        assert_eq!(
            &out[r.payload_offset..r.payload_offset + 11],
            b"hello world"
        );
        assert_eq!(r.kind(), RecordKind::Data);
        assert_eq!(r.footprint, 48);
        for bit in 0..(32 + 11) * 8 {
            let mut d = out.clone();
            d[bit / 8] ^= 1 << (bit % 8);
            assert!(
                check_record(&d, 64, 1 << 20).is_err(),
                "flip {bit} accepted"
            );
        }
    }

    #[test]
    fn record_limits_are_checked_before_reading() {
        let mut out = Vec::new();
        encode_record(&mut out, 0, 1, 0, RecordKind::Data, &[7u8; 100]);
        assert!(matches!(
            check_record(&out, 0, 50),
            Err(RecordError::TooLong {
                len: 100,
                limit: 50
            })
        ));
        assert!(matches!(
            check_record(&out[..60], 0, 1000),
            Err(RecordError::TruncatedPayload { .. })
        ));
        assert_eq!(check_record(&[0u8; 32], 0, 10), Err(RecordError::Zero));
        assert!(matches!(
            check_record(&out, 8, 1000),
            Err(RecordError::Lsn {
                found: 0,
                expected: 8
            })
        ));
    }

    #[test]
    fn segment_names_sort_in_log_order() {
        assert_eq!(segment_file_name(1, 0), "00000001-0000000000000000.wal");
        assert_eq!(
            parse_segment_file_name("0000000a-00000000000010f0.wal"),
            Some((10, 0x10f0))
        );
        assert_eq!(parse_segment_file_name("1-0.wal"), None);
        assert_eq!(
            parse_segment_file_name("00000001-0000000000000000.tmp"),
            None
        );
        assert_eq!(format_lsn(0x1_0000_2000), "1/2000");
    }
}
