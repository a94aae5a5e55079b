//! A standby that follows the archive (`standby --restore-from URL`), end to
//! end with real processes: seeded from a primary's `file://` archive, it
//! converges and keeps converging as the primary writes, shows the archive in
//! its status, refuses a damaged object by name without applying it, and is
//! promoted once the primary is gone.

mod common;

use common::{
    digest, durable_lsn, init, listening_addr, logship, redis_client, spawn_until_first_line,
    status_json, Primary, Standby, BIN,
};
use redis::Commands;
use std::path::Path;
use std::time::{Duration, Instant};

/// Starts a standby following `url` on `dir`.
fn follow(dir: &Path, url: &str) -> Standby {
    let mut cmd = logship::config::hermetic(BIN);
    cmd.args(["standby", "--data-dir"])
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--restore-from", url])
        .args(["--restore-every", "200ms", "--checkpoint-interval", "1s"]);
    let (child, line, err) = spawn_until_first_line(cmd, "standby");
    assert!(
        line.contains(&format!("(following the archive {url})")),
        "{line}"
    );
    Standby {
        child: Some(child),
        addr: listening_addr(&line),
        ship_addr: String::new(),
        dir: dir.to_path_buf(),
        stderr: Some(err),
    }
}

/// The WAL objects in a `file://` archive at `root`, by path.
fn wal_objects(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "lwal") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Waits (at most `within`) until `check` holds, polling every 100 ms.
fn wait_until(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the standby applied everything the primary holds durably, then
/// compares DBSIZE and DEBUG DIGEST.
fn assert_converged(p: &Primary, s: &Standby) {
    let durable = durable_lsn(&p.dir);
    wait_until(
        Duration::from_secs(30),
        "the standby applies what the primary wrote",
        || status_json(&s.dir)["applied_lsn"].as_u64().unwrap_or(0) >= durable,
    );
    let (mut pc, mut sc) = (p.client(), s.client());
    let (pn, sn): (u64, u64) = (
        redis::cmd("DBSIZE").query(&mut pc).unwrap(),
        redis::cmd("DBSIZE").query(&mut sc).unwrap(),
    );
    assert_eq!(pn, sn, "DBSIZE at LSN {durable:#x}");
    assert_eq!(
        digest(&mut pc),
        digest(&mut sc),
        "digests at LSN {durable:#x}"
    );
}

fn write_batch(p: &Primary, from: u32, n: u32) {
    let mut c = p.client();
    for i in from..from + n {
        let _: () = c
            .set(format!("k{i}"), format!("value {i} {}", "x".repeat(200)))
            .unwrap();
        let _: () = c.hset(format!("h{}", i % 7), format!("f{i}"), i).unwrap();
        let _: () = c.sadd("s", i).unwrap();
    }
}

#[test]
fn a_standby_follows_the_archive_converges_and_is_promoted() {
    let tmp = tempfile::tempdir().unwrap();
    let (pdir, sdir, root) = (
        tmp.path().join("p"),
        tmp.path().join("s"),
        tmp.path().join("arch"),
    );
    let url = format!("file://{}", root.display());
    init(&pdir, "256KiB");
    let mut p = Primary::start(
        &pdir,
        &[
            "--archive-to",
            &url,
            "--archive-every",
            "200ms",
            "--archive-heartbeat",
            "1s",
        ],
    );
    write_batch(&p, 0, 300);
    wait_until(Duration::from_secs(30), "the archive holds WAL", || {
        !wal_objects(&root).is_empty()
    });

    let s = follow(&sdir, &url);
    assert_converged(&p, &s);
    // More writes, across segments, arrive from the archive only.
    write_batch(&p, 300, 1500);
    assert_converged(&p, &s);

    let st = status_json(&sdir);
    assert_eq!(st["role"], "standby", "{st}");
    assert_eq!(st["restore_from"], url.as_str(), "{st}");
    assert!(st.get("ship_listen").is_none(), "{st}");
    assert!(st["archive_age_seconds"].as_f64().is_some(), "{st}");
    // An idle primary's heartbeat keeps the archive's proof fresh.
    std::thread::sleep(Duration::from_millis(2500));
    let age = status_json(&sdir)["archive_age_seconds"].as_f64().unwrap();
    assert!(age < 2.5, "archive age {age} s with a 1 s heartbeat");
    let mut sc = s.client();
    let err = sc.set::<_, _, ()>("no", "1").unwrap_err();
    assert_eq!(err.kind(), redis::ErrorKind::ReadOnly, "{err}");

    p.stop();
    let out = logship(&["promote", "--data-dir", sdir.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(
        out.stdout.contains("no live primary to compare with"),
        "{out:#?}"
    );
    let mut c = redis_client(&s.addr);
    let _: () = c.set("after", "promotion").unwrap();
    let v: String = c.get("after").unwrap();
    assert_eq!(v, "promotion");
    assert_eq!(status_json(&sdir)["role"], "primary");
}

#[test]
fn a_damaged_object_is_refused_by_name_and_following_resumes_once_it_is_sound() {
    let tmp = tempfile::tempdir().unwrap();
    let (pdir, sdir, root) = (
        tmp.path().join("p"),
        tmp.path().join("s"),
        tmp.path().join("arch"),
    );
    let url = format!("file://{}", root.display());
    init(&pdir, "1MiB");
    let p = Primary::start(&pdir, &["--archive-to", &url, "--archive-every", "200ms"]);
    write_batch(&p, 0, 50);
    wait_until(Duration::from_secs(30), "the archive holds WAL", || {
        !wal_objects(&root).is_empty()
    });
    let s = follow(&sdir, &url);
    assert_converged(&p, &s);
    let applied = status_json(&sdir)["applied_lsn"].as_u64().unwrap();

    // With the standby stopped, the next object is damaged in the store.
    let mut s = s;
    s.kill();
    let before = wal_objects(&root);
    write_batch(&p, 50, 20);
    let mut damaged = None;
    wait_until(Duration::from_secs(30), "a new object appears", || {
        damaged = wal_objects(&root).into_iter().find(|o| !before.contains(o));
        damaged.is_some()
    });
    let damaged = damaged.unwrap();
    let good = std::fs::read(&damaged).unwrap();
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    std::fs::write(&damaged, &bad).unwrap();
    let name = damaged.file_name().unwrap().to_str().unwrap().to_string();

    let s = follow(&sdir, &url);
    let mut error = String::new();
    wait_until(
        Duration::from_secs(10),
        "the damaged object is refused",
        || {
            error = status_json(&sdir)["last_receive_error"]
                .as_str()
                .unwrap_or("")
                .to_string();
            !error.is_empty()
        },
    );
    assert!(error.contains(&name), "the error names the object: {error}");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        status_json(&sdir)["applied_lsn"].as_u64().unwrap(),
        applied,
        "nothing of a damaged object is applied"
    );
    // Sound again: following resumes by itself.
    std::fs::write(&damaged, &good).unwrap();
    assert_converged(&p, &s);
    let log = {
        let mut s = s;
        s.kill()
    };
    assert_eq!(
        log.matches("following the archive:").count(),
        1,
        "one error line per streak: {log}"
    );
    assert!(log.contains("following resumes"), "{log}");
}
