//! How `logship dump` shows a record: a line of text or a JSON object, with
//! its time and its effects described; and the [`Printer`] that filters,
//! counts and writes them, whatever the records come from.

use super::dump_filter::Filter;
use crate::clock;
use crate::store::describe::{describe_all, Description};
use crate::store::effect::{self, DecodeError};
use crate::wal::{format_lsn, Record, RecordKind};
use std::io::Write;
use std::ops::ControlFlow;

/// Payload bytes shown of a record whose payload is not effects.
pub const PAYLOAD_PREVIEW_BYTES: usize = 32;

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// What a record's payload holds, as `dump` reads it.
#[derive(Debug)]
pub enum Contents {
    /// A data record's effects, described.
    Effects(Vec<Description>),
    /// A data record whose payload does not decode: why.
    Undecodable(DecodeError),
    /// A seal or skippable record: no effects.
    Other,
}

impl Contents {
    /// Decodes and describes a record's payload (never fails: a bad payload
    /// is [`Contents::Undecodable`]).
    pub fn of(r: &Record) -> Contents {
        if r.kind != RecordKind::Data {
            return Contents::Other;
        }
        match effect::decode(&r.payload) {
            Ok(effects) => Contents::Effects(describe_all(&effects)),
            Err(e) => Contents::Undecodable(e),
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

/// A record's append time, RFC 3339 UTC with milliseconds; `None` for a
/// record without one (0).
pub fn time_text(unix_ms: u64) -> Option<String> {
    (unix_ms != 0).then(|| clock::rfc3339_ms(unix_ms))
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

/// What a record holds, in words: its effects separated by `; `, or why its
/// payload does not decode, or the payload's first bytes.
pub fn contents_text(r: &Record, c: &Contents) -> String {
    match c {
        Contents::Effects(d) if d.is_empty() => "no effects".into(),
        Contents::Effects(d) => d
            .iter()
            .map(Description::text)
            .collect::<Vec<_>>()
            .join("; "),
        Contents::Undecodable(why) => format!(
            "undecodable payload ({why}), {} bytes: {}",
            r.payload.len(),
            payload_summary(&r.payload)
        ),
        Contents::Other => payload_summary(&r.payload),
    }
}

/// One record as a line of text (no newline).
pub fn text_line(r: &Record) -> String {
    text_line_of(r, &Contents::of(r))
}

/// [`text_line`] of a record already decoded.
pub fn text_line_of(r: &Record, c: &Contents) -> String {
    format!(
        "lsn {} ({})  {}  {:<4}  len {}  tl {}  crc {:08x} ok  {}",
        format_lsn(r.lsn),
        r.lsn,
        time_text(r.timestamp_unix_ms).as_deref().unwrap_or("-"),
        kind_text(r.kind),
        r.payload.len(),
        r.timeline,
        r.crc,
        contents_text(r, c)
    )
}

/// One record as a JSON object.
pub fn json_line(r: &Record) -> serde_json::Value {
    json_line_of(r, &Contents::of(r))
}

/// [`json_line`] of a record already decoded.
pub fn json_line_of(r: &Record, c: &Contents) -> serde_json::Value {
    let head = &r.payload[..r.payload.len().min(PAYLOAD_PREVIEW_BYTES)];
    let mut j = serde_json::json!({
        "lsn": r.lsn,
        "lsn_text": format_lsn(r.lsn),
        "end_lsn": r.end_lsn,
        "kind": kind_text(r.kind),
        "kind_byte": r.kind.to_byte(),
        "len": r.payload.len(),
        "timeline": r.timeline,
        "timestamp_unix_ms": r.timestamp_unix_ms,
        "time": time_text(r.timestamp_unix_ms),
        "crc": r.crc,
        "crc_ok": true,
        "payload_head_hex": head.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "payload": payload_summary(&r.payload),
    });
    let (effects, undecodable) = match c {
        Contents::Effects(d) => (d.iter().map(Description::json).collect(), None),
        Contents::Undecodable(why) => (Vec::new(), Some(why.to_string())),
        Contents::Other => (Vec::new(), None),
    };
    j["effects"] = effects.into();
    j["undecodable"] = undecodable.into();
    j
}

/// Prints the records a [`Filter`] keeps, up to a limit, to `out`. Feed it
/// records from any source with [`visit`](Self::visit) (as
/// [`walk_records`](super::dump::walk_records) does), then
/// [`finish`](Self::finish).
pub struct Printer<W: Write> {
    out: W,
    format: Format,
    filter: Filter,
    /// Records still to print (`--limit`); the walk stops at 0.
    left: u64,
    /// The first write that failed; nothing is written after it.
    write_error: Option<std::io::Error>,
}

impl<W: Write> Printer<W> {
    /// A printer writing to `out` at most `limit` records.
    pub fn new(out: W, format: Format, filter: Filter, limit: u64) -> Printer<W> {
        Printer {
            out,
            format,
            filter,
            left: limit,
            write_error: None,
        }
    }

    /// Whether no more record will be printed (the limit is reached, or
    /// writing failed).
    pub fn done(&self) -> bool {
        self.left == 0 || self.write_error.is_some()
    }

    /// Prints `r` if the filter keeps it; asks to stop once done.
    pub fn visit(&mut self, r: &Record) -> ControlFlow<()> {
        if self.done() {
            return ControlFlow::Break(());
        }
        // Decode once: the filter reads the effects, the line describes them.
        let decoded = (r.kind == RecordKind::Data)
            .then(|| effect::decode(&r.payload).ok())
            .flatten();
        if !self.filter.keeps(r, decoded.as_deref()) {
            return ControlFlow::Continue(());
        }
        let contents = match decoded {
            Some(effects) => Contents::Effects(describe_all(&effects)),
            None => Contents::of(r),
        };
        let res = match self.format {
            Format::Text => writeln!(self.out, "{}", text_line_of(r, &contents)),
            Format::Json => writeln!(self.out, "{}", json_line_of(r, &contents)),
        };
        match res {
            Ok(()) => self.left -= 1,
            Err(e) => self.write_error = Some(e),
        }
        if self.done() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Flushes the output.
    ///
    /// # Errors
    /// The first write or flush error.
    pub fn finish(mut self) -> std::io::Result<()> {
        let flushed = self.out.flush();
        self.write_error.map_or(flushed, Err)
    }
}

#[cfg(test)]
#[path = "dump_print_tests.rs"]
mod tests;
