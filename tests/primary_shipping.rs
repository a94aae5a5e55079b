//! The real `logship primary` shipping to an in-process receiver: on a schedule
//! and continuously, `WAIT`, the admin socket's status, `logship ship --once`
//! from a stopped primary, and the retained-WAL limit with a dead standby.

mod common;

use common::{init, key_file, logship, Primary, KEY};
use logship::fs::StdFs;
use logship::ship::protocol::seed::{SeedSink, SeedWriter};
use logship::ship::receive::accept::serve;
use logship::ship::{AuthKey, ReceiverShared};
use logship::wal::{scan_dir, Mirror};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Stores a received snapshot as a file (enough to see seeding happen).
struct FileSink(PathBuf);
struct FileWriter(std::fs::File);

impl SeedSink for FileSink {
    fn begin(&self, lsn: u64, _: u64, _: u64, _: u32) -> std::io::Result<Box<dyn SeedWriter>> {
        std::fs::create_dir_all(&self.0)?;
        let f = std::fs::File::create(self.0.join(format!("seed-{lsn}")))?;
        Ok(Box::new(FileWriter(f)))
    }
}

impl SeedWriter for FileWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.0.write_all(data)
    }
    fn finish(self: Box<Self>) -> std::io::Result<()> {
        self.0.sync_all()
    }
}

/// A receiver with a mirror in `dir`, on `listener`.
fn receiver(dir: &Path, listener: TcpListener) -> Arc<ReceiverShared> {
    let (m, _) = Mirror::open(StdFs::shared(), dir.join("wal")).unwrap();
    let (applied_tx, applied_rx) = watch::channel(0u64);
    std::mem::forget(applied_tx);
    let shared = ReceiverShared::new(
        m,
        applied_rx,
        Some(AuthKey::from_bytes(KEY.as_bytes())),
        Some(Arc::new(FileSink(dir.join("seeds")))),
    );
    tokio::spawn(serve(listener, shared.clone()));
    shared
}

async fn bound() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap().to_string();
    (l, a)
}

/// An address nothing listens on (bound, then released).
async fn dead_address() -> String {
    bound().await.1
}

async fn status(dir: &Path) -> Value {
    logship::admin::request(dir, json!({"cmd": "status"}), Duration::from_secs(10))
        .await
        .unwrap()
}

/// Runs blocking client work off the runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn write_keys(p: &Primary, n: usize, value_bytes: usize) {
    let mut c = p.client();
    let v = "x".repeat(value_bytes);
    for i in 0..n {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(&v)
            .query(&mut c)
            .unwrap();
    }
}

/// Waits (bounded) until the receiver holds everything the primary reports durable.
async fn caught_up(p_dir: &Path, r: &ReceiverShared, within: Duration) -> (Value, u64) {
    let deadline = Instant::now() + within;
    loop {
        let st = status(p_dir).await;
        let durable = st["durable_lsn"].as_u64().unwrap();
        let got = r.received.borrow().received_lsn;
        if got == durable && durable > 0 {
            return (status(p_dir).await, durable);
        }
        assert!(
            Instant::now() < deadline,
            "receiver at {got}, primary durable at {durable}: {st}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start(dir: &Path, flags: &[&str]) -> Primary {
    Primary::start(dir, flags)
}

async fn shipping_keeps_up(schedule: &[&str]) {
    let t = tempfile::tempdir().unwrap();
    let pd = t.path().join("p");
    init(&pd, "64KiB");
    let (l, addr) = bound().await;
    let r = receiver(&t.path().join("s"), l);
    let key = key_file(t.path()).display().to_string();
    let mut flags = vec!["--ship-to", &addr, "--auth-key-file", &key];
    flags.extend_from_slice(schedule);
    let p = Arc::new(start(&pd, &flags));
    let p2 = p.clone();
    blocking(move || write_keys(&p2, 2000, 100)).await;
    let (st, durable) = caught_up(&pd, &r, Duration::from_secs(30)).await;
    assert!(durable > 200_000, "several segments were written: {st}");
    assert_eq!(st["role"], "primary");
    assert_eq!(st["system_id"].as_str().unwrap().len(), 16);
    assert_eq!(st["timeline"], 1);
    let want_schedule = if schedule.contains(&"--ship-continuous") {
        "continuous"
    } else {
        "every 200ms"
    };
    assert_eq!(st["ship_schedule"], want_schedule, "{st}");
    let sb = &st["standbys"][0];
    assert_eq!(sb["address"], addr.as_str());
    assert_eq!(sb["acked_lsn"].as_u64(), Some(durable), "{st}");
    assert_eq!(sb["lag_bytes"], 0, "{st}");
    assert_eq!(sb["needs_reseed"], false, "{st}");
    assert_eq!(r.received.borrow().system_id, {
        u64::from_str_radix(st["system_id"].as_str().unwrap(), 16).unwrap()
    });
    // Later writes follow on the same schedule.
    let p2 = p.clone();
    blocking(move || write_keys(&p2, 10, 10)).await;
    let (_, durable2) = caught_up(&pd, &r, Duration::from_secs(10)).await;
    assert!(durable2 > durable);
    let p2 = p.clone();
    let info: String = blocking(move || {
        redis::cmd("INFO")
            .arg("replication")
            .query(&mut p2.client())
            .unwrap()
    })
    .await;
    assert!(info.contains("connected_slaves:1"), "{info}");
    assert!(
        info.contains(&format!("standby0:address={addr},state=online")),
        "{info}"
    );
    let mut p = Arc::try_unwrap(p).unwrap_or_else(|_| panic!("primary still shared"));
    p.stop();
    assert!(
        !pd.join("logship.sock").exists(),
        "a clean shutdown removes the admin socket"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipping_every_200ms_reaches_the_durable_lsn() {
    shipping_keeps_up(&["--ship-every", "200ms"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_shipping_reaches_the_durable_lsn() {
    shipping_keeps_up(&["--ship-continuous"]).await;
}

fn wait_cmd(p: &Primary, timeout_ms: u64) -> (i64, Duration) {
    wait_for(p, 1, timeout_ms)
}

fn wait_for(p: &Primary, numstandbys: u64, timeout_ms: u64) -> (i64, Duration) {
    let mut c = p.client();
    let _: () = redis::cmd("SET").arg("w").arg("1").query(&mut c).unwrap();
    let t0 = Instant::now();
    let n: i64 = redis::cmd("WAIT")
        .arg(numstandbys)
        .arg(timeout_ms)
        .query(&mut c)
        .unwrap();
    (n, t0.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_counts_the_standbys_that_have_the_write() {
    let t = tempfile::tempdir().unwrap();
    let key = key_file(t.path()).display().to_string();

    // A standby that is up: WAIT returns 1 as soon as it acknowledged.
    let (l, addr) = bound().await;
    let _r = receiver(&t.path().join("s"), l);
    let up = t.path().join("up");
    init(&up, "64KiB");
    let p = start(
        &up,
        &[
            "--ship-to",
            &addr,
            "--auth-key-file",
            &key,
            "--ship-every",
            "200ms",
        ],
    );
    let (n, took, more) = blocking(move || {
        let (n, took) = wait_cmd(&p, 10_000);
        // More standbys than there are: the one that has it, after the timeout.
        let more = wait_for(&p, 2, 400);
        drop(p);
        (n, took, more)
    })
    .await;
    assert_eq!(n, 1);
    assert!(took < Duration::from_secs(5), "WAIT took {took:?}");
    assert_eq!(more.0, 1);
    assert!(
        more.1 >= Duration::from_millis(400),
        "WAIT 2 400 with one standby returned after {:?}",
        more.1
    );

    // A standby that is down: 0 after the timeout.
    let dead = dead_address().await;
    let down = t.path().join("down");
    init(&down, "64KiB");
    let p = start(
        &down,
        &[
            "--ship-to",
            &dead,
            "--auth-key-file",
            &key,
            "--ship-continuous",
        ],
    );
    let (n, took) = blocking(move || wait_cmd(&p, 400)).await;
    assert_eq!(n, 0);
    assert!(
        took >= Duration::from_millis(400),
        "WAIT returned after {took:?}"
    );

    // Without standbys: 0 at once.
    let none = t.path().join("none");
    init(&none, "64KiB");
    let p = start(&none, &[]);
    let (n, took) = blocking(move || wait_cmd(&p, 0)).await;
    assert_eq!(n, 0);
    assert!(
        took < Duration::from_secs(2),
        "WAIT 1 0 without standbys took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ship_once_from_a_stopped_primary() {
    let t = tempfile::tempdir().unwrap();
    let pd = t.path().join("p");
    init(&pd, "64KiB");
    let mut p = start(&pd, &[]);
    let p = blocking(move || {
        write_keys(&p, 1500, 100);
        p.stop();
        p
    })
    .await;
    drop(p);
    let scan = scan_dir(&StdFs, &pd.join("wal")).unwrap();
    let (first, end) = (scan.first_lsn.unwrap(), scan.end_lsn);
    // The shutdown checkpoint removed the WAL below its snapshot: the empty
    // standby is seeded with the snapshot, then gets the WAL after it.
    assert!(first > 0);
    let before = std::fs::read_dir(pd.join("wal")).unwrap().count();
    let (l, addr) = bound().await;
    let r = receiver(&t.path().join("s"), l);
    let key = key_file(t.path()).display().to_string();
    let args = |once: bool| {
        let mut v = vec![
            "ship".to_string(),
            "--data-dir".into(),
            pd.display().to_string(),
            "--to".into(),
            addr.clone(),
            "--auth-key-file".into(),
            key.clone(),
        ];
        if once {
            v.push("--once".into());
        }
        v
    };
    let a = args(true);
    let out = blocking(move || logship(&a.iter().map(String::as_str).collect::<Vec<_>>())).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(
        out.stdout.contains(&format!("({first} .. {end})")),
        "from/to LSN printed: {out:#?}"
    );
    assert!(out.stdout.contains("seeded with the snapshot"), "{out:#?}");
    assert!(out.stdout.contains("records"), "{out:#?}");
    assert_eq!(
        std::fs::read_dir(t.path().join("s").join("seeds"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(r.received.borrow().received_lsn, end);
    // Read-only: the primary's directory is as it was.
    assert_eq!(std::fs::read_dir(pd.join("wal")).unwrap().count(), before);
    // A second run finds nothing new.
    let a = args(true);
    let out = blocking(move || logship(&a.iter().map(String::as_str).collect::<Vec<_>>())).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(
        out.stdout.contains(&format!("({end} .. {end})")),
        "{out:#?}"
    );
    assert!(out.stdout.contains(": 0 records, 0 bytes"), "{out:#?}");
    // Without a control file the identity comes from the WAL's segment headers.
    std::fs::remove_file(pd.join("control")).unwrap();
    let a = args(true);
    let out = blocking(move || logship(&a.iter().map(String::as_str).collect::<Vec<_>>())).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(
        out.stdout.contains(&format!("({end} .. {end})")),
        "{out:#?}"
    );

    // Mistakes: one line, non-zero.
    let dead = dead_address().await;
    let d = pd.display().to_string();
    let k = key.clone();
    let out = blocking(move || {
        logship(&[
            "ship",
            "--data-dir",
            &d,
            "--to",
            &dead,
            "--auth-key-file",
            &k,
            "--once",
        ])
    })
    .await;
    let line = out.assert_one_line_error(1);
    assert!(line.contains("cannot connect"), "{line}");
    let d = pd.display().to_string();
    let a2 = addr.clone();
    let out = blocking(move || logship(&["ship", "--data-dir", &d, "--to", &a2, "--once"])).await;
    let line = out.assert_one_line_error(1);
    assert!(line.contains("--auth-key-file"), "{line}");
    let missing = t.path().join("nope").display().to_string();
    let out = blocking(move || {
        logship(&[
            "ship",
            "--data-dir",
            &missing,
            "--to",
            &addr,
            "--insecure-no-auth",
            "--once",
        ])
    })
    .await;
    let line = out.assert_one_line_error(1);
    assert!(line.contains("does not exist"), "{line}");
}

#[test]
fn shipping_flags_are_checked() {
    let t = tempfile::tempdir().unwrap();
    let pd = t.path().join("p");
    init(&pd, "64KiB");
    let d = pd.display().to_string();
    let cases: [(&[&str], &str); 6] = [
        (
            &["--ship-to", "127.0.0.1:9", "--insecure-no-auth"],
            "needs a schedule",
        ),
        (
            &["--ship-to", "127.0.0.1:9", "--ship-continuous"],
            "--auth-key-file",
        ),
        (&["--ship-every", "1s"], "need --ship-to"),
        (
            &[
                "--ship-to",
                "127.0.0.1:9",
                "--insecure-no-auth",
                "--ship-cron",
                "every day",
            ],
            "cron expression",
        ),
        (
            &[
                "--ship-to",
                "127.0.0.1:9",
                "--insecure-no-auth",
                "--ship-cron",
                "0 0 31 2 *",
            ],
            "never fires",
        ),
        (
            &[
                "--ship-to",
                "127.0.0.1:9",
                "--insecure-no-auth",
                "--ship-every",
                "1s",
                "--ship-continuous",
            ],
            "cannot be used with",
        ),
    ];
    for (extra, want) in cases {
        let mut a = vec!["primary", "--data-dir", &d, "--listen", "127.0.0.1:0"];
        a.extend_from_slice(extra);
        let out = logship(&a);
        let line = out.assert_one_line_error(78);
        assert!(line.contains(want), "{extra:?}: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_retained_wal_limit_a_dead_standby_is_flagged_for_reseeding() {
    let t = tempfile::tempdir().unwrap();
    let pd = t.path().join("p");
    init(&pd, "64KiB");
    let (l, addr) = bound().await;
    drop(l);
    let key = key_file(t.path()).display().to_string();
    let ship: [&str; 6] = [
        "--ship-to",
        &addr,
        "--auth-key-file",
        &key,
        "--ship-every",
        "300ms",
    ];
    let p = start(&pd, &[&ship[..], &common::SMALL_RETENTION].concat());
    let p = Arc::new(p);
    let p2 = p.clone();
    blocking(move || write_keys(&p2, 1000, 1000)).await;
    // The checkpoint thread looks once a second; wait for the checkpoint that
    // covers every write.
    let deadline = Instant::now() + Duration::from_secs(30);
    let st = loop {
        let st = status(&pd).await;
        let p2 = p.clone();
        let info: String = blocking(move || {
            redis::cmd("INFO")
                .arg("persistence")
                .query(&mut p2.client())
                .unwrap()
        })
        .await;
        let ck = format!("last_checkpoint_lsn:{}\r", st["durable_lsn"]);
        if st["standbys"][0]["needs_reseed"] == true && info.contains(&ck) {
            break st;
        }
        assert!(Instant::now() < deadline, "never flagged: {st}\n{info}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let sb = &st["standbys"][0];
    assert_eq!(sb["acked_lsn"], 0, "{st}");
    assert!(
        sb["reseed_reason"].as_str().unwrap().contains("removed"),
        "{st}"
    );
    let durable = st["durable_lsn"].as_u64().unwrap();
    let scan = scan_dir(&StdFs, &pd.join("wal")).unwrap();
    let oldest = scan.first_lsn.unwrap();
    assert!(oldest > 0, "the first segments were removed");
    assert!(
        durable - oldest <= (256 << 10) + (64 << 10),
        "at most the limit (plus the segment holding its edge) is kept: {oldest}..{durable}"
    );

    // The standby comes up on its address: it is seeded from the snapshot and
    // the flag clears.
    let l = TcpListener::bind(&addr).await.unwrap();
    let sd = t.path().join("s");
    let r = receiver(&sd, l);
    let (st, _) = caught_up(&pd, &r, Duration::from_secs(30)).await;
    let sb = &st["standbys"][0];
    assert_eq!(sb["needs_reseed"], false, "{st}");
    assert!(sb["seeded_total"].as_u64().unwrap() >= 1, "{st}");
    assert_eq!(std::fs::read_dir(sd.join("seeds")).unwrap().count(), 1);

    let mut p = Arc::try_unwrap(p).unwrap_or_else(|_| panic!("primary still shared"));
    let log = p.stop();
    assert!(
        log.contains("ERROR") && log.contains("removed WAL standby"),
        "the removal is logged as an error: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ship_from_a_running_primary_follows_its_durable_lsn() {
    let t = tempfile::tempdir().unwrap();
    let pd = t.path().join("p");
    init(&pd, "64KiB");
    let p = Arc::new(start(&pd, &[]));
    let p2 = p.clone();
    blocking(move || write_keys(&p2, 500, 100)).await;
    let durable = status(&pd).await["durable_lsn"].as_u64().unwrap();
    let (l, addr) = bound().await;
    let r = receiver(&t.path().join("s"), l);
    let key = key_file(t.path()).display().to_string();
    let d = pd.display().to_string();
    let (a, k) = (addr.clone(), key.clone());
    let out = blocking(move || {
        logship(&[
            "ship",
            "--data-dir",
            &d,
            "--to",
            &a,
            "--auth-key-file",
            &k,
            "--once",
        ])
    })
    .await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(
        out.stdout.contains(&format!("(0 .. {durable})")),
        "{out:#?}"
    );
    assert_eq!(r.received.borrow().received_lsn, durable);

    // Continuous: follows new writes until interrupted.
    let mut child = logship::config::hermetic(common::BIN)
        .args(["ship", "--data-dir"])
        .arg(&pd)
        .args(["--to", &addr, "--auth-key-file", &key])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let p2 = p.clone();
    blocking(move || write_keys(&p2, 300, 50)).await;
    let (_, durable2) = caught_up(&pd, &r, Duration::from_secs(20)).await;
    assert!(durable2 > durable);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    let st = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "logship ship did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(st.success(), "{st:?}");
    let mut so = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut so).unwrap();
    assert!(so.contains(&format!("({durable2})")), "{so}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ship_now_and_a_clean_shutdown_ship_outside_the_schedule() {
    let t = tempfile::tempdir().unwrap();
    let pd = t.path().join("p");
    init(&pd, "64KiB");
    let (l, addr) = bound().await;
    let r = receiver(&t.path().join("s"), l);
    let key = key_file(t.path()).display().to_string();
    // An hourly schedule: only the first shipment (at start) and the final one run.
    let p = start(
        &pd,
        &[
            "--ship-to",
            &addr,
            "--auth-key-file",
            &key,
            "--ship-every",
            "1h",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(&pd).await["standbys"][0]["last_ship_result"] != "ok" {
        assert!(
            Instant::now() < deadline,
            "the first shipment did not happen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let p = blocking(move || {
        write_keys(&p, 300, 100);
        p
    })
    .await;
    // ship_now on the admin socket ships at once, whatever the schedule.
    let durable = status(&pd).await["durable_lsn"].as_u64().unwrap();
    assert!(r.received.borrow().received_lsn < durable);
    logship::admin::request(&pd, json!({"cmd": "ship_now"}), Duration::from_secs(5))
        .await
        .unwrap();
    caught_up(&pd, &r, Duration::from_secs(10)).await;
    // The writes after it reach the standby with the final shipment at shutdown.
    let p = blocking(move || {
        write_keys(&p, 300, 100);
        p
    })
    .await;
    let durable = status(&pd).await["durable_lsn"].as_u64().unwrap();
    assert!(r.received.borrow().received_lsn < durable);
    let mut p = p;
    blocking(move || p.stop()).await;
    assert_eq!(r.received.borrow().received_lsn, durable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuous_link_counts_as_up_only_once_the_standby_answers() {
    let t = tempfile::tempdir().unwrap();
    let pd = t.path().join("p");
    init(&pd, "64KiB");
    // Something that accepts connections and never speaks: each attempt
    // waits for a greeting that does not come.
    let (l, addr) = bound().await;
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let key = key_file(t.path()).display().to_string();
    let p = start(
        &pd,
        &[
            "--ship-to",
            &addr,
            "--auth-key-file",
            &key,
            "--ship-continuous",
        ],
    );
    // Well inside the first attempt's wait for a greeting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sb = status(&pd).await["standbys"][0].clone();
    assert_eq!(sb["connected"], false, "{sb}");
    assert_eq!(sb["last_ship_result"], "never", "{sb}");
    let resp = p.addr.clone();
    let info: String = blocking(move || {
        redis::cmd("INFO")
            .arg("replication")
            .query(&mut common::redis_client(&resp))
            .unwrap()
    })
    .await;
    assert!(info.contains("connected_slaves:0"), "{info}");
    assert!(info.contains("state=waiting"), "{info}");
    // Then the attempt fails, by its reason.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sb = status(&pd).await["standbys"][0].clone();
        if sb["last_error_reason"] == "timeout" {
            assert_eq!(sb["connected"], false, "{sb}");
            let r = sb["last_ship_result"].as_str().unwrap();
            assert!(r.contains("--ship-listen"), "{sb}");
            break;
        }
        assert!(Instant::now() < deadline, "no timeout reported: {sb}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    silent.abort();
    drop(p);
}
