//! `logship dump`: prints the records of a log, one line each, like
//! pg_waldump: each with its time and its effects described.
//!
//! Records come from the WAL's own reader ([`WalReader`]) or, for a single
//! segment file, its [`SegmentCursor`] ([`records`]); any other source of
//! [`Record`]s feeds the same filtering and printing through
//! [`walk_records`] and a [`Printer`]. What the end of the log means (clean,
//! torn tail, corruption) is decided by the same check as `verify`.

use super::dump_filter::{effect_name, Filter};
pub use super::dump_print::{
    json_line, kind_text, payload_summary, text_line, Format, Printer, PAYLOAD_PREVIEW_BYTES,
};
use super::exit::{Failure, Status};
use super::parse;
use super::target::{resolve, Target};
use super::verify;
use crate::clock::{self, parse_rfc3339_ms};
use crate::fs::{Fs, StdFs};
use crate::resp::glob::Pattern;
use crate::wal::scan::{list_segments, SegmentCursor, Step};
use crate::wal::{format_lsn, Record, WalError, WalReader};
use clap::Args;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// A WAL directory, a data directory containing wal/, one segment file
    /// (a .broken copy works too), or an archive URL (s3://BUCKET/PREFIX,
    /// file:///PATH: its latest timeline's log).
    pub path: PathBuf,
    /// With an archive URL: the archive's encryption key file, if it is
    /// encrypted.
    #[arg(long, value_name = "FILE")]
    pub archive_encryption_key_file: Option<PathBuf>,
    /// Start at the first record at or after this LSN: decimal, 0x-hex, or
    /// HIGH/LOW hex as logship prints LSNs. Default: the oldest record.
    #[arg(long, value_parser = parse::lsn)]
    pub from_lsn: Option<u64>,
    /// Print at most this many records (of those the filters keep).
    #[arg(long)]
    pub limit: Option<u64>,
    /// Only records with an effect of this kind (repeatable, any case): set,
    /// del, expire, persist, flushall, select, flushdb, swapdb, move, rename,
    /// copy, setrange, hset, hdel, lpush, rpush, lpop, rpop, lset, linsert,
    /// lrem, ltrim, sadd, srem, zadd, zrem.
    #[arg(long = "effect", value_name = "KIND", value_parser = effect_name)]
    pub effects: Vec<&'static str>,
    /// Only records with an effect on a key matching this Redis glob
    /// pattern (*, ?, [a-z], \ to escape), in any database.
    #[arg(long, value_name = "PATTERN")]
    pub key: Option<String>,
    /// Only records appended at or after this time: RFC 3339 with Z or an
    /// offset (2026-12-05T10:00:00Z, 2026-12-05T11:00:00+01:00).
    #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339_ms)]
    pub from_time: Option<u64>,
    /// Only records appended at or before this time (RFC 3339, as
    /// --from-time).
    #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339_ms)]
    pub to_time: Option<u64>,
    /// One JSON object per record (lsn, end_lsn, kind, len, timeline,
    /// timestamp_unix_ms, time, crc, effects, ...).
    #[arg(long)]
    pub json: bool,
}

impl DumpArgs {
    /// The filter the flags ask for.
    ///
    /// # Errors
    /// A usage [`Failure`] when `--from-time` is after `--to-time`.
    pub fn filter(&self) -> Result<Filter, Failure> {
        if let (Some(from), Some(to)) = (self.from_time, self.to_time) {
            if from > to {
                return Err(Failure::usage(format!(
                    "--from-time {} is after --to-time {}: no record can match",
                    clock::rfc3339_ms(from),
                    clock::rfc3339_ms(to)
                )));
            }
        }
        Ok(Filter {
            effects: self.effects.clone(),
            key: self.key.as_ref().map(|k| Pattern::new(k.as_bytes())),
            from_unix_ms: self.from_time,
            to_unix_ms: self.to_time,
        })
    }
}

/// Why a walk over the records stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walked {
    /// The visitor asked to stop.
    Stopped,
    /// The last valid record was visited.
    End,
}

/// A source of records in LSN order; the first error ends it.
pub type Records = Box<dyn Iterator<Item = Result<Record, WalError>>>;

/// The valid records of a target from `from_lsn` on, in LSN order.
///
/// # Errors
/// [`WalError`] when the log cannot be opened (the records' own damage comes
/// as the iterator's last item).
pub fn records(target: &Target, from_lsn: u64) -> Result<Records, WalError> {
    Ok(match target {
        Target::Dir(dir) => Box::new(WalReader::open(StdFs::shared(), dir, from_lsn, None)?),
        Target::Segment { file, .. } => {
            let data = StdFs
                .read(&file.path)
                .map_err(|e| WalError::io("read", &file.path, e))?;
            Box::new(SegmentRecords {
                cur: SegmentCursor::new(file, data)?,
                from_lsn,
            })
        }
    })
}

/// The records of one segment file, from its [`SegmentCursor`]; it ends at
/// the first record that does not check out (left to `verify` to judge).
struct SegmentRecords {
    cur: SegmentCursor,
    from_lsn: u64,
}

impl Iterator for SegmentRecords {
    type Item = Result<Record, WalError>;

    fn next(&mut self) -> Option<Self::Item> {
        while let Step::Record { record, offset } = self.cur.step() {
            let h = record.header;
            if h.lsn < self.from_lsn {
                continue;
            }
            return Some(Ok(Record {
                lsn: h.lsn,
                end_lsn: h.lsn + record.footprint,
                timeline: h.timeline,
                timestamp_unix_ms: h.timestamp_unix_ms,
                kind: record.kind(),
                payload: self.cur.payload(&record, offset),
                crc: h.crc,
            }));
        }
        None
    }
}

/// Visits every record of `records` until the visitor asks to stop.
///
/// # Errors
/// The source's first error.
pub fn walk_records<E>(
    records: impl IntoIterator<Item = Result<Record, E>>,
    mut visit: impl FnMut(&Record) -> ControlFlow<()>,
) -> Result<Walked, E> {
    for r in records {
        if visit(&r?).is_break() {
            return Ok(Walked::Stopped);
        }
    }
    Ok(Walked::End)
}

/// Visits every valid record of a target from `from_lsn` on, in LSN order.
///
/// # Errors
/// [`WalError`] for damage met on the way (the end of the last segment is not
/// judged here: run [`verify::check`] for that).
pub fn walk(
    target: &Target,
    from_lsn: u64,
    visit: impl FnMut(&Record) -> ControlFlow<()>,
) -> Result<Walked, WalError> {
    walk_records(records(target, from_lsn)?, visit)
}

/// Runs `dump`.
///
/// # Errors
/// A [`Failure`]: exit code 2 when the log ends in a torn tail (every record
/// recovery keeps was printed), 3 for corruption, 1 for usage and I/O errors.
pub fn run(a: DumpArgs) -> anyhow::Result<ExitCode> {
    let filter = a.filter()?;
    let path = a.path.to_string_lossy().to_string();
    if path.starts_with("s3://") || path.starts_with("file://") {
        return run_archive(&a, &path, filter);
    }
    let target = resolve(&a.path)?;
    let from_lsn = start_lsn(&target, a.from_lsn)?;
    let Some(walked) = print(
        &a,
        filter,
        records(&target, from_lsn).map_err(Failure::from_wal)?,
    )?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    match walked.map_err(Failure::from_wal)? {
        Walked::Stopped => Ok(ExitCode::SUCCESS),
        Walked::End => {
            let v = verify::check(&target).map_err(Failure::from_wal)?;
            match v.torn_tail_line() {
                Some(line) => Err(Failure {
                    status: Status::TornTail,
                    message: line,
                }
                .into()),
                None => Ok(ExitCode::SUCCESS),
            }
        }
    }
}

/// Prints and filters `records` as the flags say; `None` when stdout's
/// reader went away (`| head`: that is how pipes end).
fn print<E>(
    a: &DumpArgs,
    filter: Filter,
    records: impl IntoIterator<Item = Result<Record, E>>,
) -> Result<Option<Result<Walked, E>>, Failure> {
    let format = if a.json { Format::Json } else { Format::Text };
    let limit = a.limit.unwrap_or(u64::MAX);
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut printer = Printer::new(out, format, filter, limit);
    let walked = if limit == 0 {
        Ok(Walked::Stopped)
    } else {
        walk_records(records, |r| printer.visit(r))
    };
    match printer.finish() {
        Ok(()) => Ok(Some(walked)),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(None),
        Err(e) => Err(Failure::usage(format!("writing to stdout: {e}"))),
    }
}

/// `dump URL`: the records of an archive, printed and filtered the same way.
fn run_archive(a: &DumpArgs, url: &str, filter: Filter) -> anyhow::Result<ExitCode> {
    let key = match &a.archive_encryption_key_file {
        Some(f) => Some(crate::archive::ArchiveKey::from_file(f)?),
        None => None,
    };
    let records = crate::archive::read::ArchiveRecords::open(url, key, a.from_lsn)
        .map_err(|e| Failure::usage(e.to_string()))?;
    match print(a, filter, records)? {
        None | Some(Ok(_)) => Ok(ExitCode::SUCCESS),
        Some(Err(e)) => Err(Failure {
            status: Status::Corrupt,
            message: e.to_string(),
        }
        .into()),
    }
}

/// The LSN to start at: the one asked for, which must still be in the log, or
/// the oldest one.
fn start_lsn(target: &Target, asked: Option<u64>) -> Result<u64, Failure> {
    let oldest = match target {
        Target::Dir(dir) => list_segments(&StdFs, dir)
            .map_err(Failure::from_wal)?
            .first()
            .map_or(0, |s| s.first_lsn),
        Target::Segment { file, .. } => file.first_lsn,
    };
    match asked {
        None => Ok(oldest),
        Some(lsn) if lsn < oldest => Err(Failure::usage(format!(
            "LSN {} ({lsn}) is older than {} (it starts at LSN {} = {oldest})",
            format_lsn(lsn),
            target.path().display(),
            format_lsn(oldest)
        ))),
        Some(lsn) => Ok(lsn),
    }
}
