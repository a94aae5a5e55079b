//! `logship drill` end to end: a failover rehearsed on a copy of a real
//! standby, stopped or running, which must not change.

mod common;

use common::{digest, init, key_file, status_json, tree, wait_applied, Primary, Standby, BIN};
use redis::Commands;
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn drill(dir: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let out = logship::config::hermetic(BIN)
        .args(["drill", "--json"])
        .args(extra)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run logship drill");
    let j = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, j)
}

fn pair(root: &Path) -> (Primary, Standby) {
    let key = key_file(root);
    let k = key.to_str().unwrap();
    let (pdir, sdir) = (root.join("p"), root.join("s"));
    init(&pdir, "1MiB");
    let s = Standby::start(&sdir, &key);
    let p = Primary::start(
        &pdir,
        &[
            "--ship-to",
            &s.ship_addr,
            "--auth-key-file",
            k,
            "--ship-continuous",
        ],
    );
    (p, s)
}

fn assert_passed(out: &Output, j: &serde_json::Value) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{j}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(j["digest_equal"], true, "{j}");
    assert_eq!(j["promoted_digest"], j["expected_digest"], "{j}");
    assert!(j["rto_ms"].as_u64().unwrap() > 0, "{j}");
    assert!(
        j["rto_ms"].as_u64().unwrap() >= j["promote_ms"].as_u64().unwrap(),
        "{j}"
    );
    assert!(j["copy_bytes"].as_u64().unwrap() > 0, "{j}");
    assert!(j["copy_files"].as_u64().unwrap() >= 1, "{j}");
    let steps: Vec<&str> = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["position", "copy", "expect", "promote", "start", "digest", "write"]
    );
}

#[test]
fn a_drill_on_a_stopped_standby_passes_and_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (mut p, mut s) = pair(root.path());
    let mut c = p.client();
    for i in 0..400u32 {
        let _: () = c.set(format!("k{i}"), format!("value-{i}")).unwrap();
    }
    let durable = status_json(&p.dir)["durable_lsn"].as_u64().unwrap();
    wait_applied(&s.dir, durable, Duration::from_secs(30));
    p.kill();
    let standby_digest = digest(&mut s.client());
    s.kill();
    let before = tree(&s.dir);
    let (out, j) = drill(&s.dir, &[]);
    assert_passed(&out, &j);
    assert_eq!(j["standby_running"], false, "{j}");
    assert_eq!(j["copied_lsn"].as_u64().unwrap(), durable, "{j}");
    assert_eq!(j["rpo_bytes"], 0, "{j}");
    assert_eq!(j["keys"], 400, "{j}");
    // The promoted copy holds exactly what the standby served.
    assert_eq!(j["promoted_digest"], standby_digest.as_str(), "{j}");
    assert!(!Path::new(j["scratch_dir"].as_str().unwrap()).exists());
    assert_eq!(tree(&s.dir), before, "the drill changed the standby");
    // The drill's reference page names every field of the report.
    let doc = include_str!("../docs/reference/drill.md");
    let at = doc
        .find("\n## Output\n")
        .expect("docs/reference/drill.md has an Output section");
    let section = &doc[at..];
    let section = &section[..section[4..].find("\n## ").map_or(section.len(), |e| e + 4)];
    for k in j.as_object().unwrap().keys() {
        assert!(
            section.contains(&format!("`{k}`")),
            "docs/reference/drill.md does not name `{k}`"
        );
    }
    // --keep leaves the promoted copy for inspection.
    let scratch = root.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let (out, j) = drill(
        &s.dir,
        &["--keep", "--scratch-dir", scratch.to_str().unwrap()],
    );
    assert_passed(&out, &j);
    let kept = Path::new(j["scratch_dir"].as_str().unwrap()).to_path_buf();
    assert!(kept.starts_with(&scratch), "{}", kept.display());
    assert!(kept.join("data/wal/00000002.history").exists());
    std::fs::remove_dir_all(&kept).unwrap();
    assert_eq!(tree(&s.dir), before, "the drill changed the standby");
}

#[test]
fn a_drill_on_a_running_standby_copies_consistently_while_it_receives() {
    let root = tempfile::tempdir().unwrap();
    let (p, s) = pair(root.path());
    let mut c = p.client();
    for i in 0..300u32 {
        let _: () = c.set(format!("k{i}"), format!("value-{i}")).unwrap();
    }
    wait_applied(
        &s.dir,
        status_json(&p.dir)["durable_lsn"].as_u64().unwrap(),
        Duration::from_secs(30),
    );
    // Writes keep arriving (and checkpoints keep running) during the drill.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut c = p.client();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) && n < 200_000 {
                let _: () = c.set(format!("w{}", n % 5000), n).unwrap();
                n += 1;
            }
            n
        })
    };
    // Past a checkpoint (every second): the copy starts from a snapshot.
    std::thread::sleep(Duration::from_millis(1500));
    let mut last = serde_json::Value::Null;
    for _ in 0..3 {
        let (out, j) = drill(&s.dir, &[]);
        assert_passed(&out, &j);
        assert_eq!(j["standby_running"], true, "{j}");
        assert!(j["copied_lsn"].as_u64().unwrap() > 0, "{j}");
        assert!(j["snapshot_lsn"].as_u64().unwrap() > 0, "{j}");
        last = j;
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 0);
    let j = last;
    // The standby kept receiving and applying, and serves what the primary has.
    let d = status_json(&p.dir)["durable_lsn"].as_u64().unwrap();
    let st = wait_applied(&s.dir, d, Duration::from_secs(30));
    assert_eq!(st["role"], "standby", "{st}");
    assert!(d > j["copied_lsn"].as_u64().unwrap(), "{j}");
    assert_eq!(digest(&mut s.client()), digest(&mut p.client()));
}

#[test]
fn a_drill_that_cannot_succeed_exits_non_zero() {
    let root = tempfile::tempdir().unwrap();
    let key = key_file(root.path());
    // A running standby that received nothing.
    let mut s = Standby::start(&root.path().join("s"), &key);
    let (out, j) = drill(&s.dir, &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(j.is_null());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("received nothing"), "{err}");
    // The same directory, stopped.
    s.kill();
    let (out, _) = drill(&s.dir, &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // A primary's directory.
    init(&root.path().join("p"), "1MiB");
    let (out, _) = drill(&root.path().join("p"), &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("logship: error: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
