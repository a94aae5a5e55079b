//! Walking and checking segments: the one place that decides what is a record, what
//! is the clean end of the log, what is a torn tail and what is corruption.
//!
//! Recovery, `logship verify`, `logship dump` and the reader all go through here.

use super::error::{Result, WalError};
use super::format::{
    check_record, check_record_header, parse_segment_file_name, CheckedRecord, RecordError,
    RecordKind, SegmentHeader, SEGMENT_HEADER_BYTES,
};
use crate::fs::Fs;
use bytes::Bytes;
use std::path::{Path, PathBuf};

/// Damage in the last segment is a torn tail only if no intact record lies further
/// than this past it: the writer never has more than this many bytes written but
/// not yet synced, so only they can be missing after a crash.
/// (Two write batches and one largest record, rounded up.)
pub const TORN_WINDOW_BYTES: u64 = 32 << 20;
const _: () = assert!(
    TORN_WINDOW_BYTES
        >= 2 * super::options::MAX_WRITE_BYTES as u64
            + super::options::MAX_RECORD_BYTES_LIMIT as u64
);

/// A segment file found in a WAL directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub timeline: u32,
    pub first_lsn: u64,
}

/// Lists the segment files of `dir` in log order (by name). Other files are ignored.
///
/// # Errors
/// [`WalError::Io`] when the directory cannot be read.
pub fn list_segments(fs: &dyn Fs, dir: &Path) -> Result<Vec<SegmentFile>> {
    let names = fs
        .list(dir)
        .map_err(|e| WalError::io("read directory", dir, e))?;
    let mut out: Vec<SegmentFile> = names
        .iter()
        .filter_map(|n| {
            parse_segment_file_name(n).map(|(timeline, first_lsn)| SegmentFile {
                path: dir.join(n),
                timeline,
                first_lsn,
            })
        })
        .collect();
    out.sort_by_key(|s| (s.first_lsn, s.timeline));
    Ok(out)
}

/// One step of a [`SegmentCursor`].
#[derive(Debug)]
pub enum Step {
    /// A valid record; its payload is `data[payload_start..payload_start + len]`.
    Record {
        record: CheckedRecord,
        /// File offset of the record header.
        offset: u64,
    },
    /// No valid record at `offset` (LSN `lsn`): the end of the log or damage.
    Stop {
        offset: u64,
        lsn: u64,
        reason: RecordError,
    },
    /// The end of the segment's space was reached exactly.
    Full,
}

/// Walks the records of one segment held in memory, checking each.
pub struct SegmentCursor {
    pub data: Bytes,
    pub header: SegmentHeader,
    /// LSN of the next record to read.
    pub lsn: u64,
    /// Set once a seal record has been read.
    pub sealed: bool,
    /// Whether [`step`](Self::step) checks each record's checksum.
    checksums: bool,
}

impl SegmentCursor {
    /// Opens a cursor on segment bytes, checking the header against the file name.
    ///
    /// # Errors
    /// [`WalError::Corruption`] for a bad header, a header that disagrees with the
    /// file name, or a file shorter than its header.
    pub fn new(file: &SegmentFile, data: Bytes) -> Result<SegmentCursor> {
        let header = SegmentHeader::decode(&data).map_err(|e| WalError::Corruption {
            segment: file.path.clone(),
            offset: 0,
            lsn: file.first_lsn,
            reason: format!("segment header: {e}"),
        })?;
        if header.first_lsn != file.first_lsn || header.timeline != file.timeline {
            return Err(WalError::Corruption {
                segment: file.path.clone(),
                offset: 0,
                lsn: file.first_lsn,
                reason: format!(
                    "header says timeline {} first LSN {:#x}, the file name says timeline {} first LSN {:#x}",
                    header.timeline, header.first_lsn, file.timeline, file.first_lsn
                ),
            });
        }
        let lsn = header.first_lsn;
        Ok(SegmentCursor {
            data,
            header,
            lsn,
            sealed: false,
            checksums: true,
        })
    }

    /// This cursor, finding records by their headers alone: their checksums
    /// are left to be checked apart (see [`check_record_header`]).
    pub fn without_checksums(mut self) -> SegmentCursor {
        self.checksums = false;
        self
    }

    /// File offset of an LSN of this segment.
    pub fn offset_of(&self, lsn: u64) -> u64 {
        SEGMENT_HEADER_BYTES as u64 + (lsn - self.header.first_lsn)
    }

    /// One past the last byte of record space actually present in the file.
    fn space_end(&self) -> u64 {
        (self.data.len() as u64).min(self.header.segment_bytes)
    }

    /// Reads the next record, or says why there is none.
    pub fn step(&mut self) -> Step {
        let offset = self.offset_of(self.lsn);
        let end = self.space_end();
        if self.sealed || offset >= self.header.segment_bytes {
            return Step::Full;
        }
        if offset >= end {
            // The file ends before the segment's space does (it was cut short):
            // that is the end of the records, not a full segment.
            return Step::Stop {
                offset,
                lsn: self.lsn,
                reason: RecordError::TruncatedHeader(0),
            };
        }
        let b = &self.data[offset as usize..end as usize];
        let max_payload = end - offset;
        let checked = if self.checksums {
            check_record(b, self.lsn, max_payload)
        } else {
            check_record_header(b, self.lsn, max_payload)
        };
        match checked {
            Ok(record) => {
                if record.header.timeline != self.header.timeline {
                    return Step::Stop {
                        offset,
                        lsn: self.lsn,
                        reason: RecordError::Timeline {
                            found: record.header.timeline,
                            expected: self.header.timeline,
                        },
                    };
                }
                self.lsn += record.footprint;
                if record.kind() == RecordKind::Seal {
                    self.sealed = true;
                }
                Step::Record { record, offset }
            }
            Err(reason) => Step::Stop {
                offset,
                lsn: self.lsn,
                reason,
            },
        }
    }

    /// The payload bytes of a record returned by [`step`](Self::step) (zero-copy).
    pub fn payload(&self, record: &CheckedRecord, offset: u64) -> Bytes {
        let start = offset as usize + record.payload_offset;
        self.data
            .slice(start..start + record.header.payload_len as usize)
    }

    /// True when every byte from `offset` to the end of the segment space is zero.
    pub fn zero_from(&self, offset: u64) -> bool {
        self.zero_between(offset, u64::MAX)
    }

    /// True when the bytes from `offset` to `to` (or the end of the
    /// segment's space, if nearer) are all zero.
    pub fn zero_between(&self, offset: u64, to: u64) -> bool {
        let end = self.space_end().min(to) as usize;
        let start = (offset as usize).min(end);
        all_zero(&self.data[start..end])
    }

    /// Intact records after a damaged `offset`: how many, and the furthest offset.
    pub fn intact_after(&self, offset: u64) -> (u64, Option<u64>) {
        let end = self.space_end();
        let mut count = 0;
        let mut furthest = None;
        let mut p = offset + 8;
        while p + 32 <= end {
            let lsn = self.header.first_lsn + (p - SEGMENT_HEADER_BYTES as u64);
            // Cheap pre-check: the stored LSN must match the position.
            let stored = u64::from_le_bytes(
                self.data[p as usize + 8..p as usize + 16]
                    .try_into()
                    .expect("8 bytes"),
            );
            if stored == lsn
                && check_record(&self.data[p as usize..end as usize], lsn, end - p).is_ok()
            {
                count += 1;
                furthest = Some(p);
            }
            p += 8;
        }
        (count, furthest)
    }
}

/// What scanning one segment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentSummary {
    pub file: SegmentFile,
    pub header: SegmentHeader,
    /// Records read, the seal included.
    pub records: u64,
    /// Payload bytes of the data records.
    pub payload_bytes: u64,
    /// LSN after the last valid record.
    pub end_lsn: u64,
    /// True when the segment ends with a seal record.
    pub sealed: bool,
    /// Timestamp of the last valid record, if any.
    pub last_timestamp_unix_ms: Option<u64>,
}

/// Damage at the end of the last segment that recovery may cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub segment: PathBuf,
    /// File offset of the first byte that is not part of a valid record.
    pub offset: u64,
    /// The LSN the log is recovered to (the torn record's LSN).
    pub lsn: u64,
    /// Why the bytes there are not a record.
    pub reason: String,
    /// Intact-looking records found after the damage (never acknowledged).
    pub intact_records_after: u64,
}

/// The result of scanning a whole WAL directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReport {
    pub dir: PathBuf,
    pub segments: Vec<SegmentSummary>,
    /// Identity shared by all segments.
    pub system_id: Option<u64>,
    /// LSN of the first record on disk.
    pub first_lsn: Option<u64>,
    /// LSN where the log continues.
    pub end_lsn: u64,
    /// Records read, seals included.
    pub records: u64,
    /// Set when the last segment ends in a torn tail.
    pub torn_tail: Option<TornTail>,
}

impl ScanReport {
    /// Timeline of the last segment.
    pub fn timeline(&self) -> Option<u32> {
        self.segments.last().map(|s| s.header.timeline)
    }
}

/// Scans and checks every segment in `dir`.
///
/// # Errors
/// [`WalError::Corruption`], [`WalError::Gap`] or [`WalError::Foreign`] for damage
/// that recovery must refuse, naming file, byte offset and LSN; [`WalError::Io`]
/// when a file cannot be read. A torn tail is not an error: it is reported in
/// [`ScanReport::torn_tail`].
pub fn scan_dir(fs: &dyn Fs, dir: &Path) -> Result<ScanReport> {
    scan_dir_depth(fs, dir, ScanDepth::Full)
}

/// How much of a log [`scan_dir_depth`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanDepth {
    /// Every record of every segment, and the unused rest of the last
    /// segment checked to be zero (recovery, `verify`).
    Full,
    /// The last segment's records, and only the first [`TAIL_ZERO_CHECK_BYTES`]
    /// past its end checked to be zero; the report lists the last segment
    /// alone. For a running node's own log, checked record by record as it
    /// was written or received and scanned in full when the node started: a
    /// timeline switch needs where it ends, and re-reading gigabytes (or
    /// the 60 MiB of zeros after a short tail) would be most of a promotion.
    Tail,
}

/// Bytes past the end of the log that a [`ScanDepth::Tail`] scan checks.
pub const TAIL_ZERO_CHECK_BYTES: u64 = 64 << 10;

/// [`scan_dir`] to the given depth.
///
/// # Errors
/// As [`scan_dir`].
pub fn scan_dir_depth(fs: &dyn Fs, dir: &Path, depth: ScanDepth) -> Result<ScanReport> {
    let mut files = list_segments(fs, dir)?;
    let first_lsn = files.first().map(|f| f.first_lsn);
    if depth == ScanDepth::Tail && files.len() > 1 {
        files = files.split_off(files.len() - 1);
    }
    let mut report = ScanReport {
        dir: dir.to_path_buf(),
        segments: Vec::with_capacity(files.len()),
        system_id: None,
        first_lsn,
        end_lsn: 0,
        records: 0,
        torn_tail: None,
    };
    let count = files.len();
    for (i, file) in files.into_iter().enumerate() {
        let is_last = i + 1 == count;
        if let Some(prev) = report.segments.last() {
            check_chain(prev, &file)?;
        }
        let data = fs
            .read(&file.path)
            .map_err(|e| WalError::io("read", &file.path, e))?;
        let (summary, torn) = scan_segment_depth(&file, data, is_last, depth)?;
        match report.system_id {
            None => report.system_id = Some(summary.header.system_id),
            Some(id) if id != summary.header.system_id => {
                return Err(WalError::Foreign {
                    segment: file.path.clone(),
                    reason: format!(
                        "segment belongs to system {:016x}, the rest of the log to {id:016x}",
                        summary.header.system_id
                    ),
                })
            }
            Some(_) => {}
        }
        report.records += summary.records;
        report.end_lsn = summary.end_lsn;
        report.torn_tail = torn;
        report.segments.push(summary);
    }
    Ok(report)
}

/// Checks that `next` continues the log right where `prev` ended.
fn check_chain(prev: &SegmentSummary, next: &SegmentFile) -> Result<()> {
    if !prev.sealed {
        return Err(WalError::Gap {
            reason: format!(
                "{} ends at LSN {:#x} without a seal record, but {} follows it",
                prev.file.path.display(),
                prev.end_lsn,
                next.path.display()
            ),
        });
    }
    if next.first_lsn != prev.end_lsn {
        return Err(WalError::Gap {
            reason: format!(
                "{} starts at LSN {:#x}, but the log before it ends at LSN {:#x} ({})",
                next.path.display(),
                next.first_lsn,
                prev.end_lsn,
                prev.file.path.display()
            ),
        });
    }
    if next.timeline < prev.header.timeline {
        return Err(WalError::Foreign {
            segment: next.path.clone(),
            reason: format!(
                "timeline {} follows timeline {} (timelines never go back)",
                next.timeline, prev.header.timeline
            ),
        });
    }
    Ok(())
}

/// Scans one segment. Damage is an error unless the segment is the last one and the
/// damage qualifies as a torn tail.
///
/// # Errors
/// [`WalError::Corruption`] naming file, offset and LSN.
pub fn scan_segment(
    file: &SegmentFile,
    data: Bytes,
    is_last: bool,
) -> Result<(SegmentSummary, Option<TornTail>)> {
    scan_segment_depth(file, data, is_last, ScanDepth::Full)
}

fn scan_segment_depth(
    file: &SegmentFile,
    data: Bytes,
    is_last: bool,
    depth: ScanDepth,
) -> Result<(SegmentSummary, Option<TornTail>)> {
    let mut cur = SegmentCursor::new(file, data)?;
    let mut summary = SegmentSummary {
        file: file.clone(),
        header: cur.header,
        records: 0,
        payload_bytes: 0,
        end_lsn: cur.lsn,
        sealed: false,
        last_timestamp_unix_ms: None,
    };
    loop {
        match cur.step() {
            Step::Record { record, .. } => {
                summary.records += 1;
                if record.kind() == RecordKind::Data {
                    summary.payload_bytes += record.header.payload_len as u64;
                }
                summary.last_timestamp_unix_ms = Some(record.header.timestamp_unix_ms);
            }
            Step::Full => break,
            Step::Stop {
                offset,
                lsn,
                reason,
            } => {
                summary.end_lsn = cur.lsn;
                summary.sealed = cur.sealed;
                let torn = classify_stop(&cur, file, is_last, depth, offset, lsn, reason)?;
                return Ok((summary, torn));
            }
        }
    }
    summary.end_lsn = cur.lsn;
    summary.sealed = cur.sealed;
    if !cur.sealed && !is_last {
        return Err(WalError::Corruption {
            segment: file.path.clone(),
            offset: cur.offset_of(cur.lsn),
            lsn: cur.lsn,
            reason: "segment is full but has no seal record".into(),
        });
    }
    Ok((summary, None))
}

/// True when every byte is zero. Compares 64 bytes at a time (the unused rest
/// of a preallocated segment is tens of MiB: a byte loop made every open of a
/// nearly empty segment cost ~50 ms).
fn all_zero(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(64);
    let whole = chunks.by_ref().all(|c| {
        c.chunks_exact(16).fold(0u128, |acc, w| {
            acc | u128::from_ne_bytes(w.try_into().expect("16 bytes"))
        }) == 0
    });
    whole && chunks.remainder().iter().all(|&b| b == 0)
}

/// Decides what a stop in the middle of a segment means.
fn classify_stop(
    cur: &SegmentCursor,
    file: &SegmentFile,
    is_last: bool,
    depth: ScanDepth,
    offset: u64,
    lsn: u64,
    reason: RecordError,
) -> Result<Option<TornTail>> {
    let corruption = |why: String| WalError::Corruption {
        segment: file.path.clone(),
        offset,
        lsn,
        reason: why,
    };
    if !is_last {
        return Err(corruption(format!(
            "{reason} before the segment's seal record"
        )));
    }
    let window = match depth {
        ScanDepth::Full => u64::MAX,
        ScanDepth::Tail => TAIL_ZERO_CHECK_BYTES,
    };
    if cur.zero_between(offset, offset.saturating_add(window)) {
        return Ok(None); // The clean end of the log.
    }
    let (intact, furthest) = cur.intact_after(offset);
    if let Some(far) = furthest {
        if far - offset >= TORN_WINDOW_BYTES {
            return Err(corruption(format!(
                "{reason}; {intact} intact records follow up to offset {far}, so this is \
                 damage inside the log, not a torn tail"
            )));
        }
    }
    Ok(Some(TornTail {
        segment: file.path.clone(),
        offset,
        lsn,
        reason: reason.to_string(),
        intact_records_after: intact,
    }))
}
