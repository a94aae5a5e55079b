//! Restarts, checkpoints, retention, damaged snapshots, init and the lock.

mod common;

use common::{init, Primary, BIN};
use redis::cmd;
use std::path::Path;
use std::time::{Duration, Instant};

fn info_field(c: &mut redis::Connection, field: &str) -> u64 {
    let info: String = cmd("INFO").arg("persistence").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .parse()
        .unwrap()
}

fn write_keys(c: &mut redis::Connection, from: usize, to: usize) {
    for chunk in (from..to).collect::<Vec<_>>().chunks(100) {
        let mut p = redis::pipe();
        for i in chunk {
            p.cmd("SET")
                .arg(format!("key:{i}"))
                .arg(format!("{i:0>200}"))
                .ignore();
        }
        let _: () = p.query(c).unwrap();
    }
}

fn check_keys(c: &mut redis::Connection, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut q = cmd("MGET");
        for i in chunk {
            q.arg(format!("key:{i}"));
        }
        let vals: Vec<Option<String>> = q.query(c).unwrap();
        for (i, v) in chunk.iter().zip(vals) {
            assert_eq!(v, Some(format!("{i:0>200}")), "key:{i}");
        }
    }
    let size: usize = cmd("DBSIZE").query(c).unwrap();
    assert_eq!(size, n);
}

fn files(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn flip_last_byte(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let n = b.len() - 1;
    b[n] ^= 0xff;
    std::fs::write(path, b).unwrap();
}

#[test]
fn data_survives_clean_restart_and_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    init(&d, "1MiB");
    let mut p = Primary::start(&d, &[]);
    let mut c = p.client();
    write_keys(&mut c, 0, 300);
    let _: i64 = cmd("INCRBY").arg("counter").arg(41).query(&mut c).unwrap();
    let _: () = cmd("SET")
        .arg("ttl")
        .arg("v")
        .arg("EX")
        .arg(1000)
        .query(&mut c)
        .unwrap();
    drop(c);
    let log = p.stop();
    assert!(log.contains("checkpoint complete"), "{log}");
    assert_eq!(files(&d.join("snapshots"), "lss").len(), 1);
    let mut p = Primary::start(&d, &[]);
    let mut c = p.client();
    write_keys(&mut c, 300, 500);
    let n: i64 = cmd("INCR").arg("counter").query(&mut c).unwrap();
    assert_eq!(n, 42);
    drop(c);
    p.kill();
    let p = Primary::start(&d, &[]);
    let mut c = p.client();
    let _: () = cmd("DEL")
        .arg("counter")
        .arg("ttl")
        .query(&mut c)
        .map(|_: i64| ())
        .unwrap();
    check_keys(&mut c, 500);
}

#[test]
fn checkpoints_remove_old_wal_and_damaged_snapshots_fall_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    init(&d, "64KiB");
    let flags = ["--checkpoint-wal-bytes", "100KiB", "--keep-snapshots", "2"];
    let mut p = Primary::start(&d, &flags);
    let mut c = p.client();
    for round in 0..4 {
        let before = info_field(&mut c, "checkpoints");
        write_keys(&mut c, round * 600, (round + 1) * 600);
        let deadline = Instant::now() + Duration::from_secs(20);
        while info_field(&mut c, "checkpoints") == before {
            assert!(
                Instant::now() < deadline,
                "no checkpoint after round {round}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let pause_us = info_field(&mut c, "last_checkpoint_pause_us");
    assert!(
        pause_us < 100_000,
        "checkpoint held writers for {pause_us} us"
    );
    drop(c);
    p.stop();
    let snaps = files(&d.join("snapshots"), "lss");
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    let segs = files(&d.join("wal"), "wal");
    let first = segs[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        !first.ends_with("0000000000000000.wal"),
        "the first segment should be gone: {segs:?}"
    );

    // The newest snapshot is damaged: the older one plus the WAL recover everything.
    flip_last_byte(snaps.last().unwrap());
    let mut p = Primary::start(&d, &flags);
    let mut c = p.client();
    check_keys(&mut c, 2400);
    drop(c);
    let log = p.stop();
    assert!(log.contains("snapshot unusable"), "{log}");

    // Every snapshot damaged and the WAL from LSN 0 gone: refuse to start.
    for s in files(&d.join("snapshots"), "lss") {
        flip_last_byte(&s);
    }
    let out = logship::config::hermetic(BIN)
        .args(["primary", "--data-dir"])
        .arg(&d)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("was already removed"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
}

#[test]
fn init_refuses_used_directories_and_the_lock_refuses_a_second_process() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("stray"), b"x").unwrap();
    let out = logship::config::hermetic(BIN)
        .args(["init", "--data-dir"])
        .arg(&d)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not empty"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let d2 = dir.path().join("data2");
    init(&d2, "1MiB");
    let out = logship::config::hermetic(BIN)
        .args(["init", "--data-dir"])
        .arg(&d2)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already a logship data directory"));

    let _p = Primary::start(&d2, &[]);
    let out = logship::config::hermetic(BIN)
        .args(["primary", "--data-dir"])
        .arg(&d2)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another logship process"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let out = logship::config::hermetic(BIN)
        .args(["primary", "--data-dir"])
        .arg(dir.path().join("nothing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a logship data directory"));
}

#[test]
fn everysec_and_no_policies_checkpoint_and_restart() {
    for policy in ["everysec", "no"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        init(&d, "64KiB");
        let flags = ["--fsync", policy, "--checkpoint-wal-bytes", "100KiB"];
        let mut p = Primary::start(&d, &flags);
        let mut c = p.client();
        let cfg: Vec<String> = cmd("CONFIG")
            .arg("GET")
            .arg("appendfsync")
            .query(&mut c)
            .unwrap();
        assert_eq!(cfg[1], policy);
        write_keys(&mut c, 0, 1200);
        let deadline = Instant::now() + Duration::from_secs(20);
        while info_field(&mut c, "checkpoints") == 0 {
            assert!(Instant::now() < deadline, "{policy}: no checkpoint");
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(c);
        // SIGINT shuts down as cleanly as SIGTERM.
        let (status, log) = p.signal_and_wait(libc::SIGINT);
        assert!(status.success(), "{policy}: {status:?}\n{log}");
        assert!(log.contains("shutdown complete"), "{log}");
        let p = Primary::start(&d, &flags);
        let mut c = p.client();
        check_keys(&mut c, 1200);
    }
}
