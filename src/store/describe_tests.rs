use super::*;
use crate::store::effect::{self, Blob};
use bincode::Options;

fn b(s: &str) -> Blob<'_> {
    Blob::borrowed(s.as_bytes())
}

/// One effect of every tag, with the text `dump` prints for it in
/// database 0.
fn every_effect() -> Vec<(Effect<'static>, &'static str)> {
    let t = 1_796_512_200_000; // 2026-12-05T23:10:00Z
    vec![
        (
            Effect::Set {
                key: b("key:17"),
                value: Blob::owned(vec![b'v'; 100]),
                expire_at_unix_ms: Some(t),
            },
            "SET key:17 (100 bytes, expires 2026-12-05T23:10:00.000Z)",
        ),
        (
            Effect::Del {
                keys: vec![b("a"), b("b")],
            },
            "DEL a b",
        ),
        (
            Effect::Expire {
                key: b("k"),
                at_unix_ms: t + 5,
            },
            "EXPIRE k (at 2026-12-05T23:10:00.005Z)",
        ),
        (Effect::Persist { key: b("k") }, "PERSIST k"),
        (Effect::FlushAll, "FLUSHALL"),
        (Effect::Select { db: 3 }, "SELECT 3"),
        (Effect::FlushDb, "FLUSHDB"),
        (Effect::SwapDb { a: 0, b: 1 }, "SWAPDB 0 1"),
        (
            Effect::Move {
                key: b("k"),
                to_db: 3,
            },
            "MOVE k (to db 3)",
        ),
        (
            Effect::Rename {
                from: b("a"),
                to: b("b"),
            },
            "RENAME a b",
        ),
        (
            Effect::Copy {
                from: b("a"),
                to: b("b"),
                to_db: 2,
            },
            "COPY a b (to db 2)",
        ),
        (
            Effect::SetRange {
                key: b("k"),
                offset: 10,
                value: b("hello"),
            },
            "SETRANGE k (at byte 10, 5 bytes)",
        ),
        (
            Effect::HSet {
                key: b("h"),
                pairs: vec![(b("f"), b("1")), (b("g"), b("2"))],
            },
            "HSET h (2 fields)",
        ),
        (
            Effect::HDel {
                key: b("h"),
                fields: vec![b("f")],
            },
            "HDEL h (1 field)",
        ),
        (
            Effect::Push {
                key: b("q"),
                end: ListEnd::Left,
                elems: vec![b("1"), b("2"), b("3")],
            },
            "LPUSH q (3 elements)",
        ),
        (
            Effect::Push {
                key: b("q"),
                end: ListEnd::Right,
                elems: vec![b("1")],
            },
            "RPUSH q (1 element)",
        ),
        (
            Effect::Pop {
                key: b("q"),
                end: ListEnd::Left,
                count: 1,
            },
            "LPOP q (up to 1 element)",
        ),
        (
            Effect::Pop {
                key: b("q"),
                end: ListEnd::Right,
                count: 2,
            },
            "RPOP q (up to 2 elements)",
        ),
        (
            Effect::LSet {
                key: b("q"),
                index: 3,
                elem: b("hello"),
            },
            "LSET q (index 3, 5 bytes)",
        ),
        (
            Effect::LInsert {
                key: b("q"),
                index: 2,
                elem: b("hello"),
            },
            "LINSERT q (before index 2, 5 bytes)",
        ),
        (
            Effect::LRem {
                key: b("q"),
                count: -2,
                elem: b("x y"),
            },
            "LREM q \"x y\" (count -2)",
        ),
        (
            Effect::LTrim {
                key: b("q"),
                start: 0,
                end: 10,
            },
            "LTRIM q (keep 0..10)",
        ),
        (
            Effect::SAdd {
                key: b("s"),
                members: vec![b("a"), b("b")],
            },
            "SADD s (2 members)",
        ),
        (
            Effect::SRem {
                key: b("s"),
                members: vec![b("a")],
            },
            "SREM s (1 member)",
        ),
        (
            Effect::ZAdd {
                key: b("z"),
                entries: vec![(1.5, b("a")), (2.0, b("b"))],
            },
            "ZADD z (2 members)",
        ),
        (
            Effect::ZRem {
                key: b("z"),
                members: vec![b("a")],
            },
            "ZREM z (1 member)",
        ),
    ]
}

/// The on-disk tag of an effect: the u32 after the version byte and count.
fn tag(e: &Effect<'_>) -> u32 {
    let mut buf = Vec::new();
    effect::encode(std::slice::from_ref(e), &mut buf);
    u32::from_le_bytes(buf[9..13].try_into().unwrap())
}

#[test]
fn every_effect_tag_and_name_has_a_description() {
    let all = every_effect();
    let mut tags: Vec<u32> = all.iter().map(|(e, _)| tag(e)).collect();
    tags.dedup();
    let count = tags.len() as u32;
    assert_eq!(tags, (0..count).collect::<Vec<_>>(), "samples in tag order");
    // No tag past the last sampled one exists: a new effect needs a sample
    // (and its description) here.
    let mut unknown = count.to_le_bytes().to_vec();
    unknown.extend([0u8; 64]);
    let err = bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .allow_trailing_bytes()
        .deserialize::<Effect<'_>>(&unknown)
        .unwrap_err();
    assert!(err.to_string().contains("variant index"), "{err}");

    let names: Vec<&str> = all.iter().map(|(e, _)| name(e)).collect();
    assert_eq!(names, EFFECT_NAMES, "every name, once, in tag order");
    for (e, text) in &all {
        assert_eq!(describe(e, 0).text(), *text);
        let j = describe(e, 0).json();
        assert_eq!(j["effect"], name(e), "{j}");
        assert_eq!(j["keys"].as_array().unwrap().len(), keys(e).len(), "{j}");
    }
}

#[test]
fn json_carries_the_same_content() {
    let all = every_effect();
    let j = |i: usize, db| describe(&all[i].0, db).json();
    assert_eq!(
        j(0, 2),
        serde_json::json!({"effect": "set", "db": 2, "keys": ["key:17"], "bytes": 100,
            "expires_unix_ms": 1_796_512_200_000u64})
    );
    let plain = Effect::Set {
        key: b("k"),
        value: b(""),
        expire_at_unix_ms: None,
    };
    assert_eq!(describe(&plain, 0).json()["expires_unix_ms"], Value::Null);
    assert_eq!(describe(&plain, 0).text(), "SET k (0 bytes)");
    assert_eq!(j(5, 0)["db"], 3, "SELECT's database is the one it selects");
    assert_eq!(j(7, 0)["dbs"], serde_json::json!([0, 1]));
    assert_eq!(j(10, 0)["keys"], serde_json::json!(["a", "b"]));
    assert_eq!(j(10, 0)["to_db"], 2);
    assert_eq!(j(12, 0)["count"], 2);
    assert_eq!(j(20, 0)["count"], -2);
    assert_eq!(j(20, 0)["element"], "x y");
    assert_eq!(
        (&j(21, 0)["start"], &j(21, 0)["end"]),
        (&serde_json::json!(0), &serde_json::json!(10))
    );
}

#[test]
fn a_record_follows_its_selects() {
    let effects = [
        Effect::Del { keys: vec![b("a")] },
        Effect::Select { db: 2 },
        Effect::FlushAll,
    ];
    let d = describe_all(&effects);
    assert_eq!(d.iter().map(|d| d.db).collect::<Vec<_>>(), [0, 2, 2]);
}

#[test]
fn bytes_are_shown_as_redis_cli_shows_them() {
    assert_eq!(show_bytes(b"user:17"), "user:17");
    assert_eq!(show_bytes("clé".as_bytes()), "clé");
    assert_eq!(show_bytes(b""), "\"\"");
    assert_eq!(show_bytes(b"a b"), "\"a b\"");
    assert_eq!(show_bytes(b"\x00\xff"), "\"\\x00\\xff\"");
    assert_eq!(show_bytes(b"q\"\\\n\r\t\x07\x08"), r#""q\"\\\n\r\t\a\b""#);
    assert_eq!(show_json(b"a b"), "a b");
    assert_eq!(show_json(b"\x00"), "\u{0}");
    assert_eq!(show_json(b"a\\\xff"), "a\\\\\\xff");
    let long = "k".repeat(300);
    let cut = format!("{}…(300 bytes)", &long[..SHOWN_BYTES]);
    assert_eq!(show_bytes(long.as_bytes()), cut);
    assert_eq!(show_json(long.as_bytes()), cut);
    // A cut never splits a character of UTF-8 text.
    let wide = "é".repeat(100);
    let shown = show_json(wide.as_bytes());
    assert!(shown.starts_with(&"é".repeat(SHOWN_BYTES / 2)), "{shown}");
    assert!(shown.ends_with("…(200 bytes)"), "{shown}");
}

#[test]
fn every_effect_name_is_in_the_dump_reference() {
    let doc = include_str!("../../docs/reference/dump.md");
    let flag = doc
        .split("- `--effect KIND`")
        .nth(1)
        .and_then(|s| s.split("\n- ").next())
        .expect("docs/reference/dump.md explains --effect");
    for n in EFFECT_NAMES {
        assert!(
            flag.contains(&format!("`{n}`")),
            "--effect {n} is not documented"
        );
    }
}
