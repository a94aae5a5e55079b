//! Keeps the "Ship protocol" section of `wal-format.md` in step with the code:
//! its message type table must give every `MessageKind`'s byte, its
//! refusal code table every `RefuseCode as u16`, and the fixed body sizes in
//! its headings must be what `Message::encode` produces.

use logship::ship::protocol::codes::{ChunkEncoding, MessageKind, RefuseCode};
use logship::ship::protocol::message::Message;
use logship::ship::protocol::tree::{DownstreamTree, TreeNode, ENTRY_FIXED_BYTES};
use logship::wal::format::SegmentHeader;
use std::collections::BTreeMap;

const DOC: &str = include_str!("../wal-format.md");

/// One message of each type, with empty variable-length parts.
fn one_of_each() -> Vec<Message> {
    vec![
        Message::Hello {
            version: 1,
            nonce: [0; 32],
        },
        Message::Auth {
            version: 1,
            system_id: 1,
            timeline: 1,
            nonce: [0; 32],
            proof: [0; 32],
        },
        Message::Welcome {
            proof: [0; 32],
            system_id: 0,
            timeline: 0,
            received_lsn: 0,
            applied_lsn: 0,
        },
        Message::Refuse {
            code: RefuseCode::Gap,
            message: String::new(),
        },
        Message::Chunk {
            encoding: ChunkEncoding::Raw,
            header: SegmentHeader {
                system_id: 1,
                timeline: 1,
                first_lsn: 0,
                segment_bytes: 4096,
                created_unix_ms: 0,
            },
            start_lsn: 0,
            end_lsn: 0,
            records: 0,
            raw_len: 0,
            primary_durable_lsn: 0,
            last_timestamp_unix_ms: 0,
            data: Vec::new(),
        },
        Message::Ack {
            received_lsn: 0,
            applied_lsn: 0,
        },
        Message::Status {
            primary_durable_lsn: 0,
            primary_write_lsn: 0,
            unix_ms: 0,
            done: false,
        },
        Message::SnapshotBegin {
            lsn: 0,
            wal_start_lsn: 0,
            total_bytes: 0,
            system_id: 1,
            timeline: 1,
        },
        Message::SnapshotData(Vec::new()),
        Message::SnapshotEnd { crc32: 0 },
        Message::History {
            timeline: 2,
            text: String::new(),
        },
        Message::Downstreams(DownstreamTree::default()),
    ]
}

const REFUSE_CODES: [(&str, RefuseCode); 10] = [
    ("Version", RefuseCode::Version),
    ("Auth", RefuseCode::Auth),
    ("SystemId", RefuseCode::SystemId),
    ("Timeline", RefuseCode::Timeline),
    ("Gap", RefuseCode::Gap),
    ("Corrupt", RefuseCode::Corrupt),
    ("Busy", RefuseCode::Busy),
    ("Internal", RefuseCode::Internal),
    ("Protocol", RefuseCode::Protocol),
    ("NoSpace", RefuseCode::NoSpace),
];

/// The data rows of the table between `<!-- NAME:begin -->` and
/// `<!-- NAME:end -->`, as `name → number` (first two cells).
fn table(name: &str) -> BTreeMap<String, u64> {
    let begin = format!("<!-- {name}:begin -->");
    let end = format!("<!-- {name}:end -->");
    let a = DOC
        .find(&begin)
        .unwrap_or_else(|| panic!("{begin} missing"));
    let b = DOC.find(&end).unwrap_or_else(|| panic!("{end} missing"));
    let mut out = BTreeMap::new();
    for line in DOC[a + begin.len()..b]
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .skip(2)
    {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if cells.len() < 2 {
            continue;
        }
        let n: u64 = cells[0]
            .parse()
            .unwrap_or_else(|_| panic!("{name}: not a number in row {line}"));
        assert!(
            out.insert(cells[1].to_string(), n).is_none(),
            "{name}: {} listed twice",
            cells[1]
        );
    }
    out
}

#[test]
fn the_message_type_table_matches_message_kind() {
    let doc = table("ship-message-types");
    let code: BTreeMap<String, u64> = one_of_each()
        .iter()
        .map(|m| (m.name().to_string(), u64::from(u8::from(m.kind()))))
        .collect();
    assert_eq!(doc, code);
    // Every type has its row: the messages above are one of each.
    let kinds: Vec<MessageKind> = one_of_each().iter().map(Message::kind).collect();
    assert_eq!(kinds, MessageKind::ALL);
}

#[test]
fn the_refusal_code_table_matches_refuse_code() {
    let doc = table("ship-refuse-codes");
    let code: BTreeMap<String, u64> = REFUSE_CODES
        .iter()
        .map(|(n, c)| (n.to_string(), u64::from(*c as u16)))
        .collect();
    assert_eq!(doc, code);
    for (n, c) in REFUSE_CODES {
        let m = Message::Refuse {
            code: c,
            message: "x".into(),
        };
        let body = m.encode();
        assert_eq!(u16::from_le_bytes([body[0], body[1]]), c as u16, "{n}");
        assert_eq!(
            Message::decode(MessageKind::Refuse.into(), &body).unwrap(),
            m,
            "{n}"
        );
    }
}

/// `**Name** (N bytes)` or `**Name** (N + x bytes)`: the fixed part `N`.
fn doc_fixed_size(name: &str) -> Option<usize> {
    let head = format!("**{name}** (");
    let at = DOC.find(&head)? + head.len();
    let rest = &DOC[at..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return Some(0); // "(d bytes)": nothing fixed
    }
    Some(digits.parse().unwrap())
}

#[test]
fn the_documented_body_sizes_are_what_encode_produces() {
    for m in one_of_each() {
        let doc = doc_fixed_size(m.name())
            .unwrap_or_else(|| panic!("no size heading for {} in wal-format.md", m.name()));
        assert_eq!(doc, m.encode().len(), "body size of {}", m.name());
        // And the encoding decodes to the same message.
        assert_eq!(Message::decode(m.kind().into(), &m.encode()).unwrap(), m);
    }
}

#[test]
fn the_documented_downstreams_entry_size_is_what_encode_produces() {
    let one = DownstreamTree {
        nodes: vec![TreeNode::default()],
        truncated: false,
    };
    let entry = one.encode().len() - 3;
    assert_eq!(entry, ENTRY_FIXED_BYTES);
    assert_eq!(doc_fixed_size("Downstreams entry"), Some(entry));
}
