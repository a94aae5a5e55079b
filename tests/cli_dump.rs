//! `logship dump`: one line per record, JSON that matches `verify`, `--from-lsn`,
//! `--limit`, and the exit codes at damage.

mod common;
use common::*;

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
fn text_lines_show_lsn_kind_length_timeline_checksum_and_payload() {
    let d = tempfile::tempdir().unwrap();
    make_log(d.path(), 3, 100);
    let out = logship_p(&["dump"], d.path());
    assert_eq!(out.code, Some(0), "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out:#?}");
    assert!(
        lines[0].starts_with("lsn 0/0 (0)  data  len 100  tl 1  crc "),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("lsn 0/88 (136)  data"), "{}", lines[1]);
    // bench wal's payload bytes are 0, 1, 2, ...: not printable, so hex.
    assert!(lines[0].contains(" ok  000102030405"), "{}", lines[0]);
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
