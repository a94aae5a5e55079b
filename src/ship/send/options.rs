//! What a shipment ships and how: the log it reads ([`LogSource`]), the
//! options of one standby's link ([`ShipOptions`]), and whether it ships once
//! or continuously ([`ShipMode`]).

use super::flight::Reported;
use super::pace::ChunkPace;
use crate::fs::SharedFs;
use crate::ship::protocol::auth::AuthKey;
use crate::ship::protocol::compress::Compression;
use crate::ship::protocol::seed::SeedSource;
use crate::ship::protocol::tls::ShipTls;
use crate::wal::tap::Taps;
use crate::wal::Position;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

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
    /// What the standby says of its own downstreams, kept across reconnects.
    pub downstreams: Arc<Mutex<Reported>>,
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
            downstreams: Arc::default(),
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
