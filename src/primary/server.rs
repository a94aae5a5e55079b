//! Start-up, the accept loop, signals and clean shutdown.

use super::checkpoint::{self, CheckpointStatus};
use super::db::State;
use super::recovery::{self, Recovered};
use super::shipping::Shipping;
use super::{admin_cmds, conn, expire, PrimaryConfig, RuntimeKind, Shared};
use crate::node::control::{Control, Role};
use crate::node::datadir::DataDir;
use crate::wal::writer::MAX_RECORD_BYTES_LIMIT;
use anyhow::Context;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Longest wait at shutdown for standbys to receive the last of the log.
const FINAL_SHIPMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A fenced primary stopped: it ended cleanly, but it is out of service
/// until it is rejoined as a standby (exit status 4, like a refused start).
#[derive(Debug, thiserror::Error)]
#[error("{path}: stopped while fenced: {}; it will not accept writes again. Rejoin it as a standby of the new primary: `logship rejoin --data-dir {path} --from NEW_PRIMARY`", fence.describe())]
pub struct StoppedFenced {
    pub path: std::path::PathBuf,
    pub fence: Box<crate::node::control::Fence>,
    /// The RESP address of the node promoted in its place, when the
    /// [`FencedWatch`](super::FencedWatch) found it: the server stopped to
    /// rejoin it.
    pub rejoin_from: Option<String>,
}

/// Why the server stopped.
enum Stop {
    Signal(&'static str),
    WalFailed,
    /// Fenced, and the node promoted in its place serves at this address.
    Rejoin(String),
}

/// Waits until the primary is fenced and its [`FencedWatch`](super::FencedWatch)
/// names the node promoted in its place; never without a watch.
async fn promoted_elsewhere(shared: Arc<Shared>) -> String {
    let Some(watch) = shared.cfg.fenced_watch.clone() else {
        return std::future::pending().await;
    };
    let mut tick = tokio::time::interval(super::FENCED_WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(fence) = shared.lock_db().fenced.clone() else {
            continue;
        };
        let w = watch.clone();
        if let Ok(Some(addr)) = tokio::task::spawn_blocking(move || (w.0)(&fence)).await {
            return addr;
        }
    }
}

/// Opens the data directory, recovers, serves until SIGTERM/SIGINT, then
/// finishes in-flight work, checkpoints and closes the log.
///
/// # Errors
/// Anything that prevents a complete recovery or serving (data directory locked
/// or missing, damaged log, address in use), or a WAL failure while serving.
pub fn run(cfg: PrimaryConfig) -> anyhow::Result<()> {
    crate::node::reload::hold_sighup();
    let (dir, control) = DataDir::open(&crate::fs::StdFs, &cfg.data_dir, Role::Primary)?;
    let rec = recovery::recover(&dir, &control, cfg.sync, MAX_RECORD_BYTES_LIMIT)?;
    let secs = rec.replay_time.as_secs_f64();
    tracing::info!(
        recovered_lsn = rec.next_lsn,
        snapshot_lsn = rec.snapshot.as_ref().map_or(0, |s| s.0),
        records_replayed = rec.replayed_records,
        replay_ms = (secs * 1000.0) as u64,
        replay_records_per_second = if secs > 0.0 {
            (rec.replayed_records as f64 / secs) as u64
        } else {
            0
        },
        replay_cpu_ms = rec.replay_cpu_time.as_millis() as u64,
        keys = rec.state.dbs.len(),
        "recovery complete"
    );
    let rt = match cfg.runtime {
        RuntimeKind::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        RuntimeKind::MultiThread => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
    .context("start the tokio runtime")?;
    rt.block_on(serve(dir, control, rec, cfg))
}

async fn serve(
    dir: DataDir,
    control: Control,
    rec: Recovered,
    cfg: PrimaryConfig,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("listen on {}", cfg.listen))?;
    serve_on(listener, dir, control, rec, cfg, None).await
}

/// Serves a recovered data directory on a bound listener until SIGTERM/SIGINT
/// (a promoted standby hands over its own listener, state and running
/// monitor this way).
///
/// # Errors
/// As [`run`], after start-up.
pub async fn serve_on(
    listener: TcpListener,
    dir: DataDir,
    control: Control,
    rec: Recovered,
    cfg: PrimaryConfig,
    running_monitor: Option<Arc<crate::metrics::Monitor>>,
) -> anyhow::Result<()> {
    let local = listener
        .local_addr()
        .context("read the listening address")?;
    // As configured (the listen address as given), for a reload to compare.
    let mut running = cfg.clone();
    let mut cfg = cfg;
    cfg.listen = local.to_string();
    let Recovered {
        state,
        wal,
        snapshot,
        replayed_records,
        next_lsn,
        ..
    } = rec;
    let admin_listener = crate::admin::bind(&dir.path).await.with_context(|| {
        format!(
            "bind the admin socket {}",
            crate::admin::socket_path(&dir.path).display()
        )
    })?;
    let monitor = match &running_monitor {
        Some(m) => m.clone(),
        None => crate::metrics::Monitor::new(cfg.monitor.clone(), "primary")
            .context("start the event hook thread")?,
    };
    let shipping = Shipping::start(
        cfg.ship.as_ref(),
        &wal,
        &dir.path,
        control.system_id,
        control.timeline,
        cfg.max_retained_wal_bytes,
        Some(monitor.clone()),
    );
    let archive_progress = cfg
        .archive
        .as_ref()
        .map(|a| Arc::new(crate::archive::ArchiveProgress::new(&a.url)));
    let shipping = match &archive_progress {
        Some(p) => shipping.with_archive(p.clone()),
        None => shipping,
    };
    let shared = Arc::new(Shared {
        db: Mutex::new(State::new(state)),
        wal: Arc::new(wal),
        data_dir: dir.path.clone(),
        control: control.clone(),
        started: Instant::now(),
        local_port: local.port(),
        clients: AtomicUsize::new(0),
        next_client_id: AtomicU64::new(0),
        checkpoint: Mutex::new(CheckpointStatus {
            lsn: snapshot.as_ref().map_or(0, |s| s.0),
            ..CheckpointStatus::default()
        }),
        recovered_lsn: next_lsn,
        replayed_records,
        shipping,
        fencing: Default::default(),
        monitor: monitor.clone(),
        used_memory: crate::memory::UsedMemory::new(),
        cfg: cfg.clone(),
    });
    match running_monitor {
        Some(m) => m.take_over(
            format!("primary {local}"),
            admin_cmds::status_source(&shared),
        ),
        None => {
            monitor
                .start(
                    format!("primary {local}"),
                    admin_cmds::status_source(&shared),
                )
                .await?;
        }
    }
    let admin = tokio::spawn(crate::admin::serve(
        admin_listener,
        admin_cmds::handler(shared.clone()),
    ));
    // Handled from the moment the address is printed (a reload is queued
    // until the loop below takes it).
    let mut sighup = signal(SignalKind::hangup()).context("install the SIGHUP handler")?;
    crate::say!(
        "logship primary listening on {local} (system id {:016x}, timeline {}, recovered LSN {next_lsn}, {replayed_records} records replayed)",
        control.system_id, control.timeline
    );
    let _ = std::io::stdout().flush();
    tracing::info!(address = %local, fsync = ?cfg.sync, runtime = ?cfg.runtime, "serving");

    let (stop_tx, stop_rx) = watch::channel(false);
    let ck_signal = Arc::new(checkpoint::Signal::default());
    let ck_thread = {
        let (sh, sig) = (shared.clone(), ck_signal.clone());
        std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || checkpoint::run_thread(sh, sig))
            .context("start the checkpoint thread")?
    };
    let expiry = tokio::spawn(expire::run(shared.clone(), stop_rx.clone()));
    let archiver = match (&cfg.archive, shared.shipping.archive()) {
        (Some(settings), Some(progress)) => {
            let events: crate::archive::push::EventSink = {
                let m = monitor.clone();
                Arc::new(move |kind, details| m.events.emit(kind, details))
            };
            let a = crate::archive::push::Archiver::new(
                settings.clone(),
                crate::archive::push::ArchiveSource {
                    fs: crate::fs::StdFs::shared(),
                    data_dir: dir.path.clone(),
                    system_id: control.system_id,
                    end: crate::archive::push::LogEnd::Live(shared.wal.subscribe()),
                },
                progress.clone(),
                Some(events),
            )?;
            Some(tokio::spawn(a.run(stop_rx.clone())))
        }
        _ => None,
    };
    let memory = cfg
        .maxmemory_bytes
        .map(|_| tokio::spawn(refresh_used_memory(shared.clone(), stop_rx.clone())));
    let mut sigterm = signal(SignalKind::terminate()).context("install the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("install the SIGINT handler")?;
    // Ready for systemd only now: the listener accepts, and SIGTERM is ours.
    crate::notify::ready(admin_cmds::status_source(&shared));
    let mut conns = JoinSet::new();
    let mut elsewhere = std::pin::pin!(promoted_elsewhere(shared.clone()));
    let stop = loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((mut stream, _)) => {
                    if shared.clients.load(Ordering::Relaxed) >= cfg.max_clients {
                        let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
                        continue;
                    }
                    shared.clients.fetch_add(1, Ordering::Relaxed);
                    let (sh, rx) = (shared.clone(), stop_rx.clone());
                    conns.spawn(async move {
                        conn::serve(stream, sh.clone(), rx).await;
                        sh.clients.fetch_sub(1, Ordering::Relaxed);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = sigterm.recv() => break Stop::Signal("SIGTERM"),
            _ = sigint.recv() => break Stop::Signal("SIGINT"),
            _ = sighup.recv() => super::reload::reload(&shared, &mut running).await,
            _ = shared.wal.failed() => break Stop::WalFailed,
            addr = &mut elsewhere => break Stop::Rejoin(addr),
        }
    };
    drop(listener);
    match &stop {
        Stop::Signal(name) => {
            crate::notify::stopping();
            tracing::info!(
                signal = name,
                clients = shared.clients.load(Ordering::Relaxed),
                "shutting down: finishing in-flight work"
            );
        }
        Stop::Rejoin(addr) => {
            // The process goes on, as a standby: not stopping for systemd.
            crate::notify::status(&format!("fenced; rejoining {addr} as a standby"));
            tracing::warn!(
                new_primary = %addr,
                "fenced, and {addr} serves as the primary in this node's place: stopping to rejoin it as a standby"
            );
        }
        Stop::WalFailed => crate::notify::stopping(),
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(cfg.shutdown_timeout, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(timeout = ?cfg.shutdown_timeout, "connections still busy at the shutdown timeout; closing them");
        conns.abort_all();
    }
    let _ = expiry.await;
    if let Some(a) = archiver {
        // Its last pass archives what is durable now, within its bound.
        let _ = a.await;
    }
    if let Some(m) = memory {
        let _ = m.await;
    }
    ck_signal.stop();
    let _ = ck_thread.join();
    let close_admin = || {
        admin.abort();
        let _ = std::fs::remove_file(crate::admin::socket_path(&dir.path));
    };
    if let Stop::WalFailed = stop {
        shared.shipping.stop();
        close_admin();
        let err = shared
            .wal
            .close()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        anyhow::bail!("the WAL failed ({err}); stopped without a checkpoint, restart to recover");
    }
    let ok = checkpoint::checkpoint_logged(&shared, "shutdown");
    shared
        .shipping
        .final_shipment(
            shared.wal.position().durable_lsn,
            cfg.shutdown_timeout.min(FINAL_SHIPMENT_TIMEOUT),
        )
        .await;
    shared.shipping.stop();
    let closed = shared.wal.close();
    close_admin();
    let pos = closed.context("close the WAL")?;
    drop(dir);
    if !ok {
        anyhow::bail!(
            "the shutdown checkpoint failed (the WAL is intact; the next start replays it)"
        );
    }
    tracing::info!(durable_lsn = pos.durable_lsn, "shutdown complete");
    let fenced = shared.lock_db().fenced.clone();
    if let Some(fence) = fenced {
        return Err(StoppedFenced {
            path: shared.data_dir.clone(),
            fence: Box::new(fence),
            rejoin_from: match stop {
                Stop::Rejoin(addr) => Some(addr),
                _ => None,
            },
        }
        .into());
    }
    Ok(())
}

/// Refreshes the memory gauge that `--maxmemory` compares against, until
/// the server stops.
async fn refresh_used_memory(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(crate::memory::REFRESH_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => shared.used_memory.refresh(),
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}
