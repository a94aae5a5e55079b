//! What an archive holds for one system: timeline histories, snapshots, WAL
//! objects per timeline and recorded gaps; the chain of objects a restore
//! reads along a timeline's history, and where that chain breaks.

use super::layout::{system_folder, Name};
use super::object::{ObjectError, ObjectHeader, OBJECT_HEADER_BYTES};
use super::store::{ArchiveStore, Listed};
use super::{ArchiveError, ArchiveKey};
use crate::wal::format_lsn;
use crate::wal::timeline::Switch;
use std::collections::BTreeMap;

/// A WAL object in the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalObject {
    pub timeline: u32,
    pub start_lsn: u64,
    pub end_lsn: u64,
    pub size: u64,
}

impl WalObject {
    pub fn name(&self) -> Name {
        Name::Wal {
            timeline: self.timeline,
            start_lsn: self.start_lsn,
            end_lsn: self.end_lsn,
        }
    }
}

/// A recorded gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapObject {
    pub timeline: u32,
    pub start_lsn: u64,
    pub end_lsn: u64,
}

/// One system's objects.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub system_id: u64,
    /// Timeline → its history (the switches that led to it).
    pub histories: BTreeMap<u32, Vec<Switch>>,
    /// (timeline, LSN, size), by LSN.
    pub snapshots: Vec<(u32, u64, u64)>,
    /// Timeline → its WAL objects by start LSN.
    pub wal: BTreeMap<u32, Vec<WalObject>>,
    pub gaps: Vec<GapObject>,
    pub heartbeats: Vec<u32>,
    pub total_bytes: u64,
    pub objects: u64,
}

/// One step of a chain: read `object`, use its records from `from_lsn` up
/// to `until_lsn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub object: WalObject,
    pub from_lsn: u64,
    pub until_lsn: u64,
}

/// The objects a restore reads from an LSN on, and why they stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub steps: Vec<Step>,
    /// Everything below this is covered.
    pub end_lsn: u64,
    /// A recorded gap where the chain breaks, if that is why.
    pub gap: Option<GapObject>,
}

impl Catalog {
    /// Lists one system of the archive (the only one when `system_id` is
    /// `None`) and reads its histories.
    ///
    /// # Errors
    /// Store errors; [`ArchiveError::Refused`] for an empty archive, or one
    /// holding several systems when none was named.
    pub async fn load(
        store: &ArchiveStore,
        system_id: Option<u64>,
        key: Option<&ArchiveKey>,
    ) -> Result<Catalog, ArchiveError> {
        let system_id = match system_id {
            Some(s) => s,
            None => {
                let systems = store.systems().await?;
                match systems.as_slice() {
                    [one] => *one,
                    [] => {
                        return Err(ArchiveError::Refused(format!(
                            "archive {} holds no logship system",
                            store.url()
                        )))
                    }
                    many => {
                        return Err(ArchiveError::Refused(format!(
                            "archive {} holds {} systems ({}): name one with --system-id",
                            store.url(),
                            many.len(),
                            many.iter()
                                .map(|s| format!("{s:016x}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )))
                    }
                }
            }
        };
        let listed = store.list(&system_folder(system_id), None).await?;
        let mut c = Catalog {
            system_id,
            ..Default::default()
        };
        for Listed { name, size, .. } in listed {
            c.total_bytes += size;
            c.objects += 1;
            match name {
                Name::Wal {
                    timeline,
                    start_lsn,
                    end_lsn,
                } => c.wal.entry(timeline).or_default().push(WalObject {
                    timeline,
                    start_lsn,
                    end_lsn,
                    size,
                }),
                Name::Snapshot { timeline, lsn } => c.snapshots.push((timeline, lsn, size)),
                Name::History { timeline } => {
                    let rel = ArchiveStore::object_path(system_id, &name);
                    let bytes = store.get(&rel).await?.unwrap_or_default();
                    let (_, text) = super::object::decode(&bytes, key).map_err(|source| {
                        ArchiveError::Object {
                            url: store.url().to_string(),
                            name: rel.clone(),
                            source,
                        }
                    })?;
                    let text = String::from_utf8_lossy(&text).into_owned();
                    let h = crate::wal::timeline::parse(std::path::Path::new(&rel), &text)?;
                    c.histories.insert(timeline, h);
                }
                Name::Gap {
                    timeline,
                    start_lsn,
                    end_lsn,
                } => c.gaps.push(GapObject {
                    timeline,
                    start_lsn,
                    end_lsn,
                }),
                Name::Heartbeat { timeline } => c.heartbeats.push(timeline),
            }
        }
        c.snapshots.sort_by_key(|s| (s.1, s.0));
        for v in c.wal.values_mut() {
            v.sort_by_key(|o| (o.start_lsn, o.end_lsn));
        }
        Ok(c)
    }

    /// The highest timeline with WAL, a snapshot or a history.
    pub fn latest_timeline(&self) -> u32 {
        let wal = self.wal.keys().max().copied().unwrap_or(1);
        let hist = self.histories.keys().max().copied().unwrap_or(1);
        let snap = self.snapshots.iter().map(|s| s.0).max().unwrap_or(1);
        wal.max(hist).max(snap)
    }

    /// The timelines leading to `timeline` and where each ends on its way:
    /// `[(1, switch_1), (2, switch_2), …, (timeline, u64::MAX)]`.
    pub fn path_to(&self, timeline: u32) -> Vec<(u32, u64)> {
        let mut path: Vec<(u32, u64)> = self
            .histories
            .get(&timeline)
            .map(|h| h.iter().map(|s| (s.timeline, s.switch_lsn)).collect())
            .unwrap_or_default();
        path.push((timeline, u64::MAX));
        path
    }

    /// Whether LSN `lsn` of timeline `tl` lies on the way to `timeline`.
    pub fn on_path(&self, timeline: u32, tl: u32, lsn: u64) -> bool {
        let path = self.path_to(timeline);
        let mut from = 0;
        for (t, until) in path {
            if t == tl {
                return lsn >= from && lsn <= until;
            }
            from = until;
        }
        false
    }

    /// The objects covering the log of `timeline` from `from_lsn` on, until
    /// the first LSN no object covers.
    pub fn chain(&self, timeline: u32, from_lsn: u64) -> Chain {
        let mut steps = Vec::new();
        let mut pos = from_lsn;
        let path = self.path_to(timeline);
        'timelines: for (tl, until) in path {
            let Some(objs) = self.wal.get(&tl) else {
                if pos < until {
                    // Nothing of this timeline: the next one may start here.
                    continue;
                }
                continue;
            };
            while pos < until {
                // Of the objects covering `pos`, the one reaching furthest
                // without passing the timeline's end (a diverged old
                // primary's objects may run past it).
                let best = objs
                    .iter()
                    .filter(|o| o.start_lsn <= pos && o.end_lsn > pos)
                    .max_by_key(|o| (o.end_lsn <= until, o.end_lsn.min(until)));
                match best {
                    Some(o) => {
                        let until_lsn = o.end_lsn.min(until);
                        steps.push(Step {
                            object: *o,
                            from_lsn: pos,
                            until_lsn,
                        });
                        pos = until_lsn;
                    }
                    None => {
                        if until != u64::MAX && objs.iter().all(|o| o.end_lsn <= pos) {
                            // This timeline's objects end here: go on with the next.
                            continue 'timelines;
                        }
                        break 'timelines;
                    }
                }
            }
        }
        let gap = self
            .gaps
            .iter()
            .find(|g| g.start_lsn <= pos && pos < g.end_lsn)
            .copied();
        Chain {
            steps,
            end_lsn: pos,
            gap,
        }
    }

    /// The newest snapshot on the way to `timeline` at or below `max_lsn`.
    pub fn snapshot_at_or_before(&self, timeline: u32, max_lsn: u64) -> Option<(u32, u64)> {
        self.snapshots
            .iter()
            .rev()
            .find(|(tl, lsn, _)| *lsn <= max_lsn && self.on_path(timeline, *tl, *lsn))
            .map(|(tl, lsn, _)| (*tl, *lsn))
    }

    /// Whether the log of `timeline` can be restored from LSN 0 without a
    /// snapshot (its first object starts there).
    pub fn starts_at_zero(&self, timeline: u32) -> bool {
        self.path_to(timeline)
            .first()
            .and_then(|(tl, _)| self.wal.get(tl))
            .and_then(|v| v.first())
            .is_some_and(|o| o.start_lsn == 0)
    }
}

/// Reads just the header of an object (a ranged read).
///
/// # Errors
/// Store errors; [`ArchiveError::Object`] for a damaged header.
pub async fn read_header(
    store: &ArchiveStore,
    system_id: u64,
    name: &Name,
) -> Result<ObjectHeader, ArchiveError> {
    let rel = ArchiveStore::object_path(system_id, name);
    let bytes = store
        .get_range(&rel, 0..OBJECT_HEADER_BYTES as u64)
        .await?
        .ok_or_else(|| ArchiveError::Object {
            url: store.url().to_string(),
            name: rel.clone(),
            source: ObjectError::Truncated(0),
        })?;
    ObjectHeader::decode(&bytes).map_err(|source| ArchiveError::Object {
        url: store.url().to_string(),
        name: rel,
        source,
    })
}

/// Reads and decodes a whole object.
///
/// # Errors
/// Store errors; [`ArchiveError::Object`] for a missing or damaged object.
pub async fn read_object(
    store: &ArchiveStore,
    system_id: u64,
    name: &Name,
    key: Option<&ArchiveKey>,
) -> Result<(ObjectHeader, Vec<u8>), ArchiveError> {
    let rel = ArchiveStore::object_path(system_id, name);
    let bytes = store.get(&rel).await?.ok_or_else(|| ArchiveError::Object {
        url: store.url().to_string(),
        name: rel.clone(),
        source: ObjectError::Truncated(0),
    })?;
    let key = key.cloned();
    let (header, content) =
        tokio::task::spawn_blocking(move || super::object::decode(&bytes, key.as_ref()))
            .await
            .expect("decoding does not panic")
            .map_err(|source| ArchiveError::Object {
                url: store.url().to_string(),
                name: rel.clone(),
                source,
            })?;
    if header.system_id != system_id
        || header.kind != name.kind()
        || header.timeline != name.timeline()
    {
        return Err(ArchiveError::Refused(format!(
            "archive {}: object {rel} holds {} of system {:016x} timeline {}, not what its name says",
            store.url(),
            header.kind.word(),
            header.system_id,
            header.timeline
        )));
    }
    if let Name::Wal {
        start_lsn, end_lsn, ..
    } = *name
    {
        if (header.start_lsn, header.end_lsn) != (start_lsn, end_lsn) {
            return Err(ArchiveError::Refused(format!(
                "archive {}: object {rel} holds LSN {}..{}, not what its name says",
                store.url(),
                format_lsn(header.start_lsn),
                format_lsn(header.end_lsn)
            )));
        }
    }
    Ok((header, content))
}
