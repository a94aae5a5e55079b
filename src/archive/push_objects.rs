//! The archiver's objects other than WAL: timeline histories, snapshots
//! (with the retention that follows each one), the idle heartbeat, and the
//! gap recorded when WAL was removed before it was archived.

use super::layout::Name;
use super::object::{self, Kind, ObjectHeader};
use super::progress::GapInfo;
use super::push::Archiver;
use super::{ArchiveError, ArchiveStore};
use crate::events::EventKind;
use crate::wal::WalError;
use bytes::Bytes;
use std::time::Instant;

impl Archiver {
    /// Archives every history file of the local WAL directory that the
    /// archive lacks.
    pub(super) async fn archive_histories(&mut self) -> Result<(), ArchiveError> {
        let fs = self.src.fs.clone();
        let dir = self.src.wal_dir();
        let files = tokio::task::spawn_blocking(move || -> Result<Vec<(u32, Bytes)>, WalError> {
            let mut out = Vec::new();
            let names = fs
                .list(&dir)
                .map_err(|e| WalError::io("read directory", &dir, e))?;
            for n in names {
                let Some(tl) = n
                    .strip_suffix(".history")
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                else {
                    continue;
                };
                let p = dir.join(&n);
                out.push((tl, fs.read(&p).map_err(|e| WalError::io("read", &p, e))?));
            }
            Ok(out)
        })
        .await
        .expect("history read does not panic")?;
        for (tl, text) in files {
            let h = ObjectHeader::new(Kind::History, self.src.system_id, tl, 0, 0);
            let name = Name::History { timeline: tl };
            self.put(name, h, text, true).await?;
        }
        Ok(())
    }

    /// Archives the newest local snapshot; returns its LSN (`None`: there is
    /// none).
    pub async fn archive_newest_snapshot(&mut self) -> Result<Option<u64>, ArchiveError> {
        let fs = self.src.fs.clone();
        let dir = self.src.snapshot_dir();
        let sys = self.src.system_id;
        let newest = tokio::task::spawn_blocking(move || -> Result<Option<(crate::store::snapshot::SnapshotHeader, Bytes, u64)>, ArchiveError> {
            let list = crate::store::snapshot::list(&*fs, &dir).map_err(|e| ArchiveError::Local(e.to_string()))?;
            let Some((_, path)) = list.last() else { return Ok(None) };
            let data = fs.read(path).map_err(|e| WalError::io("read", path, e))?;
            let header = crate::store::snapshot::SnapshotHeader::decode(&data)
                .map_err(|d| ArchiveError::Local(format!("snapshot {}: {d}", path.display())))?;
            header.check(path, sys, data.len() as u64).map_err(|e| ArchiveError::Local(e.to_string()))?;
            let taken = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or_else(crate::clock::now_unix_ms, |d| d.as_millis() as u64);
            Ok(Some((header, data, taken)))
        })
        .await
        .expect("snapshot read does not panic")?;
        let Some((sh, data, taken)) = newest else {
            return Ok(None);
        };
        if self.state.snapshot_lsn == Some(sh.lsn) {
            return Ok(Some(sh.lsn));
        }
        let mut h = ObjectHeader::new(Kind::Snapshot, sys, sh.timeline, sh.lsn, sh.lsn);
        h.last_time_unix_ms = taken;
        h.heartbeat_unix_ms = crate::clock::now_unix_ms();
        // The file is compressed already.
        self.put(
            Name::Snapshot {
                timeline: sh.timeline,
                lsn: sh.lsn,
            },
            h,
            data,
            false,
        )
        .await?;
        self.state.snapshot_lsn = Some(sh.lsn);
        self.state.snapshot_unix_ms = crate::clock::now_unix_ms();
        self.snapshot_due = false;
        tracing::info!(lsn = sh.lsn, url = %self.store.url(), "archived the snapshot at LSN {}", crate::wal::format_lsn(sh.lsn));
        if self.settings.retention.any() {
            if let Err(e) = self.apply_retention().await {
                tracing::warn!(url = %self.store.url(), "archive retention did not run: {e}; nothing needed was removed, and it runs again after the next snapshot");
            }
        }
        Ok(Some(sh.lsn))
    }

    /// Removes what the retention policy no longer keeps (one listing, after
    /// each archived snapshot: never on the WAL's path).
    pub(super) async fn apply_retention(&self) -> Result<(), ArchiveError> {
        let c = super::catalog::Catalog::load(
            &self.store,
            Some(self.src.system_id),
            self.settings.key.as_ref(),
        )
        .await?;
        let plan = super::prune::plan(
            &self.store,
            &c,
            self.settings.retention,
            crate::clock::now_unix_ms(),
            self.settings.key.as_ref(),
        )
        .await?;
        if plan.remove.is_empty() {
            return Ok(());
        }
        super::prune::execute(&self.store, &plan).await?;
        tracing::info!(url = %self.store.url(), objects = plan.remove.len(), bytes = plan.bytes, oldest_snapshot_lsn = ?plan.oldest_snapshot_lsn, "archive retention removed {} objects", plan.remove.len());
        Ok(())
    }

    /// An idle primary's last word, at most once per heartbeat interval: the
    /// log ends here and the node was alive at this time.
    pub(super) async fn heartbeat_if_idle(&mut self, end: u64) -> Result<(), ArchiveError> {
        if self.last_put.elapsed() < self.settings.heartbeat {
            return Ok(());
        }
        let timeline = self
            .local_segments()
            .await?
            .last()
            .map_or(1, |s| s.timeline);
        let mut h = ObjectHeader::new(Kind::Wal, self.src.system_id, timeline, end, end);
        h.heartbeat_unix_ms = crate::clock::now_unix_ms();
        let bytes = Bytes::from(object::encode(h, &[], false, self.settings.key.as_ref()));
        let rel = ArchiveStore::object_path(self.src.system_id, &Name::Heartbeat { timeline });
        self.store.put_replace(&rel, bytes).await?;
        self.last_put = Instant::now();
        Ok(())
    }

    /// WAL from `from` on is no longer on disk: records the gap in the
    /// archive (durably, before moving past it), loudly, and goes on from the
    /// oldest WAL still there, with a snapshot due.
    pub(super) async fn record_gap(&mut self, from: u64) -> Result<(), ArchiveError> {
        let r = self.reader.clone();
        let oldest = tokio::task::spawn_blocking(move || r.lock().expect("reader").oldest_lsn())
            .await
            .expect("listing does not panic")?
            .unwrap_or(from);
        let timeline = self
            .local_segments()
            .await?
            .first()
            .map_or(1, |s| s.timeline);
        let reason = format!(
            "WAL {}..{} was removed from the node before it was archived (the retained WAL reached --max-retained-wal while the archive was behind)",
            crate::wal::format_lsn(from),
            crate::wal::format_lsn(oldest)
        );
        let mut h = ObjectHeader::new(Kind::Gap, self.src.system_id, timeline, from, oldest);
        h.heartbeat_unix_ms = crate::clock::now_unix_ms();
        self.put(
            Name::Gap {
                timeline,
                start_lsn: from,
                end_lsn: oldest,
            },
            h,
            Bytes::from(reason.clone()),
            false,
        )
        .await?;
        tracing::error!(url = %self.store.url(), start_lsn = from, end_lsn = oldest, "archive gap: {reason}; restores cannot cross it, and the next snapshot is archived as a new base");
        if let Some(ev) = &self.events {
            ev(
                EventKind::ArchiveGap,
                serde_json::json!({ "url": self.store.url(), "start_lsn": from, "end_lsn": oldest, "reason": reason }),
            );
        }
        self.progress.update(|s| {
            s.gaps.push(GapInfo {
                timeline,
                start_lsn: from,
                end_lsn: oldest,
                reason,
            });
            s.archived_lsn = oldest;
        });
        self.state.archived_lsn = oldest;
        self.snapshot_due = true;
        self.save_state().await
    }
}
