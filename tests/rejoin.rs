//! `logship rejoin` end to end: a primary ships to a standby and is killed; the
//! standby is promoted; the old primary's directory is rejoined as a standby
//! of the new primary, with and without writes the standby never got.

mod common;

use common::{digest, init, key_file, status_json, wait_applied, Primary, Standby, BIN};
use logship::fs::StdFs;
use logship::wal::{RecordKind, WalReader};
use redis::Commands;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn run(args: &[&str], dir: &Path) -> Output {
    logship::config::hermetic(BIN)
        .args(args)
        .arg(dir)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run logship")
}

fn rejoin(dir: &Path, from: &str, key: &str) -> (Output, serde_json::Value) {
    let out = logship::config::hermetic(BIN)
        .args(["rejoin", "--json", "--from", from, "--auth-key-file", key])
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run logship rejoin");
    let j = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, j)
}

fn durable_of(dir: &Path) -> u64 {
    status_json(dir)["durable_lsn"].as_u64().unwrap()
}

/// Starts the rejoined directory as a standby and has the new primary (in
/// `np_dir`, restarted) ship to it; returns both, the standby caught up.
fn follow(old_dir: &Path, np: Primary, key: &str) -> (Primary, Standby) {
    let mut np = np;
    np.stop();
    let st = Standby::start(old_dir, Path::new(key));
    let np = Primary::start(
        &np.dir,
        &[
            "--ship-to",
            &st.ship_addr,
            "--auth-key-file",
            key,
            "--ship-continuous",
        ],
    );
    (np, st)
}

#[test]
fn an_old_primary_that_did_not_diverge_follows_the_new_timeline() {
    let root = tempfile::tempdir().unwrap();
    let key = key_file(root.path()).display().to_string();
    let (pdir, sdir) = (root.path().join("p"), root.path().join("s"));
    init(&pdir, "1MiB");
    let mut s = Standby::start(&sdir, Path::new(&key));
    let mut p = Primary::start(
        &pdir,
        &[
            "--ship-to",
            &s.ship_addr,
            "--auth-key-file",
            &key,
            "--ship-continuous",
        ],
    );
    let mut c = p.client();
    for i in 0..300u32 {
        let _: () = c.set(format!("k{i}"), format!("v{i}")).unwrap();
    }
    wait_applied(&sdir, durable_of(&pdir), Duration::from_secs(30));
    p.kill();
    s.kill();
    let out = run(&["promote", "--data-dir"], &sdir);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let np = Primary::start(&sdir, &[]);
    let mut nc = np.client();
    for i in 0..50u32 {
        let _: () = nc.set(format!("n{i}"), i).unwrap();
    }
    let before: Vec<String> = std::fs::read_dir(pdir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wal"))
        .collect();
    let (out, j) = rejoin(&pdir, &np.addr, &key);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(j["rejoined"], true, "{j}");
    assert_eq!(j["diverged"], false, "{j}");
    assert_eq!(j["done"]["reseed"], false, "{j}");
    // The switch is one seal past where the old log ended (its segment was open).
    let end = j["plan"]["old_end_lsn"].as_u64().unwrap();
    assert_eq!(j["plan"]["switch_lsn"].as_u64().unwrap(), end + 32, "{j}");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("logship standby --data-dir"), "{text}");
    // The log was kept.
    for n in &before {
        assert!(pdir.join("wal").join(n).exists(), "{n} was removed");
    }
    assert!(pdir.join("wal/00000002.history").exists());
    // A second run refuses: it is a standby's directory now.
    let (again, _) = rejoin(&pdir, &np.addr, &key);
    assert_eq!(again.status.code(), Some(3), "{again:?}");
    let (np, st) = follow(&pdir, np, &key);
    let mut nc = np.client();
    let _: () = nc.set("after-rejoin", "yes").unwrap();
    let d = durable_of(&sdir);
    let sj = wait_applied(&pdir, d, Duration::from_secs(30));
    assert_eq!(sj["timeline"], 2, "{sj}");
    let mut rc = st.client();
    assert_eq!(digest(&mut rc), digest(&mut nc));
    let v: String = rc.get("after-rejoin").unwrap();
    assert_eq!(v, "yes");
    let v: String = rc.get("k299").unwrap();
    assert_eq!(v, "v299");
}

#[test]
fn a_diverged_old_primary_saves_its_writes_and_is_reseeded() {
    let root = tempfile::tempdir().unwrap();
    let key = key_file(root.path()).display().to_string();
    let (pdir, sdir) = (root.path().join("p"), root.path().join("s"));
    init(&pdir, "1MiB");
    let mut s = Standby::start(&sdir, Path::new(&key));
    // Ships once an hour: the standby gets only what `logship ship --once` sends.
    let mut p = Primary::start(
        &pdir,
        &[
            "--ship-to",
            &s.ship_addr,
            "--auth-key-file",
            &key,
            "--ship-every",
            "1h",
        ],
    );
    let mut c = p.client();
    for i in 0..200u32 {
        let _: () = c.set(format!("k{i}"), format!("v{i}")).unwrap();
    }
    let out = logship::config::hermetic(BIN)
        .args([
            "ship",
            "--once",
            "--auth-key-file",
            &key,
            "--to",
            &s.ship_addr,
        ])
        .arg("--data-dir")
        .arg(&pdir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let shipped = durable_of(&pdir);
    wait_applied(&sdir, shipped, Duration::from_secs(30));
    // The last writes are never shipped.
    for i in 0..25u32 {
        let _: () = c.set(format!("late{i}"), i).unwrap();
        let _: () = c.set(format!("k{i}"), "overwritten").unwrap();
    }
    p.kill();
    s.kill();
    let received = status_json(&sdir)["received_lsn"].as_u64().unwrap();
    assert_eq!(received, shipped);
    // What the standby never got: the old log's data records from there on.
    let lost: Vec<(u64, u32)> = WalReader::open(StdFs::shared(), pdir.join("wal"), received, None)
        .unwrap()
        .map(|r| r.unwrap())
        .filter(|r| r.kind == RecordKind::Data)
        .map(|r| (r.lsn, r.crc))
        .collect();
    assert_eq!(lost.len(), 50);
    let out = run(&["promote", "--force", "--data-dir"], &sdir);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let np = Primary::start(&sdir, &[]);
    let mut nc = np.client();
    let _: () = nc.set("k0", "new-timeline").unwrap();
    let (out, j) = rejoin(&pdir, &np.addr, &key);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(j["diverged"], true, "{j}");
    let d = &j["plan"]["divergence"];
    assert_eq!(d["records"], 50, "{j}");
    assert_eq!(d["first_lsn"].as_u64().unwrap(), lost[0].0, "{j}");
    assert_eq!(d["last_lsn"].as_u64().unwrap(), lost[49].0, "{j}");
    assert!(d["first_unix_ms"].as_u64().unwrap() <= d["last_unix_ms"].as_u64().unwrap());
    assert!(d["payload_bytes"].as_u64().unwrap() > 0);
    assert_eq!(j["done"]["reseed"], true, "{j}");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("DIVERGED: 50 write record(s)"), "{text}");
    // The saved records: exactly the divergent writes, read by dump and verify.
    let saved = Path::new(j["done"]["saved_dir"].as_str().unwrap()).to_path_buf();
    assert!(
        saved.starts_with(pdir.join("diverged")),
        "{}",
        saved.display()
    );
    let out = run(&["dump", "--json"], &saved);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let dumped: Vec<(u64, u32)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "data")
        .map(|v| {
            (
                v["lsn"].as_u64().unwrap(),
                v["crc"].as_u64().unwrap() as u32,
            )
        })
        .collect();
    assert_eq!(dumped, lost);
    let out = run(&["verify"], &saved);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    for f in std::fs::read_dir(&saved).unwrap() {
        let out = run(&["dump"], &f.unwrap().path());
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    // The log and snapshots were emptied; the standby is re-seeded.
    assert!(common::segments(&pdir.join("wal")).is_empty());
    let (np, st) = follow(&pdir, np, &key);
    let mut nc = np.client();
    let _: () = nc.set("after-rejoin", "yes").unwrap();
    let sj = wait_applied(&pdir, durable_of(&sdir), Duration::from_secs(30));
    assert_eq!(sj["timeline"], 2, "{sj}");
    let mut rc = st.client();
    assert_eq!(digest(&mut rc), digest(&mut nc));
    let v: Option<String> = rc.get("late3").unwrap();
    assert_eq!(v, None, "a divergent write survived the rejoin");
    let v: String = rc.get("k0").unwrap();
    assert_eq!(v, "new-timeline");
}

#[test]
fn rejoin_refuses_what_it_cannot_do() {
    let root = tempfile::tempdir().unwrap();
    let key = key_file(root.path()).display().to_string();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    init(&a, "1MiB");
    init(&b, "1MiB");
    let pb = Primary::start(&b, &[]);
    // Another system.
    let (out, _) = rejoin(&a, &pb.addr, &key);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    // A running primary's directory.
    let (out, _) = rejoin(&b, &pb.addr, &key);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    // Not a data directory at all.
    let (out, _) = rejoin(&root.path().join("none"), &pb.addr, &key);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    // The new primary is unreachable.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (out, _) = rejoin(&a, &port.to_string(), &key);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.starts_with("logship: error: cannot reach the primary"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // Nothing was changed by the refusals.
    let c = logship::node::control::Control::read(&StdFs, &a).unwrap();
    assert_eq!(c.role, logship::node::control::Role::Primary);
    assert!(c.fenced.is_none());
}

/// Where the logs part, without processes: an old primary's log, and a new
/// primary made of the first `received` bytes of it, promoted in the same
/// directory layout as `logship promote` leaves.
mod divergence_point {
    use logship::fs::StdFs;
    use logship::node::control::{Control, Role, CONTROL_VERSION};
    use logship::promote::diverged::cut_log;
    use logship::promote::rejoin::{open_old, plan, NewPrimary};
    use logship::wal::{self, scan::list_segments, timeline, WalOptions, WalReader};
    use std::path::Path;

    const SID: u64 = 0x0123_4567_89ab_cdef;

    /// A primary data directory holding `n` records on timeline 1, 4 KiB segments.
    fn old_primary(dir: &Path, n: u32) {
        let mut o = WalOptions::new(dir.join("wal"), SID, 1);
        o.segment_bytes = 4096;
        o.sync = wal::SyncPolicy::Never;
        let (w, _) = wal::open(StdFs::shared(), o).unwrap();
        for i in 0..n {
            w.append(format!("record-{i:04}-{}", "x".repeat(90)).as_bytes())
                .unwrap();
        }
        w.close().unwrap();
        std::fs::create_dir_all(dir.join("snapshots")).unwrap();
        Control {
            version: CONTROL_VERSION,
            system_id: SID,
            role: Role::Primary,
            timeline: 1,
            segment_bytes: 4096,
            created_unix_ms: 1,
            fenced: None,
            halted_at: None,
        }
        .write(&StdFs, dir)
        .unwrap();
    }

    /// The log of `old` received up to `received`, then promoted to timeline 2.
    fn promoted(old: &Path, new: &Path, received: u64) -> NewPrimary {
        std::fs::create_dir_all(new.join("wal")).unwrap();
        for e in std::fs::read_dir(old.join("wal")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), new.join("wal").join(e.file_name())).unwrap();
        }
        cut_log(&new.join("wal"), received).unwrap();
        let fs = StdFs::shared();
        wal::recovery::switch_timeline(&fs, &new.join("wal"), 2, "test").unwrap();
        NewPrimary {
            addr: "test".into(),
            system_id: SID,
            timeline: 2,
            durable_lsn: 0,
            history: timeline::read_history(&StdFs, &new.join("wal"), 2).unwrap(),
            fenced: false,
        }
    }

    fn records(dir: &Path, until: Option<u64>) -> Vec<(u64, u32)> {
        WalReader::open(StdFs::shared(), dir, 0, until)
            .unwrap()
            .map(|r| r.unwrap())
            .map(|r| (r.lsn, r.crc))
            .collect()
    }

    #[test]
    fn an_open_segment_switches_one_seal_later() {
        let root = tempfile::tempdir().unwrap();
        let (old, new) = (root.path().join("old"), root.path().join("new"));
        old_primary(&old, 10);
        let all = records(&old.join("wal"), None);
        let received = all[7].0; // the new primary got records 0..7
        let np = promoted(&old, &new, received);
        assert_eq!(np.history[0].switch_lsn, received + 32, "switch = E + seal");
        let o = open_old(&old).unwrap();
        let p = plan(&o, &np).unwrap();
        assert_eq!(p.divergence_lsn, received);
        let d = p.divergence.expect("records 7, 8, 9 diverged");
        assert_eq!(
            (d.first_lsn, d.last_lsn, d.records),
            (all[7].0, all[9].0, 3)
        );
        drop(o);
        // Received everything: nothing diverged, nothing to cut.
        let (old2, new2) = (root.path().join("old2"), root.path().join("new2"));
        old_primary(&old2, 10);
        let end = wal::scan_dir(&StdFs, &old2.join("wal")).unwrap().end_lsn;
        let np = promoted(&old2, &new2, end);
        let p = plan(&open_old(&old2).unwrap(), &np).unwrap();
        assert!(p.divergence.is_none());
        assert_eq!(
            (p.records_cut, p.old_end_lsn, p.divergence_lsn),
            (0, end, end)
        );
    }

    #[test]
    fn a_sealed_segment_switches_at_its_end() {
        let root = tempfile::tempdir().unwrap();
        let (old, new) = (root.path().join("old"), root.path().join("new"));
        old_primary(&old, 80);
        let segs = list_segments(&StdFs, &old.join("wal")).unwrap();
        assert!(segs.len() >= 3);
        // The new primary got the first segment, seal included, and no more.
        let e = segs[1].first_lsn;
        let np = promoted(&old, &new, e);
        assert_eq!(
            np.history[0].switch_lsn, e,
            "a sealed log switches at its end"
        );
        let p = plan(&open_old(&old).unwrap(), &np).unwrap();
        assert_eq!(p.divergence_lsn, e - 32, "the seal is common to both logs");
        let d = p.divergence.expect("the second segment's records diverged");
        assert_eq!(d.first_lsn, e);
        // An old log that ends with that same seal did not diverge; rejoin cuts
        // the seal so the new primary's shipment (its own seal, then timeline 2)
        // continues the log, identical below the cut.
        let (old2, new2) = (root.path().join("old2"), root.path().join("new2"));
        old_primary(&old2, 80);
        cut_log(&old2.join("wal"), e).unwrap();
        let np = promoted(&old2, &new2, e);
        let o = open_old(&old2).unwrap();
        let p = plan(&o, &np).unwrap();
        assert!(p.divergence.is_none(), "{p:?}");
        assert_eq!(
            p.records_cut, 1,
            "only the seal lies past the divergence LSN"
        );
        let done = logship::promote::rejoin::apply(&o, &np, &p, |_| {}).unwrap();
        assert!(!done.reseed);
        drop(o);
        let after = wal::scan_dir(&StdFs, &old2.join("wal")).unwrap();
        assert_eq!(after.end_lsn, e - 32);
        assert_eq!(
            records(&old2.join("wal"), Some(e - 32)),
            records(&new2.join("wal"), Some(e - 32))
        );
        let c = Control::read(&StdFs, &old2).unwrap();
        assert_eq!((c.role, c.fenced.is_none()), (Role::Standby, true));
    }

    #[test]
    fn an_interrupted_rejoin_is_finished_by_running_it_again() {
        let root = tempfile::tempdir().unwrap();
        let (old, new) = (root.path().join("old"), root.path().join("new"));
        old_primary(&old, 80);
        let segs = list_segments(&StdFs, &old.join("wal")).unwrap();
        let received = segs[0].first_lsn + 64 * 8;
        let np = promoted(&old, &new, received);
        // The first run got as far as fencing, saving, and removing the newest
        // segment, then the machine went down.
        let o = open_old(&old).unwrap();
        let p = plan(&o, &np).unwrap();
        let d = p.divergence.clone().expect("diverged");
        let saved = logship::promote::rejoin::saved_dir(&old, &p);
        Control {
            fenced: Some(logship::node::control::Fence {
                lsn: o.end_lsn,
                timeline: 1,
                unix_ms: 1,
                reason: "rejoining".into(),
            }),
            ..o.control.clone()
        }
        .write(&StdFs, &old)
        .unwrap();
        let files = logship::promote::diverged::save(&old.join("wal"), SID, &d, &saved).unwrap();
        assert_eq!(files.len(), segs.len(), "one file per segment touched");
        std::fs::remove_file(&segs.last().unwrap().path).unwrap();
        drop(o);
        // A fenced primary's directory: nothing serves it meanwhile.
        let e = logship::node::datadir::DataDir::open(&StdFs, &old, Role::Primary).unwrap_err();
        assert!(e.to_string().contains("logship rejoin"), "{e}");
        // The second run finishes the job.
        let o = open_old(&old).unwrap();
        let p2 = plan(&o, &np).unwrap();
        assert!(p2.divergence.is_some(), "the prefix still diverges");
        let done = logship::promote::rejoin::apply(&o, &np, &p2, |_| {}).unwrap();
        assert!(done.reseed);
        drop(o);
        assert!(list_segments(&StdFs, &old.join("wal")).unwrap().is_empty());
        let c = Control::read(&StdFs, &old).unwrap();
        assert_eq!((c.role, c.fenced.is_none()), (Role::Standby, true));
        // The saved copy is the complete one of the first run.
        let got = WalReader::open(StdFs::shared(), &saved, d.first_lsn, None)
            .unwrap()
            .map(|r| r.unwrap())
            .filter(|r| r.kind == logship::wal::RecordKind::Data)
            .count();
        assert_eq!(got as u64, d.records);
    }
}
