//! `logship promote` end to end: real primaries and standbys on 127.0.0.1,
//! promoted online and offline, with and without the old primary reachable.

mod common;

use common::{
    free_addr, http_get, init, key_file, key_file_at, status_json, tree, wait_applied, Primary,
    Standby, BIN,
};
use redis::Commands;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn promote(dir: &Path, extra: &[&str]) -> Output {
    logship::config::hermetic(BIN)
        .args(["promote", "--data-dir"])
        .arg(dir)
        .args(extra)
        .output()
        .expect("run logship promote")
}

fn json_of(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "promote --json printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// A primary shipping continuously to a standby, with `n` keys written and
/// applied on the standby.
fn pair(root: &Path, n: u32, primary_extra: &[&str]) -> (Primary, Standby, String) {
    let key = key_file(root).display().to_string();
    let (pdir, sdir) = (root.join("p"), root.join("s"));
    init(&pdir, "1MiB");
    let s = Standby::start(&sdir, Path::new(&key));
    let mut args = vec![
        "--ship-to",
        &s.ship_addr,
        "--auth-key-file",
        &key,
        "--checkpoint-interval",
        "1h",
    ];
    args.extend_from_slice(primary_extra);
    if !primary_extra.iter().any(|a| a.starts_with("--ship-")) {
        args.push("--ship-continuous");
    }
    let p = Primary::start(&pdir, &args);
    let mut c = p.client();
    for i in 0..n {
        let _: () = c.set(format!("k{i}"), format!("v{i}")).unwrap();
    }
    (p, s, key)
}

fn durable_of(p: &Primary) -> u64 {
    status_json(&p.dir)["durable_lsn"].as_u64().unwrap()
}

#[test]
fn online_promotion_when_caught_up_serves_writes_in_place() {
    let root = tempfile::tempdir().unwrap();
    let (mut p, s, _) = pair(root.path(), 200, &[]);
    wait_applied(&s.dir, durable_of(&p), Duration::from_secs(30));
    p.kill();
    // A client of the standby from before the promotion.
    let mut earlier = s.client();
    let _: Option<String> = earlier.get("k0").unwrap();
    let events = root.path().join("events.json");
    let hook = format!("cat >> '{}'", events.display());
    let out = promote(&s.dir, &["--json", "--on-event", &hook]);
    let j = json_of(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{j}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(j["promoted"], true);
    assert_eq!(j["mode"], "online");
    let ev: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&events).expect("the hook ran")).unwrap();
    assert_eq!(
        (ev["event"].as_str(), ev["details"]["mode"].as_str()),
        (Some("promotion"), Some("online")),
        "{ev}"
    );
    assert_eq!(ev["details"]["promotion_lsn"], j["promotion_lsn"], "{ev}");
    assert_eq!(j["old_timeline"], 1);
    assert_eq!(j["new_timeline"], 2);
    assert_eq!(j["loss_bytes"], 0);
    assert!(j["promotion_lsn"].as_u64().unwrap() > j["received_lsn"].as_u64().unwrap());
    // It is sent away: the keyspace belongs to the primary now.
    let e = earlier.get::<_, Option<String>>("k0").unwrap_err();
    assert!(
        e.to_string()
            .contains("this standby was promoted to primary; reconnect to write to it"),
        "{e}"
    );
    // The same address now takes writes, and has every acknowledged one.
    let mut c = s.client();
    let v: String = c.get("k199").unwrap();
    assert_eq!(v, "v199");
    let _: () = c.set("after", "promotion").unwrap();
    let got: String = c.get("after").unwrap();
    assert_eq!(got, "promotion");
    let st = status_json(&s.dir);
    assert_eq!(st["role"], "primary");
    assert_eq!(st["timeline"], 2);
    assert!(st["durable_lsn"].as_u64().unwrap() > j["promotion_lsn"].as_u64().unwrap());
    // The history file was written, naming where timeline 1 ended.
    let h = std::fs::read_to_string(s.dir.join("wal/00000002.history")).unwrap();
    assert!(
        h.contains(&format!("{:#x}", j["promotion_lsn"].as_u64().unwrap())),
        "{h}"
    );
}

#[test]
fn with_the_primary_reachable_the_final_shipment_makes_the_loss_zero() {
    let root = tempfile::tempdir().unwrap();
    // Ship once an hour: without the final shipment the standby lacks everything.
    let (p, s, key) = pair(root.path(), 0, &["--ship-every", "1h"]);
    let mut c = p.client();
    for i in 0..300u32 {
        let _: () = c.set(format!("t{i}"), i).unwrap();
    }
    let durable = durable_of(&p);
    let out = promote(
        &s.dir,
        &["--primary", &p.addr, "--auth-key-file", &key, "--json"],
    );
    let j = json_of(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{j}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(j["loss_bytes"], 0, "{j}");
    assert!(j["received_lsn"].as_u64().unwrap() >= durable);
    assert_eq!(j["primary"]["durable_lsn"].as_u64().unwrap(), durable);
    // The old primary is fenced: it refuses writes with a clear error, still
    // answers reads.
    let e = c.set::<_, _, ()>("late", 1).unwrap_err();
    assert!(e.to_string().contains("FENCED"), "{e}");
    let v: u32 = c.get("t299").unwrap();
    assert_eq!(v, 299);
    // The promoted node has every write.
    let mut n = s.client();
    let v: u32 = n.get("t299").unwrap();
    assert_eq!(v, 299);
    let _: () = n.set("new", "primary").unwrap();
    // And the fence survives a restart: the old primary will not serve again.
    drop(p);
    let out = logship::config::hermetic(BIN)
        .args(["primary", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(root.path().join("p"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fenced") && err.contains("logship rejoin"),
        "{err}"
    );
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The value of an unlabelled metric in a scrape.
fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

fn info_replication(c: &mut redis::Connection) -> String {
    redis::cmd("INFO").arg("replication").query(c).unwrap()
}

#[test]
fn a_fenced_primary_says_so_in_status_info_metrics_and_exit_status() {
    let root = tempfile::tempdir().unwrap();
    let maddr = free_addr();
    let (mut p, s, key) = pair(root.path(), 0, &["--ship-every", "1h", "--metrics", &maddr]);
    let mut c = p.client();
    for i in 0..50u32 {
        let _: () = c.set(format!("f{i}"), i).unwrap();
    }
    // Not fenced: nothing in status, 0 in INFO and the metrics.
    assert!(status_json(&p.dir).get("fenced").is_none());
    assert!(info_replication(&mut c).contains("fenced:0\r\n"));
    assert_eq!(
        metric(&http_get(&maddr, "/metrics").1, "logship_fenced"),
        0.0
    );

    let before = now_ms();
    let out = promote(
        &s.dir,
        &["--primary", &p.addr, "--auth-key-file", &key, "--json"],
    );
    let after = now_ms();
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // Running: JSON, text, INFO and metrics name the same fence.
    let st = status_json(&p.dir);
    let f = &st["fenced"];
    let at = f["at_lsn"].as_u64().expect("at_lsn");
    let since = f["since_unix_ms"].as_u64().expect("since_unix_ms");
    assert_eq!(at, st["write_lsn"].as_u64().unwrap(), "{st}");
    assert!(at > 0 && (before..=after).contains(&since), "{st}");
    assert_eq!(f["timeline"], 1, "{st}");
    assert!(!f["reason"].as_str().unwrap().is_empty(), "{st}");
    let text = common::logship(&["status", "--data-dir", p.dir.to_str().unwrap()]).stdout;
    let line = text
        .lines()
        .find(|l| l.starts_with("fenced:"))
        .unwrap_or_else(|| panic!("no fenced line: {text}"));
    for part in [
        " UTC at LSN ",
        "(tl 1)",
        "a standby was promoted",
        "logship rejoin",
    ] {
        assert!(line.contains(part), "{part:?} not in {line}");
    }
    let info = info_replication(&mut c);
    for field in [
        "fenced:1".to_string(),
        format!("fenced_at_lsn:{at}"),
        format!("fenced_since_unix_ms:{since}"),
        "fenced_timeline:1".into(),
    ] {
        assert!(
            info.contains(&format!("{field}\r\n")),
            "{field} not in {info}"
        );
    }
    let m = http_get(&maddr, "/metrics").1;
    assert_eq!(metric(&m, "logship_fenced"), 1.0);
    assert_eq!(metric(&m, "logship_fenced_lsn_bytes"), at as f64);
    assert_eq!(
        metric(&m, "logship_fenced_timestamp_seconds"),
        since as f64 / 1000.0
    );

    // Stopped: exit status 4 and one line saying why.
    let (status, log) = p.signal_and_wait(libc::SIGTERM);
    assert_eq!(status.code(), Some(4), "{log}");
    let last = log.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("logship: error: ")
            && last.contains("stopped while fenced")
            && last.contains("logship rejoin"),
        "{log}"
    );
    // Read from its files, the status names the same fence.
    let off = status_json(&p.dir);
    assert_eq!(off["running"], false, "{off}");
    assert_eq!(off["fenced"], st["fenced"], "{off}");

    // Started again: refused, one line naming the fence, exit status 4.
    let out = common::logship(&[
        "primary",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        p.dir.to_str().unwrap(),
    ]);
    let line = out.assert_one_line_error(4);
    for part in [
        "refusing to start".to_string(),
        "UTC".into(),
        format!("at LSN {} (tl 1)", lsn_hex(at)),
        "logship rejoin --data-dir".into(),
    ] {
        assert!(line.contains(&part), "{part:?} not in {line}");
    }
}

/// `HIGH/LOW` hex, as logship prints an LSN.
fn lsn_hex(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}

#[test]
fn the_wrong_key_neither_fences_nor_promotes() {
    let root = tempfile::tempdir().unwrap();
    let (p, s, _) = pair(root.path(), 10, &[]);
    let bad = key_file_at(
        &root.path().join("bad.key"),
        "another-key-entirely-0123456789",
    );
    let out = promote(
        &s.dir,
        &[
            "--primary",
            &p.addr,
            "--auth-key-file",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("authentication failed"), "{err}");
    assert_our_words(&err);
    let mut c = p.client();
    let _: () = c.set("still", "writable").unwrap();
    assert_eq!(status_json(&s.dir)["role"], "standby");
}

/// What the client library says of an error (its kind names, its prefix)
/// never reaches the user.
fn assert_our_words(err: &str) {
    for theirs in [
        "An error was signalled",
        "ResponseError",
        "IoError",
        "os error",
    ] {
        assert!(!err.contains(theirs), "{theirs:?} in: {err}");
    }
}

#[test]
fn a_refused_fence_and_an_unreachable_primary_are_told_in_our_words() {
    let root = tempfile::tempdir().unwrap();
    let (p, s, _) = pair(root.path(), 10, &[]);
    // No key: the primary refuses the fence with its own reason.
    let out = promote(&s.dir, &["--primary", &p.addr]);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(
        lines[0].contains(&format!(
            "the primary at {} refused: LOGSHIP FENCE needs a proof made with this primary's ship key",
            p.addr
        )),
        "{err}"
    );
    assert_our_words(&err);
    // Nothing listens: the address and the reason, nothing else.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = gone.local_addr().unwrap().to_string();
    drop(gone);
    let out = promote(&s.dir, &["--primary", &addr]);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot reach the primary at {addr}: connection refused"
        )),
        "{err}"
    );
    assert_our_words(&err);
    assert_eq!(status_json(&s.dir)["role"], "standby");
}

#[test]
fn offline_promotion_leaves_a_directory_the_primary_serves() {
    let root = tempfile::tempdir().unwrap();
    let (mut p, mut s, _) = pair(root.path(), 150, &[]);
    wait_applied(&s.dir, durable_of(&p), Duration::from_secs(30));
    p.kill();
    s.kill();
    // --dry-run changes nothing, byte for byte.
    let before = tree(&s.dir);
    let out = promote(&s.dir, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ready to promote: yes"), "{text}");
    assert_eq!(tree(&s.dir), before, "--dry-run changed the directory");
    // The promotion is reported to the command's own --on-event hook.
    let events = root.path().join("events.json");
    let hook = format!("cat >> '{}'", events.display());
    let out = promote(&s.dir, &["--json", "--on-event", &hook]);
    let j = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{j}");
    assert_eq!(j["mode"], "offline");
    assert_eq!(j["new_timeline"], 2);
    let text = std::fs::read_to_string(&events).expect("the hook ran");
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let ev: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(ev["event"], "promotion", "{ev}");
    assert!(ev["node"].as_str().unwrap().contains("offline"), "{ev}");
    let d = &ev["details"];
    assert_eq!(
        (
            d["mode"].as_str(),
            d["old_timeline"].as_u64(),
            d["new_timeline"].as_u64()
        ),
        (Some("offline"), Some(1), Some(2)),
        "{ev}"
    );
    assert_eq!(d["promotion_lsn"], j["promotion_lsn"], "{ev}");
    assert_eq!(d["forced"], false, "{ev}");
    let np = Primary::start(&s.dir, &[]);
    let mut c = np.client();
    let v: String = c.get("k149").unwrap();
    assert_eq!(v, "v149");
    let _: () = c.set("x", "y").unwrap();
    let st = status_json(&s.dir);
    assert_eq!(
        (st["role"].as_str(), st["timeline"].as_u64()),
        (Some("primary"), Some(2))
    );
}

#[test]
fn a_primary_directory_is_not_a_standby() {
    let root = tempfile::tempdir().unwrap();
    init(&root.path().join("p"), "1MiB");
    let out = promote(&root.path().join("p"), &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let p = Primary::start(&root.path().join("p"), &[]);
    let out = promote(&p.dir, &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let out = promote(&root.path().join("nothing-here"), &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}

#[test]
fn a_frozen_standby_is_not_reachable() {
    let root = tempfile::tempdir().unwrap();
    let (_p, s, _) = pair(root.path(), 5, &[]);
    let pid = s.child.as_ref().unwrap().id() as i32;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let out = promote(&s.dir, &[]);
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not reachable"));
}

#[test]
fn after_promotion_the_old_primary_is_refused_and_a_second_standby_follows() {
    let root = tempfile::tempdir().unwrap();
    let key = key_file(root.path()).display().to_string();
    let (pdir, s1dir, s2dir) = (
        root.path().join("p"),
        root.path().join("s1"),
        root.path().join("s2"),
    );
    init(&pdir, "1MiB");
    let s2 = Standby::start(&s2dir, Path::new(&key));
    let s1 = Standby::start_with(
        &s1dir,
        &[
            "--auth-key-file",
            &key,
            "--checkpoint-interval",
            "1s",
            "--ship-to",
            &s2.ship_addr,
            "--ship-continuous",
        ],
    );
    let mut p = Primary::start(
        &pdir,
        &[
            "--ship-to",
            &s1.ship_addr,
            "--ship-to",
            &s2.ship_addr,
            "--auth-key-file",
            &key,
            "--ship-continuous",
        ],
    );
    let mut c = p.client();
    for i in 0..100u32 {
        let _: () = c.set(format!("a{i}"), i).unwrap();
    }
    let d = durable_of(&p);
    wait_applied(&s1dir, d, Duration::from_secs(30));
    wait_applied(&s2dir, d, Duration::from_secs(30));
    p.kill();
    let out = promote(&s1dir, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let mut n = s1.client();
    for i in 0..50u32 {
        let _: () = n.set(format!("b{i}"), i).unwrap();
    }
    // The second standby follows the new primary onto timeline 2.
    let d2 = status_json(&s1dir)["durable_lsn"].as_u64().unwrap();
    let st2 = wait_applied(&s2dir, d2, Duration::from_secs(30));
    assert_eq!(st2["timeline"], 2, "{st2}");
    let mut r2 = s2.client();
    let v: u32 = r2.get("b49").unwrap();
    assert_eq!(v, 49);
    // The old primary comes back and ships: both refuse it, naming the end of
    // timeline 1.
    let old = Primary::start(
        &pdir,
        &[
            "--ship-to",
            &s1.ship_addr,
            "--ship-to",
            &s2.ship_addr,
            "--auth-key-file",
            &key,
            "--ship-continuous",
        ],
    );
    let mut oc = old.client();
    let _: () = oc.set("split", "brain").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let st = status_json(&pdir);
        let results: Vec<String> = st["standbys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["last_ship_result"].as_str().unwrap_or("").to_string())
            .collect();
        if results.iter().all(|r| {
            r.contains("timeline 1 ended at LSN") && r.contains("this node is on timeline 2")
        }) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{results:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let v: Option<String> = n.get("split").unwrap();
    assert_eq!(v, None, "the old primary's write reached the new one");
    let v: Option<String> = r2.get("split").unwrap();
    assert_eq!(
        v, None,
        "the old primary's write reached the second standby"
    );
}

/// A TCP proxy to `target` that forwards at most `budget` bytes upstream in
/// all (then swallows the rest, holding the connections open) and everything
/// downstream. Returns its address.
fn budget_proxy(target: String, budget: usize) -> String {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let left = Arc::new(AtomicUsize::new(budget));
    std::thread::spawn(move || {
        for client in l.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(&target) else {
                continue;
            };
            let (mut c_r, mut s_w) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_r, mut c_w) = (server, client);
            let left = left.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 << 10];
                while let Ok(n) = c_r.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    let pass = left
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                            Some(l.saturating_sub(n))
                        })
                        .unwrap()
                        .min(n);
                    if pass > 0 && s_w.write_all(&buf[..pass]).is_err() {
                        return;
                    }
                }
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_r, &mut c_w);
            });
        }
    });
    addr
}

#[test]
fn behind_is_refused_with_the_loss_stated_then_forced() {
    let root = tempfile::tempdir().unwrap();
    let key = key_file(root.path()).display().to_string();
    let (pdir, sdir) = (root.path().join("p"), root.path().join("s"));
    init(&pdir, "8MiB");
    let s = Standby::start(&sdir, Path::new(&key));
    // The link carries the first MiB-chunk of the backlog and then nothing: the
    // standby learns the primary's durable LSN from that chunk but never
    // receives the rest.
    let link = budget_proxy(s.ship_addr.clone(), 1_500_000);
    let mut p = Primary::start(
        &pdir,
        &[
            "--ship-to",
            &link,
            "--auth-key-file",
            &key,
            "--ship-every",
            "1h",
            "--compress",
            "none",
        ],
    );
    // The schedule's first run starts with the primary: let it end (with
    // nothing to ship) before the backlog is written, or it would ship part
    // of it and spend the link's budget.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while status_json(&pdir)["standbys"][0]["shipments_total"]
        .as_u64()
        .unwrap_or(0)
        == 0
    {
        assert!(std::time::Instant::now() < deadline, "no first shipment");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = p.client();
    let value = "v".repeat(1000);
    let mut pipe = redis::pipe();
    for i in 0..3000u32 {
        pipe.set(format!("big{i}"), &value).ignore();
    }
    pipe.query::<()>(&mut c).unwrap();
    let durable = durable_of(&p);
    // One shipment of the whole backlog, now: its first chunk says how far the
    // primary is.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(logship::admin::request(
        &pdir,
        serde_json::json!({"cmd": "ship_now"}),
        Duration::from_secs(5),
    ))
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let st = status_json(&sdir);
        let (rec, pd) = (
            st["received_lsn"].as_u64().unwrap_or(0),
            st["primary_durable_lsn"].as_u64().unwrap_or(0),
        );
        if rec > 0 && pd >= durable && st["applied_lsn"] == st["received_lsn"] {
            assert!(rec < durable, "the proxy let everything through: {st}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{st}");
        std::thread::sleep(Duration::from_millis(50));
    }
    p.kill();
    let out = promote(&s.dir, &["--json"]);
    let j = json_of(&out);
    assert_eq!(out.status.code(), Some(2), "{j}");
    assert_eq!(j["promoted"], false);
    let loss = j["loss_bytes"].as_u64().unwrap();
    assert_eq!(loss, durable - j["received_lsn"].as_u64().unwrap(), "{j}");
    assert!(loss > 1_000_000, "{j}");
    assert!(
        j["reasons"][0].as_str().unwrap().contains("would be lost"),
        "{j}"
    );
    // Refused means untouched: still a standby, still receiving.
    assert_eq!(status_json(&s.dir)["role"], "standby");
    let dry = promote(&s.dir, &["--dry-run"]);
    assert_eq!(dry.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&dry.stdout).contains("ready to promote: no"));
    let out = promote(&s.dir, &["--force", "--json"]);
    let j = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{j}");
    assert_eq!(j["promoted"], true);
    assert_eq!(j["loss_bytes"].as_u64().unwrap(), loss);
    let mut n = s.client();
    let _: () = n.set("after", "force").unwrap();
}

#[test]
fn a_partitioned_primary_is_not_promoted_over() {
    let root = tempfile::tempdir().unwrap();
    let (p, s, key) = pair(root.path(), 20, &[]);
    wait_applied(&s.dir, durable_of(&p), Duration::from_secs(30));
    // The primary is alive but every byte to it is lost.
    let blackhole = budget_proxy(p.addr.clone(), 0);
    let out = promote(
        &s.dir,
        &[
            "--primary",
            &blackhole,
            "--auth-key-file",
            &key,
            "--wait",
            "2s",
        ],
    );
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not promoted"));
    // One writable primary: the old one still takes writes, the standby none.
    let mut c = p.client();
    let _: () = c.set("still", "primary").unwrap();
    let e = s.client().set::<_, _, ()>("x", 1).unwrap_err();
    assert!(e.to_string().contains("read only standby"), "{e}");
    assert_eq!(status_json(&s.dir)["role"], "standby");
}

#[test]
fn promotion_applies_what_the_apply_delay_held_back() {
    let root = tempfile::tempdir().unwrap();
    let key = key_file(root.path()).display().to_string();
    let (pdir, sdir) = (root.path().join("p"), root.path().join("s"));
    init(&pdir, "1MiB");
    let s = Standby::start_with(&sdir, &["--auth-key-file", &key, "--apply-delay", "1h"]);
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
    for i in 0..100u32 {
        let _: () = c.set(format!("d{i}"), i).unwrap();
    }
    let durable = durable_of(&p);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while status_json(&sdir)["received_lsn"].as_u64().unwrap_or(0) < durable {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let v: Option<u32> = s.client().get("d99").unwrap();
    assert_eq!(v, None, "held back by the apply delay");
    p.kill();
    let out = promote(&sdir, &["--json"]);
    let j = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{j}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("whatever --apply-delay says"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: u32 = s.client().get("d99").unwrap();
    assert_eq!(v, 99);
}

/// The names in a data directory's `wal/`.
fn wal_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("wal"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_new_timelines_first_segment_is_prepared_ahead_and_a_crash_after_loses_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (mut p, mut s, _) = pair(root.path(), 100, &[]);
    wait_applied(&s.dir, durable_of(&p), Duration::from_secs(30));
    // Once it knows the segment size, the standby keeps the new timeline's
    // first segment ready: allocated to full size, outside the log's names.
    let spare = s.dir.join("wal/promotion.spare");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&spare).map(|m| m.len()).ok() != Some(1 << 20) {
        assert!(
            std::time::Instant::now() < deadline,
            "no prepared segment: {:?}",
            wal_names(&s.dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    p.kill();
    let out = promote(&s.dir, &["--json"]);
    let j = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{j}");
    // The prepared file became the first segment of timeline 2.
    assert!(!spare.exists(), "{:?}", wal_names(&s.dir));
    let first = s.dir.join(format!(
        "wal/00000002-{:016x}.wal",
        j["promotion_lsn"].as_u64().unwrap()
    ));
    assert_eq!(
        std::fs::metadata(&first).map(|m| m.len()).ok(),
        Some(1 << 20),
        "{:?}",
        wal_names(&s.dir)
    );
    let mut c = s.client();
    for i in 100..150 {
        let _: () = c.set(format!("k{i}"), format!("v{i}")).unwrap();
    }
    // A crash of the new primary: every write, before and after the
    // promotion, is there when it starts again, on timeline 2.
    s.kill();
    let p2 = Primary::start(&s.dir, &[]);
    let mut c = p2.client();
    for i in [0, 99, 100, 149] {
        let v: String = c.get(format!("k{i}")).unwrap();
        assert_eq!(v, format!("v{i}"));
    }
    assert_eq!(status_json(&p2.dir)["timeline"], 2);
}
