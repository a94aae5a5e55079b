//! The archive end to end, with real processes: a primary archiving to a real
//! S3 server (`rclone serve s3`) or a share (`file://`), point-in-time
//! restore to before a FLUSHALL, encryption, a store that goes down and comes
//! back, damage found and refused, gaps recorded, a crashed primary's log
//! saved by `logship archive --once`.

mod common;

use common::s3::S3Server;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// The archive fields of a running primary's status.
fn archive_status(dir: &Path) -> serde_json::Value {
    status_json(dir)["archive"].clone()
}

/// Waits until everything durable is archived (bounded).
fn wait_archived(dir: &Path, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let s = status_json(dir);
        let a = &s["archive"];
        if a["lag_bytes"] == 0 && a["archived_lsn"] == s["durable_lsn"] && a["archived_lsn"] != 0 {
            return a.clone();
        }
        assert!(
            Instant::now() < deadline,
            "archive did not catch up within {within:?}: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn set_many(c: &mut redis::Connection, prefix: &str, n: usize) {
    let mut p = redis::pipe();
    for i in 0..n {
        p.cmd("SET")
            .arg(format!("{prefix}:{i}"))
            .arg(format!("value-{prefix}-{i}"))
            .ignore();
    }
    p.query::<()>(c).expect("SET pipeline");
}

fn keys_of(c: &mut redis::Connection) -> Vec<String> {
    let mut k: Vec<String> = redis::cmd("KEYS").arg("*").query(c).expect("KEYS");
    k.sort();
    k
}

/// Starts a standby on a restored directory (it receives nothing here) and
/// returns its keys.
fn restored_keys(dir: &Path) -> Vec<String> {
    let sb = Standby::start_with(dir, &["--insecure-no-auth"]);
    let mut c = sb.client();
    keys_of(&mut c)
}

fn rfc3339(unix_ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(unix_ms as i64)
        .expect("a time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[test]
fn restore_to_five_seconds_before_a_flushall_from_s3() {
    let t = tempfile::tempdir().unwrap();
    let Ok(s3) = S3Server::start(&t.path().join("s3")) else {
        eprintln!("skipped: no rclone");
        return;
    };
    let env = s3.env();
    let url = s3.url("prod");
    let data = t.path().join("p");
    init(&data, "64KiB");
    let primary = Primary::start_env(
        &data,
        &[
            "--archive-to",
            &url,
            "--archive-every",
            "200ms",
            "--checkpoint-interval",
            "1s",
        ],
        &env,
    );
    let mut c = primary.client();
    set_many(&mut c, "user", 300);
    let _: () = redis::cmd("HSET")
        .arg("cart:1")
        .arg("apple")
        .arg(3)
        .query(&mut c)
        .unwrap();
    // Five seconds and a little later, the mistake.
    std::thread::sleep(Duration::from_millis(5600));
    let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
    set_many(&mut c, "after", 10);
    let a = wait_archived(&data, Duration::from_secs(30));
    assert_eq!(
        a["create_only_honoured"], false,
        "rclone ignores If-None-Match: {a}"
    );
    assert_eq!(a["last_error"], serde_json::Value::Null);

    // Find the FLUSHALL the way a DBA would.
    let dump = logship(&[
        "dump",
        data.to_str().unwrap(),
        "--effect",
        "flushall",
        "--json",
    ]);
    assert_eq!(dump.code, Some(0), "{}", dump.stderr);
    let lines = dump.json_lines();
    assert_eq!(lines.len(), 1, "{}", dump.stdout);
    let flush_ms = lines[0]["timestamp_unix_ms"].as_u64().unwrap();

    // The archive tells the same: `dump` reads an archive URL too.
    let from_archive = logship_env(&["dump", &url, "--effect", "flushall", "--json"], &env);
    assert_eq!(from_archive.code, Some(0), "{}", from_archive.stderr);
    let al = from_archive.json_lines();
    assert_eq!(al.len(), 1, "{}", from_archive.stdout);
    assert_eq!(al[0]["timestamp_unix_ms"], lines[0]["timestamp_unix_ms"]);
    assert_eq!(al[0]["lsn"], lines[0]["lsn"]);

    // `archive list` names the window; `verify` reads every object.
    let list = logship_env(&["archive", "list", &url, "--json"], &env);
    assert_eq!(list.code, Some(0), "{}", list.stderr);
    let l: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert!(
        l["window"]["latest_unix_ms"].as_u64().unwrap() >= flush_ms,
        "{l}"
    );
    let verify = logship_env(&["archive", "verify", &url], &env);
    assert_eq!(verify.code, Some(0), "{}{}", verify.stdout, verify.stderr);
    assert!(verify.stdout.contains("sound"), "{}", verify.stdout);

    // Five seconds before the FLUSHALL: every key, none written after.
    let r = t.path().join("r");
    let out = logship_env(
        &[
            "restore",
            "--from",
            &url,
            "--data-dir",
            r.to_str().unwrap(),
            "--to-time",
            &rfc3339(flush_ms - 5000),
            "--then",
            "stop",
        ],
        &env,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("stopped at LSN"), "{}", out.stdout);
    let keys = restored_keys(&r);
    assert_eq!(keys.len(), 301, "{keys:?}");
    assert!(keys.contains(&"cart:1".to_string()));
    assert!(!keys.iter().any(|k| k.starts_with("after")));

    // Up to the FLUSHALL itself, exclusive: the same; to the latest: only what came after.
    let r2 = t.path().join("r2");
    let out = logship_env(
        &[
            "restore",
            "--from",
            &url,
            "--data-dir",
            r2.to_str().unwrap(),
            "--to-time",
            &rfc3339(flush_ms),
            "--exclusive",
        ],
        &env,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(restored_keys(&r2).len(), 301);
    let r3 = t.path().join("r3");
    let out = logship_env(
        &[
            "restore",
            "--from",
            &url,
            "--data-dir",
            r3.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(restored_keys(&r3).len(), 10);

    // Refused, with nothing written: a time without an offset, a time past
    // what the archive proves, a non-empty directory.
    let r4 = t.path().join("r4");
    let bad = logship_env(
        &[
            "restore",
            "--from",
            &url,
            "--data-dir",
            r4.to_str().unwrap(),
            "--to-time",
            "2026-01-01T00:00:00",
        ],
        &env,
    );
    bad.assert_one_line_error(1);
    let far = logship_env(
        &[
            "restore",
            "--from",
            &url,
            "--data-dir",
            r4.to_str().unwrap(),
            "--to-time",
            "2099-01-01T00:00:00Z",
        ],
        &env,
    );
    let e = far.assert_one_line_error(1);
    assert!(
        e.contains("past what the archive can prove") && e.contains("restorable window"),
        "{e}"
    );
    assert!(!r4.exists() || std::fs::read_dir(&r4).unwrap().next().is_none());
    let again = logship_env(
        &["restore", "--from", &url, "--data-dir", r.to_str().unwrap()],
        &env,
    );
    assert!(again.assert_one_line_error(1).contains("not empty"));
}

#[test]
fn an_encrypted_archive_holds_no_plaintext_and_needs_its_key() {
    let t = tempfile::tempdir().unwrap();
    let arch = t.path().join("share");
    let url = format!("file://{}", arch.display());
    let key = key_file_at(
        &t.path().join("archive.key"),
        "a secret of more than sixteen bytes",
    );
    let data = t.path().join("p");
    init(&data, "64KiB");
    let primary = Primary::start(
        &data,
        &[
            "--archive-to",
            &url,
            "--archive-every",
            "200ms",
            "--checkpoint-interval",
            "1s",
            "--archive-encryption-key-file",
            key.to_str().unwrap(),
        ],
    );
    let mut c = primary.client();
    for i in 0..50 {
        let _: () = redis::cmd("SET")
            .arg(format!("secret-key-{i}"))
            .arg(format!("PLAINTEXT-MARKER-{i}"))
            .query(&mut c)
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500)); // a checkpoint, so a snapshot is archived too
    wait_archived(&data, Duration::from_secs(30));
    let mut objects = 0;
    for (path, bytes) in tree(&arch) {
        objects += 1;
        for needle in [&b"PLAINTEXT-MARKER"[..], b"secret-key-", b"MARKER"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{path} holds plaintext"
            );
        }
    }
    assert!(objects >= 2, "{objects} objects");
    let r = t.path().join("r");
    let no_key = logship(&["restore", "--from", &url, "--data-dir", r.to_str().unwrap()]);
    assert!(
        no_key.assert_one_line_error(1).contains("encrypted"),
        "{}",
        no_key.stderr
    );
    let wrong = key_file_at(
        &t.path().join("wrong.key"),
        "another secret of sixteen bytes",
    );
    let bad = logship(&[
        "restore",
        "--from",
        &url,
        "--data-dir",
        r.to_str().unwrap(),
        "--archive-encryption-key-file",
        wrong.to_str().unwrap(),
    ]);
    assert!(
        bad.assert_one_line_error(1).contains("wrong key"),
        "{}",
        bad.stderr
    );
    let ok = logship(&[
        "restore",
        "--from",
        &url,
        "--data-dir",
        r.to_str().unwrap(),
        "--archive-encryption-key-file",
        key.to_str().unwrap(),
    ]);
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    assert_eq!(restored_keys(&r).len(), 50);
}

#[test]
fn a_store_that_goes_down_delays_the_archive_and_nothing_is_skipped() {
    let t = tempfile::tempdir().unwrap();
    let Ok(mut s3) = S3Server::start(&t.path().join("s3")) else {
        eprintln!("skipped: no rclone");
        return;
    };
    let env = s3.env();
    let url = s3.url("down");
    let data = t.path().join("p");
    init(&data, "64KiB");
    let primary = Primary::start_env(
        &data,
        &["--archive-to", &url, "--archive-every", "200ms"],
        &env,
    );
    let mut c = primary.client();
    set_many(&mut c, "before", 100);
    wait_archived(&data, Duration::from_secs(30));
    let addr = s3.addr.clone();
    s3.stop();
    // The primary keeps serving; the archive falls behind and says why.
    set_many(&mut c, "during", 500);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = archive_status(&data);
        if a["last_error"].is_string() && a["lag_bytes"].as_u64().unwrap() > 0 {
            assert!(a["last_error"].as_str().unwrap().contains(&url), "{a}");
            break;
        }
        assert!(Instant::now() < deadline, "no archive error shown: {a}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let _: () = redis::cmd("SET")
        .arg("still")
        .arg("serving")
        .query(&mut c)
        .unwrap();
    let _s3 = S3Server::start_on(&t.path().join("s3"), &addr).unwrap();
    let a = wait_archived(&data, Duration::from_secs(60));
    assert_eq!(a["last_error"], serde_json::Value::Null, "{a}");
    let verify = logship_env(&["archive", "verify", &url, "--json"], &env);
    assert_eq!(verify.code, Some(0), "{}{}", verify.stdout, verify.stderr);
    let r = t.path().join("r");
    let out = logship_env(
        &["restore", "--from", &url, "--data-dir", r.to_str().unwrap()],
        &env,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(restored_keys(&r).len(), 601);
}

#[test]
fn damage_in_the_bucket_is_named_by_verify_and_refused_by_restore() {
    let t = tempfile::tempdir().unwrap();
    let arch = t.path().join("share");
    let url = format!("file://{}", arch.display());
    let data = t.path().join("p");
    init(&data, "64KiB");
    let primary = Primary::start(&data, &["--archive-to", &url, "--archive-every", "200ms"]);
    let mut c = primary.client();
    set_many(&mut c, "k", 200);
    wait_archived(&data, Duration::from_secs(30));
    drop(primary);
    let (victim, _) = tree(&arch)
        .into_iter()
        .find(|(p, _)| p.ends_with(".lwal"))
        .expect("a WAL object");
    let path = arch.join(&victim);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let name = victim.rsplit('/').next().unwrap().to_string();
    let v = logship(&["archive", "verify", &url]);
    assert_ne!(v.code, Some(0));
    assert!(
        v.stdout.contains(&name) && v.stdout.contains("checksum"),
        "{}",
        v.stdout
    );
    let r = t.path().join("r");
    let out = logship(&["restore", "--from", &url, "--data-dir", r.to_str().unwrap()]);
    let e = out.assert_one_line_error(1);
    assert!(e.contains(&name), "{e}");
    assert!(!r.exists(), "a refused restore leaves nothing behind");
}

#[test]
fn wal_removed_before_it_was_archived_is_a_recorded_gap() {
    let t = tempfile::tempdir().unwrap();
    let Ok(mut s3) = S3Server::start(&t.path().join("s3")) else {
        eprintln!("skipped: no rclone");
        return;
    };
    let env = s3.env();
    let url = s3.url("gap");
    let data = t.path().join("p");
    init(&data, "16KiB");
    let primary = Primary::start_env(
        &data,
        &[
            "--archive-to",
            &url,
            "--archive-every",
            "200ms",
            "--max-retained-wal",
            "32KiB",
            "--checkpoint-wal-bytes",
            "16KiB",
            "--checkpoint-interval",
            "200ms",
        ],
        &env,
    );
    let mut c = primary.client();
    set_many(&mut c, "a", 50);
    wait_archived(&data, Duration::from_secs(30));
    let addr = s3.addr.clone();
    s3.stop();
    for round in 0..20 {
        set_many(&mut c, &format!("b{round}"), 100);
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let _s3 = S3Server::start_on(&t.path().join("s3"), &addr).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let a = loop {
        let a = archive_status(&data);
        if !a["gaps"].as_array().unwrap().is_empty() {
            break a;
        }
        assert!(Instant::now() < deadline, "no gap recorded: {a}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        a["gaps"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("--max-retained-wal"),
        "{a}"
    );
    wait_archived(&data, Duration::from_secs(60));
    let list = logship_env(&["archive", "list", &url], &env);
    assert!(list.stdout.contains("GAP"), "{}", list.stdout);
    let verify = logship_env(&["archive", "verify", &url], &env);
    assert_ne!(verify.code, Some(0));
    assert!(verify.stdout.contains("gap"), "{}", verify.stdout);
    // A restore to the latest point starts from the snapshot archived after the gap.
    let r = t.path().join("r");
    let out = logship_env(
        &["restore", "--from", &url, "--data-dir", r.to_str().unwrap()],
        &env,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut pc = primary.client();
    assert_eq!(restored_keys(&r).len(), keys_of(&mut pc).len());
}

#[test]
fn archive_once_saves_the_log_of_a_crashed_primary() {
    let t = tempfile::tempdir().unwrap();
    let arch = t.path().join("share");
    let url = format!("file://{}", arch.display());
    let data = t.path().join("p");
    init(&data, "64KiB");
    let mut primary = Primary::start(&data, &[]);
    let mut c = primary.client();
    set_many(&mut c, "acked", 250);
    primary.kill();
    let out = logship(&[
        "archive",
        "--data-dir",
        data.to_str().unwrap(),
        "--to",
        &url,
        "--once",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("archived"), "{}", out.stdout);
    // Twice is harmless: the second finds everything there.
    let out = logship(&[
        "archive",
        "--data-dir",
        data.to_str().unwrap(),
        "--to",
        &url,
        "--once",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = t.path().join("r");
    let out = logship(&["restore", "--from", &url, "--data-dir", r.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(restored_keys(&r).len(), 250);
}

#[test]
fn after_a_failover_the_promoted_standby_archives_on_with_no_hole() {
    let t = tempfile::tempdir().unwrap();
    let arch = t.path().join("share");
    let url = format!("file://{}", arch.display());
    let sdir = t.path().join("s");
    let standby = Standby::start_with(
        &sdir,
        &[
            "--insecure-no-auth",
            "--archive-to",
            &url,
            "--archive-every",
            "200ms",
        ],
    );
    let data = t.path().join("p");
    init(&data, "64KiB");
    // The old primary archives every 10 s: its last writes reach the standby
    // but not the archive before it dies.
    let mut primary = Primary::start(
        &data,
        &[
            "--ship-to",
            &standby.ship_addr,
            "--insecure-no-auth",
            "--ship-continuous",
            "--archive-to",
            &url,
            "--archive-every",
            "10s",
        ],
    );
    let mut c = primary.client();
    set_many(&mut c, "old", 200);
    wait_applied(&sdir, durable_lsn(&data), Duration::from_secs(30));
    primary.kill();
    let out = logship(&["promote", "--data-dir", sdir.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let mut n = standby.client();
    set_many(&mut n, "new", 20);
    let a = wait_archived(&sdir, Duration::from_secs(30));
    assert_eq!(a["gaps"], serde_json::json!([]), "{a}");
    let list = logship(&["archive", "list", &url, "--json"]);
    let l: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(l["window"]["timeline"], 2, "{l}");
    let r = t.path().join("r");
    let out = logship(&["restore", "--from", &url, "--data-dir", r.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("timeline 2"), "{}", out.stdout);
    assert_eq!(restored_keys(&r).len(), 220);
}

#[test]
fn retention_removes_old_snapshots_and_the_wal_below_the_oldest_kept() {
    let t = tempfile::tempdir().unwrap();
    let arch = t.path().join("share");
    let url = format!("file://{}", arch.display());
    let data = t.path().join("p");
    init(&data, "16KiB");
    let primary = Primary::start(
        &data,
        &[
            "--archive-to",
            &url,
            "--archive-every",
            "100ms",
            "--archive-snapshot-every",
            "300ms",
            "--checkpoint-interval",
            "200ms",
            "--archive-retain-snapshots",
            "3",
        ],
    );
    let mut c = primary.client();
    let snapshots = |arch: &Path| {
        tree(arch)
            .iter()
            .filter(|(p, _)| p.ends_with(".lsnap"))
            .count()
    };
    for round in 0..15 {
        set_many(&mut c, &format!("r{round}"), 100);
        std::thread::sleep(Duration::from_millis(250));
    }
    wait_archived(&data, Duration::from_secs(30));
    let kept = snapshots(&arch);
    assert!(
        (1..=4).contains(&kept),
        "{kept} snapshots kept with --archive-retain-snapshots 3"
    );
    let before = tree(&arch);
    let dry = logship(&[
        "archive",
        "prune",
        &url,
        "--retain-snapshots",
        "1",
        "--dry-run",
    ]);
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert!(dry.stdout.contains("would remove"), "{}", dry.stdout);
    assert_eq!(tree(&arch), before, "a dry run removes nothing");
    let out = logship(&[
        "archive",
        "prune",
        &url,
        "--retain-snapshots",
        "1",
        "--json",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(snapshots(&arch), 1);
    let oldest = plan["plan"]["oldest_snapshot_lsn"].as_u64().unwrap();
    // The latest point is still restorable; a point before the kept snapshot is not.
    let r = t.path().join("r");
    let ok = logship(&["restore", "--from", &url, "--data-dir", r.to_str().unwrap()]);
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    assert_eq!(restored_keys(&r).len(), 1500);
    let early = logship(&[
        "restore",
        "--from",
        &url,
        "--data-dir",
        t.path().join("r2").to_str().unwrap(),
        "--to-lsn",
        &(oldest - 1).to_string(),
    ]);
    assert!(
        early
            .assert_one_line_error(1)
            .contains("before the earliest snapshot"),
        "{}",
        early.stderr
    );
    let v = logship(&["archive", "verify", &url]);
    assert_eq!(v.code, Some(0), "{}{}", v.stdout, v.stderr);
}

#[test]
fn a_restore_can_become_a_primary_on_a_new_timeline_that_archives_on() {
    let t = tempfile::tempdir().unwrap();
    let arch = t.path().join("share");
    let url = format!("file://{}", arch.display());
    let data = t.path().join("p");
    init(&data, "64KiB");
    let mut primary = Primary::start(&data, &["--archive-to", &url, "--archive-every", "100ms"]);
    let mut c = primary.client();
    set_many(&mut c, "k", 100);
    wait_archived(&data, Duration::from_secs(30));
    primary.stop();
    let r = t.path().join("r");
    let out = logship(&[
        "restore",
        "--from",
        &url,
        "--data-dir",
        r.to_str().unwrap(),
        "--then",
        "primary",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("timeline 2 begins"), "{}", out.stdout);
    assert!(arch
        .join(format!(
            "{}/history/00000002.lhist",
            status_json(&data)["system_id"].as_str().unwrap()
        ))
        .exists());
    let p2 = Primary::start(&r, &["--archive-to", &url, "--archive-every", "100ms"]);
    let mut c2 = p2.client();
    let _: () = redis::cmd("SET")
        .arg("on-timeline-2")
        .arg("yes")
        .query(&mut c2)
        .unwrap();
    wait_archived(&r, Duration::from_secs(30));
    let r2 = t.path().join("r2");
    let out = logship(&[
        "restore",
        "--from",
        &url,
        "--data-dir",
        r2.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("timeline 2"), "{}", out.stdout);
    assert_eq!(restored_keys(&r2).len(), 101);
}
