//! The standby's copy of the log: received chunks of records are checked record
//! by record and written into segments byte-identical to the primary's, so the
//! same scanner, reader and recovery serve both sides.

use super::error::{Result, WalError};
use super::format::{
    check_record, CheckedRecord, RecordKind, SegmentHeader, SEAL_RECORD_BYTES, SEGMENT_HEADER_BYTES,
};
use super::reader::Record;
use super::recovery::repair_if_torn;
use super::scan::{scan_dir, ScanReport};
use super::segment::install;
use super::spare::{allocate, is_no_space};
use crate::fs::{FsFile, SharedFs};
use bytes::Bytes;
use std::path::PathBuf;

/// The file a new received segment is prepared in before it is named.
const PREPARING: &str = "receive.prep";

/// A log being received.
pub struct Mirror {
    fs: SharedFs,
    dir: PathBuf,
    current: Option<(SegmentHeader, PathBuf, Box<dyn FsFile>)>,
    /// The current segment ended with a seal record.
    sealed: bool,
    system_id: Option<u64>,
    /// Next LSN expected; everything below has been written.
    end_lsn: u64,
    /// Everything below this LSN is durable.
    durable_lsn: u64,
    /// Timestamp of the newest record received.
    last_timestamp_unix_ms: u64,
}

/// Why a received chunk was refused. Nothing of a refused chunk is written.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// The chunk does not start where the log ends.
    #[error("gap: chunk starts at LSN {start:#x} but the received log ends at LSN {end:#x}")]
    Gap { start: u64, end: u64 },
    /// The chunk belongs to another cluster.
    #[error("system id mismatch: chunk is from system {got:016x}, this log is system {want:016x}")]
    SystemId { got: u64, want: u64 },
    /// The segment header differs from the one on disk.
    #[error("segment header mismatch at LSN {lsn:#x}: {reason}")]
    Header { lsn: u64, reason: String },
    /// A record failed its check.
    #[error("bad record at LSN {lsn:#x}: {reason}")]
    Record { lsn: u64, reason: String },
    /// The disk has no room for the segment the chunk starts. Nothing of the
    /// chunk was written and the log is as it was: the same chunk can be
    /// received again once space is freed.
    #[error("no space left on device for the received segment starting at LSN {lsn:#x} ({detail}): free space on the standby; receipt resumes with the primary's next shipment")]
    NoSpace { lsn: u64, detail: String },
    /// Writing failed (fatal for the receiver).
    #[error(transparent)]
    Wal(#[from] WalError),
}

impl Mirror {
    /// Opens the received log in `dir` (created if missing), cutting a torn tail
    /// like [`super::open`] does.
    ///
    /// # Errors
    /// As [`scan_dir`]: damage other than a torn tail refuses to open.
    pub fn open(fs: SharedFs, dir: impl Into<PathBuf>) -> Result<(Mirror, ScanReport)> {
        let dir = dir.into();
        if !fs.exists(&dir) {
            fs.create_dir_all(&dir)
                .map_err(|e| WalError::io("create directory", &dir, e))?;
        }
        let report = scan_dir(&*fs, &dir)?;
        repair_if_torn(&fs, &report)?;
        // A segment being prepared when the standby stopped never got its name.
        let tmp = dir.join(PREPARING);
        if fs.exists(&tmp) {
            fs.remove(&tmp)
                .map_err(|e| WalError::io("remove", &tmp, e))?;
        }
        let mut m = Mirror {
            fs: fs.clone(),
            dir,
            current: None,
            sealed: false,
            system_id: report.system_id,
            end_lsn: report.end_lsn,
            durable_lsn: report.end_lsn,
            last_timestamp_unix_ms: report
                .segments
                .iter()
                .rev()
                .find_map(|s| s.last_timestamp_unix_ms)
                .unwrap_or(0),
        };
        if let Some(last) = report.segments.last() {
            m.sealed = last.sealed;
            if !last.sealed {
                let f = fs
                    .open_write(&last.file.path)
                    .map_err(|e| WalError::io("open", &last.file.path, e))?;
                m.current = Some((last.header, last.file.path.clone(), f));
            }
        }
        Ok((m, report))
    }

    /// The directory of the received log.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The file system the log lives on.
    pub fn fs(&self) -> &SharedFs {
        &self.fs
    }

    /// Next LSN expected (everything below has been written).
    pub fn end_lsn(&self) -> u64 {
        self.end_lsn
    }

    /// Everything below this LSN is durable.
    pub fn durable_lsn(&self) -> u64 {
        self.durable_lsn
    }

    /// The cluster this log belongs to, once known.
    pub fn system_id(&self) -> Option<u64> {
        self.system_id
    }

    /// Timeline of the newest segment, if any.
    pub fn timeline(&self) -> Option<u32> {
        self.current.as_ref().map(|(h, _, _)| h.timeline)
    }

    /// Timestamp of the newest record received.
    pub fn last_timestamp_unix_ms(&self) -> u64 {
        self.last_timestamp_unix_ms
    }

    /// Checks the records in `bytes` (whole records starting at `start_lsn` in the
    /// segment `header` describes) and writes them. Nothing is written if any
    /// check fails. Returns the number of records.
    ///
    /// # Errors
    /// [`ChunkError`] naming the mismatch; `ChunkError::Wal` for I/O failures.
    pub fn append(
        &mut self,
        header: &SegmentHeader,
        start_lsn: u64,
        bytes: &[u8],
    ) -> std::result::Result<u64, ChunkError> {
        self.append_with(header, start_lsn, bytes, |_, _, _| {})
    }

    /// [`append`](Self::append), also pushing the records it checked onto
    /// `out`, their payloads sliced out of `bytes` (no copy): what replay
    /// applies from a chunk it is handed directly, without walking the chunk
    /// a second time. `out` is left as it was when the chunk is refused.
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn append_records(
        &mut self,
        header: &SegmentHeader,
        start_lsn: u64,
        bytes: &Bytes,
        out: &mut Vec<Record>,
    ) -> std::result::Result<u64, ChunkError> {
        let before = out.len();
        let r = self.append_with(header, start_lsn, bytes, |lsn, pos, r| {
            out.push(record_at(header, bytes, lsn, pos, r));
        });
        if r.is_err() {
            out.truncate(before);
        }
        r
    }

    fn append_with(
        &mut self,
        header: &SegmentHeader,
        start_lsn: u64,
        bytes: &[u8],
        each: impl FnMut(u64, usize, &CheckedRecord),
    ) -> std::result::Result<u64, ChunkError> {
        if start_lsn != self.end_lsn {
            return Err(ChunkError::Gap {
                start: start_lsn,
                end: self.end_lsn,
            });
        }
        if let Some(want) = self.system_id {
            if header.system_id != want {
                return Err(ChunkError::SystemId {
                    got: header.system_id,
                    want,
                });
            }
        }
        let new_segment = match &self.current {
            Some((h, _, _)) if !self.sealed => {
                if h != header {
                    return Err(ChunkError::Header {
                        lsn: start_lsn,
                        reason: format!(
                            "received header {header:?} differs from the segment on disk {h:?}"
                        ),
                    });
                }
                false
            }
            _ => {
                if header.first_lsn != start_lsn {
                    return Err(ChunkError::Header {
                        lsn: start_lsn,
                        reason: format!(
                            "a new segment must start at its first LSN {:#x}",
                            header.first_lsn
                        ),
                    });
                }
                if let Some(tl) = self.timeline() {
                    if header.timeline < tl {
                        return Err(ChunkError::Header {
                            lsn: start_lsn,
                            reason: format!(
                                "timeline {} after timeline {tl} (timelines never go back)",
                                header.timeline
                            ),
                        });
                    }
                }
                true
            }
        };
        let (records, end, sealed, last_ts) = walk_chunk(header, start_lsn, bytes, each)?;
        if new_segment {
            // The segment before is sealed: its end must be durable before the
            // new segment's name is, or a power failure in between would leave
            // an unsealed segment followed by another (a log that refuses to
            // open) rather than a torn tail.
            if let Some((_, old_path, old)) = self.current.as_mut() {
                old.sync_data()
                    .map_err(|e| WalError::io("fdatasync", old_path.as_path(), e))?;
            }
            let tmp = self.dir.join(PREPARING);
            if self.fs.exists(&tmp) {
                self.fs
                    .remove(&tmp)
                    .map_err(|e| WalError::io("remove", &tmp, e))?;
            }
            // Allocated, then the header written and synced with the
            // allocation, named, and the name synced: three syncs in all with
            // the sealed segment's above.
            let mut f = match allocate(&*self.fs, &tmp, header.segment_bytes) {
                Ok(f) => f,
                Err(e) if is_no_space(&e) => {
                    // Free what the failed allocation took.
                    let _ = self.fs.remove(&tmp);
                    return Err(ChunkError::NoSpace {
                        lsn: start_lsn,
                        detail: e.to_string(),
                    });
                }
                Err(e) => return Err(e.into()),
            };
            let path = install(&*self.fs, &self.dir, &tmp, &mut *f, header)?;
            self.current = Some((*header, path, f));
            self.system_id = Some(header.system_id);
        }
        let (h, path, f) = self.current.as_mut().expect("segment open");
        let off = SEGMENT_HEADER_BYTES as u64 + (start_lsn - h.first_lsn);
        f.write_all_at(bytes, off)
            .map_err(|e| WalError::io("write", path.as_path(), e))?;
        self.end_lsn = end;
        self.sealed = sealed;
        self.last_timestamp_unix_ms = last_ts;
        Ok(records)
    }

    /// Discards the whole received log and restarts it empty at `lsn`, once a
    /// snapshot covering everything before `lsn` has been installed (re-seeding).
    ///
    /// # Errors
    /// I/O errors removing the old segments.
    pub fn restart_at(&mut self, lsn: u64) -> Result<()> {
        let files = super::scan::list_segments(&*self.fs, &self.dir)?;
        if !files.is_empty() {
            tracing::warn!(
                segments = files.len(),
                from_lsn = files[0].first_lsn,
                end_lsn = self.end_lsn,
                restart_lsn = lsn,
                "re-seeded: discarding the received log that the new snapshot supersedes"
            );
        }
        self.current = None;
        for f in &files {
            self.fs
                .remove(&f.path)
                .map_err(|e| WalError::io("remove", &f.path, e))?;
        }
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| WalError::io("fsync directory", &self.dir, e))?;
        self.system_id = None;
        self.sealed = false;
        self.end_lsn = lsn;
        self.durable_lsn = lsn;
        Ok(())
    }

    /// The segment file holding the last written byte and the LSN everything
    /// written reaches, when some of it is not durable yet: fsyncing that file
    /// (through a handle of its own, without holding the mirror, so that writes
    /// go on meanwhile) and then calling [`mark_durable`](Self::mark_durable)
    /// with that LSN makes it durable. Earlier segments are made durable when
    /// the next one starts.
    pub fn sync_point(&self) -> Option<(PathBuf, u64)> {
        if self.durable_lsn >= self.end_lsn {
            return None;
        }
        self.current
            .as_ref()
            .map(|(_, path, _)| (path.clone(), self.end_lsn))
    }

    /// Records that everything below `lsn` (a [`sync_point`](Self::sync_point)
    /// LSN whose file the caller has fsynced) is durable.
    pub fn mark_durable(&mut self, lsn: u64) {
        self.durable_lsn = self.durable_lsn.max(lsn.min(self.end_lsn));
    }

    /// Makes everything written durable and returns the durable LSN.
    ///
    /// # Errors
    /// [`WalError::Io`]; fatal for the receiver.
    pub fn sync(&mut self) -> Result<u64> {
        if self.durable_lsn < self.end_lsn {
            if let Some((_, path, f)) = self.current.as_mut() {
                f.sync_data()
                    .map_err(|e| WalError::io("fdatasync", path.as_path(), e))?;
            }
            self.durable_lsn = self.end_lsn;
        }
        Ok(self.durable_lsn)
    }
}

/// The record `r` checked at `lsn`, `pos` bytes into the chunk `bytes`.
fn record_at(
    header: &SegmentHeader,
    bytes: &Bytes,
    lsn: u64,
    pos: usize,
    r: &CheckedRecord,
) -> Record {
    let payload = pos + r.payload_offset;
    Record {
        lsn,
        end_lsn: lsn + r.footprint,
        timeline: header.timeline,
        timestamp_unix_ms: r.header.timestamp_unix_ms,
        kind: r.kind(),
        payload: bytes.slice(payload..payload + r.header.payload_len as usize),
        crc: r.header.crc,
    }
}

/// Checks every record of a chunk (as [`check_chunk`]) and returns them,
/// payloads sliced out of `bytes`: a restore reads archived chunks this way
/// before deciding where to stop.
///
/// # Errors
/// [`ChunkError`] for the first bad record; nothing is returned then.
pub fn records_of(
    header: &SegmentHeader,
    start_lsn: u64,
    bytes: &Bytes,
) -> std::result::Result<Vec<Record>, ChunkError> {
    let mut out = Vec::new();
    walk_chunk(header, start_lsn, bytes, |lsn, pos, r| {
        out.push(record_at(header, bytes, lsn, pos, r));
    })?;
    Ok(out)
}

/// Checks every record of a chunk: continuity, checksum, timeline, that it fits
/// the segment, and that nothing follows a seal. Returns their number, the end LSN, whether the
/// last one seals the segment, and its timestamp.
pub(crate) fn check_chunk(
    header: &SegmentHeader,
    start_lsn: u64,
    bytes: &[u8],
) -> std::result::Result<(u64, u64, bool, u64), ChunkError> {
    walk_chunk(header, start_lsn, bytes, |_, _, _| {})
}

/// Checks each record of a chunk in turn and hands it to `each` with its LSN
/// and its offset in `bytes`.
fn walk_chunk(
    header: &SegmentHeader,
    start_lsn: u64,
    bytes: &[u8],
    mut each: impl FnMut(u64, usize, &CheckedRecord),
) -> std::result::Result<(u64, u64, bool, u64), ChunkError> {
    let cap_end = header.end_capacity_lsn();
    let mut lsn = start_lsn;
    let mut pos = 0usize;
    let mut records = 0;
    let mut sealed = false;
    let mut last_ts = 0;
    let bad = |lsn: u64, reason: String| ChunkError::Record { lsn, reason };
    while pos < bytes.len() {
        if sealed {
            return Err(bad(lsn, "bytes follow the segment's seal record".into()));
        }
        let room = cap_end.saturating_sub(lsn);
        let rest = &bytes[pos..];
        let r = check_record(rest, lsn, room).map_err(|e| bad(lsn, e.to_string()))?;
        if r.header.timeline != header.timeline {
            return Err(bad(
                lsn,
                format!(
                    "record of timeline {} in a segment of timeline {}",
                    r.header.timeline, header.timeline
                ),
            ));
        }
        if lsn + r.footprint > cap_end || pos + r.footprint as usize > bytes.len() {
            return Err(bad(
                lsn,
                "record runs past the end of the chunk or segment".into(),
            ));
        }
        // As the writer does: every record but the seal leaves room for one.
        if r.kind() != RecordKind::Seal && lsn + r.footprint + SEAL_RECORD_BYTES > cap_end {
            return Err(bad(
                lsn,
                "record leaves no room for the segment's seal record".into(),
            ));
        }
        each(lsn, pos, &r);
        sealed = r.kind() == RecordKind::Seal;
        last_ts = r.header.timestamp_unix_ms;
        lsn += r.footprint;
        pos += r.footprint as usize;
        records += 1;
    }
    Ok((records, lsn, sealed, last_ts))
}
