//! `logship archive`: archive a data directory's log (`--data-dir D --to URL
//! [--once]`), and inspect an archive (`list`, `verify`). The archiving flags
//! of `primary` live here too.

use super::exit::Failure;
use super::parse;
use crate::archive::catalog::Catalog;
use crate::archive::push::{ArchiveSource, Archiver, LogEnd, Pass};
use crate::archive::{ArchiveKey, ArchiveProgress, ArchiveSettings, ArchiveStore};
use crate::fs::StdFs;
use crate::wal::format_lsn;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The archiving settings of a node (`primary`, and `archive` itself).
#[derive(Debug, Args, Clone, Default)]
pub struct ArchiveFlags {
    /// Archive the log to this URL: s3://BUCKET/PREFIX (credentials, region
    /// and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP) or file:///PATH.
    #[arg(long, value_name = "URL")]
    pub archive_to: Option<String>,
    /// Archive durable WAL this often: the archive's RPO.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub archive_every: Option<Duration>,
    /// Largest WAL object, before compression.
    #[arg(long, value_name = "SIZE", value_parser = parse::size)]
    pub archive_max_object: Option<u64>,
    /// Objects written at once when the archive is behind.
    #[arg(long, value_name = "N")]
    pub archive_parallel: Option<usize>,
    /// Archive the newest snapshot (a base for restores) this often; 0:
    /// only the first one and after a gap.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub archive_snapshot_every: Option<Duration>,
    /// When idle, say that the log still ends where it did this often (one
    /// small write), so restores to a time after the last write are provable.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub archive_heartbeat: Option<Duration>,
    /// Encrypt every object with the secret in this file
    /// (XChaCha20-Poly1305); restores need the same file. A standby with
    /// --restore-from reads the archive it follows with it.
    #[arg(long, value_name = "FILE")]
    pub archive_encryption_key_file: Option<PathBuf>,
    /// Keep the snapshots taken within DURATION (and the newest one before,
    /// so the whole window is restorable); older snapshots and the WAL below
    /// the oldest kept one are removed after each archived snapshot.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub archive_retain: Option<Duration>,
    /// Keep the newest N snapshots and the WAL from the oldest of them.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub archive_retain_snapshots: Option<u64>,
}

impl ArchiveFlags {
    /// The settings, `None` without `--archive-to`.
    ///
    /// # Errors
    /// A setting without `--archive-to`, a bad value, an unreadable key file.
    pub fn settings(&self) -> anyhow::Result<Option<ArchiveSettings>> {
        let Some(url) = &self.archive_to else {
            if self.archive_every.is_some()
                || self.archive_max_object.is_some()
                || self.archive_parallel.is_some()
                || self.archive_snapshot_every.is_some()
                || self.archive_heartbeat.is_some()
                || self.archive_encryption_key_file.is_some()
                || self.archive_retain.is_some()
                || self.archive_retain_snapshots.is_some()
            {
                anyhow::bail!("--archive-every, --archive-max-object, --archive-parallel, --archive-snapshot-every, --archive-heartbeat, --archive-encryption-key-file, --archive-retain and --archive-retain-snapshots need --archive-to URL");
            }
            return Ok(None);
        };
        ArchiveStore::open(url)?;
        let mut s = ArchiveSettings::new(url);
        if let Some(d) = self.archive_every {
            anyhow::ensure!(!d.is_zero(), "--archive-every must be longer than 0");
            s.every = d;
        }
        if let Some(m) = self.archive_max_object {
            anyhow::ensure!(
                (64 << 10..=1 << 30).contains(&m),
                "--archive-max-object must be between 64KiB and 1GiB"
            );
            s.max_object_bytes = m as usize;
        }
        if let Some(p) = self.archive_parallel {
            anyhow::ensure!((1..=64).contains(&p), "--archive-parallel must be 1 to 64");
            s.parallel = p;
        }
        if let Some(d) = self.archive_snapshot_every {
            s.snapshot_every = d;
        }
        if let Some(d) = self.archive_heartbeat {
            anyhow::ensure!(!d.is_zero(), "--archive-heartbeat must be longer than 0");
            s.heartbeat = d;
        }
        s.key = key(self.archive_encryption_key_file.as_ref())?;
        s.retention = crate::archive::prune::Retention {
            within: self.archive_retain,
            snapshots: self.archive_retain_snapshots.map(|n| n as usize),
        };
        Ok(Some(s))
    }
}

/// Refuses `--archive-to` with `--fsync no`: only durable WAL is archived,
/// and under `no` the log is made durable only when it closes, so nothing
/// would be archived while the node runs.
///
/// # Errors
/// The combination, in one line.
pub fn check_fsync(
    sync: crate::wal::SyncPolicy,
    archive: Option<&ArchiveSettings>,
) -> anyhow::Result<()> {
    if archive.is_some() && sync == crate::wal::SyncPolicy::Never {
        anyhow::bail!("--archive-to needs --fsync always or everysec: only durable WAL is archived, and with --fsync no the log becomes durable only when the node stops");
    }
    Ok(())
}

fn key(file: Option<&PathBuf>) -> anyhow::Result<Option<ArchiveKey>> {
    Ok(match file {
        Some(f) => Some(ArchiveKey::from_file(f)?),
        None => None,
    })
}

/// Arguments of `archive`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    pub cmd: Option<ArchiveCommand>,
    /// The data directory whose log to archive (a stopped node's, e.g. the
    /// disk of a crashed primary).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The archive: s3://BUCKET/PREFIX or file:///PATH.
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
    /// Archive what the log holds now, then exit (for cron, and for the last
    /// log of a crashed primary). Without it, archive until interrupted.
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub settings: ArchiveFlags,
}

/// Inspecting an archive.
#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// What the archive holds: systems, timelines, the restorable window,
    /// gaps, sizes.
    List(super::archive_verify::InspectArgs),
    /// Read every object and check checksums, continuity, timelines and
    /// snapshots; names each gap or damaged object (exit codes as `verify`).
    Verify(super::archive_verify::InspectArgs),
    /// Remove snapshots past a retention policy and the WAL below the oldest
    /// kept one (never what the oldest restorable point needs).
    Prune(PruneArgs),
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

pub fn run(a: ArchiveArgs) -> anyhow::Result<ExitCode> {
    match a.cmd {
        Some(ArchiveCommand::List(i)) => list(i),
        Some(ArchiveCommand::Verify(i)) => super::archive_verify::run(i),
        Some(ArchiveCommand::Prune(p)) => prune(p),
        None => push(a),
    }
}

/// `logship archive --data-dir D --to URL [--once]`.
fn push(a: ArchiveArgs) -> anyhow::Result<ExitCode> {
    let (Some(dir), Some(url)) = (a.data_dir, a.to) else {
        return Err(Failure::usage(
            "logship archive needs --data-dir DIR and --to URL (or a subcommand: list, verify)",
        )
        .into());
    };
    let mut flags = a.settings;
    if flags.archive_to.is_some() {
        return Err(Failure::usage(
            "logship archive takes the archive as --to URL, not --archive-to",
        )
        .into());
    }
    flags.archive_to = Some(url.clone());
    let settings = flags.settings()?.expect("--archive-to set above");
    let once = a.once;
    let parallel = settings.parallel;
    let progress = Arc::new(ArchiveProgress::new(&url));
    runtime()?.block_on(async move {
        // A stopped node's log ends at its last valid record; a running
        // node's at its durable LSN, which its admin socket tells.
        let (_lock, system_id, end) =
            match crate::node::datadir::DataDir::open_stopped(&StdFs, &dir) {
                Ok((lock, control)) => {
                    let report =
                        crate::wal::scan_dir(&StdFs, &dir.join(crate::node::datadir::WAL_DIR))?;
                    (Some(lock), control.system_id, LogEnd::Fixed(report.end_lsn))
                }
                Err(crate::node::datadir::DataDirError::Locked { .. }) => {
                    let control = crate::node::control::Control::read(&StdFs, &dir)?;
                    let end = Arc::new(std::sync::atomic::AtomicU64::new(
                        node_durable_lsn(&dir).await?,
                    ));
                    let (e, d) = (end.clone(), dir.clone());
                    tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            if let Ok(l) = node_durable_lsn(&d).await {
                                e.fetch_max(l, std::sync::atomic::Ordering::AcqRel);
                            }
                        }
                    });
                    (None, control.system_id, LogEnd::Shared(end))
                }
                Err(e) => return Err(e.into()),
            };
        let src = ArchiveSource {
            fs: StdFs::shared(),
            data_dir: dir.clone(),
            system_id,
            end,
        };
        let mut archiver = Archiver::new(settings, src, progress.clone(), None)?;
        archiver.start().await?;
        if once {
            while archiver.pass(parallel).await? == Pass::Behind {}
            let s = progress.status(0);
            crate::say!(
                "archived {} up to LSN {} ({} objects, {} bytes written)",
                dir.display(),
                format_lsn(s.archived_lsn),
                s.objects_written,
                s.bytes_written
            );
            return Ok(ExitCode::SUCCESS);
        }
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            let _ = tx.send(true);
        });
        archiver.run(rx).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// The durable LSN of the node running on `dir`.
async fn node_durable_lsn(dir: &std::path::Path) -> anyhow::Result<u64> {
    let s = crate::admin::request(
        dir,
        serde_json::json!({"cmd": "status"}),
        Duration::from_secs(5),
    )
    .await?;
    s["durable_lsn"].as_u64().ok_or_else(|| {
        anyhow::anyhow!(
            "the node running on {} is not a primary: archive from the primary (or give the standby --archive-to, which it uses once promoted)",
            dir.display()
        )
    })
}

/// Arguments of `archive prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub archive: super::archive_verify::InspectArgs,
    /// Keep the snapshots taken within DURATION, and the newest one before.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub retain: Option<Duration>,
    /// Keep the newest N snapshots.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub retain_snapshots: Option<u64>,
    /// Show what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `logship archive prune URL`.
fn prune(p: PruneArgs) -> anyhow::Result<ExitCode> {
    use crate::archive::prune::{execute, plan, Retention};
    let policy = Retention {
        within: p.retain,
        snapshots: p.retain_snapshots.map(|n| n as usize),
    };
    if !policy.any() {
        return Err(Failure::usage(
            "archive prune needs --retain DURATION or --retain-snapshots N",
        )
        .into());
    }
    let a = p.archive;
    let key = key(a.archive_encryption_key_file.as_ref())?;
    let store = ArchiveStore::open(&a.url)?;
    runtime()?.block_on(async move {
        let c = Catalog::load(&store, a.system_id, key.as_ref()).await?;
        let plan = plan(&store, &c, policy, crate::clock::now_unix_ms(), key.as_ref()).await?;
        if !p.dry_run {
            execute(&store, &plan).await?;
        }
        if a.json {
            crate::say!("{}", serde_json::to_string_pretty(&serde_json::json!({"dry_run": p.dry_run, "plan": plan}))?);
        } else {
            for r in &plan.remove {
                crate::say!("{} {r}", if p.dry_run { "would remove" } else { "removed" });
            }
            crate::say!(
                "{} {} objects ({} bytes); the oldest snapshot kept is at LSN {}, the WAL is kept from LSN {}",
                if p.dry_run { "would remove" } else { "removed" },
                plan.remove.len(),
                plan.bytes,
                plan.oldest_snapshot_lsn.map_or("-".into(), format_lsn),
                plan.keep_wal_from_lsn.map_or("-".into(), format_lsn)
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `logship archive list URL`.
fn list(a: super::archive_verify::InspectArgs) -> anyhow::Result<ExitCode> {
    let key = key(a.archive_encryption_key_file.as_ref())?;
    let store = ArchiveStore::open(&a.url)?;
    runtime()?.block_on(async move {
        let c = Catalog::load(&store, a.system_id, key.as_ref()).await?;
        let summary = super::archive_verify::summary(&store, &c).await?;
        if a.json {
            crate::say!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            super::archive_verify::print_summary(&summary);
        }
        Ok(ExitCode::SUCCESS)
    })
}
