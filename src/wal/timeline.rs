//! Timeline history files: `TTTTTTTT.history` in the WAL directory, one per
//! timeline after the first, written durably *before* the first record on that
//! timeline. Each lists every timeline switch that led to it, oldest first, one
//! per line, the four fields separated by tabs, like PostgreSQL's:
//!
//! ```text
//! # timeline  switch_lsn  unix_ms        reason
//! 1           0x5a3f20    1795357761398  promoted: primary 10.0.0.1:7001 lost
//! ```
//!
//! "Timeline 1 ended at LSN 0x5a3f20": records of timeline 1 at or past that LSN
//! are from a primary that kept writing after the switch, and are refused.

use super::error::{Result, WalError};
use crate::fs::Fs;
use std::path::{Path, PathBuf};

/// One switch in a timeline's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    /// The timeline that ended.
    pub timeline: u32,
    /// Where it ended: the first LSN of the next timeline.
    pub switch_lsn: u64,
    /// When the switch happened.
    pub unix_ms: u64,
    /// Why (free text, no tabs or newlines).
    pub reason: String,
}

/// Longest history file read.
const MAX_HISTORY_BYTES: usize = 1 << 20;

/// File name of a timeline's history.
pub fn history_file_name(timeline: u32) -> String {
    format!("{timeline:08x}.history")
}

fn history_path(dir: &Path, timeline: u32) -> PathBuf {
    dir.join(history_file_name(timeline))
}

/// Renders a history file.
pub fn render(switches: &[Switch]) -> String {
    let mut s = String::from("# timeline\tswitch_lsn\tunix_ms\treason\n");
    for w in switches {
        let reason: String = w
            .reason
            .chars()
            .map(|c| if c == '\t' || c == '\n' { ' ' } else { c })
            .collect();
        s.push_str(&format!(
            "{}\t{:#x}\t{}\t{}\n",
            w.timeline, w.switch_lsn, w.unix_ms, reason
        ));
    }
    s
}

/// Parses a history file.
///
/// # Errors
/// [`WalError::Corruption`] naming the file and line.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Switch>> {
    let bad = |line: usize, why: &str| WalError::Corruption {
        segment: path.to_path_buf(),
        offset: line as u64,
        lsn: 0,
        reason: format!("history line {line}: {why}"),
    };
    let mut out: Vec<Switch> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.splitn(4, '\t');
        let tl = f
            .next()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .ok_or_else(|| bad(n, "bad timeline"))?;
        let lsn = f
            .next()
            .and_then(|v| u64::from_str_radix(v.trim().trim_start_matches("0x"), 16).ok())
            .ok_or_else(|| bad(n, "bad switch LSN"))?;
        let ms = f
            .next()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| bad(n, "bad time"))?;
        let reason = f.next().unwrap_or("").to_string();
        if let Some(prev) = out.last() {
            if tl <= prev.timeline || lsn < prev.switch_lsn {
                return Err(bad(n, "switches must go forward in timeline and LSN"));
            }
        }
        out.push(Switch {
            timeline: tl,
            switch_lsn: lsn,
            unix_ms: ms,
            reason,
        });
    }
    Ok(out)
}

/// The history of `timeline` (empty for timeline 1 or when no file exists).
///
/// # Errors
/// I/O errors other than a missing file; a malformed file.
pub fn read_history(fs: &dyn Fs, dir: &Path, timeline: u32) -> Result<Vec<Switch>> {
    let path = history_path(dir, timeline);
    if timeline <= 1 || !fs.exists(&path) {
        return Ok(Vec::new());
    }
    let data = fs.read(&path).map_err(|e| WalError::io("read", &path, e))?;
    if data.len() > MAX_HISTORY_BYTES {
        return Err(WalError::Corruption {
            segment: path,
            offset: 0,
            lsn: 0,
            reason: "history file too large".into(),
        });
    }
    let text = std::str::from_utf8(&data).map_err(|_| WalError::Corruption {
        segment: path.clone(),
        offset: 0,
        lsn: 0,
        reason: "history file is not UTF-8".into(),
    })?;
    parse(&path, text)
}

/// The newest timeline that has a history file in `dir` (1 when none).
///
/// # Errors
/// I/O errors listing the directory.
pub fn latest_timeline(fs: &dyn Fs, dir: &Path) -> Result<u32> {
    let names = fs
        .list(dir)
        .map_err(|e| WalError::io("read directory", dir, e))?;
    Ok(names
        .iter()
        .filter_map(|n| n.strip_suffix(".history"))
        .filter_map(|t| u32::from_str_radix(t, 16).ok())
        .max()
        .unwrap_or(1))
}

/// Writes the history of `new_timeline` — the parent's history plus the switch
/// from `parent` at `switch_lsn` — durably (tmp, fsync, rename, directory fsync).
/// Returns the full history.
///
/// # Errors
/// [`WalError::Config`] if `new_timeline` is not after `parent` or a history for
/// it already exists; I/O errors.
pub fn write_switch(
    fs: &dyn Fs,
    dir: &Path,
    parent: u32,
    new_timeline: u32,
    switch_lsn: u64,
    reason: &str,
) -> Result<Vec<Switch>> {
    if new_timeline <= parent {
        return Err(WalError::Config(format!(
            "timeline {new_timeline} does not follow timeline {parent}"
        )));
    }
    let path = history_path(dir, new_timeline);
    if fs.exists(&path) {
        return Err(WalError::Config(format!(
            "{} already exists: timeline {new_timeline} was already started",
            path.display()
        )));
    }
    let mut history = read_history(fs, dir, parent)?;
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    history.push(Switch {
        timeline: parent,
        switch_lsn,
        unix_ms,
        reason: reason.to_string(),
    });
    write_durably(fs, dir, new_timeline, &history)?;
    Ok(history)
}

/// Writes a history received from a primary for `timeline` (durably), unless an
/// identical one is already there.
///
/// # Errors
/// [`WalError::Foreign`] when a different history for that timeline exists; I/O errors.
pub fn install(fs: &dyn Fs, dir: &Path, timeline: u32, switches: &[Switch]) -> Result<()> {
    let path = history_path(dir, timeline);
    if fs.exists(&path) {
        let have = read_history(fs, dir, timeline)?;
        if have == switches {
            return Ok(());
        }
        return Err(WalError::Foreign {
            segment: path,
            reason: format!("a different history for timeline {timeline} exists here"),
        });
    }
    write_durably(fs, dir, timeline, switches)
}

/// Writes the history file of `timeline` (tmp, fsync, rename, directory fsync).
fn write_durably(fs: &dyn Fs, dir: &Path, timeline: u32, switches: &[Switch]) -> Result<()> {
    let path = history_path(dir, timeline);
    let tmp = dir.join(format!("{}.tmp", history_file_name(timeline)));
    if fs.exists(&tmp) {
        fs.remove(&tmp)
            .map_err(|e| WalError::io("remove", &tmp, e))?;
    }
    let mut f = fs
        .create(&tmp)
        .map_err(|e| WalError::io("create", &tmp, e))?;
    f.write_all_at(render(switches).as_bytes(), 0)
        .and_then(|_| f.sync_data())
        .map_err(|e| WalError::io("write", &tmp, e))?;
    drop(f);
    fs.rename(&tmp, &path)
        .map_err(|e| WalError::io("rename", &tmp, e))?;
    fs.sync_dir(dir)
        .map_err(|e| WalError::io("fsync directory", dir, e))
}

/// Timelines the history of `timeline` closes, with the LSN each ended at.
pub fn closed(history: &[Switch]) -> Vec<(u32, u64)> {
    history.iter().map(|s| (s.timeline, s.switch_lsn)).collect()
}

/// A record's timeline that does not lead to the node's current one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotFollowing {
    #[error("timeline {timeline} ended at LSN {} (promoted); this node is on timeline {current}", super::format_lsn(*end_lsn))]
    Ended {
        timeline: u32,
        end_lsn: u64,
        current: u32,
    },
    #[error("timeline {timeline} is not in the history of this node's timeline {current}")]
    NotInHistory { timeline: u32, current: u32 },
}

/// Whether a record of `timeline` at `lsn` belongs to the history that leads to
/// the node's current timeline.
///
/// # Errors
/// [`NotFollowing`], the refusal, when it does not.
pub fn check_follows(
    history: &[Switch],
    current: u32,
    timeline: u32,
    lsn: u64,
) -> std::result::Result<(), NotFollowing> {
    if timeline == current {
        return Ok(());
    }
    match history.iter().find(|s| s.timeline == timeline) {
        Some(s) if lsn < s.switch_lsn => Ok(()),
        Some(s) => Err(NotFollowing::Ended {
            timeline: s.timeline,
            end_lsn: s.switch_lsn,
            current,
        }),
        None => Err(NotFollowing::NotInHistory { timeline, current }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    #[test]
    fn histories_chain_and_fence() {
        let mut fs = MemFs::new();
        let dir = Path::new("/wal");
        fs.create_dir_all(dir).unwrap();
        assert_eq!(latest_timeline(&fs, dir).unwrap(), 1);
        let h2 = write_switch(&fs, dir, 1, 2, 0x5a3f20, "promoted\tafter\nloss").unwrap();
        assert_eq!(h2.len(), 1);
        let h3 = write_switch(&fs, dir, 2, 3, 0x600000, "drill").unwrap();
        assert_eq!(read_history(&fs, dir, 3).unwrap(), h3);
        assert_eq!(h3[0].reason, "promoted after loss");
        assert_eq!(latest_timeline(&fs, dir).unwrap(), 3);
        assert_eq!(closed(&h3), vec![(1, 0x5a3f20), (2, 0x600000)]);
        assert!(check_follows(&h3, 3, 1, 0x1000).is_ok());
        let e = check_follows(&h3, 3, 1, 0x5a3f20).unwrap_err().to_string();
        assert_eq!(
            e,
            "timeline 1 ended at LSN 0/5A3F20 (promoted); this node is on timeline 3"
        );
        assert!(check_follows(&h3, 3, 7, 0).is_err());
        assert!(
            write_switch(&fs, dir, 2, 3, 1, "again").is_err(),
            "a timeline starts once"
        );
        assert!(write_switch(&fs, dir, 3, 3, 1, "same").is_err());
        // Durable: survives a power failure right after the call.
        fs.crash(None);
        assert_eq!(read_history(&fs, dir, 3).unwrap(), h3);
    }

    #[test]
    fn malformed_histories_are_refused() {
        let p = Path::new("x.history");
        assert!(parse(p, "1\tzz\t0\tr\n").is_err());
        assert!(parse(p, "2\t0x10\t0\ta\n1\t0x20\t0\tb\n").is_err());
        assert!(parse(p, "# comment only\n").unwrap().is_empty());
    }
}
