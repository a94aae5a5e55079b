//! A `logship primary` child process on loopback, for a drill: started on
//! `127.0.0.1:0`, waited for until it answers PING, asked over RESP, stopped.

use crate::client::ClientError;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Longest wait for the node to listen and answer PING.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the node to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the promoted copy's node did not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The binary could not be started.
    #[error(transparent)]
    Spawn(crate::durable::IoError),
    #[error("the promoted copy did not start within {START_TIMEOUT:?}")]
    NotStarted,
    /// `line` is what the node printed first.
    #[error("unexpected first line from the promoted copy: {line}")]
    FirstLine { line: String },
    #[error("{addr} did not answer PING: {source}")]
    NoPong {
        addr: String,
        #[source]
        source: ClientError,
    },
    /// The connection failed.
    #[error(transparent)]
    Connect(ClientError),
    #[error("{command}: {source}")]
    Command {
        command: &'static str,
        #[source]
        source: ClientError,
    },
    #[error("LOGSHIP POSITION: {0}")]
    PositionJson(#[source] serde_json::Error),
    /// `text` is the answer as received.
    #[error("LOGSHIP POSITION without write_lsn: {text}")]
    NoWriteLsn { text: String },
}

/// Starts `binary primary` on `dir` and waits until it answers PING; the
/// child is put in `node` as soon as it runs (the caller stops it).
///
/// # Errors
/// The node did not start, name its address, or answer in time.
pub fn start(binary: &Path, dir: &Path, node: &mut Option<Child>) -> Result<String, NodeError> {
    let mut child = crate::config::hermetic(binary)
        .args(["primary", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("LOGSHIP_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| NodeError::Spawn(crate::durable::IoError::new("start", binary, e)))?;
    let stdout = child.stdout.take().expect("piped");
    *node = Some(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(l)) = lines.next() {
            let _ = tx.send(l);
        }
        for _ in lines {}
    });
    let line = rx
        .recv_timeout(START_TIMEOUT)
        .map_err(|_| NodeError::NotStarted)?;
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .ok_or_else(|| NodeError::FirstLine { line: line.clone() })?
        .to_string();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let pong = connect(&addr).and_then(|mut c| {
            redis::cmd("PING")
                .query::<String>(&mut c)
                .map_err(|e| NodeError::Connect(ClientError::from_redis(&addr, &e)))
        });
        match pong {
            Ok(_) => return Ok(addr),
            Err(NodeError::Connect(source)) if Instant::now() >= deadline => {
                return Err(NodeError::NoPong { addr, source })
            }
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// A RESP connection with bounded waits.
///
/// # Errors
/// The connection failed.
pub fn connect(addr: &str) -> Result<redis::Connection, NodeError> {
    let ours = |e: redis::RedisError| NodeError::Connect(ClientError::from_redis(addr, &e));
    let c = redis::Client::open(format!("redis://{addr}/")).map_err(ours)?;
    let conn = c
        .get_connection_with_timeout(Duration::from_secs(5))
        .map_err(ours)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(ours)?;
    Ok(conn)
}

/// The node's written LSN (`LOGSHIP POSITION`).
///
/// # Errors
/// The command failed or its answer has no `write_lsn`.
pub fn write_lsn(conn: &mut redis::Connection) -> Result<u64, NodeError> {
    let text: String = redis::cmd("LOGSHIP")
        .arg("POSITION")
        .query(conn)
        .map_err(|e| NodeError::Command {
            command: "LOGSHIP POSITION",
            source: ClientError::from_redis("the node", &e),
        })?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(NodeError::PositionJson)?;
    v["write_lsn"]
        .as_u64()
        .ok_or(NodeError::NoWriteLsn { text })
}

/// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`].
pub fn stop(mut child: Child) {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}
