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
//! Keys and values are those of `redis-benchmark -t set -r KEYSPACE -d BYTES`:
//! `key:` and a random 12-digit number below the keyspace, a value of `x`s.

use rand::Rng;
use redis::{Client, Connection, RedisError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// SETs sent in one pipeline at most, when a connection has fallen behind.
pub const MAX_PIPELINE: u64 = 64;

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
    #[error("load: connect to {addr}: {source}")]
    Connect { addr: String, source: RedisError },
    #[error("load: SET on {addr}: {source}")]
    Set { addr: String, source: RedisError },
    #[error("load: a load thread cannot be started: {0}")]
    Thread(std::io::Error),
    #[error("load: a load thread panicked")]
    Panicked,
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
    threads: Vec<JoinHandle<Result<u64, LoadError>>>,
    started: Instant,
}

fn connect(addr: &str) -> Result<Connection, LoadError> {
    let err = |source| LoadError::Connect {
        addr: addr.to_string(),
        source,
    };
    Client::open(format!("redis://{addr}/"))
        .map_err(err)?
        .get_connection_with_timeout(Duration::from_secs(5))
        .map_err(err)
}

impl Load {
    /// Connects every connection, then starts sending.
    ///
    /// # Errors
    /// [`LoadError`] when a connection cannot be made or a thread started.
    pub fn start(opts: &LoadOptions) -> Result<Load, LoadError> {
        if opts.connections == 0 {
            return Err(LoadError::NoConnections);
        }
        if opts.rate == 0 {
            return Err(LoadError::NoRate);
        }
        let conns = (0..opts.connections)
            .map(|_| connect(&opts.addr))
            .collect::<Result<Vec<_>, _>>()?;
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let per_conn = opts.rate as f64 / opts.connections as f64;
        let mut threads = Vec::new();
        for (i, conn) in conns.into_iter().enumerate() {
            let (stop2, opts2) = (stop.clone(), opts.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("load-{i}"))
                .spawn(move || send(conn, &opts2, per_conn, started, &stop2));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(LoadError::Thread(e));
                }
            }
        }
        Ok(Load {
            stop,
            threads,
            started,
        })
    }

    /// Stops the load and reports what it sent.
    ///
    /// # Errors
    /// The first error a connection met.
    pub fn finish(mut self) -> Result<LoadReport, LoadError> {
        self.stop.store(true, Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64();
        let mut writes = 0;
        let mut first_err = None;
        for t in std::mem::take(&mut self.threads) {
            match t.join() {
                Ok(Ok(n)) => writes += n,
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(LoadError::Panicked);
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
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

/// One connection's share: `per_second` SETs a second since `started`.
fn send(
    mut conn: Connection,
    opts: &LoadOptions,
    per_second: f64,
    started: Instant,
    stop: &AtomicBool,
) -> Result<u64, LoadError> {
    let value = vec![b'x'; opts.value_bytes];
    let mut rng = rand::thread_rng();
    let mut sent: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let owed = (started.elapsed().as_secs_f64() * per_second) as u64;
        let n = owed.saturating_sub(sent).min(MAX_PIPELINE);
        if n == 0 {
            // Sleep until the next SET is due.
            let due = Duration::from_secs_f64((sent + 1) as f64 / per_second);
            std::thread::sleep(due.saturating_sub(started.elapsed()));
            continue;
        }
        let mut pipe = redis::pipe();
        for _ in 0..n {
            let key = format!("key:{:012}", rng.gen_range(0..opts.keyspace.max(1)));
            pipe.cmd("SET").arg(key).arg(&value).ignore();
        }
        pipe.query::<()>(&mut conn)
            .map_err(|source| LoadError::Set {
                addr: opts.addr.clone(),
                source,
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
