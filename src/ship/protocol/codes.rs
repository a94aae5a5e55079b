//! The numbers on the wire that name things: each message's type byte
//! ([`MessageKind`]), the refusal codes ([`RefuseCode`]) and the encodings
//! of chunk data ([`ChunkEncoding`]). Each is written here once;
//! `wal-format.md` ("Ship protocol") lists them, and `tests/protocol_doc.rs`
//! checks that it does.

/// Reasons a peer gives when it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum RefuseCode {
    Version = 1,
    Auth = 2,
    SystemId = 3,
    Timeline = 4,
    Gap = 5,
    Corrupt = 6,
    Busy = 7,
    Internal = 8,
    Protocol = 9,
    NoSpace = 10,
    Unknown = 0xFFFF,
}

impl RefuseCode {
    /// Every known code, in number order.
    pub const ALL: [RefuseCode; 10] = [
        RefuseCode::Version,
        RefuseCode::Auth,
        RefuseCode::SystemId,
        RefuseCode::Timeline,
        RefuseCode::Gap,
        RefuseCode::Corrupt,
        RefuseCode::Busy,
        RefuseCode::Internal,
        RefuseCode::Protocol,
        RefuseCode::NoSpace,
    ];

    /// The code numbered `v`; [`RefuseCode::Unknown`] for a number this
    /// version does not know (a newer peer's).
    pub(super) fn from_u16(v: u16) -> RefuseCode {
        RefuseCode::ALL
            .into_iter()
            .find(|c| *c as u16 == v)
            .unwrap_or(RefuseCode::Unknown)
    }
}

/// The type byte of each message: the one place the numbers are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageKind {
    Hello = 1,
    Auth = 2,
    Welcome = 3,
    Refuse = 4,
    Chunk = 5,
    Ack = 6,
    Status = 7,
    SnapshotBegin = 8,
    SnapshotData = 9,
    SnapshotEnd = 10,
    History = 11,
    Downstreams = 12,
}

impl MessageKind {
    /// Every message type, in type-byte order.
    pub const ALL: [MessageKind; 12] = [
        MessageKind::Hello,
        MessageKind::Auth,
        MessageKind::Welcome,
        MessageKind::Refuse,
        MessageKind::Chunk,
        MessageKind::Ack,
        MessageKind::Status,
        MessageKind::SnapshotBegin,
        MessageKind::SnapshotData,
        MessageKind::SnapshotEnd,
        MessageKind::History,
        MessageKind::Downstreams,
    ];

    /// The type whose byte is `b`; `None` for an unknown one.
    pub fn from_u8(b: u8) -> Option<MessageKind> {
        MessageKind::ALL.into_iter().find(|k| *k as u8 == b)
    }

    /// Name for logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Hello => "Hello",
            MessageKind::Auth => "Auth",
            MessageKind::Welcome => "Welcome",
            MessageKind::Refuse => "Refuse",
            MessageKind::Chunk => "Chunk",
            MessageKind::Ack => "Ack",
            MessageKind::Status => "Status",
            MessageKind::SnapshotBegin => "SnapshotBegin",
            MessageKind::SnapshotData => "SnapshotData",
            MessageKind::SnapshotEnd => "SnapshotEnd",
            MessageKind::History => "History",
            MessageKind::Downstreams => "Downstreams",
        }
    }
}

impl From<MessageKind> for u8 {
    fn from(k: MessageKind) -> u8 {
        k as u8
    }
}

/// How one chunk's data is encoded: the `compression` byte of a `Chunk`
/// message. Data that zstd does not make smaller goes raw whatever the
/// setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ChunkEncoding {
    /// The records exactly as in the segment.
    Raw = 0,
    /// The records compressed with zstd.
    Zstd = 1,
}

impl ChunkEncoding {
    /// The encoding whose byte is `v`; `None` for an unknown one.
    pub fn from_u8(v: u8) -> Option<ChunkEncoding> {
        match v {
            0 => Some(ChunkEncoding::Raw),
            1 => Some(ChunkEncoding::Zstd),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_bytes_round_trip() {
        for e in [ChunkEncoding::Raw, ChunkEncoding::Zstd] {
            assert_eq!(ChunkEncoding::from_u8(e as u8), Some(e));
        }
        assert_eq!(ChunkEncoding::from_u8(2), None);
    }

    #[test]
    fn refuse_codes_round_trip() {
        for c in RefuseCode::ALL {
            assert_eq!(RefuseCode::from_u16(c as u16), c);
        }
        assert_eq!(RefuseCode::from_u16(0), RefuseCode::Unknown);
        assert_eq!(RefuseCode::from_u16(11), RefuseCode::Unknown);
    }
}
