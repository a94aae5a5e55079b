//! Keeps the Archive section of `wal-format.md` in step with the code: its
//! object layout table must match the module doc of `src/archive/object.rs`
//! cell for cell, its names must be those of `src/archive/layout.rs`, its hex
//! example must be what `object::encode` writes (and must decode), its
//! description of the encryption must open what the encoder seals, and its
//! table of `archive.state` must name the fields the archiver writes.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use logship::archive::layout::Name;
use logship::archive::object::{self, Kind, ObjectHeader, OBJECT_HEADER_BYTES};
use logship::archive::progress::LocalState;
use logship::archive::{ArchiveKey, ArchiveStore};
use logship::store::effect::{self, Blob, Effect};
use logship::wal::format::{encode_record, RecordKind, SegmentHeader, SEGMENT_HEADER_BYTES};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

const DOC: &str = include_str!("../wal-format.md");
const OBJECT_RS: &str = include_str!("../src/archive/object.rs");
const LAYOUT_RS: &str = include_str!("../src/archive/layout.rs");
const BEGIN: &str = "<!-- archive-hex-example:begin -->";
const END: &str = "<!-- archive-hex-example:end -->";

const SYSTEM_ID: u64 = 0x0123_4567_89ab_cdef;

/// The `## Archive` section of the doc.
fn section() -> &'static str {
    let a = DOC
        .find("\n## Archive\n")
        .expect("wal-format.md has a ## Archive section");
    let rest = &DOC[a + 1..];
    &rest[..rest[1..].find("\n## ").map_or(rest.len(), |e| e + 1)]
}

/// The example's content: a segment header and one data record, `SET
/// greeting hello` in database 0, as the archiver cuts it from a segment.
fn example_content() -> Vec<u8> {
    let header = SegmentHeader {
        system_id: SYSTEM_ID,
        timeline: 1,
        first_lsn: 0,
        segment_bytes: 4096,
        created_unix_ms: 1_700_000_000_000,
    };
    let mut payload = Vec::new();
    effect::encode(
        &[Effect::Set {
            key: Blob::borrowed(b"greeting"),
            value: Blob::borrowed(b"hello"),
            expire_at_unix_ms: None,
        }],
        &mut payload,
    );
    let mut content = header.encode().to_vec();
    encode_record(
        &mut content,
        0,
        1,
        1_700_000_000_123,
        RecordKind::Data,
        &payload,
    );
    content
}

/// The example's header as the archiver fills it for that range.
fn example_header() -> ObjectHeader {
    let mut h = ObjectHeader::new(Kind::Wal, SYSTEM_ID, 1, 0, 80);
    h.records = 1;
    h.first_time_unix_ms = 1_700_000_000_123;
    h.last_time_unix_ms = 1_700_000_000_123;
    h.heartbeat_unix_ms = 1_700_000_010_000;
    h
}

/// The example object: uncompressed and in clear, so that it can be read.
fn example_object() -> Vec<u8> {
    object::encode(example_header(), &example_content(), false, None)
}

/// `xxd`-style lines: offset, 16 bytes in two groups of 8, printable ASCII
/// (trailing spaces dropped).
fn hex_lines(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, row) in bytes.chunks(16).enumerate() {
        let mut hex = String::new();
        for (j, b) in row.iter().enumerate() {
            if j == 8 {
                hex.push(' ');
            }
            hex.push_str(&format!("{b:02x} "));
        }
        let ascii: String = row
            .iter()
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        let line = format!("{:08x}  {hex:<49} |{ascii}|", i * 16);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn doc_hex_block() -> String {
    let start = DOC
        .find(BEGIN)
        .expect("the archive hex-example begin marker");
    let end = DOC.find(END).expect("the archive hex-example end marker");
    DOC[start + BEGIN.len()..end]
        .lines()
        .filter(|l| !l.starts_with("```") && !l.trim().is_empty())
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}

#[test]
fn hex_example_is_what_the_encoder_writes() {
    let expected = hex_lines(&example_object());
    assert_eq!(
        doc_hex_block(),
        expected,
        "the archive hex example in wal-format.md differs from object::encode; it should read:\n{expected}"
    );
}

#[test]
fn hex_example_decodes_and_its_records_check() {
    let obj = example_object();
    let (h, content) = object::decode(&obj, None).expect("the example decodes");
    assert_eq!(h, ObjectHeader::decode(&obj).unwrap());
    assert_eq!(content, example_content());
    let seg = SegmentHeader::decode(&content).unwrap();
    let records = bytes::Bytes::copy_from_slice(&content[SEGMENT_HEADER_BYTES..]);
    let recs = logship::wal::mirror::records_of(&seg, h.start_lsn, &records).unwrap();
    assert_eq!(recs.len() as u32, h.records);
    assert_eq!(recs.last().unwrap().end_lsn, h.end_lsn);
    // The doc gives the body length of the same object compressed.
    let zstd = object::encode(example_header(), &example_content(), true, None);
    let z = ObjectHeader::decode(&zstd).unwrap();
    assert!(z.zstd);
    let text = format!("a {}-byte zstd body", z.body_bytes);
    assert!(
        section().contains(&text),
        "the Archive section lacks {text:?}"
    );
    // The three CRCs of the example are named in the doc.
    for crc in [
        h.raw_crc,
        h.body_crc,
        u32::from_le_bytes(obj[156..160].try_into().unwrap()),
    ] {
        let text = format!("0x{crc:08x}");
        assert!(
            section().contains(&text),
            "the Archive section does not name CRC {text}"
        );
    }
    // And so is its name.
    let name = ArchiveStore::object_path(
        SYSTEM_ID,
        &Name::Wal {
            timeline: 1,
            start_lsn: h.start_lsn,
            end_lsn: h.end_lsn,
        },
    );
    assert!(
        section().contains(&name),
        "the Archive section lacks the name {name}"
    );
}

/// Table rows of a markdown text, as trimmed cells, alignment rows removed.
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.trim_start_matches("//!").trim())
        .filter(|l| l.starts_with('|') && !l.contains("---"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

fn module_doc(src: &str) -> String {
    src.lines()
        .take_while(|l| l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn layout_table_matches_the_object_module_doc() {
    let code = table_rows(&module_doc(OBJECT_RS));
    assert!(code.len() >= 25, "object.rs layout table not found");
    let doc = table_rows(section());
    assert!(
        doc.windows(code.len()).any(|w| w == code.as_slice()),
        "wal-format.md § Archive lacks this table from src/archive/object.rs:\n{code:#?}"
    );
    // The table covers the header exactly, field after field.
    let mut at = 0;
    for row in &code[1..] {
        assert_eq!(row[0].parse::<usize>().unwrap(), at, "row {row:?}");
        at += row[1].parse::<usize>().unwrap();
    }
    assert_eq!(at, OBJECT_HEADER_BYTES);
}

#[test]
fn names_are_the_layout_module_doc() {
    let doc = module_doc(LAYOUT_RS);
    let block: Vec<&str> = doc
        .split("```text")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("layout.rs has a text block of names")
        .lines()
        .map(|l| l.trim_start_matches("//!").trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(block.len(), 5);
    for line in block {
        assert!(
            section().contains(line),
            "wal-format.md § Archive lacks the name line {line:?}"
        );
    }
    // The patterns are what the code writes.
    let sys = logship::archive::layout::system_folder(0xab);
    for (name, pattern) in [
        (
            Name::Wal {
                timeline: 2,
                start_lsn: 0x10,
                end_lsn: 0x20,
            },
            "00000000000000ab/wal/00000002/0000000000000010-0000000000000020.lwal",
        ),
        (
            Name::Snapshot {
                timeline: 2,
                lsn: 0x30,
            },
            "00000000000000ab/snapshots/00000002-0000000000000030.lsnap",
        ),
        (
            Name::History { timeline: 2 },
            "00000000000000ab/history/00000002.lhist",
        ),
        (
            Name::Gap {
                timeline: 2,
                start_lsn: 0x10,
                end_lsn: 0x20,
            },
            "00000000000000ab/gaps/00000002-0000000000000010-0000000000000020.lgap",
        ),
        (
            Name::Heartbeat { timeline: 2 },
            "00000000000000ab/heartbeat/00000002.lbeat",
        ),
    ] {
        assert_eq!(format!("{sys}/{}", name.path()), pattern);
    }
}

#[test]
fn encryption_is_as_the_doc_says() {
    let text = section();
    for phrase in [
        "XChaCha20-Poly1305",
        "`SHA-256(\"logship-archive-key-v1\" ‖ secret)`",
        "header bytes 0..112",
    ] {
        assert!(
            text.contains(phrase),
            "wal-format.md § Archive lacks {phrase:?}"
        );
    }
    // Decrypt what the encoder sealed with only what the doc says.
    let dir = tempfile::tempdir().unwrap();
    let secret = b"correct horse battery staple";
    let path = dir.path().join("archive.key");
    std::fs::write(&path, [b"  ".as_slice(), secret, b"\n"].concat()).unwrap();
    let key = ArchiveKey::from_file(&path).unwrap();
    let content = example_content();
    let obj = object::encode(example_header(), &content, true, Some(&key));
    let (header, body) = obj.split_at(OBJECT_HEADER_BYTES);
    assert_eq!(header[18], 1, "byte 18 says encrypted");
    let mut h = Sha256::new();
    h.update(b"logship-archive-key-v1");
    h.update(secret);
    let cipher = XChaCha20Poly1305::new(&h.finalize());
    let mut aad = header[..112].to_vec();
    // The body length and the body CRC are unknown when sealing: zero.
    aad[96..104].fill(0);
    aad[108..112].fill(0);
    let plain = cipher
        .decrypt(
            XNonce::from_slice(&header[112..136]),
            Payload {
                msg: body,
                aad: &aad,
            },
        )
        .expect("the doc's key, nonce and associated data open the body");
    let content_again = if header[17] == 1 {
        zstd::bulk::decompress(&plain, content.len()).unwrap()
    } else {
        plain
    };
    assert_eq!(content_again, content);
    assert_eq!(
        crc32fast::hash(body),
        u32::from_le_bytes(header[108..112].try_into().unwrap()),
        "the body CRC covers the ciphertext and tag"
    );
}

#[test]
fn the_state_file_table_names_every_field() {
    let text = section();
    let at = text
        .find("| `archive.state` field |")
        .expect("wal-format.md § Archive has the archive.state table");
    let documented: BTreeSet<String> = text[at..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .next()
                .unwrap()
                .trim()
                .trim_matches('`')
                .to_string()
        })
        .collect();
    let state = LocalState {
        url: "file:///a".into(),
        system_id: 1,
        archived_lsn: 2,
        snapshot_unix_ms: 3,
        snapshot_lsn: Some(4),
    };
    let written: BTreeSet<String> = serde_json::to_value(&state)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(documented, written);
    assert!(text.contains(logship::archive::progress::STATE_FILE));
}
