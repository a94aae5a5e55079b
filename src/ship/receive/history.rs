//! A primary's timeline history on a standby: checked against what the
//! standby received, then installed durably and the timelines it closes
//! fenced; or refused, saying why.

use super::intake::ReceiverShared;
use crate::wal::{format_lsn, WalError};

/// Why a primary's timeline history was refused; its text is the refusal.
#[derive(Debug, thiserror::Error)]
pub enum HistoryRefusal {
    #[error("history of timeline {timeline} on a link of timeline {link_timeline}")]
    OtherLink { timeline: u32, link_timeline: u32 },
    #[error(transparent)]
    Parse(WalError),
    #[error("this standby received timeline {timeline} up to LSN {}, past where that timeline ended ({}) in the primary's history: it diverged and must be rejoined or re-seeded", format_lsn(*received_lsn), format_lsn(*switch_lsn))]
    Diverged {
        timeline: u32,
        received_lsn: u64,
        switch_lsn: u64,
    },
    #[error("this standby is on timeline {ours}, which is not in the history of the primary's timeline {timeline}")]
    NotInHistory { ours: u32, timeline: u32 },
    #[error("{0}")]
    Install(WalError),
    #[error("{0}")]
    Task(tokio::task::JoinError),
}

/// Checks a primary's timeline history against what this standby holds, then
/// installs it durably and fences the timelines it closes.
pub(super) async fn accept_history(
    shared: &ReceiverShared,
    link_timeline: u32,
    timeline: u32,
    text: &str,
) -> Result<(), HistoryRefusal> {
    use crate::wal::timeline;
    if timeline != link_timeline {
        return Err(HistoryRefusal::OtherLink {
            timeline,
            link_timeline,
        });
    }
    let (fs, dir) = {
        let m = shared.mirror.lock().unwrap_or_else(|p| p.into_inner());
        (m.fs().clone(), m.dir().to_path_buf())
    };
    let path = dir.join(timeline::history_file_name(timeline));
    let history = timeline::parse(&path, text).map_err(HistoryRefusal::Parse)?;
    let state = *shared.received.borrow();
    if state.timeline != 0 && state.timeline < timeline {
        match history.iter().find(|s| s.timeline == state.timeline) {
            Some(s) if state.received_lsn > s.switch_lsn => {
                return Err(HistoryRefusal::Diverged {
                    timeline: state.timeline,
                    received_lsn: state.received_lsn,
                    switch_lsn: s.switch_lsn,
                });
            }
            Some(_) => {}
            None => {
                return Err(HistoryRefusal::NotInHistory {
                    ours: state.timeline,
                    timeline,
                })
            }
        }
    }
    let h = history.clone();
    tokio::task::spawn_blocking(move || timeline::install(&*fs, &dir, timeline, &h))
        .await
        .map_err(HistoryRefusal::Task)?
        .map_err(HistoryRefusal::Install)?;
    *shared
        .closed_timelines
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = timeline::closed(&history);
    Ok(())
}
