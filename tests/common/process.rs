//! Nodes the tests start and talk to: `logship init`, a running
//! `logship primary` or `logship standby` on 127.0.0.1:0, their RESP and HTTP
//! clients, their status, and the ship key they share.

use super::BIN;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The ship key nodes share unless a test is about keys (the binary wants at
/// least 16 bytes).
pub const KEY: &str = "logship-test-shared-ship-key-0123456789";

/// Writes [`KEY`] to `dir/ship.key`; returns its path (for `--auth-key-file`).
pub fn key_file(dir: &Path) -> PathBuf {
    key_file_at(&dir.join("ship.key"), KEY)
}

/// Writes `key` to the file `path` (a wrong, short or newline-ended key);
/// returns the path.
pub fn key_file_at(path: &Path, key: &str) -> PathBuf {
    std::fs::write(path, key).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path.to_path_buf()
}

/// Runs `logship init` on `dir` with small segments.
pub fn init(dir: &Path, segment_bytes: &str) {
    let out = logship::config::hermetic(BIN)
        .args(["init", "--data-dir"])
        .arg(dir)
        .args(["--segment-bytes", segment_bytes])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running `logship primary`.
pub struct Primary {
    pub child: Option<Child>,
    pub addr: String,
    pub dir: PathBuf,
    pub stderr: Option<std::thread::JoinHandle<String>>,
}

impl Primary {
    /// Starts a primary on `dir` with extra flags and waits for its address.
    pub fn start(dir: &Path, extra: &[&str]) -> Primary {
        Primary::start_env(dir, extra, &[])
    }

    /// [`start`](Self::start) with extra environment variables.
    pub fn start_env(dir: &Path, extra: &[&str], env: &[(&str, String)]) -> Primary {
        let mut cmd = logship::config::hermetic(BIN);
        cmd.args(["primary", "--data-dir"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let (child, line, err_thread) = spawn_until_first_line(cmd, "primary");
        let addr = listening_addr(&line);
        Primary {
            child: Some(child),
            addr,
            dir: dir.to_path_buf(),
            stderr: Some(err_thread),
        }
    }

    /// Starts a primary on `dir` shipping to `ship_addr` without
    /// authentication, with `extra` flags (a schedule at least).
    pub fn start_shipping(dir: &Path, ship_addr: &str, extra: &[&str]) -> Primary {
        let mut args = vec!["--ship-to", ship_addr, "--insecure-no-auth"];
        args.extend_from_slice(extra);
        Primary::start(dir, &args)
    }

    /// A new synchronous client connection.
    pub fn client(&self) -> redis::Connection {
        redis_client(&self.addr)
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// Sends a signal and waits (bounded) for the process to exit.
    pub fn signal_and_wait(&mut self, sig: i32) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(child.id() as i32, sig) };
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "primary did not exit");
            std::thread::sleep(Duration::from_millis(10));
        };
        let log = self.stderr.take().unwrap().join().unwrap();
        (status, log)
    }

    /// SIGTERM: clean shutdown, must exit 0.
    pub fn stop(&mut self) -> String {
        let (status, log) = self.signal_and_wait(libc::SIGTERM);
        assert!(status.success(), "clean shutdown failed: {status:?}\n{log}");
        log
    }

    /// kill -9.
    pub fn kill(&mut self) -> String {
        self.signal_and_wait(libc::SIGKILL).1
    }
}

impl Drop for Primary {
    fn drop(&mut self) {
        kill_child(&mut self.child, &mut None);
    }
}

/// A running `logship standby`.
pub struct Standby {
    pub child: Option<Child>,
    /// Where it serves read-only RESP.
    pub addr: String,
    /// Where primaries ship to.
    pub ship_addr: String,
    pub dir: PathBuf,
    pub stderr: Option<std::thread::JoinHandle<String>>,
}

impl Standby {
    /// Starts a standby on `dir` authenticating with `key_file`, checkpointing
    /// every second.
    pub fn start(dir: &Path, key_file: &Path) -> Standby {
        let key = key_file.to_str().expect("utf-8 path");
        Standby::start_with(
            dir,
            &["--auth-key-file", key, "--checkpoint-interval", "1s"],
        )
    }

    /// Starts a standby on `dir` with `extra` flags, both addresses on
    /// 127.0.0.1:0, and waits for the line naming them.
    pub fn start_with(dir: &Path, extra: &[&str]) -> Standby {
        Standby::start_on(dir, "127.0.0.1:0", extra)
    }

    /// Starts a standby receiving shipments on `ship_listen` (to come back on
    /// the address primaries were given).
    pub fn start_on(dir: &Path, ship_listen: &str, extra: &[&str]) -> Standby {
        let mut cmd = logship::config::hermetic(BIN);
        cmd.args(["standby", "--data-dir"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0", "--ship-listen", ship_listen])
            .args(extra);
        let (child, line, err_thread) = spawn_until_first_line(cmd, "standby");
        // "logship standby listening on A (shipments on B)"
        let addr = listening_addr(&line);
        let ship_addr = line
            .split("shipments on ")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .trim()
            .trim_end_matches(')')
            .to_string();
        Standby {
            child: Some(child),
            addr,
            ship_addr,
            dir: dir.to_path_buf(),
            stderr: Some(err_thread),
        }
    }

    /// Starts a standby again on `dir` receiving on `ship_addr` (a port it
    /// held before, so primaries find it where they were told), retrying
    /// (bounded) while the port is still taken.
    pub fn restart_on(dir: &Path, ship_addr: &str, extra: &[&str]) -> Standby {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // The port was just freed; another process may hold it for a moment.
            let probe = std::net::TcpListener::bind(ship_addr);
            if probe.is_ok() {
                drop(probe);
                return Standby::start_on(dir, ship_addr, extra);
            }
            assert!(Instant::now() < deadline, "{ship_addr} stays busy");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts a standby on `dir` that follows the archive at `url`
    /// (`--restore-from`, polling every 200 ms), with `extra` flags and `env`.
    pub fn follow(dir: &Path, url: &str, extra: &[&str], env: &[(&str, String)]) -> Standby {
        let mut cmd = logship::config::hermetic(BIN);
        cmd.args(["standby", "--data-dir"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0", "--restore-from", url])
            .args(["--restore-every", "200ms", "--checkpoint-interval", "1s"])
            .args(extra)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
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

    /// A new synchronous client connection.
    pub fn client(&self) -> redis::Connection {
        redis_client(&self.addr)
    }

    /// kill -9; returns what it logged.
    pub fn kill(&mut self) -> String {
        kill_child(&mut self.child, &mut self.stderr)
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        kill_child(&mut self.child, &mut None);
    }
}

/// `logship status --json --data-dir DIR` of a running or stopped node.
pub fn status_json(dir: &Path) -> serde_json::Value {
    let out = logship::config::hermetic(BIN)
        .args(["status", "--json", "--data-dir"])
        .arg(dir)
        .output()
        .expect("run logship status");
    assert!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

/// The durable LSN the primary on `dir` reports (asserting it is a primary).
pub fn durable_lsn(dir: &Path) -> u64 {
    let s = status_json(dir);
    assert_eq!(s["role"], "primary", "{s}");
    s["durable_lsn"].as_u64().expect("durable_lsn")
}

/// Waits (at most `within`) until `check` holds of the first standby in the
/// status of the primary on `dir`; returns that standby's entry.
pub fn wait_standby_status(
    dir: &Path,
    within: Duration,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let s = status_json(dir);
        let st = s["standbys"][0].clone();
        if check(&st) {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "standby status never matched within {within:?}: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (at most `within`) until the standby on `dir` has applied and durably
/// received up to `lsn`.
pub fn wait_applied(dir: &Path, lsn: u64, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let s = status_json(dir);
        // Replay may run ahead of the durable received LSN by an fsync.
        if s["applied_lsn"].as_u64().unwrap_or(0) >= lsn
            && s["received_lsn"].as_u64().unwrap_or(0) >= lsn
        {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "standby did not apply up to {lsn:#x} within {within:?}: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a node command with piped output, collects its stderr in a thread, and
/// waits (at most 30 s) for its first stdout line, which names its addresses.
/// Returns the child, that line, and the thread that yields the stderr text.
pub fn spawn_until_first_line(
    cmd: Command,
    what: &str,
) -> (Child, String, std::thread::JoinHandle<String>) {
    spawn_until_first_line_into(cmd, what, None)
}

/// [`spawn_until_first_line`], also copying each stderr line into `sink` as it
/// comes (for a test that watches a running process's log).
pub fn spawn_until_first_line_into(
    mut cmd: Command,
    what: &str,
    sink: Option<std::sync::Arc<std::sync::Mutex<String>>>,
) -> (Child, String, std::thread::JoinHandle<String>) {
    // Logs at info unless the test chose the level (or removed the variable).
    if !cmd.get_envs().any(|(k, _)| k == "LOGSHIP_LOG") {
        cmd.env("LOGSHIP_LOG", "info");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start logship {what}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            s.push_str(&line);
            s.push('\n');
            if let Some(sink) = &sink {
                let mut g = sink.lock().unwrap_or_else(|p| p.into_inner());
                g.push_str(&line);
                g.push('\n');
            }
        }
        s
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {}
    });
    let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} did not start: {}", err_thread.join().unwrap());
    };
    (child, line, err_thread)
}

/// The address in a node's first line, "logship … listening on ADDR …".
pub fn listening_addr(line: &str) -> String {
    line.split("listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string()
}

/// A synchronous RESP client of the node at `addr`, with bounded waits.
pub fn redis_client(addr: &str) -> redis::Connection {
    let c = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let con = c
        .get_connection_with_timeout(Duration::from_secs(10))
        .unwrap();
    con.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    con
}

/// `DEBUG DIGEST` of the node behind `c` (equal digests: equal keyspaces).
pub fn digest(c: &mut redis::Connection) -> String {
    redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(c)
        .expect("DEBUG DIGEST")
}

/// A loopback address with a port that was free a moment ago (for flags that
/// do not print the address they bound).
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").to_string()
}

/// `GET path` over HTTP/1.1 from `addr` (bounded waits): status code and body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::Write;
    let mut s =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the HTTP answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (code, body.to_string())
}

/// kill -9 of a node process the tests started (if it still runs), and what
/// it logged on stderr (when `stderr` still holds its collector).
pub fn kill_child(
    child: &mut Option<Child>,
    stderr: &mut Option<std::thread::JoinHandle<String>>,
) -> String {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    stderr
        .take()
        .map(|t| t.join().unwrap_or_default())
        .unwrap_or_default()
}

/// Primary flags under which a stopped standby soon falls out of the retained
/// WAL: 256 KiB kept, a checkpoint every 128 KiB (or second), one snapshot.
pub const SMALL_RETENTION: [&str; 8] = [
    "--max-retained-wal",
    "256KiB",
    "--checkpoint-wal-bytes",
    "128KiB",
    "--checkpoint-interval",
    "1s",
    "--keep-snapshots",
    "1",
];
