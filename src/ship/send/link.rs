//! The link to one standby: TCP (or TLS) connected, the standby's greeting,
//! the mutual HMAC handshake, then framed messages both ways. The standby's
//! messages are read by a task of their own, so a refusal is seen even while
//! the sender is busy writing.

use super::error::{ShipError, Violation};
use super::flight::Reported;
use super::link_tap::LinkTap;
use super::options::{LogSource, ShipOptions};
use crate::ship::protocol::auth::{nonce, Challenge, Side};
use crate::ship::protocol::codes::MessageKind;
use crate::ship::protocol::codes::RefuseCode;
use crate::ship::protocol::frame::{
    read_frame_limited, write_frame, FrameError, MAX_STANDBY_FRAME_BYTES,
};
use crate::ship::protocol::message::{Message, OLDEST_STANDBY_VERSION, PROTOCOL_VERSION};
use crate::ship::protocol::tls::{self, ShipWriter};
use crate::ship::protocol::tree::DownstreamTree;
use crate::wal::tap::TapGuard;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// A connected, authenticated link to a standby. Dropping it ends it: the
/// tap stops and the task reading the standby's messages is aborted.
pub(super) struct Link {
    addr: String,
    /// The writing half; the seed is written straight to it.
    pub(super) w: ShipWriter,
    /// The standby's messages, read by `reader`; a frame that does not decode
    /// ends it with the reason.
    rx: mpsc::Receiver<Result<Message, Violation>>,
    reader: tokio::task::JoinHandle<()>,
    /// A duplicate of a plain link's socket, for a tap.
    dup: Option<std::net::TcpStream>,
    /// The tap sending from the WAL writer's thread, once attached.
    pub(super) tap: Option<Arc<LinkTap>>,
    tap_guard: Option<TapGuard>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.tap_guard.take();
        if let Some(tap) = &self.tap {
            tap.close();
        }
        self.reader.abort();
    }
}

impl Link {
    /// Registers a tap on the log for this link, when both allow it.
    pub(super) fn attach_tap(&mut self, src: &LogSource, opts: &ShipOptions) {
        if let (Some(taps), Some(sock)) = (&src.taps, self.dup.take()) {
            let chunk_bytes = opts.pace.chunk_bytes().min(opts.chunk_bytes);
            let tap = Arc::new(LinkTap::new(sock, opts.compression, chunk_bytes));
            self.tap_guard = Some(taps.add(tap.clone()));
            self.tap = Some(tap);
        }
    }

    pub(super) async fn send(&mut self, m: &Message) -> Result<(), ShipError> {
        let res = match write_frame(&mut self.w, m.kind().into(), &m.encode()).await {
            Ok(()) => self.w.flush().await,
            Err(e) => Err(e),
        };
        let Err(e) = res else { return Ok(()) };
        Err(self.failed(e).await)
    }

    /// Sends bytes that are already framed.
    pub(super) async fn send_bytes(&mut self, b: &[u8]) -> Result<(), ShipError> {
        let res = match self.w.write_all(b).await {
            Ok(()) => self.w.flush().await,
            Err(e) => Err(e),
        };
        let Err(e) = res else { return Ok(()) };
        Err(self.failed(e).await)
    }

    /// Ends a finished link in order: TLS `close_notify` (then the TCP FIN),
    /// so the standby reads the end of a shipment, not a link cut short.
    pub(super) async fn close(&mut self) {
        crate::ship::protocol::tls::close_link(&mut self.w).await;
    }

    /// The error for a failed write: the standby's refusal when it sent one.
    pub(super) async fn failed(&mut self, e: std::io::Error) -> ShipError {
        // A standby that refuses closes the link: its reason is more useful than
        // the broken pipe the next write runs into.
        if let Ok(Some(Ok(Message::Refuse { code, message }))) =
            tokio::time::timeout(Duration::from_millis(500), self.rx.recv()).await
        {
            return ShipError::Refused {
                addr: self.addr.clone(),
                code,
                message,
            };
        }
        ShipError::Link {
            addr: self.addr.clone(),
            source: FrameError::Io(e),
        }
    }

    pub(super) async fn recv(
        &mut self,
        timeout: Duration,
        what: &'static str,
    ) -> Result<Message, ShipError> {
        let addr = self.addr.clone();
        match tokio::time::timeout(timeout, self.rx.recv()).await {
            Err(_) => Err(ShipError::Timeout { addr, what }),
            Ok(None) => Err(ShipError::Link {
                addr,
                source: FrameError::Closed,
            }),
            Ok(Some(Err(violation))) => Err(ShipError::Protocol { addr, violation }),
            Ok(Some(Ok(Message::Refuse { code, message }))) => Err(ShipError::Refused {
                addr,
                code,
                message,
            }),
            Ok(Some(Ok(m))) => Ok(m),
        }
    }
}

/// Connects and authenticates; returns the link and the standby's Welcome.
pub(super) async fn connect(
    src: &LogSource,
    opts: &ShipOptions,
) -> Result<(Link, Message), ShipError> {
    let addr = opts.addr.clone();
    let sock = tokio::time::timeout(opts.connect_timeout, TcpStream::connect(&addr))
        .await
        .map_err(|_| ShipError::Timeout {
            addr: addr.clone(),
            what: "the connection",
        })?
        .map_err(|source| ShipError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let _ = sock.set_nodelay(true);
    // A tap writes to the same socket from the WAL writer's thread.
    let dup = match (&src.taps, &opts.tls) {
        (Some(_), None) => std::os::fd::AsFd::as_fd(&sock)
            .try_clone_to_owned()
            .ok()
            .map(std::net::TcpStream::from)
            // The writer's thread must never block on the link.
            .filter(|s| s.set_nonblocking(true).is_ok()),
        _ => None,
    };
    let (mut r, w) = tls::client_halves(sock, &addr, opts.tls.as_ref())
        .await
        .map_err(|source| ShipError::Tls {
            addr: addr.clone(),
            source,
        })?;
    let (tx, rx) = mpsc::channel(64);
    let board = opts.downstreams.clone();
    let peer = addr.clone();
    let reader = tokio::spawn(async move {
        loop {
            let m = match read_frame_limited(&mut r, MAX_STANDBY_FRAME_BYTES).await {
                Ok((k, body)) if k == u8::from(MessageKind::Downstreams) => {
                    take_downstreams(&board, &peer, &body);
                    continue;
                }
                Ok((k, body)) => Message::decode(k, &body).map_err(Violation::Decode),
                Err(FrameError::Closed) => return,
                Err(e) => Err(Violation::Frame(e)),
            };
            let stop = m.is_err();
            if tx.send(m).await.is_err() || stop {
                return;
            }
        }
    });
    let mut link = Link {
        addr: addr.clone(),
        w,
        rx,
        reader,
        dup,
        tap: None,
        tap_guard: None,
    };
    // A standby greets as soon as it accepts: a silent peer is something else
    // (a Redis server waits for a command), so this wait is short.
    let (standby_version, ns) = match link
        .recv(
            opts.connect_timeout,
            "the standby's greeting, which a standby sends as soon as it accepts a connection (is this its --ship-listen address, not its --listen one?)",
        )
        .await?
    {
        Message::Hello { version, nonce } if version >= OLDEST_STANDBY_VERSION => (version, nonce),
        Message::Hello { version, .. } => {
            // Tell the standby too, so that its log says what to do.
            let _ = link
                .send(&Message::Refuse {
                    code: RefuseCode::Version,
                    message: Violation::Version { standby: version }.to_string(),
                })
                .await;
            return Err(ShipError::Protocol {
                addr,
                violation: Violation::Version { standby: version },
            })
        }
        m => {
            return Err(ShipError::Protocol {
                addr,
                violation: Violation::Expected {
                    expected: "Hello",
                    got: m.name(),
                },
            })
        }
    };
    let challenge = Challenge {
        standby_nonce: ns,
        primary_nonce: nonce(),
        system_id: src.system_id,
        timeline: src.timeline,
    };
    let np = challenge.primary_nonce;
    let proof = opts
        .key
        .as_ref()
        .map_or([0u8; 32], |k| k.proof(Side::Primary, &challenge));
    // The link speaks the lower of the two versions (the log is the same).
    link.send(&Message::Auth {
        version: standby_version.min(PROTOCOL_VERSION),
        system_id: src.system_id,
        timeline: src.timeline,
        nonce: np,
        proof,
    })
    .await?;
    let welcome = link.recv(opts.ack_timeout, "the standby's welcome").await?;
    let Message::Welcome { proof: sp, .. } = &welcome else {
        return Err(ShipError::Protocol {
            addr,
            violation: Violation::Expected {
                expected: "Welcome",
                got: welcome.name(),
            },
        });
    };
    if let Some(key) = &opts.key {
        if !key.check(Side::Standby, &challenge, sp) {
            return Err(ShipError::Auth { addr });
        }
    }
    // What the standby said before is past: it says it again on this link
    // (an older standby, or one that no longer cascades, never does).
    *lock(&opts.downstreams) = Reported::default();
    Ok((link, welcome))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes a standby's `Downstreams`: a body that does not decode is reported
/// (logged once per reason, kept for status) and the link goes on shipping.
fn take_downstreams(board: &Mutex<Reported>, peer: &str, body: &[u8]) {
    let mut b = lock(board);
    match DownstreamTree::decode(body) {
        Ok(tree) => {
            b.tree = tree;
            b.error = None;
        }
        Err(e) => {
            let why = format!("standby {peer} sent a {e}");
            if b.error.as_deref() != Some(why.as_str()) {
                tracing::warn!("{why}; its downstreams are not shown, shipping goes on");
            }
            b.tree = DownstreamTree::default();
            b.error = Some(why);
        }
    }
    b.unix_ms = crate::clock::now_unix_ms();
}
