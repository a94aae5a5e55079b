//! The switch itself, shared by online and offline promotion: a new timeline's
//! history file, durably, then the control file saying primary.

use crate::fs::StdFs;
use crate::node::control::{Control, Role, CONTROL_VERSION};
use crate::wal::{self, timeline, ScanReport};
use std::path::Path;

/// A timeline just begun.
#[derive(Debug, Clone)]
pub struct Switched {
    /// The control file as written (role primary, the new timeline).
    pub control: Control,
    pub old_timeline: u32,
    pub new_timeline: u32,
    /// Where the new timeline starts.
    pub switch_lsn: u64,
    /// `(timeline, end_lsn)` of every timeline the new history closes.
    pub closed: Vec<(u32, u64)>,
    /// The scan of the log made for the switch (for [`wal::recovery::open_after`]).
    pub scan: ScanReport,
}

/// Ends the log's timeline in `data_dir/wal` and begins the next free one:
/// writes its history file (durably, before anything is written on it), then
/// the control file with role primary. Call with the data directory locked and
/// nothing receiving into it.
///
/// # Errors
/// A damaged log, an unreadable control file, I/O errors — each naming what.
pub fn begin_timeline(data_dir: &Path, reason: &str) -> Result<Switched, String> {
    let wal_dir = data_dir.join(crate::node::datadir::WAL_DIR);
    let old = Control::read(&StdFs, data_dir).map_err(|e| e.to_string())?;
    let fs = StdFs::shared();
    let latest = timeline::latest_timeline(&*fs, &wal_dir).map_err(|e| e.to_string())?;
    let new_timeline = latest + 1;
    let (switch_lsn, scan) =
        wal::recovery::switch_timeline_scanned(&fs, &wal_dir, new_timeline, reason)
            .map_err(|e| format!("write the history of timeline {new_timeline}: {e}"))?;
    let history =
        timeline::read_history(&*fs, &wal_dir, new_timeline).map_err(|e| e.to_string())?;
    let old_timeline = history.last().map_or(latest, |s| s.timeline);
    let control = Control {
        version: CONTROL_VERSION,
        role: Role::Primary,
        timeline: new_timeline,
        fenced: None,
        ..old
    };
    control
        .write(&StdFs, data_dir)
        .map_err(|e| format!("write the control file: {e}"))?;
    Ok(Switched {
        control,
        old_timeline,
        new_timeline,
        switch_lsn,
        closed: timeline::closed(&history),
        scan,
    })
}
