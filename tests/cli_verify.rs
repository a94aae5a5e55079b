//! `logship verify` on logs made by `logship bench wal`, sound and damaged:
//! exit 0 sound, 2 torn tail, 3 corruption, naming file, offset and LSN.

mod common;
use common::*;

const RECORDS: u64 = 300;
const RECORD_BYTES: u64 = 100;
/// A 100-byte record occupies 32 + 104 bytes.
const FOOTPRINT: u64 = 136;

#[test]
fn a_sound_log_exits_0_with_a_one_line_summary() {
    let d = tempfile::tempdir().unwrap();
    let wal = d.path().join("wal");
    make_log(&wal, RECORDS, RECORD_BYTES);
    let segs = segments(&wal);
    assert!(
        segs.len() >= 5,
        "4 KiB segments: expected several, got {segs:?}"
    );
    // Given as the WAL directory, as the data directory above it, or as JSON.
    for p in [&wal, &d.path().to_path_buf()] {
        let out = logship_p(&["verify"], p);
        assert_eq!(out.code, Some(0), "{out:#?}");
        assert_eq!(out.stdout.lines().count(), 1, "{out:#?}");
        let line = out.stdout.trim();
        assert!(line.contains(": sound: "), "{line}");
        assert!(line.contains(&format!("{} segments", segs.len())), "{line}");
        assert!(line.contains("MB/s"), "{line}");
        assert!(out.stderr.is_empty(), "{out:#?}");
    }
    let v = verify_json(&wal);
    assert_eq!(v["status"], "sound");
    assert_eq!(v["exit_code"], 0);
    // Every full segment ends in a seal record.
    assert_eq!(v["records"], RECORDS + segs.len() as u64 - 1);
    assert_eq!(v["first_lsn"], 0);
    let end = v["end_lsn"].as_u64().unwrap();
    assert_eq!(end, RECORDS * FOOTPRINT + (segs.len() as u64 - 1) * 32);
    assert_eq!(v["last_lsn"].as_u64().unwrap(), end - FOOTPRINT);
    assert_eq!(v["bytes"].as_u64().unwrap(), end);
}

#[test]
fn a_torn_tail_exits_2_and_says_recovery_would_truncate() {
    let d = tempfile::tempdir().unwrap();
    make_log(d.path(), RECORDS, RECORD_BYTES);
    let before = verify_json(d.path());
    let end = before["end_lsn"].as_u64().unwrap();
    let last = segments(d.path()).pop().unwrap();
    let offset = 64 + end - first_lsn_of(&last);
    // Half of a record: a header claiming 100 bytes and a few of them.
    let mut torn = vec![0u8; 48];
    torn[0..4].copy_from_slice(&0xdead_beef_u32.to_le_bytes());
    torn[4..8].copy_from_slice(&100u32.to_le_bytes());
    torn[8..16].copy_from_slice(&end.to_le_bytes());
    torn[24] = 1;
    torn[28] = 1;
    torn[32..48].fill(0x5a);
    write_at(&last, offset, &torn);

    let out = logship_p(&["verify"], d.path());
    let line = out.assert_one_line_error(2).to_string();
    let name = last.file_name().unwrap().to_str().unwrap();
    assert!(line.contains("torn tail"), "{line}");
    assert!(line.contains(name), "{line}");
    assert!(line.contains(&format!("byte offset {offset} ")), "{line}");
    assert!(line.contains(&format!("= {end})")), "{line}");
    assert!(
        line.contains("truncate") && line.contains(".broken"),
        "{line}"
    );
    assert!(out.stdout.contains(": torn tail: "), "{out:#?}");
    let after = verify_json(d.path());
    assert_eq!(after["status"], "torn_tail");
    assert_eq!(after["exit_code"], 2);
    assert_eq!(
        after["records"], before["records"],
        "intact records are all kept"
    );
    assert_eq!(after["torn_tail"]["offset"], offset);
    assert_eq!(after["torn_tail"]["lsn"], end);
}

#[test]
fn a_bit_flip_in_an_older_segment_exits_3_and_says_recovery_refuses() {
    let d = tempfile::tempdir().unwrap();
    make_log(d.path(), RECORDS, RECORD_BYTES);
    let segs = segments(d.path());
    let second = &segs[1];
    let first_lsn = first_lsn_of(second);
    // Inside the payload of the segment's second record.
    let record_offset = 64 + FOOTPRINT;
    flip_bit(second, (record_offset + 32 + 10) as usize);
    let lsn = first_lsn + FOOTPRINT;
    let name = second.file_name().unwrap().to_str().unwrap();
    // The whole directory, and the segment on its own.
    for p in [d.path(), second.as_path()] {
        let out = logship_p(&["verify"], p);
        let line = out.assert_one_line_error(3).to_string();
        assert!(line.contains(name), "{line}");
        assert!(
            line.contains(&format!("at byte offset {record_offset} ")),
            "{line}"
        );
        assert!(line.contains(&format!("= {lsn})")), "{line}");
        assert!(line.contains("checksum mismatch"), "{line}");
        assert!(line.contains("refuse"), "{line}");
        assert!(out.stdout.is_empty(), "{out:#?}");
    }
    let v = logship_p(&["verify", "--json"], d.path());
    assert_eq!(v.code, Some(3));
    let j = &v.json_lines()[0];
    assert_eq!(j["status"], "corrupt");
    assert_eq!(j["exit_code"], 3);
}

#[test]
fn damage_in_the_last_segment_alone_is_judged_as_a_torn_tail_there() {
    let d = tempfile::tempdir().unwrap();
    make_log(d.path(), RECORDS, RECORD_BYTES);
    let segs = segments(d.path());
    // Damage in the last segment, given on its own, is a torn tail; the same
    // damage in an older segment given on its own is corruption (a later
    // segment follows it, so it should have ended with a seal).
    let last = segs.last().unwrap();
    flip_bit(last, 64 + 32 + 3);
    let out = logship_p(&["verify"], last);
    out.assert_one_line_error(2);
    flip_bit(&segs[1], 64 + 32 + 3);
    let out = logship_p(&["verify"], &segs[1]);
    out.assert_one_line_error(3);
    // An undamaged older segment on its own is sound.
    let out = logship_p(&["verify"], &segs[0]);
    assert_eq!(out.code, Some(0), "{out:#?}");
}
