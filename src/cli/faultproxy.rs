//! `logship fault-proxy` (hidden): the TCP fault proxy of [`crate::faultproxy`],
//! for tests, soak runs and benchmarks. Prints `logship fault-proxy listening
//! on ADDR` first, a summary of the injected faults every 10 seconds on
//! stderr, and the totals on stdout when SIGTERM or SIGINT stops it.

use super::parse;
use crate::faultproxy::{serve, Fault, FaultConfig, FaultStats};
use anyhow::Context;
use clap::Args;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// How often the counters are logged.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);

/// Arguments of `fault-proxy`.
#[derive(Debug, Args)]
pub struct FaultProxyArgs {
    /// Address to accept connections on (port 0 picks a free port; it is printed).
    #[arg(long)]
    pub listen: String,
    /// Where each connection is forwarded.
    #[arg(long)]
    pub to: String,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Faults to inject, comma-separated: drop, delay, split, duplicate, cut,
    /// throttle, latency, or none.
    #[arg(long, default_value = "none", value_parser = Fault::parse_list)]
    pub faults: std::vec::Vec<Fault>,
    /// Bandwidth of each direction with the throttle fault (e.g. 256KiB).
    #[arg(long, default_value = "512KiB", value_parser = parse::size)]
    pub throttle_per_sec: u64,
    /// A drop happens within this long after a connection starts.
    #[arg(long, default_value = "1500ms", value_parser = parse::duration)]
    pub drop_within: Duration,
    /// With the cut fault, the stream carrying chunks is cut at a random byte
    /// offset within this many bytes of each connection.
    #[arg(long, default_value = "256KiB", value_parser = parse::size)]
    pub cut_within: u64,
    /// With the cut fault, no cut comes sooner than this many bytes.
    #[arg(long, default_value = "1", value_parser = parse::size)]
    pub cut_min: u64,
    /// With the cut fault, cut the stream from the target to the connecting
    /// side instead (for a receiver that connects, such as a Redis replica).
    #[arg(long)]
    pub cut_toward_client: bool,
    /// With the latency fault, how long every piece is held, each way.
    #[arg(long, default_value = "50ms", value_parser = parse::duration)]
    pub latency: Duration,
}

pub fn run(a: FaultProxyArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = FaultConfig::new(a.seed, a.faults);
    cfg.throttle_bytes_per_sec = a.throttle_per_sec.max(1);
    cfg.drop_within_ms = (a.drop_within.as_millis() as u64).max(1);
    cfg.cut_within_bytes = a.cut_within.max(1);
    if a.cut_min > cfg.cut_within_bytes {
        anyhow::bail!(
            "--cut-min {} is more than --cut-within {}",
            a.cut_min,
            cfg.cut_within_bytes
        );
    }
    cfg.cut_min_bytes = a.cut_min.max(1);
    cfg.cut_toward_client = a.cut_toward_client;
    cfg.latency_ms = a.latency.as_millis() as u64;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&a.listen)
            .await
            .with_context(|| format!("listen on {}", a.listen))?;
        let addr = listener.local_addr().context("read the bound address")?;
        crate::say!("logship fault-proxy listening on {addr} (to {})", a.to);
        let names: Vec<&str> = cfg.faults.iter().map(|f| f.name()).collect();
        tracing::info!(seed = cfg.seed, faults = %names.join(","), "fault proxy started");
        let stats = Arc::new(FaultStats::default());
        let report = stats.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SUMMARY_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                tracing::info!(summary = %report.summary(), "fault proxy");
            }
        });
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("install the SIGTERM handler")?;
        let last = stats.clone();
        tokio::select! {
            r = serve(listener, a.to, cfg, stats) => r.context("accept a connection")?,
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        // The totals, for a benchmark that stops the proxy when it is done.
        crate::say!("logship fault-proxy stopped: {}", last.summary());
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
