//! `logship standby` as a process: opens the data directory and the received
//! log, loads the state, starts replay, the ship listener (on a thread of its
//! own), the RESP and admin listeners, keeps house once a second, and on
//! promotion hands the keyspace and the log to the primary server.

use super::apply::Target;
use super::follow::{FollowArchive, Follower, Following};
use super::node::IdentityError;
use super::node::{Handover, LogIntake, Node, StandbyConfig};
use super::promote_online::PromoteError;
use super::replay::{ApplyDelay, Replayer};
use super::seeds::{discard_partial_seed, load_state, LazySeeds};
use super::state_lock::StateLock;
use crate::archive::restore::{
    restore, RestoreRequest, Target as RestoreTarget, Then, TimelineChoice,
};
use crate::fs::StdFs;
use crate::node::control::Control;
use crate::node::datadir::DataDir;
use crate::node::position::PrimaryPosition;
use crate::ship::protocol::seed::SeedSink;
use crate::ship::receive::accept::serve as serve_ship;
use crate::ship::receive::intake::{Fatal, ReceiveError, ReceiverShared};
use crate::status::NodeStatus;
use crate::store::StateMachine;
use crate::wal::{timeline, Mirror};
use anyhow::Context as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Runs a standby until SIGTERM/SIGINT (clean: checkpoint, exit 0) or a fatal
/// error.
///
/// # Errors
/// Start-up problems (directory, lock, damaged received log, ports) and fatal
/// errors writing the received log, each as one message.
pub fn run(cfg: StandbyConfig) -> anyhow::Result<()> {
    crate::node::reload::hold_sighup();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    if let LogIntake::Archive(a) = &cfg.intake {
        rt.block_on(seed_from_archive(a, &cfg.data_dir))?;
    }
    let (dir, control) = DataDir::open_standby(&StdFs, &cfg.data_dir)?;
    rt.block_on(serve(dir, control, cfg))
}

/// A standby that follows an archive starts from it when its directory is
/// missing or empty: the newest base and the WAL after it, as `logship
/// restore` builds it.
async fn seed_from_archive(a: &FollowArchive, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let empty = match std::fs::read_dir(data_dir) {
        Ok(mut d) => d.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(e).with_context(|| format!("read {}", data_dir.display())),
    };
    if !empty {
        return Ok(());
    }
    let req = RestoreRequest {
        url: a.url.clone(),
        data_dir: data_dir.to_path_buf(),
        target: RestoreTarget::Latest,
        timeline: TimelineChoice::Latest,
        then: Then::Standby,
        system_id: None,
        key: a.key.clone(),
    };
    let r = restore(&req, StdFs::shared(), |_, _| {}).await?;
    tracing::info!(
        url = %a.url,
        timeline = r.timeline,
        lsn = r.stop_lsn,
        objects = r.objects_read,
        "seeded from the archive"
    );
    Ok(())
}

async fn serve(dir: DataDir, control: Option<Control>, cfg: StandbyConfig) -> anyhow::Result<()> {
    let wal_dir = dir.wal_dir();
    let snap_dir = dir.snapshot_dir();
    let (mirror, report) = Mirror::open(StdFs::shared(), &wal_dir)
        .with_context(|| format!("open the received log in {}", wal_dir.display()))?;
    let system_id = control
        .as_ref()
        .map(|c| c.system_id)
        .or(report.system_id)
        .unwrap_or(0);
    discard_partial_seed(&StdFs, &snap_dir)?;
    let state = load_state(&snap_dir, system_id)?;
    let applied0 = state.applied_lsn();
    if let Some(first) = report.first_lsn {
        if first > applied0 && report.end_lsn > applied0 {
            anyhow::bail!(
                "the received log in {} starts at LSN {first:#x}, but the newest snapshot covers only up to LSN {applied0:#x}: \
                 records in between are missing; empty the directory to re-seed this standby",
                wal_dir.display()
            );
        }
    }
    let tl = timeline::latest_timeline(&StdFs, &wal_dir)?;
    let closed = timeline::closed(&timeline::read_history(&StdFs, &wal_dir, tl)?);
    let (applied_tx, applied_rx) = watch::channel(applied0);
    let monitor = crate::metrics::Monitor::new(cfg.monitor.clone(), "standby")?;
    let following = match &cfg.intake {
        LogIntake::Archive(a) => Some(Following::new(&a.url, mirror.last_timestamp_unix_ms())),
        LogIntake::Link { .. } => None,
    };
    let node = Arc::new_cyclic(|weak: &std::sync::Weak<Node>| {
        let seeds: Arc<dyn SeedSink> = Arc::new(LazySeeds(weak.clone()));
        let receiver = ReceiverShared::with_tls(
            mirror,
            applied_rx,
            cfg.key.clone(),
            Some(seeds),
            cfg.tls.clone(),
        );
        *receiver
            .closed_timelines
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = closed;
        let received0 = receiver.received.borrow().received_lsn;
        Node {
            wal_dir: wal_dir.clone(),
            snap_dir: snap_dir.clone(),
            state: StateLock::new(state),
            system_id: AtomicU64::new(system_id),
            control_written: Mutex::new(control.is_some()),
            halted_at: control.as_ref().and_then(|c| c.halted_at),
            receiver,
            replay: Mutex::new(None),
            next_client_id: AtomicU64::new(0),
            last_checkpoint_lsn: AtomicU64::new(applied0),
            hurry: Arc::new(AtomicBool::new(false)),
            promote_lock: tokio::sync::Mutex::new(()),
            promoted: AtomicBool::new(false),
            handover: Mutex::new(None),
            last_position: Mutex::new(
                PrimaryPosition::read(&StdFs, &cfg.data_dir).unwrap_or_default(),
            ),
            bound: std::sync::OnceLock::new(),
            accept_open: watch::channel(true).0,
            accept_closed: watch::channel(false).0,
            following: following.clone(),
            spare: Arc::new(super::spare_segment::PromotionSpare::new(&wal_dir)),
            cascade: super::cascade::Cascade::new(
                cfg.cascade.clone(),
                cfg.as_primary.max_retained_wal_bytes,
                wal_dir.clone(),
                snap_dir.clone(),
                Some(monitor.clone() as Arc<dyn crate::ship::send::shipper::ShipObserver>),
                received0,
            ),
            monitor: monitor.clone(),
            cfg: cfg.clone(),
        }
    });
    node.receiver.on_refuse(monitor.refuse_hook());
    {
        // Its primary's status shows what this standby ships onward (a
        // reload may add or remove downstreams).
        let c = node.cascade.clone();
        let received = node.receiver.received.subscribe();
        node.receiver.set_downstreams_hook(Arc::new(move || {
            let standbys = c.standbys(received.borrow().received_lsn);
            crate::ship::send::shipper::tree_of(standbys.as_deref().unwrap_or_default())
        }));
    }
    let weak = Arc::downgrade(&node);
    node.receiver
        .set_identity_hook(Arc::new(move |h: &crate::wal::format::SegmentHeader| {
            let n = weak.upgrade().ok_or(IdentityError::ShuttingDown)?;
            if let Some(lsn) = n.halted_at {
                return Err(IdentityError::Halted { lsn }.into());
            }
            Ok(n.adopt_identity(h.system_id, h.timeline, Some(h.segment_bytes))?)
        }));
    let mut replayer = Replayer::start(
        StdFs::shared(),
        wal_dir.clone(),
        node.receiver.received.subscribe(),
        Arc::new(Target(node.clone())),
        ApplyDelay {
            delay: cfg.apply_delay,
            hurry: node.hurry.clone(),
        },
        applied_tx,
        tokio::runtime::Handle::current(),
    )?;
    *node.replay.lock().unwrap_or_else(|p| p.into_inner()) = Some(replayer.state());
    if let Some(inline) = replayer.inline() {
        node.receiver.set_inline_apply(inline);
    }

    let ship_listener = match &cfg.intake {
        LogIntake::Link { ship_listen } => Some(
            tokio::net::TcpListener::bind(ship_listen)
                .await
                .with_context(|| format!("listen for shipments on {ship_listen}"))?,
        ),
        LogIntake::Archive(_) => None,
    };
    let ship_addr = match &ship_listener {
        Some(l) => Some(l.local_addr()?.to_string()),
        None => None,
    };
    let resp_listener = Arc::new(
        tokio::net::TcpListener::bind(&cfg.listen)
            .await
            .with_context(|| format!("listen for clients on {}", cfg.listen))?,
    );
    let admin = crate::admin::bind(&cfg.data_dir)
        .await
        .context("bind the admin socket")?;
    let _ = node
        .bound
        .set((ship_addr.clone(), resp_listener.local_addr()?.to_string()));
    let source = match (&ship_addr, &cfg.intake) {
        (Some(a), _) => format!("shipments on {a}"),
        (None, LogIntake::Archive(a)) => format!("following the archive {}", a.url),
        (None, LogIntake::Link { .. }) => unreachable!("a link standby listens"),
    };
    // Handled from the moment the addresses are printed (a reload is queued
    // until the loop below takes it).
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    crate::say!(
        "logship standby listening on {} ({source})",
        resp_listener.local_addr()?
    );
    let _ = std::io::stdout().flush();
    tracing::info!(
        source = %source,
        listen = %resp_listener.local_addr()?,
        received_lsn = report.end_lsn,
        applied_lsn = applied0,
        apply_delay_ms = cfg.apply_delay.as_millis() as u64,
        "standby ready"
    );
    let weak = Arc::downgrade(&node);
    let status: crate::metrics::Source = Arc::new(move || {
        weak.upgrade()
            .map_or_else(NodeStatus::default, |n| n.status())
    });
    let name = format!("standby {}", ship_addr.as_deref().unwrap_or(&source));
    monitor.start(name, status.clone()).await?;
    let (_receiving, ship_task) = match (ship_listener, &cfg.intake) {
        (Some(l), _) => Receiving::start(l, node.receiver.clone())?,
        (None, LogIntake::Archive(a)) => {
            let system_id = node.system_id.load(Ordering::Acquire);
            if system_id == 0 {
                anyhow::bail!(
                    "{} holds no log of any system: a standby following an archive starts on an empty directory (it is seeded from the archive) or on one seeded before",
                    cfg.data_dir.display()
                );
            }
            let follower = Follower::new(
                node.receiver.clone(),
                system_id,
                a.clone(),
                wal_dir.clone(),
                following.clone().expect("set when following"),
            )?;
            let task: ShipTask =
                tokio::spawn(async move { follower.run().await.map_err(ReceiveError::Fatal) });
            (Receiving { runtime: None }, task)
        }
        (None, LogIntake::Link { .. }) => unreachable!("a link standby listens"),
    };
    tokio::spawn(node.cascade.clone().run(
        node.receiver.received.subscribe(),
        node.receiver.durable.subscribe(),
    ));
    let mut resp_task = tokio::spawn(super::serve::serve(resp_listener.clone(), node.clone()));
    let (handover_tx, mut handover_rx) = tokio::sync::oneshot::channel();
    *node.handover.lock().unwrap_or_else(|p| p.into_inner()) = Some(handover_tx);
    let n2 = node.clone();
    let handler: crate::admin::Handler = Arc::new(move |req: serde_json::Value| {
        let n = n2.clone();
        Box::pin(async move {
            let answer = match req["cmd"].as_str() {
                Some("status") => serde_json::to_value(n.status()).map_err(AdminCmdError::Json),
                Some("promote") => match serde_json::from_value(req.clone()) {
                    Ok(r) => match super::promote_online::promote(&n, r).await {
                        Ok(report) => serde_json::to_value(report).map_err(AdminCmdError::Json),
                        Err(e) => Err(AdminCmdError::Promote(e)),
                    },
                    Err(e) => Err(AdminCmdError::Json(e)),
                },
                Some(other) => Err(AdminCmdError::Unknown(other.to_string())),
                None => Err(AdminCmdError::MissingCmd),
            };
            Ok(answer?)
        })
    });
    let mut admin_task = tokio::spawn(crate::admin::serve(admin, handler));

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // The configuration in force: a reload changes it (and what the node
    // serves with once promoted).
    let mut running = cfg.clone();
    // Ready for systemd: the received log is open and checked, the newest
    // snapshot loaded, reads served, SIGTERM handled. What was received but
    // not applied yet is replayed from here on (the status line shows the lag).
    crate::notify::ready(status.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_checkpoint = std::time::Instant::now();
    let mut ship_task = ship_task;
    let outcome: anyhow::Result<Option<Handover>> = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break Ok(None),
            _ = term.recv() => break Ok(None),
            _ = hup.recv() => super::reload::reload(&node, &mut running).await,
            h = &mut handover_rx => match h {
                Ok(h) => break Ok(Some(h)),
                Err(_) => continue,
            },
            r = &mut ship_task => {
                break match r {
                    Ok(Err(e)) => Err(anyhow::anyhow!(e)),
                    Ok(Ok(())) => Ok(None),
                    Err(e) => Err(anyhow::anyhow!("ship listener failed: {e}")),
                };
            }
            _ = tick.tick() => {
                let r = *node.receiver.received.borrow();
                if r.system_id != 0 {
                    node.system_id.store(r.system_id, Ordering::Release);
                }
                let n = node.clone();
                let due = last_checkpoint.elapsed() >= cfg.checkpoint_interval;
                let res = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                    n.ensure_control(r.timeline)?;
                    n.save_position()?;
                    n.prepare_spare()?;
                    if due {
                        n.checkpoint()?;
                    }
                    Ok(())
                })
                .await?;
                if let Err(e) = res {
                    tracing::error!(error = %e, "standby housekeeping failed");
                }
                if due {
                    last_checkpoint = std::time::Instant::now();
                }
                if replayer.state().borrow().failed {
                    break Err(anyhow::anyhow!("replay stopped on a record it cannot apply (see the log above)"));
                }
            }
        }
    };
    resp_task.abort();
    admin_task.abort();
    replayer.stop();
    // Promoted, the primary server ships to the downstreams; stopping, the
    // node ships no more.
    node.cascade.stop();
    let handover = match outcome {
        Ok(Some(h)) => h,
        other => {
            crate::notify::stopping();
            ship_task.abort();
            let n = node.clone();
            tokio::task::spawn_blocking(move || {
                n.ensure_control(n.receiver.received.borrow().timeline)?;
                n.save_position()?;
                n.checkpoint()
            })
            .await??;
            let _ = std::fs::remove_file(crate::admin::socket_path(&cfg.data_dir));
            drop(dir);
            return other.map(|_| ());
        }
    };
    // Promoted: the primary server takes over the RESP listener, the keyspace,
    // the log and the directory lock; the ship listener stays, refusing.
    let _ = (&mut resp_task).await;
    let _ = (&mut admin_task).await;
    let listener = match Arc::try_unwrap(resp_listener) {
        Ok(l) => l,
        Err(shared) => {
            let addr = shared.local_addr()?;
            drop(shared);
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listen on {addr} as the primary"))?
        }
    };
    let mut pcfg = running.as_primary.clone();
    pcfg.data_dir = cfg.data_dir.clone();
    let served = crate::primary::server::serve_on(
        listener,
        dir,
        handover.control,
        handover.recovered,
        pcfg,
        Some(node.monitor.clone()),
    )
    .await;
    ship_task.abort();
    served
}

/// The ship listener and its connections, on a runtime of their own.
///
/// A chunk arriving wakes the task receiving it; on the client runtime that
/// wake queues behind whatever the clients' tasks are doing, and a client's GET
/// queues behind the decompression, checks and write of a chunk. On a thread
/// of its own, receiving and serving reads run side by side.
struct Receiving {
    runtime: Option<tokio::runtime::Runtime>,
}

/// Why the standby's admin socket refused a request.
#[derive(Debug, thiserror::Error)]
enum AdminCmdError {
    #[error("unknown command '{0}'")]
    Unknown(String),
    #[error("missing cmd")]
    MissingCmd,
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    #[error(transparent)]
    Promote(PromoteError),
}

type ShipTask = tokio::task::JoinHandle<Result<(), ReceiveError>>;

impl Receiving {
    fn start(
        listener: tokio::net::TcpListener,
        receiver: Arc<ReceiverShared>,
    ) -> anyhow::Result<(Receiving, ShipTask)> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("receiver")
            .enable_all()
            .build()
            .context("start the receiving thread")?;
        // A listener belongs to the runtime it was made on: move it over.
        let listener = listener.into_std().context("hand over the ship listener")?;
        let task = runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| ReceiveError::Fatal(Fatal::Listener(e)))?;
            serve_ship(listener, receiver).await
        });
        let guard = Receiving {
            runtime: Some(runtime),
        };
        Ok((guard, task))
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // Dropping a runtime may block; this runs on another runtime.
            rt.shutdown_background();
        }
    }
}
