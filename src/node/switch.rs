//! The switch itself, shared by online and offline promotion: a new timeline's
//! history file, durably, then the control file saying primary.

use crate::fs::StdFs;
use crate::node::control::{Control, ControlError, Role, CONTROL_VERSION};
use crate::wal::scan::ScanDepth;
use crate::wal::{self, timeline, ScanReport, WalError};
use std::path::Path;

/// Why a timeline could not begin.
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// The control file could not be read.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The log or its timeline histories could not be read.
    #[error(transparent)]
    Log(WalError),
    #[error("write the history of timeline {timeline}: {source}")]
    History {
        timeline: u32,
        #[source]
        source: WalError,
    },
    #[error("write the control file: {0}")]
    WriteControl(#[source] ControlError),
}

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
///
/// `depth` is how much of the log is scanned for its end: [`ScanDepth::Tail`]
/// for the running standby's own log (see there), else [`ScanDepth::Full`].
pub fn begin_timeline(
    data_dir: &Path,
    reason: &str,
    depth: ScanDepth,
) -> Result<Switched, SwitchError> {
    let wal_dir = data_dir.join(crate::node::datadir::WAL_DIR);
    let old = Control::read(&StdFs, data_dir)?;
    let fs = StdFs::shared();
    let latest = timeline::latest_timeline(&*fs, &wal_dir).map_err(SwitchError::Log)?;
    let new_timeline = latest + 1;
    let (switch_lsn, scan) =
        wal::recovery::switch_timeline_scanned(&fs, &wal_dir, new_timeline, reason, depth)
            .map_err(|source| SwitchError::History {
                timeline: new_timeline,
                source,
            })?;
    let history = timeline::read_history(&*fs, &wal_dir, new_timeline).map_err(SwitchError::Log)?;
    let old_timeline = history.last().map_or(latest, |s| s.timeline);
    let control = Control {
        version: CONTROL_VERSION,
        role: Role::Primary,
        timeline: new_timeline,
        fenced: None,
        halted_at: None,
        ..old
    };
    control
        .write(&StdFs, data_dir)
        .map_err(SwitchError::WriteControl)?;
    Ok(Switched {
        control,
        old_timeline,
        new_timeline,
        switch_lsn,
        closed: timeline::closed(&history),
        scan,
    })
}
