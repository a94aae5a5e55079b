//! Damage that recovery must refuse rather than repair — a flipped bit in an older
//! segment, a missing segment, a foreign segment, a misnamed segment, damage in the
//! last segment followed by records further than the torn-tail window — and damage
//! it may repair, always after saving a copy.

mod common;

use common::{as_lsn_payloads, lsn_payloads, offset_in, options, write_log, Disk};
use logship::wal::format::{RECORD_HEADER_BYTES, SEAL_RECORD_BYTES};
use logship::wal::scan::{SegmentFile, TORN_WINDOW_BYTES};
use logship::wal::{self, Appended, SyncPolicy, WalError, WalReader};
use rand::{Rng, SeedableRng};
use std::path::Path;

const SEGMENT_BYTES: u64 = 4096;

fn len_of(i: u64) -> usize {
    1 + (i as usize * 53) % 300
}

/// A closed log of several 4 KiB segments.
fn small_log(disk: &Disk) -> Vec<(Appended, Vec<u8>)> {
    let opts = options(&disk.dir(), SEGMENT_BYTES, SyncPolicy::Always);
    let appended = write_log(disk, &opts, 120, len_of);
    assert!(disk.segments().len() >= 4, "the log spans several segments");
    appended
}

/// The appended records whose LSN lies in `seg`.
fn records_in<'a>(
    appended: &'a [(Appended, Vec<u8>)],
    seg: &SegmentFile,
    next: Option<&SegmentFile>,
) -> Vec<&'a (Appended, Vec<u8>)> {
    appended
        .iter()
        .filter(|(a, _)| a.lsn >= seg.first_lsn && next.is_none_or(|n| a.lsn < n.first_lsn))
        .collect()
}

fn flip(disk: &Disk, path: &Path, offset: u64, mask: u8) {
    let b = disk.read(path)[offset as usize];
    disk.overwrite(path, offset, &[b ^ mask]);
}

/// Asserts that both `open` and `scan_dir` refuse the log with this corruption,
/// and that refusing changed nothing on disk.
fn assert_corruption(disk: &Disk, seg: &Path, offset: u64, lsn: u64) -> String {
    let before: Vec<(String, Vec<u8>)> = disk
        .names()
        .into_iter()
        .map(|n| {
            let d = disk.read(&disk.dir().join(&n));
            (n, d)
        })
        .collect();
    let dir = disk.dir();
    let mut reasons = Vec::new();
    for err in [
        wal::open(disk.fs(), options(&dir, SEGMENT_BYTES, SyncPolicy::Always))
            .err()
            .expect("open refuses"),
        wal::scan_dir(&*disk.fs(), &dir).expect_err("scan refuses"),
    ] {
        match err {
            WalError::Corruption {
                segment,
                offset: o,
                lsn: l,
                reason,
            } => {
                assert_eq!(segment, seg, "{reason}");
                assert_eq!((o, l), (offset, lsn), "{reason}");
                reasons.push(reason);
            }
            other => panic!("expected corruption in {}, got {other}", seg.display()),
        }
    }
    let after: Vec<(String, Vec<u8>)> = disk
        .names()
        .into_iter()
        .map(|n| {
            let d = disk.read(&disk.dir().join(&n));
            (n, d)
        })
        .collect();
    assert!(before == after, "a refused open changed the directory");
    reasons.remove(0)
}

#[test]
fn bit_flip_in_an_older_segment_is_refused_naming_file_offset_and_lsn() {
    for disk in [Disk::mem(), Disk::std()] {
        let appended = small_log(&disk);
        let segs = disk.segments();
        let seg = &segs[1];
        let in_seg = records_in(&appended, seg, segs.get(2));
        let (victim, p) = in_seg[in_seg.len() / 2];
        let off = offset_in(seg, victim.lsn);
        // Payload, length field, LSN field, kind byte: each is caught at the record.
        for (at, mask) in [
            (off + RECORD_HEADER_BYTES as u64 + p.len() as u64 / 2, 0x04),
            (off + 4, 0x01),
            (off + 9, 0x80),
            (off + 24, 0x02),
        ] {
            let d = disk.copy_of();
            let path = d.dir().join(seg.path.file_name().unwrap());
            flip(&d, &path, at, mask);
            let reason = assert_corruption(&d, &path, off, victim.lsn);
            assert!(
                reason.contains("before the segment's seal record"),
                "{reason}"
            );
            // The reader delivers everything before the damage, then the error.
            let mut got = Vec::new();
            let mut err = None;
            for r in WalReader::open(d.fs(), d.dir(), 0, None).unwrap() {
                match r {
                    Ok(r) => got.push(r.lsn),
                    Err(e) => err = Some(e),
                }
            }
            assert!(
                matches!(err, Some(WalError::Corruption { offset, lsn, .. }) if offset == off && lsn == victim.lsn)
            );
            assert_eq!(got.last().copied().map(|l| l < victim.lsn), Some(true));
        }
        // A damaged or missing seal of an older segment is refused too.
        let next_first = segs[2].first_lsn;
        let seal_lsn = next_first - SEAL_RECORD_BYTES;
        let seal_off = offset_in(seg, seal_lsn);
        for zero in [false, true] {
            let d = disk.copy_of();
            let path = d.dir().join(seg.path.file_name().unwrap());
            if zero {
                d.overwrite(&path, seal_off, &[0u8; 32]);
            } else {
                flip(&d, &path, seal_off + 24, 0x01);
            }
            assert_corruption(&d, &path, seal_off, seal_lsn);
        }
    }
}

#[test]
fn missing_middle_segment_is_a_gap() {
    for disk in [Disk::mem(), Disk::std()] {
        small_log(&disk);
        let segs = disk.segments();
        disk.fs().remove(&segs[2].path).unwrap();
        let dir = disk.dir();
        for err in [
            wal::open(disk.fs(), options(&dir, SEGMENT_BYTES, SyncPolicy::Always))
                .err()
                .expect("open refuses"),
            wal::scan_dir(&*disk.fs(), &dir).expect_err("scan refuses"),
        ] {
            match err {
                WalError::Gap { reason } => {
                    assert!(
                        reason.contains(&segs[3].path.display().to_string()),
                        "{reason}"
                    );
                    assert!(
                        reason.contains(&format!("{:#x}", segs[2].first_lsn)),
                        "{reason}"
                    );
                }
                other => panic!("expected a gap, got {other}"),
            }
        }
        // A reader bounded past the hole refuses too.
        let end = disk.segments().last().unwrap().first_lsn + 1;
        let r: Result<Vec<_>, _> = WalReader::open(disk.fs(), &dir, 0, Some(end))
            .unwrap()
            .collect();
        assert!(matches!(r, Err(WalError::Gap { .. })), "{r:?}");
    }
}

#[test]
fn segment_of_another_system_is_foreign() {
    for kind in ["mem", "std"] {
        let mk = || {
            if kind == "mem" {
                Disk::mem()
            } else {
                Disk::std()
            }
        };
        let ours = mk();
        let theirs = mk();
        let a = small_log(&ours);
        let mut opts = options(&theirs.dir(), SEGMENT_BYTES, SyncPolicy::Always);
        opts.system_id ^= 1;
        let b = write_log(&theirs, &opts, 120, len_of);
        // Same records, same layout: the segments have the same names.
        assert_eq!(as_lsn_payloads(&a), as_lsn_payloads(&b));
        let segs = ours.segments();
        let name = segs[1].path.file_name().unwrap();
        ours.replace(&segs[1].path, &theirs.read(&theirs.dir().join(name)));
        let dir = ours.dir();
        for err in [
            wal::open(ours.fs(), options(&dir, SEGMENT_BYTES, SyncPolicy::Always))
                .err()
                .expect("open refuses"),
            wal::scan_dir(&*ours.fs(), &dir).expect_err("scan refuses"),
        ] {
            match err {
                WalError::Foreign { segment, reason } => {
                    assert_eq!(segment, segs[1].path, "{reason}");
                }
                other => panic!("expected foreign, got {other}"),
            }
        }
        // A whole log of another system is refused when opened as ours.
        match wal::open(
            theirs.fs(),
            options(&theirs.dir(), SEGMENT_BYTES, SyncPolicy::Always),
        ) {
            Err(WalError::Foreign { segment, .. }) => assert_eq!(segment, theirs.dir()),
            Err(e) => panic!("expected foreign, got {e}"),
            Ok(_) => panic!("opened a log of another system"),
        }
    }
}

#[test]
fn segment_under_the_wrong_name_is_refused() {
    for disk in [Disk::mem(), Disk::std()] {
        small_log(&disk);
        let segs = disk.segments();
        // The first segment renamed to start at LSN 8 instead of 0.
        let d = disk.copy_of();
        let wrong = d.dir().join(wal::format::segment_file_name(1, 8));
        d.fs()
            .rename(&d.dir().join(segs[0].path.file_name().unwrap()), &wrong)
            .unwrap();
        let reason = assert_corruption(&d, &wrong, 0, 8);
        assert!(reason.contains("file name says"), "{reason}");
        // Two middle segments with their contents swapped: names still chain, the
        // headers disagree with them.
        let d = disk.copy_of();
        let p1 = d.dir().join(segs[1].path.file_name().unwrap());
        let p2 = d.dir().join(segs[2].path.file_name().unwrap());
        let (c1, c2) = (d.read(&p1), d.read(&p2));
        d.replace(&p1, &c2);
        d.replace(&p2, &c1);
        assert_corruption(&d, &p1, 0, segs[1].first_lsn);
    }
}

/// Damage in the last segment with intact records after it: within the torn
/// window it is a torn tail (cut off after saving a copy, the records after it
/// counted); at the window's distance it is damage inside the log and refused.
/// Records of exactly 64 KiB make the distances exact.
#[test]
fn torn_window_decides_between_repair_and_refusal() {
    const RECORD_BYTES: u64 = 64 << 10;
    let per_window = TORN_WINDOW_BYTES / RECORD_BYTES;
    let disk = Disk::std();
    let dir = disk.dir();
    let opts = options(&dir, 64 << 20, SyncPolicy::Never);
    let payload_len = (RECORD_BYTES - RECORD_HEADER_BYTES as u64) as usize;
    let appended = write_log(&disk, &opts, per_window + 1, |_| payload_len);
    let seg = disk.segments()[0].clone();
    assert_eq!(disk.segments().len(), 1);
    let last_off = offset_in(&seg, appended.last().unwrap().0.lsn);

    // Record 0 damaged: the last intact record is exactly the window away.
    let d = disk.copy_of();
    let path = d.dir().join(seg.path.file_name().unwrap());
    flip(&d, &path, 64 + 1000, 0x10);
    assert_eq!(last_off - 64, TORN_WINDOW_BYTES);
    let reason = assert_corruption(&d, &path, 64, 0);
    assert!(
        reason.contains(&format!("{per_window} intact records")),
        "{reason}"
    );
    drop(d);

    // Record 1 damaged: the rest lies within the window, the tail is torn.
    let d = disk.copy_of();
    let path = d.dir().join(seg.path.file_name().unwrap());
    let (victim, _) = &appended[1];
    let off = offset_in(&seg, victim.lsn);
    flip(&d, &path, off + 1000, 0x10);
    let damaged = d.read(&path);
    let mut opts = opts.clone();
    opts.dir = d.dir();
    let (w, rec) = wal::open(d.fs(), opts).unwrap();
    let t = rec
        .truncated
        .clone()
        .unwrap_or_else(|| panic!("no torn tail: {rec:?}"));
    assert_eq!((t.offset, t.lsn), (off, victim.lsn));
    assert_eq!(t.intact_records_after, per_window - 1);
    let copy = rec.saved_copy.clone().expect("a saved copy");
    assert!(
        d.read(&copy) == damaged,
        "the copy differs from the damaged file"
    );
    assert_eq!(rec.next_lsn, victim.lsn);
    w.close().unwrap();
    drop(w);
    assert_eq!(
        lsn_payloads(d.fs(), &d.dir()),
        as_lsn_payloads(&appended[..1])
    );
}

#[test]
fn torn_tail_with_intact_records_after_it_is_cut_and_counted() {
    for disk in [Disk::mem(), Disk::std()] {
        let appended = small_log(&disk);
        let segs = disk.segments();
        let seg = segs.last().unwrap();
        let in_seg = records_in(&appended, seg, None);
        assert!(in_seg.len() >= 4);
        let idx_in_seg = 1;
        let (victim, p) = in_seg[idx_in_seg];
        let off = offset_in(seg, victim.lsn);
        flip(
            &disk,
            &seg.path,
            off + RECORD_HEADER_BYTES as u64 + p.len() as u64 - 1,
            0x01,
        );
        let damaged = disk.read(&seg.path);
        let report = wal::scan_dir(&*disk.fs(), &disk.dir()).unwrap();
        let t = report.torn_tail.clone().expect("a torn tail");
        assert_eq!(
            (t.segment.as_path(), t.offset, t.lsn),
            (seg.path.as_path(), off, victim.lsn)
        );
        assert_eq!(
            t.intact_records_after,
            (in_seg.len() - idx_in_seg - 1) as u64
        );
        let (w, rec) = wal::open(
            disk.fs(),
            options(&disk.dir(), SEGMENT_BYTES, SyncPolicy::Always),
        )
        .unwrap();
        assert_eq!(rec.truncated, Some(t));
        assert!(disk.read(rec.saved_copy.as_ref().unwrap()) == damaged);
        w.close().unwrap();
        drop(w);
        let kept = appended
            .iter()
            .position(|(a, _)| a.lsn == victim.lsn)
            .unwrap();
        assert_eq!(
            lsn_payloads(disk.fs(), &disk.dir()),
            as_lsn_payloads(&appended[..kept])
        );
        // A second torn tail later gets a second, distinct copy.
        let again = wal::open(
            disk.fs(),
            options(&disk.dir(), SEGMENT_BYTES, SyncPolicy::Always),
        );
        let (w, rec) = again.unwrap();
        assert!(rec.truncated.is_none());
        w.close().unwrap();
    }
}

/// Random bit flips anywhere in a random segment: either the log is refused, or it
/// opens with everything intact, or it opens with a torn tail cut off after a
/// byte-identical copy was saved and the rest is an exact prefix. Damage inside
/// the checked records of an older segment is always refused.
#[test]
fn random_damage_is_refused_or_repaired_with_a_copy_never_silently_dropped() {
    let base = Disk::mem();
    let appended = small_log(&base);
    let all = as_lsn_payloads(&appended);
    let segs = base.segments();
    let (mut refused, mut repaired, mut untouched) = (0, 0, 0);
    for seed in 0..300u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let d = base.copy_of();
        let si = rng.gen_range(0..segs.len());
        let seg = &segs[si];
        let len = d.read(&seg.path).len() as u64;
        // Aim at the records most of the time, anywhere in the file otherwise.
        let used_end = match segs.get(si + 1) {
            Some(n) => offset_in(seg, n.first_lsn),
            None => offset_in(seg, appended.last().unwrap().0.end_lsn) + 64,
        };
        let at = if rng.gen_bool(0.8) {
            rng.gen_range(0..used_end)
        } else {
            rng.gen_range(0..len)
        };
        flip(&d, &seg.path, at, 1 << rng.gen_range(0..8));
        let damaged = d.read(&seg.path);
        let is_last = si + 1 == segs.len();
        let ctx = format!("seed {seed}: segment {si} offset {at}");
        match wal::open(d.fs(), options(&d.dir(), SEGMENT_BYTES, SyncPolicy::Always)) {
            Err(e) => {
                assert!(
                    matches!(e, WalError::Corruption { .. } | WalError::Gap { .. }),
                    "{ctx}: {e}"
                );
                assert!(
                    d.read(&seg.path) == damaged,
                    "{ctx}: a refused open changed the file"
                );
                refused += 1;
            }
            Ok((w, rec)) => {
                // Damage an older segment survives can only be in bytes no
                // checksum covers (padding, space after the seal): nothing may go.
                assert!(
                    is_last || rec.truncated.is_none(),
                    "{ctx}: an older segment was repaired"
                );
                w.close().unwrap();
                drop(w);
                let got = lsn_payloads(d.fs(), &d.dir());
                match rec.truncated {
                    None => {
                        assert_eq!(got, all, "{ctx}: records lost without a torn tail");
                        untouched += 1;
                    }
                    Some(t) => {
                        assert_eq!(t.segment, seg.path, "{ctx}");
                        let copy = rec.saved_copy.expect("a saved copy");
                        assert!(d.read(&copy) == damaged, "{ctx}");
                        let kept = all.iter().take_while(|(l, _)| *l < t.lsn).count();
                        assert_eq!(got, all[..kept], "{ctx}");
                        repaired += 1;
                    }
                }
            }
        }
    }
    // Every kind of outcome happened.
    assert!(
        refused > 0 && repaired > 0 && untouched > 0,
        "{refused} {repaired} {untouched}"
    );
}

/// Opening on a newer timeline seals the old timeline's segment and continues in
/// a new one; opening again on the older timeline is refused as foreign.
#[test]
fn timeline_switch_seals_and_going_back_is_refused() {
    for disk in [Disk::mem(), Disk::std()] {
        let dir = disk.dir();
        let opts1 = options(&dir, SEGMENT_BYTES, SyncPolicy::Always);
        let first = write_log(&disk, &opts1, 10, len_of);
        let mut opts2 = opts1.clone();
        opts2.timeline = 2;
        let (w, rec) = wal::open(disk.fs(), opts2.clone()).unwrap();
        let end1 = first.last().unwrap().0.end_lsn;
        assert_eq!(rec.next_lsn, end1 + SEAL_RECORD_BYTES);
        let a = w.append(b"on timeline 2").unwrap();
        assert_eq!(a.lsn, end1 + SEAL_RECORD_BYTES);
        w.wait_acked(a.end_lsn).unwrap();
        w.close().unwrap();
        drop(w);
        let segs = disk.segments();
        assert_eq!(
            segs.iter().map(|s| s.timeline).collect::<Vec<_>>(),
            vec![1, 2]
        );
        let recs = common::data_records(disk.fs(), &dir);
        assert_eq!(recs.len(), 11);
        assert!(recs[..10].iter().all(|r| r.timeline == 1));
        assert_eq!(
            (recs[10].timeline, &recs[10].payload[..]),
            (2, &b"on timeline 2"[..])
        );
        common::assert_contiguous(disk.fs(), &dir);
        match wal::open(disk.fs(), opts1.clone()) {
            Err(WalError::Foreign { segment, reason }) => {
                assert_eq!(segment, dir);
                assert!(reason.contains("timeline 2"), "{reason}");
            }
            Err(e) => panic!("expected foreign, got {e}"),
            Ok(_) => panic!("went back to timeline 1"),
        }
        let (w, rec) = wal::open(disk.fs(), opts2).unwrap();
        assert_eq!(rec.next_lsn, a.end_lsn);
        w.close().unwrap();
    }
}
