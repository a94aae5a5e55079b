//! The failover story of `logship demo`, with real processes on loopback: a
//! standby and a primary (this same binary), writes through RESP, shipping on
//! a short schedule, `status`, SIGKILL of the primary, `logship promote` with
//! the LSN check, verification on the new primary, and a report.

use super::demo_check::{ensure, failed};
use super::exit::Failure;
use crate::admin::request;
use crate::client::ClientError;
use crate::status::{render_text, NodeStatus};
use redis::Commands as _;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// SETs per round (one pipeline) and the size of each value.
const SETS_PER_ROUND: u64 = 500;
const VALUE_BYTES: usize = 64;
/// Longest wait for a node to start or answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A node process of the demo; killed if the demo stops early.
struct Node {
    child: Child,
    /// Its first stdout line ("logship ... listening on ...").
    line: String,
    log: PathBuf,
}

impl Node {
    fn start(what: &str, args: &[&str], log: PathBuf) -> Result<Node, Failure> {
        let exe = std::env::current_exe()
            .map_err(|e| failed(format!("finding the logship binary: {e}")))?;
        let err = std::fs::File::create(&log)
            .map_err(|e| failed(format!("creating {}: {e}", log.display())))?;
        let mut child = crate::config::hermetic(exe)
            .args(args)
            .env("LOGSHIP_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .map_err(|e| failed(format!("starting the {what}: {e}")))?;
        let out = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(out).lines();
            if let Some(Ok(l)) = lines.next() {
                let _ = tx.send(l);
            }
            for _ in lines {}
        });
        let mut node = Node {
            child,
            line: String::new(),
            log,
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(l) => node.line = l,
            Err(_) => {
                let _ = node.child.kill();
                let _ = node.child.wait();
                return Err(failed(format!(
                    "the {what} did not start: {}",
                    std::fs::read_to_string(&node.log)
                        .unwrap_or_default()
                        .trim()
                )));
            }
        }
        Ok(node)
    }

    /// The address after `marker` in its first line.
    fn addr(&self, marker: &str) -> Result<String, Failure> {
        self.line
            .split(marker)
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .map(|a| a.trim_end_matches(')').to_string())
            .ok_or_else(|| failed(format!("unexpected first line: {}", self.line)))
    }

    fn signal(&mut self, sig: i32) -> Result<(), Failure> {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, sig) };
        let deadline = Instant::now() + START_TIMEOUT;
        while self.child.try_wait().ok().flatten().is_none() {
            ensure(Instant::now() < deadline, || {
                format!("pid {} did not exit", self.child.id())
            })?;
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

struct Clock(Instant);

impl Clock {
    fn say(&self, step: &str, text: &str) {
        crate::say!(
            "[{:>5.1}s] {step:<9} {text}",
            self.0.elapsed().as_secs_f64()
        );
    }
}

fn status(rt: &tokio::runtime::Runtime, dir: &Path) -> Result<NodeStatus, Failure> {
    let v = rt
        .block_on(request(
            dir,
            serde_json::json!({"cmd": "status"}),
            Duration::from_secs(10),
        ))
        .map_err(|e| failed(format!("status of {}: {e}", dir.display())))?;
    serde_json::from_value(v).map_err(|e| failed(e.to_string()))
}

fn client(addr: &str) -> Result<redis::Connection, Failure> {
    let c = redis::Client::open(format!("redis://{addr}/")).map_err(said(addr, "connecting"))?;
    let con = c
        .get_connection_with_timeout(START_TIMEOUT)
        .map_err(said(addr, "connecting"))?;
    con.set_read_timeout(Some(START_TIMEOUT))
        .map_err(said(addr, "connecting"))?;
    Ok(con)
}

/// A client library error of a request to `addr` in our words, after `what`.
fn said(addr: &str, what: &str) -> impl Fn(redis::RedisError) -> Failure {
    let (addr, what) = (addr.to_string(), what.to_string());
    move |e| failed(format!("{what}: {}", ClientError::from_redis(&addr, &e)))
}

/// One round: `SETS_PER_ROUND` pipelined SETs and an INCR; returns the
/// primary's durable LSN after it (which covers the round: fsync always).
fn write_round(
    c: &mut redis::Connection,
    rt: &tokio::runtime::Runtime,
    pdir: &Path,
    r: u64,
) -> Result<u64, Failure> {
    let mut pipe = redis::pipe();
    for i in 0..SETS_PER_ROUND {
        pipe.set(format!("demo:{r}:{i}"), value(r, i)).ignore();
    }
    pipe.incr("demo:counter", 1).ignore();
    pipe.query::<()>(c)
        .map_err(said("the primary", &format!("round {r} of writes")))?;
    Ok(status(rt, pdir)?.durable_lsn.unwrap_or(0))
}

fn value(round: u64, i: u64) -> String {
    let mut v = format!("r{round}:i{i}:");
    while v.len() < VALUE_BYTES {
        v.push('x');
    }
    v
}

/// Tells the story in `root`.
///
/// # Errors
/// A [`Failure`] naming the first thing that did not hold.
pub fn story(root: &Path, rounds: u64, ship_every: Duration) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let clock = Clock(Instant::now());
    let (pdir, sdir) = (root.join("primary"), root.join("standby"));
    let key = root.join("ship.key");
    std::fs::write(&key, format!("{:032x}", rand::random::<u128>()))
        .map_err(|e| failed(e.to_string()))?;
    let key_s = key.display().to_string();
    let every = format!("{}ms", ship_every.as_millis().max(1));
    crate::say!("logship demo: a primary, a warm standby, a crash and a promotion, on loopback");
    crate::say!("  directory: {}", root.display());
    crate::say!();

    let control = crate::node::datadir::init(&crate::fs::StdFs, &pdir, 4 << 20)
        .map_err(|e| failed(format!("init: {e}")))?;
    clock.say(
        "init",
        &format!(
            "primary data directory, system id {:016x}",
            control.system_id
        ),
    );
    let pdir_s = pdir.display().to_string();
    let sdir_s = sdir.display().to_string();
    let standby = Node::start(
        "standby",
        &[
            "standby",
            "--data-dir",
            &sdir_s,
            "--listen",
            "127.0.0.1:0",
            "--ship-listen",
            "127.0.0.1:0",
            "--auth-key-file",
            &key_s,
            "--checkpoint-interval",
            "2s",
        ],
        root.join("standby.log"),
    )?;
    let (s_addr, s_ship) = (
        standby.addr("listening on ")?,
        standby.addr("shipments on ")?,
    );
    clock.say(
        "standby",
        &format!("read-only RESP on {s_addr}, receiving shipments on {s_ship}"),
    );
    let mut primary = Node::start(
        "primary",
        &[
            "primary",
            "--data-dir",
            &pdir_s,
            "--listen",
            "127.0.0.1:0",
            "--ship-to",
            &s_ship,
            "--ship-every",
            &every,
            "--auth-key-file",
            &key_s,
        ],
        root.join("primary.log"),
    )?;
    let p_addr = primary.addr("listening on ")?;
    clock.say(
        "primary",
        &format!(
            "RESP on {p_addr} (fsync always), shipping to {s_ship} every {every} (zstd, HMAC-authenticated)"
        ),
    );

    // Writes in rounds; after each, the primary's durable LSN covers the round.
    let mut c = client(&p_addr)?;
    let mut durable_after: Vec<u64> = Vec::new();
    let mut written_at: Vec<Instant> = Vec::new();
    let pause = ship_every / 8;
    // All rounds but the last now; the last one right before the crash.
    for r in 0..rounds - 1 {
        durable_after.push(write_round(&mut c, &rt, &pdir, r)?);
        written_at.push(Instant::now());
        std::thread::sleep(pause);
    }
    let writes = rounds * SETS_PER_ROUND;
    clock.say(
        "write",
        &format!(
            "{} SETs ({VALUE_BYTES}-byte values) and {} INCRs in {} pipelined rounds through RESP; all acknowledged",
            (rounds - 1) * SETS_PER_ROUND,
            rounds - 1,
            rounds - 1
        ),
    );
    // Let at least one shipment complete after the writes began.
    let deadline = Instant::now() + ship_every * 3 + START_TIMEOUT;
    let ps = loop {
        let ps = status(&rt, &pdir)?;
        let acked = ps
            .standbys
            .as_ref()
            .and_then(|v| v.first())
            .map_or(0, |s| s.acked_lsn);
        if acked >= durable_after[0] {
            break ps;
        }
        ensure(Instant::now() < deadline, || {
            format!("no shipment reached the standby: {:?}", ps.standbys)
        })?;
        std::thread::sleep(Duration::from_millis(20));
    };
    let now = crate::clock::now_unix_ms();
    crate::say!();
    for line in render_text(&ps, now).lines() {
        crate::say!("          | {line}");
    }
    let ss = status(&rt, &sdir)?;
    for line in render_text(&ss, now).lines() {
        crate::say!("          | {line}");
    }
    crate::say!();

    // One more round, acknowledged just before the crash: shipped or not,
    // depending on where the schedule stands (the RPO is bounded by it).
    durable_after.push(write_round(&mut c, &rt, &pdir, rounds - 1)?);
    written_at.push(Instant::now());
    clock.say(
        "write",
        &format!("{SETS_PER_ROUND} SETs and an INCR more, acknowledged; and at once:"),
    );
    // The crash.
    let sb = ps
        .standbys
        .as_ref()
        .and_then(|v| v.first())
        .cloned()
        .ok_or_else(|| failed("the primary reports no standby".into()))?;
    primary.signal(libc::SIGKILL)?;
    let killed = Instant::now();
    // What the last completed shipment covered may have grown since the status.
    let shipped_lsn = status(&rt, &sdir)?
        .received_lsn
        .unwrap_or(0)
        .max(sb.acked_lsn);
    let covered = durable_after.iter().filter(|d| **d <= shipped_lsn).count() as u64;
    clock.say(
        "kill -9",
        &format!(
            "primary (pid {}); the last completed shipment reached LSN {}: rounds 1-{covered} ({} writes) are in it",
            primary.child.id(),
            crate::wal::format_lsn(shipped_lsn),
            covered * (SETS_PER_ROUND + 1)
        ),
    );

    // Promotion, with the LSN check, by the real command.
    let exe = std::env::current_exe().map_err(|e| failed(e.to_string()))?;
    let out = crate::config::hermetic(exe)
        .args(["promote", "--data-dir", &sdir_s, "--json"])
        .env("LOGSHIP_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| failed(format!("running promote: {e}")))?;
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        crate::say!("          > {line}");
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        failed(format!(
            "promote printed no report ({e}); exit {:?}",
            out.status.code()
        ))
    })?;
    if !out.status.success() {
        return Err(failed(format!(
            "promote refused or failed (exit {:?}): {}",
            out.status.code(),
            report["reasons"]
        )));
    }
    let promoted_ms = killed.elapsed().as_millis();
    let mut n = client(&s_addr)?;
    let _: () = n
        .set("demo:after-failover", "written on the new primary")
        .map_err(said(&s_addr, "first write on the new primary"))?;
    let rto = killed.elapsed();
    clock.say(
        "promote",
        &format!(
            "standby promoted to timeline {} at LSN {}; it serves writes on {s_addr}",
            report["new_timeline"],
            crate::wal::format_lsn(report["promotion_lsn"].as_u64().unwrap_or(0))
        ),
    );

    // Every write in a completed shipment is there; count what else arrived.
    let mut present = 0u64;
    for r in 0..rounds {
        let keys: Vec<String> = (0..SETS_PER_ROUND)
            .map(|i| format!("demo:{r}:{i}"))
            .collect();
        let got: Vec<Option<String>> = n
            .mget(&keys)
            .map_err(said(&s_addr, &format!("reading round {r}")))?;
        for (i, g) in got.iter().enumerate() {
            let ok = g.as_deref() == Some(value(r, i as u64).as_str());
            if r < covered {
                ensure(ok, || {
                    format!("demo:{r}:{i} was acknowledged and shipped, but is {g:?} on the new primary")
                })?;
            }
            present += ok as u64;
        }
    }
    let counter: u64 = n
        .get::<_, Option<u64>>("demo:counter")
        .map_err(said(&s_addr, "reading demo:counter"))?
        .unwrap_or(0);
    ensure(counter >= covered, || {
        format!("demo:counter is {counter}, but {covered} increments were shipped")
    })?;
    let lost = writes - present;
    clock.say(
        "verify",
        &format!(
            "all {} writes of the completed shipments are on the new primary (counter {counter} >= {covered}); {present} of {writes} SETs in all",
            covered * SETS_PER_ROUND
        ),
    );
    let v: Option<String> = n
        .get("demo:after-failover")
        .map_err(said(&s_addr, "reading demo:after-failover"))?;
    ensure(v.is_some(), || {
        "the write on the new primary is not readable".into()
    })?;

    let known_loss = report["loss_bytes"].as_u64().unwrap_or(0);
    let lost_bytes = durable_after
        .last()
        .copied()
        .unwrap_or(0)
        .saturating_sub(shipped_lsn);
    let lost_window = match (written_at.get(covered as usize), written_at.last()) {
        (Some(first), Some(last)) if covered < rounds => {
            last.duration_since(*first).as_secs_f64() + pause.as_secs_f64()
        }
        _ => 0.0,
    };
    let ratio = sb.shipped_bytes_total as f64 / sb.shipped_wire_bytes_total.max(1) as f64;
    crate::say!();
    crate::say!("report");
    crate::say!(
        "  RPO  {lost} SETs lost: {lost_bytes} bytes of log, the last {lost_window:.1} s of writes, made after the last completed shipment (the bound is the ship interval, {every}); promote's check saw {known_loss} bytes missing from what the primary had reported"
    );
    crate::say!(
        "  RTO  {} ms from kill -9 to the first write on the new primary (promote: {} ms, {promoted_ms} ms until it returned)",
        rto.as_millis(),
        report["took_ms"]
    );
    crate::say!(
        "  shipped  {} records, {} bytes of log in {} shipments; {} bytes on the wire (zstd: {ratio:.1}x)",
        sb.shipped_records_total,
        sb.shipped_bytes_total,
        sb.shipments_total,
        sb.shipped_wire_bytes_total
    );
    drop(n);
    // The new primary stops cleanly.
    let mut standby = standby;
    standby.signal(libc::SIGTERM)?;
    let code = standby.child.wait().ok().and_then(|s| s.code());
    ensure(code == Some(0), || {
        format!(
            "the promoted node did not stop cleanly (exit {code:?}): {}",
            std::fs::read_to_string(&standby.log).unwrap_or_default()
        )
    })?;
    crate::say!();
    crate::say!(
        "OK: every write acknowledged before the last completed shipment survived the failover"
    );
    Ok(())
}
