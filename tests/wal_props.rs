//! Property tests: random records (0..3 KiB of random bytes) appended in random
//! groups, with a close and reopen between groups, random segment sizes and sync
//! policies, on MemFs and on the real file system. The log must read back exactly
//! what was appended at the LSNs `append` returned, pack records into segments
//! without ever splitting one, seal every segment but the last, and let a reader
//! start at any returned LSN.

mod common;

use common::{all_records, options, Disk};
use logship::wal::format::{record_footprint, SEAL_RECORD_BYTES, SEGMENT_HEADER_BYTES};
use logship::wal::{self, Appended, RecordKind, SyncPolicy, WalReader};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct LogSpec {
    /// Segment size each group's open asks for (all the same, or changing
    /// between reopens as when an operator changes the setting).
    segment_bytes: Vec<u64>,
    sync: SyncPolicy,
    /// Records appended between one open and the next close.
    groups: Vec<Vec<Vec<u8>>>,
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..64),
        2 => proptest::collection::vec(any::<u8>(), 0..3072),
    ]
}

fn log_spec() -> impl Strategy<Value = LogSpec> {
    let sync = prop_oneof![
        Just(SyncPolicy::Always),
        (1u64..20).prop_map(|every_ms| SyncPolicy::Interval { every_ms }),
        Just(SyncPolicy::Never),
    ];
    (
        proptest::collection::vec(12u32..=16, 5),
        any::<bool>(),
        sync,
        proptest::collection::vec(proptest::collection::vec(payload(), 0..25), 1..5),
    )
        .prop_map(|(shifts, mixed, sync, groups)| LogSpec {
            segment_bytes: (0..groups.len())
                .map(|g| 1u64 << shifts[if mixed { g } else { 0 }])
                .collect(),
            sync,
            groups,
        })
}

fn check_log(disk: Disk, spec: LogSpec) {
    let dir = disk.dir();
    let mut appended: Vec<(Appended, Vec<u8>)> = Vec::new();
    for (group, &segment_bytes) in spec.groups.iter().zip(&spec.segment_bytes) {
        let opts = options(&dir, segment_bytes, spec.sync);
        let end = appended.last().map_or(0, |(a, _)| a.end_lsn);
        let (w, rec) = wal::open(disk.fs(), opts.clone()).unwrap();
        assert!(rec.truncated.is_none(), "{:?}", rec.truncated);
        assert_eq!(rec.next_lsn, end);
        assert_eq!(w.next_lsn(), end);
        for p in group {
            let a = w.append(p).unwrap();
            let prev_end = appended.last().map_or(0, |(a, _)| a.end_lsn);
            assert_eq!(a.end_lsn, a.lsn + record_footprint(p.len()));
            assert!(
                a.lsn == prev_end || a.lsn == prev_end + SEAL_RECORD_BYTES,
                "LSN {:#x} after {prev_end:#x}",
                a.lsn
            );
            appended.push((a, p.clone()));
        }
        if let Some((a, _)) = appended.last() {
            w.wait_acked(a.end_lsn).unwrap();
        }
        let pos = w.close().unwrap();
        assert_eq!(pos.durable_lsn, w.next_lsn());
        assert_eq!(pos.written_lsn, pos.durable_lsn);
    }

    let fs = disk.fs();
    let records = all_records(fs.clone(), &dir);
    let data: Vec<_> = records
        .iter()
        .filter(|r| r.kind == RecordKind::Data)
        .collect();
    assert_eq!(data.len(), appended.len());
    for (r, (a, p)) in data.iter().zip(&appended) {
        assert_eq!((r.lsn, r.end_lsn), (a.lsn, a.end_lsn));
        assert!(r.payload == p[..], "payload at LSN {:#x}", a.lsn);
        assert_eq!(r.timeline, 1);
    }

    // Packing: no record crosses its segment's end; every segment but the last
    // ends with a seal, placed only when the next record did not fit.
    let report = wal::scan_dir(&*fs, &dir).unwrap();
    assert!(report.torn_tail.is_none());
    let segs = &report.segments;
    for (i, s) in segs.iter().enumerate() {
        assert!(spec.segment_bytes.contains(&s.header.segment_bytes));
        let cap = s.header.segment_bytes - SEGMENT_HEADER_BYTES as u64;
        let limit = s.header.first_lsn + cap;
        let next_first = segs.get(i + 1).map_or(u64::MAX, |n| n.header.first_lsn);
        let inside: Vec<_> = records
            .iter()
            .filter(|r| r.lsn >= s.header.first_lsn && r.lsn < next_first)
            .collect();
        for r in &inside {
            assert!(
                r.end_lsn <= limit,
                "record at {:#x} crosses its segment",
                r.lsn
            );
        }
        match segs.get(i + 1) {
            Some(next) => {
                assert!(s.sealed);
                let seal = inside.last().expect("a sealed segment has its seal");
                assert_eq!(seal.kind, RecordKind::Seal);
                assert_eq!(seal.end_lsn, next.header.first_lsn);
                let after = records.iter().find(|r| r.lsn == seal.end_lsn);
                if let Some(r) = after {
                    let need = record_footprint(r.payload.len()) + SEAL_RECORD_BYTES;
                    assert!(seal.lsn + need > limit, "sealed early at {:#x}", seal.lsn);
                }
            }
            None => assert!(!s.sealed),
        }
        assert_eq!(
            inside.iter().filter(|r| r.kind == RecordKind::Seal).count(),
            s.sealed as usize
        );
    }

    // A reader opened at any returned LSN starts exactly at that record; with an
    // upper bound it stops exactly there.
    let step = (appended.len() / 25).max(1);
    for (i, (a, p)) in appended.iter().enumerate().step_by(step) {
        let mut rd = WalReader::open(fs.clone(), &dir, a.lsn, None).unwrap();
        let r = rd.next().expect("a record").unwrap();
        assert_eq!((r.lsn, r.kind), (a.lsn, RecordKind::Data));
        assert!(r.payload == p[..]);
        let j = (i + 3).min(appended.len() - 1);
        let until = appended[j].0.end_lsn;
        let got: Vec<u64> = WalReader::open(fs.clone(), &dir, a.lsn, Some(until))
            .unwrap()
            .map(|r| r.unwrap())
            .filter(|r| r.kind == RecordKind::Data)
            .map(|r| r.lsn)
            .collect();
        let want: Vec<u64> = appended[i..=j].iter().map(|(a, _)| a.lsn).collect();
        assert_eq!(got, want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn memfs_log_reads_back_exactly(spec in log_spec()) {
        check_log(Disk::mem(), spec);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn stdfs_log_reads_back_exactly(spec in log_spec()) {
        check_log(Disk::std(), spec);
    }
}

/// The largest record the options allow fits in an empty segment (with room for
/// the seal); one byte more is refused before anything is written.
#[test]
fn largest_record_fits_a_segment_and_one_byte_more_is_refused() {
    for shift in 12..=16 {
        let disk = Disk::mem();
        let dir = disk.dir();
        let opts = options(&dir, 1 << shift, SyncPolicy::Always);
        let max = opts.effective_max_record_bytes();
        let (w, _) = wal::open(disk.fs(), opts.clone()).unwrap();
        let small = w.append(b"x").unwrap();
        let big = common::payload(1, max);
        let a = w.append(&big).unwrap();
        let b = w.append(&big).unwrap();
        match w.append(&vec![7u8; max + 1]) {
            Err(wal::WalError::RecordTooLarge { len, limit }) => {
                assert_eq!((len, limit), (max + 1, max))
            }
            other => panic!("expected RecordTooLarge, got {:?}", other.map(|a| a.lsn)),
        }
        w.wait_acked(b.end_lsn).unwrap();
        w.close().unwrap();
        drop(w);
        // Each big record starts its own segment.
        let segs = disk.segments();
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[1].first_lsn, a.lsn);
        assert_eq!(segs[2].first_lsn, b.lsn);
        let got = common::lsn_payloads(disk.fs(), &dir);
        let want = vec![
            (small.lsn, b"x".to_vec()),
            (a.lsn, big.clone()),
            (b.lsn, big),
        ];
        assert_eq!(got, want);
    }
}
