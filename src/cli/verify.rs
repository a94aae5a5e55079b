//! `logship verify`: checks every record of a log the way recovery would and says
//! whether it is sound, ends in a torn tail recovery would cut off, or is damaged
//! so that recovery refuses it.

use super::exit::{Failure, Status};
use super::target::{resolve, SegmentPosition, Target};
use crate::fs::{Fs, StdFs};
use crate::wal::format::SEAL_RECORD_BYTES;
use crate::wal::scan::{scan_dir, scan_segment, SegmentCursor, SegmentFile, Step};
use crate::wal::{format_lsn, TornTail, WalError};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A WAL directory, a data directory containing wal/, or one segment file.
    pub path: PathBuf,
    /// Print the result as one JSON object (on stdout, also when the log is damaged).
    #[arg(long)]
    pub json: bool,
}

/// What a check of a sound or torn log found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// The directory or file checked.
    pub path: PathBuf,
    pub segments: usize,
    /// Valid records, seal records included.
    pub records: u64,
    /// First LSN of the oldest segment.
    pub first_lsn: Option<u64>,
    /// LSN of the last valid record.
    pub last_lsn: Option<u64>,
    /// LSN where the log continues (after the last valid record).
    pub end_lsn: u64,
    /// Bytes of log checked (`end_lsn - first_lsn`).
    pub log_bytes: u64,
    /// Time the scan took.
    pub elapsed: Duration,
    /// Set when the last segment ends in a torn tail.
    pub torn_tail: Option<TornTail>,
}

impl Verification {
    /// Scan speed in megabytes (10^6 bytes) of log per second.
    pub fn mb_per_second(&self) -> f64 {
        self.log_bytes as f64 / self.elapsed.as_secs_f64().max(1e-9) / 1e6
    }

    /// The exit status this result maps to.
    pub fn status(&self) -> Status {
        match self.torn_tail {
            Some(_) => Status::TornTail,
            None => Status::Sound,
        }
    }

    /// The one-line summary `verify` prints.
    pub fn summary_line(&self) -> String {
        let verdict = match self.torn_tail {
            Some(_) => "torn tail",
            None => "sound",
        };
        let lsn = |l: Option<u64>| l.map_or_else(|| "-".to_string(), format_lsn);
        format!(
            "{}: {verdict}: {} segment{}, {} records, first LSN {}, last LSN {}, end LSN {}, {} bytes, scanned in {:.3} s ({:.1} MB/s)",
            self.path.display(),
            self.segments,
            if self.segments == 1 { "" } else { "s" },
            self.records,
            lsn(self.first_lsn),
            lsn(self.last_lsn),
            format_lsn(self.end_lsn),
            self.log_bytes,
            self.elapsed.as_secs_f64(),
            self.mb_per_second()
        )
    }

    /// What recovery would do with the torn tail, as one line.
    pub fn torn_tail_line(&self) -> Option<String> {
        let t = self.torn_tail.as_ref()?;
        let mut s = format!(
            "torn tail in {} at byte offset {} (LSN {} = {}): {}; recovery would truncate the log there, keeping {} records up to end LSN {}, after saving a copy of the segment as {}.broken",
            t.segment.display(),
            t.offset,
            format_lsn(t.lsn),
            t.lsn,
            t.reason,
            self.records,
            format_lsn(self.end_lsn),
            t.segment.display()
        );
        if t.intact_records_after > 0 {
            s.push_str(&format!(
                " ({} intact-looking records beyond it were never acknowledged and would be discarded)",
                t.intact_records_after
            ));
        }
        Some(s)
    }
}

/// Checks every record of the target with the same scan recovery uses.
///
/// # Errors
/// [`WalError::Corruption`], [`WalError::Gap`] or [`WalError::Foreign`] for damage
/// recovery refuses; [`WalError::Io`] when a file cannot be read.
pub fn check(target: &Target) -> Result<Verification, WalError> {
    let started = Instant::now();
    let (summaries, torn_tail) = match target {
        Target::Dir(dir) => {
            let report = scan_dir(&StdFs, dir)?;
            (report.segments, report.torn_tail)
        }
        Target::Segment { file, position } => {
            let data = StdFs
                .read(&file.path)
                .map_err(|e| WalError::io("read", &file.path, e))?;
            let (summary, torn) = scan_segment(file, data, *position == SegmentPosition::Last)?;
            (vec![summary], torn)
        }
    };
    let elapsed = started.elapsed();
    let first_lsn = summaries.first().map(|s| s.file.first_lsn);
    let end_lsn = summaries.last().map_or(0, |s| s.end_lsn);
    let last_lsn = match summaries.as_slice() {
        [.., prev, last] if last.records == 0 => {
            // An empty last segment: the log's last record is the seal before it.
            Some(prev.end_lsn - SEAL_RECORD_BYTES)
        }
        [.., last] if last.records > 0 => last_record_lsn(&last.file, last.end_lsn)?,
        _ => None,
    };
    Ok(Verification {
        path: target.path().to_path_buf(),
        segments: summaries.len(),
        records: summaries.iter().map(|s| s.records).sum(),
        first_lsn,
        last_lsn,
        end_lsn,
        log_bytes: end_lsn - first_lsn.unwrap_or(end_lsn),
        elapsed,
        torn_tail,
    })
}

/// LSN of the last record below `end_lsn` in one (already checked) segment.
fn last_record_lsn(file: &SegmentFile, end_lsn: u64) -> Result<Option<u64>, WalError> {
    let data = StdFs
        .read(&file.path)
        .map_err(|e| WalError::io("read", &file.path, e))?;
    let mut cur = SegmentCursor::new(file, data)?;
    let mut last = None;
    while cur.lsn < end_lsn {
        match cur.step() {
            Step::Record { record, .. } => last = Some(record.header.lsn),
            Step::Full | Step::Stop { .. } => break,
        }
    }
    Ok(last)
}

/// Runs `verify`: prints the summary, and returns a [`Failure`] with exit code 2
/// (torn tail) or 3 (corruption) when the log is not sound.
///
/// # Errors
/// The [`Failure`] describing the first problem, or a usage failure.
pub fn run(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let target = resolve(&a.path)?;
    match check(&target) {
        Ok(v) => {
            if a.json {
                crate::say!("{}", json(&v));
            } else {
                crate::say!("{}", v.summary_line());
            }
            match v.torn_tail_line() {
                Some(line) => Err(Failure {
                    status: Status::TornTail,
                    message: line,
                }
                .into()),
                None => Ok(ExitCode::SUCCESS),
            }
        }
        Err(e) => {
            let failure = Failure::from_wal(e);
            if a.json {
                let status = match failure.status {
                    Status::Corrupt => "corrupt",
                    _ => "error",
                };
                let obj = serde_json::json!({
                    "path": target.path().display().to_string(),
                    "status": status,
                    "exit_code": failure.status.code(),
                    "problem": failure.message,
                });
                crate::say!("{obj}");
            }
            Err(failure.into())
        }
    }
}

fn json(v: &Verification) -> serde_json::Value {
    let status = v.status();
    let torn = v.torn_tail.as_ref().map(|t| {
        serde_json::json!({
            "segment": t.segment.display().to_string(),
            "offset": t.offset,
            "lsn": t.lsn,
            "reason": t.reason,
            "intact_records_after": t.intact_records_after,
        })
    });
    serde_json::json!({
        "path": v.path.display().to_string(),
        "status": if status == Status::Sound { "sound" } else { "torn_tail" },
        "exit_code": status.code(),
        "segments": v.segments,
        "records": v.records,
        "first_lsn": v.first_lsn,
        "last_lsn": v.last_lsn,
        "end_lsn": v.end_lsn,
        "bytes": v.log_bytes,
        "seconds": v.elapsed.as_secs_f64(),
        "mb_per_second": v.mb_per_second(),
        "torn_tail": torn,
    })
}
