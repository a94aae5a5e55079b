//! A notify socket a test owns (`NOTIFY_SOCKET`), as systemd's: every
//! datagram the node sends, in order.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The notify socket of a test: every datagram the node sends, in order.
pub struct NotifySocket {
    pub sock: UnixDatagram,
    pub path: PathBuf,
    pub seen: Vec<String>,
}

impl NotifySocket {
    pub fn new(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        NotifySocket {
            sock,
            path,
            seen: Vec::new(),
        }
    }

    /// Waits (at most 30 s) for a datagram with a line starting with
    /// `prefix`; returns that line.
    pub fn wait_for(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut buf = [0u8; 4096];
        loop {
            if let Some(l) = self
                .seen
                .iter()
                .flat_map(|m| m.lines())
                .find(|l| l.starts_with(prefix))
            {
                return l.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no {prefix} within 30 s; got {:?}",
                self.seen
            );
            if let Ok(n) = self.sock.recv(&mut buf) {
                self.seen
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    }

    /// Takes the datagrams already sent, without waiting.
    pub fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        self.sock.set_nonblocking(true).unwrap();
        while let Ok(n) = self.sock.recv(&mut buf) {
            self.seen
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        self.sock.set_nonblocking(false).unwrap();
    }

    /// The index of the first datagram holding `line`.
    pub fn index_of(&self, line: &str) -> Option<usize> {
        self.seen.iter().position(|m| m.lines().any(|l| l == line))
    }
}
