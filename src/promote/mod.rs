//! Promotion (its primitives, the standing check and the timeline switch,
//! are in [`crate::node`], below the standby that uses them too): offline promotion of a stopped standby, and the
//! RESP client that asks the old primary for its position, a final shipment
//! and a fence.
//!
//! | module    | owns                                                          |
//! |-----------|---------------------------------------------------------------|
//! | `workflow`| `logship promote` step by step: online through the admin socket, or offline |
//! | `offline` | promoting a stopped standby's data directory                  |
//! | `remote`  | `LOGSHIP POSITION/HISTORY/FENCE/UNFENCE` to a primary          |
//! | `rejoin`  | an old primary's directory made a standby of the new primary  |
//! | `reversal`| under `logship run`: find the node promoted in one's place, rejoin it unless diverged |
//! | `diverged`| the old log past the switch: find, save (dumpable), cut        |
//! | `copy`    | a consistent copy of a (running) standby as of one received LSN |
//! | `drill`   | a failover drill on such a copy: RTO, RPO, digest, a write      |
//! | `expected`| the keyspace such a copy must have: snapshot plus log, replayed  |
//! | `drill_node` | the drill's `logship primary` child process on loopback      |

pub mod copy;
pub mod diverged;
pub mod drill;
pub mod drill_node;
pub mod expected;
pub mod offline;
pub mod rejoin;
pub mod remote;
pub mod reversal;
pub mod workflow;
