//! What a command's PATH names: a WAL directory, a data directory holding `wal/`,
//! or a single segment file.

use super::exit::Failure;
use crate::fs::StdFs;
use crate::wal::format::{parse_segment_file_name, SegmentHeader, SEGMENT_HEADER_BYTES};
use crate::wal::scan::{list_segments, SegmentFile};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A resolved PATH argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A directory holding at least one segment file.
    Dir(PathBuf),
    /// One segment file, checked on its own.
    Segment {
        file: SegmentFile,
        /// No later segment follows it in its directory (or it is a loose file
        /// such as a `.broken` copy): damage in it may be a torn tail.
        position: SegmentPosition,
    },
}

/// Whether a single segment is the last of its log; recovery judges damage in
/// the last segment differently from damage in an older one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentPosition {
    Last,
    Older,
}

impl Target {
    /// The path to show the user.
    pub fn path(&self) -> &Path {
        match self {
            Target::Dir(d) => d,
            Target::Segment { file, .. } => &file.path,
        }
    }
}

/// Resolves `path` into what it names.
///
/// # Errors
/// A usage [`Failure`] (exit code 1) when the path does not exist, cannot be
/// read, holds no WAL segments, or is a file that is not a WAL segment.
pub fn resolve(path: &Path) -> Result<Target, Failure> {
    let meta =
        std::fs::metadata(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    if meta.is_dir() {
        return resolve_dir(path);
    }
    if !meta.is_file() {
        return Err(Failure::usage(format!(
            "{}: not a regular file or directory",
            path.display()
        )));
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if let Some((timeline, first_lsn)) = parse_segment_file_name(name) {
        let file = SegmentFile {
            path: path.to_path_buf(),
            timeline,
            first_lsn,
        };
        let position = position_in_dir(&file);
        return Ok(Target::Segment { file, position });
    }
    // A file under another name (a `.broken` copy, a file copied aside): its
    // header says what it is.
    let header = read_header(path)?;
    Ok(Target::Segment {
        file: SegmentFile {
            path: path.to_path_buf(),
            timeline: header.timeline,
            first_lsn: header.first_lsn,
        },
        position: SegmentPosition::Last,
    })
}

fn resolve_dir(path: &Path) -> Result<Target, Failure> {
    let segments = list_segments(&StdFs, path).map_err(|e| Failure::usage(e.to_string()))?;
    if !segments.is_empty() {
        return Ok(Target::Dir(path.to_path_buf()));
    }
    let wal = path.join("wal");
    if wal.is_dir() {
        let segments = list_segments(&StdFs, &wal).map_err(|e| Failure::usage(e.to_string()))?;
        if !segments.is_empty() {
            return Ok(Target::Dir(wal));
        }
        return Err(Failure::usage(format!(
            "{}: no WAL segments (the directory holds no TTTTTTTT-LLLLLLLLLLLLLLLL.wal files)",
            wal.display()
        )));
    }
    Err(Failure::usage(format!(
        "{}: no WAL segments (expected TTTTTTTT-LLLLLLLLLLLLLLLL.wal files, or a data directory with wal/)",
        path.display()
    )))
}

/// Last unless a segment with a later first LSN sits next to it.
fn position_in_dir(file: &SegmentFile) -> SegmentPosition {
    let dir = match file.path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match list_segments(&StdFs, dir) {
        Ok(all) if all.iter().any(|s| s.first_lsn > file.first_lsn) => SegmentPosition::Older,
        _ => SegmentPosition::Last,
    }
}

fn read_header(path: &Path) -> Result<SegmentHeader, Failure> {
    let io = |e: std::io::Error| Failure::usage(format!("{}: {e}", path.display()));
    let f = std::fs::File::open(path).map_err(io)?;
    let mut buf = Vec::with_capacity(SEGMENT_HEADER_BYTES);
    f.take(SEGMENT_HEADER_BYTES as u64)
        .read_to_end(&mut buf)
        .map_err(io)?;
    SegmentHeader::decode(&buf).map_err(|e| {
        Failure::usage(format!(
            "{}: not a logship WAL segment: {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_empty_and_foreign_paths_are_usage_errors() {
        let d = tempfile::tempdir().unwrap();
        let missing = resolve(&d.path().join("nope")).unwrap_err();
        assert!(missing.message.contains("nope"), "{}", missing.message);
        let empty = resolve(d.path()).unwrap_err();
        assert!(
            empty.message.contains("no WAL segments"),
            "{}",
            empty.message
        );
        let junk = d.path().join("junk.bin");
        std::fs::write(&junk, b"hello").unwrap();
        let e = resolve(&junk).unwrap_err();
        assert!(
            e.message.contains("not a logship WAL segment"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_data_directory_resolves_to_its_wal_directory() {
        let d = tempfile::tempdir().unwrap();
        let wal = d.path().join("wal");
        std::fs::create_dir(&wal).unwrap();
        std::fs::write(wal.join("00000001-0000000000000000.wal"), b"").unwrap();
        assert_eq!(resolve(d.path()).unwrap(), Target::Dir(wal));
    }
}
