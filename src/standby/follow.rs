//! A standby whose log arrives from the archive instead of a link
//! (`standby --restore-from URL`): every `--restore-every` it lists the WAL
//! objects of its timeline after the last one it used, reads them in order
//! and hands their records to the receiver's intake
//! ([`deliver`](crate::ship::receive::local::deliver)), the path a
//! connection's chunks take, so replay, status and promotion work unchanged.
//!
//! Each poll lists only after known names: the histories above the newest
//! known timeline, the current timeline's WAL folder after the last object
//! used (at start-up, after the first LSN of the segment the log ends in),
//! and, when nothing new came, the gaps from the log's end on and the
//! timeline's heartbeat. Never the whole archive.
//!
//! - An object overlapping what the standby has is sliced: records below its
//!   end are skipped.
//! - A history of a higher timeline is followed once the standby's position
//!   is on its path: the current timeline is read up to where it ended, the
//!   history installed, and the new timeline's folder read from there.
//! - A recorded gap at the log's end stops following for good, loudly
//!   (status `last_receive_error` names it).
//! - Store errors and damaged objects are logged once per streak and shown
//!   in status; nothing of a damaged object is applied, and the next poll
//!   tries again.

use crate::archive::catalog::{read_object, Catalog, WalObject};
use crate::archive::layout::{system_folder, Name};
use crate::archive::object::ObjectHeader;
use crate::archive::{ArchiveError, ArchiveKey, ArchiveStore};
use crate::clock::now_unix_ms;
use crate::ship::receive::intake::{Fatal, ReceiverShared};
use crate::ship::receive::local::{
    adopt_history, deliver, note_source_end, DeliverError, LocalChunk,
};
use crate::ship::receive::HistoryRefusal;
use crate::wal::format::{SegmentHeader, SEGMENT_HEADER_BYTES};
use crate::wal::format_lsn;
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Default of `--restore-every`.
pub const DEFAULT_RESTORE_EVERY: Duration = Duration::from_secs(10);
/// Most WAL objects applied in one poll: a standby far behind keeps
/// answering promotion and shutdown between polls.
pub const MAX_OBJECTS_PER_POLL: usize = 256;

/// The archive a standby follows (`--restore-from` and friends).
#[derive(Debug, Clone)]
pub struct FollowArchive {
    pub url: String,
    /// How often the archive is looked at.
    pub every: Duration,
    /// Client-side encryption of the objects.
    pub key: Option<ArchiveKey>,
}

/// What status shows of the archive followed.
#[derive(Debug)]
pub struct Following {
    pub url: String,
    /// The newest time the archive proves the log complete up to where this
    /// standby has it: the last record's time, or a later heartbeat of the
    /// node writing it while idle (0: nothing known yet).
    pub proven_unix_ms: AtomicU64,
}

impl Following {
    pub fn new(url: &str, proven_unix_ms: u64) -> Arc<Following> {
        Arc::new(Following {
            url: url.to_string(),
            proven_unix_ms: AtomicU64::new(proven_unix_ms),
        })
    }

    /// Seconds between now and the newest proven time (`None`: none yet).
    pub fn age_seconds(&self, now_unix_ms: u64) -> Option<f64> {
        match self.proven_unix_ms.load(Ordering::Acquire) {
            0 => None,
            t => Some(now_unix_ms.saturating_sub(t) as f64 / 1000.0),
        }
    }

    fn proven(&self, unix_ms: u64) {
        self.proven_unix_ms.fetch_max(unix_ms, Ordering::AcqRel);
    }
}

/// Why a poll of the archive did not go through.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// An object whose content does not continue the log; never applied.
    #[error("archive {url}: object {name} refused, nothing of it applied: {reason}")]
    Refused {
        url: String,
        name: String,
        reason: String,
    },
    #[error("archive {url}: a gap is recorded on timeline {timeline} at LSN {}..{} (the WAL there was lost before it was archived): following stopped at LSN {}; re-seed this standby (start it on an empty directory) to continue from a newer snapshot", format_lsn(*start_lsn), format_lsn(*end_lsn), format_lsn(*start_lsn))]
    Gap {
        url: String,
        timeline: u32,
        start_lsn: u64,
        end_lsn: u64,
    },
    #[error("archive {url}: history of timeline {timeline}: {source}")]
    History {
        url: String,
        timeline: u32,
        #[source]
        source: HistoryRefusal,
    },
    #[error("list the received log: {0}")]
    Local(#[source] crate::wal::WalError),
    /// Receipt is closed: a promotion runs or ran.
    #[error("receipt is closed: {0}")]
    Closed(String),
    #[error(transparent)]
    Fatal(#[from] Fatal),
}

impl FollowError {
    fn from_deliver(e: DeliverError, url: &str, name: &str) -> FollowError {
        match e {
            DeliverError::Closed(why) => FollowError::Closed(why),
            DeliverError::Refused(c) => FollowError::Refused {
                url: url.to_string(),
                name: name.to_string(),
                reason: c.to_string(),
            },
            DeliverError::Fatal(f) => FollowError::Fatal(f),
        }
    }
}

/// The loop following an archive into a standby's receiver.
pub struct Follower {
    shared: Arc<ReceiverShared>,
    store: ArchiveStore,
    system_id: u64,
    cfg: FollowArchive,
    wal_dir: PathBuf,
    shown: Arc<Following>,
    /// The timeline whose folder is read.
    timeline: u32,
    /// The last WAL object used, its path relative to the URL (`None` until
    /// the first poll sets it from the received log).
    after: Option<String>,
    /// Histories read so far, by timeline.
    known: Catalog,
    /// Set by a recorded gap: following stopped for good.
    stopped: bool,
    /// Polls that failed in a row (logged at the first).
    failing_in_row: u64,
}

impl Follower {
    /// A follower of the archive at `cfg.url`, system `system_id`, feeding
    /// `shared` (whose log lives in `wal_dir`).
    ///
    /// # Errors
    /// A malformed archive URL.
    pub fn new(
        shared: Arc<ReceiverShared>,
        system_id: u64,
        cfg: FollowArchive,
        wal_dir: PathBuf,
        shown: Arc<Following>,
    ) -> Result<Follower, ArchiveError> {
        assert!(system_id != 0, "following needs the system's identity");
        let store = ArchiveStore::open(&cfg.url)?;
        let timeline = shared.received.borrow().timeline.max(1);
        Ok(Follower {
            shared,
            store,
            system_id,
            cfg,
            wal_dir,
            shown,
            timeline,
            after: None,
            known: Catalog {
                system_id,
                ..Catalog::default()
            },
            stopped: false,
            failing_in_row: 0,
        })
    }

    /// Follows the archive until the log cannot be stored (a [`Fatal`]
    /// error: the standby stops). While receipt is closed (a promotion) or
    /// after a recorded gap it idles.
    ///
    /// # Errors
    /// [`Fatal`].
    pub async fn run(mut self) -> Result<(), Fatal> {
        let mut tick = tokio::time::interval(self.cfg.every.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.stopped || self.shared.refusal().is_some() {
                continue;
            }
            match self.poll().await {
                Ok(()) => {
                    if self.failing_in_row > 0 {
                        tracing::info!(url = %self.cfg.url, failed_polls = self.failing_in_row, "archive readable again: following resumes");
                    }
                    self.failing_in_row = 0;
                }
                Err(FollowError::Fatal(f)) => return Err(f),
                Err(FollowError::Closed(_)) => {}
                Err(e) => {
                    let gap = matches!(e, FollowError::Gap { .. });
                    self.shared.record_error(e.to_string());
                    if gap {
                        tracing::error!(url = %self.cfg.url, "{e}");
                        self.stopped = true;
                    } else if self.failing_in_row == 0 {
                        tracing::error!(url = %self.cfg.url, "following the archive: {e}; retrying every {:?}", self.cfg.every);
                    }
                    self.failing_in_row += 1;
                }
            }
        }
    }

    fn end_lsn(&self) -> u64 {
        self.shared.received.borrow().received_lsn
    }

    /// One look at the archive: new histories, new WAL, and when nothing
    /// came, gaps and the heartbeat.
    async fn poll(&mut self) -> Result<(), FollowError> {
        self.read_new_histories().await?;
        let mut applied = 0;
        loop {
            let until = self.timeline_end();
            applied += self.apply_new_wal(until).await?;
            let end = self.end_lsn();
            if until == Some(end) {
                self.switch_timeline().await?;
                continue;
            }
            break;
        }
        if applied == 0 {
            self.check_gap().await?;
            self.read_heartbeat().await?;
        }
        note_source_end(&self.shared, self.end_lsn(), now_unix_ms());
        Ok(())
    }

    /// Reads the histories of timelines above the newest one known.
    async fn read_new_histories(&mut self) -> Result<(), FollowError> {
        let newest = self
            .known
            .histories
            .keys()
            .max()
            .copied()
            .unwrap_or(self.timeline);
        let folder = format!("{}/history", system_folder(self.system_id));
        let after = ArchiveStore::object_path(self.system_id, &Name::History { timeline: newest });
        let listed = self
            .store
            .list(&folder, Some(&after))
            .await
            .map_err(ArchiveError::from)?;
        for l in listed {
            let Name::History { timeline } = l.name else {
                continue;
            };
            let (_, text) =
                read_object(&self.store, self.system_id, &l.name, self.cfg.key.as_ref()).await?;
            let rel = ArchiveStore::object_path(self.system_id, &l.name);
            let text = String::from_utf8_lossy(&text).into_owned();
            let h = crate::wal::timeline::parse(std::path::Path::new(&rel), &text)
                .map_err(ArchiveError::from)?;
            self.known.histories.insert(timeline, h);
        }
        Ok(())
    }

    /// The newest known timeline whose history has this standby's position
    /// on its path, when it is above the current one.
    fn next_timeline(&self) -> Option<u32> {
        let end = self.end_lsn();
        self.known
            .histories
            .keys()
            .rev()
            .copied()
            .find(|t| *t > self.timeline && self.known.on_path(*t, self.timeline, end))
    }

    /// Where the current timeline ends on the way to the next one, if a
    /// newer timeline continues from this standby's position.
    fn timeline_end(&self) -> Option<u64> {
        let next = self.next_timeline()?;
        self.known
            .path_to(next)
            .into_iter()
            .find(|(t, _)| *t == self.timeline)
            .map(|(_, until)| until)
    }

    /// Moves on to the next timeline: its history installed as a link's is.
    async fn switch_timeline(&mut self) -> Result<(), FollowError> {
        let Some(next) = self.next_timeline() else {
            return Ok(());
        };
        let name = Name::History { timeline: next };
        let (_, text) =
            read_object(&self.store, self.system_id, &name, self.cfg.key.as_ref()).await?;
        let text = String::from_utf8_lossy(&text).into_owned();
        adopt_history(&self.shared, next, &text)
            .await
            .map_err(|source| FollowError::History {
                url: self.cfg.url.clone(),
                timeline: next,
                source,
            })?;
        tracing::info!(url = %self.cfg.url, from = self.timeline, to = next, lsn = self.end_lsn(), "following the archive onto a new timeline");
        self.timeline = next;
        self.after = None;
        Ok(())
    }

    /// Where the listing of the current timeline's folder starts: after the
    /// last object used, or after the first LSN of the segment the received
    /// log ends in (every object that may continue it sorts after that).
    async fn listing_start(&self) -> Result<String, FollowError> {
        if let Some(a) = &self.after {
            return Ok(a.clone());
        }
        let dir = self.wal_dir.clone();
        let end = self.end_lsn();
        let first = tokio::task::spawn_blocking(move || {
            crate::wal::scan::list_segments(&crate::fs::StdFs, &dir)
        })
        .await
        .expect("listing does not panic")
        .map_err(FollowError::Local)?
        .iter()
        .rev()
        .find(|s| s.first_lsn <= end)
        .map_or(end, |s| s.first_lsn);
        Ok(format!(
            "{}/wal/{:08x}/{first:016x}",
            system_folder(self.system_id),
            self.timeline
        ))
    }

    /// Lists the current timeline's new WAL objects and applies those that
    /// continue the log, up to `until` (where the timeline ends on the way
    /// to a newer one). Returns how many objects were applied.
    async fn apply_new_wal(&mut self, until: Option<u64>) -> Result<usize, FollowError> {
        let folder = format!(
            "{}/wal/{:08x}",
            system_folder(self.system_id),
            self.timeline
        );
        let after = self.listing_start().await?;
        let objs: Vec<WalObject> = self
            .store
            .list(&folder, Some(&after))
            .await
            .map_err(ArchiveError::from)?
            .into_iter()
            .filter_map(|l| match l.name {
                Name::Wal {
                    timeline,
                    start_lsn,
                    end_lsn,
                } if timeline == self.timeline && end_lsn > start_lsn => Some(WalObject {
                    timeline,
                    start_lsn,
                    end_lsn,
                    size: l.size,
                }),
                _ => None,
            })
            .collect();
        let until = until.unwrap_or(u64::MAX);
        let mut applied = 0;
        while applied < MAX_OBJECTS_PER_POLL {
            let pos = self.end_lsn();
            if pos >= until {
                break;
            }
            // Of the objects continuing the log, the one reaching furthest
            // without passing the timeline's end (a diverged old primary's
            // objects may run past it), as a restore's chain chooses.
            let best = objs
                .iter()
                .filter(|o| o.start_lsn <= pos && o.end_lsn > pos)
                .max_by_key(|o| (o.end_lsn <= until, o.end_lsn.min(until)))
                .copied();
            let Some(o) = best else { break };
            self.apply_object(o, pos, o.end_lsn.min(until)).await?;
            applied += 1;
        }
        // Everything listed that starts at or below the end is used or of no
        // further use: the next listing starts after the last of them.
        let pos = self.end_lsn();
        if let Some(last) = objs.iter().rev().find(|o| o.start_lsn < pos) {
            self.after = Some(ArchiveStore::object_path(self.system_id, &last.name()));
        } else if self.after.is_none() {
            self.after = Some(after);
        }
        Ok(applied)
    }

    /// Reads object `o`, checks it, and delivers its records `[from, to)`.
    async fn apply_object(&mut self, o: WalObject, from: u64, to: u64) -> Result<(), FollowError> {
        assert!(o.start_lsn <= from && from < to && to <= o.end_lsn);
        let name = o.name();
        let rel = ArchiveStore::object_path(self.system_id, &name);
        let (h, content) =
            read_object(&self.store, self.system_id, &name, self.cfg.key.as_ref()).await?;
        let refused = |reason: String| FollowError::Refused {
            url: self.cfg.url.clone(),
            name: rel.clone(),
            reason,
        };
        let header = SegmentHeader::decode(&content)
            .map_err(|e| refused(format!("bad segment header: {e}")))?;
        let records = Bytes::from(content).slice(SEGMENT_HEADER_BYTES..);
        let (skip, take) = ((from - o.start_lsn) as usize, (to - o.start_lsn) as usize);
        if take > records.len() {
            return Err(refused(format!(
                "holds {} bytes of records, its name says {}",
                records.len(),
                o.end_lsn - o.start_lsn
            )));
        }
        let chunk = LocalChunk {
            header,
            start_lsn: from,
            bytes: records.slice(skip..take),
            source_end_lsn: h.log_end_lsn.max(to),
        };
        deliver(&self.shared, vec![chunk])
            .await
            .map_err(|e| FollowError::from_deliver(e, &self.cfg.url, &rel))?;
        // The log is complete up to here at the object's cut when nothing
        // followed it then; otherwise at its last record.
        let proven = if h.log_end_lsn == o.end_lsn && to == o.end_lsn {
            h.heartbeat_unix_ms.max(h.last_time_unix_ms)
        } else {
            h.last_time_unix_ms
        };
        self.shown.proven(proven);
        Ok(())
    }

    /// Stops following at a gap recorded where the log ends.
    async fn check_gap(&self) -> Result<(), FollowError> {
        let end = self.end_lsn();
        let sys = system_folder(self.system_id);
        let after = format!("{sys}/gaps/{:08x}-{end:016x}", self.timeline);
        let listed = self
            .store
            .list(&format!("{sys}/gaps"), Some(&after))
            .await
            .map_err(ArchiveError::from)?;
        for l in listed {
            if let Name::Gap {
                timeline,
                start_lsn,
                end_lsn,
            } = l.name
            {
                if timeline == self.timeline && start_lsn <= end && end < end_lsn {
                    return Err(FollowError::Gap {
                        url: self.cfg.url.clone(),
                        timeline,
                        start_lsn,
                        end_lsn,
                    });
                }
            }
        }
        Ok(())
    }

    /// An idle node's heartbeat for the current timeline: when it says the
    /// log ends where this standby's does, the log is proven complete up to
    /// its time.
    async fn read_heartbeat(&self) -> Result<(), FollowError> {
        let name = Name::Heartbeat {
            timeline: self.timeline,
        };
        let rel = ArchiveStore::object_path(self.system_id, &name);
        let head = 0..crate::archive::object::OBJECT_HEADER_BYTES as u64;
        let Some(bytes) = self
            .store
            .get_range(&rel, head)
            .await
            .map_err(ArchiveError::from)?
        else {
            return Ok(()); // none written yet (the node was never idle that long)
        };
        let h = ObjectHeader::decode(&bytes).map_err(|source| ArchiveError::Object {
            url: self.cfg.url.clone(),
            name: rel.clone(),
            source,
        })?;
        let end = self.end_lsn();
        if h.end_lsn == end {
            self.shown.proven(h.heartbeat_unix_ms);
        }
        note_source_end(&self.shared, h.end_lsn, 0);
        Ok(())
    }
}
