//! Keeps `wal-format.md` in step with the code: its hex example must be what
//! `SegmentHeader::encode` and `encode_record` produce, the example must scan as a
//! valid segment, and its layout tables must match the doc comments of
//! `src/wal/format.rs` cell for cell.

use logship::wal::format::{encode_record, RecordKind, SegmentHeader};
use logship::wal::scan::{scan_segment, SegmentFile};
use std::path::PathBuf;

const DOC: &str = include_str!("../wal-format.md");
const FORMAT_RS: &str = include_str!("../src/wal/format.rs");
const BEGIN: &str = "<!-- hex-example:begin -->";
const END: &str = "<!-- hex-example:end -->";

const SEGMENT_BYTES: u64 = 4096;

/// The example segment's bytes up to the end of its last record (the rest of
/// the 4096-byte file is zeros).
fn example_segment() -> (Vec<u8>, Vec<u32>) {
    let header = SegmentHeader {
        system_id: 0x0123_4567_89ab_cdef,
        timeline: 1,
        first_lsn: 0,
        segment_bytes: SEGMENT_BYTES,
        created_unix_ms: 1_700_000_000_000,
    };
    let mut b = header.encode().to_vec();
    let mut crcs = vec![u32::from_le_bytes(b[60..64].try_into().unwrap())];
    let records: [(u64, u64, RecordKind, &[u8]); 3] = [
        (0, 1_700_000_000_123, RecordKind::Data, b"hello"),
        (
            40,
            1_700_000_000_124,
            RecordKind::Data,
            &[0x00, 0x01, 0xfe, 0xff, 0x10, 0x20, 0x30, 0x40],
        ),
        (80, 1_700_000_000_124, RecordKind::Seal, b""),
    ];
    for (lsn, ts, kind, payload) in records {
        let start = b.len();
        encode_record(&mut b, lsn, 1, ts, kind, payload);
        crcs.push(u32::from_le_bytes(b[start..start + 4].try_into().unwrap()));
    }
    (b, crcs)
}

/// `xxd`-style lines: offset, 16 bytes in two groups of 8, printable ASCII.
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
        out.push_str(&format!("{:08x}  {hex:<49} |{ascii}|\n", i * 16));
    }
    out
}

/// The lines of the fenced block between the markers.
fn doc_hex_block() -> String {
    let start = DOC
        .find(BEGIN)
        .expect("wal-format.md has the hex-example begin marker");
    let end = DOC
        .find(END)
        .expect("wal-format.md has the hex-example end marker");
    DOC[start + BEGIN.len()..end]
        .lines()
        .filter(|l| !l.starts_with("```") && !l.trim().is_empty())
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}

#[test]
fn hex_example_is_what_the_encoder_writes() {
    let (bytes, _) = example_segment();
    let expected = hex_lines(&bytes);
    let expected_trimmed: String = expected
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    assert_eq!(
        doc_hex_block(),
        expected_trimmed,
        "the hex example in wal-format.md differs from the encoder's output; it should read:\n{expected}"
    );
}

#[test]
fn hex_example_checksums_are_the_ones_the_doc_names() {
    let (_, crcs) = example_segment();
    for crc in crcs {
        let text = format!("0x{crc:08x}");
        assert!(
            DOC.contains(&text),
            "wal-format.md does not mention CRC {text}"
        );
    }
}

#[test]
fn hex_example_is_a_valid_sealed_segment() {
    let (mut bytes, _) = example_segment();
    bytes.resize(SEGMENT_BYTES as usize, 0);
    let file = SegmentFile {
        path: PathBuf::from("00000001-0000000000000000.wal"),
        timeline: 1,
        first_lsn: 0,
    };
    let (summary, torn) = scan_segment(&file, bytes.into(), false).expect("example scans");
    assert!(torn.is_none());
    assert!(summary.sealed);
    assert_eq!(summary.records, 3);
    assert_eq!(summary.payload_bytes, 5 + 8);
    assert_eq!(summary.end_lsn, 112);
}

/// Table rows of a markdown text, as trimmed cells, with rustdoc link brackets
/// and alignment rows removed.
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.trim_start_matches("//!").trim())
        .filter(|l| l.starts_with('|') && !l.contains("---"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace("[`", "`").replace("`]", "`"))
                .collect()
        })
        .collect()
}

#[test]
fn layout_tables_match_the_code_doc_comments() {
    let code_rows = table_rows(
        &FORMAT_RS
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert!(code_rows.len() >= 20, "format.rs tables not found");
    let doc_rows = table_rows(DOC);
    // Each of the two tables must appear in the doc as a contiguous run of rows.
    let split = code_rows
        .iter()
        .skip(1)
        .position(|r| r[0] == "offset")
        .expect("two tables")
        + 1;
    for table in [&code_rows[..split], &code_rows[split..]] {
        let found = doc_rows.windows(table.len()).any(|w| w == table);
        assert!(
            found,
            "wal-format.md lacks this table from src/wal/format.rs:\n{table:#?}"
        );
    }
}

#[test]
fn dump_lines_in_the_doc_are_what_dump_prints() {
    use logship::cli::dump::{text_line, walk};
    use logship::cli::target::resolve;
    let (mut bytes, _) = example_segment();
    bytes.resize(SEGMENT_BYTES as usize, 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000001-0000000000000000.wal");
    std::fs::write(&path, &bytes).unwrap();
    let target = resolve(&path).unwrap();
    let mut lines = Vec::new();
    walk(&target, 0, |r| {
        lines.push(text_line(r));
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(lines.len(), 3);
    for line in lines {
        assert!(
            DOC.contains(&line),
            "wal-format.md lacks the dump line {line:?}"
        );
    }
}

#[test]
fn the_checksum_is_crc32_ieee() {
    assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
    assert!(DOC.contains("0xcbf43926"));
}
