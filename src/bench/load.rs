//! A steady background write load over RESP: SETs at a fixed rate, spread over
//! several connections, for measuring lag "under a load of N writes/s".
//!
//! A load generator that runs flat out (`redis-benchmark`) measures the server
//! at saturation, at whatever rate its pipeline depth and the server's fsync
//! latency allow — a different rate for each server compared. This one holds
//! the rate asked for: each connection owes `rate / connections` SETs per
//! second since the start and sends what it owes as one pipeline (at most
//! [`MAX_PIPELINE`]), then sleeps until the next one is due. A server that
//! cannot keep up shows as an achieved rate below the target.
//!
//! Like `redis-benchmark`, all connections share one thread (an event loop),
//! so the load adds no crowd of threads to the machine it measures.
//! Keys and values are those of `redis-benchmark -t set -r KEYSPACE -d BYTES`:
//! `key:` and a random 12-digit number below the keyspace, a value of `x`s.

use crate::client::ClientError;
use rand::Rng;
use redis::aio::MultiplexedConnection;
use redis::{Client, RedisError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// SETs sent in one pipeline at most, when a connection has fallen behind.
pub const MAX_PIPELINE: u64 = 64;
/// A connection checks for the end of the load at least this often.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// The load to apply.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The server's RESP address (host:port).
    pub addr: String,
    /// SETs per second, over all connections.
    pub rate: u64,
    /// Connections sharing the rate.
    pub connections: usize,
    /// Keys are drawn from this many.
    pub keyspace: u64,
    /// Bytes per value.
    pub value_bytes: usize,
}

/// Why the load could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("load: --load-connections must be at least 1")]
    NoConnections,
    #[error("load: --load-rate must be at least 1 write/s")]
    NoRate,
    #[error("load: connecting: {reason}")]
    Connect { reason: ClientError },
    #[error("load: SET: {reason}")]
    Set { reason: ClientError },
    #[error("load: the load thread cannot be started: {0}")]
    Thread(std::io::Error),
    #[error("load: the load thread stopped unexpectedly")]
    Lost,
}

/// What the load achieved.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct LoadReport {
    pub writes: u64,
    pub seconds: f64,
    pub writes_per_second: f64,
}

/// A running load; [`finish`](Load::finish) stops it.
pub struct Load {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<u64, LoadError>>>,
    started: Instant,
}

impl Load {
    /// Connects every connection, then starts sending.
    ///
    /// # Errors
    /// [`LoadError`] when a connection cannot be made or the thread started.
    pub fn start(opts: &LoadOptions) -> Result<Load, LoadError> {
        if opts.connections == 0 {
            return Err(LoadError::NoConnections);
        }
        if opts.rate == 0 {
            return Err(LoadError::NoRate);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop2, opts2) = (stop.clone(), opts.clone());
        let thread = std::thread::Builder::new()
            .name("load".into())
            .spawn(move || run(&opts2, stop2, ready_tx))
            .map_err(LoadError::Thread)?;
        match ready_rx.recv() {
            Ok(started) => Ok(Load {
                stop,
                thread: Some(thread),
                started,
            }),
            // The thread ended before it was connected: its error says why.
            Err(_) => Err(match thread.join() {
                Ok(Err(e)) => e,
                _ => LoadError::Lost,
            }),
        }
    }

    /// Stops the load and reports what it sent.
    ///
    /// # Errors
    /// The first error a connection met.
    pub fn finish(mut self) -> Result<LoadReport, LoadError> {
        self.stop.store(true, Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64();
        let thread = self.thread.take().ok_or(LoadError::Lost)?;
        let writes = thread.join().map_err(|_| LoadError::Lost)??;
        Ok(LoadReport {
            writes,
            seconds,
            writes_per_second: writes as f64 / seconds,
        })
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The load thread: connects, reports the start on `ready`, then runs every
/// connection's share until `stop`; returns the SETs sent.
fn run(
    opts: &LoadOptions,
    stop: Arc<AtomicBool>,
    ready: std::sync::mpsc::Sender<Instant>,
) -> Result<u64, LoadError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LoadError::Thread)?;
    rt.block_on(async {
        let err = |e: RedisError| LoadError::Connect {
            reason: ClientError::from_redis(&opts.addr, &e),
        };
        let client = Client::open(format!("redis://{}/", opts.addr)).map_err(err)?;
        let mut conns = Vec::new();
        for _ in 0..opts.connections {
            let connect = client.get_multiplexed_tokio_connection();
            let conn = tokio::time::timeout(Duration::from_secs(5), connect)
                .await
                .map_err(|_| {
                    err(RedisError::from(std::io::Error::from(
                        std::io::ErrorKind::TimedOut,
                    )))
                })?
                .map_err(err)?;
            conns.push(conn);
        }
        let started = Instant::now();
        let _ = ready.send(started);
        let per_conn = opts.rate as f64 / opts.connections as f64;
        let mut tasks = tokio::task::JoinSet::new();
        for conn in conns {
            let (opts, stop) = (opts.clone(), stop.clone());
            tasks.spawn(async move { send(conn, &opts, per_conn, started, &stop).await });
        }
        let mut sent = 0;
        while let Some(r) = tasks.join_next().await {
            sent += r.map_err(|_| LoadError::Lost)??;
        }
        Ok(sent)
    })
}

/// One connection's share: `per_second` SETs a second since `started`.
async fn send(
    mut conn: MultiplexedConnection,
    opts: &LoadOptions,
    per_second: f64,
    started: Instant,
    stop: &AtomicBool,
) -> Result<u64, LoadError> {
    let value = vec![b'x'; opts.value_bytes];
    let mut sent: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let owed = (started.elapsed().as_secs_f64() * per_second) as u64;
        let n = owed.saturating_sub(sent).min(MAX_PIPELINE);
        if n == 0 {
            // Sleep until the next SET is due.
            let due = Duration::from_secs_f64((sent + 1) as f64 / per_second);
            tokio::time::sleep(due.saturating_sub(started.elapsed()).min(MAX_SLEEP)).await;
            continue;
        }
        let mut pipe = redis::pipe();
        {
            let mut rng = rand::thread_rng();
            for _ in 0..n {
                let key = format!("key:{:012}", rng.gen_range(0..opts.keyspace.max(1)));
                pipe.cmd("SET").arg(key).arg(&value).ignore();
            }
        }
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| LoadError::Set {
                reason: ClientError::from_redis(&opts.addr, &e),
            })?;
        sent += n;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_connections_is_an_error_not_a_division_by_zero() {
        let e = Load::start(&LoadOptions {
            addr: "127.0.0.1:1".into(),
            rate: 1000,
            connections: 0,
            keyspace: 10,
            value_bytes: 1,
        })
        .err()
        .expect("refused");
        assert!(matches!(e, LoadError::NoConnections));
    }

    #[test]
    fn a_zero_rate_is_an_error_not_an_endless_sleep() {
        let e = Load::start(&LoadOptions {
            addr: "127.0.0.1:1".into(),
            rate: 0,
            connections: 1,
            keyspace: 10,
            value_bytes: 1,
        })
        .err()
        .expect("refused");
        assert!(matches!(e, LoadError::NoRate));
    }
}
