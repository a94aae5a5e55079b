//! What every role's node has, below the roles: the data directory and its
//! files, the retention rule for the log in it, and the failover primitives
//! (the standing check, the timeline switch) that a standby promoted online
//! and `logship promote` offline both use.
//!
//! | module      | owns                                                              |
//! |-------------|-------------------------------------------------------------------|
//! | `datadir`   | `logship init`, the data directory layout, the LOCK file          |
//! | `control`   | the control file (identity, role, timeline, fence), atomic writes |
//! | `position`  | a standby's `primary.position`: the primary's last reported position |
//! | `retention` | which WAL segments a checkpoint may remove                        |
//! | `standing`  | the promotion check: applied = received, loss against the primary |
//! | `switch`    | a new timeline: its history file, then the control file           |
//! | `reload`    | reloading a running node's configuration: the re-reading handle, the log level, how a reload is told |

pub mod control;
pub mod datadir;
pub mod position;
pub mod reload;
pub mod retention;
pub mod standing;
pub mod switch;
