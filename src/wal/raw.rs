//! Reading the log as raw, already-encoded record bytes for shipping: chunks of
//! whole records, each within one segment, zero-copy from the segment file.
//!
//! The records are checked before they leave (a corrupt byte on the primary is
//! never shipped silently); the standby checks them again before writing.
//! [`RawReader::chunk`] cuts and checks in one go; a shipper that checks chunks
//! on several threads cuts them with [`RawReader::cut`], which follows the
//! record headers only, and checks each with [`RawChunk::verify`].

use super::error::{Result, WalError};
use super::format::{SegmentHeader, SEGMENT_HEADER_BYTES};
use super::mirror::{check_chunk, ChunkError};
use super::scan::{list_segments, SegmentCursor, SegmentFile, Step};
use crate::fs::SharedFs;
use bytes::Bytes;
use std::path::PathBuf;

/// Whole records `[start_lsn, end_lsn)` of the segment `header` describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawChunk {
    pub header: SegmentHeader,
    pub start_lsn: u64,
    pub end_lsn: u64,
    /// Number of records in the chunk (seal included).
    pub records: u64,
    /// Timestamp of the last record in the chunk.
    pub last_timestamp_unix_ms: u64,
    /// The encoded records, exactly as on disk.
    pub bytes: Bytes,
    /// The segment file they come from.
    pub segment: PathBuf,
}

impl RawChunk {
    /// Checks every record of the chunk, checksums included.
    ///
    /// # Errors
    /// [`WalError::Corruption`] naming the segment, offset and LSN of the first
    /// damaged record.
    pub fn verify(&self) -> Result<()> {
        match check_chunk(&self.header, self.start_lsn, &self.bytes) {
            Ok(_) => Ok(()),
            Err(ChunkError::Record { lsn, reason }) => Err(WalError::Corruption {
                segment: self.segment.clone(),
                offset: SEGMENT_HEADER_BYTES as u64 + (lsn - self.header.first_lsn),
                lsn,
                reason,
            }),
            Err(e) => Err(WalError::Corruption {
                segment: self.segment.clone(),
                offset: SEGMENT_HEADER_BYTES as u64 + (self.start_lsn - self.header.first_lsn),
                lsn: self.start_lsn,
                reason: e.to_string(),
            }),
        }
    }
}

/// Cuts chunks out of a log directory, keeping the current segment mapped.
pub struct RawReader {
    fs: SharedFs,
    dir: PathBuf,
    current: Option<(SegmentFile, SegmentCursor)>,
}

impl RawReader {
    /// A reader of the log in `dir`.
    pub fn new(fs: SharedFs, dir: impl Into<PathBuf>) -> RawReader {
        RawReader {
            fs,
            dir: dir.into(),
            current: None,
        }
    }

    /// LSN of the oldest record still on disk, if any.
    ///
    /// # Errors
    /// [`WalError::Io`] when the directory cannot be read.
    pub fn oldest_lsn(&self) -> Result<Option<u64>> {
        Ok(list_segments(&*self.fs, &self.dir)?
            .first()
            .map(|s| s.first_lsn))
    }

    /// The chunk of whole records starting at `from_lsn` (a record boundary),
    /// ending before `until_lsn` (a record boundary) and holding at most
    /// `max_bytes` (but always at least one record). `None` when
    /// `from_lsn >= until_lsn`.
    ///
    /// # Errors
    /// [`WalError::Gap`] when `from_lsn` is no longer (or not yet) on disk;
    /// [`WalError::Corruption`] when a record below `until_lsn` is damaged or
    /// `from_lsn` is not a record boundary.
    pub fn chunk(
        &mut self,
        from_lsn: u64,
        until_lsn: u64,
        max_bytes: usize,
    ) -> Result<Option<RawChunk>> {
        let chunk = self.cut(from_lsn, until_lsn, max_bytes)?;
        if let Some(c) = &chunk {
            c.verify()?;
        }
        Ok(chunk)
    }

    /// As [`chunk`](Self::chunk), but finding the records by their headers
    /// alone: the chunk's checksums are still to be checked
    /// ([`RawChunk::verify`]) before it may be shipped.
    ///
    /// # Errors
    /// As [`chunk`](Self::chunk), for damage a record's header shows.
    pub fn cut(
        &mut self,
        from_lsn: u64,
        until_lsn: u64,
        max_bytes: usize,
    ) -> Result<Option<RawChunk>> {
        if from_lsn >= until_lsn {
            return Ok(None);
        }
        self.position(from_lsn)?;
        let mut reread = false;
        loop {
            let (file, cur) = self.current.as_mut().expect("positioned");
            cur.lsn = from_lsn;
            let start_off = cur.offset_of(from_lsn) as usize;
            let mut records = 0;
            let mut last_ts = 0;
            let mut stop = None;
            while cur.lsn < until_lsn {
                let before = cur.lsn;
                match cur.step() {
                    Step::Record { record, .. } => {
                        // Stay within the budget, unless this is the first record.
                        if records > 0 && cur.lsn - from_lsn > max_bytes as u64 {
                            cur.lsn = before;
                            cur.sealed = false;
                            break;
                        }
                        records += 1;
                        last_ts = record.header.timestamp_unix_ms;
                        if cur.sealed {
                            break;
                        }
                    }
                    Step::Full => break,
                    Step::Stop {
                        offset,
                        lsn,
                        reason,
                    } => {
                        stop = Some((offset, lsn, reason));
                        break;
                    }
                }
            }
            if records == 0 {
                if let Some((offset, lsn, reason)) = stop {
                    if !reread {
                        // A copy-on-read file system may hold an older copy.
                        reread = true;
                        let data = self
                            .fs
                            .read(&file.path)
                            .map_err(|e| WalError::io("read", &file.path, e))?;
                        *cur = SegmentCursor::new(file, data)?.without_checksums();
                        continue;
                    }
                    return Err(WalError::Corruption {
                        segment: file.path.clone(),
                        offset,
                        lsn,
                        reason: format!("{reason} (below the shipping bound {until_lsn:#x})"),
                    });
                }
                return Err(WalError::Gap {
                    reason: format!("no record at LSN {from_lsn:#x} in {}", file.path.display()),
                });
            }
            let end_off = cur.offset_of(cur.lsn) as usize;
            return Ok(Some(RawChunk {
                header: cur.header,
                start_lsn: from_lsn,
                end_lsn: cur.lsn,
                records,
                last_timestamp_unix_ms: last_ts,
                bytes: cur.data.slice(start_off..end_off),
                segment: file.path.clone(),
            }));
        }
    }

    /// Makes `current` the segment that holds `lsn`.
    fn position(&mut self, lsn: u64) -> Result<()> {
        if let Some((_, cur)) = &self.current {
            let h = cur.header;
            if lsn >= h.first_lsn && lsn < h.end_capacity_lsn() && !(cur.sealed && lsn >= cur.lsn) {
                return Ok(());
            }
        }
        let files = list_segments(&*self.fs, &self.dir)?;
        let file = files
            .iter()
            .rev()
            .find(|f| f.first_lsn <= lsn)
            .cloned()
            .ok_or_else(|| WalError::Gap {
                reason: format!(
                    "LSN {lsn:#x} is no longer in {} (oldest segment starts at {})",
                    self.dir.display(),
                    files
                        .first()
                        .map_or("none".to_string(), |f| format!("{:#x}", f.first_lsn))
                ),
            })?;
        let data = self
            .fs
            .read(&file.path)
            .map_err(|e| WalError::io("read", &file.path, e))?;
        let cur = SegmentCursor::new(&file, data)?.without_checksums();
        if lsn >= cur.header.end_capacity_lsn() {
            return Err(WalError::Gap {
                reason: format!("no segment holds LSN {lsn:#x} in {}", self.dir.display()),
            });
        }
        self.current = Some((file, cur));
        Ok(())
    }
}
