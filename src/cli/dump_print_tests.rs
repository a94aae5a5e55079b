use super::*;
use crate::resp::glob::Pattern;
use crate::store::{Blob, Effect};

const T: u64 = 1_796_512_200_123; // 2026-12-05T23:10:00.123Z

fn data(lsn: u64, t: u64, effects: &[Effect<'_>]) -> Record {
    let mut payload = Vec::new();
    effect::encode(effects, &mut payload);
    raw(lsn, t, RecordKind::Data, payload)
}

fn raw(lsn: u64, t: u64, kind: RecordKind, payload: Vec<u8>) -> Record {
    Record {
        lsn,
        end_lsn: lsn + 32 + payload.len() as u64,
        timeline: 1,
        timestamp_unix_ms: t,
        kind,
        payload: payload.into(),
        crc: 0xdead_beef,
    }
}

fn b(s: &str) -> Blob<'_> {
    Blob::borrowed(s.as_bytes())
}

#[test]
fn payload_summaries_show_text_or_hex_and_what_was_cut() {
    assert_eq!(payload_summary(b""), "-");
    assert_eq!(payload_summary(b"set k \"v\""), "\"set k \\\"v\\\"\"");
    assert_eq!(payload_summary(&[0, 1, 0xff]), "0001ff");
    let long = vec![b'a'; 40];
    assert_eq!(
        payload_summary(&long),
        format!("\"{}\"... (+8 bytes)", "a".repeat(32))
    );
}

#[test]
fn lines_show_the_time_and_the_effects() {
    let tx = data(
        0,
        T,
        &[
            Effect::Select { db: 2 },
            Effect::FlushAll,
            Effect::Del {
                keys: vec![b("a"), Blob::borrowed(b"\xff\x00b")],
            },
        ],
    );
    assert_eq!(
        text_line(&tx),
        "lsn 0/0 (0)  2026-12-05T23:10:00.123Z  data  len 53  tl 1  crc deadbeef ok  \
         SELECT 2; FLUSHALL; DEL a \"\\xff\\x00b\""
    );
    let j = json_line(&tx);
    assert_eq!(j["time"], "2026-12-05T23:10:00.123Z");
    assert_eq!(j["timestamp_unix_ms"], T);
    assert_eq!(
        j["effects"],
        serde_json::json!([
            {"effect": "select", "db": 2, "keys": []},
            {"effect": "flushall", "db": 2, "keys": []},
            {"effect": "del", "db": 2, "keys": ["a", "\\xff\\x00b"]},
        ])
    );
    assert_eq!(j["undecodable"], serde_json::Value::Null);

    let seal = raw(64, 0, RecordKind::Seal, Vec::new());
    assert_eq!(
        text_line(&seal),
        "lsn 0/40 (64)  -  seal  len 0  tl 1  crc deadbeef ok  -"
    );
    assert_eq!(json_line(&seal)["time"], serde_json::Value::Null);
    assert_eq!(json_line(&seal)["effects"], serde_json::json!([]));
}

#[test]
fn an_undecodable_payload_is_named_and_shown_in_hex() {
    let bad = raw(0, T, RecordKind::Data, vec![7, 0, 1, 2]);
    let line = text_line(&bad);
    assert!(
        line.ends_with(
            "ok  undecodable payload (unknown payload version 7 (this build reads version 1)), \
             4 bytes: 07000102"
        ),
        "{line}"
    );
    let j = json_line(&bad);
    assert_eq!(j["effects"], serde_json::json!([]));
    assert!(
        j["undecodable"].as_str().unwrap().contains("version 7"),
        "{j}"
    );
    // A count that promises more than the bytes hold: named, not a panic.
    let mut cut = Vec::new();
    effect::encode(&[Effect::FlushAll, Effect::FlushDb], &mut cut);
    cut.pop();
    let line = text_line(&raw(0, T, RecordKind::Data, cut));
    assert!(
        line.contains("undecodable payload (malformed effects: "),
        "{line}"
    );
}

#[test]
fn the_printer_filters_then_counts_to_the_limit() {
    let set = |lsn, key| {
        data(
            lsn,
            T + lsn,
            &[Effect::Set {
                key: b(key),
                value: b("v"),
                expire_at_unix_ms: None,
            }],
        )
    };
    let records = [
        set(0, "user:1"),
        set(100, "other"),
        raw(200, T, RecordKind::Data, vec![9]),
        set(300, "user:2"),
        set(400, "user:3"),
    ];
    let filter = Filter {
        key: Some(Pattern::new(b"user:*")),
        ..Filter::default()
    };
    let mut out = Vec::new();
    let mut p = Printer::new(&mut out, Format::Text, filter, 2);
    let stopped = records.iter().position(|r| p.visit(r).is_break());
    p.finish().unwrap();
    assert_eq!(stopped, Some(3), "stops at the second record printed");
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].ends_with("SET user:1 (1 byte)"), "{text}");
    assert!(lines[1].ends_with("SET user:2 (1 byte)"), "{text}");
}
