//! `logship demo` runs its stories and checks itself: exit 0, the failover keeps
//! every shipped write and reports measured RPO and RTO, recovery keeps every
//! complete record, and nothing is left behind.

mod common;
use common::logship;

fn field<'a>(line: &'a str, before: &str, after: &str) -> &'a str {
    let start = line
        .find(before)
        .unwrap_or_else(|| panic!("{before:?} in {line}"))
        + before.len();
    let rest = &line[start..];
    &rest[..rest.find(after).unwrap_or(rest.len())]
}

#[test]
fn demo_shows_recovery_keeping_exactly_the_complete_records() {
    let out = logship(&["demo", "--wal-crash", "--writers", "3", "--records", "120"]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    let s = &out.stdout;
    assert!(s.contains("3 writers append 120 records each"), "{s}");
    assert!(s.contains("360 records acknowledged"), "{s}");
    assert!(s.contains(": sound: "), "{s}");
    assert!(s.contains("torn tail in "), "{s}");
    assert!(s.contains("truncated the torn tail at LSN "), "{s}");
    assert!(s.contains(".wal.broken"), "{s}");
    let counts = s
        .lines()
        .find(|l| l.contains("before the crash"))
        .unwrap_or_else(|| panic!("no record count line: {s}"));
    let before: u64 = field(counts, "records: ", " before").parse().unwrap();
    let after: u64 = field(counts, "crash, ", " after").parse().unwrap();
    assert_eq!(before, after, "{counts}");
    assert!(before >= 360, "{counts}");
    let lsn_before = field(counts, "last LSN ", " before");
    let lsn_after = field(counts, "before, ", " after");
    assert_eq!(lsn_before, lsn_after, "{counts}");
    assert!(
        s.lines()
            .last()
            .unwrap()
            .starts_with("OK: all 360 acknowledged records survived"),
        "{s}"
    );
    // It cleans up after itself.
    let dir = field(s, "log directory: ", "\n");
    assert!(!std::path::Path::new(dir).exists(), "{dir} was left behind");
    assert!(!out.stderr.contains("panicked"), "{out:#?}");
}

#[test]
fn demo_keep_leaves_the_log_and_the_broken_copy() {
    let out = logship(&[
        "demo",
        "--wal-crash",
        "--writers",
        "2",
        "--records",
        "50",
        "--keep",
    ]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    let kept = field(&out.stdout, "(kept ", ")");
    let wal = std::path::Path::new(kept).join("wal");
    let names: Vec<String> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    std::fs::remove_dir_all(kept).unwrap();
    assert!(
        names.iter().any(|n| n.ends_with(".wal.broken")),
        "{names:?}"
    );
    assert!(
        names.iter().filter(|n| n.ends_with(".wal")).count() >= 1,
        "{names:?}"
    );
}

#[test]
fn demo_fails_over_and_reports_measured_numbers() {
    let out = logship(&["demo", "--rounds", "8", "--ship-every", "500ms"]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    let s = &out.stdout;
    for step in [
        "] standby ",
        "] primary ",
        "] write ",
        "] kill -9 ",
        "] promote ",
        "] verify ",
    ] {
        assert!(s.contains(step), "no step {step:?} in {s}");
    }
    assert!(s.contains("role:           primary"), "status shown: {s}");
    assert!(s.contains("role:           standby"), "status shown: {s}");
    let rto = s
        .lines()
        .find(|l| l.trim_start().starts_with("RTO"))
        .unwrap();
    let ms: u64 = field(rto, "RTO  ", " ms").parse().unwrap();
    assert!(ms > 0 && ms < 30_000, "{rto}");
    let shipped = s.lines().find(|l| l.contains("shipped  ")).unwrap();
    let records: u64 = field(shipped, "shipped  ", " records").parse().unwrap();
    assert!(records >= 501, "at least one round was shipped: {shipped}");
    let ratio: f64 = field(shipped, "zstd: ", "x)").parse().unwrap();
    assert!(ratio > 1.0, "{shipped}");
    let rpo = s
        .lines()
        .find(|l| l.trim_start().starts_with("RPO"))
        .unwrap();
    let lost: u64 = field(rpo, "RPO  ", " SETs").parse().unwrap();
    assert!(lost < 8 * 500, "{rpo}");
    assert!(
        s.lines()
            .last()
            .unwrap()
            .starts_with("OK: every write acknowledged"),
        "{s}"
    );
    let dir = field(s, "directory: ", "\n");
    assert!(!std::path::Path::new(dir).exists(), "{dir} was left behind");
}
