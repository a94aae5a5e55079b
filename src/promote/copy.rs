//! A consistent copy of a standby's data directory as of one received LSN, for
//! a drill: only what a promotion needs, and nothing written to the original.
//!
//! The standby may be running: receiving (appending to its last segment,
//! starting new ones), checkpointing (writing a snapshot, then removing old
//! snapshots and the segments they make unneeded). The copy is made so that
//! none of that can make it inconsistent:
//!
//! 1. `received_lsn` is read *before* copying. Everything below it is durable
//!    and never rewritten: the receiver only appends past its end.
//! 2. The newest snapshot at or below `received_lsn` is copied (snapshots are
//!    renamed into place whole, so a listed file is complete).
//! 3. The segments from the one holding the snapshot's LSN up to the one
//!    holding `received_lsn` are copied whole, and the copy of the last one is
//!    cut at `received_lsn` (zeroed from there: whatever the receiver was
//!    appending meanwhile, torn or not, is not part of the copy). Segments
//!    starting at or after `received_lsn` are not copied.
//! 4. Timeline history files, the control file and `primary.position` are
//!    copied as they are.
//!
//! A checkpoint that removes a file being copied (or the chosen snapshot)
//! makes the attempt fail with "not found"; the caller starts over with a new
//! `received_lsn` (a bounded number of times). The copy is then checked: its
//! log must read from the snapshot's LSN to exactly `received_lsn`.

use crate::durable::IoError;
use crate::fs::{Fs, StdFs};
use crate::node::control::CONTROL_FILE;
use crate::node::datadir::{SNAPSHOT_DIR, WAL_DIR};
use crate::node::position::POSITION_FILE;
use crate::store::snapshot::{self, SnapshotError};
use crate::wal::format::SEGMENT_HEADER_BYTES;
use crate::wal::{scan::list_segments, scan_dir, WalError};
use std::path::{Path, PathBuf};

/// What was copied.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Copied {
    /// The copy holds the received log up to here.
    pub received_lsn: u64,
    /// The snapshot copied (0 when the log is replayed from its start).
    pub snapshot_lsn: u64,
    pub files: u64,
    pub bytes: u64,
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A file went away under the copy (a checkpoint): try again.
    #[error("{} was removed while copying (a checkpoint); starting over", .0.display())]
    Vanished(PathBuf),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The standby's log could not be listed.
    #[error(transparent)]
    Log(#[from] WalError),
    #[error("the copied log: {0}")]
    CopiedLog(#[source] WalError),
    #[error("the copied log covers {first:#x}..{end:#x}, not the needed {from:#x}..{until:#x}")]
    Coverage {
        first: u64,
        end: u64,
        from: u64,
        until: u64,
    },
}

/// An I/O error of `op` on `p`: [`CopyError::Vanished`] when the file went away.
fn io<'a>(op: &'static str, p: &'a Path) -> impl FnOnce(std::io::Error) -> CopyError + 'a {
    move |e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            CopyError::Vanished(p.to_path_buf())
        } else {
            CopyError::Io(IoError::new(op, p, e))
        }
    }
}

/// Copies `src` (a standby's data directory) into `dst` (created, empty) as of
/// `received_lsn` (read by the caller before this call).
///
/// # Errors
/// [`CopyError::Vanished`] when the standby removed a file meanwhile (retry);
/// other [`CopyError`]s naming the file.
pub fn copy_standby(src: &Path, dst: &Path, received_lsn: u64) -> Result<Copied, CopyError> {
    let mut out = Copied {
        received_lsn,
        ..Copied::default()
    };
    let (swal, ssnap) = (src.join(WAL_DIR), src.join(SNAPSHOT_DIR));
    let (dwal, dsnap) = (dst.join(WAL_DIR), dst.join(SNAPSHOT_DIR));
    for d in [&dwal, &dsnap] {
        std::fs::create_dir_all(d).map_err(io("create directory", d))?;
    }
    let snaps = snapshot::list(&StdFs, &ssnap)?;
    let snap = snaps
        .iter()
        .rev()
        .find(|(lsn, _)| *lsn <= received_lsn)
        .cloned();
    if let Some((lsn, path)) = &snap {
        let name = path.file_name().expect("a listed file has a name");
        out.bytes += copy_file(path, &dsnap.join(name))?;
        out.files += 1;
        out.snapshot_lsn = *lsn;
    }
    let segments = list_segments(&StdFs, &swal)?;
    let from = out.snapshot_lsn;
    for (i, s) in segments.iter().enumerate() {
        let next_first = segments.get(i + 1).map_or(u64::MAX, |n| n.first_lsn);
        if next_first <= from || s.first_lsn >= received_lsn {
            continue;
        }
        let name = s.path.file_name().expect("a segment has a name");
        let to = dwal.join(name);
        out.bytes += copy_file(&s.path, &to)?;
        out.files += 1;
        if next_first > received_lsn {
            cut_at(
                &to,
                SEGMENT_HEADER_BYTES as u64 + (received_lsn - s.first_lsn),
            )?;
        }
    }
    let names = StdFs.list(&swal).map_err(io("read directory", &swal))?;
    for name in names.iter().filter(|n| n.ends_with(".history")) {
        out.bytes += copy_file(&swal.join(name), &dwal.join(name))?;
        out.files += 1;
    }
    for name in [CONTROL_FILE, POSITION_FILE] {
        let p = src.join(name);
        if p.exists() {
            out.bytes += copy_file(&p, &dst.join(name))?;
            out.files += 1;
        }
    }
    check(&dwal, out.snapshot_lsn, received_lsn)?;
    Ok(out)
}

/// Copies one file (read-only on the source); returns its length.
fn copy_file(from: &Path, to: &Path) -> Result<u64, CopyError> {
    std::fs::copy(from, to).map_err(io("copy", from))
}

/// Zeroes `file` (a copy) from `offset` to its end.
fn cut_at(file: &Path, offset: u64) -> Result<(), CopyError> {
    let mut f = StdFs.open_write(file).map_err(io("open", file))?;
    crate::fs::zero_from(&mut *f, offset).map_err(io("cut", file))
}

/// The copied log must run from `from` (or be empty when nothing follows the
/// snapshot) to exactly `until`.
fn check(wal: &Path, from: u64, until: u64) -> Result<(), CopyError> {
    let r = scan_dir(&StdFs, wal).map_err(CopyError::CopiedLog)?;
    let end = r.torn_tail.as_ref().map_or(r.end_lsn, |t| t.lsn);
    match r.first_lsn {
        // The segments after the snapshot went away between listing the
        // snapshot and the segments (a checkpoint): a retry picks its snapshot.
        Some(first) if first > from => Err(CopyError::Vanished(wal.to_path_buf())),
        None if from == until => Ok(()),
        Some(_) if end == until => Ok(()),
        _ => Err(CopyError::Coverage {
            first: r.first_lsn.unwrap_or(0),
            end,
            from,
            until,
        }),
    }
}
