//! The records an archive holds, in LSN order along its latest timeline, for
//! readers that walk them one by one (`logship dump URL`).

use super::catalog::{self, Catalog, Step};
use super::{ArchiveError, ArchiveKey, ArchiveStore};
use crate::wal::format::{SegmentHeader, SEGMENT_HEADER_BYTES};
use crate::wal::Record;
use bytes::Bytes;

/// Records of an archive, fetched an object at a time.
pub struct ArchiveRecords {
    rt: tokio::runtime::Runtime,
    store: ArchiveStore,
    system_id: u64,
    key: Option<ArchiveKey>,
    steps: std::vec::IntoIter<Step>,
    from_lsn: u64,
    current: std::vec::IntoIter<Record>,
    failed: bool,
}

impl ArchiveRecords {
    /// Opens the archive at `url` and lists the objects holding its latest
    /// timeline's log from `from_lsn` (or its first object) on.
    ///
    /// # Errors
    /// Store errors; an archive without a system.
    pub fn open(
        url: &str,
        key: Option<ArchiveKey>,
        from_lsn: Option<u64>,
    ) -> Result<ArchiveRecords, ArchiveError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ArchiveError::Local(format!("start a runtime: {e}")))?;
        let store = ArchiveStore::open(url)?;
        let c = rt.block_on(Catalog::load(&store, None, key.as_ref()))?;
        let timeline = c.latest_timeline();
        let first = c
            .path_to(timeline)
            .iter()
            .find_map(|(tl, _)| c.wal.get(tl).and_then(|v| v.first()).map(|o| o.start_lsn))
            .unwrap_or(0);
        let from = from_lsn.unwrap_or(first).max(first);
        let steps = c.chain(timeline, from).steps;
        Ok(ArchiveRecords {
            rt,
            store,
            system_id: c.system_id,
            key,
            steps: steps.into_iter(),
            from_lsn: from,
            current: Vec::new().into_iter(),
            failed: false,
        })
    }

    fn fetch(&mut self, step: Step) -> Result<Vec<Record>, ArchiveError> {
        let (_, content) = self.rt.block_on(catalog::read_object(
            &self.store,
            self.system_id,
            &step.object.name(),
            self.key.as_ref(),
        ))?;
        let name = step.object.name().path();
        let bad = |e: &dyn std::fmt::Display| {
            ArchiveError::Refused(format!("archive {}: object {name}: {e}", self.store.url()))
        };
        let header = SegmentHeader::decode(&content).map_err(|e| bad(&e))?;
        let records = Bytes::from(content).slice(SEGMENT_HEADER_BYTES..);
        let skip = (step.from_lsn - step.object.start_lsn) as usize;
        let take = (step.until_lsn - step.object.start_lsn) as usize;
        let part = records.slice(skip.min(records.len())..take.min(records.len()));
        let recs =
            crate::wal::mirror::records_of(&header, step.from_lsn, &part).map_err(|e| bad(&e))?;
        Ok(recs
            .into_iter()
            .filter(|r| r.lsn >= self.from_lsn)
            .collect())
    }
}

impl Iterator for ArchiveRecords {
    type Item = Result<Record, ArchiveError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.current.next() {
                return Some(Ok(r));
            }
            if self.failed {
                return None;
            }
            let step = self.steps.next()?;
            match self.fetch(step) {
                Ok(v) => self.current = v.into_iter(),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
