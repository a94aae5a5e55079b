//! The old primary's log past a switch: finding the records the new primary
//! never got, saving them where a DBA can read them (`logship dump`), and
//! cutting a log back to an LSN.
//!
//! The saved records are WAL segment files written with the log's own format
//! code, byte-identical records at their original LSNs: one file per segment
//! of the old log that the divergent range touches, named like any segment
//! (`TTTTTTTT-LLLLLLLLLLLLLLLL.wal`), the first starting at the first divergent
//! record. Each file but the last ends with its seal record, so the directory
//! holding them is itself a sound log: `logship dump DIR` and `logship verify
//! DIR` read it whole, and either reads one file alone.

use crate::durable::IoError;
use crate::fs::{fsync_dir, Fs, NewFile, StdFs};
use crate::wal::format::{
    encode_record, segment_file_name, SegmentHeader, MIN_SEGMENT_BYTES, SEGMENT_HEADER_BYTES,
};
use crate::wal::{scan::list_segments, RecordKind, WalError, WalReader};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Why the old log could not be read, saved or cut.
#[derive(Debug, thiserror::Error)]
pub enum DivergedError {
    #[error("reading the old log from LSN {lsn:#x}: {source}")]
    Open {
        lsn: u64,
        #[source]
        source: WalError,
    },
    #[error("reading the old log: {0}")]
    Read(#[source] WalError),
    /// The log's segments could not be listed.
    #[error(transparent)]
    List(WalError),
    #[error(transparent)]
    Io(#[from] IoError),
}

/// The divergent records of an old primary: data it logged past where its
/// timeline ended in the new primary's history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Divergence {
    /// LSN of the first divergent data record.
    pub first_lsn: u64,
    /// LSN of the last divergent data record.
    pub last_lsn: u64,
    /// Where the old log ends (one past its last record).
    pub end_lsn: u64,
    /// Divergent data records (seals not counted).
    pub records: u64,
    /// Log bytes from the first divergent record to the end of the log.
    pub log_bytes: u64,
    /// Payload bytes of the divergent data records.
    pub payload_bytes: u64,
    /// Write time of the first and last divergent data record.
    pub first_unix_ms: u64,
    pub last_unix_ms: u64,
}

/// What the old log holds at and after `from_lsn`, up to `until_lsn` (the end
/// of its valid records).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tail {
    /// The data records found, if any.
    pub divergence: Option<Divergence>,
    /// Records of any kind at or after `from_lsn` (seals of full segments).
    pub records_past: u64,
}

/// Reads the records of the log in `wal_dir` from `from_lsn` to `until_lsn`.
///
/// # Errors
/// A damaged log, naming the file and LSN.
pub fn tail(wal_dir: &Path, from_lsn: u64, until_lsn: u64) -> Result<Tail, DivergedError> {
    let mut t = Tail::default();
    if from_lsn >= until_lsn {
        return Ok(t);
    }
    for r in read(wal_dir, from_lsn, until_lsn)? {
        let r = r.map_err(DivergedError::Read)?;
        t.records_past += 1;
        if r.kind != RecordKind::Data {
            continue;
        }
        let d = t.divergence.get_or_insert_with(|| Divergence {
            first_lsn: r.lsn,
            first_unix_ms: r.timestamp_unix_ms,
            ..Divergence::default()
        });
        d.last_lsn = r.lsn;
        d.end_lsn = until_lsn;
        d.records += 1;
        d.payload_bytes += r.payload.len() as u64;
        d.last_unix_ms = r.timestamp_unix_ms;
        d.log_bytes = until_lsn - d.first_lsn;
    }
    Ok(t)
}

/// The records of the log in `wal_dir` from `from_lsn` to `until_lsn`.
fn read(wal_dir: &Path, from_lsn: u64, until_lsn: u64) -> Result<WalReader, DivergedError> {
    WalReader::open(StdFs::shared(), wal_dir, from_lsn, Some(until_lsn)).map_err(|source| {
        DivergedError::Open {
            lsn: from_lsn,
            source,
        }
    })
}

/// One saved segment file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedFile {
    pub path: PathBuf,
    pub first_lsn: u64,
    pub records: u64,
}

/// Writes the records of `wal_dir` from `d.first_lsn` to `d.end_lsn` into
/// segment files in `out_dir` (created), each durably (tmp, fsync, rename,
/// directory fsync). A file already there is kept as it is: a rejoin resumed
/// after a crash finds the complete copy its first run made.
///
/// # Errors
/// Reading the old log or writing the copies, naming the file.
pub fn save(
    wal_dir: &Path,
    system_id: u64,
    d: &Divergence,
    out_dir: &Path,
) -> Result<Vec<SavedFile>, DivergedError> {
    let fs = &StdFs;
    fs.create_dir_all(out_dir)
        .map_err(IoError::at("create directory", out_dir))?;
    if let Some(parent) = out_dir.parent() {
        fsync_dir(fs, parent)?;
    }
    let mut saved = Vec::new();
    // (timeline, first LSN, encoded records, record count) of the file being built.
    let mut cur: Option<(u32, u64, Vec<u8>, u64)> = None;
    for r in read(wal_dir, d.first_lsn, d.end_lsn)? {
        let r = r.map_err(DivergedError::Read)?;
        let (_, _, bytes, n) = cur.get_or_insert_with(|| (r.timeline, r.lsn, Vec::new(), 0));
        encode_record(
            bytes,
            r.lsn,
            r.timeline,
            r.timestamp_unix_ms,
            r.kind,
            &r.payload,
        );
        *n += 1;
        if r.kind == RecordKind::Seal {
            let (tl, first, bytes, n) = cur.take().expect("a file is being built");
            saved.push(write_segment(fs, out_dir, system_id, tl, first, &bytes, n)?);
        }
    }
    if let Some((tl, first, bytes, n)) = cur.take() {
        saved.push(write_segment(fs, out_dir, system_id, tl, first, &bytes, n)?);
    }
    fsync_dir(fs, out_dir)?;
    Ok(saved)
}

/// Writes one segment file holding `records` (encoded, starting at `first_lsn`),
/// whole or not at all ([`NewFile`]).
fn write_segment(
    fs: &dyn Fs,
    dir: &Path,
    system_id: u64,
    timeline: u32,
    first_lsn: u64,
    records: &[u8],
    n: u64,
) -> Result<SavedFile, IoError> {
    let path = dir.join(segment_file_name(timeline, first_lsn));
    let done = SavedFile {
        path: path.clone(),
        first_lsn,
        records: n,
    };
    if fs.exists(&path) {
        return Ok(done);
    }
    // Room for the records and a zeroed remainder (a clean end), in whole pages.
    let need = SEGMENT_HEADER_BYTES as u64 + records.len() as u64;
    let segment_bytes = need.max(MIN_SEGMENT_BYTES).div_ceil(4096) * 4096;
    let header = SegmentHeader {
        system_id,
        timeline,
        first_lsn,
        segment_bytes,
        created_unix_ms: crate::clock::now_unix_ms(),
    };
    let mut f = NewFile::create(fs, &path)?;
    let head = header.encode();
    f.write_at(&head, 0)?;
    f.write_at(records, head.len() as u64)?;
    // The zeroed remainder, written: the same bytes on any file system.
    let end = (head.len() + records.len()) as u64;
    f.write_at(&vec![0u8; (segment_bytes - end) as usize], end)?;
    f.commit()?;
    Ok(done)
}

/// Cuts the log in `wal_dir` back so that it ends at `lsn`: segments starting
/// at or after it are removed (newest first, the directory fsynced after each,
/// so a crash leaves a shorter log, never one with a hole), and the segment
/// holding `lsn` is zeroed from there to its end (a clean end of the log).
/// Returns the number of segment files removed. `lsn` must be a record
/// boundary of the log.
///
/// # Errors
/// [`DivergedError`], naming the file.
pub fn cut_log(wal_dir: &Path, lsn: u64) -> Result<usize, DivergedError> {
    let fs = &StdFs;
    let segments = list_segments(fs, wal_dir).map_err(DivergedError::List)?;
    let mut removed = 0;
    for s in segments.iter().rev() {
        if s.first_lsn >= lsn {
            fs.remove(&s.path).map_err(IoError::at("remove", &s.path))?;
            fsync_dir(fs, wal_dir)?;
            removed += 1;
            continue;
        }
        let mut f = fs
            .open_write(&s.path)
            .map_err(IoError::at("open", &s.path))?;
        crate::fs::zero_from(&mut *f, SEGMENT_HEADER_BYTES as u64 + (lsn - s.first_lsn))
            .map_err(IoError::at("cut", &s.path))?;
        f.sync_data().map_err(IoError::at("fsync", &s.path))?;
        break;
    }
    Ok(removed)
}
