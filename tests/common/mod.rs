//! Helpers shared by the tests, by concern:
//!
//! - here: running the `logship` binary to completion with a deadline ([`logship`],
//!   [`Out`]) and comparing directory trees;
//! - [`process`]: long-running nodes (`logship primary`, `logship standby`) on
//!   127.0.0.1:0, their clients, status and key files;
//! - [`wal`]: for the `wal_*` suites, disks (in-memory or a temporary
//!   directory) that can be damaged byte by byte, deterministic payloads, and
//!   reading a log back;
//! - [`certs`]: TLS certificates made at test time;
//! - [`notify`]: a notify socket, as systemd's, that records what a node says;
//! - [`resp`]: a raw RESP2 client with parsed replies, and a real
//!   `redis-server` to compare with.
//!
//! Every test file compiles all of it (`mod common;`), so helpers one file
//! does not use are not dead code.
#![allow(dead_code)]

pub mod certs;
pub mod notify;
pub mod process;
pub mod resp;
pub mod s3;
pub mod wal;

// One flat `common::…` for the test files; a file that uses only one side
// would otherwise see the other re-export as unused.
#[allow(unused_imports)]
pub use process::*;
#[allow(unused_imports)]
pub use wal::*;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_logship");

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
    logship_env(args, &[])
}

/// [`logship`] with extra environment variables (an S3 server's settings).
pub fn logship_env(args: &[&str], env: &[(&str, String)]) -> Out {
    let mut cmd = logship::config::hermetic(BIN);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    run(cmd)
}

/// Runs `cmd` (the binary, with its arguments) like [`logship`]; for a test
/// that chooses the configuration itself (`--config`).
pub fn run(mut cmd: Command) -> Out {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut child = cmd
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
