//! Helpers shared by the tests: running the `logship` binary with a deadline;
//! for the `wal_*` suites, disks (in-memory or a temporary directory) that can be
//! damaged byte by byte, deterministic payloads, and reading a log back; for the
//! `primary_*` suites, real servers on 127.0.0.1:0.
#![allow(dead_code)]

pub mod certs;

use logship::wal::memfs::MemFs;
use logship::wal::scan::{list_segments, SegmentFile};
use logship::wal::Appended;
use logship::wal::{self, Record, RecordKind, SharedFs, StdFs, SyncPolicy, WalOptions};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// No command in these tests may run longer than this.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts the run failed with `code` and said so in exactly one clear line.
    pub fn assert_one_line_error(&self, code: i32) -> &str {
        assert_eq!(self.code, Some(code), "{self:#?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one error line: {self:#?}");
        let lower = self.stderr.to_lowercase();
        assert!(
            !lower.contains("panicked") && !lower.contains("backtrace"),
            "{self:#?}"
        );
        assert!(lines[0].starts_with("logship: error: "), "{self:#?}");
        lines[0]
    }

    /// The JSON objects printed on stdout, one per line.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// Runs `logship ARGS` to completion (killed after a deadline).
pub fn logship(args: &[&str]) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logship"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start logship");
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for logship") {
            break st;
        }
        if start.elapsed() > RUN_DEADLINE {
            let _ = child.kill();
            panic!("logship {args:?} ran longer than {RUN_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out {
        code: status.code(),
        stdout: out_t.join().expect("stdout reader"),
        stderr: err_t.join().expect("stderr reader"),
    }
}

/// Runs `logship ARGS` with paths as arguments.
pub fn logship_p(args: &[&str], path: &Path) -> Out {
    let p = path.to_str().expect("utf-8 path");
    let mut v: Vec<&str> = args.to_vec();
    v.push(p);
    logship(&v)
}

/// Makes a closed, sound log of `records` records of `record_bytes` bytes in
/// `dir` with 4 KiB segments, using `logship bench wal`.
pub fn make_log(dir: &Path, records: u64, record_bytes: u64) {
    let out = logship(&[
        "bench",
        "wal",
        "--dir",
        dir.to_str().unwrap(),
        "--records",
        &records.to_string(),
        "--record-bytes",
        &record_bytes.to_string(),
        "--sync",
        "never",
        "--segment-bytes",
        "4KiB",
    ]);
    assert_eq!(out.code, Some(0), "bench wal failed: {out:#?}");
}

/// The segment files of a WAL directory, in log order.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// `verify --json` of a sound or torn log.
pub fn verify_json(path: &Path) -> serde_json::Value {
    let out = logship_p(&["verify", "--json"], path);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1, "{out:#?}");
    lines.into_iter().next().unwrap()
}

/// Flips one bit of the byte at `offset` of `file`.
pub fn flip_bit(file: &Path, offset: usize) {
    let mut b = std::fs::read(file).unwrap();
    b[offset] ^= 0x04;
    std::fs::write(file, b).unwrap();
}

/// Writes `bytes` at `offset` of `file` (which must be long enough).
pub fn write_at(file: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

/// First LSN of a segment, from its file name.
pub fn first_lsn_of(segment: &Path) -> u64 {
    let name = segment.file_name().unwrap().to_str().unwrap();
    u64::from_str_radix(&name[9..25], 16).unwrap()
}

/// System id every test log uses unless it tests identities.
pub const SYSTEM_ID: u64 = 0x5eed_0000_0000_0042;

/// Options for a test log.
pub fn options(dir: &Path, segment_bytes: u64, sync: SyncPolicy) -> WalOptions {
    let mut o = WalOptions::new(dir, SYSTEM_ID, 1);
    o.segment_bytes = segment_bytes;
    o.sync = sync;
    o
}

/// A deterministic payload of `len` bytes, none of them zero, different per `seed`.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 255) as u8 + 1
        })
        .collect()
}

/// Where a log lives: an in-memory file system or a temporary directory.
pub enum Disk {
    Mem(MemFs),
    Std(tempfile::TempDir),
}

impl Disk {
    /// An empty in-memory disk.
    pub fn mem() -> Disk {
        Disk::Mem(MemFs::new())
    }

    /// An empty temporary directory.
    pub fn std() -> Disk {
        Disk::Std(tempfile::tempdir().expect("create a temporary directory"))
    }

    /// A shared handle to the file system.
    pub fn fs(&self) -> SharedFs {
        match self {
            Disk::Mem(m) => Arc::new(m.clone()),
            Disk::Std(_) => StdFs::shared(),
        }
    }

    /// The WAL directory on this disk.
    pub fn dir(&self) -> PathBuf {
        match self {
            Disk::Mem(_) => PathBuf::from("/wal"),
            Disk::Std(t) => t.path().join("wal"),
        }
    }

    /// The whole content of a file.
    pub fn read(&self, path: &Path) -> Vec<u8> {
        self.fs().read(path).expect("read file").to_vec()
    }

    /// Overwrites bytes of a file in place.
    pub fn overwrite(&self, path: &Path, offset: u64, bytes: &[u8]) {
        match self {
            Disk::Mem(m) => m.poke(path, offset as usize, bytes),
            Disk::Std(_) => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .expect("open file to damage");
                f.write_all_at(bytes, offset).expect("damage file");
            }
        }
    }

    /// Replaces a file by `content` (any length).
    pub fn replace(&self, path: &Path, content: &[u8]) {
        let fs = self.fs();
        if fs.exists(path) {
            fs.remove(path).expect("remove file");
        }
        let mut f = fs.create(path).expect("create file");
        f.write_all_at(content, 0).expect("write file");
        f.sync_data().expect("sync file");
        if let Some(d) = path.parent() {
            fs.sync_dir(d).expect("sync directory");
        }
    }

    /// A fresh disk of the same kind holding the same WAL directory content.
    pub fn copy_of(&self) -> Disk {
        let files: Vec<(String, Vec<u8>)> = self
            .fs()
            .list(&self.dir())
            .expect("list directory")
            .into_iter()
            .map(|n| {
                let data = self.read(&self.dir().join(&n));
                (n, data)
            })
            .collect();
        let copy = match self {
            Disk::Mem(_) => Disk::mem(),
            Disk::Std(_) => Disk::std(),
        };
        copy.fs().create_dir_all(&copy.dir()).expect("create dir");
        for (n, data) in files {
            copy.replace(&copy.dir().join(n), &data);
        }
        copy
    }

    /// Segment files in log order.
    pub fn segments(&self) -> Vec<SegmentFile> {
        list_segments(&*self.fs(), &self.dir()).expect("list segments")
    }

    /// Names of the files in the WAL directory.
    pub fn names(&self) -> Vec<String> {
        let mut v = self.fs().list(&self.dir()).expect("list directory");
        v.sort();
        v
    }
}

/// Every record of the log from LSN 0, seals included; panics on a read error.
pub fn all_records(fs: SharedFs, dir: &Path) -> Vec<Record> {
    wal::WalReader::open(fs, dir, 0, None)
        .expect("open reader")
        .map(|r| r.expect("read record"))
        .collect()
}

/// The data records of the log from LSN 0.
pub fn data_records(fs: SharedFs, dir: &Path) -> Vec<Record> {
    all_records(fs, dir)
        .into_iter()
        .filter(|r| r.kind == RecordKind::Data)
        .collect()
}

/// `(lsn, payload)` of the data records of the log.
pub fn lsn_payloads(fs: SharedFs, dir: &Path) -> Vec<(u64, Vec<u8>)> {
    data_records(fs, dir)
        .into_iter()
        .map(|r| (r.lsn, r.payload.to_vec()))
        .collect()
}

/// Checks that records follow each other without a hole: each starts where the
/// previous one ended (seals included), and every segment but the last ends with
/// a seal.
pub fn assert_contiguous(fs: SharedFs, dir: &Path) {
    let recs = all_records(fs.clone(), dir);
    for w in recs.windows(2) {
        assert_eq!(w[1].lsn, w[0].end_lsn, "hole after LSN {:#x}", w[0].lsn);
    }
    let report = wal::scan_dir(&*fs, dir).expect("scan");
    let n = report.segments.len();
    for s in report.segments.iter().take(n.saturating_sub(1)) {
        assert!(s.sealed, "{} is not sealed", s.file.path.display());
    }
}

/// Opens the log on `disk`, appends `count` records (payload `i` of
/// `len_of(i)` bytes), waits for them, closes, and returns what was appended.
pub fn write_log(
    disk: &Disk,
    opts: &WalOptions,
    count: u64,
    len_of: impl Fn(u64) -> usize,
) -> Vec<(Appended, Vec<u8>)> {
    let (w, _) = wal::open(disk.fs(), opts.clone()).expect("open log");
    let mut out = Vec::new();
    for i in 0..count {
        let p = payload(i, len_of(i));
        out.push((w.append(&p).expect("append"), p));
    }
    if let Some((a, _)) = out.last() {
        w.wait_acked(a.end_lsn).expect("acknowledged");
    }
    w.close().expect("close");
    out
}

/// `(lsn, payload)` pairs of appended records.
pub fn as_lsn_payloads(appended: &[(Appended, Vec<u8>)]) -> Vec<(u64, Vec<u8>)> {
    appended.iter().map(|(a, p)| (a.lsn, p.clone())).collect()
}

/// File offset of the record at `lsn` in `seg`.
pub fn offset_in(seg: &SegmentFile, lsn: u64) -> u64 {
    logship::wal::format::SEGMENT_HEADER_BYTES as u64 + (lsn - seg.first_lsn)
}

pub const BIN: &str = env!("CARGO_BIN_EXE_logship");

/// Runs `logship init` on `dir` with small segments.
pub fn init(dir: &Path, segment_bytes: &str) {
    let out = Command::new(BIN)
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
        let mut cmd = Command::new(BIN);
        cmd.args(["primary", "--data-dir"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra);
        let (child, line, err_thread) = spawn_until_first_line(cmd, "primary");
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_string();
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
        let mut cmd = Command::new(BIN);
        cmd.args(["standby", "--data-dir"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0", "--ship-listen", ship_listen])
            .args(extra);
        let (child, line, err_thread) = spawn_until_first_line(cmd, "standby");
        // "logship standby listening on A (shipments on B)"
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_string();
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
    let out = Command::new(BIN)
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
    let mut child = cmd
        .env("LOGSHIP_LOG", "info")
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

/// A synchronous RESP client of the node at `addr`, with bounded waits.
pub fn redis_client(addr: &str) -> redis::Connection {
    let c = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let con = c
        .get_connection_with_timeout(Duration::from_secs(10))
        .unwrap();
    con.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    con
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

/// Every file under `dir` with its bytes, sorted by path: compare two calls to
/// show that a command changed nothing.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    out.sort();
    out
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
