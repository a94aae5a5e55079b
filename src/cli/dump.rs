//! `logship dump`: prints the records of a log, one line each, like pg_waldump.
//!
//! Records come from the WAL's own reader ([`WalReader`]) or, for a single
//! segment file, its [`SegmentCursor`]; what the end of the log means (clean,
//! torn tail, corruption) is decided by the same check as `verify`.

use super::exit::{Failure, Status};
use super::parse;
use super::target::{resolve, Target};
use super::verify;
use crate::fs::{Fs, StdFs};
use crate::wal::scan::{list_segments, SegmentCursor, Step};
use crate::wal::{format_lsn, Record, RecordKind, WalError, WalReader};
use clap::Args;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

/// Payload bytes shown per record before the summary is cut.
pub const PAYLOAD_PREVIEW_BYTES: usize = 32;

/// Arguments of `dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// A WAL directory, a data directory containing wal/, or one segment file
    /// (a .broken copy works too).
    pub path: PathBuf,
    /// Start at the first record at or after this LSN: decimal, 0x-hex, or
    /// HIGH/LOW hex as logship prints LSNs. Default: the oldest record.
    #[arg(long, value_parser = parse::lsn)]
    pub from_lsn: Option<u64>,
    /// Print at most this many records.
    #[arg(long)]
    pub limit: Option<u64>,
    /// One JSON object per record (lsn, end_lsn, kind, len, timeline,
    /// timestamp_unix_ms, crc, ...).
    #[arg(long)]
    pub json: bool,
}

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Why a walk over the records stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walked {
    /// The visitor asked to stop.
    Stopped,
    /// The last valid record was visited.
    End,
}

/// Visits every valid record from `from_lsn` on, in LSN order.
///
/// # Errors
/// [`WalError`] for damage met on the way (the end of the last segment is not
/// judged here: run [`verify::check`] for that).
pub fn walk(
    target: &Target,
    from_lsn: u64,
    mut visit: impl FnMut(&Record) -> ControlFlow<()>,
) -> Result<Walked, WalError> {
    match target {
        Target::Dir(dir) => {
            for r in WalReader::open(StdFs::shared(), dir, from_lsn, None)? {
                if visit(&r?).is_break() {
                    return Ok(Walked::Stopped);
                }
            }
            Ok(Walked::End)
        }
        Target::Segment { file, .. } => {
            let data = StdFs
                .read(&file.path)
                .map_err(|e| WalError::io("read", &file.path, e))?;
            let mut cur = SegmentCursor::new(file, data)?;
            while let Step::Record { record, offset } = cur.step() {
                let h = record.header;
                if h.lsn < from_lsn {
                    continue;
                }
                let r = Record {
                    lsn: h.lsn,
                    end_lsn: h.lsn + record.footprint,
                    timeline: h.timeline,
                    timestamp_unix_ms: h.timestamp_unix_ms,
                    kind: record.kind(),
                    payload: cur.payload(&record, offset),
                    crc: h.crc,
                };
                if visit(&r).is_break() {
                    return Ok(Walked::Stopped);
                }
            }
            Ok(Walked::End)
        }
    }
}

/// The kind as `dump` shows it: `data`, `seal`, or `skip:0x81`.
pub fn kind_text(kind: RecordKind) -> String {
    match kind {
        RecordKind::Skippable(b) => format!("skip:{b:#04x}"),
        k => k.name().to_string(),
    }
}

/// The first bytes of a payload: quoted text when they are printable ASCII,
/// hex otherwise, with the number of bytes left out.
pub fn payload_summary(payload: &[u8]) -> String {
    if payload.is_empty() {
        return "-".into();
    }
    let head = &payload[..payload.len().min(PAYLOAD_PREVIEW_BYTES)];
    let mut s = if head.iter().all(|b| (0x20..0x7f).contains(b)) {
        let text: String = head
            .iter()
            .flat_map(|&b| std::ascii::escape_default(b))
            .map(char::from)
            .collect();
        format!("\"{text}\"")
    } else {
        head.iter().map(|b| format!("{b:02x}")).collect()
    };
    if payload.len() > head.len() {
        s.push_str(&format!("... (+{} bytes)", payload.len() - head.len()));
    }
    s
}

/// One record as a line of text (no newline).
pub fn text_line(r: &Record) -> String {
    format!(
        "lsn {} ({})  {:<4}  len {}  tl {}  crc {:08x} ok  {}",
        format_lsn(r.lsn),
        r.lsn,
        kind_text(r.kind),
        r.payload.len(),
        r.timeline,
        r.crc,
        payload_summary(&r.payload)
    )
}

/// One record as a JSON object.
pub fn json_line(r: &Record) -> serde_json::Value {
    let head = &r.payload[..r.payload.len().min(PAYLOAD_PREVIEW_BYTES)];
    serde_json::json!({
        "lsn": r.lsn,
        "lsn_text": format_lsn(r.lsn),
        "end_lsn": r.end_lsn,
        "kind": kind_text(r.kind),
        "kind_byte": r.kind.to_byte(),
        "len": r.payload.len(),
        "timeline": r.timeline,
        "timestamp_unix_ms": r.timestamp_unix_ms,
        "crc": r.crc,
        "crc_ok": true,
        "payload_head_hex": head.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "payload": payload_summary(&r.payload),
    })
}

/// Runs `dump`.
///
/// # Errors
/// A [`Failure`]: exit code 2 when the log ends in a torn tail (every record
/// recovery keeps was printed), 3 for corruption, 1 for usage and I/O errors.
pub fn run(a: DumpArgs) -> anyhow::Result<ExitCode> {
    let target = resolve(&a.path)?;
    let from_lsn = start_lsn(&target, a.from_lsn)?;
    let format = if a.json { Format::Json } else { Format::Text };
    let limit = a.limit.unwrap_or(u64::MAX);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut printed = 0u64;
    let mut write_error = None;
    let walked = if limit == 0 {
        Ok(Walked::Stopped)
    } else {
        walk(&target, from_lsn, |r| {
            let res = match format {
                Format::Text => writeln!(out, "{}", text_line(r)),
                Format::Json => writeln!(out, "{}", json_line(r)),
            };
            if let Err(e) = res {
                write_error = Some(e);
                return ControlFlow::Break(());
            }
            printed += 1;
            if printed >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
    };
    let flushed = out.flush();
    match write_error.map_or(flushed, Err) {
        Ok(()) => {}
        // The reader went away (`| head`): that is how pipes end.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(Failure::usage(format!("writing to stdout: {e}")).into()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_summaries_show_text_or_hex_and_what_was_cut() {
        assert_eq!(payload_summary(b""), "-");
        assert_eq!(payload_summary(b"set k \"v\""), "\"set k \\\"v\\\"\"");
        assert_eq!(payload_summary(&[0, 1, 0xff]), "0001ff");
        let long = vec![b'a'; 40];
        assert_eq!(
            payload_summary(&long),
            format!("\"{}\"... (+8 bytes)", "a".repeat(32))
        );
    }
}
