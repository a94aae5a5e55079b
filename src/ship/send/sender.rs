//! The primary's end of the ship link: connects to a standby, authenticates both
//! ways, seeds it when it is too far behind, then streams every durable byte it
//! lacks as compressed chunks of whole records, pipelined up to a window, and
//! tracks the standby's acknowledgements.

use super::ahead::{Prepared, ReadAhead};
use super::pace::{ChunkPace, RateCap};
use super::seed;
use super::tap::{LinkTap, Taken};
use crate::clock::now_unix_ms;
use crate::ship::protocol::auth::{nonce, AuthKey, Challenge, Side};
use crate::ship::protocol::frame::{
    read_frame_limited, write_frame, FrameError, MAX_STANDBY_FRAME_BYTES,
};
use crate::ship::protocol::message::{Compression, Message, RefuseCode, PROTOCOL_VERSION};
use crate::ship::protocol::seed::SeedSource;
use crate::ship::protocol::tls::{self, ShipTls, ShipWriter};
use crate::wal::raw::RawReader;
use crate::wal::scan::list_segments;
use crate::wal::tap::{TapGuard, Taps};
use crate::wal::{Position, SharedFs, WalError};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// The log a shipper reads.
#[derive(Clone)]
pub struct LogSource {
    pub fs: SharedFs,
    pub wal_dir: PathBuf,
    pub system_id: u64,
    pub timeline: u32,
    /// The primary's position; nothing past `durable_lsn` is ever shipped.
    pub position: watch::Receiver<Position>,
    /// Snapshots for seeding.
    pub seed: Option<Arc<dyn SeedSource>>,
    /// The running log's taps: a caught-up continuous link is fed from the
    /// WAL writer's thread ([`super::tap`]). `None` for a log on disk only.
    pub taps: Option<Arc<Taps>>,
}

/// How to ship to one standby.
#[derive(Debug, Clone)]
pub struct ShipOptions {
    /// The standby's ship address.
    pub addr: String,
    /// `None` only with `--insecure-no-auth`.
    pub key: Option<AuthKey>,
    pub compression: Compression,
    /// Uncompressed bytes per chunk at most (whole records; at least one
    /// record). `pace` sets the size in force, which shrinks below this on a
    /// link that is cut before a chunk arrives whole.
    pub chunk_bytes: usize,
    /// The chunk size in force, kept across this standby's reconnects.
    pub pace: Arc<ChunkPace>,
    /// Wire bytes per second at most on this link (`--ship-max-rate`);
    /// `None`: as fast as the link goes.
    pub max_rate_bytes_per_sec: Option<u64>,
    /// Unacknowledged bytes in flight.
    pub window_bytes: u64,
    pub connect_timeout: Duration,
    /// How long to wait for the standby to answer.
    pub ack_timeout: Duration,
    /// TLS on the link (`--tls-cert`, `--tls-key`, `--tls-ca`); `None`: plain TCP.
    pub tls: Option<ShipTls>,
}

impl ShipOptions {
    /// Defaults: zstd level 1, 1 MiB chunks, 16 MiB window, 5 s connect, 30 s ack.
    /// The window covers the standby's fsync: its acknowledgements come after
    /// one, and a backlog flows at up to window / (fsync + round trip).
    pub fn new(addr: impl Into<String>, key: Option<AuthKey>) -> ShipOptions {
        ShipOptions {
            addr: addr.into(),
            key,
            compression: Compression::Zstd { level: 1 },
            chunk_bytes: 1 << 20,
            pace: Arc::new(ChunkPace::new(1 << 20)),
            max_rate_bytes_per_sec: None,
            window_bytes: 16 << 20,
            connect_timeout: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(30),
            tls: None,
        }
    }
}

/// One shipment, or a continuous stream that ends only on error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipMode {
    /// Ship everything durable now, wait for the acknowledgement, disconnect.
    Once,
    /// Keep the link open and ship as soon as records become durable.
    Continuous,
}

/// What the standby has acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Acked {
    pub received_lsn: u64,
    pub applied_lsn: u64,
    pub unix_ms: u64,
}

/// What a shipment did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipReport {
    pub from_lsn: u64,
    pub to_lsn: u64,
    pub records: u64,
    /// Log bytes shipped (uncompressed).
    pub raw_bytes: u64,
    /// Bytes of chunk data on the wire (compressed).
    pub wire_bytes: u64,
    /// Snapshot LSN when the standby was seeded first.
    pub seeded_at_lsn: Option<u64>,
    pub elapsed: Duration,
}

/// Why a shipment failed.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error("cannot connect to standby {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("standby {addr}: timed out waiting for {what}")]
    Timeout { addr: String, what: &'static str },
    #[error("standby {addr} refused: {message}")]
    Refused {
        addr: String,
        code: RefuseCode,
        message: String,
    },
    #[error("standby {addr}: {reason}")]
    Auth { addr: String, reason: String },
    #[error("standby {addr}: {reason}")]
    Tls { addr: String, reason: String },
    #[error("standby {addr}: protocol error: {reason}")]
    Protocol { addr: String, reason: String },
    #[error("standby {addr} is ahead of this primary: it has received up to LSN {standby:#x}, this primary's durable LSN is {primary:#x}")]
    StandbyAhead {
        addr: String,
        standby: u64,
        primary: u64,
    },
    #[error("standby {addr} diverged: it received timeline {timeline} up to LSN {received_lsn:#x}, but that timeline ended at {} in this primary's history; rejoin or re-seed it", switch_lsn.map_or("an LSN not in this history".to_string(), |l| format!("LSN {l:#x}")))]
    Diverged {
        addr: String,
        timeline: u32,
        received_lsn: u64,
        switch_lsn: Option<u64>,
    },
    #[error("standby {addr} needs seeding: {reason}")]
    NeedsSeed { addr: String, reason: String },
    #[error("standby {addr}: reading the log: {source}")]
    Wal {
        addr: String,
        #[source]
        source: WalError,
    },
    #[error("standby {addr}: link failed: {source}")]
    Link {
        addr: String,
        #[source]
        source: FrameError,
    },
}

impl ShipError {
    /// A short, stable reason label for metrics and status.
    pub fn reason(&self) -> &'static str {
        match self {
            ShipError::Connect { .. } => "connect",
            ShipError::Timeout { .. } => "timeout",
            ShipError::Refused { code, .. } => match code {
                RefuseCode::Auth => "auth",
                RefuseCode::SystemId => "system_id",
                RefuseCode::Timeline => "timeline",
                RefuseCode::Gap => "gap",
                RefuseCode::Corrupt => "corrupt",
                RefuseCode::NoSpace => "no_space",
                _ => "refused",
            },
            ShipError::Auth { .. } => "auth",
            ShipError::Tls { .. } => "tls",
            ShipError::Protocol { .. } => "protocol",
            ShipError::StandbyAhead { .. } => "standby_ahead",
            ShipError::NeedsSeed { .. } => "needs_seed",
            ShipError::Diverged { .. } => "diverged",
            ShipError::Wal { .. } => "wal",
            ShipError::Link { .. } => "link",
        }
    }
}

struct Link {
    addr: String,
    w: ShipWriter,
    rx: mpsc::Receiver<Result<Message, String>>,
    reader: tokio::task::JoinHandle<()>,
    /// A duplicate of a plain link's socket, for a tap.
    dup: Option<std::net::TcpStream>,
    tap: Option<Arc<LinkTap>>,
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
    fn attach_tap(&mut self, src: &LogSource, opts: &ShipOptions) {
        if let (Some(taps), Some(sock)) = (&src.taps, self.dup.take()) {
            let chunk_bytes = opts.pace.chunk_bytes().min(opts.chunk_bytes);
            let tap = Arc::new(LinkTap::new(sock, opts.compression, chunk_bytes));
            self.tap_guard = Some(taps.add(tap.clone()));
            self.tap = Some(tap);
        }
    }

    /// Books what the tap sent as in flight and sends the rest of its last
    /// frame; returns whether the tap still runs.
    async fn absorb(
        &mut self,
        t: Taken,
        next: &mut u64,
        until: &mut u64,
        flight: &mut InFlight,
        report: &mut ShipReport,
    ) -> Result<bool, ShipError> {
        for s in &t.sent {
            report.records += s.records;
            report.raw_bytes += s.end_lsn - s.start_lsn;
            report.wire_bytes += s.wire_bytes;
            flight.push(s.end_lsn, s.end_lsn - s.start_lsn);
            *next = s.end_lsn;
            *until = (*until).max(s.end_lsn);
        }
        if let Some(e) = t.error {
            return Err(self.failed(e).await);
        }
        if !t.residual.is_empty() {
            self.send_bytes(&t.residual).await?;
        }
        Ok(t.active)
    }

    async fn send(&mut self, m: &Message) -> Result<(), ShipError> {
        let res = match write_frame(&mut self.w, m.kind(), &m.encode()).await {
            Ok(()) => self.w.flush().await,
            Err(e) => Err(e),
        };
        let Err(e) = res else { return Ok(()) };
        Err(self.failed(e).await)
    }

    /// Sends bytes that are already framed.
    async fn send_bytes(&mut self, b: &[u8]) -> Result<(), ShipError> {
        let res = match self.w.write_all(b).await {
            Ok(()) => self.w.flush().await,
            Err(e) => Err(e),
        };
        let Err(e) = res else { return Ok(()) };
        Err(self.failed(e).await)
    }

    /// Ends a finished link in order: TLS `close_notify` (then the TCP FIN),
    /// so the standby reads the end of a shipment, not a link cut short.
    async fn close(&mut self) {
        crate::ship::protocol::tls::close_link(&mut self.w).await;
    }

    /// The error for a failed write: the standby's refusal when it sent one.
    async fn failed(&mut self, e: std::io::Error) -> ShipError {
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

    async fn recv(&mut self, timeout: Duration, what: &'static str) -> Result<Message, ShipError> {
        let addr = self.addr.clone();
        match tokio::time::timeout(timeout, self.rx.recv()).await {
            Err(_) => Err(ShipError::Timeout { addr, what }),
            Ok(None) => Err(ShipError::Link {
                addr,
                source: FrameError::Closed,
            }),
            Ok(Some(Err(reason))) => Err(ShipError::Protocol { addr, reason }),
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
async fn connect(src: &LogSource, opts: &ShipOptions) -> Result<(Link, Message), ShipError> {
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
        .map_err(|reason| ShipError::Tls {
            addr: addr.clone(),
            reason,
        })?;
    let (tx, rx) = mpsc::channel(64);
    let reader = tokio::spawn(async move {
        loop {
            let m = match read_frame_limited(&mut r, MAX_STANDBY_FRAME_BYTES).await {
                Ok((k, body)) => Message::decode(k, &body).map_err(|e| e.to_string()),
                Err(FrameError::Closed) => return,
                Err(e) => Err(e.to_string()),
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
    let ns = match link
        .recv(
            opts.connect_timeout,
            "the standby's greeting, which a standby sends as soon as it accepts a connection (is this its --ship-listen address, not its --listen one?)",
        )
        .await?
    {
        Message::Hello { version, nonce } if version == PROTOCOL_VERSION => nonce,
        Message::Hello { version, .. } => {
            return Err(ShipError::Protocol {
                addr,
                reason: format!(
                    "standby speaks protocol version {version}, this primary {PROTOCOL_VERSION}"
                ),
            })
        }
        m => {
            return Err(ShipError::Protocol {
                addr,
                reason: format!("expected Hello, got {}", m.name()),
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
    link.send(&Message::Auth {
        version: PROTOCOL_VERSION,
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
            reason: format!("expected Welcome, got {}", welcome.name()),
        });
    };
    if let Some(key) = &opts.key {
        if !key.check(Side::Standby, &challenge, sp) {
            return Err(ShipError::Auth {
                addr,
                reason: "the standby could not prove it holds the shared key".into(),
            });
        }
    }
    Ok((link, welcome))
}

/// Ships to one standby. With [`ShipMode::Once`] it returns after the standby
/// acknowledged everything durable at the start; with [`ShipMode::Continuous`]
/// it returns only on error. `acked` receives every acknowledgement.
///
/// # Errors
/// [`ShipError`] naming the standby and what went wrong.
pub async fn ship(
    src: &LogSource,
    opts: &ShipOptions,
    mode: ShipMode,
    acked: &watch::Sender<Acked>,
) -> Result<ShipReport, ShipError> {
    let started = Instant::now();
    let addr = opts.addr.clone();
    let (mut link, welcome) = connect(src, opts).await?;
    let Message::Welcome {
        system_id: their_sid,
        timeline: their_tl,
        received_lsn,
        applied_lsn,
        ..
    } = welcome
    else {
        unreachable!("connect returns a Welcome");
    };
    if their_sid != 0 && their_sid != src.system_id {
        return Err(ShipError::Refused {
            addr,
            code: RefuseCode::SystemId,
            message: format!(
                "standby holds system {their_sid:016x}, this primary is {:016x}",
                src.system_id
            ),
        });
    }
    acked.send_replace(Acked {
        received_lsn,
        applied_lsn,
        unix_ms: now_unix_ms(),
    });
    opts.pace.link_started(received_lsn);
    let mut position = src.position.clone();
    let mut until = position.borrow_and_update().durable_lsn;
    if received_lsn > until && their_sid != 0 {
        return Err(ShipError::StandbyAhead {
            addr,
            standby: received_lsn,
            primary: until,
        });
    }
    let wal_err = |source| ShipError::Wal {
        addr: opts.addr.clone(),
        source,
    };
    let raw = Arc::new(Mutex::new(RawReader::new(
        src.fs.clone(),
        src.wal_dir.clone(),
    )));
    let oldest = raw
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .oldest_lsn()
        .map_err(wal_err)?;
    if their_tl != 0 && their_tl < src.timeline {
        let history = crate::wal::timeline::read_history(&*src.fs, &src.wal_dir, src.timeline)
            .map_err(wal_err)?;
        let ended = history
            .iter()
            .find(|s| s.timeline == their_tl)
            .map(|s| s.switch_lsn);
        if ended.is_none_or(|e| received_lsn > e) {
            return Err(ShipError::Diverged {
                addr,
                timeline: their_tl,
                received_lsn,
                switch_lsn: ended,
            });
        }
    }
    if src.timeline > 1 {
        let name = crate::wal::timeline::history_file_name(src.timeline);
        let path = src.wal_dir.join(&name);
        let text = src
            .fs
            .read(&path)
            .map_err(|e| wal_err(WalError::io("read", &path, e)))?;
        let text = String::from_utf8_lossy(&text).into_owned();
        link.send(&Message::History {
            timeline: src.timeline,
            text,
        })
        .await?;
    }
    let mut report = ShipReport {
        from_lsn: received_lsn,
        to_lsn: received_lsn,
        ..ShipReport::default()
    };
    let mut next = received_lsn;
    let needs_seed = match oldest {
        Some(o) => next < o,
        None => false,
    };
    if needs_seed {
        next = seed_standby(src, &mut link, &addr).await?;
        report.seeded_at_lsn = Some(next);
        report.from_lsn = next;
    }
    let mut cap = opts.max_rate_bytes_per_sec.map(RateCap::new);
    let chunk_bytes = |cap: &Option<RateCap>| {
        let paced = opts.pace.chunk_bytes().min(opts.chunk_bytes);
        cap.as_ref().map_or(paced, |c| c.chunk_bytes(paced))
    };
    let mut ahead = ReadAhead::new(raw.clone(), chunk_bytes(&cap), opts.compression);
    let mut flight = InFlight::default();
    let mut last_status = Instant::now();
    // A capped link sends every chunk through the cap: the WAL writer's
    // thread, which feeds a tap, must never wait for one.
    if mode == ShipMode::Continuous && cap.is_none() {
        link.attach_tap(src, opts);
    }
    let closed = || ShipError::Protocol {
        addr: opts.addr.clone(),
        reason: "the primary's log closed".into(),
    };
    let failed = || wal_err(WalError::Stopped("the primary's WAL writer failed".into()));
    loop {
        // What the tap sent since last time is in flight like the rest.
        let mut tapping = match link.tap.clone() {
            Some(tap) => {
                let t = tap.take(false);
                link.absorb(t, &mut next, &mut until, &mut flight, &mut report)
                    .await?
            }
            None => false,
        };
        while !tapping && next < until && flight.bytes < opts.window_bytes {
            ahead.set_chunk_bytes(chunk_bytes(&cap));
            let built = ahead.next(next, until).await.map_err(wal_err)?;
            let Some(Prepared {
                chunk: c,
                compressed,
                data,
            }) = built
            else {
                break;
            };
            report.records += c.records;
            report.raw_bytes += c.end_lsn - c.start_lsn;
            report.wire_bytes += data.len() as u64;
            if let Some(cap) = &mut cap {
                cap.take(data.len()).await;
            }
            let m = Message::Chunk {
                compressed,
                header: c.header,
                start_lsn: c.start_lsn,
                end_lsn: c.end_lsn,
                records: c.records as u32,
                raw_len: (c.end_lsn - c.start_lsn) as u32,
                primary_durable_lsn: until,
                last_timestamp_unix_ms: c.last_timestamp_unix_ms,
                data,
            };
            link.send(&m).await?;
            flight.push(c.end_lsn, c.end_lsn - c.start_lsn);
            next = c.end_lsn;
        }
        // Caught up: the WAL writer's thread sends what becomes durable next.
        if let Some(tap) = link.tap.clone().filter(|_| !tapping && next >= until) {
            if position.borrow().failed {
                return Err(failed());
            }
            let window = opts.window_bytes.saturating_sub(flight.bytes);
            tapping = tap.start(next, window, || position.borrow().durable_lsn);
            if !tapping {
                let p = *position.borrow_and_update();
                if p.failed {
                    return Err(failed());
                }
                if p.durable_lsn > until {
                    until = p.durable_lsn;
                    continue;
                }
            }
        }
        if let Some(tap) = link.tap.clone().filter(|_| tapping) {
            let wait = if flight.is_empty() {
                Duration::from_secs(3600)
            } else {
                opts.ack_timeout
            };
            let msg = tokio::select! {
                // Stopped on its own: the next turn takes over.
                _ = tap.stopped() => None,
                m = link.recv(wait, "an acknowledgement") => Some(m?),
                // Idle: a Status each second, as without the tap (the
                // standby answers one only once all before it is durable).
                _ = tokio::time::sleep(Duration::from_secs(1).saturating_sub(last_status.elapsed())), if flight.is_empty() => {
                    let t = tap.take(true);
                    link.absorb(t, &mut next, &mut until, &mut flight, &mut report).await?;
                    let p = *position.borrow();
                    link.send(&Message::Status { primary_durable_lsn: p.durable_lsn, primary_write_lsn: p.written_lsn, unix_ms: now_unix_ms(), done: false }).await?;
                    last_status = Instant::now();
                    None
                }
            };
            if let Some(msg) = msg {
                // The acknowledgement may cover chunks the tap sent meanwhile.
                let t = tap.take(false);
                link.absorb(t, &mut next, &mut until, &mut flight, &mut report)
                    .await?;
                on_ack(msg, &addr, &mut flight, &mut report, acked, &opts.pace)?;
                tap.set_window(opts.window_bytes.saturating_sub(flight.bytes));
            }
            if position.has_changed().is_err() {
                return Err(closed());
            }
            if position.borrow().failed {
                return Err(failed());
            }
            continue;
        }
        let mut idle_msg = None;
        if flight.is_empty() && next >= until {
            match mode {
                ShipMode::Once => {
                    let p = *position.borrow();
                    link.send(&Message::Status {
                        primary_durable_lsn: until,
                        primary_write_lsn: p.written_lsn,
                        unix_ms: now_unix_ms(),
                        done: true,
                    })
                    .await?;
                    loop {
                        if let Message::Ack {
                            received_lsn,
                            applied_lsn,
                        } = link
                            .recv(opts.ack_timeout, "the final acknowledgement")
                            .await?
                        {
                            acked.send_replace(Acked {
                                received_lsn,
                                applied_lsn,
                                unix_ms: now_unix_ms(),
                            });
                            opts.pace.acked(received_lsn);
                            if received_lsn >= until {
                                break;
                            }
                        }
                    }
                    link.close().await;
                    report.to_lsn = until;
                    report.elapsed = started.elapsed();
                    opts.pace.link_finished();
                    return Ok(report);
                }
                ShipMode::Continuous => {
                    tokio::select! {
                        changed = position.changed() => {
                            if changed.is_err() {
                                return Err(closed());
                            }
                            let p = *position.borrow_and_update();
                            if p.failed {
                                return Err(failed());
                            }
                            until = p.durable_lsn;
                        }
                        // An Ack may come while nothing is in flight (one
                        // that repeats the durable LSN after a checkpoint's
                        // fsync, say): it is handled below like any other.
                        m = link.recv(Duration::from_secs(3600), "a message") => idle_msg = Some(m?),
                        _ = tokio::time::sleep(Duration::from_secs(1).saturating_sub(last_status.elapsed())) => {
                            let p = *position.borrow();
                            link.send(&Message::Status { primary_durable_lsn: p.durable_lsn, primary_write_lsn: p.written_lsn, unix_ms: now_unix_ms(), done: false }).await?;
                            last_status = Instant::now();
                        }
                    }
                    if idle_msg.is_none() {
                        continue;
                    }
                }
            }
        }
        // Continuous shipping keeps the pipe full: newly durable records go out
        // while earlier chunks await their acknowledgement (up to the window),
        // rather than queueing behind a round trip and the standby's fsync.
        let msg = if let Some(m) = idle_msg.take() {
            m
        } else if flight.is_empty() {
            continue;
        } else if mode == ShipMode::Continuous {
            tokio::select! {
                m = link.recv(opts.ack_timeout, "an acknowledgement") => m?,
                changed = position.changed() => {
                    if changed.is_err() {
                        return Err(closed());
                    }
                    let p = *position.borrow_and_update();
                    if p.failed {
                        return Err(failed());
                    }
                    until = until.max(p.durable_lsn);
                    continue;
                }
            }
        } else {
            link.recv(opts.ack_timeout, "an acknowledgement").await?
        };
        on_ack(msg, &addr, &mut flight, &mut report, acked, &opts.pace)?;
        if mode == ShipMode::Continuous && flight.is_empty() {
            until = until.max(position.borrow().durable_lsn);
        }
    }
}

/// Chunks sent and not yet acknowledged: `(end_lsn, bytes)` in LSN order.
#[derive(Default)]
struct InFlight {
    chunks: VecDeque<(u64, u64)>,
    bytes: u64,
}

impl InFlight {
    fn push(&mut self, end_lsn: u64, bytes: u64) {
        self.chunks.push_back((end_lsn, bytes));
        self.bytes += bytes;
    }

    fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Forgets the chunks the standby has received up to `received_lsn`.
    fn acked(&mut self, received_lsn: u64) {
        while let Some(&(end, bytes)) = self.chunks.front() {
            if end > received_lsn {
                break;
            }
            self.chunks.pop_front();
            self.bytes -= bytes;
        }
    }
}

/// Takes a standby's answer on a streaming link: an acknowledgement.
fn on_ack(
    msg: Message,
    addr: &str,
    flight: &mut InFlight,
    report: &mut ShipReport,
    acked: &watch::Sender<Acked>,
    pace: &ChunkPace,
) -> Result<(), ShipError> {
    let Message::Ack {
        received_lsn,
        applied_lsn,
    } = msg
    else {
        return Err(ShipError::Protocol {
            addr: addr.to_string(),
            reason: format!("expected Ack, got {}", msg.name()),
        });
    };
    flight.acked(received_lsn);
    pace.acked(received_lsn);
    report.to_lsn = received_lsn;
    acked.send_replace(Acked {
        received_lsn,
        applied_lsn,
        unix_ms: now_unix_ms(),
    });
    Ok(())
}

/// Sends the newest snapshot and returns the LSN the WAL continues from.
async fn seed_standby(src: &LogSource, link: &mut Link, addr: &str) -> Result<u64, ShipError> {
    let needs = |reason: String| ShipError::NeedsSeed {
        addr: addr.to_string(),
        reason,
    };
    let Some(source) = src.seed.clone() else {
        return Err(needs(
            "its position is older than this primary's oldest WAL and no snapshots are available"
                .into(),
        ));
    };
    let seed = tokio::task::spawn_blocking(move || source.latest())
        .await
        .map_err(|e| needs(format!("snapshot task failed: {e}")))?
        .map_err(|e| needs(format!("reading the latest snapshot: {e}")))?
        .ok_or_else(|| needs("no snapshot exists yet".into()))?;
    let segments = list_segments(&*src.fs, &src.wal_dir).map_err(|source| ShipError::Wal {
        addr: addr.to_string(),
        source,
    })?;
    let wal_start = segments
        .iter()
        .rev()
        .find(|s| s.first_lsn <= seed.lsn)
        .map_or(seed.lsn, |s| s.first_lsn);
    if segments.first().is_some_and(|s| s.first_lsn > wal_start) {
        return Err(needs(format!(
            "the WAL after snapshot LSN {:#x} is no longer retained",
            seed.lsn
        )));
    }
    let lsn = seed.lsn;
    tracing::info!(
        standby = addr,
        lsn,
        bytes = seed.total_bytes,
        "seeding standby with snapshot"
    );
    seed::send(&mut link.w, seed, wal_start, src.system_id, src.timeline)
        .await
        .map_err(|source| ShipError::Link {
            addr: addr.to_string(),
            source,
        })?;
    Ok(wal_start)
}
