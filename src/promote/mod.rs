//! Promotion: the LSN check, offline promotion of a stopped standby, and the
//! RESP client that asks the old primary for its position, a final shipment
//! and a fence.
//!
//! | module    | owns                                                          |
//! |-----------|---------------------------------------------------------------|
//! | `check`   | the verdict: applied = received, loss against the primary     |
//! | `offline` | promoting a stopped standby's data directory                  |
//! | `switch`  | the new timeline's history, then the control file: both paths |
//! | `remote`  | `LOGSHIP POSITION/HISTORY/FENCE/UNFENCE` to a primary          |
//! | `rejoin`  | an old primary's directory made a standby of the new primary  |
//! | `diverged`| the old log past the switch: find, save (dumpable), cut        |
//! | `copy`    | a consistent copy of a (running) standby as of one received LSN |
//! | `drill`   | a failover drill on such a copy: RTO, RPO, digest, a write      |
//! | `node`    | the drill's `logship primary` child process on loopback         |

pub mod check;
pub mod copy;
pub mod diverged;
pub mod drill;
pub mod node;
pub mod offline;
pub mod rejoin;
pub mod remote;
pub mod switch;
