//! Criterion benchmarks of the WAL's hot paths: encoding and checking records,
//! appending with `never`, and scanning a prepared log. Each is short
//! (10 samples, about 2 s) so that `cargo bench --bench wal` takes a minute or two.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use logship::fs::StdFs;
use logship::wal::format::{check_record, encode_record, RecordKind};
use logship::wal::{self, scan_dir, SyncPolicy, WalOptions, WalReader};
use std::hint::black_box;
use std::time::Duration;

const SIZES: [(&str, usize); 2] = [("100B", 100), ("64KiB", 64 << 10)];

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// `encode_record` (header, CRC over header and payload, padding) into a reused buffer.
fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("record_encode");
    for (name, len) in SIZES {
        let p = payload(len);
        let mut out = Vec::with_capacity(len + 64);
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                out.clear();
                encode_record(
                    &mut out,
                    4096,
                    1,
                    1_700_000_000_000,
                    RecordKind::Data,
                    black_box(&p),
                )
            })
        });
    }
    g.finish();
}

/// `check_record` (bounds, CRC, LSN, kind) of an encoded record.
fn check(c: &mut Criterion) {
    let mut g = c.benchmark_group("record_check");
    for (name, len) in SIZES {
        let mut rec = Vec::new();
        encode_record(
            &mut rec,
            4096,
            1,
            1_700_000_000_000,
            RecordKind::Data,
            &payload(len),
        );
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| check_record(black_box(&rec), 4096, 1 << 24).expect("valid record"))
        });
    }
    g.finish();
}

/// Appending batches of records with `never` and waiting for the last to be written.
/// Over the seconds criterion runs this, the 64 KiB case writes more than a GiB and
/// becomes bound by the disk: sealed segments are fdatasync'd in the background and
/// each new segment is preallocated and synced before use.
fn append_never(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_never");
    for (name, len, batch) in [("100B", 100usize, 10_000u64), ("64KiB", 64 << 10, 64)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = WalOptions::new(dir.path().join("wal"), 7, 1);
        opts.sync = SyncPolicy::Never;
        let (log, _) = wal::open(StdFs::shared(), opts).expect("open log");
        let p = payload(len);
        g.throughput(Throughput::Bytes(len as u64 * batch));
        g.bench_function(BenchmarkId::new(name, format!("{batch} records")), |b| {
            b.iter(|| {
                let mut end = 0;
                for _ in 0..batch {
                    end = log.append(&p).expect("append").end_lsn;
                }
                log.wait_acked(end).expect("written");
            })
        });
        log.close().expect("close");
    }
    g.finish();
}

/// Scanning (checking every record of) a prepared 64 MiB log, and reading it back.
fn scan(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal_dir = dir.path().join("wal");
    let mut opts = WalOptions::new(&wal_dir, 7, 1);
    opts.sync = SyncPolicy::Never;
    opts.segment_bytes = 16 << 20;
    let (log, _) = wal::open(StdFs::shared(), opts).expect("open log");
    let p = payload(4000);
    let mut end = 0;
    while end < 64 << 20 {
        end = log.append(&p).expect("append").end_lsn;
    }
    log.close().expect("close");
    drop(log);
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Bytes(end));
    g.bench_function("scan_dir 64MiB of 4000B records", |b| {
        b.iter(|| {
            let r = scan_dir(&StdFs, &wal_dir).expect("scan");
            assert_eq!(r.end_lsn, end);
        })
    });
    g.bench_function("WalReader 64MiB of 4000B records", |b| {
        b.iter(|| {
            let n = WalReader::open(StdFs::shared(), &wal_dir, 0, None)
                .expect("reader")
                .map(|r| r.expect("record").payload.len())
                .sum::<usize>();
            black_box(n)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = encode, check, append_never, scan
}
criterion_main!(benches);
