//! `logship bench lag`: replication lag as a client sees it — from the
//! acknowledgement of a write on the primary to the value being readable on a
//! standby, or on each of several. It speaks only RESP, so it measures Redis
//! replication the same way.
//!
//! Each sample SETs a unique key to a unique value on the primary (the reply
//! means durable, with `--fsync always`), then GETs it on every standby in a
//! tight loop (a thread per standby) until the value appears; the delay from
//! the SET's reply to the matching GET reply is that standby's sample, and the
//! longest of them the sample of the whole set (readable everywhere). Samples are taken one after another, optionally
//! under a steady background write load on the primary ([`super::load`]),
//! which starts [`LOAD_WARMUP`] before the first sample.

use super::load::{Load, LoadError, LoadOptions, LoadReport};
use crate::client::ClientError;
use redis::{Client, Connection};
use std::time::{Duration, Instant};

/// How long the background load runs before the first sample.
pub const LOAD_WARMUP: Duration = Duration::from_millis(500);

/// What to run.
#[derive(Debug, Clone)]
pub struct LagBenchOptions {
    /// The primary's RESP address (host:port).
    pub primary: String,
    /// The standbys' (or replicas') RESP addresses (host:port); at least one.
    pub standbys: Vec<String>,
    /// Stop after this many samples.
    pub samples: u64,
    /// Stop after this long even if fewer samples were taken.
    pub duration: Duration,
    /// Give up on one sample (and the run) if the value is not readable by then.
    pub sample_timeout: Duration,
    /// A background write load on the primary while sampling.
    pub load: Option<LoadOptions>,
}

/// One standby's lag (microseconds).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StandbyLag {
    pub address: String,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

/// What it measured (microseconds). The percentiles at the top are of each
/// sample's slowest standby (with one standby, of that standby).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LagBenchReport {
    pub samples: u64,
    pub elapsed_seconds: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    /// GETs sent to the standby per sample, on average.
    pub polls_per_sample: f64,
    /// One GET round trip to the standby (of a key never set), timed before
    /// each sample: no sample can be shorter than the GET that reads the value,
    /// so this is the floor of the lag on this machine under this load.
    pub get_rtt_p50_us: f64,
    pub get_rtt_p99_us: f64,
    /// What the background load achieved (over its warm-up and the samples).
    pub load: Option<LoadReport>,
    /// Each standby's own percentiles, in the order given.
    pub standbys: Vec<StandbyLag>,
}

/// Why the run stopped.
#[derive(Debug, thiserror::Error)]
pub enum LagBenchError {
    #[error("bench lag: --samples must be at least 1")]
    NoSamples,
    #[error("bench lag: give at least one --standby")]
    NoStandby,
    #[error("bench lag: connect to the {role}: {reason}")]
    Connect {
        role: &'static str,
        reason: ClientError,
    },
    #[error("bench lag: {op} on the {role}: {reason}")]
    Command {
        op: &'static str,
        role: &'static str,
        reason: ClientError,
    },
    #[error("bench lag: key {key} did not become readable on the standby at {addr} within {timeout_ms} ms")]
    Timeout {
        key: String,
        addr: String,
        timeout_ms: u128,
    },
    #[error("bench lag: a standby's polling thread stopped")]
    PollerGone,
    #[error("bench lag: background {0}")]
    Load(#[from] LoadError),
}

fn connect(role: &'static str, addr: &str) -> Result<Connection, LagBenchError> {
    let err = |e| LagBenchError::Connect {
        role,
        reason: ClientError::from_redis(addr, &e),
    };
    let client = Client::open(format!("redis://{addr}/")).map_err(err)?;
    let conn = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .map_err(err)?;
    Ok(conn)
}

/// Runs the benchmark.
///
/// # Errors
/// [`LagBenchError`] when a side cannot be reached, a command fails, or a value
/// never shows up on the standby within `sample_timeout`.
pub fn run(opts: &LagBenchOptions) -> Result<LagBenchReport, LagBenchError> {
    if opts.samples == 0 {
        return Err(LagBenchError::NoSamples);
    }
    let Some(first) = opts.standbys.first() else {
        return Err(LagBenchError::NoStandby);
    };
    let mut primary = connect("primary", &opts.primary)?;
    // The GET round trip is timed on a connection of its own to the first.
    let mut probe = connect("standby", first)?;
    let pollers = opts
        .standbys
        .iter()
        .map(|a| Poller::start(a, opts.sample_timeout))
        .collect::<Result<Vec<_>, _>>()?;
    let load = match &opts.load {
        Some(l) => {
            let load = Load::start(l)?;
            std::thread::sleep(LOAD_WARMUP);
            Some(load)
        }
        None => None,
    };
    let run_id = rand::random::<u32>();
    let cap = usize::try_from(opts.samples.min(10_000_000)).unwrap_or(10_000_000);
    let mut lags_us: Vec<f64> = Vec::with_capacity(cap);
    let mut each_us: Vec<Vec<f64>> = vec![Vec::with_capacity(cap); pollers.len()];
    let mut rtts_us: Vec<f64> = Vec::with_capacity(cap);
    let absent = format!("lag:{run_id:08x}:absent");
    let mut polls: u64 = 0;
    let started = Instant::now();
    for i in 0..opts.samples {
        if started.elapsed() >= opts.duration {
            break;
        }
        let key = format!("lag:{run_id:08x}:{i}");
        let value = format!("{run_id:08x}-{i}");
        let t = Instant::now();
        get(&mut probe, &absent, first)?;
        rtts_us.push(t.elapsed().as_secs_f64() * 1e6);
        redis::cmd("SET")
            .arg(&key)
            .arg(&value)
            .query::<()>(&mut primary)
            .map_err(|e| LagBenchError::Command {
                op: "SET",
                role: "primary",
                reason: ClientError::from_redis(&opts.primary, &e),
            })?;
        let acked = Instant::now();
        for p in &pollers {
            p.ask(&key, &value, acked);
        }
        let mut slowest = 0f64;
        for (p, mine) in pollers.iter().zip(each_us.iter_mut()) {
            let (lag, n) = p.answer()?;
            polls += n;
            mine.push(lag);
            slowest = slowest.max(lag);
        }
        lags_us.push(slowest);
    }
    let elapsed_seconds = started.elapsed().as_secs_f64();
    drop(pollers);
    let load = load.map(Load::finish).transpose()?;
    rtts_us.sort_by(f64::total_cmp);
    let standbys = opts
        .standbys
        .iter()
        .zip(each_us)
        .map(|(a, v)| {
            let r = summarize(v, 0, 0.0);
            StandbyLag {
                address: a.clone(),
                p50_us: r.p50_us,
                p90_us: r.p90_us,
                p99_us: r.p99_us,
                max_us: r.max_us,
                mean_us: r.mean_us,
            }
        })
        .collect();
    let per_standby_polls = polls / opts.standbys.len() as u64;
    Ok(LagBenchReport {
        load,
        get_rtt_p50_us: percentile(&rtts_us, 50.0),
        get_rtt_p99_us: percentile(&rtts_us, 99.0),
        standbys,
        ..summarize(lags_us, per_standby_polls, elapsed_seconds)
    })
}

/// A thread that GETs one sample's key on one standby until its value
/// appears, and answers how long after the SET's reply it did.
struct Poller {
    ask: Option<std::sync::mpsc::SyncSender<(String, String, Instant)>>,
    answer: std::sync::mpsc::Receiver<Result<(f64, u64), LagBenchError>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Poller {
    fn start(addr: &str, timeout: Duration) -> Result<Poller, LagBenchError> {
        let mut conn = connect("standby", addr)?;
        let (ask, asked) = std::sync::mpsc::sync_channel::<(String, String, Instant)>(1);
        let (tell, answer) = std::sync::mpsc::sync_channel(1);
        let addr = addr.to_string();
        let thread = std::thread::spawn(move || {
            for (key, value, acked) in asked {
                let r = poll(&mut conn, &addr, &key, &value, acked, timeout);
                if tell.send(r).is_err() {
                    return;
                }
            }
        });
        Ok(Poller {
            ask: Some(ask),
            answer,
            thread: Some(thread),
        })
    }

    fn ask(&self, key: &str, value: &str, acked: Instant) {
        if let Some(a) = &self.ask {
            let _ = a.send((key.to_string(), value.to_string(), acked));
        }
    }

    /// The lag (us) and the GETs it took; an error when the thread is gone.
    fn answer(&self) -> Result<(f64, u64), LagBenchError> {
        self.answer.recv().unwrap_or(Err(LagBenchError::PollerGone))
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.ask.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// GETs `key` on one standby until it reads `value`.
fn poll(
    standby: &mut Connection,
    addr: &str,
    key: &str,
    value: &str,
    acked: Instant,
    timeout: Duration,
) -> Result<(f64, u64), LagBenchError> {
    let mut polls = 0;
    loop {
        polls += 1;
        let got = get(standby, key, addr)?;
        if got.as_deref() == Some(value) {
            return Ok((acked.elapsed().as_secs_f64() * 1e6, polls));
        }
        if acked.elapsed() > timeout {
            return Err(LagBenchError::Timeout {
                key: key.to_string(),
                addr: addr.to_string(),
                timeout_ms: timeout.as_millis(),
            });
        }
    }
}

/// The `p`th percentile (nearest rank) of `sorted`; 0 when empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// Percentiles of the lag samples.
fn summarize(mut lags_us: Vec<f64>, polls: u64, elapsed_seconds: f64) -> LagBenchReport {
    lags_us.sort_by(f64::total_cmp);
    let n = lags_us.len();
    LagBenchReport {
        samples: n as u64,
        elapsed_seconds,
        p50_us: percentile(&lags_us, 50.0),
        p90_us: percentile(&lags_us, 90.0),
        p99_us: percentile(&lags_us, 99.0),
        max_us: lags_us.last().copied().unwrap_or(0.0),
        mean_us: if n == 0 {
            0.0
        } else {
            lags_us.iter().sum::<f64>() / n as f64
        },
        polls_per_sample: if n == 0 { 0.0 } else { polls as f64 / n as f64 },
        get_rtt_p50_us: 0.0,
        get_rtt_p99_us: 0.0,
        load: None,
        standbys: Vec::new(),
    }
}

/// GET `key` on the standby.
fn get(standby: &mut Connection, key: &str, addr: &str) -> Result<Option<String>, LagBenchError> {
    redis::cmd("GET")
        .arg(key)
        .query(standby)
        .map_err(|e| LagBenchError::Command {
            op: "GET",
            role: "standby",
            reason: ClientError::from_redis(addr, &e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let lags: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let r = summarize(lags, 250, 1.0);
        assert_eq!(r.samples, 100);
        assert_eq!(r.p50_us, 50.0);
        assert_eq!(r.p90_us, 90.0);
        assert_eq!(r.p99_us, 99.0);
        assert_eq!(r.max_us, 100.0);
        assert_eq!(r.mean_us, 50.5);
        assert_eq!(r.polls_per_sample, 2.5);
    }

    #[test]
    fn zero_samples_is_an_error_not_a_panic() {
        let e = run(&LagBenchOptions {
            primary: "127.0.0.1:1".into(),
            standbys: vec!["127.0.0.1:1".into()],
            samples: 0,
            duration: Duration::from_secs(1),
            sample_timeout: Duration::from_secs(1),
            load: None,
        })
        .unwrap_err();
        assert!(matches!(e, LagBenchError::NoSamples));
    }
}
