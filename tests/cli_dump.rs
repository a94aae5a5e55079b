//! `logship dump`: one line per record, JSON that matches `verify`, `--from-lsn`,
//! `--limit`, and the exit codes at damage; a primary's writes described, and
//! the filters (`--effect`, `--key`, `--from-time`, `--to-time`).

mod common;
use common::*;
use logship::clock::rfc3339_ms;
use redis::cmd;
use std::time::Duration;

const RECORDS: u64 = 250;
const FOOTPRINT: u64 = 136;

#[test]
fn json_lines_parse_and_match_verify() {
    let d = tempfile::tempdir().unwrap();
    make_log(d.path(), RECORDS, 100);
    let v = verify_json(d.path());
    let out = logship_p(&["dump", "--json"], d.path());
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(out.stderr.is_empty(), "{out:#?}");
    let lines = out.json_lines();
    assert_eq!(lines.len() as u64, v["records"].as_u64().unwrap());
    let mut expected_lsn = 0;
    let (mut data, mut seals) = (0, 0);
    for j in &lines {
        for field in [
            "lsn",
            "end_lsn",
            "len",
            "timeline",
            "timestamp_unix_ms",
            "crc",
        ] {
            assert!(j[field].is_u64(), "{field} missing in {j}");
        }
        assert_eq!(j["lsn"].as_u64().unwrap(), expected_lsn, "{j}");
        expected_lsn = j["end_lsn"].as_u64().unwrap();
        assert_eq!(j["timeline"], 1);
        match j["kind"].as_str().unwrap() {
            "data" => {
                data += 1;
                assert_eq!(j["len"], 100);
                assert_eq!(expected_lsn - j["lsn"].as_u64().unwrap(), FOOTPRINT);
            }
            "seal" => {
                seals += 1;
                assert_eq!(j["len"], 0);
            }
            other => panic!("unexpected kind {other}"),
        }
    }
    assert_eq!(data, RECORDS);
    assert_eq!(seals + 1, segments(d.path()).len());
    assert_eq!(expected_lsn, v["end_lsn"].as_u64().unwrap());
}

#[test]
fn text_lines_show_lsn_time_kind_length_timeline_checksum_and_payload() {
    let d = tempfile::tempdir().unwrap();
    let before = logship::clock::now_unix_ms();
    make_log(d.path(), 3, 100);
    let out = logship_p(&["dump"], d.path());
    assert_eq!(out.code, Some(0), "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out:#?}");
    // lsn 0/0 (0)  2026-12-05T23:10:00.123Z  data  len 100  tl 1  crc ...
    let time = lines[0].split("  ").nth(1).unwrap();
    assert_eq!(time.len(), "2026-12-05T23:10:00.123Z".len(), "{}", lines[0]);
    let ms = logship::clock::parse_rfc3339_ms(time).unwrap();
    assert!(ms >= before - before % 1000, "{}", lines[0]);
    assert!(
        lines[0].starts_with(&format!("lsn 0/0 (0)  {time}  data  len 100  tl 1  crc ")),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("lsn 0/88 (136)  "), "{}", lines[1]);
    // bench wal's payload bytes are 0, 1, 2, ...: not effects (version 0),
    // so named as such and shown in hex.
    assert!(
        lines[0].contains(
            " ok  undecodable payload (unknown payload version 0 (this build reads version 1)), \
             100 bytes: 000102030405"
        ),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with("... (+68 bytes)"), "{}", lines[0]);
}

#[test]
fn from_lsn_and_limit_select_records() {
    let d = tempfile::tempdir().unwrap();
    make_log(d.path(), RECORDS, 100);
    let all = logship_p(&["dump", "--json"], d.path()).json_lines();
    let tenth = &all[10];
    let lsn = tenth["lsn"].as_u64().unwrap();
    let text = tenth["lsn_text"].as_str().unwrap().to_string();
    for from in [text.clone(), lsn.to_string(), format!("{lsn:#x}")] {
        let out = logship(&[
            "dump",
            "--json",
            "--from-lsn",
            &from,
            "--limit",
            "5",
            d.path().to_str().unwrap(),
        ]);
        assert_eq!(out.code, Some(0), "{out:#?}");
        assert_eq!(out.json_lines(), all[10..15].to_vec(), "--from-lsn {from}");
    }
    // An LSN inside a record starts at the next one.
    let mid = (lsn + 8).to_string();
    let out = logship(&[
        "dump",
        "--json",
        "--from-lsn",
        &mid,
        "--limit",
        "1",
        d.path().to_str().unwrap(),
    ]);
    assert_eq!(out.json_lines(), all[11..12].to_vec());
    // To the end, and nothing past it.
    let out = logship(&[
        "dump",
        "--json",
        "--from-lsn",
        &lsn.to_string(),
        d.path().to_str().unwrap(),
    ]);
    assert_eq!(out.json_lines(), all[10..].to_vec());
    let end = all.last().unwrap()["end_lsn"].to_string();
    let out = logship(&["dump", "--from-lsn", &end, d.path().to_str().unwrap()]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), ""));
    let out = logship(&["dump", "--limit", "0", d.path().to_str().unwrap()]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), ""));
}

#[test]
fn a_from_lsn_older_than_the_log_is_refused() {
    let d = tempfile::tempdir().unwrap();
    make_log(d.path(), RECORDS, 100);
    let segs = segments(d.path());
    std::fs::remove_file(&segs[0]).unwrap();
    let oldest = first_lsn_of(&segs[1]);
    let out = logship(&["dump", "--from-lsn", "0", d.path().to_str().unwrap()]);
    let line = out.assert_one_line_error(1);
    assert!(line.contains("older than"), "{line}");
    // Without --from-lsn the dump starts at the oldest record there is.
    let out = logship_p(&["dump", "--json", "--limit", "1"], d.path());
    assert_eq!(out.json_lines()[0]["lsn"], oldest);
}

#[test]
fn a_single_segment_file_dumps_its_records() {
    let d = tempfile::tempdir().unwrap();
    make_log(d.path(), RECORDS, 100);
    let all = logship_p(&["dump", "--json"], d.path()).json_lines();
    let seg = &segments(d.path())[2];
    let first = first_lsn_of(seg);
    let out = logship_p(&["dump", "--json"], seg);
    assert_eq!(out.code, Some(0), "{out:#?}");
    // The segment's records: from its first LSN up to and including its seal.
    let start = all.iter().position(|j| j["lsn"] == first).unwrap();
    let seal = start
        + all[start..]
            .iter()
            .position(|j| j["kind"] == "seal")
            .unwrap();
    let mine = all[start..=seal].to_vec();
    let got = out.json_lines();
    assert_eq!(got.len(), mine.len());
    assert!(
        got == mine,
        "the segment's records differ from the directory's"
    );
    assert_eq!(mine.last().unwrap()["kind"], "seal");
}

#[test]
fn damage_ends_the_dump_with_a_line_naming_it() {
    let d = tempfile::tempdir().unwrap();
    make_log(d.path(), RECORDS, 100);
    let all = logship_p(&["dump", "--json"], d.path()).json_lines();
    let segs = segments(d.path());

    // A torn tail: every record is printed, then the torn tail is named (exit 2).
    let last = segs.last().unwrap();
    let end = all.last().unwrap()["end_lsn"].as_u64().unwrap();
    write_at(last, 64 + end - first_lsn_of(last), &[0x77; 40]);
    let out = logship_p(&["dump", "--json"], d.path());
    let line = out.assert_one_line_error(2).to_string();
    assert!(
        line.contains("torn tail") && line.contains("truncate"),
        "{line}"
    );
    assert_eq!(out.json_lines(), all);

    // Corruption in an older segment: the records before it, then exit 3.
    let second_record = 64 + FOOTPRINT;
    flip_bit(&segs[0], (second_record + 40) as usize);
    let out = logship_p(&["dump"], d.path());
    let line = out.assert_one_line_error(3).to_string();
    assert!(
        line.contains(segs[0].file_name().unwrap().to_str().unwrap()),
        "{line}"
    );
    assert!(
        line.contains(&format!("byte offset {second_record} ")),
        "{line}"
    );
    assert!(line.contains("LSN 0/88 = 136"), "{line}");
    assert_eq!(out.stdout.lines().count(), 1, "{out:#?}");
}

/// A primary's log after a few writes: `(data dir, time between the two
/// halves, Unix ms)`. Before: `SET user:1 hello EX 100`, `HSET user:2 a 1 b 2`,
/// `LPUSH queue x y z`; after: `DEL user:1 queue`, `SET tmp v` and
/// `FLUSHALL` in database 2, `SADD tags a b`, `ZADD board 1 x 2 y`.
fn primary_log() -> (tempfile::TempDir, u64) {
    let d = tempfile::tempdir().unwrap();
    init(d.path(), "1MiB");
    let mut p = Primary::start(d.path(), &[]);
    let mut c = p.client();
    let mut run = |args: &[&str]| {
        let _: redis::Value = cmd(args[0]).arg(&args[1..]).query(&mut c).unwrap();
    };
    run(&["SET", "user:1", "hello", "EX", "100"]);
    run(&["HSET", "user:2", "a", "1", "b", "2"]);
    run(&["LPUSH", "queue", "x", "y", "z"]);
    // Records are stamped in milliseconds: a clear gap between the halves.
    std::thread::sleep(Duration::from_millis(30));
    let mid = logship::clock::now_unix_ms();
    std::thread::sleep(Duration::from_millis(30));
    run(&["DEL", "user:1", "queue"]);
    run(&["SELECT", "2"]);
    run(&["SET", "tmp", "v"]);
    run(&["FLUSHALL"]);
    run(&["SELECT", "0"]);
    run(&["SADD", "tags", "a", "b"]);
    run(&["ZADD", "board", "1", "x", "2", "y"]);
    p.stop();
    (d, mid)
}

/// The descriptions (what follows `crc … ok  `) of `dump ARGS DIR`'s lines.
fn described(args: &[&str], dir: &std::path::Path) -> Vec<String> {
    let out = logship_p(args, dir);
    assert_eq!(out.code, Some(0), "{out:#?}");
    out.stdout
        .lines()
        .map(|l| l.split_once(" ok  ").expect(l).1.to_string())
        .collect()
}

#[test]
fn a_primary_s_writes_are_described_and_filtered() {
    let start = logship::clock::now_unix_ms();
    let (d, mid) = primary_log();
    let end = logship::clock::now_unix_ms();
    let data: Vec<String> = described(&["dump", "--effect", "set", "--effect", "hset"], d.path());
    assert_eq!(data.len(), 3, "{data:#?}");
    assert!(
        data[0].starts_with("SET user:1 (5 bytes, expires 20") && data[0].ends_with("Z)"),
        "{data:#?}"
    );
    assert_eq!(data[1], "HSET user:2 (2 fields)");
    assert_eq!(data[2], "SELECT 2; SET tmp (1 byte)");

    // --effect, any case: the FLUSHALL record, in database 2.
    let flush = described(&["dump", "--effect", "FlushAll"], d.path());
    assert_eq!(flush, ["SELECT 2; FLUSHALL"]);

    // --key: every record naming a key that matches, in any effect.
    let users = described(&["dump", "--key", "user:*"], d.path());
    assert_eq!(
        users[1..],
        [
            "HSET user:2 (2 fields)".to_string(),
            "DEL user:1 queue".into()
        ],
        "{users:#?}"
    );
    assert!(users[0].starts_with("SET user:1 "), "{users:#?}");

    // --from-time / --to-time: inclusive bounds on the record's time; with
    // a filter on effects too (AND), and --limit counting printed records.
    let (from, to) = (rfc3339_ms(mid), rfc3339_ms(end));
    let later = described(
        &[
            "dump",
            "--effect",
            "set",
            "--effect",
            "lpush",
            "--from-time",
            &from,
        ],
        d.path(),
    );
    assert_eq!(later, ["SELECT 2; SET tmp (1 byte)"]);
    let earlier = described(
        &[
            "dump",
            "--from-time",
            &rfc3339_ms(start),
            "--to-time",
            &from,
        ],
        d.path(),
    );
    assert_eq!(earlier.len(), 3, "{earlier:#?}");
    assert_eq!(earlier[2], "LPUSH queue (3 elements)");
    let limited = described(
        &[
            "dump",
            "--from-time",
            &from,
            "--to-time",
            &to,
            "--limit",
            "2",
        ],
        d.path(),
    );
    assert_eq!(limited, ["DEL user:1 queue", "SELECT 2; SET tmp (1 byte)"]);
    let all_later = described(&["dump", "--from-time", &from, "--to-time", &to], d.path());
    assert!(
        all_later.ends_with(&[
            "SELECT 2; FLUSHALL".to_string(),
            "SADD tags (2 members)".into(),
            "ZADD board (2 members)".into(),
        ]),
        "{all_later:#?}"
    );

    // An offset other than Z names the same instant.
    let plus_one = chrono_plus_one(mid);
    assert_eq!(
        described(&["dump", "--from-time", &plus_one], d.path()),
        all_later
    );
}

/// `ms` as RFC 3339 at +01:00.
fn chrono_plus_one(ms: u64) -> String {
    let utc = rfc3339_ms(ms + 3_600_000);
    format!("{}+01:00", utc.strip_suffix('Z').unwrap())
}

#[test]
fn json_records_carry_time_and_effects() {
    let before = logship::clock::now_unix_ms();
    let (d, _) = primary_log();
    let out = logship_p(&["dump", "--json", "--key", "user:*"], d.path());
    assert_eq!(out.code, Some(0), "{out:#?}");
    let lines = out.json_lines();
    assert_eq!(lines.len(), 3, "{out:#?}");
    let set = &lines[0];
    let t = set["timestamp_unix_ms"].as_u64().unwrap();
    assert_eq!(set["time"], rfc3339_ms(t));
    assert_eq!(set["effects"].as_array().unwrap().len(), 1, "{set}");
    let e = &set["effects"][0];
    assert_eq!(
        (&e["effect"], &e["db"], &e["bytes"]),
        (&"set".into(), &0.into(), &5.into()),
        "{e}"
    );
    assert_eq!(e["keys"], serde_json::json!(["user:1"]));
    let expires = e["expires_unix_ms"].as_u64().unwrap();
    assert!(expires >= before + 100_000 && expires <= t + 100_000, "{e}");
    assert_eq!(
        lines[1]["effects"],
        serde_json::json!([{"effect": "hset", "db": 0, "keys": ["user:2"], "count": 2}])
    );
    assert_eq!(
        lines[2]["effects"],
        serde_json::json!([{"effect": "del", "db": 0, "keys": ["user:1", "queue"]}])
    );
    // The FLUSHALL in database 2, and a seal or other record without effects.
    let flush = logship_p(&["dump", "--json", "--effect", "flushall"], d.path()).json_lines();
    assert_eq!(
        flush[0]["effects"],
        serde_json::json!([
            {"effect": "select", "db": 2, "keys": []},
            {"effect": "flushall", "db": 2, "keys": []}
        ])
    );
}

#[test]
fn bad_filters_are_refused_in_one_line() {
    let d = tempfile::tempdir().unwrap();
    make_log(d.path(), 3, 100);
    let out = logship_p(&["dump", "--effect", "push"], d.path());
    let line = out.assert_one_line_error(1);
    assert!(line.contains("'push' is not an effect name"), "{line}");
    assert!(
        line.contains("flushall") && line.contains("lpush"),
        "{line}"
    );
    let out = logship_p(&["dump", "--from-time", "2026-12-05T10:00:00"], d.path());
    let line = out.assert_one_line_error(1);
    assert!(
        line.contains("--from-time") && line.contains("ambiguous"),
        "{line}"
    );
    let out = logship_p(&["dump", "--to-time", "yesterday"], d.path());
    let line = out.assert_one_line_error(1);
    assert!(
        line.contains("--to-time") && line.contains("RFC 3339"),
        "{line}"
    );
    let out = logship_p(
        &[
            "dump",
            "--from-time",
            "2026-12-05T10:00:00Z",
            "--to-time",
            "2026-12-05T10:00:00+01:00",
        ],
        d.path(),
    );
    let line = out.assert_one_line_error(1);
    assert!(line.contains("is after --to-time"), "{line}");
    // Records whose payload is not effects match no effect or key filter.
    let out = logship_p(&["dump", "--key", "*"], d.path());
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), ""), "{out:#?}");
}
