//! The admin socket: a Unix socket in the data directory (mode 0600, so only the
//! DBA on the host can use it) through which `logship status`, `promote` and
//! `drill` talk to a running node. One JSON request per line, one JSON answer
//! per line: `{"ok": true, "result": …}` or `{"ok": false, "error": "…"}`.

use serde_json::{json, Value};
use std::future::Future;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// File name of the socket inside the data directory.
pub const SOCKET_NAME: &str = "logship.sock";
/// Longest request line accepted.
pub const MAX_REQUEST_BYTES: usize = 64 << 10;

/// The future a handler returns: the result, or the error whose text is the
/// answer's `"error"` (each role has its own type; this module needs only its
/// text).
pub type Reply = Pin<Box<dyn Future<Output = Result<Value, RequestError>> + Send>>;
/// Why a node refused or failed an admin request.
pub type RequestError = Box<dyn std::error::Error + Send + Sync>;
/// Answers one request (a JSON object with at least `"cmd"`).
pub type Handler = Arc<dyn Fn(Value) -> Reply + Send + Sync>;

/// The socket path for a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// Binds the admin socket of `data_dir` (mode 0600). A stale socket file left by
/// a dead process is replaced; a live one is an error.
///
/// # Errors
/// `AddrInUse` when another process answers on the socket; other I/O errors.
pub async fn bind(data_dir: &Path) -> io::Result<UnixListener> {
    let path = socket_path(data_dir);
    if path.exists() {
        if UnixStream::connect(&path).await.is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is in use by a running node", path.display()),
            ));
        }
        std::fs::remove_file(&path)?;
    }
    // The socket is made 0600 from the start: a umask that leaves nothing for
    // group and others while it is bound (set_permissions alone would leave a
    // moment in which a permissive umask lets anyone connect). A file another
    // thread creates in that instant is owner-only too, which does no harm.
    // SAFETY: umask only swaps the process's file-creation mask.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(&path);
    // SAFETY: as above; this puts the previous mask back.
    unsafe { libc::umask(old) };
    let l = bound?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// Serves requests until the task is dropped.
pub async fn serve(listener: UnixListener, handler: Handler) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let h = handler.clone();
        tokio::spawn(async move {
            let _ = serve_one(sock, h).await;
        });
    }
}

async fn serve_one(sock: UnixStream, handler: Handler) -> io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut lines = BufReader::new(r.take(MAX_REQUEST_BYTES as u64 * 16)).lines();
    while let Some(line) = lines.next_line().await? {
        let answer = if line.len() > MAX_REQUEST_BYTES {
            json!({"ok": false, "error": "request too long"})
        } else {
            match serde_json::from_str::<Value>(&line) {
                Ok(req) if req.get("cmd").and_then(Value::as_str).is_some() => {
                    match handler(req).await {
                        Ok(result) => json!({"ok": true, "result": result}),
                        Err(error) => json!({"ok": false, "error": error.to_string()}),
                    }
                }
                _ => json!({"ok": false, "error": "expected a JSON object with a \"cmd\" field"}),
            }
        };
        let mut out = answer.to_string();
        out.push('\n');
        w.write_all(out.as_bytes()).await?;
    }
    Ok(())
}

use tokio::io::AsyncReadExt as _;

/// Why a request to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No node runs on this data directory (no socket, or nobody answers).
    #[error("no running node answers on {0}")]
    NotRunning(PathBuf),
    #[error("admin socket: {0}")]
    Io(#[source] crate::durable::IoError),
    #[error("admin socket {path}: timed out")]
    Timeout { path: PathBuf },
    /// The node answered with an error: its text, as the node sent it.
    #[error("{0}")]
    Node(String),
    #[error("admin socket {path}: malformed answer")]
    Malformed { path: PathBuf },
    /// The answer's result is not what the request returns.
    #[error("admin socket {}: unexpected result: {source}", path.display())]
    Result {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl AdminError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> AdminError {
        AdminError::Io(crate::durable::IoError::new(op, path, source))
    }
}

/// Sends one request to the node of `data_dir` and returns its result.
///
/// # Errors
/// [`AdminError::NotRunning`] when nothing answers; [`AdminError::Node`] when the
/// node refused the request; I/O and timeout errors otherwise.
pub async fn request(data_dir: &Path, req: Value, timeout: Duration) -> Result<Value, AdminError> {
    let path = socket_path(data_dir);
    let sock = match UnixStream::connect(&path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(AdminError::NotRunning(path))
        }
        Err(source) => return Err(AdminError::io("connect", &path, source)),
    };
    let io_err = |op| {
        let path = &path;
        move |source| AdminError::io(op, path, source)
    };
    let fut = async {
        let (r, mut w) = sock.into_split();
        let mut line = req.to_string();
        line.push('\n');
        w.write_all(line.as_bytes())
            .await
            .map_err(io_err("send a request on"))?;
        let mut lines = BufReader::new(r).lines();
        let answer = lines
            .next_line()
            .await
            .map_err(io_err("read the answer from"))?
            .ok_or_else(|| AdminError::Malformed { path: path.clone() })?;
        serde_json::from_str::<Value>(&answer)
            .map_err(|_| AdminError::Malformed { path: path.clone() })
    };
    let v = tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| AdminError::Timeout { path: path.clone() })??;
    match v.get("ok").and_then(Value::as_bool) {
        Some(true) => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
        Some(false) => Err(AdminError::Node(
            v.get("error")
                .and_then(Value::as_str)
                .unwrap_or("error")
                .to_string(),
        )),
        None => Err(AdminError::Malformed { path }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_answered_and_the_socket_is_private() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            request(d.path(), json!({"cmd": "status"}), Duration::from_secs(1)).await,
            Err(AdminError::NotRunning(_))
        ));
        let l = bind(d.path()).await.unwrap();
        let mode = std::fs::metadata(socket_path(d.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let h: Handler = Arc::new(|req: Value| {
            Box::pin(async move {
                match req["cmd"].as_str() {
                    Some("status") => Ok(json!({"role": "primary"})),
                    _ => Err("unknown command".into()),
                }
            })
        });
        tokio::spawn(serve(l, h));
        let v = request(d.path(), json!({"cmd": "status"}), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(v["role"], "primary");
        let e = request(d.path(), json!({"cmd": "explode"}), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "unknown command");
        // A second node on the same directory is refused while the first answers.
        assert_eq!(
            bind(d.path()).await.unwrap_err().kind(),
            io::ErrorKind::AddrInUse
        );
    }
}
