//! Reading records in LSN order from any LSN, checking every checksum and the
//! continuity of LSNs across segments.

use super::error::{Result, WalError};
use super::format::RecordKind;
use super::scan::{list_segments, SegmentCursor, SegmentFile, Step};
use crate::fs::SharedFs;
use bytes::Bytes;
use std::path::PathBuf;

/// One record as read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub lsn: u64,
    /// LSN of the next record.
    pub end_lsn: u64,
    pub timeline: u32,
    pub timestamp_unix_ms: u64,
    pub kind: RecordKind,
    /// The payload (zero-copy from the segment where possible).
    pub payload: Bytes,
    /// CRC-32 stored in the record header (already verified).
    pub crc: u32,
}

/// Iterates records from `from_lsn`, optionally only below `until_lsn`.
///
/// Below `until_lsn` every byte must be a valid record: damage or a missing
/// segment there is an error. Without a bound the reader stops quietly at the end
/// of the last segment's valid records (a torn tail is recovery's business).
pub struct WalReader {
    fs: SharedFs,
    dir: PathBuf,
    from_lsn: u64,
    until_lsn: Option<u64>,
    file: SegmentFile,
    cursor: SegmentCursor,
    done: bool,
}

impl WalReader {
    /// Opens a reader at `from_lsn` (records before it are skipped).
    ///
    /// # Errors
    /// [`WalError::Empty`] for a directory without segments, [`WalError::Gap`] when
    /// `from_lsn` is older than the oldest segment, and header errors.
    pub fn open(
        fs: SharedFs,
        dir: impl Into<PathBuf>,
        from_lsn: u64,
        until_lsn: Option<u64>,
    ) -> Result<WalReader> {
        let dir = dir.into();
        let files = list_segments(&*fs, &dir)?;
        let Some(first) = files.first() else {
            return Err(WalError::Empty(dir));
        };
        if from_lsn < first.first_lsn {
            return Err(WalError::Gap {
                reason: format!(
                    "LSN {from_lsn:#x} is no longer in {} (the oldest segment starts at {:#x})",
                    dir.display(),
                    first.first_lsn
                ),
            });
        }
        let file = files
            .iter()
            .rev()
            .find(|f| f.first_lsn <= from_lsn)
            .expect("the first segment qualifies")
            .clone();
        let cursor = open_cursor(&*fs, &file)?;
        Ok(WalReader {
            fs,
            dir,
            from_lsn,
            until_lsn,
            file,
            cursor,
            done: false,
        })
    }

    /// Opens a reader at `record_lsn`, which the caller knows to be where a
    /// record starts (an applied or end LSN, never one from outside): unlike
    /// [`open`](Self::open) it does not read the segment from its start to get
    /// there. Should `record_lsn` fall inside a record after all, the next read
    /// fails its checksum and returns a corruption error.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_at_record(
        fs: SharedFs,
        dir: impl Into<PathBuf>,
        record_lsn: u64,
        until_lsn: Option<u64>,
    ) -> Result<WalReader> {
        let mut r = WalReader::open(fs, dir, record_lsn, until_lsn)?;
        if record_lsn >= r.file.first_lsn
            && r.cursor.offset_of(record_lsn) <= r.cursor.header.segment_bytes
        {
            r.cursor.lsn = record_lsn;
        }
        Ok(r)
    }

    /// Moves the bound up to `until_lsn` (never down), so that a reader that
    /// stopped at its bound continues as the log grows, without being reopened
    /// (a reader that stopped on an error stays stopped).
    pub fn extend_until(&mut self, until_lsn: u64) {
        if let Some(u) = self.until_lsn {
            if until_lsn > u {
                let at_bound = self.cursor.lsn >= u;
                self.until_lsn = Some(until_lsn);
                if at_bound && self.cursor.lsn < until_lsn {
                    self.done = false;
                }
            }
        }
    }

    /// LSN of the next record the reader will look at.
    pub fn next_lsn(&self) -> u64 {
        self.cursor.lsn
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        let mut reread = false;
        loop {
            if self.until_lsn.is_some_and(|u| self.cursor.lsn >= u) {
                return Ok(None);
            }
            match self.cursor.step() {
                Step::Record { record, offset } => {
                    reread = false;
                    if record.header.lsn < self.from_lsn {
                        continue;
                    }
                    let payload = self.cursor.payload(&record, offset);
                    return Ok(Some(Record {
                        lsn: record.header.lsn,
                        end_lsn: record.header.lsn + record.footprint,
                        timeline: record.header.timeline,
                        timestamp_unix_ms: record.header.timestamp_unix_ms,
                        kind: record.kind(),
                        payload,
                        crc: record.header.crc,
                    }));
                }
                Step::Full => {
                    if !self.cursor.sealed {
                        return Err(WalError::Corruption {
                            segment: self.file.path.clone(),
                            offset: self.cursor.offset_of(self.cursor.lsn),
                            lsn: self.cursor.lsn,
                            reason: "segment is full but has no seal record".into(),
                        });
                    }
                    let next = self.cursor.lsn;
                    let files = list_segments(&*self.fs, &self.dir)?;
                    match files.into_iter().find(|f| f.first_lsn == next) {
                        Some(f) => {
                            self.cursor = open_cursor(&*self.fs, &f)?;
                            self.file = f;
                        }
                        None if self.until_lsn.is_some() => {
                            return Err(WalError::Gap {
                                reason: format!(
                                    "no segment starts at LSN {next:#x} after {}",
                                    self.file.path.display()
                                ),
                            })
                        }
                        None => return Ok(None),
                    }
                }
                Step::Stop {
                    offset,
                    lsn,
                    reason,
                } => {
                    let must_exist = self.until_lsn.is_some_and(|u| lsn < u);
                    if must_exist && !reread {
                        // The segment may have grown since it was read (in-memory
                        // file systems hand out copies): read it once more.
                        reread = true;
                        let data = self
                            .fs
                            .read(&self.file.path)
                            .map_err(|e| WalError::io("read", &self.file.path, e))?;
                        let mut c = SegmentCursor::new(&self.file, data)?;
                        c.lsn = lsn;
                        self.cursor = c;
                        continue;
                    }
                    let later = list_segments(&*self.fs, &self.dir)?
                        .iter()
                        .any(|f| f.first_lsn > self.file.first_lsn);
                    if must_exist || later {
                        return Err(WalError::Corruption {
                            segment: self.file.path.clone(),
                            offset,
                            lsn,
                            reason: reason.to_string(),
                        });
                    }
                    return Ok(None);
                }
            }
        }
    }
}

fn open_cursor(fs: &dyn crate::fs::Fs, file: &SegmentFile) -> Result<SegmentCursor> {
    let data = fs
        .read(&file.path)
        .map_err(|e| WalError::io("read", &file.path, e))?;
    SegmentCursor::new(file, data)
}

impl Iterator for WalReader {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
