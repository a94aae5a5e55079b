//! A TCP fault proxy for testing the ship link (a testing aid, not part of a
//! deployment): it forwards connections from a listening address to a target
//! and, driven by a seeded random generator, drops connections, delays frames,
//! splits them into small writes, duplicates chunk frames, cuts the stream at
//! random byte offsets and throttles bandwidth.
//!
//! The proxy understands the ship protocol's frame boundary (a `u32` LE length,
//! then the type byte and the body; see [`crate::ship::protocol::frame`]), so it can
//! duplicate exactly one whole frame. A length over
//! [`MAX_FRAME_BYTES`](crate::ship::protocol::frame::MAX_FRAME_BYTES) (another protocol)
//! switches that direction to plain forwarding in pieces.
//!
//! Used by `tests/net_faults.rs` and, through the hidden `logship fault-proxy`
//! command, by `tools/soak.sh`.

use crate::ship::protocol::codes::MessageKind;
use crate::ship::protocol::frame::MAX_FRAME_BYTES;
use crate::ship::send::pace::RateCap;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// Type byte of a ship `Chunk` frame: the frame [`Fault::Duplicate`] repeats.
const CHUNK_FRAME_TYPE: u8 = MessageKind::Chunk as u8;
/// Largest piece forwarded in one write when splitting or passing through.
const PIECE_MAX_BYTES: usize = 64 << 10;
/// Pieces in flight on a far link ([`Fault::Latency`]) at most.
const LATENCY_QUEUE: usize = 4096;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Close the connection (both ways) after a random time.
    Drop,
    /// Hold some frames back for a random time before forwarding them.
    Delay,
    /// Write each frame in random small pieces (odd chunk boundaries).
    Split,
    /// Send some chunk frames (primary to standby) twice.
    Duplicate,
    /// Cut the stream at a random byte offset, mid-frame, and close.
    Cut,
    /// Forward at most [`FaultConfig::throttle_bytes_per_sec`].
    Throttle,
    /// Hold every piece [`FaultConfig::latency_ms`] before forwarding it,
    /// both ways, without holding up the pieces behind it (a far link).
    Latency,
}

impl Fault {
    /// Every fault kind.
    pub const ALL: [Fault; 7] = [
        Fault::Drop,
        Fault::Delay,
        Fault::Split,
        Fault::Duplicate,
        Fault::Cut,
        Fault::Throttle,
        Fault::Latency,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Drop => "drop",
            Fault::Delay => "delay",
            Fault::Split => "split",
            Fault::Duplicate => "duplicate",
            Fault::Cut => "cut",
            Fault::Throttle => "throttle",
            Fault::Latency => "latency",
        }
    }

    /// Parses a comma-separated list (`cut,delay`); `none` is the empty list.
    ///
    /// # Errors
    /// [`UnknownFault`] naming the first name that is not a fault.
    pub fn parse_list(s: &str) -> Result<Vec<Fault>, UnknownFault> {
        if s.trim() == "none" {
            return Ok(Vec::new());
        }
        s.split(',')
            .map(str::trim)
            .map(|n| {
                Fault::ALL
                    .into_iter()
                    .find(|f| f.name() == n)
                    .ok_or_else(|| UnknownFault(n.to_string()))
            })
            .collect()
    }
}

/// A name in `--faults` that is not a fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a fault (drop, delay, split, duplicate, cut, throttle, latency, none)")]
pub struct UnknownFault(pub String);

/// What the proxy injects and how hard.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    /// Seed of every random choice (each connection derives its own generator).
    pub seed: u64,
    /// The faults in force.
    pub faults: Vec<Fault>,
    /// Longest delay of one frame.
    pub delay_max_ms: u64,
    /// Share of frames delayed, in thousandths.
    pub delay_per_mille: u32,
    /// Largest piece when splitting.
    pub split_max_bytes: usize,
    /// Share of chunk frames sent twice, in thousandths.
    pub duplicate_per_mille: u32,
    /// A cut happens within this many bytes of a connection's start...
    pub cut_within_bytes: u64,
    /// ...and no sooner than this many.
    pub cut_min_bytes: u64,
    /// Cut the stream from the target to the connecting side rather than the
    /// other way (a Redis replica connects to the master it pulls from).
    pub cut_toward_client: bool,
    /// A drop happens within this long after a connection starts.
    pub drop_within_ms: u64,
    /// Bandwidth limit of each direction with [`Fault::Throttle`].
    pub throttle_bytes_per_sec: u64,
    /// One-way delay of every piece with [`Fault::Latency`].
    pub latency_ms: u64,
}

impl FaultConfig {
    /// Moderate settings for `faults`: a test link stays usable but sees every
    /// fault many times a minute.
    pub fn new(seed: u64, faults: Vec<Fault>) -> FaultConfig {
        FaultConfig {
            seed,
            faults,
            delay_max_ms: 30,
            delay_per_mille: 200,
            split_max_bytes: 97,
            duplicate_per_mille: 150,
            cut_within_bytes: 256 << 10,
            cut_min_bytes: 1,
            cut_toward_client: false,
            drop_within_ms: 1500,
            throttle_bytes_per_sec: 512 << 10,
            latency_ms: 50,
        }
    }

    fn has(&self, f: Fault) -> bool {
        self.faults.contains(&f)
    }
}

/// Counters of what the proxy did (shared, updated live).
#[derive(Debug, Default)]
pub struct FaultStats {
    pub connections: AtomicU64,
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    /// Of `bytes`, those forwarded from the connecting side to the target
    /// (a primary's chunks to its standby).
    pub bytes_down: AtomicU64,
    pub drops: AtomicU64,
    pub delays: AtomicU64,
    pub splits: AtomicU64,
    pub duplicates: AtomicU64,
    pub cuts: AtomicU64,
}

impl FaultStats {
    /// One line: `connections=N frames=N bytes=N bytes_down=N drops=N ...`.
    pub fn summary(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "connections={} frames={} bytes={} bytes_down={} drops={} delays={} splits={} duplicates={} cuts={}",
            g(&self.connections),
            g(&self.frames),
            g(&self.bytes),
            g(&self.bytes_down),
            g(&self.drops),
            g(&self.delays),
            g(&self.splits),
            g(&self.duplicates),
            g(&self.cuts)
        )
    }
}

/// Accepts connections on `listener` forever, forwarding each to `target`
/// with the faults of `cfg`; `stats` counts what was done.
///
/// # Errors
/// Only a failing `accept` (the listener itself broke).
pub async fn serve(
    listener: TcpListener,
    target: String,
    cfg: FaultConfig,
    stats: Arc<FaultStats>,
) -> std::io::Result<()> {
    let cfg = Arc::new(cfg);
    let mut index = 0u64;
    loop {
        let (inbound, _) = listener.accept().await?;
        index += 1;
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let (cfg, stats, target) = (cfg.clone(), stats.clone(), target.clone());
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(&target).await else {
                tracing::debug!(target = %target, "fault proxy: target refused");
                return;
            };
            connection(inbound, outbound, &cfg, &stats, index).await;
        });
    }
}

/// Forwards one connection both ways until either side closes or a fault ends it.
async fn connection(
    inbound: TcpStream,
    outbound: TcpStream,
    cfg: &FaultConfig,
    stats: &FaultStats,
    index: u64,
) {
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let (ir, iw) = inbound.into_split();
    let (or, ow) = outbound.into_split();
    // Only one direction may be cut, at one offset: the one carrying chunks
    // (from a connecting primary to its standby; from the target to the
    // connecting side when the receiver is the one that connects).
    let cut_at = cfg.has(Fault::Cut).then(|| {
        let most = cfg.cut_within_bytes.max(1);
        rng.gen_range(cfg.cut_min_bytes.clamp(1, most)..=most)
    });
    let drop_after = cfg
        .has(Fault::Drop)
        .then(|| Duration::from_millis(rng.gen_range(1..=cfg.drop_within_ms.max(1))));
    let down = Pump {
        cfg,
        stats,
        rng: StdRng::seed_from_u64(rng.gen()),
        cut_at: cut_at.filter(|_| !cfg.cut_toward_client),
        duplicate: true,
        down: true,
    };
    let up = Pump {
        cfg,
        stats,
        rng: StdRng::seed_from_u64(rng.gen()),
        cut_at: cut_at.filter(|_| cfg.cut_toward_client),
        duplicate: false,
        down: false,
    };
    let both = async {
        tokio::select! {
            _ = down.run(ir, ow) => {}
            _ = up.run(or, iw) => {}
        }
    };
    match drop_after {
        Some(d) => {
            if tokio::time::timeout(d, both).await.is_err() {
                stats.drops.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    connection = index,
                    after_ms = d.as_millis() as u64,
                    "fault proxy: dropped the connection"
                );
            }
        }
        None => both.await,
    }
    // Dropping the halves closes both sockets.
}

/// One direction of a connection.
struct Pump<'a> {
    cfg: &'a FaultConfig,
    stats: &'a FaultStats,
    rng: StdRng,
    /// Close after forwarding exactly this many bytes.
    cut_at: Option<u64>,
    /// Whether chunk frames in this direction may be duplicated.
    duplicate: bool,
    /// Whether this is the direction from the connecting side to the target.
    down: bool,
}

impl Pump<'_> {
    /// Forwards frames until the reader closes, a write fails, or the cut.
    async fn run(mut self, mut r: OwnedReadHalf, mut w: OwnedWriteHalf) {
        let mut sent = 0u64;
        let mut window = RateCap::new(self.cfg.throttle_bytes_per_sec);
        if !self.cfg.has(Fault::Latency) {
            while let Some(frame) = read_frame_or_piece(&mut r).await {
                if !self.forward(frame, &mut w, &mut window, &mut sent).await {
                    return;
                }
            }
            return;
        }
        // A far link: every piece waits its latency from when it was read,
        // while the reading goes on (the pieces queue, as in flight).
        let latency = Duration::from_millis(self.cfg.latency_ms);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(Instant, Vec<u8>)>(LATENCY_QUEUE);
        let reading = tokio::spawn(async move {
            while let Some(frame) = read_frame_or_piece(&mut r).await {
                if tx.send((Instant::now(), frame)).await.is_err() {
                    return;
                }
            }
        });
        while let Some((read_at, frame)) = rx.recv().await {
            tokio::time::sleep_until((read_at + latency).into()).await;
            if !self.forward(frame, &mut w, &mut window, &mut sent).await {
                break;
            }
        }
        reading.abort();
    }

    /// Forwards one frame with the faults in force; false once the
    /// connection is over (a failed write or the cut).
    async fn forward(
        &mut self,
        frame: Vec<u8>,
        w: &mut OwnedWriteHalf,
        window: &mut RateCap,
        sent: &mut u64,
    ) -> bool {
        self.stats.frames.fetch_add(1, Ordering::Relaxed);
        if self.cfg.has(Fault::Delay) && self.rng.gen_range(0..1000) < self.cfg.delay_per_mille {
            self.stats.delays.fetch_add(1, Ordering::Relaxed);
            let ms = self.rng.gen_range(1..=self.cfg.delay_max_ms.max(1));
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let copies = if self.duplicate
            && self.cfg.has(Fault::Duplicate)
            && frame.len() > 4
            && frame[4] == CHUNK_FRAME_TYPE
            && self.rng.gen_range(0..1000) < self.cfg.duplicate_per_mille
        {
            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            tracing::info!("fault proxy: duplicated a chunk frame");
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut at = 0;
            while at < frame.len() {
                let piece = if self.cfg.has(Fault::Split) {
                    self.rng.gen_range(1..=self.cfg.split_max_bytes.max(1))
                } else {
                    PIECE_MAX_BYTES
                };
                let mut end = (at + piece).min(frame.len());
                let mut cut_now = false;
                if let Some(c) = self.cut_at {
                    if *sent + (end - at) as u64 >= c {
                        end = at + (c - *sent) as usize;
                        cut_now = true;
                    }
                }
                if self.cfg.has(Fault::Throttle) {
                    window.take(end - at).await;
                }
                if w.write_all(&frame[at..end]).await.is_err() {
                    return false;
                }
                *sent += (end - at) as u64;
                self.stats
                    .bytes
                    .fetch_add((end - at) as u64, Ordering::Relaxed);
                if self.down {
                    self.stats
                        .bytes_down
                        .fetch_add((end - at) as u64, Ordering::Relaxed);
                }
                if cut_now {
                    self.stats.cuts.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(offset = *sent, "fault proxy: cut the stream");
                    let _ = w.shutdown().await;
                    return false;
                }
                if self.cfg.has(Fault::Split) && end < frame.len() {
                    let _ = w.flush().await;
                    tokio::task::yield_now().await;
                }
                at = end;
            }
            if self.cfg.has(Fault::Split) && frame.len() > self.cfg.split_max_bytes {
                self.stats.splits.fetch_add(1, Ordering::Relaxed);
            }
        }
        true
    }
}

/// Reads one whole frame (length prefix included), or, when the length is not
/// a ship frame's, whatever bytes are available. `None` at the end of input.
async fn read_frame_or_piece(r: &mut OwnedReadHalf) -> Option<Vec<u8>> {
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut head[got..]).await {
            Ok(0) | Err(_) => {
                return (got > 0).then(|| head[..got].to_vec());
            }
            Ok(n) => got += n,
        }
    }
    let len = u32::from_le_bytes(head) as usize;
    let mut frame = head.to_vec();
    if len == 0 || len > MAX_FRAME_BYTES {
        // Not a ship frame: forward what arrives.
        let mut buf = vec![0u8; PIECE_MAX_BYTES];
        if let Ok(n) = r.read(&mut buf).await {
            frame.extend_from_slice(&buf[..n]);
        }
        return Some(frame);
    }
    frame.resize(4 + len, 0);
    let mut at = 4;
    while at < frame.len() {
        match r.read(&mut frame[at..]).await {
            Ok(0) | Err(_) => {
                frame.truncate(at);
                return Some(frame);
            }
            Ok(n) => at += n,
        }
    }
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_lists_parse_and_refuse_unknown_names() {
        assert_eq!(
            Fault::parse_list("cut,delay").unwrap(),
            vec![Fault::Cut, Fault::Delay]
        );
        assert!(Fault::parse_list("none").unwrap().is_empty());
        let e = Fault::parse_list("cut,flood").unwrap_err().to_string();
        assert!(e.contains("'flood'"), "{e}");
    }

    #[tokio::test]
    async fn a_duplicated_chunk_frame_arrives_twice_and_whole() {
        let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let taddr = target.local_addr().unwrap().to_string();
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let paddr = proxy.local_addr().unwrap();
        let mut cfg = FaultConfig::new(1, vec![Fault::Duplicate, Fault::Split]);
        cfg.duplicate_per_mille = 1000;
        let stats = Arc::new(FaultStats::default());
        tokio::spawn(serve(proxy, taddr, cfg, stats.clone()));
        let mut c = TcpStream::connect(paddr).await.unwrap();
        let (mut s, _) = target.accept().await.unwrap();
        let mut frame = 6u32.to_le_bytes().to_vec();
        frame.push(CHUNK_FRAME_TYPE);
        frame.extend_from_slice(b"hello");
        let mut other = 3u32.to_le_bytes().to_vec();
        other.extend_from_slice(&[1, 9, 9]);
        c.write_all(&frame).await.unwrap();
        c.write_all(&other).await.unwrap();
        let mut got = vec![0u8; frame.len() * 2 + other.len()];
        s.read_exact(&mut got).await.unwrap();
        let want = [frame.clone(), frame, other].concat();
        assert_eq!(got, want);
        assert_eq!(stats.duplicates.load(Ordering::Relaxed), 1);
    }
}
