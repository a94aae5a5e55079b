//! Helpers for the end-to-end tests of the `logship` binary.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
