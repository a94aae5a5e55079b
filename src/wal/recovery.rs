//! Opening a log: scan it, repair a torn tail (after saving a copy), refuse any
//! other damage, and start the writer where the log ends.

use super::error::{Result, WalError};
use super::format::{encode_record, RecordKind, SEGMENT_HEADER_BYTES};
use super::scan::{scan_dir, scan_dir_depth, ScanDepth, ScanReport, TornTail};
use super::writer::{Wal, WalOptions};
use crate::fs::SharedFs;
use std::path::{Path, PathBuf};

/// What opening the log found and did.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// The scan of the log as found on disk (before any repair).
    pub report: ScanReport,
    /// The torn tail that was cut off, if any.
    pub truncated: Option<TornTail>,
    /// Where the damaged segment was copied before the cut.
    pub saved_copy: Option<PathBuf>,
    /// LSN the log continues at.
    pub next_lsn: u64,
}

/// Opens (or creates) the log in `opts.dir` and starts its writer.
///
/// # Errors
/// [`WalError::Corruption`], [`WalError::Gap`], [`WalError::Foreign`] for damage
/// that must not be repaired, a log of another system, or a timeline that went
/// back; [`WalError::Io`] and [`WalError::Config`] otherwise.
pub fn open(fs: SharedFs, opts: WalOptions) -> Result<(Wal, Recovery)> {
    open_after(fs, opts, None)
}

/// [`open`] with the scan of the directory already made (by
/// [`switch_timeline`], just before, with nothing written in between): a
/// promotion then reads its log once, not twice.
///
/// # Errors
/// As [`open`].
pub fn open_after(
    fs: SharedFs,
    opts: WalOptions,
    scanned: Option<ScanReport>,
) -> Result<(Wal, Recovery)> {
    opts.validate()?;
    let dir = opts.dir.clone();
    if !fs.exists(&dir) {
        fs.create_dir_all(&dir)
            .map_err(|e| WalError::io("create directory", &dir, e))?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs.sync_dir(parent)
                .map_err(|e| WalError::io("fsync directory", parent, e))?;
        }
    }
    let report = match scanned {
        Some(r) => r,
        None => scan_dir(&*fs, &dir)?,
    };
    check_identity(&report, &opts)?;
    let saved_copy = repair_if_torn(&fs, &report)?;
    let next_lsn = if report.segments.is_empty() {
        opts.start_lsn
    } else {
        report.end_lsn
    };
    let mut open_segment = None;
    let mut next = next_lsn;
    if let Some(last) = report.segments.last() {
        if !last.sealed {
            let mut file = fs
                .open_write(&last.file.path)
                .map_err(|e| WalError::io("open", &last.file.path, e))?;
            if last.header.timeline == opts.timeline {
                open_segment = Some((last.header, file));
            } else {
                // A new timeline starts in a new segment: end the old one with a seal.
                let mut seal = Vec::new();
                encode_record(
                    &mut seal,
                    next,
                    last.header.timeline,
                    0,
                    RecordKind::Seal,
                    &[],
                );
                let off = SEGMENT_HEADER_BYTES as u64 + (next - last.header.first_lsn);
                file.write_all_at(&seal, off)
                    .and_then(|_| file.sync_data())
                    .map_err(|e| WalError::io("seal segment", &last.file.path, e))?;
                next += seal.len() as u64;
            }
        }
    }
    let wal = Wal::start(fs, opts, next, open_segment)?;
    Ok((
        wal,
        Recovery {
            truncated: report.torn_tail.clone(),
            report,
            saved_copy,
            next_lsn: next,
        },
    ))
}

/// Ends the log's current timeline and starts `new_timeline`: writes its history
/// file durably and returns the switch LSN — the LSN the new timeline's first
/// segment starts at, which [`open`] with `new_timeline` then continues from.
/// Call it before anything is written on the new timeline.
///
/// # Errors
/// Damage in the log (as [`scan_dir`]), a timeline that does not move forward,
/// I/O errors.
pub fn switch_timeline(fs: &SharedFs, dir: &Path, new_timeline: u32, reason: &str) -> Result<u64> {
    switch_timeline_scanned(fs, dir, new_timeline, reason, ScanDepth::Full).map(|(lsn, _)| lsn)
}

/// [`switch_timeline`] after a scan to `depth`, also returning the scan, for
/// [`open_after`].
///
/// # Errors
/// As [`switch_timeline`].
pub fn switch_timeline_scanned(
    fs: &SharedFs,
    dir: &Path,
    new_timeline: u32,
    reason: &str,
    depth: ScanDepth,
) -> Result<(u64, ScanReport)> {
    let report = scan_dir_depth(&**fs, dir, depth)?;
    let Some(last) = report.segments.last() else {
        return Err(WalError::Empty(dir.to_path_buf()));
    };
    let parent = last.header.timeline;
    // An unsealed last segment gets its seal record when the log reopens on the
    // new timeline; the new timeline starts right after it.
    let switch_lsn = if last.sealed {
        report.end_lsn
    } else {
        report.end_lsn + super::format::SEAL_RECORD_BYTES
    };
    super::timeline::write_switch(&**fs, dir, parent, new_timeline, switch_lsn, reason)?;
    Ok((switch_lsn, report))
}

/// Cuts off the torn tail a scan found (after saving a copy), logging it, and
/// returns where the copy went.
///
/// # Errors
/// I/O errors of the copy or the cut.
pub(crate) fn repair_if_torn(fs: &SharedFs, report: &ScanReport) -> Result<Option<PathBuf>> {
    let mut saved_copy = None;
    if let Some(torn) = &report.torn_tail {
        let copy = repair_torn_tail(fs, torn)?;
        tracing::warn!(
            segment = %torn.segment.display(),
            offset = torn.offset,
            lsn = torn.lsn,
            reason = %torn.reason,
            discarded_intact_records = torn.intact_records_after,
            copy = %copy.display(),
            "WAL torn tail truncated; recovered to LSN {:#x}",
            torn.lsn
        );
        saved_copy = Some(copy);
    }
    Ok(saved_copy)
}

fn check_identity(report: &ScanReport, opts: &WalOptions) -> Result<()> {
    if let Some(id) = report.system_id {
        if id != opts.system_id {
            return Err(WalError::Foreign {
                segment: opts.dir.clone(),
                reason: format!(
                    "the log belongs to system {id:016x}, not {:016x}",
                    opts.system_id
                ),
            });
        }
    }
    if let Some(tl) = report.timeline() {
        if tl > opts.timeline {
            return Err(WalError::Foreign {
                segment: opts.dir.clone(),
                reason: format!(
                    "the log is on timeline {tl}, newer than the requested timeline {}",
                    opts.timeline
                ),
            });
        }
    }
    Ok(())
}

/// Copies the damaged segment to `NAME.broken[.N]`, then zeroes it from the torn
/// offset to its end and syncs both.
fn repair_torn_tail(fs: &SharedFs, torn: &TornTail) -> Result<PathBuf> {
    let seg = &torn.segment;
    let data = fs.read(seg).map_err(|e| WalError::io("read", seg, e))?;
    let copy = free_copy_name(fs, seg);
    let mut f = fs
        .create(&copy)
        .map_err(|e| WalError::io("create", &copy, e))?;
    f.write_all_at(&data, 0)
        .and_then(|_| f.sync_data())
        .map_err(|e| WalError::io("write copy", &copy, e))?;
    drop(f);
    let dir = seg.parent().unwrap_or(Path::new("."));
    fs.sync_dir(dir)
        .map_err(|e| WalError::io("fsync directory", dir, e))?;
    let mut w = fs
        .open_write(seg)
        .map_err(|e| WalError::io("open", seg, e))?;
    let zeros = vec![0u8; 1 << 20];
    let mut off = torn.offset;
    let end = data.len() as u64;
    drop(data);
    while off < end {
        let n = (end - off).min(zeros.len() as u64) as usize;
        w.write_all_at(&zeros[..n], off)
            .map_err(|e| WalError::io("truncate torn tail", seg, e))?;
        off += n as u64;
    }
    w.sync_data()
        .map_err(|e| WalError::io("fdatasync", seg, e))?;
    Ok(copy)
}

fn free_copy_name(fs: &SharedFs, seg: &Path) -> PathBuf {
    let base = format!("{}.broken", seg.display());
    let mut p = PathBuf::from(&base);
    let mut n = 1;
    while fs.exists(&p) {
        p = PathBuf::from(format!("{base}.{n}"));
        n += 1;
    }
    p
}
