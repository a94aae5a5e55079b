//! What every role's node has, below the roles: the data directory and its
//! files, and the retention rule for the log in it.
//!
//! | module      | owns                                                              |
//! |-------------|-------------------------------------------------------------------|
//! | `datadir`   | `logship init`, the data directory layout, the LOCK file          |
//! | `control`   | the control file (identity, role, timeline, fence), atomic writes |
//! | `position`  | a standby's `primary.position`: the primary's last reported position |
//! | `retention` | which WAL segments a checkpoint may remove                        |

pub mod control;
pub mod datadir;
pub mod position;
pub mod retention;
