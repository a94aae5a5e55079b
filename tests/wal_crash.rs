//! Crash tests: the last record of the log is damaged at every byte offset —
//! zeroed from there to the end of the segment (a cut write) or overwritten with
//! junk — and recovery must keep exactly the complete records, cut off exactly the
//! torn tail, save a copy of the damaged file first, and continue at the right LSN.

mod common;

use common::{lsn_payloads, options, payload, Disk};
use logship::wal::format::{align8, RECORD_HEADER_BYTES, SEAL_RECORD_BYTES, SEGMENT_HEADER_BYTES};
use logship::wal::scan::SegmentFile;
use logship::wal::{self, Appended, SyncPolicy, WalError};
use std::path::PathBuf;

const SEGMENT_BYTES: u64 = 4096;
/// Payload length of the record that gets damaged: not a multiple of 8, so the
/// record ends in three bytes of padding.
const LAST_LEN: usize = 37;

/// A closed log whose last record is the one to damage.
struct Base {
    disk: Disk,
    appended: Vec<(Appended, Vec<u8>)>,
    /// The last segment (it holds the last record).
    seg: SegmentFile,
}

impl Base {
    fn last(&self) -> &(Appended, Vec<u8>) {
        self.appended.last().expect("records were appended")
    }

    /// File offset of the last record's header.
    fn last_offset(&self) -> u64 {
        SEGMENT_HEADER_BYTES as u64 + (self.last().0.lsn - self.seg.first_lsn)
    }
}

/// Where the last record lands in its segment.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Placement {
    /// After other records of the same segment.
    MidSegment,
    /// As the first record of a segment (right after the segment header).
    FirstInSegment,
}

fn build(disk: Disk, placement: Placement) -> Base {
    let dir = disk.dir();
    let (w, rec) = wal::open(disk.fs(), options(&dir, SEGMENT_BYTES, SyncPolicy::Always)).unwrap();
    assert_eq!(rec.next_lsn, 0);
    let mut appended: Vec<(Appended, Vec<u8>)> = Vec::new();
    match placement {
        Placement::MidSegment => {
            for i in 0..90u64 {
                let p = payload(i, 1 + (i as usize * 37) % 150);
                appended.push((w.append(&p).unwrap(), p));
            }
            let p = payload(1000, LAST_LEN);
            appended.push((w.append(&p).unwrap(), p));
        }
        Placement::FirstInSegment => {
            for i in 0..1000u64 {
                let p = payload(i, LAST_LEN);
                let a = w.append(&p).unwrap();
                let after_seal = matches!(appended.last(), Some((prev, _)) if a.lsn == prev.end_lsn + SEAL_RECORD_BYTES);
                appended.push((a, p));
                if after_seal && appended.len() > 60 {
                    break;
                }
            }
        }
    }
    w.wait_acked(appended.last().unwrap().0.end_lsn).unwrap();
    w.close().unwrap();
    drop(w);
    let segs = disk.segments();
    assert!(segs.len() >= 2, "the log spans several segments");
    let seg = segs.last().unwrap().clone();
    let base = Base {
        disk,
        appended,
        seg,
    };
    let off = base.last_offset();
    match placement {
        Placement::MidSegment => assert!(off > SEGMENT_HEADER_BYTES as u64),
        Placement::FirstInSegment => assert_eq!(off, SEGMENT_HEADER_BYTES as u64),
    }
    assert_eq!(
        lsn_payloads(base.disk.fs(), &base.disk.dir()),
        base.appended
            .iter()
            .map(|(a, p)| (a.lsn, p.clone()))
            .collect::<Vec<_>>()
    );
    base
}

/// How the last record is damaged.
#[derive(Clone, Copy, Debug)]
enum Damage {
    /// Zeroes from `at` to the end of the segment file.
    Cut { at: u64 },
    /// Shortens the segment file to `at` bytes.
    Truncate { at: u64 },
    /// Overwrites `len` bytes from `at` (clamped to the file) with nonzero bytes
    /// that differ from what was there.
    Junk { at: u64, len: u64 },
}

/// What recovery must do.
#[derive(Debug, PartialEq)]
struct Expected {
    /// Complete records kept.
    kept: usize,
    /// `(offset, lsn)` of the torn tail cut off, if any.
    torn: Option<(u64, u64)>,
}

fn apply(file: &mut Vec<u8>, damage: Damage) {
    match damage {
        Damage::Cut { at } => file[at as usize..].fill(0),
        Damage::Truncate { at } => file.truncate(at as usize),
        Damage::Junk { at, len } => {
            let end = (at + len).min(file.len() as u64) as usize;
            for b in &mut file[at as usize..end] {
                *b = if *b ^ 0x5a != 0 { *b ^ 0x5a } else { 0xa5 };
            }
        }
    }
}

/// The outcome, reasoned from the layout: the record's header and payload occupy
/// `[off, off + 32 + len)`, its zero padding `[off + 32 + len, off + footprint)`,
/// and all payload bytes are nonzero.
fn expected(base: &Base, damage: Damage) -> Expected {
    let n = base.appended.len();
    let (last, _) = base.last();
    let off = base.last_offset();
    let payload_end = off + RECORD_HEADER_BYTES as u64 + LAST_LEN as u64;
    let footprint_end = off + RECORD_HEADER_BYTES as u64 + align8(LAST_LEN as u64);
    let original = base.disk.read(&base.seg.path);
    // A shortened file reads like one zeroed from there: the scan stops at the
    // end of the file as at zeroed space.
    let damage = match damage {
        Damage::Truncate { at } => Damage::Cut { at },
        d => d,
    };
    match damage {
        // Only padding (already zero) or later zero space is touched: nothing changed.
        Damage::Cut { at } if at >= payload_end => Expected {
            kept: n,
            torn: None,
        },
        // What is left of the record before the cut is all zero: this reads as
        // the clean end of the log, nothing to cut.
        Damage::Cut { at } if original[off as usize..at as usize].iter().all(|&b| b == 0) => {
            Expected {
                kept: n - 1,
                torn: None,
            }
        }
        Damage::Cut { .. } | Damage::Truncate { .. } => Expected {
            kept: n - 1,
            torn: Some((off, last.lsn)),
        },
        Damage::Junk { at, .. } if at < payload_end => Expected {
            kept: n - 1,
            torn: Some((off, last.lsn)),
        },
        // Junk only in the padding: the checksum does not cover padding, the
        // record is intact and the space after it is still zero.
        Damage::Junk { at, len } if at + len <= footprint_end => Expected {
            kept: n,
            torn: None,
        },
        // Junk runs past the record into the space where the next one would go.
        Damage::Junk { .. } => Expected {
            kept: n,
            torn: Some((footprint_end, last.end_lsn)),
        },
    }
}

fn run_case(base: &Base, damage: Damage) {
    let disk = base.disk.copy_of();
    let dir = disk.dir();
    let seg = base.seg.path.file_name().unwrap();
    let seg_path = dir.join(seg);
    let mut file = disk.read(&seg_path);
    apply(&mut file, damage);
    let untouched = file == disk.read(&seg_path);
    disk.replace(&seg_path, &file);
    let want = expected(base, damage);
    let ctx = format!("{damage:?} (record at offset {})", base.last_offset());

    let (w, rec) = wal::open(disk.fs(), options(&dir, SEGMENT_BYTES, SyncPolicy::Always))
        .unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
    let kept_next = if want.kept == base.appended.len() {
        base.last().0.end_lsn
    } else {
        base.last().0.lsn
    };
    assert_eq!(rec.next_lsn, kept_next, "{ctx}");
    assert_eq!(rec.truncated, rec.report.torn_tail, "{ctx}");
    match want.torn {
        None => {
            assert!(rec.truncated.is_none(), "{ctx}: {:?}", rec.truncated);
            assert!(rec.saved_copy.is_none(), "{ctx}");
            assert!(!disk.names().iter().any(|n| n.contains(".broken")), "{ctx}");
        }
        Some((offset, lsn)) => {
            assert!(!untouched, "{ctx}: a torn tail needs a change");
            let t = rec
                .truncated
                .as_ref()
                .unwrap_or_else(|| panic!("{ctx}: no torn tail"));
            assert_eq!(t.segment, seg_path, "{ctx}");
            assert_eq!((t.offset, t.lsn), (offset, lsn), "{ctx}: {t:?}");
            assert_eq!(t.intact_records_after, 0, "{ctx}");
            let copy = rec
                .saved_copy
                .clone()
                .unwrap_or_else(|| panic!("{ctx}: no copy"));
            assert_eq!(
                copy,
                PathBuf::from(format!("{}.broken", seg_path.display()))
            );
            assert!(
                disk.read(&copy) == file,
                "{ctx}: the copy differs from the damaged file"
            );
            let repaired = disk.read(&seg_path);
            assert_eq!(repaired.len(), file.len(), "{ctx}");
            assert!(
                repaired[..offset as usize] == file[..offset as usize],
                "{ctx}"
            );
            assert!(repaired[offset as usize..].iter().all(|&b| b == 0), "{ctx}");
        }
    }
    // The log continues at the recovered LSN and reads back.
    let extra = payload(77, 11);
    let a = w.append(&extra).unwrap();
    assert_eq!(a.lsn, kept_next, "{ctx}");
    w.wait_acked(a.end_lsn).unwrap();
    w.close().unwrap();
    drop(w);
    let mut want_recs: Vec<(u64, Vec<u8>)> = base.appended[..want.kept]
        .iter()
        .map(|(a, p)| (a.lsn, p.clone()))
        .collect();
    want_recs.push((a.lsn, extra));
    assert_eq!(lsn_payloads(disk.fs(), &dir), want_recs, "{ctx}");
    // A second open finds a clean log.
    let (w, rec) = wal::open(disk.fs(), options(&dir, SEGMENT_BYTES, SyncPolicy::Always)).unwrap();
    assert!(rec.truncated.is_none(), "{ctx}: {:?}", rec.truncated);
    assert_eq!(rec.next_lsn, a.end_lsn, "{ctx}");
    w.close().unwrap();
}

/// Every damage at every offset of the last record: cut, truncation of the file, 1 and 7 bytes of junk,
/// junk to the end of the segment.
fn all_damages(base: &Base) -> Vec<Damage> {
    let off = base.last_offset();
    let footprint = RECORD_HEADER_BYTES as u64 + align8(LAST_LEN as u64);
    let mut v = Vec::new();
    for at in off..off + footprint {
        v.push(Damage::Cut { at });
        v.push(Damage::Truncate { at });
        v.push(Damage::Junk { at, len: 1 });
        v.push(Damage::Junk { at, len: 7 });
        v.push(Damage::Junk {
            at,
            len: SEGMENT_BYTES,
        });
    }
    v
}

#[test]
fn memfs_every_offset_of_the_last_record_mid_segment() {
    let base = build(Disk::mem(), Placement::MidSegment);
    for d in all_damages(&base) {
        run_case(&base, d);
    }
}

#[test]
fn memfs_every_offset_of_the_last_record_first_in_segment() {
    let base = build(Disk::mem(), Placement::FirstInSegment);
    for d in all_damages(&base) {
        run_case(&base, d);
    }
}

#[test]
fn stdfs_sampled_offsets_of_the_last_record() {
    for placement in [Placement::MidSegment, Placement::FirstInSegment] {
        let base = build(Disk::std(), placement);
        let damages = all_damages(&base);
        // Both ends, and a stride that visits header, payload and padding.
        for (i, d) in damages.iter().enumerate() {
            if i < 8 || i + 8 >= damages.len() || i % 11 == 0 {
                run_case(&base, *d);
            }
        }
    }
}

/// The expectations above are not vacuous: each kind of outcome occurs.
#[test]
fn expectations_cover_every_outcome() {
    let base = build(Disk::mem(), Placement::MidSegment);
    let outcomes: Vec<Expected> = all_damages(&base)
        .into_iter()
        .map(|d| expected(&base, d))
        .collect();
    let n = base.appended.len();
    assert!(outcomes.iter().any(|o| o.kept == n && o.torn.is_none()));
    assert!(outcomes.iter().any(|o| o.kept == n && o.torn.is_some()));
    assert!(outcomes.iter().any(|o| o.kept == n - 1 && o.torn.is_some()));
    let cut_at_start = expected(
        &base,
        Damage::Cut {
            at: base.last_offset(),
        },
    );
    assert_eq!(
        cut_at_start,
        Expected {
            kept: n - 1,
            torn: None
        }
    );
}

/// A last segment whose own header is cut short (or zeroed) cannot come from a
/// crash — a segment gets its name only after its header is synced — so recovery
/// refuses it with a clear error naming the file, never a panic.
#[test]
fn last_segment_with_a_damaged_header_is_refused() {
    for disk in [Disk::mem(), Disk::std()] {
        let base = build(disk, Placement::MidSegment);
        let seg_path = base.seg.path.clone();
        let original = base.disk.read(&seg_path);
        let mut variants: Vec<Vec<u8>> = [0usize, 1, 8, 32, 63]
            .iter()
            .map(|&len| original[..len].to_vec())
            .collect();
        let mut zeroed = original.clone();
        zeroed[..SEGMENT_HEADER_BYTES].fill(0);
        variants.push(zeroed);
        for content in variants {
            let disk = base.disk.copy_of();
            let dir = disk.dir();
            let path = dir.join(seg_path.file_name().unwrap());
            disk.replace(&path, &content);
            let ctx = format!("header of {} bytes", content.len());
            for err in [
                wal::open(disk.fs(), options(&dir, SEGMENT_BYTES, SyncPolicy::Always))
                    .err()
                    .unwrap_or_else(|| panic!("{ctx}: opened")),
                wal::scan_dir(&*disk.fs(), &dir)
                    .err()
                    .unwrap_or_else(|| panic!("{ctx}: scanned")),
            ] {
                match &err {
                    WalError::Corruption {
                        segment,
                        offset,
                        lsn,
                        reason,
                    } => {
                        assert_eq!(segment, &path, "{ctx}");
                        assert_eq!(*offset, 0, "{ctx}");
                        assert_eq!(*lsn, base.seg.first_lsn, "{ctx}");
                        assert!(reason.contains("segment header"), "{ctx}: {reason}");
                    }
                    other => panic!("{ctx}: expected corruption, got {other}"),
                }
                assert!(err.to_string().contains(&path.display().to_string()));
            }
            // Nothing was repaired or copied.
            assert_eq!(disk.read(&path), content, "{ctx}");
            assert!(!disk.names().iter().any(|n| n.contains(".broken")), "{ctx}");
        }
    }
}
