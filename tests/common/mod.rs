//! Helpers for end-to-end tests: the real `logship` binary on 127.0.0.1:0.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
        let mut child = Command::new(BIN)
            .args(["primary", "--data-dir"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("LOGSHIP_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let err_thread = std::thread::spawn(move || {
            let mut s = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                s.push_str(&line);
                s.push('\n');
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
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("primary did not start: {}", err_thread.join().unwrap());
            }
        };
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

    /// A new synchronous client connection.
    pub fn client(&self) -> redis::Connection {
        let c = redis::Client::open(format!("redis://{}/", self.addr)).unwrap();
        let con = c
            .get_connection_with_timeout(Duration::from_secs(10))
            .unwrap();
        con.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        con
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
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
