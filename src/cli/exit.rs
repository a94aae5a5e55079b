//! Exit statuses of the inspection commands (and of `primary` for a fence)
//! and the error that carries one.
//!
//! `verify` and `dump` share these codes so that scripts can tell a log that
//! recovery will repair from one it will refuse:
//!
//! | code | meaning                                                          |
//! |-----:|------------------------------------------------------------------|
//! | 0    | the log is sound                                                 |
//! | 1    | usage or I/O error (bad flag, missing path, not a WAL, unreadable) |
//! | 2    | torn tail: recovery would truncate it (after saving a copy)      |
//! | 3    | corruption: recovery refuses to open the log                     |
//! | 4    | fenced (`primary`): a promotion elsewhere fenced this primary; it refused to start, or stopped while fenced |
//! | 5    | diverged (`run`): fenced by a promotion, and its log holds writes the new primary never got; it stopped without rejoining |
//! | 78   | configuration error: `logship.toml` or a `LOGSHIP_*` variable is not valid (every command); for `primary` and `standby` also a flag that does not parse or does not fit with the others, or a file a flag names (key, password, certificate) that is missing or invalid. Nothing was started. 78 is `EX_CONFIG` of sysexits.h, which systemd shows as `status=78/CONFIG` |

use crate::wal::{format_lsn, WalError};
use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything checked out.
    Sound,
    /// The user's mistake or an I/O error.
    Usage,
    /// The last segment ends in a torn tail that recovery would cut off.
    TornTail,
    /// Damage that recovery refuses to repair.
    Corrupt,
    /// A primary that a promotion elsewhere fenced: it refused to start, or
    /// stopped while fenced. Restarting it changes nothing (systemd:
    /// `RestartPreventExitStatus=4`); rejoining it as a standby does.
    Fenced,
    /// Under `logship run`: a fenced primary whose log holds writes the node
    /// promoted in its place never got. It did not rejoin; a person decides
    /// (`logship rejoin` saves those writes and re-seeds). Restarting changes
    /// nothing (systemd: `RestartPreventExitStatus=5`).
    Diverged,
    /// The configuration cannot work: `logship.toml` or a `LOGSHIP_*`
    /// variable is not valid (any command), or `primary`/`standby` was given
    /// flags or files that cannot work. The command started nothing;
    /// restarting changes nothing until the configuration is fixed (systemd:
    /// `RestartPreventExitStatus=78`). 78 is sysexits.h's `EX_CONFIG`, apart
    /// from every code the commands use for their work.
    Config,
}

impl Status {
    /// The process exit code of this status.
    pub fn code(self) -> u8 {
        match self {
            Status::Sound => 0,
            Status::Usage => 1,
            Status::TornTail => 2,
            Status::Corrupt => 3,
            Status::Fenced => 4,
            Status::Diverged => 5,
            Status::Config => 78,
        }
    }
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(s.code())
    }
}

/// An error that ends the command with a chosen exit status. `cli::main` prints
/// its message as the one error line.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub status: Status,
    pub message: String,
}

impl Failure {
    /// A usage or I/O failure (exit code 1).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            status: Status::Usage,
            message: message.into(),
        }
    }

    /// A configuration error of `primary` or `standby` (exit status 78), its
    /// causes on the same line.
    pub fn config(e: anyhow::Error) -> anyhow::Error {
        Failure {
            status: Status::Config,
            message: super::one_line(&e),
        }
        .into()
    }

    /// A primary's error, with exit status 4 when it is about a fence (a
    /// refused start, a stop while fenced); other errors are returned as they are.
    pub fn from_primary(e: anyhow::Error) -> anyhow::Error {
        use crate::node::datadir::DataDirError;
        use crate::primary::server::StoppedFenced;
        let fenced = matches!(
            e.downcast_ref::<DataDirError>(),
            Some(DataDirError::Fenced { .. })
        ) || e.downcast_ref::<StoppedFenced>().is_some();
        if !fenced {
            return e;
        }
        Failure {
            status: Status::Fenced,
            message: e.to_string(),
        }
        .into()
    }

    /// Classifies a WAL error: damage (corruption, a gap, a foreign segment) is
    /// exit code 3; everything else (I/O, an empty directory) is exit code 1.
    pub fn from_wal(e: WalError) -> Failure {
        const REFUSES: &str =
            "recovery would refuse to open this log (nothing is truncated or skipped)";
        let message = match &e {
            WalError::Corruption {
                segment,
                offset,
                lsn,
                reason,
            } => format!(
                "corrupt WAL: {} at byte offset {offset} (LSN {} = {lsn}): {reason}; {REFUSES}",
                segment.display(),
                format_lsn(*lsn)
            ),
            WalError::Gap { .. } | WalError::Foreign { .. } => format!("{e}; {REFUSES}"),
            _ => return Failure::usage(e.to_string()),
        };
        Failure {
            status: Status::Corrupt,
            message,
        }
    }
}
